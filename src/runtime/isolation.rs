//! Runtime side of isolation (policy; the mechanism is the platform's `ResourceGroups`):
//! which group each unit gets (below its slices), slices and their `max_units` quota,
//! when groups are removed, OOM reports as events, kill routed to the group,
//! pause/resume, accounting in status.

use std::collections::{HashMap, HashSet};

use mio::Token;

use super::Runtime;
use crate::ctl::proto::{ErrorCode, Event, Fields, OpResult, Reply, SliceStatus};
use crate::engine::{Input, Role, State};
use crate::platform::confine::Confinement;
use crate::platform::groups::{
    GroupEvent, GroupEventKind, GroupRequest, GroupStats, Registrar, ResourceGroups, StatsWanted,
};
use crate::platform::Backend;
use crate::proc::{Pid, Stop, UnitId};
use crate::unit::{SliceSpec, UnitSpec};

/// How long counters read for `status` are served again (documented in docs/supctl.md).
pub(super) const STATUS_STATS_AGE: std::time::Duration = std::time::Duration::from_millis(1000);

/// Isolation state of the runtime.
#[derive(Debug, Default)]
pub struct Iso {
    slices: Vec<SliceSpec>,
    /// Why a slice's group could not be set up (its units fail with this).
    slice_errors: HashMap<String, String>,
    /// Units whose group is still to be removed (processes were still leaving).
    remove_pending: HashSet<UnitId>,
    /// Each unit's group path as it was made (a reexec adopts exactly these).
    paths: HashMap<UnitId, String>,
}

impl Iso {
    /// Creates the slices' groups (nested, with their aggregate limits).
    pub fn new<P: ResourceGroups>(platform: &mut P, slices: Vec<SliceSpec>) -> Iso {
        platform.init_groups();
        let mut iso = Iso {
            slices,
            ..Iso::default()
        };
        for s in iso.slices.clone() {
            let path = iso.slice_path(s.name.as_str());
            if let Err(e) = platform.create_slice(s.name.as_str(), &path, &s.resources) {
                let e = e.to_string();
                log::error!("{e}");
                iso.slice_errors.insert(s.name.to_string(), e);
            }
        }
        iso
    }

    /// The slices as loaded.
    pub fn slices(&self) -> &[SliceSpec] {
        &self.slices
    }

    /// New slice definitions (reload): units use them from their next start.
    pub fn set_slices(&mut self, slices: Vec<SliceSpec>) {
        self.slice_errors
            .retain(|name, _| slices.iter().any(|s| s.name.as_str() == name));
        self.slices = slices;
    }

    pub fn set_slice_error(&mut self, name: &str, error: String) {
        self.slice_errors.insert(name.to_string(), error);
    }

    pub fn clear_slice_error(&mut self, name: &str) {
        self.slice_errors.remove(name);
    }

    /// The unit's group is still to be removed.
    pub fn removal_pending(&self, unit: UnitId) -> bool {
        self.remove_pending.contains(&unit)
    }

    /// The units' groups as made, and those still to be removed (for a reexec).
    pub fn groups(&self) -> (Vec<(UnitId, String)>, Vec<UnitId>) {
        let mut paths: Vec<(UnitId, String)> =
            self.paths.iter().map(|(u, p)| (*u, p.clone())).collect();
        paths.sort();
        let mut pending: Vec<UnitId> = self.remove_pending.iter().copied().collect();
        pending.sort();
        (paths, pending)
    }

    /// The group path of a slice (below sup's own).
    pub fn path_of(&self, name: &str) -> String {
        self.slice_path(name)
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
        // Never a path outside sup's cgroup: an unknown slice is refused before this.
        let own = match spec.instance {
            // An instance's group is below its pool's.
            Some(_) => format!("{}/{}", spec.name.template(), spec.name),
            None => spec.name.to_string(),
        };
        match &spec.slice {
            Some(s) => format!("{}/{own}", self.slice_path(s.as_str())),
            None => own,
        }
    }

