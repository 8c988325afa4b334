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
//! - `watch_events` registers the backend's own event source with the loop once;
//!   `events` then turns a readiness of it into neutral [`OsEvent`]s (signals to sup,
//!   "a child ended"). Output pipes are the backend's [`OutputPipe`] type: the loop
//!   registers them with mio and reads them, never knowing what they are.
//! - `unsupported` names what a unit asks for that this backend cannot enforce; such a unit
//!   must fail instead of running unconfined.
//!
//! Backends are chosen at compile time ([`Host`]); the engine never sees them, and the
//! runtime only calls the traits defined here and in the neutral files beside this one.

pub mod confine;
pub mod env;
pub mod fake;
pub mod groups;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod listen;
pub mod machine;
pub mod net;
pub mod notify;
pub mod procinfo;
pub mod program;
pub mod system;
pub mod terminal;
pub mod transport;
pub mod watch;
#[cfg(windows)]
pub mod windows;

// OS calls for the layers above (unit files, logs): one neutral path, the backend's
// file chosen per target.
#[cfg_attr(target_os = "linux", path = "linux/console.rs")]
#[cfg_attr(windows, path = "windows/console.rs")]
pub mod console;
#[cfg_attr(target_os = "linux", path = "linux/fs.rs")]
#[cfg_attr(windows, path = "windows/fs.rs")]
pub mod fs;
#[cfg_attr(target_os = "linux", path = "linux/handover.rs")]
#[cfg_attr(windows, path = "windows/handover.rs")]
pub mod handover;
#[cfg_attr(target_os = "linux", path = "linux/pipe.rs")]
#[cfg_attr(windows, path = "windows/pipe.rs")]
pub mod pipe;
#[cfg_attr(target_os = "linux", path = "linux/usage.rs")]
#[cfg_attr(windows, path = "windows/usage.rs")]
pub mod usage;

pub use env::Env;

/// The backend of this build.
#[cfg(target_os = "linux")]
pub type Host = linux::LinuxPlatform;
#[cfg(windows)]
pub type Host = windows::WindowsPlatform;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::limits::Resources;
use crate::limits::Rlimit;
use crate::proc::{Exit, Pid, Stop};

/// Everything the runtime asks of a backend: the platform proper and its facilities
/// (resource groups, terminal, readiness channels, process information, leftovers,
/// file watches).
/// The runtime is generic over it; [`Host`] is the one this build runs on, and
/// `fake::FakePlatform` drives the runtime in tests.
pub trait Backend:
    Platform
    + groups::ResourceGroups<Placement = confine::Placement>
    + terminal::Terminal
    + notify::Notify
    + procinfo::ProcessInfo
    + machine::Leftovers
    + watch::FileWatch
    + Sized
{
    /// A backend with nothing set up yet (`watch_events` comes next).
    fn create() -> Self;
}

impl<T> Backend for T
where
    T: Platform
        + groups::ResourceGroups<Placement = confine::Placement>
        + terminal::Terminal
        + notify::Notify
        + procinfo::ProcessInfo
        + machine::Leftovers
        + watch::FileWatch
        + Default,
{
    fn create() -> Self {
        T::default()
    }
}

/// Everything needed to start one process, resolved by the runtime from a unit.
#[derive(Clone, Debug, Default)]
#[cfg_attr(unix, derive(PartialEq))]
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
    /// Listening sockets (open descriptors owned by the caller) with their names: they
    /// become fds 3, 4, … of the new process in this order, which gets `LISTEN_FDS`,
    /// `LISTEN_FDNAMES` (the names joined by `:`) and `LISTEN_PID` (its own pid, written
    /// in the child after the fork) in its environment, replacing any there (systemd's
    /// socket activation protocol). The caller keeps `pass_fd`'s number out of that range.
    pub listen_fds: Vec<(i32, String)>,
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

/// What a unit asks of the OS beyond running a program, in neutral terms: what a
/// backend judges in `Platform::unsupported` and `ResourceGroups::group_missing`. The
/// runtime builds it from the unit.
#[derive(Clone, Copy, Debug)]
pub struct Asks<'a> {
    /// The keys the unit sets that need an OS feature, by name: `user`, `group`,
    /// `umask`, `rlimits`, `no_new_privileges`, `namespaces`, `hostname`, `root`,
    /// `private_tmp`, `capabilities`, `ready: notify`, `ready: fd`, `watchdog`, `watch`.
    pub keys: &'a [&'static str],
    pub resources: &'a Resources,
    /// The unit runs in a slice.
    pub slice: bool,
}

/// A started process.
#[derive(Debug)]
pub struct Child<P> {
    pub pid: Pid,
    /// Read ends (non-blocking) of the stdout/stderr pipes when captured.
    pub stdout: Option<P>,
    pub stderr: Option<P>,
}

/// The read end of a unit's output pipe: non-blocking, registered with the loop.
pub trait OutputPipe: mio::event::Source + std::io::Read + std::fmt::Debug {
    /// Asks for a larger buffer, once the unit shows it is chatty (best effort).
    fn grow(&self) {}
    /// Keeps the pipe open across sup's reexec; the number to `adopt` it by after.
    fn carry(&self) -> std::io::Result<u64> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
    /// Takes back a pipe carried across the reexec (see [`handover`]).
    fn adopt(_handle: u64) -> std::io::Result<Self>
    where
        Self: Sized,
    {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// What the backend's event source reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsEvent {
    /// A signal (or the platform's equivalent: a console control event on Windows)
    /// reached sup; `signo` in [`crate::proc::sig`] numbering, `sender` 0 when unknown.
    Signal { signo: i32, sender: Pid },
    /// Some child of sup may have ended: time to `reap`.
    ChildEnded,
}

pub trait Platform {
    type Pipe: OutputPipe;
    /// The platform has POSIX signals: `Stop::Signal(n)` sends signal `n`. Without them
    /// every stop but `Kill` is the platform's one polite request (CTRL_BREAK).
    const SIGNALS: bool = true;
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child<Self::Pipe>, String>;
    fn signal(&mut self, pid: Pid, stop: Stop);
    /// Every process of the unit whose process group is `pgid`.
    fn kill_unit(&mut self, pgid: Pid, stop: Stop);
    fn reap(&mut self) -> Vec<(Pid, Exit)>;
    /// Why a unit asking `asks` cannot run here with everything enforced, naming the
    /// key and the platform; `None` when it can.
    fn unsupported(&self, asks: &Asks<'_>) -> Option<String>;
    /// Sets up the backend's event source (signals, child exits) and registers it
    /// under `token`. Called once, before any process is started.
    fn watch_events(&mut self, registry: &mio::Registry, token: mio::Token) -> std::io::Result<()>;
    /// Everything the event source has to say now (it never blocks).
    fn events(&mut self) -> Vec<OsEvent>;
    /// Watches sup's stdout (0) or stderr (1) for room, under `token`: `Err` when the
    /// stream cannot be watched (a file, a console), which then never blocks for long.
    fn watch_console(
        &mut self,
        registry: &mio::Registry,
        stream: usize,
        token: mio::Token,
    ) -> std::io::Result<()>;
    fn unwatch_console(&mut self, registry: &mio::Registry, stream: usize);
}
