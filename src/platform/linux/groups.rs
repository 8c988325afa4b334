//! Resource groups on Linux: each unit's cgroup (v2 or v1) as the runtime asks for it,
//! with its counter files kept open, its OOM watch (inotify on `memory.events` for v2,
//! an eventfd on `memory.oom_control` for v1, both in the runtime's poller), kill routed
//! to the cgroup, freeze/thaw, and removal that never waits.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::cgroup::{Joins, StatFiles, Stats, Version, GIVE_SUP_A_CGROUP};
use super::recover::{LinuxLeftovers, StateFile};
use super::LinuxPlatform;
use crate::limits::Resources;
use crate::platform::confine::JoinFile;
use crate::platform::groups::{
    GroupError, GroupEvent, GroupEventKind, GroupRequest, GroupStats, Registrar, ResourceGroups,
    StatsWanted,
};
use crate::platform::Asks;
use crate::proc::{Pid, UnitId};

/// v1: how often, and how long, to look again for the kill that follows an OOM notice.
const OOM_RECHECK_EVERY: Duration = Duration::from_millis(2);
const OOM_RECHECK_FOR: Duration = Duration::from_millis(100);

/// One unit's cgroup.
#[derive(Debug, Default)]
struct UnitCg {
    /// Relative to sup's base: `[slice.slice/...]unit`.
    path: String,
    /// The path shown in status (`Cgroups::display` of `path`).
    shown: String,
    /// `oom_kill` count already reported.
    oom_seen: u64,
    /// v1: (token, eventfd, memory.oom_control) registered with the loop.
    eventfd: Option<(Token, OwnedFd, OwnedFd)>,
    /// v2: inotify watch descriptor of memory.events.
    wd: Option<i32>,
    /// Its counter files, opened when the cgroup is set up.
    stats: StatFiles,
}

/// The units' cgroups and their OOM watches.
#[derive(Debug, Default)]
pub struct LinuxGroups {
    units: HashMap<UnitId, UnitCg>,
    inotify: Option<(Token, OwnedFd)>,
    wds: HashMap<i32, UnitId>,
    tokens: HashMap<Token, UnitId>,
    /// v1 OOM notifications whose kill is not counted yet: (unit, give up at).
    oom_pending: Vec<(UnitId, Duration)>,
}

impl From<Stats> for GroupStats {
    fn from(s: Stats) -> GroupStats {
        GroupStats {
            cpu_usec: s.cpu_usec,
            memory_bytes: s.memory_bytes,
            pids: s.pids,
            oom_kills: s.oom_kills,
            memory_peak: s.memory_peak,
            io_read_bytes: s.io_read_bytes,
            io_write_bytes: s.io_write_bytes,
        }
    }
}

fn deregister(registry: &Registry, fd: &OwnedFd) {
    let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
}

impl LinuxPlatform {
    /// Starts watching the unit's OOM kills (its entry exists).
    fn watch_oom(
        &mut self,
        unit: UnitId,
        path: &str,
        ev: &mut Registrar<'_>,
    ) -> Result<(), String> {
        let Some(cg) = self.cgroups.as_ref() else {
            return Ok(());
        };
        let Some(dir) = cg.dir("memory", path) else {
            return Err("no memory controller".into());
        };
        let g = &mut self.groups;
        match cg.version {
            Version::V2 => {
                if g.inotify.is_none() {
                    // SAFETY: inotify_init1 takes flags only.
                    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
                    if fd == -1 {
                        return Err(format!("inotify: {}", std::io::Error::last_os_error()));
                    }
                    // SAFETY: inotify_init1 succeeded; the fd is ours alone.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                    let token = ev.token();
                    ev.registry
                        .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
                        .map_err(|e| format!("register inotify: {e}"))?;
                    g.inotify = Some((token, fd));
                }
                let (_, fd) = g.inotify.as_ref().expect("set above");
                let file = dir.join("memory.events");
                let c = std::ffi::CString::new(file.to_string_lossy().as_bytes())
                    .map_err(|_| "path contains NUL".to_string())?;
                // SAFETY: a valid inotify fd and a NUL-terminated path.
                let wd =
                    unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
                if wd == -1 {
                    return Err(format!(
                        "inotify {}: {}",
                        file.display(),
                        std::io::Error::last_os_error()
                    ));
                }
                g.wds.insert(wd, unit);
                if let Some(c) = g.units.get_mut(&unit) {
                    c.wd = Some(wd);
                }
            }
            Version::V1 => {
                // SAFETY: eventfd takes an initial value and flags only.
                let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                if efd == -1 {
                    return Err(format!("eventfd: {}", std::io::Error::last_os_error()));
                }
                // SAFETY: eventfd succeeded; the fd is ours alone.
                let efd = unsafe { OwnedFd::from_raw_fd(efd) };
                let oc = dir.join("memory.oom_control");
                let ofd: OwnedFd = std::fs::File::open(&oc)
                    .map_err(|e| format!("{}: {e}", oc.display()))?
                    .into();
                let ec = dir.join("cgroup.event_control");
                std::fs::write(&ec, format!("{} {}", efd.as_raw_fd(), ofd.as_raw_fd()))
                    .map_err(|e| format!("{}: {e}", ec.display()))?;
                let token = ev.token();
                ev.registry
                    .register(&mut SourceFd(&efd.as_raw_fd()), token, Interest::READABLE)
                    .map_err(|e| format!("register eventfd: {e}"))?;
                g.tokens.insert(token, unit);
                if let Some(c) = g.units.get_mut(&unit) {
                    if let Some((old, fd, _)) = c.eventfd.replace((token, efd, ofd)) {
                        deregister(ev.registry, &fd);
                        g.tokens.remove(&old);
                    }
                }
            }
        }
        Ok(())
    }

