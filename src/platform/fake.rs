//! A fake platform for tests of everything above the OS: records what it was asked to do
//! and hands out pids, without creating processes.

use std::ffi::OsString;

use super::{Asks, Child, OsEvent, OutputPipe, Platform, SpawnSpec};
use crate::proc::{Exit, Stop};

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Spawn(Vec<OsString>),
    Signal(u32, i32),
    KillUnit(u32, i32),
}

#[derive(Debug, Default)]
pub struct FakePlatform {
    pub calls: Vec<Call>,
    next_pid: u32,
    /// When set, every spawn fails with this message.
    pub fail_spawn: Option<String>,
    /// Exits that the next `reap` returns.
    pub exits: Vec<(u32, Exit)>,
}

impl FakePlatform {
    pub fn new() -> FakePlatform {
        FakePlatform {
            next_pid: 1000,
            ..FakePlatform::default()
        }
    }

    /// The pid handed out by the latest successful spawn.
    pub fn last_pid(&self) -> u32 {
        self.next_pid
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
        if let Some(msg) = &self.fail_spawn {
            return Err(msg.clone());
        }
        self.next_pid += 1;
        Ok(Child {
            pid: self.next_pid,
            stdout: None,
            stderr: None,
        })
    }

    fn signal(&mut self, pid: u32, stop: Stop) {
        self.calls.push(Call::Signal(pid, stop.signal()));
    }

    fn kill_unit(&mut self, pgid: u32, stop: Stop) {
        self.calls.push(Call::KillUnit(pgid, stop.signal()));
    }

    fn reap(&mut self) -> Vec<(u32, Exit)> {
        std::mem::take(&mut self.exits)
    }

    fn unsupported(&self, _asks: &Asks<'_>) -> Option<String> {
        None
    }
}
