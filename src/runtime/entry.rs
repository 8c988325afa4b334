//! Entrypoint mode (`sup -- CMD`): the main command. It is not an engine unit: it runs
//! once, after the enabled units are up, in its own session and process group (taking the
//! terminal when stdin is one), receives every catchable signal sup gets, and its exit
//! decides sup's exit code (N, 128+signal, 126 not executable, 127 not found).
//!
//! If an enabled unit fails before the command could start, the command is not started:
//! sup says which unit failed on stderr, stops the rest and exits 1 (a container whose
//! sidecar cannot start should fail loudly, not run half set up).

use std::ffi::OsString;

use super::launch::base_env;
use super::Runtime;
use crate::engine::{signal_name, Exit, Input, Reason, State};
use crate::platform::program::{resolve, Unrunnable};
use crate::platform::Backend;
use crate::platform::{SpawnSpec, StdinMode};
use crate::proc::{sig, Pid, Stop};

/// What `sup -- CMD` was asked to run (passed on byte for byte).
#[derive(Clone, Debug)]
pub struct MainCmd {
    pub argv: Vec<OsString>,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the enabled units to be up.
    Pending,
    Running {
        pid: Pid,
        stdin: StdinMode,
    },
    /// Exited (or never started); its process group may still have members.
    Done {
        pgid: Option<Pid>,
    },
}

#[derive(Debug)]
pub(super) struct Main {
    argv: Vec<OsString>,
    phase: Phase,
}

impl Main {
    pub(super) fn new(cmd: MainCmd) -> Main {
        Main {
            argv: cmd.argv,
            phase: Phase::Pending,
        }
    }

    /// The main command's process group (its pid), while it may have members.
    pub(super) fn pgid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Running { pid, .. } => Some(pid),
            Phase::Done { pgid } => pgid,
            Phase::Pending => None,
        }
    }
}

/// sup's exit code for the main command's exit.
pub fn exit_code(exit: Exit) -> i32 {
    match exit {
        Exit::Code(n) => n,
        Exit::Signal(s) => 128 + s,
        // Windows: what the process ended with is the exit status, as cmd.exe reports it.
        Exit::NtStatus(s) => s as i32,
    }
}

/// Why a failed unit failed, for the one line sup prints: its message, else its exit
/// status (`exit code 3`, `killed by SIGKILL`), else its reason.
fn failure(u: &crate::engine::Unit) -> String {
    let exit = u.exit.map(Exit::describe);
    match (&u.message, exit, u.reason) {
        (Some(m), _, _) => format!(": {m}"),
        (None, Some(e), Some(r)) if !matches!(r, Reason::ExitCode | Reason::Signal) => {
            format!(": {e} ({r})")
        }
        (None, Some(e), _) => format!(": {e}"),
        (None, None, Some(r)) => format!(" ({r})"),
        (None, None, None) => String::new(),
    }
}

impl<P: Backend> Runtime<P> {
    fn enabled_units_up(&self) -> Result<bool, String> {
        let mut up = true;
        for u in self.engine.units() {
            if !u.spec.as_ref().is_some_and(|s| s.enabled) {
                continue;
            }
            match u.state {
                State::Running | State::Done | State::Stopped => {}
                State::Failed => return Err(format!("unit {} failed{}", u.name, failure(u))),
                _ => up = false,
            }
        }
        Ok(up)
    }

    /// Starts the main command once every enabled unit is up; fails sup if one failed.
    pub(super) fn entry_step(&mut self) {
        if self.shutting_down
            || !matches!(
                self.life.main.as_ref().map(|m| &m.phase),
                Some(Phase::Pending)
            )
        {
            return;
        }
        match self.enabled_units_up() {
            Ok(false) => {}
            Ok(true) => self.start_main(),
            Err(why) => {
                eprintln!("sup: {why}; not starting the command");
                self.abandon_main(1);
            }
        }
    }

    /// The command will not run: stop the units and exit with `code`.
    fn abandon_main(&mut self, code: i32) {
        if let Some(m) = self.life.main.as_mut() {
            m.phase = Phase::Done { pgid: None };
        }
        self.life.exit_code = code;
        self.shutting_down = true;
        self.feed(Input::StopAll);
    }

