//! The platform seam: everything sup asks of the operating system to run units.
//!
//! Contract (every backend):
//! - `spawn` starts one process as described by `SpawnSpec`, in a new session and process
//!   group, with a clean signal mask and default dispositions, and returns only once the
//!   program was executed or the setup failed. A failure is an `Err` whose message names
//!   the step and the cause (`exec /x/y: No such file or directory`); no process is left.
//! - `kill_unit` signals every process of a unit; a unit with no process left is not an
//!   error. `signal` targets one process.
//! - `reap` collects every exited child (units' and orphans') without blocking.
//! - `unsupported` names what a unit asks for that this backend cannot enforce; such a unit
//!   must fail instead of running unconfined.
//!
//! Backends are chosen at compile time; the engine never sees them.

#[cfg(unix)]
pub mod confine;
pub mod env;
#[cfg(unix)]
pub mod fake;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod machine;
pub mod net;
pub mod notify;
pub mod procinfo;
pub mod program;
pub mod terminal;
#[cfg(windows)]
pub mod windows;

pub use env::Env;

#[cfg(unix)]
use std::ffi::OsString;
#[cfg(unix)]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::path::PathBuf;

#[cfg(unix)]
use crate::proc::Exit;
#[cfg(unix)]
use crate::unit::{Rlimit, UnitSpec};

/// Everything needed to start one process, resolved by the runtime from a unit.
#[cfg(unix)]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpawnSpec {
    /// Program and arguments, passed to the process byte for byte.
    pub argv: Vec<OsString>,
    /// The complete environment of the new process, byte for byte.
    pub env: Env,
    pub working_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    /// Capture stdout/stderr through pipes (else they are inherited from sup).
    pub capture: bool,
    /// cgroup, namespaces, capabilities.
    pub confine: confine::Confinement,
    /// `(fd, n)`: the open descriptor `fd` (owned by the caller) becomes fd `n` of the
    /// new process, inherited across exec (the s6 readiness notification fd).
    pub pass_fd: Option<(i32, i32)>,
    /// stdin, session and terminal (entrypoint mode's main process differs from units).
    pub stdin: StdinMode,
    /// When exec refuses the file as not a program (`ENOEXEC`: a script without `#!`),
    /// run it with `/bin/sh`, as `execvp` and shells do (the entrypoint's main command).
    pub sh_fallback: bool,
}

/// What the new process gets as stdin, and how it relates to sup's terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdinMode {
    /// `/dev/null`; a new session (every unit).
    #[default]
    Null,
    /// sup's stdin, which is not a terminal; a new session.
    Inherit,
    /// sup's stdin is a terminal that sup has released: a new session that takes it as
    /// its controlling terminal (and so is its foreground process group).
    TakeTerminal,
    /// sup's stdin is a terminal of another session (sup was started from a shell): a new
    /// process group in sup's session, made the terminal's foreground group.
    ForegroundGroup,
}

/// A started process.
#[cfg(unix)]
#[derive(Debug)]
pub struct Child {
    pub pid: u32,
    /// Read ends (non-blocking) of the stdout/stderr pipes when captured.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

#[cfg(unix)]
pub trait Platform {
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child, String>;
    fn signal(&mut self, pid: u32, signal: i32);
    /// Every process of the unit whose process group is `pgid`.
    fn kill_unit(&mut self, pgid: u32, signal: i32);
    fn reap(&mut self) -> Vec<(u32, Exit)>;
    fn unsupported(&self, spec: &UnitSpec) -> Option<String>;
}
