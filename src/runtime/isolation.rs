//! Runtime side of isolation: each unit's cgroup (created at spawn, limits applied,
//! removed once stopped and empty), slices and their `max_units` quota, OOM detection by
//! events (inotify on `memory.events` for v2, an eventfd on `memory.oom_control` for v1),
//! kill routed to the cgroup, pause/resume through the freezer, accounting in status.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::Runtime;
use crate::ctl::proto::{ErrorCode, Event, Fields, OpResult, Reply, SliceStatus};
use crate::engine::{Input, Role, State, Time};
use crate::platform::confine::Confinement;
use crate::platform::linux::cgroup::{Cgroups, Joins, StatFiles, Stats, Version};
use crate::platform::linux::LinuxPlatform;
use crate::unit::{SliceSpec, UnitSpec};

/// A unit's cgroup as the runtime tracks it.
#[derive(Debug, Default)]
struct UnitCg {
    /// Relative to sup's base: `[slice.slice/...]unit`.
    path: Option<String>,
    /// The path shown in status (`Cgroups::display` of `path`).
    shown: Option<String>,
    /// `oom_kill` count already reported.
    oom_seen: u64,
    frozen: bool,
    /// v1: (eventfd, memory.oom_control) registered with the loop.
    eventfd: Option<(Token, OwnedFd, OwnedFd)>,
    /// v2: inotify watch descriptor of memory.events.
    wd: Option<i32>,
    remove_pending: bool,
    /// Its counter files, opened when the cgroup is set up.
    stats: Option<StatFiles>,
}

/// Isolation state of the runtime.
#[derive(Debug, Default)]
pub struct Iso {
    units: HashMap<usize, UnitCg>,
    slices: Vec<SliceSpec>,
    /// Why a slice's cgroup could not be set up (its units fail with this).
    slice_errors: HashMap<String, String>,
    inotify: Option<(Token, OwnedFd)>,
    wds: HashMap<i32, usize>,
    tokens: HashMap<Token, usize>,
    /// v1 OOM notifications whose kill is not counted yet: (unit, give up at).
    oom_pending: Vec<(usize, Time)>,
}

/// v1: how often, and how long, to look again for the kill that follows an OOM notice.
const OOM_RECHECK_EVERY: Duration = Duration::from_millis(2);
const OOM_RECHECK_FOR: Duration = Duration::from_millis(100);

impl Iso {
    /// Creates the slices' cgroups (nested, with their aggregate limits).
    pub fn new(platform: &mut LinuxPlatform, slices: Vec<SliceSpec>) -> Iso {
        platform.init_cgroups();
        let mut iso = Iso {
            slices,
            ..Iso::default()
        };
        for s in iso.slices.clone() {
            let path = iso.slice_path(&s.name.to_string());
            let result = match &platform.cgroups {
                Some(cg) => cg
                    .create(&path, Joins::ALL)
                    .and_then(|_made| {
                        cg.apply(&path, &s.resources, &format!("slice {}: resources", s.name))
                    })
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "slice {}: cannot be set up without a writable cgroup ({}); {}",
                    s.name,
                    platform.cgroup_error.as_deref().unwrap_or("unavailable"),
                    crate::platform::linux::cgroup::GIVE_SUP_A_CGROUP
                )),
            };
            if let Err(e) = result {
                log::error!("{e}");
                iso.slice_errors.insert(s.name.to_string(), e);
            }
        }
        iso
    }

    pub fn owns(&self, t: Token) -> bool {
        self.tokens.contains_key(&t) || self.inotify.as_ref().is_some_and(|(it, _)| *it == t)
    }

    fn slice(&self, name: &str) -> Option<&SliceSpec> {
        self.slices.iter().find(|s| s.name.as_str() == name)
    }

    /// The slice and its ancestors, innermost first.
    fn chain(&self, name: &str) -> Vec<&SliceSpec> {
        let mut out: Vec<&SliceSpec> = Vec::new();
        let mut next = self.slice(name);
        while let Some(s) = next {
            if out.iter().any(|o| o.name == s.name) {
                break;
            }
            out.push(s);
            next = s.parent.as_ref().and_then(|p| self.slice(p.as_str()));
        }
        out
    }

    fn slice_path(&self, name: &str) -> String {
        let chain = self.chain(name);
        chain
            .iter()
            .rev()
            .map(|s| format!("{}.slice", s.name))
            .collect::<Vec<_>>()
            .join("/")
    }

    fn unit_path(&self, spec: &UnitSpec) -> String {
        match &spec.slice {
            Some(s) => format!("{}/{}", self.slice_path(s.as_str()), spec.name),
            None => spec.name.to_string(),
        }
    }
}

