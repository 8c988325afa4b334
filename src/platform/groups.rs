//! The resource-group seam: every unit's processes in one group of the OS (a cgroup on
//! Linux, v2 or v1; a job object on Windows) that limits them, counts them, kills them
//! together and reports their limit events; and what a dead sup left in its groups.
//!
//! Contract (every backend):
//! - `create_group` makes (or reuses) the unit's group below its slices' groups, applies
//!   its limits and returns the [`ResourceGroups::Placement`] that spawn uses to put the
//!   new process in the group before it runs any code. A limit the host refuses fails the
//!   unit with a message naming the key; nothing is silently not enforced.
//! - A group's event sources (OOM watches) are registered by the backend with the
//!   runtime's `mio::Registry`, on tokens taken from [`Registrar`]; a readiness on one of
//!   them goes back to `on_group_event`, which turns it into [`GroupEvent`]s. A backend
//!   that must look again later says when through `groups_deadline` / `groups_tick`.
//! - `remove_group` never waits: `Ok(false)` while processes are still leaving, and the
//!   runtime asks again later (after the next exits).
//! - Policy stays with the runtime: which unit gets which group path, slice quotas,
//!   when to remove, what status and events say.
//!
//! Units are named by their `UnitId`; group paths are relative,
//! `/`-separated names (`web.slice/app`), whatever the backend makes of them.

use std::path::Path;
use std::time::Duration;

use mio::{Registry, Token};

use super::Asks;
use crate::limits::Resources;
use crate::proc::{Pid, UnitId};

/// Hands a backend tokens for the event sources it registers with the runtime's poller.
pub struct Registrar<'a> {
    pub registry: &'a Registry,
    /// The runtime's last token handed out (the next one is this plus one).
    pub next_token: &'a mut usize,
}

impl Registrar<'_> {
    /// A token no other source of the loop uses.
    pub fn token(&mut self) -> Token {
        *self.next_token += 1;
        Token(*self.next_token)
    }
}

/// Why a group operation failed; the messages name the key, path or platform.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// Creating the group or applying a limit failed (names the key or the path).
    #[error("{0}")]
    Setup(String),
    /// The unit has no group (the host gave sup none).
    #[error("the unit has no {kind} ({why})")]
    NoGroup {
        kind: &'static str,
        why: &'static str,
    },
    /// What the platform's groups cannot do.
    #[error("{what}: not available on {platform}")]
    Unsupported {
        what: &'static str,
        platform: &'static str,
    },
    /// The OS refused an operation on an existing group.
    #[error("{0}")]
    Os(String),
}

/// What a unit's group is made of: its path and its limits, and its slices' limits
/// (innermost first), which decide what the group must carry.
#[derive(Clone, Copy, Debug)]
pub struct GroupRequest<'a> {
    /// `[slice.slice/...]unit`, relative to sup's own group.
    pub path: &'a str,
    pub resources: &'a Resources,
    pub slices: &'a [&'a Resources],
}

/// Usage of a group; `None` where the host does not account it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    pub cpu_usec: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub memory_peak: Option<u64>,
    pub pids: Option<u64>,
    pub oom_kills: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
}

/// Which counters to read (each may cost a read of the OS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsWanted {
    pub memory: bool,
    pub cpu: bool,
    pub pids: bool,
    pub oom: bool,
    /// The memory peak, where the platform records one.
    pub peak: bool,
    /// Bytes read and written, where the platform counts them.
    pub io: bool,
}

impl StatsWanted {
    pub const ALL: StatsWanted = StatsWanted {
        memory: true,
        cpu: true,
        pids: true,
        oom: true,
        peak: true,
        io: true,
    };
}

/// Something a unit's group reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupEvent {
    pub unit: UnitId,
    pub kind: GroupEventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupEventKind {
    /// The group hit its memory limit and `new` more processes were killed for it (or,
    /// on Windows, refused memory), `total` since the group was made.
    Oom { new: u64, total: u64 },
    /// A process of the group exited (backends whose groups report it: a reason to
    /// look for exits, not the only way to learn of them).
    ProcessExited { pid: Pid },
    /// The group has no process left.
    Empty,
}

