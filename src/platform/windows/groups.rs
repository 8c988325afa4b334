//! Resource groups on Windows: each unit's processes in one job object (made with its
//! `resources` as job limits; a limit the host refuses fails the unit naming the key),
//! handed to spawn to assign the suspended process before it runs; kill = terminate the
//! job; accounting from the job; its completion-port messages (through [`JobEvents`]'s
//! thread and a `mio::Waker` on the runtime's token) as group events, `JOB_MEMORY_LIMIT`
//! as an OOM. Jobs do not freeze, and slices with limits cannot be built from jobs:
//! both fail with a reason naming Windows. Jobs are kill-on-close, so a dead sup leaves
//! nothing to recover.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mio::{Registry, Token};

use super::{Job, JobEvents, JobLimits, WindowsPlatform};
use crate::limits::Resources;
use crate::platform::groups::{
    GroupError, GroupEvent, GroupEventKind, GroupRequest, GroupStats, Leftovers, Registrar,
    ResourceGroups, StateRecord, StatsWanted,
};
use crate::platform::Asks;
use crate::proc::{Pid, UnitId};

const PLATFORM: &str = "Windows";

/// One unit's job.
#[derive(Debug)]
struct UnitJob {
    job: Arc<Job>,
    path: String,
    /// `JOB_MEMORY_LIMIT` messages so far.
    oom: u64,
}

/// The units' jobs and the completion port's thread.
#[derive(Debug, Default)]
pub struct WindowsGroups {
    units: HashMap<UnitId, UnitJob>,
    /// Units whose job reported `JOB_MEMORY_LIMIT`, handed over by the platform's
    /// event source (one waker per `Poll` on Windows: the platform owns the port).
    pub(super) memory_limit_hits: Vec<UnitId>,
}

/// Nothing outlives a dead sup on Windows (every job is kill-on-close).
#[derive(Debug)]
pub enum NoLeftovers {}

impl Leftovers for NoLeftovers {
    fn previous_pid(&self) -> Pid {
        match *self {}
    }
    fn counts(&self) -> (usize, usize) {
        match *self {}
    }
    fn start(&mut self, _ev: &mut Registrar<'_>) {
        match *self {}
    }
    fn kill_all(&mut self) {
        match *self {}
    }
    fn rescan(&mut self, _kill: bool, _ev: &mut Registrar<'_>) {
        match *self {}
    }
    fn owns(&self, _token: Token) -> bool {
        match *self {}
    }
    fn exited(&mut self, _token: Token, _registry: &Registry) {
        match *self {}
    }
    fn needs_polling(&self) -> bool {
        match *self {}
    }
    fn gone(&mut self) -> bool {
        match *self {}
    }
    fn finish(self) {
        match self {}
    }
}

/// No state file is needed on Windows: there are never leftovers to find.
#[derive(Debug, Default)]
pub struct NoState;

impl StateRecord for NoState {
    fn write(&mut self, _groups: &[Pid]) {}
    fn remove(self) {}
}

fn setup(e: impl std::fmt::Display) -> GroupError {
    GroupError::Setup(e.to_string())
}

impl WindowsPlatform {
    /// The completion port every job reports to (the platform's event source, set up
    /// before any unit starts).
    fn job_events(&mut self, _ev: &mut Registrar<'_>) -> Result<&JobEvents, GroupError> {
        self.job_port()
            .ok_or_else(|| GroupError::Os("job events: the event source is not set up".into()))
    }
}

impl ResourceGroups for WindowsPlatform {
    type Placement = Arc<Job>;
    type Leftovers = NoLeftovers;
    type State = NoState;

    fn init_groups(&mut self) {}

    fn has_groups(&self) -> bool {
        true
    }

    fn group_missing(&self, asks: &Asks<'_>) -> Option<String> {
        JobLimits::from_resources(asks.resources)
            .err()
            .map(|e| e.to_string())
    }

    fn create_slice(&mut self, name: &str, _path: &str, res: &Resources) -> Result<(), GroupError> {
        if res.is_empty() {
            // A slice without limits only groups units for `max_units`: the runtime's.
            return Ok(());
        }
        Err(GroupError::Setup(format!(
            "slice {name}: resources: not available on {PLATFORM} (job objects cannot bound several units' jobs together)"
        )))
    }

    fn create_group(
        &mut self,
        unit: UnitId,
        req: GroupRequest<'_>,
        ev: &mut Registrar<'_>,
    ) -> Result<Arc<Job>, GroupError> {
        if req.slices.iter().any(|r| !r.is_empty()) {
            return Err(GroupError::Setup(format!(
                "slice: resources: not available on {PLATFORM}"
            )));
        }
        let limits = JobLimits::from_resources(req.resources).map_err(setup)?;
        if let Some(u) = self.groups.units.get_mut(&unit) {
            // A restart: the job is kept (empty by now), its limits set anew.
            if u.path == req.path {
                if let Some(job) = Arc::get_mut(&mut u.job) {
                    job.set_limits(&limits).map_err(setup)?;
                    return Ok(Arc::clone(&u.job));
                }
            }
        }
        let mut job = Job::new().map_err(setup)?;
        job.set_limits(&limits).map_err(setup)?;
        // Watched before any process is in it, or its first messages are missed.
        self.job_events(ev)?
            .watch(&job, unit.index())
            .map_err(|e| GroupError::Os(format!("job events: {e}")))?;
        let job = Arc::new(job);
        self.groups.units.insert(
            unit,
            UnitJob {
                job: Arc::clone(&job),
                path: req.path.to_string(),
                oom: 0,
            },
        );
        Ok(job)
    }