impl Runtime {
    fn cg(&self) -> Option<&Cgroups> {
        self.platform.cgroups.as_ref()
    }

    /// The confinement of a unit's process; creates its cgroup and applies its limits.
    /// Refuses a start that would exceed a slice's `max_units`.
    pub(super) fn confinement(
        &mut self,
        unit: usize,
        spec: &UnitSpec,
        role: Role,
    ) -> Result<Confinement, String> {
        if role != Role::Main {
            return Ok(Confinement::default());
        }
        if let Some(slice) = &spec.slice {
            self.check_quota(unit, slice.as_str())?;
            for s in self.iso.chain(slice.as_str()) {
                if let Some(e) = self.iso.slice_errors.get(s.name.as_str()) {
                    return Err(e.clone());
                }
            }
        }
        let mut c = Confinement {
            namespaces: spec.namespaces.clone(),
            hostname: spec.hostname.clone(),
            root: spec.root.clone(),
            private_tmp: spec.private_tmp,
            capabilities: spec.capabilities.clone(),
            ..Confinement::default()
        };
        let Some(cg) = self.platform.cgroups.as_ref() else {
            return match self.platform.cgroup_missing(spec) {
                Some(why) => Err(why),
                None => Ok(c),
            };
        };
        let path = self.iso.unit_path(spec);
        let chain = spec
            .slice
            .as_ref()
            .map(|s| self.iso.chain(s.as_str()))
            .unwrap_or_default();
        let joins =
            Joins::of(std::iter::once(&spec.resources).chain(chain.iter().map(|s| &s.resources)));
        // v1 notifies only an OOM of a memory limit (the unit's, a slice's or one above
        // sup): without any, nothing could ever arrive, and a global OOM kill is still
        // found in the `oom_kill` count when the process exits. v2's inotify watch on
        // memory.events sees every kill.
        let oom_notice = cg.version == Version::V2
            || cg.base_memory_limited
            || std::iter::once(&spec.resources)
                .chain(chain.iter().map(|s| &s.resources))
                .any(|r| r.memory_max.is_some());
        let made = cg
            .create(&path, joins)
            .map_err(|e| format!("cgroup: {e}"))?;
        if let Err(e) = cg.apply(&path, &spec.resources, "resources") {
            let _ = cg.remove(&path);
            return Err(e.to_string());
        }
        c.cgroup_join = cg.join_files(&path, joins);
        let entry = self.iso.units.entry(unit).or_default();
        // A restart in the kept cgroup keeps its counter files (opened when first read);
        // a cgroup made anew gets new ones.
        if made || entry.stats.is_none() || entry.path.as_deref() != Some(path.as_str()) {
            entry.stats = Some(cg.open_stats(&path, joins));
        }
        // The OOM kills so far: none in a cgroup just made (no read needed).
        entry.oom_seen = match (&entry.stats, made) {
            (Some(files), false) => files.oom_kills().unwrap_or(0),
            _ => 0,
        };
        entry.remove_pending = false;
        entry.frozen = false;
        let fresh = entry.path.as_deref() != Some(path.as_str())
            || (entry.wd.is_none() && entry.eventfd.is_none());
        if entry.shown.is_none() || entry.path.as_deref() != Some(path.as_str()) {
            entry.shown = Some(cg.display(&path));
        }
        entry.path = Some(path.clone());
        if fresh && oom_notice {
            if let Err(e) = self.watch_oom(unit, &path) {
                log::warn!("{}: OOM kills will not be reported: {e}", spec.name);
            }
        }
        Ok(c)
    }

