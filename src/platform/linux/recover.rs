//! What a dead sup left behind: the state file beside the control socket (who ran
//! there, its cgroup subtree, or its units' process groups on a host without cgroups),
//! and the processes still running in it, to be stopped before anything starts again.
//!
//! The state file is written by every sup that owns its control socket; a new sup on
//! the same socket reads it before replacing it. A record whose process is gone (or
//! whose pid now names a process with another start time) was left by a sup that died
//! without shutting down (`kill -9`, a crash, an OOM kill).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::cgroup::{collect_pids, remove_tree};
use crate::platform::groups::{self, Registrar, StateRecord};
use crate::proc::Pid;

/// A state file is small; a larger one is not ours.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// One sup's record of what it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The sup that wrote it, and its start time (clock ticks since boot, from
    /// `/proc/PID/stat`) to tell it from a later process with the same pid.
    pub pid: u32,
    pub start: u64,
    /// sup's cgroup subtree, one directory per hierarchy.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Without cgroups: the units' process groups, each with its leader's start time.
    #[serde(default)]
    pub groups: Vec<(u32, u64)>,
}

/// `SOCKET.state`, beside the control socket.
pub fn state_path(socket: &Path) -> PathBuf {
    let mut s = socket.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's record, without cgroups or groups yet.
pub fn own_record() -> Record {
    let pid = std::process::id();
    Record {
        pid,
        start: start_time(pid).unwrap_or(0),
        ..Record::default()
    }
}

impl Record {
    /// The sup that wrote it still runs.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// Reads a state file: None if there is none or it is unreadable (said in the log).
/// Never blocks (a FIFO at the path is refused).
pub fn read(path: &Path) -> Option<Record> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!(
                "state file {}: {e}; not looking for what a previous sup left",
                path.display()
            );
            return None;
        }
    };
    let parsed = (|| -> Result<Record, String> {
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        let mut text = String::new();
        file.take(MAX_STATE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    })();
    match parsed {
        Ok(r) => Some(r),
        Err(e) => {
            log::warn!("state file {}: {e}; ignoring it", path.display());
            None
        }
    }
}

/// Writes the state file (a new file renamed over the old one, so a crash mid-write
/// leaves the old record whole).
pub fn write(path: &Path, record: &Record) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_vec(record).map_err(io::Error::other)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(&text)?;
    drop(f);
    fs::rename(&tmp, path)
}

/// Removes the state file (at a clean exit).
pub fn remove(path: &Path) {
    let _ = fs::remove_file(path);
}

/// What is still running of a dead sup's units.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Processes in its cgroup subtree.
    pub pids: Vec<i32>,
    /// Its units' process groups (hosts without cgroups) whose leader is still the
    /// process it started.
    pub groups: Vec<i32>,
    /// Its cgroup directories, to remove once empty.
    pub dirs: Vec<PathBuf>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.groups.is_empty()
    }
}

/// Finds what the dead sup of `record` left, thawing frozen (paused) cgroups so that
/// their processes can act on the signals to come. Only directories whose name starts
/// with `sup` are looked into: a damaged record cannot point sup at other cgroups.
pub fn leftovers(record: &Record) -> Leftovers {
    let mut out = Leftovers::default();
    for dir in &record.cgroups {
        let named_ours = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("sup"));
        if !named_ours || !dir.is_dir() {
            continue;
        }
        thaw_tree(dir);
        collect_pids(dir, &mut out.pids);
        out.dirs.push(dir.clone());
    }
    out.pids.sort_unstable();
    out.pids.dedup();
    out.pids
        .retain(|&p| p > 0 && p as u32 != std::process::id());
    for &(pgid, start) in &record.groups {
        if pgid > 1 && start_time(pgid) == Some(start) {
            out.groups.push(pgid as i32);
        }
    }
    out
}

/// Thaws every frozen cgroup in `dir` (v1 `freezer.state`, v2 `cgroup.freeze`).
fn thaw_tree(dir: &Path) {
    let v1 = dir.join("freezer.state");
    if fs::read_to_string(&v1).is_ok_and(|s| s.trim() != "THAWED") {
        let _ = fs::write(&v1, "THAWED");
    }
    let v2 = dir.join("cgroup.freeze");
    if fs::read_to_string(&v2).is_ok_and(|s| s.trim() == "1") {
        let _ = fs::write(&v2, "0");
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            thaw_tree(&e.path());
        }
    }
}