    /// Compares the unit's `oom_kill` count with what was reported: an event on an
    /// increase.
    fn oom_increase(&mut self, unit: UnitId) -> Option<GroupEvent> {
        let entry = self.groups.units.get_mut(&unit)?;
        let count = entry.stats.oom_kills()?;
        let seen = entry.oom_seen;
        if count <= seen {
            return None;
        }
        entry.oom_seen = count;
        Some(GroupEvent {
            unit,
            kind: GroupEventKind::Oom {
                new: count - seen,
                total: count,
            },
        })
    }

    /// Reads the inotify fd: the units whose `memory.events` changed.
    fn inotify_units(&self) -> Vec<UnitId> {
        let mut units = Vec::new();
        let Some((_, fd)) = &self.groups.inotify else {
            return units;
        };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a local buffer from our non-blocking inotify fd.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off + 16 <= n as usize {
                let wd = i32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes"));
                let len = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().expect("4 bytes"));
                if let Some(&u) = self.groups.wds.get(&wd) {
                    units.push(u);
                }
                off += 16 + len as usize;
            }
        }
        units
    }

    fn forget(&mut self, unit: UnitId, registry: &Registry) {
        let Some(c) = self.groups.units.remove(&unit) else {
            return;
        };
        if let Some(wd) = c.wd {
            self.groups.wds.remove(&wd);
            if let Some((_, fd)) = &self.groups.inotify {
                // SAFETY: removes a watch from our inotify fd; plain integers.
                unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) };
            }
        }
        if let Some((t, fd, _)) = c.eventfd {
            deregister(registry, &fd);
            self.groups.tokens.remove(&t);
        }
        self.groups.oom_pending.retain(|(u, _)| *u != unit);
    }
}

impl ResourceGroups for LinuxPlatform {
    type Placement = Vec<JoinFile>;
    type Leftovers = LinuxLeftovers;
    type State = StateFile;

    fn init_groups(&mut self) {
        self.init_cgroups();
    }

    fn has_groups(&self) -> bool {
        self.cgroups.is_some()
    }

    fn group_missing(&self, asks: &Asks<'_>) -> Option<String> {
        self.cgroup_missing(asks)
    }

    fn create_slice(&mut self, name: &str, path: &str, res: &Resources) -> Result<(), GroupError> {
        match &self.cgroups {
            Some(cg) => cg
                .create(path, Joins::ALL)
                .and_then(|_made| cg.apply(path, res, &format!("slice {name}: resources")))
                .map_err(|e| GroupError::Setup(e.to_string())),
            None => Err(GroupError::Setup(format!(
                "slice {name}: cannot be set up without a writable cgroup ({}); {GIVE_SUP_A_CGROUP}",
                self.cgroup_error.as_deref().unwrap_or("unavailable"),
            ))),
        }
    }

