//! The Linux backend: fork/exec with setup in the child, process-group signalling,
//! reaping with `waitpid(-1, WNOHANG)`, signals through a signalfd.

pub mod caps;
pub mod cgroup;
pub mod isolate;
pub mod pid1;
pub mod signals;
pub mod spawn;
pub mod users;
pub mod vfork;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use super::{Child, Platform, SpawnSpec};
use crate::engine::Exit;
use crate::unit::UnitSpec;

#[derive(Debug, Default)]
pub struct LinuxPlatform {
    /// sup's cgroup subtree, once `init_cgroups` found a writable hierarchy.
    pub cgroups: Option<cgroup::Cgroups>,
    /// Why there is none (units with resources or a slice fail with it).
    pub cgroup_error: Option<String>,
}

impl LinuxPlatform {
    pub fn new() -> LinuxPlatform {
        LinuxPlatform::default()
    }
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill takes plain integers; an unknown pid or group only yields ESRCH.
    unsafe { libc::kill(pid, signal) };
}

impl Platform for LinuxPlatform {
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child, String> {
        spawn::spawn(spec)
    }

    fn signal(&mut self, pid: u32, signal: i32) {
        kill(pid as i32, signal);
    }

    fn kill_unit(&mut self, pgid: u32, signal: i32) {
        if pgid > 1 {
            kill(-(pgid as i32), signal);
        }
    }

    fn reap(&mut self) -> Vec<(u32, Exit)> {
        let mut out = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    out.push((pid.as_raw() as u32, Exit::Code(code)))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    out.push((pid.as_raw() as u32, Exit::Signal(sig as i32)))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        out
    }

    /// Features whose enforcement lands in later work: a unit asking for them fails
    /// with a message instead of running without them.
    fn unsupported(&self, spec: &UnitSpec) -> Option<String> {
        let mut missing: Vec<&str> = Vec::new();
        if let Some(why) = self.cgroup_missing(spec) {
            return Some(why);
        }
        if spec.instances != 1 {
            missing.push("instances");
        }
        if spec.watch.is_some() {
            missing.push("watch");
        }
        if missing.is_empty() {
            None
        } else {
            Some(format!(
                "{}: not supported yet by this build of sup",
                missing.join(", ")
            ))
        }
    }
}
