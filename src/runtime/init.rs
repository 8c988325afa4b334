//! How sup's life begins and ends in each role: a plain supervisor, the init of a machine
//! (PID 1 in the initial pid namespace), the init of a container (PID 1 of a child pid
//! namespace), or a container entrypoint (`sup -- CMD`, see `entry`).
//!
//! Shutdown has the same shape everywhere: units stop in reverse dependency order (the
//! engine's `StopAll`), then the *sweep*: SIGTERM to every process left, SIGKILL after the
//! grace period, and the end once no child is left. All of it is event driven: children
//! exiting arrive as SIGCHLD, and the sweep's deadline joins the engine's in the one
//! `epoll_wait` timeout. A machine then syncs, unmounts and calls `reboot(2)`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::{entry, Config, Runtime};
use crate::engine::{signal_name, Input, Time};
use crate::platform::machine::Action;
use crate::platform::machine::{self, Pid1};
use crate::platform::Backend;
use crate::proc::sig;
use crate::proc::Stop;
use crate::unit::LoadResult;

/// After SIGKILL, how often the sweep kills again what is still there, and how many times
/// before it gives up on processes that cannot die (stuck in the kernel).
const KILL_AGAIN: Duration = Duration::from_secs(1);
const KILL_ROUNDS: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Supervisor,
    /// PID 1 in the initial pid namespace: a machine's init.
    Machine,
    /// PID 1 in a child pid namespace: stop everything and exit when told to.
    Container,
}

/// Terminating what is left after (or, in entrypoint mode, while) units stop.
#[derive(Debug)]
pub(super) struct Sweep {
    kill_at: Time,
    /// SIGKILL was sent at least once.
    killed: bool,
    /// SIGKILL rounds since every unit is down.
    kill_rounds: u32,
    /// The second SIGTERM round, once every unit is down, was sent.
    after_units: bool,
}

pub(super) struct Life {
    pub role: Role,
    pub action: Action,
    pub grace: Duration,
    pub main: Option<entry::Main>,
    pub sweep: Option<Sweep>,
    pub exit_code: i32,
    /// No log directory is writable: units' default log target is the console.
    pub log_fallback: bool,
}

impl Life {
    /// Works out sup's role and, as a machine's init, does the PID 1 setup: console,
    /// mounts, PATH, hostname, log directory (falling back to /dev/kmsg and the console).
    pub(super) fn prepare(config: &Config) -> Life {
        let role = match machine::pid1() {
            None => Role::Supervisor,
            Some(Pid1::Machine) => Role::Machine,
            Some(Pid1::Container) => Role::Container,
        };
        let mut life = Life {
            role,
            action: Action::Poweroff,
            grace: config.grace,
            main: config.main.clone().map(entry::Main::new),
            sweep: None,
            exit_code: 0,
            log_fallback: false,
        };
        if role == Role::Machine {
            // Console, pseudo-filesystems, PATH, hostname.
            for note in machine::prepare_machine() {
                log::info!("{note}");
            }
            if let Err(e) = writable_dir(&config.log_dir) {
                let kernel_log = machine::kernel_log();
                life.log_fallback = true;
                log::warn!(
                    "log directory {}: {e}; logging to {kernel_log} and the console",
                    config.log_dir.display()
                );
            }
        }
        log::info!(
            "sup {} starting as {}",
            env!("CARGO_PKG_VERSION"),
            match (role, life.main.is_some()) {
                (_, true) => "container entrypoint",
                (Role::Machine, _) => "PID 1 (machine init)",
                (Role::Container, _) => "PID 1 (container init)",
                (Role::Supervisor, _) => "supervisor",
            }
        );
        life
    }

    /// PID 1 and entrypoint mode run on without a socket or units rather than not at all.
    fn lenient(&self) -> bool {
        self.role != Role::Supervisor || self.main.is_some()
    }

    /// What to do when the unit directory cannot be read.
    pub(super) fn no_units(
        &self,
        config: &Config,
        e: std::io::Error,
    ) -> Result<LoadResult, String> {
        let dir = config.units_dir.display();
        if self.main.is_some() && e.kind() == std::io::ErrorKind::NotFound {
            return Ok(LoadResult::default());
        }
        if self.lenient() {
            log::warn!("cannot read unit directory {dir}: {e}; running without units");
            return Ok(LoadResult::default());
        }
        Err(format!("cannot read unit directory {dir}: {e}"))
    }