/// A pidfd for `pid` (Linux ≥ 5.3): readable once the process has exited, whoever
/// its parent is.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Signals the process of a pidfd (never another process that reused its pid).
pub fn pidfd_signal(fd: &OwnedFd, signal: i32) {
    // SAFETY: pidfd_send_signal takes the pidfd (open for the call), a signal number, a
    // null siginfo (the kernel fills one as for kill) and no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

/// Every pid now in the cgroup directories `dirs` (and their sub-cgroups).
pub fn pids_in(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids = Vec::new();
    for d in dirs {
        collect_pids(d, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids.retain(|&p| p > 0 && p as u32 != std::process::id());
    pids
}

/// Whether process group `pgid` has a member that is not a zombie (a walk of /proc:
/// only used while recovering).
pub fn group_members_running(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the group exists.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            let Some(i) = stat.rfind(')') else {
                return false;
            };
            let mut f = stat[i + 1..].split_whitespace();
            let state = f.next();
            let pgrp = f.nth(1).and_then(|p| p.parse::<i32>().ok());
            pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
        })
}

/// Whether a process still exists (a zombie counts as gone).
pub fn running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The state file and what this sup last wrote to it.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    record: Record,
    /// Without cgroups the record lists the units' process groups.
    track_groups: bool,
}

impl StateRecord for StateFile {
    fn write(&mut self, groups: &[Pid]) {
        if self.track_groups {
            // Start times are read once per group (a /proc read each), not per write.
            let known: HashMap<u32, u64> = self.record.groups.iter().copied().collect();
            self.record.groups = groups
                .iter()
                .map(|g| g.raw())
                .filter_map(|g| Some((g, known.get(&g).copied().or_else(|| start_time(g))?)))
                .collect();
        }
        if let Err(e) = write(&self.path, &self.record) {
            log::warn!("state file {}: {e}", self.path.display());
        }
    }

    fn remove(self) {
        remove(&self.path);
    }
}

/// Reads what the previous sup on `socket` left and starts this sup's record (`ours`:
/// sup's cgroup base dirs, empty without cgroups; written at the first `write`).
/// Returns the leftovers of a previous sup that died, if any process of it is left.
pub fn open(socket: &Path, ours: Vec<PathBuf>) -> (StateFile, Option<LinuxLeftovers>) {
    let path = state_path(socket);
    let previous = read(&path);
    let mut record = own_record();
    let track_groups = ours.is_empty();
    record.cgroups = ours;
    let state = StateFile {
        path,
        record,
        track_groups,
    };
    let Some(previous) = previous.filter(|p| !p.alive() && p.pid != std::process::id()) else {
        return (state, None);
    };
    let mut left = leftovers(&previous);
    // Never our own cgroups (a previous PID 1 of the same name).
    left.dirs.retain(|d| !state.record.cgroups.contains(d));
    if left.is_empty() {
        remove_dirs(&left.dirs);
        return (state, None);
    }
    let watch = LinuxLeftovers {
        previous: previous.pid,
        counts: (left.pids.len(), left.groups.len()),
        pids: left.pids,
        waiting: HashMap::new(),
        unwatched: Vec::new(),
        groups: left.groups,
        dirs: left.dirs,
    };
    (state, Some(watch))
}

fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        if remove_tree(d) {
            log::info!("removed the previous sup's cgroup {}", d.display());
        } else {
            log::warn!(
                "cannot remove the previous sup's cgroup {} yet",
                d.display()
            );
        }
    }
}

/// A dead sup's leftover processes, watched through their pidfds (signals go through
/// the pidfd too, so a recycled pid is never hit).
#[derive(Debug)]
pub struct LinuxLeftovers {
    previous: u32,
    counts: (usize, usize),
    /// Found at the start, not signalled yet.
    pids: Vec<i32>,
    waiting: HashMap<Token, (i32, OwnedFd)>,
    /// Leftovers without a pidfd (a kernel before 5.3): checked in /proc.
    unwatched: Vec<i32>,
    /// The dead sup's units' process groups (hosts without cgroups).
    groups: Vec<i32>,
    /// Its cgroup directories: looked through again for processes forked meanwhile,
    /// removed at the end.
    dirs: Vec<PathBuf>,
}

