//! sup's cgroup subtree: layout detection (v2 unified, or v1 controller hierarchies),
//! creating and removing unit and slice cgroups, limits, accounting, kill and freeze.
//!
//! A small file layer of our own (no `cgroups-rs`): every operation is a handful of
//! reads and writes of cgroup files, and owning them lets every error name the exact
//! path and resource key. The cgroup root and the mountinfo text are parameters of the
//! plan, so tests build a fake tree in a temp dir.
//!
//! Layout (planned in `layout`): sup's base is `<cgroup sup runs in>/<name>` in every
//! hierarchy it uses, found below the hierarchy's mount point as mountinfo shows it (`name`
//! is `sup` as the machine's PID 1, `sup-<pid>` otherwise, `sup-<pid>-<nonce>` in a pid
//! namespace whose pids are not unique host-wide, or `$SUP_CGROUP`). On v2 sup moves itself into
//! `<base>/supervisor` so that `<base>` may delegate controllers (no internal processes).
//! A unit lives in `<base>/[<slice>.slice/...]<unit>`.

mod layout;
mod stats;
pub mod v1;
pub mod v2;

pub use layout::{detect, parse_mountinfo, parse_proc_cgroup, CgroupMount, OwnCgroup, Unusable};
pub use stats::StatFiles;

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::platform::confine::JoinFile;

use crate::limits::Resources;

/// The controllers sup uses on v1 (each is its own hierarchy, or a co-mounted one).
pub const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio", "freezer"];
/// The controllers sup enables on v2.
pub const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "io", "pids"];

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup hierarchy mounted at {} (by /proc/self/mountinfo)", root.display())]
    NoHierarchy { root: PathBuf },
    #[error("no usable cgroup hierarchy: {}", .0.iter().map(Unusable::to_string).collect::<Vec<_>>().join("; "))]
    Unusable(Vec<Unusable>),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, CgroupError>;

pub fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(io_err("write", path))
}

pub fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(io_err("read", path))
}

/// `key value` lines (memory.events, cpu.stat, memory.oom_control) → the value of `key`.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Usage of one cgroup; `None` where the host does not account it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory_bytes: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub pids: Option<u64>,
    pub oom_kills: Option<u64>,
    pub memory_peak: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
}

/// Which optional v1 hierarchies a unit's cgroup joins. `cpu`, `blkio` and `pids` are
/// joined only when the unit or one of its slices sets a key of theirs (`cpu_weight`,
/// `cpu_max`; `io_weight`, `io_max`; `pids_max`), as systemd realizes only the
/// controllers a unit needs: each hierarchy costs a `mkdir` and a join per start, the
/// largest part of starting a unit here. `cpuacct` and `memory` (accounting, OOM) and
/// `freezer` (kill, pause; its `cgroup.procs` also gives the process count) are always
/// joined. v2 has one tree, always joined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Joins {
    pub cpu: bool,
    pub io: bool,
    pub pids: bool,
}

impl Joins {
    pub const ALL: Joins = Joins {
        cpu: true,
        io: true,
        pids: true,
    };

    /// What the given resource maps (a unit's and its slices') need.
    pub fn of<'a>(res: impl IntoIterator<Item = &'a Resources>) -> Joins {
        res.into_iter().fold(Joins::default(), |j, r| Joins {
            cpu: j.cpu || r.cpu_weight.is_some() || r.cpu_max.is_some(),
            io: j.io || r.io_weight.is_some() || !r.io_max.is_empty(),
            pids: j.pids || r.pids_max.is_some(),
        })
    }

    fn includes(self, h: &Hierarchy) -> bool {
        h.controllers.iter().any(|c| match c.as_str() {
            "cpu" => self.cpu,
            "blkio" => self.io,
            "pids" => self.pids,
            _ => true,
        })
    }
}

/// One hierarchy sup uses: the controllers it carries and sup's base dir in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Hierarchy {
    pub controllers: Vec<String>,
    /// sup's base dir: the mount point, then sup's own cgroup below the mount's root,
    /// then sup's name.
    pub base: PathBuf,
    /// Where the hierarchy is mounted (from mountinfo).
    pub mount: PathBuf,
    /// The base as a cgroup path, as `/proc/PID/cgroup` shows it in sup's cgroup
    /// namespace (`/a/b/sup-7`).
    pub cgroup: String,
}

