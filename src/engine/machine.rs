//! The lifecycle state machine: per-unit goals (up or down), the rules that move units
//! toward their goals in dependency order, restart decisions, and timer handling.
//!
//! Every input first updates goals or records a fact (a spawn, an exit, a timer), then
//! `settle` applies the ordering rules to all units until nothing changes:
//! - a `waiting` unit whose goal is up spawns once every unit it is ordered after that is
//!   also going up is ready (`running`, or `done` for a oneshot), and fails with reason
//!   `dependency` if something it requires is not going up;
//! - a live unit whose goal is down starts stopping once every unit ordered after it that
//!   is also going down has no live process (reverse dependency order);
//! - a live unit whose required unit is no longer going up is stopped (reason `dependency`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::graph::{Graph, Target};
use super::restart::{backoff_delay, human_duration, start_allowed, Rng};
use super::state::{exit_reason, Reason, State};
use super::timers::{TimerKind, Timers};
use super::{Effect, EventKind, Input, Role, Time};
use crate::proc::{Exit, Pid, UnitId};
use crate::unit::{InvalidUnit, OnUnhealthy, Ready, RestartPolicy, UnitName, UnitSpec, UnitType};

/// Where the stop sequence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum StopPhase {
    None,
    /// `stop.exec` is running.
    Exec,
    /// The stop signal was sent; SIGKILL follows at the timer.
    Signal,
    /// SIGKILL was sent to every process of the unit.
    Kill,
}

/// One unit as the engine tracks it. Public fields are for status reporting.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    pub name: UnitName,
    /// `None` when the file was rejected (`state` is then `invalid`).
    pub spec: Option<UnitSpec>,
    pub state: State,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    pub pid: Option<Pid>,
    /// Process group of the current run (the first main pid; `MAINPID=` may move `pid`).
    pub pgid: Option<Pid>,
    pub exit: Option<Exit>,
    /// Automatic restarts since sup started.
    pub restarts: u32,
    /// When `state` last changed.
    pub since: Time,
    /// Started by `supctl run`: it has no file.
    pub transient: bool,
    /// Its file was removed (or it is being forgotten): it stops, then goes away.
    pub retiring: bool,
    /// Its file became invalid while it ran: it runs on as it was, and this is what is
    /// wrong with the file (shown as its message).
    pub file_error: Option<String>,
    /// The slot holds no unit (a removed unit's slot, free for the next one added).
    vacant: bool,
    /// Why this unit can never start (unsupported feature); it fails with this message.
    unsupported: Option<String>,
    goal_up: bool,
    /// Go back up once the current stop completes (`restart`).
    restart_on_stop: bool,
    /// The reason recorded when the current stop completes.
    stop_cause: Option<Reason>,
    /// The current stop ends the run as a failure with this reason (start timeout,
    /// unhealthy).
    fail_stop: Option<Reason>,
    stop_phase: StopPhase,
    stop_exec_pid: Option<Pid>,
    /// Consecutive failed runs (for the backoff exponent).
    failures: u32,
    /// Recent start times (for the start limit).
    starts: VecDeque<Time>,
    run_started: Time,
    /// The kernel OOM-killed a process of the current run.
    oom: bool,
}

impl Unit {
    fn new(name: UnitName, spec: Option<UnitSpec>) -> Unit {
        Unit {
            name,
            spec,
            state: State::Inactive,
            reason: None,
            message: None,
            pid: None,
            pgid: None,
            exit: None,
            restarts: 0,
            since: Duration::ZERO,
            transient: false,
            retiring: false,
            file_error: None,
            vacant: false,
            unsupported: None,
            goal_up: false,
            restart_on_stop: false,
            stop_cause: None,
            fail_stop: None,
            stop_phase: StopPhase::None,
            stop_exec_pid: None,
            failures: 0,
            starts: VecDeque::new(),
            run_started: Duration::ZERO,
            oom: false,
        }
    }

    /// Going up: its goal is up, or it will come back up after the current stop.
    pub fn going_up(&self) -> bool {
        self.goal_up || self.restart_on_stop
    }

    /// Ready means `running`, or `done` for a oneshot.
    pub fn ready(&self) -> bool {
        self.state.is_ready()
    }
}

/// Everything the engine knows, for handing it to a new image of sup (`reexec`): every
/// slot's unit with its lifecycle bookkeeping, the pids it owns, its pending timers.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EngineState {
    units: Vec<Unit>,
    free: Vec<usize>,
    pids: Vec<(Pid, usize, Role)>,
    timers: Vec<(usize, Time, TimerKind)>,
}