    fn create_group(
        &mut self,
        unit: UnitId,
        req: GroupRequest<'_>,
        ev: &mut Registrar<'_>,
    ) -> Result<Vec<JoinFile>, GroupError> {
        let Some(cg) = self.cgroups.as_ref() else {
            return Err(GroupError::Setup(
                "cgroup: sup has no cgroup for units".into(),
            ));
        };
        let path = req.path;
        let all = || std::iter::once(req.resources).chain(req.slices.iter().copied());
        let joins = Joins::of(all());
        // v1 notifies only an OOM of a memory limit (the unit's, a slice's or one above
        // sup): without any, nothing could ever arrive, and a global OOM kill is still
        // found in the `oom_kill` count when the process exits. v2's inotify watch on
        // memory.events sees every kill.
        let oom_notice = cg.version == Version::V2
            || cg.base_memory_limited
            || all().any(|r| r.memory_max.is_some());
        let made = cg
            .create(path, joins)
            .map_err(|e| GroupError::Setup(format!("cgroup: {e}")))?;
        if let Err(e) = cg.apply(path, req.resources, "resources") {
            let _ = cg.remove(path);
            return Err(GroupError::Setup(e.to_string()));
        }
        let join = cg.join_files(path, joins);
        let same = self.groups.units.get(&unit).is_some_and(|c| c.path == path);
        let entry = self.groups.units.entry(unit).or_default();
        // A restart in the kept cgroup keeps its counter files (opened when first read);
        // a cgroup made anew gets new ones.
        if made || !same {
            entry.stats = cg.open_stats(path, joins);
        }
        // The OOM kills so far: none in a cgroup just made (no read needed).
        entry.oom_seen = if made {
            0
        } else {
            entry.stats.oom_kills().unwrap_or(0)
        };
        let fresh = !same || (entry.wd.is_none() && entry.eventfd.is_none());
        if !same {
            entry.shown = cg.display(path);
            entry.path = path.to_string();
        }
        if fresh && oom_notice {
            if let Err(e) = self.watch_oom(unit, path, ev) {
                log::warn!("{path}: OOM kills will not be reported: {e}");
            }
        }
        Ok(join)
    }

    fn apply_limits(&mut self, unit: UnitId, res: &Resources) -> Result<(), GroupError> {
        let (Some(cg), Some(c)) = (self.cgroups.as_ref(), self.groups.units.get(&unit)) else {
            return Err(GroupError::NoGroup {
                kind: "cgroup",
                why: "cgroups unavailable",
            });
        };
        cg.apply(&c.path, res, "resources")
            .map_err(|e| GroupError::Setup(e.to_string()))
    }

    fn kill_group(&mut self, unit: UnitId, stop: crate::proc::Stop, spare: Option<Pid>) -> bool {
        let signal = stop.signal();
        let (Some(cg), Some(c)) = (self.cgroups.as_ref(), self.groups.units.get(&unit)) else {
            return false;
        };
        if c.stats.pids() == Some(0) {
            // Nothing left in the cgroup (the usual case after a main process exits):
            // no freeze, walk and thaw.
            return true;
        }
        match spare {
            Some(spare) => {
                for pid in cg.pids(&c.path) {
                    if pid as u32 != spare.raw() {
                        // SAFETY: kill takes plain integers; a vanished pid yields ESRCH.
                        unsafe { libc::kill(pid, signal) };
                    }
                }
            }
            None => cg.kill(&c.path, signal),
        }
        true
    }

    fn freeze_group(&mut self, unit: UnitId, frozen: bool) -> Result<(), GroupError> {
        let (Some(cg), Some(c)) = (self.cgroups.as_ref(), self.groups.units.get(&unit)) else {
            return Err(GroupError::NoGroup {
                kind: "cgroup",
                why: "cgroups unavailable",
            });
        };
        cg.freeze(&c.path, frozen)
            .map_err(|e| GroupError::Os(e.to_string()))
    }

    fn group_occupied(&self, unit: UnitId) -> bool {
        match (self.cgroups.as_ref(), self.groups.units.get(&unit)) {
            (Some(cg), Some(c)) => !cg.pids(&c.path).is_empty(),
            _ => false,
        }
    }

    fn group_shown(&self, unit: UnitId) -> Option<&str> {
        self.groups.units.get(&unit).map(|c| c.shown.as_str())
    }

