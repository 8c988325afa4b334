//! A fake platform for tests of everything above the OS: records what it was asked to do
//! and hands out pids, without creating processes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::{Registry, Token};

use super::groups::{
    GroupError, GroupEvent, GroupRequest, GroupStats, Leftovers, Registrar, ResourceGroups,
    StateRecord, StatsWanted,
};
use super::notify::{ChildEnd, Notify, NotifyError, NotifyPipe, NotifySocket};
use super::procinfo::{ProcessInfo, Usage};
use super::terminal::Terminal;
use super::watch::{FileEvent, FileEvents, FileWatch, WatchError};
use super::{confine, machine, StdinMode};
use super::{Asks, Child, OsEvent, OutputPipe, Platform, SpawnSpec};
use crate::limits::Resources;
use crate::proc::{Exit, Pid, Stop, UnitId};

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Spawn(Vec<OsString>),
    Signal(Pid, i32),
    KillUnit(Pid, i32),
}

#[derive(Debug)]
pub struct FakePlatform {
    pub calls: Vec<Call>,
    next_pid: u32,
    /// When set, every spawn fails with this message.
    pub fail_spawn: Option<String>,
    /// Exits that the next `reap` returns.
    pub exits: Vec<(Pid, Exit)>,
    /// What each unit watches now (`FileWatch`).
    pub watched: BTreeMap<UnitId, Vec<PathBuf>>,
    /// File events that the next `file_events` returns.
    pub file_changes: Vec<FileEvent>,
    /// When set, watching fails, naming the first path.
    pub refuse_watch: bool,
    /// The listening sockets each spawn was given (`SpawnSpec::listen_fds`), in order.
    pub listen: Vec<Vec<(i32, String)>>,
}

impl Default for FakePlatform {
    fn default() -> FakePlatform {
        FakePlatform {
            calls: Vec::new(),
            next_pid: 1000,
            fail_spawn: None,
            exits: Vec::new(),
            watched: BTreeMap::new(),
            file_changes: Vec::new(),
            refuse_watch: false,
            listen: Vec::new(),
        }
    }
}

impl FakePlatform {
    pub fn new() -> FakePlatform {
        FakePlatform::default()
    }

    /// The pid handed out by the latest successful spawn.
    pub fn last_pid(&self) -> Pid {
        Pid::from_raw(self.next_pid)
    }
}

/// The fake has no pipes: its processes' output is not captured.
#[derive(Debug)]
pub enum NoPipe {}

impl std::io::Read for NoPipe {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match *self {}
    }
}

impl mio::event::Source for NoPipe {
    fn register(
        &mut self,
        _: &mio::Registry,
        _: mio::Token,
        _: mio::Interest,
    ) -> std::io::Result<()> {
        match *self {}
    }
    fn reregister(
        &mut self,
        _: &mio::Registry,
        _: mio::Token,
        _: mio::Interest,
    ) -> std::io::Result<()> {
        match *self {}
    }
    fn deregister(&mut self, _: &mio::Registry) -> std::io::Result<()> {
        match *self {}
    }
}

impl OutputPipe for NoPipe {}

impl Platform for FakePlatform {
    type Pipe = NoPipe;

    fn watch_events(&mut self, _: &mio::Registry, _: mio::Token) -> std::io::Result<()> {
        Ok(())
    }

    /// A queued exit reads as a child that ended.
    fn events(&mut self) -> Vec<OsEvent> {
        if self.exits.is_empty() {
            Vec::new()
        } else {
            vec![OsEvent::ChildEnded]
        }
    }

    fn watch_console(&mut self, _: &mio::Registry, _: usize, _: mio::Token) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    fn unwatch_console(&mut self, _: &mio::Registry, _: usize) {}

    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child<NoPipe>, String> {
        self.calls.push(Call::Spawn(spec.argv.clone()));
        self.listen.push(spec.listen_fds.clone());
        if let Some(msg) = &self.fail_spawn {
            return Err(msg.clone());
        }
        self.next_pid += 1;
        Ok(Child {
            pid: Pid::from_raw(self.next_pid),
            stdout: None,
            stderr: None,
        })
    }

    fn signal(&mut self, pid: Pid, stop: Stop) {
        self.calls.push(Call::Signal(pid, stop.signal()));
    }

    fn kill_unit(&mut self, pgid: Pid, stop: Stop) {
        self.calls.push(Call::KillUnit(pgid, stop.signal()));
    }

    fn reap(&mut self) -> Vec<(Pid, Exit)> {
        std::mem::take(&mut self.exits)
    }

    fn unsupported(&self, _asks: &Asks<'_>) -> Option<String> {
        None
    }
}

/// The fake has no resource groups: units get none, and a unit asking for limits or a
/// slice is refused as on a host without cgroups.
impl ResourceGroups for FakePlatform {
    type Placement = confine::Placement;
    type Leftovers = NoLeftovers;
    type State = NoState;

    fn init_groups(&mut self) {}

    fn has_groups(&self) -> bool {
        false
    }

    fn group_missing(&self, asks: &Asks<'_>) -> Option<String> {
        (!asks.resources.is_empty() || asks.slice)
            .then(|| "resources, slice: the fake platform has no resource groups".to_string())
    }