    fn check_quota(&self, unit: usize, slice: &str) -> Result<(), String> {
        for s in self.iso.chain(slice) {
            let Some(max) = s.max_units else { continue };
            let running: Vec<String> = self
                .engine
                .units()
                .iter()
                .enumerate()
                .filter(|(j, u)| {
                    *j != unit
                        && self.occupies(*j)
                        && u.spec
                            .as_ref()
                            .and_then(|sp| sp.slice.as_ref())
                            .is_some_and(|us| {
                                self.iso.chain(us.as_str()).iter().any(|c| c.name == s.name)
                            })
                })
                .map(|(_, u)| u.name.to_string())
                .collect();
            if running.len() as u64 >= u64::from(max) {
                let msg = format!(
                    "slice {}: quota max_units {max} reached ({} running: {})",
                    s.name,
                    running.len(),
                    running.join(", ")
                );
                log::warn!("{}: start refused: {msg}", self.engine.unit(unit).name);
                return Err(msg);
            }
        }
        Ok(())
    }

    /// The unit counts toward quotas: live with a process (known to the engine, or
    /// already in its cgroup while the engine has yet to learn its pid).
    fn occupies(&self, j: usize) -> bool {
        let u = self.engine.unit(j);
        u.state.is_live()
            && (u.pid.is_some()
                || self
                    .iso
                    .units
                    .get(&j)
                    .and_then(|c| c.path.as_deref())
                    .zip(self.cg())
                    .is_some_and(|(p, cg)| !cg.pids(p).is_empty()))
    }