/// sup's cgroup subtree.
#[derive(Debug)]
pub struct Cgroups {
    pub version: Version,
    pub hierarchies: Vec<Hierarchy>,
    /// Hierarchies mounted but not usable (a unit needing them fails with why).
    pub unusable: Vec<Unusable>,
    /// The name of sup's base dir (`sup`, `sup-<pid>`).
    pub name: String,
    /// v1: a memory limit holds above sup's base (from its `memory.stat`
    /// `hierarchical_memory_limit`), so an OOM of that limit can reach the units.
    pub base_memory_limited: bool,
    /// Each hierarchy's base dir, open (`O_PATH`) once `setup` made it: a unit's cgroup
    /// is made and its files opened relative to it (`mkdirat`, `openat`), a walk of two
    /// path components instead of the eight or so from `/`, for every start.
    base_fds: Vec<Option<OwnedFd>>,
}

/// Opens `rel` below the directory `dir` (close-on-exec).
pub fn open_at(dir: RawFd, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `dir` is an open directory fd (the caller's contract) and `c` a
    // NUL-terminated path; the returned fd, if any, is new and ours alone.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A unit's or slice's cgroup path is relative and stays below sup's base: never an
/// absolute path (which `mkdirat` would take from the root) nor one that climbs out.
fn below_base(path: &str) -> Result<()> {
    let p = Path::new(path);
    let climbs = p
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if path.is_empty() || climbs {
        return Err(CgroupError::Other(format!(
            "cgroup path {path:?} is not a relative path below sup's cgroup"
        )));
    }
    Ok(())
}

/// `mkdir` of `rel` below the directory `dir`.
fn mkdir_at(dir: RawFd, rel: &Path) -> io::Result<()> {
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `dir` is an open directory fd and `c` a NUL-terminated path.
    if unsafe { libc::mkdirat(dir, c.as_ptr(), 0o755) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Cgroups {
    /// Creates the base dirs; on v2 moves `pid` (sup) into `<base>/supervisor` and
    /// enables the controllers from the root down to the base (those that can be).
    pub fn setup(&mut self, pid: u32) -> Result<()> {
        for (i, h) in self.hierarchies.iter().enumerate() {
            fs::create_dir_all(&h.base).map_err(io_err("create", &h.base))?;
            self.base_fds[i] =
                open_at(libc::AT_FDCWD, &h.base, libc::O_PATH | libc::O_DIRECTORY).ok();
        }
        if self.version == Version::V2 {
            let base = self.hierarchies[0].base.clone();
            let leaf = base.join("supervisor");
            fs::create_dir_all(&leaf).map_err(io_err("create", &leaf))?;
            write(&leaf.join("cgroup.procs"), &pid.to_string())?;
            let mount = self.hierarchies[0].mount.clone();
            v2::enable_down(&mount, &base, true);
            let enabled = read(&base.join("cgroup.subtree_control")).unwrap_or_default();
            self.hierarchies[0].controllers =
                enabled.split_whitespace().map(String::from).collect();
        }
        if let Some(base) = self
            .dir("memory", "")
            .filter(|_| self.version == Version::V1)
        {
            // Unlimited is PAGE_COUNTER_MAX pages (about 2^63); unknown counts as limited.
            self.base_memory_limited = read(&base.join("memory.stat"))
                .ok()
                .and_then(|t| keyed(&t, "hierarchical_memory_limit"))
                .map_or(true, |l| l < 1 << 62);
        }
        Ok(())
    }

    /// Controllers usable for units.
    pub fn has(&self, ctrl: &str) -> bool {
        self.hierarchies
            .iter()
            .any(|h| h.controllers.iter().any(|c| c == ctrl))
    }

    /// The dir of cgroup `path` (e.g. `web.slice/app`) in the hierarchy carrying `ctrl`.
    pub fn dir(&self, ctrl: &str, path: &str) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == ctrl))
            .map(|h| h.base.join(path))
    }

    /// The dir of `path` in every hierarchy.
    pub fn dirs(&self, path: &str) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.base.join(path)).collect()
    }

    /// The cgroup path of `path` shown in status, as `/proc/PID/cgroup` of its processes
    /// shows it in sup's cgroup namespace: v2's path; on v1 the memory hierarchy's (or
    /// the first one's).
    pub fn display(&self, path: &str) -> String {
        let h = self
            .hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == "memory"))
            .unwrap_or(&self.hierarchies[0]);
        layout::cgroup_join(&h.cgroup, path)
    }

    /// The hierarchies a cgroup with `joins` lives in, with their base dir fds.
    fn joined(&self, joins: Joins) -> impl Iterator<Item = (&Hierarchy, Option<RawFd>)> {
        let v2 = self.version == Version::V2;
        self.hierarchies
            .iter()
            .zip(&self.base_fds)
            .filter(move |(h, _)| v2 || joins.includes(h))
            .map(|(h, fd)| (h, fd.as_ref().map(|f| f.as_raw_fd())))
    }

    /// The index of the hierarchy carrying `ctrl` (v2: the one).
    fn hierarchy_of(&self, ctrl: &str) -> Option<usize> {
        self.hierarchies
            .iter()
            .position(|h| self.version == Version::V2 || h.controllers.iter().any(|c| c == ctrl))
    }

    /// Opens `file` of cgroup `path` in the hierarchy carrying `ctrl` (read-only).
    pub fn open_file(&self, ctrl: &str, path: &str, file: &str) -> io::Result<fs::File> {
        let i = self
            .hierarchy_of(ctrl)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let rel = Path::new(path).join(file);
        match &self.base_fds[i] {
            Some(fd) => open_at(fd.as_raw_fd(), &rel, libc::O_RDONLY).map(fs::File::from),
            None => fs::File::open(self.hierarchies[i].base.join(rel)),
        }
    }

    /// Creates cgroup `path` in the hierarchies of `joins`, enabling controllers in
    /// intermediate (slice) dirs on v2.
    ///
    /// Returns whether every dir of it was made just now (so its counters start at 0).
    pub fn create(&self, path: &str, joins: Joins) -> Result<bool> {
        below_base(path)?;
        let mut made = true;
        for (h, fd) in self.joined(joins) {
            let dir = h.base.join(path);
            match fd.map(|fd| mkdir_at(fd, Path::new(path))) {
                Some(Ok(())) => {}
                Some(Err(e)) if e.kind() == io::ErrorKind::AlreadyExists => made = false,
                // No base fd, or a parent (slice) dir missing: the long way.
                _ => {
                    made = false;
                    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
                }
            }
            if self.version == Version::V2 {
                v2::enable_down(&h.base, &dir, false);
            }
        }
        Ok(made)
    }

    /// Applies `res` to cgroup `path`; `key_prefix` names the keys in errors
    /// (`resources`, `slice web: resources`).
    pub fn apply(&self, path: &str, res: &Resources, key_prefix: &str) -> Result<()> {
        match self.version {
            Version::V2 => v2::apply(self, path, res, key_prefix),
            Version::V1 => v1::apply(self, path, res, key_prefix),
        }
    }

    /// The file a new, single-threaded process writes `0` to (or sup its pid) to join
    /// `path`, in each hierarchy of `joins`: `cgroup.procs` on v2, `tasks` on v1.
    ///
    /// On v1 `tasks` moves one thread, which for the child between fork and exec is the
    /// whole process. It is also much cheaper: writing `0` to `cgroup.procs` takes the
    /// kernel's global threadgroup lock for writing, which waits for an RCU grace period
    /// (about 0.2 ms measured here, per start), while moving the calling thread through
    /// `tasks` skips that lock (`cgroup_procs_write_start`).
    pub fn join_files(&self, path: &str, joins: Joins) -> Vec<JoinFile> {
        let file = match self.version {
            Version::V2 => "cgroup.procs",
            Version::V1 => "tasks",
        };
        self.joined(joins)
            .map(|(h, dir)| {
                let rel = Path::new(path).join(file);
                JoinFile {
                    dir,
                    path: h.base.join(&rel),
                    rel,
                }
            })
            .collect()
    }

    /// Every pid in cgroup `path` (and its descendants).
    pub fn pids(&self, path: &str) -> Vec<i32> {
        let mut out = Vec::new();
        for dir in self.dirs(path) {
            collect_pids(&dir, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn stats(&self, path: &str) -> Stats {
        let mut stats = self.open_stats(path, Joins::ALL).read();
        if stats.pids.is_none() {
            stats.pids = Some(self.pids(path).len() as u64);
        }
        stats
    }

    /// Sends `signal` to every process of `path`; SIGKILL uses `cgroup.kill` (v2) or
    /// freeze, kill, thaw (v1) so nothing can fork away meanwhile.
    pub fn kill(&self, path: &str, signal: i32) {
        match self.version {
            Version::V2 => v2::kill(self, path, signal),
            Version::V1 => v1::kill(self, path, signal),
        }
    }

    pub fn freeze(&self, path: &str, frozen: bool) -> Result<()> {
        match self.version {
            Version::V2 => v2::freeze(self, path, frozen),
            Version::V1 => v1::freeze(self, path, frozen),
        }
    }

    /// Removes cgroup `path` in every hierarchy; `Ok(false)` while processes remain.
    pub fn remove(&self, path: &str) -> Result<bool> {
        below_base(path)?;
        let mut gone = true;
        for dir in self.dirs(path) {
            match fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => gone = false,
                Err(e) => return Err(io_err("remove", &dir)(e)),
            }
        }
        Ok(gone)
    }

    /// In sup's own base, everything but `supervisor` (a previous sup of the same name,
    /// e.g. PID 1 before a restart), killing what is left in it. Needed before the first
    /// unit starts: the names would collide.
    pub fn remove_own_stale(&self) {
        for h in &self.hierarchies {
            let mut stale: Vec<PathBuf> = Vec::new();
            for e in fs::read_dir(&h.base).into_iter().flatten().flatten() {
                if e.path().is_dir() && e.file_name() != "supervisor" {
                    stale.push(e.path());
                }
            }
            for dir in stale {
                log::info!("removing stale cgroup {}", dir.display());
                let rel = dir.strip_prefix(&h.base).ok().map(|p| p.to_path_buf());
                match rel {
                    Some(r) if !r.as_os_str().is_empty() => {
                        self.kill(&r.to_string_lossy(), libc::SIGKILL)
                    }
                    _ => kill_tree(&dir),
                }
                remove_tree(&dir);
            }
        }
    }

    /// In sup's parent cgroup, the `sup-<pid>` subtrees of processes that no longer
    /// exist (which only the initial pid namespace can tell), if no process is left in
    /// them: a sup never kills what another sup runs. Not needed to start units (the
    /// runtime calls it once they are started: a killed sup with 500 units leaves 1500
    /// cgroups on v1, about 0.1 s of rmdir).
    pub fn remove_dead_sups(&self) {
        // Subtrees that still hold a process, by name: found busy in one hierarchy, they
        // are left alone in all. The pids hierarchy answers with one read
        // (`pids.current` counts the whole subtree), so it goes first.
        let mut busy: HashSet<String> = HashSet::new();
        let mut order: Vec<&Hierarchy> = self.hierarchies.iter().collect();
        order.sort_by_key(|h| !h.controllers.iter().any(|c| c == "pids"));
        for h in order {
            let parent = h.base.parent().filter(|_| in_initial_pid_ns());
            for e in parent
                .map(fs::read_dir)
                .into_iter()
                .flatten()
                .flatten()
                .flatten()
            {
                let name = e.file_name().to_string_lossy().to_string();
                let dead = name
                    .strip_prefix("sup-")
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
                if dead && e.path() != h.base && !busy.contains(&name) {
                    if populated(&e.path()) {
                        busy.insert(name);
                    } else {
                        log::info!("removing stale cgroup {}", e.path().display());
                        remove_tree(&e.path());
                    }
                }
            }
        }
    }

    /// Removes sup's whole subtree (at exit; best effort).
    pub fn remove_all(&self) {
        for h in &self.hierarchies {
            if self.version == Version::V2 {
                // sup itself is in `supervisor`: move it back up first.
                if let Some(parent) = h.base.parent() {
                    let _ = write(
                        &parent.join("cgroup.procs"),
                        &std::process::id().to_string(),
                    );
                }
            }
            remove_tree(&h.base);
        }
    }
}

/// Whether pids here name processes host-wide (the initial pid namespace).
fn in_initial_pid_ns() -> bool {
    use std::os::unix::fs::MetadataExt;
    // PROC_PID_INIT_INO: the inode of the initial pid namespace since Linux 3.8.
    fs::metadata("/proc/self/ns/pid").is_ok_and(|m| m.ino() == 0xEFFF_FFFC)
}

/// Every pid in cgroup `dir` and its sub-cgroups, appended to `out`.
pub fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&e.path(), out);
        }
    }
}