    fn create_slice(&mut self, name: &str, _: &str, _: &Resources) -> Result<(), GroupError> {
        Err(GroupError::Setup(format!(
            "slice {name}: no resource groups"
        )))
    }

    fn create_group(
        &mut self,
        _: UnitId,
        _: GroupRequest<'_>,
        _: &mut Registrar<'_>,
    ) -> Result<Self::Placement, GroupError> {
        Err(GroupError::Setup("no resource groups".into()))
    }

    fn apply_limits(&mut self, _: UnitId, _: &Resources) -> Result<(), GroupError> {
        Err(GroupError::Setup("no resource groups".into()))
    }

    fn kill_group(&mut self, _: UnitId, _: Stop, _: Option<Pid>) -> bool {
        false
    }

    fn freeze_group(&mut self, _: UnitId, _: bool) -> Result<(), GroupError> {
        Err(GroupError::Setup("no resource groups".into()))
    }

    fn group_occupied(&self, _: UnitId) -> bool {
        false
    }

    fn group_shown(&self, _: UnitId) -> Option<&str> {
        None
    }

    fn group_stats(&self, _: UnitId, _: StatsWanted) -> Option<GroupStats> {
        None
    }

    fn slice_stats(&self, _: &str) -> (Option<String>, GroupStats) {
        (None, GroupStats::default())
    }

    fn remove_group(&mut self, _: UnitId, _: &Registry) -> Result<bool, GroupError> {
        Ok(true)
    }

    fn remove_stale_groups(&mut self) {}

    fn remove_all_groups(&mut self) {}

    fn owns_group_event(&self, _: Token) -> bool {
        false
    }

    fn on_group_event(&mut self, _: Token, _: Duration) -> Vec<GroupEvent> {
        Vec::new()
    }

    fn check_group_oom(&mut self, _: UnitId) -> Option<GroupEvent> {
        None
    }

    fn groups_deadline(&self, _: Duration) -> Option<Duration> {
        None
    }

    fn groups_tick(&mut self, _: Duration) -> Vec<GroupEvent> {
        Vec::new()
    }

    fn open_state(&mut self, _: &Path) -> (NoState, Option<NoLeftovers>) {
        (NoState, None)
    }
}

/// No dead sup ever leaves anything on the fake.
#[derive(Debug)]
pub enum NoLeftovers {}

impl Leftovers for NoLeftovers {
    fn previous_pid(&self) -> Pid {
        match *self {}
    }
    fn counts(&self) -> (usize, usize) {
        match *self {}
    }
    fn start(&mut self, _: &mut Registrar<'_>) {
        match *self {}
    }
    fn kill_all(&mut self) {
        match *self {}
    }
    fn rescan(&mut self, _: bool, _: &mut Registrar<'_>) {
        match *self {}
    }
    fn owns(&self, _: Token) -> bool {
        match *self {}
    }
    fn exited(&mut self, _: Token, _: &Registry) {
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

/// The fake keeps no state file.
#[derive(Debug)]
pub struct NoState;

impl StateRecord for NoState {
    fn write(&mut self, _: &[Pid]) {}
    fn remove(self) {}
}

impl Terminal for FakePlatform {
    fn main_stdin(&mut self) -> StdinMode {
        StdinMode::Null
    }
    fn reclaim_terminal(&mut self) {}
    fn pass_terminal(&mut self, _: Pid) {}
    fn stopped_by_terminal(&mut self, _: Pid) -> Option<i32> {
        None
    }
    fn stop_self(&mut self) {}
}

impl Notify for FakePlatform {
    fn notify_socket(&mut self, _: &Path, _: Option<&str>) -> Result<NotifySocket, NotifyError> {
        Err(NotifyError::Unsupported {
            key: "ready: notify",
            platform: "the fake platform",
        })
    }
    fn notify_pipe(&mut self) -> Result<(NotifyPipe, ChildEnd), NotifyError> {
        Err(NotifyError::Unsupported {
            key: "ready: fd",
            platform: "the fake platform",
        })
    }
}

impl ProcessInfo for FakePlatform {
    fn group_of(&self, pid: Pid) -> Option<Pid> {
        Some(pid)
    }
    fn group_usage(&self, _: Pid) -> Option<Usage> {
        None
    }
}

impl machine::Leftovers for FakePlatform {
    fn children(&self) -> Vec<Pid> {
        Vec::new()
    }
    fn has_children(&self) -> bool {
        false
    }
    fn kill_all(&mut self, _: i32) {}
}

/// Watches are recorded; tests queue the events they want in `file_changes`.
impl FileWatch for FakePlatform {
    fn watch_files(
        &mut self,
        _: &Registry,
        _: Token,
        unit: UnitId,
        paths: &[PathBuf],
    ) -> Result<(), WatchError> {
        if self.refuse_watch {
            return Err(WatchError::Io {
                path: paths.first().cloned().unwrap_or_default(),
                source: std::io::ErrorKind::PermissionDenied.into(),
            });
        }
        self.watched.insert(unit, paths.to_vec());
        Ok(())
    }

    fn unwatch_files(&mut self, unit: UnitId) {
        self.watched.remove(&unit);
    }

    fn file_events(&mut self) -> FileEvents {
        FileEvents {
            events: std::mem::take(&mut self.file_changes),
            more: false,
        }
    }
}
