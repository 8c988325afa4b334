//! What the runtime asks about running processes: the process group of a pid (to check
//! an sd_notify `MAINPID=`) and what a process group uses (the health checks' memory and
//! CPU thresholds, when the unit has no resource group to ask); and what sup's own
//! process uses (`supctl metrics`).

/// Memory and CPU time used by the processes of one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Resident memory, bytes.
    pub memory: u64,
    /// CPU time, user and system, microseconds.
    pub cpu_usec: u64,
}

use crate::proc::Pid;

/// What sup's own process uses; `None` where the platform cannot tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnUsage {
    /// Open file descriptors (Windows: handles).
    pub open_fds: Option<u64>,
    /// Resident memory (Windows: working set), bytes.
    pub resident_bytes: Option<u64>,
    /// CPU time, user and system, microseconds.
    pub cpu_usec: Option<u64>,
}

pub trait ProcessInfo {
    /// The process group of `pid`; `None` when there is no such process (or the
    /// platform has no process groups).
    fn group_of(&self, pid: Pid) -> Option<Pid>;
    /// What the processes of the group `pgid` use; `None` when it has none or the
    /// platform cannot tell.
    fn group_usage(&self, pgid: Pid) -> Option<Usage>;
    /// What sup's own process uses now (a few cheap reads of the OS).
    fn own_usage(&self) -> OwnUsage {
        OwnUsage::default()
    }
}
