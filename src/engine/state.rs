//! Unit states, failure reasons and exit records: the vocabulary of the lifecycle.

use crate::proc::Exit;
use std::fmt;

/// The states of SPEC section 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    Inactive,
    Waiting,
    Starting,
    Running,
    Stopping,
    Stopped,
    Done,
    Failed,
    Backoff,
    Paused,
    Invalid,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Done => "done",
            State::Failed => "failed",
            State::Backoff => "backoff",
            State::Paused => "paused",
            State::Invalid => "invalid",
        }
    }

    /// The unit has (or may have) a live main process.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            State::Starting | State::Running | State::Stopping | State::Paused
        )
    }

    /// Ready in the sense of ordering: dependents ordered after it may start.
    pub fn is_ready(self) -> bool {
        matches!(self, State::Running | State::Done)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a unit failed or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    ExitCode,
    Signal,
    Oom,
    StartLimit,
    Timeout,
    Dependency,
    Unhealthy,
    /// The process could not be started (exec or setup failed, feature unsupported).
    Exec,
    /// sup hit a bug while handling the unit (a caught panic): the unit was failed and
    /// its processes killed, so that no later event can find it in a state it cannot leave.
    Internal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ExitCode => "exit-code",
            Reason::Signal => "signal",
            Reason::Oom => "oom",
            Reason::StartLimit => "start-limit",
            Reason::Timeout => "timeout",
            Reason::Dependency => "dependency",
            Reason::Unhealthy => "unhealthy",
            Reason::Exec => "exec",
            Reason::Internal => "internal",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reason a run that ended on its own is given.
pub fn exit_reason(exit: Exit) -> Reason {
    match exit {
        Exit::Code(_) => Reason::ExitCode,
        // A Windows process that ended with an NTSTATUS died abnormally (an exception,
        // or ended by a console break): what a fatal signal is on Linux.
        Exit::Signal(_) | Exit::NtStatus(_) => Reason::Signal,
    }
}