/// The supervisor core. See the module documentation.
///
/// Inside, a unit is its position in `units` (which the graph and the timers share);
/// at the surface (inputs, effects, lookups) it is that position as a [`UnitId`].
pub struct Engine {
    /// Slots: a unit keeps its slot (its id) for as long as it exists; a removed unit's
    /// slot is reused by the next unit added.
    units: Vec<Unit>,
    /// The slots that hold units, in name order (how units are listed).
    order: Vec<usize>,
    /// Vacant slots.
    free: Vec<usize>,
    graph: Graph,
    index: HashMap<String, usize>,
    pids: HashMap<Pid, (usize, Role)>,
    timers: Timers,
    rng: Rng,
    fx: Vec<Effect>,
    now: Time,
    /// The unit whose input, timer or rule is being handled: after a caught panic, the
    /// runtime fails this one (`Input::Internal`).
    touching: Option<usize>,
}

impl Engine {
    /// `unsupported(spec)` names a feature the platform cannot provide for that unit;
    /// such a unit fails to start with that message instead of running unconfined.
    pub fn new(
        specs: Vec<UnitSpec>,
        invalid: Vec<InvalidUnit>,
        unsupported: impl Fn(&UnitSpec) -> Option<String>,
        seed: u64,
    ) -> Engine {
        let mut units: Vec<Unit> = Vec::with_capacity(specs.len() + invalid.len());
        for spec in specs {
            let mut u = Unit::new(spec.name.clone(), None);
            u.unsupported = unsupported(&spec);
            u.spec = Some(spec);
            units.push(u);
        }
        for bad in invalid {
            let name = UnitName::new(&bad.name)
                .unwrap_or_else(|_| UnitName::new("invalid").expect("valid literal"));
            let mut u = Unit::new(name, None);
            u.state = State::Invalid;
            u.message = Some(bad.message);
            units.push(u);
        }
        units.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<UnitName> = units.iter().map(|u| u.name.clone()).collect();
        let specs: Vec<Option<&UnitSpec>> = units.iter().map(|u| u.spec.as_ref()).collect();
        let graph = Graph::build(&names, &specs);
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str().to_string(), i))
            .collect();
        let n = units.len();
        Engine {
            order: (0..n).collect(),
            free: Vec::new(),
            units,
            graph,
            index,
            pids: HashMap::new(),
            timers: Timers::new(n),
            rng: Rng::new(seed),
            fx: Vec::new(),
            now: Duration::ZERO,
            touching: None,
        }
    }

    /// What a new image of sup needs to carry on exactly where this one is.
    pub fn save(&self) -> EngineState {
        EngineState {
            units: self.units.clone(),
            free: self.free.clone(),
            pids: self.pids.iter().map(|(&p, &(u, r))| (p, u, r)).collect(),
            timers: self.timers.live(),
        }
    }

    /// The engine as [`Engine::save`] left it. `unsupported` is judged again (the new
    /// image may support more, or less).
    pub fn restore(
        state: EngineState,
        unsupported: impl Fn(&UnitSpec) -> Option<String>,
        seed: u64,
    ) -> Engine {
        let mut units = state.units;
        for u in &mut units {
            u.unsupported = u.spec.as_ref().and_then(&unsupported);
        }
        let n = units.len();
        let mut e = Engine {
            units,
            order: Vec::new(),
            free: state.free,
            graph: Graph::default(),
            index: HashMap::new(),
            pids: state
                .pids
                .into_iter()
                .filter(|&(_, u, _)| u < n)
                .map(|(p, u, r)| (p, (u, r)))
                .collect(),
            timers: Timers::new(n),
            rng: Rng::new(seed),
            fx: Vec::new(),
            now: Duration::ZERO,
            touching: None,
        };
        e.rebuild();
        for (u, at, kind) in state.timers {
            if u < n {
                e.timers.set(u, at, kind);
            }
        }
        e
    }

    pub fn lookup(&self, name: &str) -> Option<UnitId> {
        self.index.get(name).copied().map(UnitId::from_index)
    }

    /// Every unit's id, in the order of `units()`.
    pub fn ids(&self) -> impl Iterator<Item = UnitId> + '_ {
        self.order.iter().map(|&i| UnitId::from_index(i))
    }

    /// Every unit with its id, in the order of `units()`.
    pub fn units_with_ids(&self) -> impl Iterator<Item = (UnitId, &Unit)> {
        self.order
            .iter()
            .map(|&i| (UnitId::from_index(i), &self.units[i]))
    }

    /// Every unit, in name order.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.order.iter().map(|&i| &self.units[i])
    }

    /// How many units there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// How many slots ids index (at least `len()`): per-unit tables of the runtime have
    /// this many entries.
    pub fn slots(&self) -> usize {
        self.units.len()
    }

    /// The id names a unit (not a slot freed by `forget`).
    pub fn exists(&self, id: UnitId) -> bool {
        self.units.get(id.index()).is_some_and(|u| !u.vacant)
    }

    // ---- changing the set of units (reload, transient units) ------------------------

    /// Adds a unit (its spec, or why its file is invalid) in a free slot. The graph and
    /// the name index are stale until [`Engine::rebuild`], which must follow before the
    /// next input.
    pub fn add(
        &mut self,
        name: UnitName,
        spec: Result<UnitSpec, String>,
        unsupported: Option<String>,
        transient: bool,
        now: Time,
    ) -> UnitId {
        let mut u = Unit::new(name, None);
        u.transient = transient;
        u.since = now;
        match spec {
            Ok(spec) => {
                u.unsupported = unsupported;
                u.spec = Some(spec);
            }
            Err(message) => {
                u.state = State::Invalid;
                u.message = Some(message);
            }
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.units[i] = u;
                i
            }
            None => {
                self.units.push(u);
                self.units.len() - 1
            }
        };
        UnitId::from_index(i)
    }

    /// Recomputes the name order, the name index and the dependency graph after units
    /// were added, changed or forgotten.
    pub fn rebuild(&mut self) {
        let mut order: Vec<usize> = (0..self.units.len())
            .filter(|&i| !self.units[i].vacant)
            .collect();
        order.sort_by(|&a, &b| self.units[a].name.cmp(&self.units[b].name));
        let names: Vec<UnitName> = order.iter().map(|&i| self.units[i].name.clone()).collect();
        let specs: Vec<Option<&UnitSpec>> =
            order.iter().map(|&i| self.units[i].spec.as_ref()).collect();
        self.graph = Graph::build(&names, &specs).spread(&order, self.units.len());
        self.index = order
            .iter()
            .map(|&i| (self.units[i].name.as_str().to_string(), i))
            .collect();
        self.timers.resize(self.units.len());
        self.order = order;
    }

    /// A new, valid spec for the unit. What runs is not touched: a live unit runs on as
    /// it was until restarted (the caller decides); an invalid one becomes inactive.
    /// Call [`Engine::rebuild`] after.
    pub fn set_spec(
        &mut self,
        id: UnitId,
        spec: UnitSpec,
        unsupported: Option<String>,
        now: Time,
    ) -> Vec<Effect> {
        self.now = now;
        let i = id.index();
        let u = &mut self.units[i];
        u.spec = Some(spec);
        u.unsupported = unsupported;
        u.file_error = None;
        u.retiring = false;
        if u.state == State::Invalid {
            u.message = None;
            u.reason = None;
            self.set_state(i, State::Inactive);
        }
        std::mem::take(&mut self.fx)
    }

    /// The unit's file became invalid. A unit that runs (or is on its way up) runs on as
    /// it was, with `message` as its `file_error`; any other becomes `invalid`. Call
    /// [`Engine::rebuild`] after.
    pub fn set_invalid(&mut self, id: UnitId, message: String, now: Time) -> Vec<Effect> {
        self.now = now;
        let i = id.index();
        let u = &mut self.units[i];
        u.retiring = false;
        if u.spec.is_some() && (u.state.is_live() || u.going_up()) {
            u.file_error = Some(message);
        } else {
            u.spec = None;
            u.unsupported = None;
            u.file_error = None;
            u.reason = None;
            u.message = Some(message);
            self.set_state(i, State::Invalid);
        }
        std::mem::take(&mut self.fx)
    }

    /// Clears a `file_error` (the file is valid again and describes what runs).
    pub fn clear_file_error(&mut self, id: UnitId) {
        self.units[id.index()].file_error = None;
    }

    /// The unit can be forgotten: it exists, is not live nor on its way up, and no
    /// process of it is left (a `stop.exec` may outlive the main process).
    pub fn forgettable(&self, id: UnitId) -> bool {
        let i = id.index();
        self.exists(id)
            && !self.units[i].state.is_live()
            && !self.units[i].going_up()
            && !self.pids.values().any(|&(u, _)| u == i)
    }

    /// Removes a unit that has no process left; false (and nothing done) while it has
    /// one. Its slot is reused by a later [`Engine::add`]; call [`Engine::rebuild`] after.
    pub fn forget(&mut self, id: UnitId) -> bool {
        if !self.forgettable(id) {
            return false;
        }
        let i = id.index();
        self.timers.cancel(i);
        let mut gone = Unit::new(self.units[i].name.clone(), None);
        gone.vacant = true;
        self.units[i] = gone;
        self.free.push(i);
        true
    }

    pub fn unit(&self, id: UnitId) -> &Unit {
        &self.units[id.index()]
    }

    /// Whether the unit has a pending timer (tests of the engine's invariants).
    #[cfg(all(test, unix))]
    pub(crate) fn has_timer(&self, unit: UnitId) -> bool {
        self.timers.pending(unit.index()).is_some()
    }

    /// Which unit a pid belongs to.
    pub fn pid_owner(&self, pid: Pid) -> Option<(UnitId, Role)> {
        self.pids
            .get(&pid)
            .map(|&(i, role)| (UnitId::from_index(i), role))
    }

    /// The earliest time at which `Input::Tick` must be delivered.
    pub fn next_deadline(&mut self) -> Option<Time> {
        self.timers.next_deadline()
    }

    /// No unit has a live process: shutdown may complete.
    pub fn all_down(&self) -> bool {
        self.pids.is_empty() && self.units.iter().all(|u| !u.state.is_live())
    }

    /// After a panic in `handle`: the unit that was being handled (if one was), and the
    /// effects produced before the panic, which must still be carried out (a spawn
    /// already promised to another unit, say).
    pub fn after_panic(&mut self) -> (Option<UnitId>, Vec<Effect>) {
        (
            self.touching.take().map(UnitId::from_index),
            std::mem::take(&mut self.fx),
        )
    }

    pub fn handle(&mut self, input: Input, now: Time) -> Vec<Effect> {
        self.now = now;
        self.touching = match &input {
            Input::Start(i) | Input::Stop(i) | Input::Restart(i) => Some(i.index()),
            Input::Spawned { unit, .. }
            | Input::SpawnFailed { unit, .. }
            | Input::SpawnShort { unit, .. } => Some(unit.index()),
            Input::Exited { pid, .. } => self.pids.get(pid).map(|(u, _)| *u),
            Input::Oom(i) | Input::Pause(i) | Input::Resume(i) | Input::Ready(i) => Some(i.index()),
            Input::Unhealthy { unit, .. } | Input::MainPid { unit, .. } => Some(unit.index()),
            Input::Internal { unit, .. } => Some(unit.index()),
            Input::Remove(i) | Input::Deadline(i) => Some(i.index()),
            Input::StopUnits(ref list) => list.first().map(|i| i.index()),
            Input::StartEnabled | Input::StopAll | Input::Tick => None,
        };
        match input {
            Input::StartEnabled => {
                for i in 0..self.units.len() {
                    if self.units[i].spec.as_ref().is_some_and(|s| s.enabled) {
                        self.request_start(i, false);
                    }
                }
            }
            Input::Start(i) => self.request_start(i.index(), true),
            Input::Stop(i) => self.request_stop(i.index(), None),
            Input::StopUnits(list) => {
                let list: Vec<usize> = list.iter().map(|i| i.index()).collect();
                self.request_stop_many(&list, None);
            }
            Input::Restart(i) => self.request_restart(i.index()),
            Input::StopAll => {
                for u in &mut self.units {
                    u.goal_up = false;
                    u.restart_on_stop = false;
                }
            }
            Input::Spawned { unit, role, pid } => self.on_spawned(unit.index(), role, pid),
            Input::SpawnFailed {
                unit,
                role,
                message,
            } => self.on_spawn_failed(unit.index(), role, message),
            Input::SpawnShort { unit, message } => {
                let i = unit.index();
                if self.units[i].state == State::Starting && self.units[i].pid.is_none() {
                    log::warn!(
                        "{}: {message}; trying again by its restart policy",
                        self.units[i].name
                    );
                    self.units[i].exit = None;
                    self.units[i].message = Some(message);
                    self.run_ended(i, true, Reason::Exec);
                }
            }
            Input::Exited { pid, exit } => self.on_exit(pid, exit),
            Input::Tick => {
                while let Some((unit, kind)) = self.timers.pop_due(now) {
                    self.touching = Some(unit);
                    self.on_timer(unit, kind);
                }
            }
            Input::Oom(i) => {
                let u = &mut self.units[i.index()];
                u.oom = u.state.is_live();
            }
            Input::Pause(i) if self.units[i.index()].state == State::Running => {
                self.set_state(i.index(), State::Paused)
            }
            Input::Resume(i) if self.units[i.index()].state == State::Paused => {
                self.set_state(i.index(), State::Running)
            }
            Input::Pause(_) | Input::Resume(_) => {}
            Input::Ready(i) => self.on_ready(i.index()),
            Input::Unhealthy { unit, message } => self.on_unhealthy(unit.index(), message),
            Input::MainPid { unit, pid } => self.on_main_pid(unit.index(), pid),
            Input::Internal { unit, message } => self.on_internal(unit.index(), message),
            Input::Remove(i) => {
                self.units[i.index()].retiring = true;
                self.request_stop(i.index(), None);
            }
            Input::Deadline(i) => {
                let u = &mut self.units[i.index()];
                if u.state.is_live() || u.going_up() {
                    u.message = Some("stopped at its deadline".to_string());
                    self.request_stop(i.index(), Some(Reason::Timeout));
                }
            }
        }
        self.settle();
        self.touching = None;
        std::mem::take(&mut self.fx)
    }

    // ---- requests -------------------------------------------------------------------

    /// Starts `target` and, transitively, what it requires and wants.
    fn request_start(&mut self, target: usize, explicit: bool) {
        let mut seen = vec![false; self.units.len()];
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            self.activate(i, explicit && i == target);
            stack.extend(self.graph.requires[i].iter().copied());
            stack.extend(self.graph.wants[i].iter().copied());
            for c in self.graph.conflicts[i].clone() {
                self.request_stop(c, None);
            }
        }
    }

    fn activate(&mut self, i: usize, explicit: bool) {
        let u = &mut self.units[i];
        if u.retiring {
            return;
        }
        match u.state {
            State::Invalid => return,
            State::Stopping => u.restart_on_stop = true,
            State::Backoff if explicit => {
                self.timers.cancel(i);
                self.set_state(i, State::Waiting);
            }
            State::Done if explicit => self.set_state(i, State::Waiting),
            State::Inactive | State::Stopped | State::Failed => {
                u.failures = 0;
                u.starts.clear();
                u.reason = None;
                u.message = None;
                self.set_state(i, State::Waiting);
            }
            _ => {}
        }
        let u = &mut self.units[i];
        u.goal_up = true;
        u.stop_cause = None;
    }

    /// Stops `target` with `cause` and, first, every unit that (transitively) requires it.
    fn request_stop(&mut self, target: usize, cause: Option<Reason>) {
        self.request_stop_many(&[target], cause);
    }

    /// Stops the targets with `cause` and, first, every unit that (transitively) requires
    /// one of them. An instance of a pool passes the stop on to the pool's dependents
    /// only once too few of its instances stay up (see [`Engine::pool_min_up`]).
    fn request_stop_many(&mut self, targets: &[usize], cause: Option<Reason>) {
        let mut seen = vec![false; self.units.len()];
        let mut stack: Vec<(usize, Option<Reason>)> =
            targets.iter().rev().map(|&t| (t, cause)).collect();
        while let Some((i, cause)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let u = &mut self.units[i];
            if !u.going_up() && !u.state.is_live() {
                continue;
            }
            u.goal_up = false;
            u.restart_on_stop = false;
            if u.stop_cause.is_none() {
                u.stop_cause = cause;
            }
            if let Some(p) = self.graph.pool_of[i] {
                if self.pool_up(p) >= self.pool_min_up(p) {
                    continue;
                }
            }
            for &d in &self.graph.required_by[i] {
                stack.push((d, Some(Reason::Dependency)));
            }
        }
    }

    /// How many of the pool's instances must stay up for the units that require it:
    /// `min_ready`, at least 1 and at most the pool's size.
    fn pool_min_up(&self, p: usize) -> usize {
        let members = &self.graph.pools[p];
        let want = self.pool_min_ready(p).unwrap_or(1);
        want.clamp(1, members.len().max(1))
    }

    fn pool_min_ready(&self, p: usize) -> Option<usize> {
        self.graph.pools[p]
            .iter()
            .find_map(|&m| self.units[m].spec.as_ref())
            .and_then(|s| s.min_ready)
            .map(|m| m as usize)
    }

    /// The pool's instances that are going up (valid, with goal up).
    fn pool_up(&self, p: usize) -> usize {
        self.graph.pools[p]
            .iter()
            .filter(|&&m| self.units[m].state != State::Invalid && self.units[m].going_up())
            .count()
    }

    /// The dependency is up enough for a unit that requires it.
    fn target_up(&self, t: Target) -> bool {
        match t {
            Target::Unit(r) => {
                let ru = &self.units[r];
                ru.state != State::Invalid && ru.going_up()
            }
            Target::Pool(p) => self.pool_up(p) >= self.pool_min_up(p),
        }
    }

    /// Why the dependency is not up (for the failure message).
    fn target_down(&self, t: Target) -> String {
        match t {
            Target::Unit(r) => {
                let ru = &self.units[r];
                format!("required unit {} is {}", ru.name, ru.state)
            }
            Target::Pool(p) => {
                let members = &self.graph.pools[p];
                let name = members
                    .first()
                    .map_or("?", |&m| self.units[m].name.template());
                format!(
                    "required pool {name} has {} of {} instances up (needs {})",
                    self.pool_up(p),
                    members.len(),
                    self.pool_min_up(p)
                )
            }
        }
    }

    /// A unit ordered after the dependency must wait for it: it is going up and not
    /// ready (a pool: fewer than `min_ready` (default all) of its instances going up are
    /// ready), or it is still stopping.
    fn target_blocks(&self, t: Target) -> bool {
        match t {
            Target::Unit(p) => {
                let pu = &self.units[p];
                (pu.going_up() && !pu.ready()) || (pu.state.is_live() && !pu.goal_up)
            }
            Target::Pool(p) => {
                let members = &self.graph.pools[p];
                let going = members
                    .iter()
                    .filter(|&&m| self.units[m].going_up())
                    .count();
                if going == 0 {
                    return members.iter().any(|&m| {
                        let mu = &self.units[m];
                        mu.state.is_live() && !mu.goal_up
                    });
                }
                let ready = members
                    .iter()
                    .filter(|&&m| self.units[m].going_up() && self.units[m].ready())
                    .count();
                let need = self.pool_min_ready(p).unwrap_or(members.len()).min(going);
                ready < need
            }
        }
    }

    /// Stops `target` and its live dependents, then brings them all back up.
    fn request_restart(&mut self, target: usize) {
        let mut seen = vec![false; self.units.len()];
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            if (i != target && !self.units[i].state.is_live()) || self.units[i].retiring {
                continue;
            }
            // The instances of a pool stand in for one another: restarting one (or all)
            // leaves the units that require the pool running.
            let pooled = self.graph.pool_of[i].is_some();
            if self.units[i].state.is_live() {
                let u = &mut self.units[i];
                u.goal_up = false;
                u.restart_on_stop = true;
                u.stop_cause = None;
                // Asked for, not a failure: the start limit and the backoff start afresh.
                u.starts.clear();
                u.failures = 0;
            } else {
                self.request_start(i, true);
            }
            if !pooled {
                stack.extend(self.graph.required_by[i].iter().copied());
            }
        }
    }

    // ---- facts ----------------------------------------------------------------------

    fn on_spawned(&mut self, i: usize, role: Role, pid: Pid) {
        self.pids.insert(pid, (i, role));
        self.emit(i, EventKind::Spawned { pid });
        match role {
            Role::StopExec => self.units[i].stop_exec_pid = Some(pid),
            Role::Main => {
                self.units[i].pid = Some(pid);
                self.units[i].oom = false;
                self.units[i].pgid = Some(pid);
                // A rule may have moved the unit while its spawn was being carried out;
                // the process exists now, so it is starting (and is stopped if unwanted).
                self.set_state(i, State::Starting);
                let (kind, ready, timeout) = {
                    let spec = self.spec(i);
                    (spec.kind, spec.ready.clone(), spec.start_timeout)
                };
                if kind == UnitType::Simple && ready == Ready::Started {
                    self.set_state(i, State::Running);
                } else {
                    self.timers
                        .set(i, self.now.saturating_add(timeout), TimerKind::StartTimeout);
                }
            }
        }
    }

    fn on_spawn_failed(&mut self, i: usize, role: Role, message: String) {
        match role {
            Role::Main => {
                self.units[i].exit = None;
                self.fail(i, Reason::Exec, Some(message));
            }
            Role::StopExec => {
                log::warn!("{}: stop.exec: {message}", self.units[i].name);
                self.send_stop_signal(i);
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, exit: Exit) {
        let Some((i, role)) = self.pids.remove(&pid) else {
            return;
        };
        self.emit(i, EventKind::Exited { pid, exit });
        if role == Role::StopExec {
            self.units[i].stop_exec_pid = None;
            if self.units[i].stop_phase == StopPhase::Exec {
                self.timers.cancel(i);
                self.send_stop_signal(i);
            }
            return;
        }
        // Whatever the main process left behind in its group goes with it.
        let pgid = self.units[i].pgid.take().unwrap_or(pid);
        self.fx.push(Effect::KillUnit {
            unit: UnitId::from_index(i),
            pgid,
        });
        self.timers.cancel(i);
        let u = &mut self.units[i];
        u.pid = None;
        u.exit = Some(exit);
        let oom = std::mem::take(&mut u.oom);
        if u.state == State::Stopping {
            u.stop_phase = StopPhase::None;
            if let Some(reason) = u.fail_stop.take() {
                self.run_ended(i, true, reason);
            } else if std::mem::take(&mut u.restart_on_stop) {
                u.goal_up = true;
                u.reason = None;
                self.set_state(i, State::Waiting);
            } else {
                u.reason = u.stop_cause.take();
                self.set_state(i, State::Stopped);
            }
        } else if oom {
            self.run_ended(i, true, Reason::Oom);
        } else {
            self.run_ended(i, !exit.success(), exit_reason(exit));
        }
    }

    /// Whatever the unit was doing: kill its processes, forget their pids (their exits
    /// will be orphans' exits), cancel its timer, and fail it with reason `internal`.
    fn on_internal(&mut self, i: usize, message: String) {
        self.pids.retain(|_, (u, _)| *u != i);
        self.timers.cancel(i);
        let u = &mut self.units[i];
        if let Some(pgid) = u.pgid.take().or(u.pid) {
            self.fx.push(Effect::KillUnit {
                unit: UnitId::from_index(i),
                pgid,
            });
        }
        let u = &mut self.units[i];
        u.pid = None;
        u.stop_exec_pid = None;
        u.stop_phase = StopPhase::None;
        u.fail_stop = None;
        u.stop_cause = None;
        u.oom = false;
        if u.state != State::Invalid {
            self.fail(i, Reason::Internal, Some(message));
        }
    }

    fn on_timer(&mut self, i: usize, kind: TimerKind) {
        match kind {
            TimerKind::StartTimeout => {
                let msg = format!(
                    "not ready within {}",
                    human_duration(self.spec(i).start_timeout)
                );
                let u = &mut self.units[i];
                if u.state == State::Starting {
                    u.fail_stop = Some(Reason::Timeout);
                    u.message = Some(msg);
                    self.begin_stop(i);
                }
            }
            TimerKind::StopExec => self.send_stop_signal(i),
            TimerKind::StopKill => {
                if let Some(pid) = self.units[i].pid {
                    self.units[i].stop_phase = StopPhase::Kill;
                    self.fx.push(Effect::KillUnit {
                        unit: UnitId::from_index(i),
                        pgid: self.units[i].pgid.unwrap_or(pid),
                    });
                }
            }
            TimerKind::Backoff => {
                if self.units[i].state == State::Backoff {
                    self.units[i].restarts += 1;
                    self.set_state(i, State::Waiting);
                }
            }
        }
    }

    /// Readiness reached: a starting service is running (its start timeout is over).
    fn on_ready(&mut self, i: usize) {
        let u = &self.units[i];
        if u.state != State::Starting || u.pid.is_none() || !u.goal_up {
            return;
        }
        if u.spec.as_ref().is_some_and(|s| s.kind == UnitType::Oneshot) {
            return;
        }
        self.timers.cancel(i);
        self.emit(i, EventKind::Ready);
        self.set_state(i, State::Running);
    }

    /// A critical health check failed: restart (through the restart policy, reason
    /// `unhealthy`), stop (reason `unhealthy`) or ignore, per `on_unhealthy`.
    fn on_unhealthy(&mut self, i: usize, message: String) {
        let u = &self.units[i];
        if !matches!(u.state, State::Starting | State::Running) || u.pid.is_none() || !u.goal_up {
            return;
        }
        match self.spec(i).on_unhealthy {
            OnUnhealthy::Ignore => {}
            OnUnhealthy::Stop => {
                self.units[i].message = Some(message);
                self.request_stop(i, Some(Reason::Unhealthy));
            }
            OnUnhealthy::Restart => {
                let u = &mut self.units[i];
                u.fail_stop = Some(Reason::Unhealthy);
                u.message = Some(message);
                self.begin_stop(i);
            }
        }
    }

    /// `MAINPID=`: another process of the unit is now its main process.
    fn on_main_pid(&mut self, i: usize, pid: Pid) {
        let u = &mut self.units[i];
        let Some(old) = u.pid else { return };
        if old == pid || !u.state.is_live() || self.pids.contains_key(&pid) {
            return;
        }
        self.pids.remove(&old);
        self.pids.insert(pid, (i, Role::Main));
        u.pid = Some(pid);
    }

    // ---- transitions ----------------------------------------------------------------

    /// A run ended on its own (or by start timeout): done, restart, stopped or failed.
    fn run_ended(&mut self, i: usize, failed: bool, reason: Reason) {
        let spec = self.spec(i).clone();
        if spec.kind == UnitType::Oneshot && !failed {
            let u = &mut self.units[i];
            u.failures = 0;
            u.reason = None;
            u.message = None;
            self.set_state(i, State::Done);
            return;
        }
        let restart = self.units[i].goal_up
            && match spec.restart.policy {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => failed,
                RestartPolicy::Never => false,
            };
        if !restart {
            if failed {
                let message = self.units[i].message.take();
                self.fail(i, reason, message);
            } else {
                let u = &mut self.units[i];
                u.goal_up = false;
                u.reason = None;
                self.set_state(i, State::Stopped);
            }
            return;
        }
        let now = self.now;
        let u = &mut self.units[i];
        if now.saturating_sub(u.run_started) >= spec.restart.reset_after {
            u.failures = 0;
        }
        u.failures += 1;
        u.reason = failed.then_some(reason);
        if !start_allowed(&spec.restart, &mut u.starts, now) {
            let msg = format!(
                "started {} times within {}; not restarting",
                spec.restart.limit_burst,
                human_duration(spec.restart.limit_interval)
            );
            self.fail(i, Reason::StartLimit, Some(msg));
            return;
        }
        let delay = backoff_delay(&spec.restart, u.failures, &mut self.rng);
        self.emit(i, EventKind::RestartScheduled { delay });
        if delay.is_zero() {
            self.units[i].restarts += 1;
            self.set_state(i, State::Waiting);
        } else {
            self.timers
                .set(i, now.saturating_add(delay), TimerKind::Backoff);
            self.set_state(i, State::Backoff);
        }
    }

    fn fail(&mut self, i: usize, reason: Reason, message: Option<String>) {
        self.timers.cancel(i);
        let u = &mut self.units[i];
        u.goal_up = false;
        u.restart_on_stop = false;
        u.reason = Some(reason);
        u.message = message;
        self.set_state(i, State::Failed);
        for j in self.graph.on_failure[i].clone() {
            self.request_start(j, false);
        }
    }

    fn spawn_main(&mut self, i: usize) {
        if let Some(msg) = self.units[i].unsupported.clone() {
            self.fail(i, Reason::Exec, Some(msg));
            return;
        }
        let now = self.now;
        let u = &mut self.units[i];
        u.starts.push_back(now);
        u.run_started = now;
        u.reason = None;
        u.message = None;
        u.fail_stop = None;
        self.set_state(i, State::Starting);
        self.fx.push(Effect::Spawn {
            unit: UnitId::from_index(i),
            role: Role::Main,
        });
    }

    fn begin_stop(&mut self, i: usize) {
        self.timers.cancel(i);
        if self.units[i].pid.is_none() {
            let u = &mut self.units[i];
            u.reason = u.stop_cause.take();
            self.set_state(i, State::Stopped);
            return;
        }
        self.set_state(i, State::Stopping);
        if self.spec(i).stop.exec.is_some() {
            self.units[i].stop_phase = StopPhase::Exec;
            let timeout = self.spec(i).stop.timeout;
            self.timers
                .set(i, self.now.saturating_add(timeout), TimerKind::StopExec);
            self.fx.push(Effect::Spawn {
                unit: UnitId::from_index(i),
                role: Role::StopExec,
            });
        } else {
            self.send_stop_signal(i);
        }
    }

    fn send_stop_signal(&mut self, i: usize) {
        let Some(pid) = self.units[i].pid else { return };
        let (signal, timeout) = (self.spec(i).stop.signal, self.spec(i).stop.timeout);
        self.units[i].stop_phase = StopPhase::Signal;
        self.fx.push(Effect::Signal { pid, signal });
        self.timers
            .set(i, self.now.saturating_add(timeout), TimerKind::StopKill);
    }

    // ---- ordering rules -------------------------------------------------------------

    fn settle(&mut self) {
        loop {
            let mut changed = false;
            for i in 0..self.units.len() {
                self.touching = Some(i);
                changed |= self.evaluate(i);
            }
            if !changed {
                break;
            }
        }
    }

    /// Applies the ordering rules to one unit; true if it changed anything.
    fn evaluate(&mut self, i: usize) -> bool {
        let u = &self.units[i];
        match (u.goal_up, u.state) {
            (true, State::Waiting) => {
                if let Some(problem) = self.graph.problems[i].clone() {
                    self.fail(i, Reason::Dependency, Some(problem));
                    return true;
                }
                for k in 0..self.graph.req_targets[i].len() {
                    let t = self.graph.req_targets[i][k];
                    if !self.target_up(t) {
                        let msg = self.target_down(t);
                        self.fail(i, Reason::Dependency, Some(msg));
                        return true;
                    }
                }
                let blocked = self.graph.pred_targets[i]
                    .iter()
                    .any(|&t| self.target_blocks(t));
                if blocked {
                    return false;
                }
                self.spawn_main(i);
                true
            }
            (false, State::Waiting | State::Backoff) => {
                self.timers.cancel(i);
                let u = &mut self.units[i];
                u.reason = u.stop_cause.take();
                self.set_state(i, State::Stopped);
                true
            }
            (false, State::Done) => {
                let u = &mut self.units[i];
                u.reason = u.stop_cause.take();
                self.set_state(i, State::Stopped);
                true
            }
            (false, State::Starting | State::Running | State::Paused) => {
                if u.pid.is_none() {
                    // Its spawn is being carried out; decide once the pid is known.
                    return false;
                }
                let dependents_live = self.graph.succs[i].iter().any(|&s| {
                    let su = &self.units[s];
                    !su.goal_up && su.state.is_live()
                });
                if dependents_live {
                    return false;
                }
                self.begin_stop(i);
                true
            }
            (true, State::Starting | State::Running | State::Paused) => {
                let lost = self.graph.req_targets[i]
                    .iter()
                    .any(|&t| !self.target_up(t));
                if lost {
                    self.request_stop(i, Some(Reason::Dependency));
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    // ---- helpers --------------------------------------------------------------------

    fn spec(&self, i: usize) -> &UnitSpec {
        self.units[i]
            .spec
            .as_ref()
            .expect("only valid units reach the lifecycle")
    }

    fn set_state(&mut self, i: usize, to: State) {
        let u = &mut self.units[i];
        let from = u.state;
        if from == to {
            return;
        }
        u.state = to;
        u.since = self.now;
        if to != State::Stopping {
            u.stop_phase = if to.is_live() {
                u.stop_phase
            } else {
                StopPhase::None
            };
        }
        self.emit(i, EventKind::State { from, to });
    }

    fn emit(&mut self, unit: usize, event: EventKind) {
        self.fx.push(Effect::Event {
            unit: UnitId::from_index(unit),
            event,
        });
    }
}
