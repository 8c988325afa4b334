//! The init seam: what sup does as PID 1 (a machine's or a container's), and the sweep of
//! leftover processes when sup ends in any role.
//!
//! Contract (every backend):
//! - `pid1()` tells whether sup is an init, and which kind; a backend without PID 1
//!   (Windows) always says `None`, so sup is a plain supervisor there.
//! - `prepare_machine()` does a machine init's setup (console, pseudo-filesystems, PATH,
//!   hostname) and returns one line per action or problem for the log; it never fails.
//! - `kernel_log()` makes sup's own log also go to the kernel's log when no log directory
//!   is writable, and names where it goes.
//! - `end_machine()` syncs, unmounts and powers off, reboots or halts; it returns only if
//!   the system refused. `reap_forever()` is PID 1's last resort: it never returns.
//! - `Leftovers` finds and signals what sup leaves behind: its children, and (as PID 1)
//!   every other process it may signal.

/// How a machine ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Poweroff,
    Reboot,
    Halt,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
        }
    }
}

/// Which init sup is when it runs as PID 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pid1 {
    /// PID 1 of the machine (the initial pid namespace).
    Machine,
    /// PID 1 of a container (a child pid namespace).
    Container,
}

#[cfg(target_os = "linux")]
pub use super::linux::pid1::{end_machine, kernel_log, pid1, prepare_machine, reap_forever};
#[cfg(windows)]
pub use super::windows::machine::{end_machine, kernel_log, pid1, prepare_machine, reap_forever};

pub trait Leftovers {
    /// The pids of sup's own children (exited or not); never 0.
    fn children(&self) -> Vec<crate::proc::Pid>;
    /// Whether sup has any child left (exited or not), without reaping it.
    fn has_children(&self) -> bool;
    /// `signal` (a `proc::sig` number) to every process sup may signal but itself: as
    /// PID 1, every other process of the machine or container.
    fn kill_all(&mut self, signal: i32);
}