/// Whether any process is left in cgroup `dir` or below: one read where the kernel keeps
/// a subtree count (v2 `cgroup.events`, v1 `pids.current`), else a walk that stops at
/// the first pid.
fn populated(dir: &Path) -> bool {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.events")) {
        return keyed(&text, "populated") != Some(0);
    }
    if let Ok(text) = fs::read_to_string(dir.join("pids.current")) {
        return text.trim() != "0";
    }
    let has_pid = fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().any(|l| !l.trim().is_empty()))
        .unwrap_or(false);
    has_pid
        || fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && populated(&e.path()))
}

fn kill_tree(dir: &Path) {
    let mut pids = Vec::new();
    collect_pids(dir, &mut pids);
    for pid in pids {
        // SAFETY: kill takes plain integers; a vanished pid only yields ESRCH.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Removes `dir` and its sub-cgroups, deepest first, in one attempt (never waits);
/// false when some are still busy (processes still exiting): the caller tries again
/// later, from an event or a deadline.
pub fn remove_tree(dir: &Path) -> bool {
    let mut all = true;
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            all &= remove_tree(&e.path());
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => all,
        Err(e) if e.kind() == io::ErrorKind::NotFound => all,
        Err(e) => {
            log::debug!("cannot remove cgroup {} yet: {e}", dir.display());
            false
        }
    }
}

/// `major:minor` of a block device, from `stat`.
pub fn device_numbers(dev: &Path) -> std::result::Result<(u64, u64), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = fs::metadata(dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{} is not a block device", dev.display()));
    }
    let rdev = meta.rdev();
    Ok((libc::major(rdev) as u64, libc::minor(rdev) as u64))
}

