//! File watches on inotify (`FileWatch`): one inotify fd for every unit, created and
//! registered with the loop when the first unit is watched. Each watched path is a
//! target followed by its [`Plan`]: a directory and every directory below it, a file
//! through its directory (entries of its name) and itself, or a missing path through
//! the nearest existing directory above it. A watch descriptor may serve several
//! targets (the kernel gives one per inode); it is removed when none uses it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::LinuxPlatform;
use crate::platform::watch::{
    coalesce, normalize, plan, FileEvent, FileEvents, FileWatch, Kind, Plan, WatchError,
    MAX_WATCHES_PER_UNIT,
};
use crate::proc::UnitId;

/// What counts as a change: created, written, closed after writing, moved, deleted,
/// metadata (`touch`, `chmod`, link count).
const MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ATTRIB;
/// The watched inode itself went away (deleted or moved).
const SELF_GONE: u32 = libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
/// An entry appeared or left (so what a name refers to may be another inode).
const ENTRY_MOVED: u32 =
    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM;
/// Size of `struct inotify_event` before its name.
const EVENT_HEADER: usize = 16;
/// Buffers read per `file_events` call, so a flood of changes cannot hold the loop.
const READ_BUDGET: usize = 64;
/// Plans tried for a path that keeps changing while it is being set up.
const SETUP_ATTEMPTS: usize = 8;

/// One target's use of a watch descriptor, at the path it was added for.
#[derive(Debug)]
struct Use {
    unit: UnitId,
    target: usize,
    at: PathBuf,
}

/// One watched path of a unit.
#[derive(Debug)]
struct Target {
    path: PathBuf,
    plan: Plan,
    /// Every watch it holds: the path watched → its descriptor.
    watches: BTreeMap<PathBuf, i32>,
}

/// Every unit's file watches on one inotify fd.
#[derive(Debug)]
pub struct LinuxWatches {
    fd: Option<File>,
    wds: HashMap<i32, Vec<Use>>,
    units: HashMap<UnitId, Vec<Target>>,
    /// Watches one unit may hold ([`MAX_WATCHES_PER_UNIT`]; tests lower it).
    limit: usize,
    /// Reads per `file_events` call ([`READ_BUDGET`]; tests lower it).
    budget: usize,
}

impl Default for LinuxWatches {
    fn default() -> LinuxWatches {
        LinuxWatches {
            fd: None,
            wds: HashMap::new(),
            units: HashMap::new(),
            limit: MAX_WATCHES_PER_UNIT,
            budget: READ_BUDGET,
        }
    }
}

fn probe(path: &Path, hard: &mut Option<(PathBuf, io::Error)>) -> Kind {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::Other,
        Err(e) if gone(&e) => Kind::Missing,
        Err(e) => {
            if hard.is_none() {
                *hard = Some((path.to_path_buf(), e));
            }
            Kind::Missing
        }
    }
}

/// The path (or one above it) does not exist (any more): nothing to watch there.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
    )
}

/// How to follow `path` now; an error other than "missing" (permission) names the path.
fn plan_of(path: &Path) -> Result<Plan, WatchError> {
    let mut hard = None;
    let p = plan(path, |p| probe(p, &mut hard));
    match hard {
        Some((path, source)) => Err(WatchError::Io { path, source }),
        None => Ok(p),
    }
}

fn rm_watch(fd: RawFd, wd: i32) {
    // SAFETY: removes a watch from our own inotify fd; plain integers, and an unknown or
    // already removed descriptor only yields EINVAL.
    unsafe { libc::inotify_rm_watch(fd, wd) };
}

/// Drops the use `(unit, target, at)` of `wd`; the watch goes when no use is left.
fn release_use(
    wds: &mut HashMap<i32, Vec<Use>>,
    fd: RawFd,
    wd: i32,
    unit: UnitId,
    target: usize,
    at: &Path,
) {
    if let Some(uses) = wds.get_mut(&wd) {
        uses.retain(|u| !(u.unit == unit && u.target == target && u.at == at));
        if uses.is_empty() {
            wds.remove(&wd);
            rm_watch(fd, wd);
        }
    }
}

impl LinuxWatches {
    fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    fn target(&self, unit: UnitId, t: usize) -> Option<&Target> {
        self.units.get(&unit).and_then(|ts| ts.get(t))
    }

    fn target_mut(&mut self, unit: UnitId, t: usize) -> Option<&mut Target> {
        self.units.get_mut(&unit).and_then(|ts| ts.get_mut(t))
    }