    /// The group of the pool an instance belongs to (its parent).
    fn pool_path(&self, spec: &UnitSpec) -> Option<String> {
        spec.instance?;
        let path = self.unit_path(spec);
        path.rsplit_once('/').map(|(parent, _)| parent.to_string())
    }
}

impl<P: Backend> Runtime<P> {
    /// The confinement of a unit's process; creates its group and applies its limits.
    /// Refuses a start that would exceed a slice's `max_units`.
    pub(super) fn confinement(
        &mut self,
        unit: UnitId,
        spec: &UnitSpec,
        role: Role,
    ) -> Result<Confinement, String> {
        if role != Role::Main {
            return Ok(Confinement::default());
        }
        if let Some(slice) = &spec.slice {
            if self.iso.slice(slice.as_str()).is_none() {
                return Err(format!(
                    "slice {slice}: no such slice (no {slice}.yaml with kind: slice in the unit directory)"
                ));
            }
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
        if !self.platform.has_groups() {
            return match super::asks::with_asks(spec, |a| self.platform.group_missing(a)) {
                Some(why) => Err(why),
                None => Ok(c),
            };
        }
        let path = self.iso.unit_path(spec);
        if let Some(pool) = self.iso.pool_path(spec) {
            // The pool's group, with `resources_total` bounding all instances together.
            let total = spec.resources_total.clone().unwrap_or_default();
            let name = spec.name.template();
            self.platform
                .create_slice(name, &pool, &total)
                .map_err(|e| format!("pool {name}: resources_total: {e}"))?;
        }
        let placement = self.make_group(unit, spec, &path)?;
        c.place(placement);
        Ok(c)
    }

    /// Makes (or, after a reexec, adopts) the unit's group at `path` with its limits.
    fn make_group(
        &mut self,
        unit: UnitId,
        spec: &UnitSpec,
        path: &str,
    ) -> Result<<P as ResourceGroups>::Placement, String> {
        // Limits above the unit's group, innermost first: its pool's total, its slices'.
        let slices: Vec<&crate::unit::Resources> = spec
            .resources_total
            .as_deref()
            .filter(|_| spec.instance.is_some())
            .into_iter()
            .chain(
                spec.slice
                    .as_ref()
                    .map(|s| self.iso.chain(s.as_str()))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| &s.resources),
            )
            .collect();
        let req = GroupRequest {
            path,
            resources: &spec.resources,
            slices: &slices,
        };
        let mut ev = Registrar {
            registry: self.poll.registry(),
            next_token: &mut self.next_token,
        };
        let placement = self
            .platform
            .create_group(unit, req, &mut ev)
            .map_err(|e| e.to_string())?;
        self.iso.remove_pending.remove(&unit);
        self.forget_status_stats(unit);
        if self.iso.paths.get(&unit).map(String::as_str) != Some(path) {
            self.iso.paths.insert(unit, path.to_string());
        }
        Ok(placement)
    }

    /// After a reexec: takes the unit's group at the path it was made at (whatever
    /// its slices say now, with no quota check: the unit runs already); a group left to
    /// remove is removed as soon as it can be.
    pub(super) fn adopt_group(&mut self, unit: UnitId, path: &str, remove: bool) {
        let Some(spec) = self.engine.unit(unit).spec.clone() else {
            return;
        };
        if !self.platform.has_groups() {
            return;
        }
        match self.make_group(unit, &spec, path) {
            Ok(_) if remove => self.try_remove(unit),
            Ok(_) => {}
            Err(e) => log::warn!("{}: reexec: its cgroup {path}: {e}", spec.name),
        }
    }