    fn watch_oom(&mut self, unit: usize, path: &str) -> Result<(), String> {
        let Some(cg) = self.platform.cgroups.as_ref() else {
            return Ok(());
        };
        let Some(dir) = cg.dir("memory", path) else {
            return Err("no memory controller".into());
        };
        match cg.version {
            Version::V2 => {
                if self.iso.inotify.is_none() {
                    // SAFETY: inotify_init1 takes flags only.
                    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
                    if fd == -1 {
                        return Err(format!("inotify: {}", std::io::Error::last_os_error()));
                    }
                    // SAFETY: inotify_init1 succeeded; the fd is ours alone.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                    let token = self.token();
                    self.poll
                        .registry()
                        .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
                        .map_err(|e| format!("register inotify: {e}"))?;
                    self.iso.inotify = Some((token, fd));
                }
                let (_, fd) = self.iso.inotify.as_ref().expect("set above");
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
                self.iso.wds.insert(wd, unit);
                self.iso.units.entry(unit).or_default().wd = Some(wd);
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
                let token = self.token();
                self.poll
                    .registry()
                    .register(&mut SourceFd(&efd.as_raw_fd()), token, Interest::READABLE)
                    .map_err(|e| format!("register eventfd: {e}"))?;
                self.iso.tokens.insert(token, unit);
                if let Some((old, fd, _)) = self
                    .iso
                    .units
                    .entry(unit)
                    .or_default()
                    .eventfd
                    .replace((token, efd, ofd))
                {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&fd.as_raw_fd()));
                    self.iso.tokens.remove(&old);
                }
            }
        }
        Ok(())
    }

    /// An OOM watch fired.
    pub(super) fn on_iso_event(&mut self, token: Token) {
        let mut units: Vec<usize> = Vec::new();
        if let Some(&u) = self.iso.tokens.get(&token) {
            if let Some((_, fd, _)) = self.iso.units.get(&u).and_then(|c| c.eventfd.as_ref()) {
                let mut buf = [0u8; 8];
                // SAFETY: reads into a local buffer from our non-blocking eventfd.
                unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
            }
            units.push(u);
        } else if let Some((_, fd)) = &self.iso.inotify {
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
                    let len =
                        u32::from_ne_bytes(buf[off + 12..off + 16].try_into().expect("4 bytes"));
                    if let Some(&u) = self.iso.wds.get(&wd) {
                        units.push(u);
                    }
                    off += 16 + len as usize;
                }
            }
        }
        units.dedup();
        let v1 = self.iso.tokens.contains_key(&token);
        for u in units {
            if !self.check_oom(u) && v1 {
                // v1 signals the eventfd when the cgroup *enters* OOM, just before the
                // kernel picks and kills a victim: look again shortly (from the loop's
                // deadline, not by sleeping), for a bounded time.
                let give_up = self.now() + OOM_RECHECK_FOR;
                self.iso.oom_pending.retain(|(p, _)| *p != u);
                self.iso.oom_pending.push((u, give_up));
            }
        }
    }

    /// When the loop must wake to look again for pending v1 OOM kills.
    pub(super) fn iso_deadline(&self) -> Option<Time> {
        (!self.iso.oom_pending.is_empty()).then(|| self.now() + OOM_RECHECK_EVERY)
    }

    /// Looks again for the kills of pending v1 OOM notices; gives up after a while (an
    /// OOM can end without a kill when memory is freed meanwhile).
    pub(super) fn iso_tick(&mut self) {
        if self.iso.oom_pending.is_empty() {
            return;
        }
        let now = self.now();
        for (u, give_up) in std::mem::take(&mut self.iso.oom_pending) {
            if !self.check_oom(u) && now < give_up {
                self.iso.oom_pending.push((u, give_up));
            }
        }
    }

    /// Compares the unit's `oom_kill` count with what was reported; on an increase the
    /// engine learns it (the next exit gets reason `oom`) and an `oom` event goes out.
    /// Returns whether a new kill was found.
    pub(super) fn check_oom(&mut self, unit: usize) -> bool {
        let Some(entry) = self.iso.units.get(&unit) else {
            return false;
        };
        let count = match (&entry.stats, entry.path.as_deref(), self.cg()) {
            (Some(files), _, _) => files.oom_kills(),
            (None, Some(path), Some(cg)) => cg.stats(path).oom_kills,
            _ => None,
        };
        let Some(count) = count else { return false };
        let seen = entry.oom_seen;
        if count <= seen {
            return false;
        }
        if let Some(c) = self.iso.units.get_mut(&unit) {
            c.oom_seen = count;
        }
        let name = self.engine.unit(unit).name.to_string();
        log::warn!(
            "{name}: the kernel OOM killer killed {} process(es) in its cgroup",
            count - seen
        );
        self.broadcast_event(Event {
            time: crate::output::rfc3339(std::time::SystemTime::now()),
            unit: name,
            kind: "oom".into(),
            state: None,
            from: None,
            reason: Some("oom".into()),
            exit: None,
            pid: self.engine.unit(unit).pid,
            message: Some(format!("oom_kill count {count}")),
        });
        self.feed(Input::Oom(unit));
        true
    }

    /// Before exits are fed: catch OOM kills whose notification is not yet read.
    pub(super) fn check_oom_for_pid(&mut self, pid: u32) {
        if let Some((u, Role::Main)) = self.engine.pid_owner(pid) {
            if self.check_oom(u) {
                self.iso.oom_pending.retain(|(p, _)| *p != u);
            }
        }
    }

    /// `KillUnit`: the unit's cgroup when it has one (each process signalled once), else
    /// its process group.
    pub(super) fn kill_unit_fx(&mut self, unit: usize, pgid: u32, signal: i32) {
        let entry = self.iso.units.get(&unit);
        if entry
            .and_then(|c| c.stats.as_ref())
            .is_some_and(|f| f.pids() == Some(0))
        {
            // Nothing left in the cgroup (the usual case after a main process exits):
            // no freeze, walk and thaw.
            return;
        }
        let path = entry.and_then(|c| c.path.clone());
        let pid_ns = self
            .engine
            .unit(unit)
            .spec
            .as_ref()
            .is_some_and(|s| s.namespaces.contains(&crate::unit::Namespace::Pid));
        match (self.platform.cgroups.as_ref(), path) {
            // sup's init in a pid namespace (the main pid) forwards what it gets to the
            // unit's process: leave it out so nothing gets a signal twice.
            (Some(cg), Some(path)) if pid_ns && signal != libc::SIGKILL => {
                for pid in cg.pids(&path) {
                    if pid as u32 != pgid {
                        // SAFETY: kill takes plain integers; a vanished pid yields ESRCH.
                        unsafe { libc::kill(pid, signal) };
                    }
                }
            }
            (Some(cg), Some(path)) => cg.kill(&path, signal),
            _ => crate::platform::Platform::kill_unit(&mut self.platform, pgid, signal),
        }
    }

    /// A unit changed state: thaw it when it leaves `paused`; remove its cgroup once it
    /// has no live process.
    pub(super) fn iso_state_changed(&mut self, unit: usize, from: State, to: State) {
        if from == State::Paused && to != State::Paused {
            if let Err(e) = self.set_frozen(unit, false) {
                log::warn!("{}: cannot thaw: {e}", self.engine.unit(unit).name);
            }
        }
        // Not while a restart is coming (waiting, backoff): the cgroup is reused.
        if matches!(
            to,
            State::Stopped | State::Failed | State::Done | State::Inactive
        ) {
            self.try_remove(unit);
        }
    }

    fn set_frozen(&mut self, unit: usize, frozen: bool) -> Result<(), String> {
        let path = self.iso.units.get(&unit).and_then(|c| c.path.clone());
        let (Some(cg), Some(path)) = (self.platform.cgroups.as_ref(), path) else {
            return Err("the unit has no cgroup (cgroups unavailable)".into());
        };
        cg.freeze(&path, frozen).map_err(|e| e.to_string())?;
        if let Some(c) = self.iso.units.get_mut(&unit) {
            c.frozen = frozen;
        }
        Ok(())
    }

    fn try_remove(&mut self, unit: usize) {
        let Some(path) = self.iso.units.get(&unit).and_then(|c| c.path.clone()) else {
            return;
        };
        let Some(cg) = self.platform.cgroups.as_ref() else {
            return;
        };
        match cg.remove(&path) {
            Ok(true) => {
                let c = self.iso.units.remove(&unit).unwrap_or_default();
                if let Some(wd) = c.wd {
                    self.iso.wds.remove(&wd);
                    if let Some((_, fd)) = &self.iso.inotify {
                        // SAFETY: removes a watch from our inotify fd; plain integers.
                        unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) };
                    }
                }
                if let Some((t, fd, _)) = c.eventfd {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&fd.as_raw_fd()));
                    self.iso.tokens.remove(&t);
                }
            }
            Ok(false) => {
                if let Some(c) = self.iso.units.get_mut(&unit) {
                    c.remove_pending = true;
                }
            }
            Err(e) => log::warn!("{}: {e}", self.engine.unit(unit).name),
        }
    }

    /// Retries removals that found processes still exiting (after every SIGCHLD).
    pub(super) fn retry_removals(&mut self) {
        let pending: Vec<usize> = self
            .iso
            .units
            .iter()
            .filter(|(u, c)| c.remove_pending && !self.engine.unit(**u).state.is_live())
            .map(|(u, _)| *u)
            .collect();
        for u in pending {
            self.try_remove(u);
        }
    }

    /// `supctl pause` / `resume`.
    pub(super) fn pause_resume(&mut self, unit: usize, pause: bool) -> Result<Reply, Reply> {
        let u = self.engine.unit(unit);
        let name = u.name.to_string();
        let fail = |m: String| Reply::error(ErrorCode::Failed, format!("{name}: {m}"));
        let want = if pause { State::Running } else { State::Paused };
        if u.state != want {
            return Err(fail(format!(
                "cannot {} a unit that is {}",
                if pause { "pause" } else { "resume" },
                u.state
            )));
        }
        self.set_frozen(unit, pause).map_err(fail)?;
        self.feed(if pause {
            Input::Pause(unit)
        } else {
            Input::Resume(unit)
        });
        let mut reply = Reply::ok();
        reply.results = Some(vec![OpResult {
            unit: name,
            ok: true,
            state: self.engine.unit(unit).state.as_str().into(),
            message: None,
        }]);
        Ok(reply)
    }

    /// The cgroup path shown in status and the usage of a unit, when it has a cgroup;
    /// only the counters in `fields` are read.
    pub(super) fn cgroup_status(&self, unit: usize, fields: Fields) -> Option<(&str, Stats)> {
        let entry = self.iso.units.get(&unit)?;
        let shown = entry.shown.as_deref()?;
        let memory = fields.contains(Fields::MEMORY_BYTES);
        let cpu = fields.contains(Fields::CPU_USEC);
        let pids = fields.contains(Fields::PIDS);
        let oom = fields.contains(Fields::OOM_KILLS);
        // With an OOM watch the count is kept up to date by its events: no file to read.
        let watched = entry.wd.is_some() || entry.eventfd.is_some();
        let stats = match &entry.stats {
            Some(files) if watched => Stats {
                oom_kills: Some(entry.oom_seen),
                ..files.read_only(memory, cpu, pids, false)
            },
            Some(files) => files.read_only(memory, cpu, pids, oom),
            None => self.cg()?.stats(entry.path.as_deref()?),
        };
        Some((shown, stats))
    }

    /// Memory and CPU of the unit's cgroup, when it has one (for resource health checks).
    pub(super) fn cgroup_usage(&self, unit: usize) -> Option<(u64, u64)> {
        let entry = self.iso.units.get(&unit)?;
        let stats = match &entry.stats {
            Some(files) => files.read_only(true, true, false, false),
            None => self.cg()?.stats(entry.path.as_deref()?),
        };
        Some((stats.memory_bytes?, stats.cpu_usec?))
    }

    /// Slices for `supctl status`.
    pub(super) fn slice_statuses(&self) -> Vec<SliceStatus> {
        self.iso
            .slices
            .iter()
            .map(|s| {
                let path = self.iso.slice_path(s.name.as_str());
                let stats = self.cg().map(|cg| cg.stats(&path)).unwrap_or_default();
                let units = self
                    .engine
                    .units()
                    .iter()
                    .enumerate()
                    .filter(|(j, u)| {
                        self.occupies(*j)
                            && u.spec
                                .as_ref()
                                .and_then(|sp| sp.slice.as_ref())
                                .is_some_and(|us| {
                                    self.iso.chain(us.as_str()).iter().any(|c| c.name == s.name)
                                })
                    })
                    .count() as u32;
                SliceStatus {
                    name: s.name.to_string(),
                    description: s.description.clone(),
                    parent: s.parent.as_ref().map(|p| p.to_string()),
                    cgroup: self.cg().map(|cg| cg.display(&path)),
                    max_units: s.max_units,
                    units,
                    memory_bytes: stats.memory_bytes,
                    cpu_usec: stats.cpu_usec,
                    pids: stats.pids,
                    message: self.iso.slice_errors.get(s.name.as_str()).cloned(),
                }
            })
            .collect()
    }

    /// At exit: remove sup's cgroup subtree.
    pub(super) fn iso_finish(&mut self) {
        if let Some(cg) = self.cg() {
            cg.remove_all();
        }
    }
}