    /// Reads queued events (non-blocking); `Ok(0)` without an fd.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.as_ref().map_or(Ok(0), |mut file| file.read(buf))
    }

    /// Creates the inotify fd and registers it (once).
    fn open(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        if self.fd.is_some() {
            return Ok(());
        }
        // SAFETY: inotify_init1 takes flags only.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: inotify_init1 succeeded; the fd is new and ours alone.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        registry.register(&mut SourceFd(&file.as_raw_fd()), token, Interest::READABLE)?;
        self.fd = Some(file);
        Ok(())
    }

    /// Adds a watch on `at` for target `t` of `unit`. `Ok(false)`: `at` is gone (or is
    /// not a directory when `flags` asks for one).
    fn add(&mut self, unit: UnitId, t: usize, at: &Path, flags: u32) -> Result<bool, WatchError> {
        let fd = self.raw_fd();
        let Some(targets) = self.units.get(&unit) else {
            return Ok(false);
        };
        let held: usize = targets.iter().map(|t| t.watches.len()).sum();
        let target = &targets[t];
        if target.watches.contains_key(at) {
            return Ok(true);
        }
        if held >= self.limit {
            return Err(WatchError::TooMany {
                path: target.path.clone(),
                limit: self.limit,
            });
        }
        let io_error = |source| WatchError::Io {
            path: at.to_path_buf(),
            source,
        };
        let c = CString::new(at.as_os_str().as_bytes())
            .map_err(|_| io_error(io::Error::new(io::ErrorKind::InvalidInput, "NUL in path")))?;
        // SAFETY: `fd` is our inotify fd (or -1: EBADF) and `c` a NUL-terminated path
        // that outlives the call.
        let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), MASK | flags) };
        if wd == -1 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                _ if gone(&e) => Ok(false),
                Some(libc::ENOSPC) => Err(WatchError::SystemLimit {
                    path: at.to_path_buf(),
                }),
                _ => Err(io_error(e)),
            };
        }
        let uses = self.wds.entry(wd).or_default();
        if !uses
            .iter()
            .any(|u| u.unit == unit && u.target == t && u.at == at)
        {
            uses.push(Use {
                unit,
                target: t,
                at: at.to_path_buf(),
            });
        }
        if let Some(target) = self.target_mut(unit, t) {
            target.watches.insert(at.to_path_buf(), wd);
        }
        Ok(true)
    }

    /// Drops target `t`'s watch of `at`.
    fn release(&mut self, unit: UnitId, t: usize, at: &Path) {
        let fd = self.raw_fd();
        let Some(wd) = self.target_mut(unit, t).and_then(|t| t.watches.remove(at)) else {
            return;
        };
        release_use(&mut self.wds, fd, wd, unit, t, at);
    }

    /// Drops target `t`'s watches of `dir` and everything below it (moved away).
    fn release_under(&mut self, unit: UnitId, t: usize, dir: &Path) {
        let Some(target) = self.target(unit, t) else {
            return;
        };
        // Paths order by components: a directory's descendants follow it at once.
        let below: Vec<PathBuf> = target
            .watches
            .range(dir.to_path_buf()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(dir))
            .cloned()
            .collect();
        for p in below {
            self.release(unit, t, &p);
        }
    }

    /// Watches the directories below `root` (watched already), each before it is read,
    /// so one created meanwhile is either seen by the read or reported by its parent.
    fn add_below(&mut self, unit: UnitId, t: usize, root: &Path) -> Result<(), WatchError> {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if gone(&e) => continue,
                Err(source) => return Err(WatchError::Io { path: dir, source }),
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|ft| ft.is_dir()) {
                    let sub = entry.path();
                    if self.add(unit, t, &sub, libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW)? {
                        stack.push(sub);
                    }
                }
            }
        }
        Ok(())
    }

    /// A directory appeared inside a watched tree: watch it and what is below it.
    fn add_tree(&mut self, unit: UnitId, t: usize, dir: &Path) -> Result<(), WatchError> {
        if self.add(unit, t, dir, libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW)? {
            self.add_below(unit, t, dir)?;
        }
        Ok(())
    }

    /// Adds the watches of `plan`; `Ok(false)` when a path vanished meanwhile.
    fn install(
        &mut self,
        unit: UnitId,
        t: usize,
        path: &Path,
        plan: &Plan,
    ) -> Result<bool, WatchError> {
        match plan {
            Plan::Tree => {
                if !self.add(unit, t, path, libc::IN_ONLYDIR)? {
                    return Ok(false);
                }
                self.add_below(unit, t, path)?;
                Ok(true)
            }
            Plan::File { parent, .. } => {
                Ok(self.add(unit, t, parent, libc::IN_ONLYDIR)? && self.add(unit, t, path, 0)?)
            }
            Plan::Absent { anchor, .. } => self.add(unit, t, anchor, libc::IN_ONLYDIR),
        }
    }

    /// (Re)follows target `t` as the disk is now. New watches are added before the old
    /// ones are dropped, so a directory watched before and after keeps its descriptor
    /// and loses no event.
    fn follow(&mut self, unit: UnitId, t: usize) -> Result<(), WatchError> {
        let Some(target) = self.target_mut(unit, t) else {
            return Ok(());
        };
        let path = target.path.clone();
        let mut old: Vec<(PathBuf, i32)> =
            std::mem::take(&mut target.watches).into_iter().collect();
        let mut result = Err(WatchError::Io {
            path: path.clone(),
            source: io::Error::other("it keeps changing while being set up"),
        });
        for _ in 0..SETUP_ATTEMPTS {
            let attempt = plan_of(&path).and_then(|plan| {
                let complete = self.install(unit, t, &path, &plan)?;
                // Something may have appeared or gone between looking and watching.
                Ok((complete && plan_of(&path)? == plan).then_some(plan))
            });
            match attempt {
                Ok(Some(plan)) => {
                    if let Some(target) = self.target_mut(unit, t) {
                        target.plan = plan;
                    }
                    result = Ok(());
                    break;
                }
                Ok(None) => {
                    if let Some(target) = self.target_mut(unit, t) {
                        old.extend(std::mem::take(&mut target.watches));
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let fd = self.raw_fd();
        let kept = self.target(unit, t).map(|t| &t.watches);
        let drop: Vec<(PathBuf, i32)> = old
            .into_iter()
            .filter(|(at, wd)| kept.and_then(|k| k.get(at)) != Some(wd))
            .collect();
        for (at, wd) in drop {
            release_use(&mut self.wds, fd, wd, unit, t, &at);
        }
        result
    }

    /// Follows target `t` again after a change of what its path is; a change when the
    /// path existed before or exists now.
    fn refollow(&mut self, unit: UnitId, t: usize, out: &mut Vec<FileEvent>) {
        let Some(target) = self.target(unit, t) else {
            return;
        };
        let existed = !matches!(target.plan, Plan::Absent { .. });
        let path = target.path.clone();
        match self.follow(unit, t) {
            Ok(()) => {
                let exists = self
                    .target(unit, t)
                    .is_some_and(|t| !matches!(t.plan, Plan::Absent { .. }));
                if existed || exists {
                    out.push(FileEvent::Changed { unit, path });
                }
            }
            Err(error) => self.fail(unit, error, out),
        }
    }

    fn fail(&mut self, unit: UnitId, error: WatchError, out: &mut Vec<FileEvent>) {
        self.drop_unit(unit);
        out.push(FileEvent::Failed { unit, error });
    }

    fn drop_unit(&mut self, unit: UnitId) {
        let fd = self.raw_fd();
        for (t, target) in self
            .units
            .remove(&unit)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            for (at, wd) in target.watches {
                release_use(&mut self.wds, fd, wd, unit, t, &at);
            }
        }
    }

    /// One inotify event: changes to report, targets to follow again (`dirty`).
    fn on_event(
        &mut self,
        wd: i32,
        mask: u32,
        name: Option<&OsStr>,
        out: &mut Vec<FileEvent>,
        dirty: &mut Vec<(UnitId, usize)>,
    ) {
        if mask & libc::IN_IGNORED != 0 {
            self.on_ignored(wd, dirty);
            return;
        }
        let Some(uses) = self.wds.get(&wd) else {
            return;
        };
        let uses: Vec<(UnitId, usize, PathBuf)> = uses
            .iter()
            .map(|u| (u.unit, u.target, u.at.clone()))
            .collect();
        for (unit, t, at) in uses {
            let Some(target) = self.target(unit, t) else {
                continue;
            };
            if target.watches.get(&at) != Some(&wd) {
                continue;
            }
            let path = target.path.clone();
            let mut mark = || {
                if !dirty.contains(&(unit, t)) {
                    dirty.push((unit, t));
                }
            };
            match target.plan.clone() {
                Plan::Tree => {
                    if at == path && mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                        mark();
                    }
                    let changed = name.map_or_else(|| at.clone(), |n| at.join(n));
                    if mask & libc::IN_ISDIR != 0 {
                        if mask & libc::IN_MOVED_FROM != 0 {
                            self.release_under(unit, t, &changed);
                        }
                        if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
                            if let Err(error) = self.add_tree(unit, t, &changed) {
                                self.fail(unit, error, out);
                                continue;
                            }
                        }
                    }
                    out.push(FileEvent::Changed {
                        unit,
                        path: changed,
                    });
                }
                Plan::File { parent, name: file } => {
                    if at == parent {
                        if mask & SELF_GONE != 0 {
                            mark();
                        } else if name != Some(file.as_os_str()) {
                            continue;
                        } else if mask & ENTRY_MOVED != 0 {
                            mark();
                        }
                    } else if mask & SELF_GONE != 0 {
                        mark();
                    }
                    out.push(FileEvent::Changed { unit, path });
                }
                Plan::Absent { next, .. } => {
                    if mask & SELF_GONE != 0 || name == Some(next.as_os_str()) {
                        mark();
                    }
                }
            }
        }
    }

    /// The kernel dropped watch `wd` (its inode is gone, or its file system unmounted):
    /// forget it; a target that loses its root, file, directory or anchor is followed
    /// again (a directory inside a tree is reported by its parent).
    fn on_ignored(&mut self, wd: i32, dirty: &mut Vec<(UnitId, usize)>) {
        for u in self.wds.remove(&wd).unwrap_or_default() {
            let Some(target) = self.target_mut(u.unit, u.target) else {
                continue;
            };
            if target.watches.get(&u.at) != Some(&wd) {
                continue;
            }
            target.watches.remove(&u.at);
            let inside_tree = target.plan == Plan::Tree && u.at != target.path;
            if !inside_tree && !dirty.contains(&(u.unit, u.target)) {
                dirty.push((u.unit, u.target));
            }
        }
    }

    /// A lost event queue: every unit changed, and every target is followed again
    /// (directories may have appeared unseen).
    fn on_overflow(&mut self, out: &mut Vec<FileEvent>, dirty: &mut Vec<(UnitId, usize)>) {
        log::warn!("inotify event queue overflowed: every watched unit counts as changed");
        for (&unit, targets) in &self.units {
            if let Some(first) = targets.first() {
                out.push(FileEvent::Changed {
                    unit,
                    path: first.path.clone(),
                });
            }
            for t in 0..targets.len() {
                if !dirty.contains(&(unit, t)) {
                    dirty.push((unit, t));
                }
            }
        }
    }

    /// Parses one buffer of `struct inotify_event`s.
    fn on_buffer(
        &mut self,
        buf: &[u8],
        out: &mut Vec<FileEvent>,
        dirty: &mut Vec<(UnitId, usize)>,
    ) {
        let word = |at: usize| -> [u8; 4] { buf[at..at + 4].try_into().expect("four bytes") };
        let mut off = 0;
        while off + EVENT_HEADER <= buf.len() {
            let wd = i32::from_ne_bytes(word(off));
            let mask = u32::from_ne_bytes(word(off + 4));
            let len = u32::from_ne_bytes(word(off + 12)) as usize;
            let end = (off + EVENT_HEADER + len).min(buf.len());
            let raw = &buf[off + EVENT_HEADER..end];
            // The name is NUL-padded; none for an event on the watched inode itself.
            let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            let name = (!raw.is_empty()).then(|| OsStr::from_bytes(raw));
            if mask & libc::IN_Q_OVERFLOW != 0 {
                self.on_overflow(out, dirty);
            } else {
                self.on_event(wd, mask, name, out, dirty);
            }
            off = end;
        }
    }
}