    /// What to do when the control socket cannot be bound.
    pub(super) fn no_socket(&self, config: &Config, e: std::io::Error) -> Result<(), String> {
        let path = config.socket.display();
        if !self.lenient() {
            return Err(format!("control socket {path}: {e}"));
        }
        if e.kind() == std::io::ErrorKind::AddrInUse {
            log::warn!(
                "control socket {path} is served by another sup; running without a control socket"
            );
        } else {
            log::warn!("control socket {path}: {e}; running without a control socket");
        }
        Ok(())
    }

    /// The sweep's next deadline, to join the engine's.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.sweep.as_ref().map(|s| s.kill_at)
    }
}

/// Creates `dir` if needed and checks that a file can be created in it.
fn writable_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".sup-write-test");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

impl<P: Backend> Runtime<P> {
    /// Runs one handler; a panic in it is logged and the loop goes on (PID 1 must never
    /// die, and a supervisor that stops reaping is no better).
    pub(super) fn guarded(&mut self, what: &str, f: impl FnOnce(&mut Runtime<P>)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            log::error!(
                "internal error while handling {what} (a bug: please report it); carrying on"
            );
        }
    }

    /// Signals with a meaning of their own in this role; true when handled here.
    pub(super) fn role_signal(&mut self, signal: i32) -> bool {
        if signal == sig::CHLD {
            return false;
        }
        if self.life.main.is_some() {
            self.entry_signal(signal);
            return true;
        }
        let Some(action) = init_action(self.life.role, signal) else {
            return false;
        };
        log::info!("received {}", signal_name(signal));
        self.request_end(action);
        true
    }

    /// `supctl shutdown|poweroff|reboot|halt` or an init signal: stop everything, then
    /// end as the role says (a machine powers off, reboots or halts; otherwise sup exits).
    pub(super) fn request_end(&mut self, action: Action) {
        if self.shutting_down {
            log::info!(
                "{} requested; shutdown already in progress",
                action.as_str()
            );
            return;
        }
        self.life.action = action;
        if self.life.role == Role::Machine && self.life.main.is_none() {
            log::info!("{}: stopping all units", action.as_str());
        } else {
            log::info!(
                "{} requested: stopping everything and exiting",
                action.as_str()
            );
        }
        if self.entry_stop() {
            // Entrypoint mode: the command goes first; units stop once it has exited.
            return;
        }
        self.shutting_down = true;
        self.feed(Input::StopAll);
    }

    /// Called at the top of every loop turn. Starts the main command when its turn comes,
    /// drives the sweep, and says whether sup's work is over.
    pub(super) fn life_step(&mut self) -> bool {
        self.entry_step();
        if !self.shutting_down {
            return false;
        }
        let now = self.now();
        let down = self.engine.all_down() && !self.entry_running();
        if self.life.sweep.is_none() {
            if !down {
                return false;
            }
            self.begin_sweep();
        }
        let grace = self.life.grace;
        let Some(mut sweep) = self.life.sweep.take() else {
            return false;
        };
        let mut over = false;
        if down && !sweep.after_units {
            sweep.after_units = true;
            if self.platform.has_children() {
                self.signal_leftovers(sig::TERM, true);
                if !sweep.killed {
                    sweep.kill_at = sweep.kill_at.max(now.saturating_add(grace));
                }
            }
        }
        if down && !self.platform.has_children() {
            over = true;
        } else if now >= sweep.kill_at {
            if down && sweep.kill_rounds >= KILL_ROUNDS {
                log::warn!("processes left that SIGKILL does not end (stuck in the kernel?); giving up on them");
                over = true;
            } else {
                if !sweep.killed {
                    log::info!("grace period over: killing what is left");
                    sweep.killed = true;
                }
                self.signal_leftovers(sig::KILL, down);
                if down {
                    sweep.kill_rounds += 1;
                }
                sweep.kill_at = now.saturating_add(KILL_AGAIN);
            }
        }
        self.life.sweep = Some(sweep);
        over
    }

    /// SIGTERM to what is left; SIGKILL follows after the grace period.
    pub(super) fn begin_sweep(&mut self) {
        if self.life.sweep.is_some() {
            return;
        }
        let down = self.engine.all_down();
        self.signal_leftovers(sig::TERM, down);
        self.life.sweep = Some(Sweep {
            kill_at: self.now() + self.life.grace,
            killed: false,
            kill_rounds: 0,
            after_units: false,
        });
    }

    /// Signals the processes left over: the main command's group, and every child of sup
    /// that belongs to no unit. Once units are down and sup is PID 1: everything
    /// (`kill(-1)`), which also reaches orphans of orphans.
    fn signal_leftovers(&mut self, signal: i32, units_down: bool) {
        if let Some(pgid) = self.life.main.as_ref().and_then(|m| m.pgid()) {
            // Never group 0 (sup's own) or 1 (every process).
            self.platform.kill_unit(pgid, Stop::from_signal(signal));
        }
        if units_down && self.life.role != Role::Supervisor {
            self.platform.kill_all(signal);
            return;
        }
        for pid in self.platform.children() {
            if units_down || self.engine.pid_owner(pid).is_none() {
                self.platform.signal(pid, Stop::from_signal(signal));
            }
        }
    }

    /// The end: a machine syncs, unmounts and calls `reboot(2)` (and never returns); any
    /// other role returns the exit code.
    pub(super) fn end(&mut self) -> i32 {
        if self.life.role == Role::Machine {
            let action = self.life.action;
            log::info!(
                "{}: syncing, unmounting, calling reboot(2)",
                action.as_str()
            );
            let e = machine::end_machine(action);
            log::error!("reboot(2) failed: {e}; staying up and reaping");
            machine::reap_forever();
        }
        self.life.exit_code
    }
}