impl LinuxLeftovers {
    /// Opens pidfds for `pids` not watched yet, signals them through the pidfd, and
    /// watches them in the loop.
    fn watch(&mut self, pids: Vec<i32>, signal: i32, ev: &mut Registrar<'_>) {
        for pid in pids {
            if self.waiting.values().any(|(p, _)| *p == pid) || self.unwatched.contains(&pid) {
                continue;
            }
            match pidfd_open(pid) {
                Ok(fd) => {
                    pidfd_signal(&fd, signal);
                    let token = ev.token();
                    let registered = ev.registry.register(
                        &mut SourceFd(&fd.as_raw_fd()),
                        token,
                        Interest::READABLE,
                    );
                    match registered {
                        Ok(()) => {
                            self.waiting.insert(token, (pid, fd));
                        }
                        Err(e) => {
                            log::debug!("cannot watch leftover {pid}: {e}");
                            self.unwatched.push(pid);
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    log::debug!("pidfd of leftover {pid}: {e}; checking /proc instead");
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, signal) };
                    self.unwatched.push(pid);
                }
            }
        }
    }
}

impl groups::Leftovers for LinuxLeftovers {
    fn previous_pid(&self) -> Pid {
        Pid::from_raw(self.previous)
    }

    fn counts(&self) -> (usize, usize) {
        self.counts
    }

    fn start(&mut self, ev: &mut Registrar<'_>) {
        for &pgid in &self.groups {
            // SAFETY: kill takes plain integers; the group's leader was checked to be the
            // process the dead sup started (same start time).
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
        }
        let pids = std::mem::take(&mut self.pids);
        self.watch(pids, libc::SIGTERM, ev);
        // Group leaders were signalled with their group: only watch them.
        self.watch(self.groups.clone(), 0, ev);
    }

    fn kill_all(&mut self) {
        for (_, fd) in self.waiting.values() {
            pidfd_signal(fd, libc::SIGKILL);
        }
        for &pid in &self.unwatched {
            if running(pid) {
                // SAFETY: kill takes plain integers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for &pgid in &self.groups {
            if group_members_running(pgid) {
                // SAFETY: as above; the group still has members, so its id is theirs.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
        }
    }

    fn rescan(&mut self, kill: bool, ev: &mut Registrar<'_>) {
        let fresh = pids_in(&self.dirs);
        let signal = if kill { libc::SIGKILL } else { libc::SIGTERM };
        self.watch(fresh, signal, ev);
    }

    fn owns(&self, token: Token) -> bool {
        self.waiting.contains_key(&token)
    }

    fn exited(&mut self, token: Token, registry: &Registry) {
        if let Some((_, fd)) = self.waiting.remove(&token) {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    fn needs_polling(&self) -> bool {
        !self.unwatched.is_empty()
    }

    fn gone(&mut self) -> bool {
        self.unwatched.retain(|&p| running(p));
        self.waiting.is_empty()
            && self.unwatched.is_empty()
            && !self.groups.iter().any(|&g| group_members_running(g))
    }

    fn finish(self) {
        remove_dirs(&self.dirs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_known_and_a_record_of_self_is_alive() {
        let r = own_record();
        assert!(r.start > 0);
        assert!(r.alive());
        let dead = Record {
            start: r.start + 1,
            ..r.clone()
        };
        assert!(!dead.alive(), "same pid, other start time: another process");
    }

    #[test]
    fn state_file_round_trip_and_bad_files() {
        let dir = std::env::temp_dir().join(format!("sup-state-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = state_path(&dir.join("ctl.sock"));
        assert!(path.ends_with("ctl.sock.state"));
        assert_eq!(read(&path), None);
        let r = Record {
            pid: 7,
            start: 9,
            cgroups: vec!["/sys/fs/cgroup/pids/sup-7".into()],
            groups: vec![(100, 5)],
        };
        write(&path, &r).unwrap();
        assert_eq!(read(&path), Some(r));
        fs::write(&path, "{not json").unwrap();
        assert_eq!(read(&path), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn leftovers_ignore_foreign_dirs_and_stale_groups() {
        let r = Record {
            pid: 1,
            start: 1,
            cgroups: vec!["/sys/fs/cgroup".into(), "/nonexistent/sup-1".into()],
            groups: vec![(std::process::id(), 1)],
        };
        let left = leftovers(&r);
        assert!(left.is_empty() && left.dirs.is_empty(), "{left:?}");
    }
}