impl FileWatch for LinuxPlatform {
    fn watch_files(
        &mut self,
        registry: &Registry,
        token: Token,
        unit: UnitId,
        paths: &[PathBuf],
    ) -> Result<(), WatchError> {
        let w = &mut self.watches;
        w.open(registry, token).map_err(|source| WatchError::Io {
            path: paths.first().cloned().unwrap_or_default(),
            source,
        })?;
        w.drop_unit(unit);
        let targets = paths
            .iter()
            .map(|p| Target {
                path: normalize(p),
                plan: Plan::Tree,
                watches: BTreeMap::new(),
            })
            .collect::<Vec<_>>();
        let n = targets.len();
        w.units.insert(unit, targets);
        for t in 0..n {
            if let Err(e) = w.follow(unit, t) {
                w.drop_unit(unit);
                return Err(e);
            }
        }
        Ok(())
    }

    fn unwatch_files(&mut self, unit: UnitId) {
        self.watches.drop_unit(unit);
    }

    fn file_events(&mut self) -> FileEvents {
        let w = &mut self.watches;
        let mut out = Vec::new();
        let mut dirty = Vec::new();
        let mut more = false;
        // Room for many events; one event is at most 16 + NAME_MAX + 1 bytes.
        let mut buf = [0u8; 16 << 10];
        let mut reads = 0;
        loop {
            if reads == w.budget {
                more = true;
                break;
            }
            match w.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    reads += 1;
                    w.on_buffer(&buf[..n], &mut out, &mut dirty);
                    coalesce(&mut out);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::warn!("reading inotify events: {e}");
                    break;
                }
            }
        }
        for (unit, t) in dirty {
            w.refollow(unit, t, &mut out);
        }
        coalesce(&mut out);
        FileEvents { events: out, more }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