    fn group_stats(&self, unit: UnitId, want: StatsWanted) -> Option<GroupStats> {
        let c = self.groups.units.get(&unit)?;
        // With an OOM watch the count is kept up to date by its events: no file to read.
        let watched = c.wd.is_some() || c.eventfd.is_some();
        let stats = c
            .stats
            .read_only(want.memory, want.cpu, want.pids, want.oom && !watched);
        let mut out = GroupStats::from(stats);
        if want.peak {
            out.memory_peak = c.stats.memory_peak();
        }
        if want.io {
            (out.io_read_bytes, out.io_write_bytes) = c.stats.io_bytes().unzip();
        }
        if watched {
            out.oom_kills = Some(c.oom_seen);
        }
        Some(out)
    }

    fn slice_stats(&self, path: &str) -> (Option<String>, GroupStats) {
        match &self.cgroups {
            Some(cg) => (Some(cg.display(path)), cg.stats(path).into()),
            None => (None, GroupStats::default()),
        }
    }

    fn remove_group(&mut self, unit: UnitId, registry: &Registry) -> Result<bool, GroupError> {
        let (Some(cg), Some(c)) = (self.cgroups.as_ref(), self.groups.units.get(&unit)) else {
            return Ok(true);
        };
        match cg.remove(&c.path) {
            Ok(true) => {
                self.forget(unit, registry);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(GroupError::Os(e.to_string())),
        }
    }

    fn remove_stale_groups(&mut self) {
        if let Some(cg) = self.cgroups.as_ref() {
            cg.remove_dead_sups();
        }
    }

    fn remove_all_groups(&mut self) {
        if let Some(cg) = self.cgroups.as_ref() {
            cg.remove_all();
        }
    }

    fn owns_group_event(&self, token: Token) -> bool {
        self.groups.tokens.contains_key(&token)
            || self
                .groups
                .inotify
                .as_ref()
                .is_some_and(|(t, _)| *t == token)
    }

    fn on_group_event(&mut self, token: Token, now: Duration) -> Vec<GroupEvent> {
        let v1 = self.groups.tokens.get(&token).copied();
        let mut units = match v1 {
            Some(u) => {
                if let Some((_, fd, _)) = self.groups.units.get(&u).and_then(|c| c.eventfd.as_ref())
                {
                    let mut buf = [0u8; 8];
                    // SAFETY: reads into a local buffer from our non-blocking eventfd.
                    unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                }
                vec![u]
            }
            None => self.inotify_units(),
        };
        units.dedup();
        let mut out = Vec::new();
        for u in units {
            match self.oom_increase(u) {
                Some(ev) => out.push(ev),
                None if v1.is_some() => {
                    // v1 signals the eventfd when the cgroup *enters* OOM, just before
                    // the kernel picks and kills a victim: look again shortly (from the
                    // loop's deadline, not by sleeping), for a bounded time.
                    let pending = &mut self.groups.oom_pending;
                    pending.retain(|(p, _)| *p != u);
                    pending.push((u, now + OOM_RECHECK_FOR));
                }
                None => {}
            }
        }
        out
    }

    fn check_group_oom(&mut self, unit: UnitId) -> Option<GroupEvent> {
        let ev = self.oom_increase(unit)?;
        self.groups.oom_pending.retain(|(p, _)| *p != unit);
        Some(ev)
    }

    fn groups_deadline(&self, now: Duration) -> Option<Duration> {
        (!self.groups.oom_pending.is_empty()).then(|| now + OOM_RECHECK_EVERY)
    }

    /// Looks again for the kills of pending v1 OOM notices; gives up after a while (an
    /// OOM can end without a kill when memory is freed meanwhile).
    fn groups_tick(&mut self, now: Duration) -> Vec<GroupEvent> {
        let mut out = Vec::new();
        if self.groups.oom_pending.is_empty() {
            return out;
        }
        for (u, give_up) in std::mem::take(&mut self.groups.oom_pending) {
            match self.oom_increase(u) {
                Some(ev) => out.push(ev),
                None if now < give_up => self.groups.oom_pending.push((u, give_up)),
                None => {}
            }
        }
        out
    }

    fn open_state(&mut self, socket: &Path) -> (StateFile, Option<LinuxLeftovers>) {
        let ours = self
            .cgroups
            .as_ref()
            .map(|cg| cg.hierarchies.iter().map(|h| h.base.clone()).collect())
            .unwrap_or_default();
        super::recover::open(socket, ours)
    }
}