impl super::LinuxPlatform {
    /// Detects the layout under `$SUP_CGROUP_ROOT` (default `/sys/fs/cgroup`) and sets
    /// up sup's subtree; on failure units without resources still run.
    pub fn init_cgroups(&mut self) {
        let root = std::env::var_os("SUP_CGROUP_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
        // mountinfo names mount points without symlinks.
        let root = fs::canonicalize(&root).unwrap_or(root);
        let pid = std::process::id();
        // A new image of sup (reexec) goes on in the cgroup of the one before.
        let name = crate::platform::handover::carried_cgroup_name()
            .or_else(|| std::env::var("SUP_CGROUP").ok())
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .unwrap_or_else(|| match (pid, in_initial_pid_ns()) {
                (1, true) => "sup".into(),
                (_, true) => format!("sup-{pid}"),
                // In a pid namespace (a container sharing the host's cgroup view, a test
                // under `unshare --pid`) pids are not unique host-wide: add a nonce.
                (_, false) => {
                    let nonce = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
                        .unwrap_or(0);
                    format!("sup-{pid}-{nonce:08x}")
                }
            });
        let result = (|| -> Result<Cgroups> {
            let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
            let own = parse_proc_cgroup(&read(Path::new("/proc/self/cgroup"))?);
            let mut cg = Cgroups::plan(&root, &mountinfo, &own, &name)?;
            crate::platform::handover::remember_cgroup_name(&name);
            // After a reexec the units in sup's cgroups are its own, running on.
            if !crate::platform::handover::adopting() {
                cg.remove_own_stale();
            }
            cg.setup(pid)?;
            Ok(cg)
        })();
        match result {
            Ok(cg) => {
                log::info!(
                    "cgroup {:?}: {}",
                    cg.version,
                    cg.hierarchies
                        .iter()
                        .map(|h| format!("{} [{}]", h.base.display(), h.controllers.join(" ")))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for u in &cg.unusable {
                    log::info!("not using a cgroup hierarchy: {u}");
                }
                self.cgroups = Some(cg);
            }
            Err(e) => {
                // Not a warning: most units need no cgroup (a container's read-only
                // /sys/fs/cgroup is the usual case). Each unit that needs one says so.
                log::info!("no cgroup for units ({e}): units are tracked by process group");
                self.cgroup_error = Some(e.to_string());
            }
        }
    }

    /// Why `spec` cannot run here for want of a cgroup (it sets `resources` or `slice`
    /// and sup has none), with how to give sup one.
    pub fn cgroup_missing(&self, asks: &crate::platform::Asks<'_>) -> Option<String> {
        if self.cgroups.is_some() {
            return None;
        }
        let key = match (asks.resources.is_empty(), asks.slice) {
            (false, true) => "resources, slice",
            (false, false) => "resources",
            (true, true) => "slice",
            (true, false) => return None,
        };
        Some(format!(
            "{key}: cannot be enforced without a writable cgroup ({}); {GIVE_SUP_A_CGROUP}",
            self.cgroup_error.as_deref().unwrap_or("not set up")
        ))
    }
}

/// How to give sup a cgroup (said where a unit needs one and sup has none).
pub const GIVE_SUP_A_CGROUP: &str = "to give sup one, run the container with --cgroupns=private and a writable cgroup (podman/docker: --privileged, or a delegated cgroup subtree), run sup as root or in a delegated cgroup (systemd: Delegate=yes), or set SUP_CGROUP_ROOT to a writable cgroup mount";

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_layout;