/// What a signal asks of sup as an init (none as a plain supervisor): SIGTERM and
/// SIGPWR power off, SIGINT (Ctrl-Alt-Del) reboots, SIGUSR1 halts.
fn init_action(role: Role, signal: i32) -> Option<Action> {
    match (role, signal) {
        (Role::Supervisor, _) => None,
        (_, sig::TERM | sig::PWR) => Some(Action::Poweroff),
        (_, sig::INT) => Some(Action::Reboot),
        (_, sig::USR1) => Some(Action::Halt),
        _ => None,
    }
}

/// The end action a control command asks for (`shutdown` means power off).
pub(super) fn action_for(cmd: &str) -> Action {
    match cmd {
        "reboot" => Action::Reboot,
        "halt" => Action::Halt,
        _ => Action::Poweroff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_commands_map_to_actions() {
        assert_eq!(action_for("shutdown"), Action::Poweroff);
        assert_eq!(action_for("poweroff"), Action::Poweroff);
        assert_eq!(action_for("reboot"), Action::Reboot);
        assert_eq!(action_for("halt"), Action::Halt);
    }

    #[test]
    fn init_signals_map_to_actions() {
        for role in [Role::Machine, Role::Container] {
            assert_eq!(init_action(role, sig::TERM), Some(Action::Poweroff));
            assert_eq!(init_action(role, sig::PWR), Some(Action::Poweroff));
            assert_eq!(init_action(role, sig::INT), Some(Action::Reboot));
            assert_eq!(init_action(role, sig::USR1), Some(Action::Halt));
            assert_eq!(init_action(role, sig::HUP), None);
        }
        assert_eq!(init_action(Role::Supervisor, sig::TERM), None);
    }

    #[test]
    fn a_panicking_handler_is_contained() {
        let dir = std::env::temp_dir().join(format!("sup-guard-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("units")).unwrap();
        let config = Config {
            units_dir: dir.join("units"),
            socket: dir.join("s.sock"),
            log_dir: dir.join("log"),
            control_gid: None,
            main: None,
            grace: Duration::from_secs(1),
            handover: None,
            metrics_listen: None,
        };
        let life = Life::prepare(&config);
        let mut rt = Runtime::<crate::platform::Host>::new(config, life, None).unwrap();
        let mut carried_on = false;
        rt.guarded("a test", |_| panic!("deliberate panic in a handler"));
        rt.guarded("a test", |_| carried_on = true);
        assert!(carried_on);
        // The runtime is still usable after the panic.
        rt.feed(Input::StartEnabled);
        assert!(rt.engine.all_down());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn writable_dir_probe() {
        let dir = std::env::temp_dir().join(format!("sup-init-test-{}", std::process::id()));
        assert!(writable_dir(&dir.join("log")).is_ok());
        assert!(writable_dir(std::path::Path::new("/proc/sup-cannot-be-here")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