    fn apply_limits(&mut self, unit: UnitId, res: &Resources) -> Result<(), GroupError> {
        let limits = JobLimits::from_resources(res).map_err(setup)?;
        let u = self
            .groups
            .units
            .get_mut(&unit)
            .ok_or(GroupError::NoGroup {
                kind: "job object",
                why: "not started",
            })?;
        let job = Arc::get_mut(&mut u.job).ok_or_else(|| {
            GroupError::Os("the job is in use by a start under way: try again".into())
        })?;
        job.set_limits(&limits).map_err(setup)
    }

    /// Only a kill ends the job; other stop intents go to the unit's process group as
    /// console events (the caller's fallback).
    fn kill_group(&mut self, unit: UnitId, stop: crate::proc::Stop, _spare: Option<Pid>) -> bool {
        if stop != crate::proc::Stop::Kill {
            return false;
        }
        let Some(u) = self.groups.units.get(&unit) else {
            return false;
        };
        if let Err(e) = u.job.terminate(1) {
            log::warn!("{}: cannot terminate the job: {e}", u.path);
        }
        true
    }

    fn freeze_group(&mut self, _unit: UnitId, _frozen: bool) -> Result<(), GroupError> {
        Err(GroupError::Unsupported {
            what: "pause/resume (freezing a unit)",
            platform: PLATFORM,
        })
    }

    fn group_occupied(&self, unit: UnitId) -> bool {
        self.groups
            .units
            .get(&unit)
            .and_then(|u| u.job.accounting().ok())
            .is_some_and(|a| a.active_processes > 0)
    }

    fn group_shown(&self, unit: UnitId) -> Option<&str> {
        self.groups.units.get(&unit).map(|u| u.path.as_str())
    }

    fn group_stats(&self, unit: UnitId, want: StatsWanted) -> Option<GroupStats> {
        let u = self.groups.units.get(&unit)?;
        let mut out = GroupStats {
            oom_kills: Some(u.oom),
            ..GroupStats::default()
        };
        if want.memory || want.cpu || want.pids {
            if let Ok(a) = u.job.accounting() {
                out.cpu_usec = Some(a.cpu_usec);
                out.memory_bytes = a.memory_bytes;
                out.memory_peak = Some(a.peak_memory_bytes);
                out.pids = Some(u64::from(a.active_processes));
            }
        }
        Some(out)
    }

    fn slice_stats(&self, _path: &str) -> (Option<String>, GroupStats) {
        (None, GroupStats::default())
    }

    fn remove_group(&mut self, unit: UnitId, _registry: &Registry) -> Result<bool, GroupError> {
        let busy = self
            .groups
            .units
            .get(&unit)
            .and_then(|u| u.job.accounting().ok())
            .is_some_and(|a| a.active_processes > 0);
        if busy {
            return Ok(false);
        }
        // Dropping the last handle closes the job.
        self.groups.units.remove(&unit);
        Ok(true)
    }

    fn remove_stale_groups(&mut self) {}

    fn remove_all_groups(&mut self) {
        // Kill-on-close: closing the jobs ends whatever is left in them.
        self.groups.units.clear();
    }

    /// Job messages arrive through the platform's event source, not a token of the
    /// groups' own.
    fn owns_group_event(&self, _token: Token) -> bool {
        false
    }

    fn on_group_event(&mut self, _token: Token, _now: Duration) -> Vec<GroupEvent> {
        Vec::new()
    }

    fn check_group_oom(&mut self, _unit: UnitId) -> Option<GroupEvent> {
        // Memory-limit messages arrive through the port's thread and its wake.
        None
    }

    fn groups_deadline(&self, _now: Duration) -> Option<Duration> {
        None
    }

    /// The memory-limit messages the event source handed over since the last turn.
    fn groups_tick(&mut self, _now: Duration) -> Vec<GroupEvent> {
        let hits = std::mem::take(&mut self.groups.memory_limit_hits);
        hits.into_iter()
            .filter_map(|unit| {
                let u = self.groups.units.get_mut(&unit)?;
                u.oom += 1;
                Some(GroupEvent {
                    unit,
                    kind: GroupEventKind::Oom {
                        new: 1,
                        total: u.oom,
                    },
                })
            })
            .collect()
    }

    fn open_state(&mut self, _socket: &Path) -> (NoState, Option<NoLeftovers>) {
        (NoState, None)
    }
}
