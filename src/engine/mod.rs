//! The pure supervisor core: every unit's lifecycle, dependency ordering, restart policy
//! and timers. `Engine::handle(input, now)` returns the effects to carry out; it never
//! touches the OS and never reads the clock, so every transition is testable with a
//! fake clock in microseconds.

pub mod autoscale;
pub mod graph;
mod machine;
pub mod restart;
pub mod state;
mod timers;

#[cfg(all(test, unix))]
mod tests;
#[cfg(all(test, unix))]
mod tests_isolation;

use std::time::Duration;

pub use crate::proc::{signal_name, Exit, Pid, UnitId};
pub use machine::{Engine, EngineState, Unit};
pub use state::{exit_reason, Reason, State};

/// Monotonic time since the runtime started. The engine only ever compares and adds these.
pub type Time = Duration;

/// Which process of a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    Main,
    /// The unit's `stop.exec` command.
    StopExec,
}

/// Something that happened, fed to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// sup started: start every enabled unit (and what they require and want).
    StartEnabled,
    /// `supctl start`: start this unit and what it requires and wants.
    Start(UnitId),
    /// `supctl stop`: stop this unit and, first, the units that require it.
    Stop(UnitId),
    /// `supctl stop POOL`: stop these units together (the instances of a pool), and first
    /// the units that require them once too few of a pool's instances stay up.
    StopUnits(Vec<UnitId>),
    /// `supctl restart`: stop this unit and its live dependents, then start them again.
    Restart(UnitId),
    /// Shutdown: stop everything in reverse dependency order.
    StopAll,
    Spawned {
        unit: UnitId,
        role: Role,
        pid: Pid,
    },
    SpawnFailed {
        unit: UnitId,
        role: Role,
        message: String,
    },
    /// The main process could not be started for want of a resource that may come back
    /// (sup is out of file descriptors): the run counts as failed and the restart policy
    /// decides (a retry after the restart delay), instead of failing the unit for good.
    SpawnShort {
        unit: UnitId,
        message: String,
    },
    /// A child was reaped (it may belong to no unit: an orphan).
    Exited {
        pid: Pid,
        exit: Exit,
    },
    /// `now` reached the deadline given by `next_deadline`.
    Tick,
    /// The kernel OOM-killed a process in the unit's cgroup: its next exit is `oom`.
    Oom(UnitId),
    /// The unit's cgroup was frozen / thawed (`supctl pause` / `resume`).
    Pause(UnitId),
    Resume(UnitId),
    /// The unit's readiness probe succeeded: a `starting` service becomes `running`.
    Ready(UnitId),
    /// A critical health check (or the notify watchdog) failed: act per `on_unhealthy`
    /// (restart: stop, then the run ends as a failure with reason `unhealthy`).
    Unhealthy {
        unit: UnitId,
        message: String,
    },
    /// The unit named another process as its main process (`MAINPID=`).
    MainPid {
        unit: UnitId,
        pid: Pid,
    },
    /// The unit's file was removed (`reload`) or the unit is forgotten: stop it for good
    /// (with its dependents); once it has no process the runtime forgets it.
    Remove(UnitId),
    /// A deadline given to the unit ran out (`supctl run --timeout`): stop it, reason
    /// `timeout`.
    Deadline(UnitId),
    /// Handling an input for this unit hit a bug (a caught panic): fail it (reason
    /// `internal`), kill and forget its processes.
    Internal {
        unit: UnitId,
        message: String,
    },
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Spawn {
        unit: UnitId,
        role: Role,
    },
    /// Send `signal` to one process.
    Signal {
        pid: Pid,
        signal: i32,
    },
    /// Kill every process of the unit at once (SIGKILL on Linux, job termination on
    /// Windows): its process group `pgid`, or its resource group when it has one.
    KillUnit {
        unit: UnitId,
        pgid: Pid,
    },
    Event {
        unit: UnitId,
        event: EventKind,
    },
}

impl Effect {
    /// The unit the effect is for (a signal to one pid names none).
    pub fn unit(&self) -> Option<UnitId> {
        match self {
            Effect::Spawn { unit, .. }
            | Effect::KillUnit { unit, .. }
            | Effect::Event { unit, .. } => Some(*unit),
            Effect::Signal { .. } => None,
        }
    }
}

/// Observable lifecycle events (published to `supctl events` and the log). `Ready`: the
/// unit became ready (its readiness probe succeeded).
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    State { from: State, to: State },
    Spawned { pid: Pid },
    Exited { pid: Pid, exit: Exit },
    RestartScheduled { delay: Duration },
    Ready,
}