    fn check_quota(&self, unit: UnitId, slice: &str) -> Result<(), String> {
        for s in self.iso.chain(slice) {
            let Some(max) = s.max_units else { continue };
            let running: Vec<String> = self
                .engine
                .units_with_ids()
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
    /// already in its group while the engine has yet to learn its pid).
    fn occupies(&self, j: UnitId) -> bool {
        let u = self.engine.unit(j);
        u.state.is_live() && (u.pid.is_some() || self.platform.group_occupied(j))
    }

    /// The token is one of the groups' event sources.
    pub(super) fn iso_owns(&self, token: Token) -> bool {
        self.platform.owns_group_event(token)
    }

    /// A group event source is ready.
    pub(super) fn on_iso_event(&mut self, token: Token) {
        let now = self.now();
        for ev in self.platform.on_group_event(token, now) {
            self.on_group_event(ev);
        }
    }

    /// When the loop must wake for the groups (pending v1 OOM rechecks).
    pub(super) fn iso_deadline(&self) -> Option<crate::engine::Time> {
        self.platform.groups_deadline(self.now())
    }

    /// The groups' deadline work (looking again for pending v1 OOM kills).
    pub(super) fn iso_tick(&mut self) {
        let now = self.now();
        for ev in self.platform.groups_tick(now) {
            self.on_group_event(ev);
        }
    }

    /// What a group reported: an OOM kill makes the engine learn it (the next exit gets
    /// reason `oom`) and an `oom` event goes out.
    fn on_group_event(&mut self, ev: GroupEvent) {
        let (new, total) = match ev.kind {
            GroupEventKind::Oom { new, total } => (new, total),
            // A reason to look for exits (Windows learns of them this way; Linux from
            // SIGCHLD, and its groups do not report them).
            GroupEventKind::ProcessExited { .. } | GroupEventKind::Empty => {
                self.on_signal(crate::proc::sig::CHLD, Pid::from_raw(0));
                return;
            }
        };
        let unit = ev.unit;
        let name = self.engine.unit(unit).name.to_string();
        log::warn!("{name}: the kernel OOM killer killed {new} process(es) in its cgroup");
        self.broadcast_event(Event {
            time: crate::output::rfc3339(std::time::SystemTime::now()),
            unit: name,
            kind: "oom".into(),
            state: None,
            from: None,
            reason: Some("oom".into()),
            exit: None,
            pid: self.engine.unit(unit).pid.map(Pid::raw),
            message: Some(format!("oom_kill count {total}")),
        });
        self.feed(Input::Oom(unit));
    }

    /// Before exits are fed: catch OOM kills whose notification is not yet read.
    pub(super) fn check_oom_for_pid(&mut self, pid: Pid) {
        if let Some((u, Role::Main)) = self.engine.pid_owner(pid) {
            if let Some(ev) = self.platform.check_group_oom(u) {
                self.on_group_event(ev);
            }
        }
    }

    /// `KillUnit`: the unit's group when it has one (each process signalled once), else
    /// its process group.
    pub(super) fn kill_unit_fx(&mut self, unit: UnitId, pgid: Pid, stop: Stop) {
        let pid_ns = self
            .engine
            .unit(unit)
            .spec
            .as_ref()
            .is_some_and(|s| s.namespaces.contains(&crate::unit::Namespace::Pid));
        // sup's init in a pid namespace (the main pid) forwards what it gets to the
        // unit's process: leave it out so nothing gets a signal twice.
        let spare = (pid_ns && stop != Stop::Kill).then_some(pgid);
        if !self.platform.kill_group(unit, stop, spare) {
            self.platform.kill_unit(pgid, stop);
        }
    }

    /// A unit changed state: thaw it when it leaves `paused`; remove its group once it
    /// has no live process.
    pub(super) fn iso_state_changed(&mut self, unit: UnitId, from: State, to: State) {
        if from == State::Paused && to != State::Paused {
            if let Err(e) = self.platform.freeze_group(unit, false) {
                log::warn!("{}: cannot thaw: {e}", self.engine.unit(unit).name);
            }
        }
        // Not while a restart is coming (waiting, backoff): the group is reused.
        if matches!(
            to,
            State::Stopped | State::Failed | State::Done | State::Inactive
        ) {
            self.try_remove(unit);
        }
    }

    fn try_remove(&mut self, unit: UnitId) {
        match self.platform.remove_group(unit, self.poll.registry()) {
            Ok(true) => {
                self.iso.remove_pending.remove(&unit);
                self.iso.paths.remove(&unit);
            }
            Ok(false) => {
                self.iso.remove_pending.insert(unit);
            }
            Err(e) => log::warn!("{}: {e}", self.engine.unit(unit).name),
        }
    }

    /// Retries removals that found processes still exiting (after every SIGCHLD).
    pub(super) fn retry_removals(&mut self) {
        if self.iso.remove_pending.is_empty() {
            return;
        }
        let pending: Vec<UnitId> = self
            .iso
            .remove_pending
            .iter()
            .copied()
            .filter(|u| !self.engine.unit(*u).state.is_live())
            .collect();
        for u in pending {
            self.try_remove(u);
        }
        self.forget_pending_units();
    }

    /// `supctl pause` / `resume`.
    pub(super) fn pause_resume(&mut self, unit: UnitId, pause: bool) -> Result<Reply, Reply> {
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
        self.platform
            .freeze_group(unit, pause)
            .map_err(|e| fail(e.to_string()))?;
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

    /// The group shown in status and the usage of a unit, when it has a group; only the
    /// counters in `fields` are read.
    pub(super) fn cgroup_status(&self, unit: UnitId, fields: Fields) -> Option<(&str, GroupStats)> {
        let shown = self.platform.group_shown(unit)?;
        let want = StatsWanted {
            memory: fields.contains(Fields::MEMORY_BYTES),
            cpu: fields.contains(Fields::CPU_USEC),
            pids: fields.contains(Fields::PIDS),
            oom: fields.contains(Fields::OOM_KILLS),
            ..StatsWanted::default()
        };
        if want == StatsWanted::default() {
            return Some((shown, GroupStats::default()));
        }
        // Counters read for status in the last STATUS_STATS_AGE serve again: a script
        // asking status of every unit in a loop costs one read per counter per interval.
        let now = self.now();
        let mut cache = self.status_stats.borrow_mut();
        if let Some((at, had, stats)) = cache.get(&unit) {
            let covers = (had.memory || !want.memory)
                && (had.cpu || !want.cpu)
                && (had.pids || !want.pids)
                && (had.oom || !want.oom);
            if covers && now.saturating_sub(*at) < STATUS_STATS_AGE {
                return Some((shown, *stats));
            }
        }
        let stats = self.platform.group_stats(unit, want)?;
        cache.insert(unit, (now, want, stats));
        Some((shown, stats))
    }

    /// Counters of status read again for this unit (its group is new, or it is gone).
    pub(super) fn forget_status_stats(&self, unit: UnitId) {
        self.status_stats.borrow_mut().remove(&unit);
    }

    /// Memory and CPU of the unit's group, when it has one (for resource health checks).
    pub(super) fn cgroup_usage(&self, unit: UnitId) -> Option<(u64, u64)> {
        let want = StatsWanted {
            memory: true,
            cpu: true,
            ..StatsWanted::default()
        };
        let stats = self.platform.group_stats(unit, want)?;
        Some((stats.memory_bytes?, stats.cpu_usec?))
    }

    /// Slices for `supctl status`.
    pub(super) fn slice_statuses(&self) -> Vec<SliceStatus> {
        self.iso
            .slices
            .iter()
            .map(|s| {
                let path = self.iso.slice_path(s.name.as_str());
                let (shown, stats) = self.platform.slice_stats(&path);
                let units = self
                    .engine
                    .units_with_ids()
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
                    cgroup: shown,
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

    /// At exit: remove sup's group subtree.
    pub(super) fn iso_finish(&mut self) {
        self.platform.remove_all_groups();
    }
}
