//! Entrypoint mode (`sup -- CMD`): the main command. It is not an engine unit: it runs
//! once, after the enabled units are up, in its own session and process group (taking the
//! terminal when stdin is one), receives every catchable signal sup gets, and its exit
//! decides sup's exit code (N, 128+signal, 126 not executable, 127 not found).
//!
//! If an enabled unit fails before the command could start, the command is not started:
//! sup says which unit failed on stderr, stops the rest and exits 1 (a container whose
//! sidecar cannot start should fail loudly, not run half set up).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::launch::base_env;
use super::Runtime;
use crate::engine::{signal_name, Exit, Input, Reason, State};
use crate::platform::env::DEFAULT_PATH;
use crate::platform::{Platform, SpawnSpec, StdinMode};

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
        pid: u32,
        stdin: StdinMode,
    },
    /// Exited (or never started); its process group may still have members.
    Done {
        pgid: Option<u32>,
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
    pub(super) fn pgid(&self) -> Option<u32> {
        match self.phase {
            Phase::Running { pid, .. } => Some(pid),
            Phase::Done { pgid } => pgid,
            Phase::Pending => None,
        }
    }
}

/// Why a command cannot be run, with the shell's exit code for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Unrunnable {
    NotFound,
    NotExecutable,
}

impl Unrunnable {
    pub fn code(&self) -> i32 {
        match self {
            Unrunnable::NotFound => 127,
            Unrunnable::NotExecutable => 126,
        }
    }
}

fn is_executable_file(p: &Path) -> Option<bool> {
    let meta = std::fs::metadata(p).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Looks `prog` up as `execvp` would (PATH unless it has a slash): the file to run, or why
/// there is none. A file found but not executable gives 126, like a shell.
pub fn resolve(prog: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, Unrunnable> {
    if prog.is_empty() {
        return Err(Unrunnable::NotFound);
    }
    if prog.as_bytes().contains(&b'/') {
        return match is_executable_file(Path::new(prog)) {
            Some(true) => Ok(PathBuf::from(prog)),
            Some(false) => Err(Unrunnable::NotExecutable),
            None => Err(Unrunnable::NotFound),
        };
    }
    let path = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut seen = false;
    for dir in path
        .as_bytes()
        .split(|b| *b == b':')
        .filter(|d| !d.is_empty())
    {
        let candidate = Path::new(OsStr::from_bytes(dir)).join(prog);
        match is_executable_file(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) => seen = true,
            None => {}
        }
    }
    Err(if seen {
        Unrunnable::NotExecutable
    } else {
        Unrunnable::NotFound
    })
}

/// sup's exit code for the main command's exit.
pub fn exit_code(exit: Exit) -> i32 {
    match exit {
        Exit::Code(n) => n,
        Exit::Signal(s) => 128 + s,
    }
}

/// How the command relates to the terminal on sup's stdin. When sup leads the terminal's
/// session (a container's PID 1 with a tty, `script`), sup lets go of the terminal so the
/// command's new session can take it. When the terminal belongs to another session (sup
/// started from a shell), a new session could only steal it from that shell, so the
/// command gets a new process group in sup's session, made the foreground group.
fn terminal_mode() -> StdinMode {
    // SAFETY: isatty, getpid, getsid and tcgetsid take integers and only query.
    let (tty, me, my_sid, tty_sid) = unsafe {
        (
            libc::isatty(0) == 1,
            libc::getpid(),
            libc::getsid(0),
            libc::tcgetsid(0),
        )
    };
    if !tty {
        return StdinMode::Inherit;
    }
    if tty_sid == me {
        // SAFETY: TIOCNOTTY takes no argument. As session leader this sends SIGHUP and
        // SIGCONT to sup's own (foreground) group; both are blocked and consumed below.
        unsafe { libc::ioctl(0, libc::TIOCNOTTY) };
        consume_pending(&[libc::SIGHUP, libc::SIGCONT]);
        return StdinMode::TakeTerminal;
    }
    if tty_sid == my_sid {
        return StdinMode::ForegroundGroup;
    }
    StdinMode::Inherit
}

/// Why a failed unit failed, for the one line sup prints: its message, else its exit
/// status (`exit code 3`, `killed by SIGKILL`), else its reason.
fn failure(u: &crate::engine::Unit) -> String {
    let exit = u.exit.map(|e| match e {
        Exit::Code(n) => format!("exit code {n}"),
        Exit::Signal(s) => format!("killed by {}", signal_name(s)),
    });
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

/// Takes pending (blocked) instances of `sigs` off sup's queue without waiting.
fn consume_pending(sigs: &[i32]) {
    // SAFETY: a zeroed sigset_t is then initialised by sigemptyset/sigaddset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signals are valid numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
    }
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `zero` are valid for the call; no siginfo is asked for. The
    // signals are blocked in sup, so sigtimedwait takes them without any handler running.
    while unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) } > 0 {}
}