    fn start_main(&mut self) {
        let Some(argv) = self.life.main.as_ref().map(|m| m.argv.clone()) else {
            return;
        };
        let env = base_env();
        let prog = &argv[0];
        if let Err(why) = resolve(prog, env.get("PATH")) {
            let prog = prog.to_string_lossy();
            match why {
                Unrunnable::NotFound => eprintln!("sup: {prog}: command not found"),
                Unrunnable::NotExecutable => eprintln!("sup: {prog}: permission denied"),
            }
            self.abandon_main(why.code());
            return;
        }
        // Taking the terminal may mean letting go of it first (see `Terminal::main_stdin`).
        let stdin = self.platform.main_stdin();
        let spec = SpawnSpec {
            argv: argv.clone(),
            env,
            capture: false,
            stdin,
            sh_fallback: true,
            ..SpawnSpec::default()
        };
        match self.platform.spawn(&spec) {
            Ok(child) => {
                log::debug!("started {prog:?} as process {}", child.pid);
                if let Some(m) = self.life.main.as_mut() {
                    m.phase = Phase::Running {
                        pid: child.pid,
                        stdin,
                    };
                }
            }
            Err(e) => {
                // Resolved but refused by exec (bad interpreter, noexec mount, ...).
                eprintln!("sup: {e}");
                self.abandon_main(126);
            }
        }
    }

    pub(super) fn entry_running(&self) -> bool {
        matches!(
            self.life.main.as_ref().map(|m| &m.phase),
            Some(Phase::Running { .. })
        )
    }

    /// A reaped child: true when it was the main command (then sup begins to finish).
    pub(super) fn entry_reaped(&mut self, pid: Pid, exit: Exit) -> bool {
        let Some(m) = self.life.main.as_mut() else {
            return false;
        };
        let Phase::Running { pid: main, stdin } = m.phase else {
            return false;
        };
        if pid != main {
            return false;
        }
        m.phase = Phase::Done { pgid: Some(main) };
        if stdin == StdinMode::ForegroundGroup {
            // Take the terminal back for sup's group.
            self.platform.reclaim_terminal();
        }
        self.life.exit_code = exit_code(exit);
        log::debug!("main command exited: {exit:?}; stopping everything");
        self.shutting_down = true;
        self.begin_sweep();
        self.feed(Input::StopAll);
        true
    }

    /// Entrypoint mode's signals: forwarded to the command's process group; before it
    /// started, a stop signal means "do not start it".
    pub(super) fn entry_signal(&mut self, signal: i32) {
        match self.life.main.as_ref().map(|m| &m.phase) {
            Some(Phase::Running { pid, stdin }) => {
                let pgid = *pid;
                if signal == sig::CONT && *stdin == StdinMode::ForegroundGroup {
                    // `fg` in the shell that runs sup: sup's group has the terminal again;
                    // hand it to the command before it continues (`bg` leaves it be).
                    self.platform.pass_terminal(pgid);
                }
                log::debug!("forwarding {} to process group {pgid}", signal_name(signal));
                self.platform.kill_unit(pgid, Stop::from_signal(signal));
            }
            Some(Phase::Pending)
                if matches!(signal, sig::TERM | sig::INT | sig::QUIT | sig::HUP)
                    && !self.shutting_down =>
            {
                log::info!(
                    "received {} before the command started",
                    signal_name(signal)
                );
                self.abandon_main(128 + signal);
            }
            _ => log::debug!("ignoring {}", signal_name(signal)),
        }
    }

    /// Job control under an interactive shell (`sup -- CMD` typed at a prompt): when the
    /// terminal stops the command (Ctrl-Z: SIGTSTP, or SIGTTIN/SIGTTOU), sup stops itself
    /// too, so the shell sees its job stopped and takes the terminal back; `fg` then
    /// continues sup (see `entry_signal`, SIGCONT), which gives the terminal to the
    /// command and forwards the SIGCONT. Only when the command runs in sup's session as
    /// the terminal's foreground group; sup never stops for units or as PID 1.
    pub(super) fn entry_stopped(&mut self) {
        let Some(Phase::Running {
            pid,
            stdin: StdinMode::ForegroundGroup,
        }) = self.life.main.as_ref().map(|m| &m.phase)
        else {
            return;
        };
        if self.life.role != super::init::Role::Supervisor {
            return;
        }
        let pid = *pid;
        if let Some(by) = self.platform.stopped_by_terminal(pid) {
            log::debug!(
                "the command was stopped by {}: stopping too",
                signal_name(by)
            );
            self.platform.stop_self();
        }
    }

    /// A stop request in entrypoint mode: SIGTERM to the command, whose exit then stops the
    /// units. True when that was done (the caller has nothing more to do).
    pub(super) fn entry_stop(&mut self) -> bool {
        match self.life.main.as_ref().map(|m| &m.phase) {
            Some(Phase::Running { pid, .. }) => {
                let pgid = *pid;
                self.platform.kill_unit(pgid, Stop::Terminate);
                true
            }
            Some(Phase::Pending) => {
                self.abandon_main(143);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(Exit::Code(3)), 3);
        assert_eq!(exit_code(Exit::Signal(sig::KILL)), 137);
    }
}