/// A dead sup's processes being stopped, watched in the loop.
pub trait Leftovers {
    /// The pid of the sup that left them.
    fn previous_pid(&self) -> Pid;
    /// Processes and process groups left (for the log).
    fn counts(&self) -> (usize, usize);
    /// Sends every leftover `SIGTERM` and watches it in the loop.
    fn start(&mut self, ev: &mut Registrar<'_>);
    /// Sends every leftover known so far `SIGKILL`.
    fn kill_all(&mut self);
    /// Leftovers that appeared since (forked into the dead sup's groups) get `SIGTERM`,
    /// or `SIGKILL` when `kill`, and are watched.
    fn rescan(&mut self, kill: bool, ev: &mut Registrar<'_>);
    /// The token is one of the leftovers' exit watches.
    fn owns(&self, token: Token) -> bool;
    /// The leftover watched on `token` exited.
    fn exited(&mut self, token: Token, registry: &Registry);
    /// Some leftovers cannot be watched and must be looked at again shortly.
    fn needs_polling(&self) -> bool;
    /// Nothing of them runs any more.
    fn gone(&mut self) -> bool;
    /// Removes what is left of the dead sup's groups.
    fn finish(self);
}

/// The record a sup keeps beside its control socket, read by the next sup to find its
/// leftovers if it dies.
pub trait StateRecord {
    /// Rewrites it; `groups` are the units' process groups, recorded only on hosts
    /// without resource groups (a group holds them all otherwise).
    fn write(&mut self, groups: &[Pid]);
    /// Removes it (a clean exit).
    fn remove(self);
}

pub trait ResourceGroups {
    /// What spawn needs to put a new process in its group before it runs.
    type Placement;
    type Leftovers: Leftovers;
    type State: StateRecord;

    /// Sets up sup's own group; without one, units needing a group fail to start.
    fn init_groups(&mut self);
    /// Whether units get groups here.
    fn has_groups(&self) -> bool;
    /// Why `spec` cannot run here for want of a group (it asks for limits or a slice).
    fn group_missing(&self, asks: &Asks<'_>) -> Option<String>;

    /// Creates the group of slice `name` at `path` with its aggregate limits.
    fn create_slice(&mut self, name: &str, path: &str, res: &Resources) -> Result<(), GroupError>;
    /// Creates (or reuses, after a restart) the unit's group and applies its limits.
    fn create_group(
        &mut self,
        unit: UnitId,
        req: GroupRequest<'_>,
        ev: &mut Registrar<'_>,
    ) -> Result<Self::Placement, GroupError>;
    /// Applies `res` to the unit's existing group.
    fn apply_limits(&mut self, unit: UnitId, res: &Resources) -> Result<(), GroupError>;
    /// Sends `signal` (`crate::proc::sig` numbering) to every process of the unit's
    /// group but `spare`; false when the unit has no group (the caller signals its
    /// process group instead). An empty group is done at once.
    fn kill_group(&mut self, unit: UnitId, stop: crate::proc::Stop, spare: Option<Pid>) -> bool;
    fn freeze_group(&mut self, unit: UnitId, frozen: bool) -> Result<(), GroupError>;
    /// The group has a process.
    fn group_occupied(&self, unit: UnitId) -> bool;
    /// The group's name as shown in status.
    fn group_shown(&self, unit: UnitId) -> Option<&str>;
    /// The counters of the unit's group, when it has one.
    fn group_stats(&self, unit: UnitId, want: StatsWanted) -> Option<GroupStats>;
    /// The shown name and usage of slice group `path`.
    fn slice_stats(&self, path: &str) -> (Option<String>, GroupStats);
    /// Removes the unit's group: `Ok(false)` while processes are still in it.
    fn remove_group(&mut self, unit: UnitId, registry: &Registry) -> Result<bool, GroupError>;
    /// Removes groups that dead sups left empty (not needed before units start).
    fn remove_stale_groups(&mut self);
    /// At exit: removes sup's whole group subtree.
    fn remove_all_groups(&mut self);

    /// The token is one of the groups' event sources.
    fn owns_group_event(&self, token: Token) -> bool;
    /// Turns a readiness on `token` into group events.
    fn on_group_event(&mut self, token: Token, now: Duration) -> Vec<GroupEvent>;
    /// Looks for an OOM kill of the unit not reported yet (before its exit is handled).
    fn check_group_oom(&mut self, unit: UnitId) -> Option<GroupEvent>;
    /// When the backend must look again (deadlines on the runtime's clock).
    fn groups_deadline(&self, now: Duration) -> Option<Duration>;
    fn groups_tick(&mut self, now: Duration) -> Vec<GroupEvent>;

    /// Reads what a previous sup on `socket` recorded and writes this sup's record.
    /// Returns the record and, when that sup died leaving processes, its leftovers
    /// (never this sup's own groups).
    fn open_state(&mut self, socket: &Path) -> (Self::State, Option<Self::Leftovers>);
}