impl Runtime {
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
        let stdin = terminal_mode();
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
    pub(super) fn entry_reaped(&mut self, pid: u32, exit: Exit) -> bool {
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
            // Take the terminal back for sup's group (SIGTTOU is blocked in sup).
            // SAFETY: tcsetpgrp takes integers; failure only leaves the group as it was.
            unsafe { libc::tcsetpgrp(0, libc::getpgrp()) };
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
    pub(super) fn entry_signal(&mut self, sig: i32) {
        match self.life.main.as_ref().map(|m| &m.phase) {
            Some(Phase::Running { pid, stdin }) => {
                let pgid = *pid as i32;
                if sig == libc::SIGCONT && *stdin == StdinMode::ForegroundGroup {
                    // `fg` in the shell that runs sup: sup's group has the terminal again;
                    // hand it to the command before it continues (`bg` leaves it be).
                    // SAFETY: tcgetpgrp/getpgrp/tcsetpgrp take integers; SIGTTOU is
                    // blocked in sup, so tcsetpgrp from the foreground cannot stop it.
                    unsafe {
                        if libc::tcgetpgrp(0) == libc::getpgrp() {
                            libc::tcsetpgrp(0, pgid);
                        }
                    }
                }
                log::debug!("forwarding {} to process group {pgid}", signal_name(sig));
                self.platform.kill_unit(pgid as u32, sig);
            }
            Some(Phase::Pending)
                if matches!(
                    sig,
                    libc::SIGTERM | libc::SIGINT | libc::SIGQUIT | libc::SIGHUP
                ) && !self.shutting_down =>
            {
                log::info!("received {} before the command started", signal_name(sig));
                self.abandon_main(128 + sig);
            }
            _ => log::debug!("ignoring {}", signal_name(sig)),
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
        // SAFETY: siginfo_t is plain data; all-zero is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer; WSTOPPED without WEXITED only takes a
        // stop report of this one child (its exit stays for the reaper); WNOHANG.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                *pid as libc::id_t,
                &mut info,
                libc::WSTOPPED | libc::WNOHANG,
            )
        };
        // SAFETY: si_status is valid for a CLD_STOPPED report, which si_code says it is.
        let (code, status) = (info.si_code, unsafe { info.si_status() });
        let by_terminal = matches!(status, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        if r == 0 && code == libc::CLD_STOPPED && by_terminal {
            log::debug!(
                "the command was stopped by {}: stopping too",
                signal_name(status)
            );
            // SAFETY: SIGSTOP to sup itself; it resumes here on SIGCONT.
            unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
        }
    }

    /// A stop request in entrypoint mode: SIGTERM to the command, whose exit then stops the
    /// units. True when that was done (the caller has nothing more to do).
    pub(super) fn entry_stop(&mut self) -> bool {
        match self.life.main.as_ref().map(|m| &m.phase) {
            Some(Phase::Running { pid, .. }) => {
                let pgid = *pid;
                self.platform.kill_unit(pgid, libc::SIGTERM);
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
        assert_eq!(exit_code(Exit::Signal(libc::SIGKILL)), 137);
    }

    fn resolve_str(prog: &str, path_var: Option<&str>) -> Result<PathBuf, Unrunnable> {
        resolve(OsStr::new(prog), path_var.map(OsStr::new))
    }

    #[test]
    fn resolution() {
        assert!(resolve_str("sh", Some("/bin:/usr/bin")).is_ok());
        assert_eq!(
            resolve_str("no-such-program-xyz", Some("/bin")),
            Err(Unrunnable::NotFound)
        );
        let plain = std::env::temp_dir().join(format!("sup-entry-test-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            resolve(plain.as_os_str(), None),
            Err(Unrunnable::NotExecutable)
        );
        let _ = std::fs::remove_file(&plain);
        assert_eq!(resolve_str("/etc", None), Err(Unrunnable::NotExecutable));
        assert_eq!(resolve_str("/no/such", None), Err(Unrunnable::NotFound));
        assert_eq!(resolve_str("", None), Err(Unrunnable::NotFound));
    }

    #[test]
    fn resolution_of_names_that_are_not_utf8() {
        let mut name = b"sup-entry-\xff-".to_vec();
        name.extend_from_slice(std::process::id().to_string().as_bytes());
        let dir = std::env::temp_dir().join(OsStr::from_bytes(&name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let prog = OsStr::from_bytes(b"prog\xfe");
        let file = dir.join(prog);
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = OsString::from("/no/such:");
        path.push(&dir);
        let found = resolve(prog, Some(&path));
        let missing = resolve(OsStr::from_bytes(b"other\xfe"), Some(&path));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found, Ok(file));
        assert_eq!(missing, Err(Unrunnable::NotFound));
    }
}
