//! sup's roles on Windows: there is no PID 1, so sup is only ever a supervisor, and what
//! it leaves behind is its units' job objects, which are kill-on-close: they end with sup.

use super::WindowsPlatform;
use crate::platform::machine::{Action, Leftovers, Pid1};
use crate::proc::Pid;

/// Never an init on Windows.
pub fn pid1() -> Option<Pid1> {
    None
}

/// Nothing to prepare (only reached as a machine's init, which Windows never is).
pub fn prepare_machine() -> Vec<String> {
    Vec::new()
}

/// sup's own log has no kernel log to go to; it stays on the console.
pub fn kernel_log() -> &'static str {
    "the console only (no kernel log on Windows)"
}

/// Ending the machine is not sup's on Windows.
pub fn end_machine(action: Action) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("{}: not available on Windows", action.as_str()),
    )
}

/// Only PID 1 reaps forever; on Windows sup parks the thread instead of exiting.
pub fn reap_forever() -> ! {
    loop {
        std::thread::park();
    }
}

impl Leftovers for WindowsPlatform {
    /// Units' processes are in their jobs and the entrypoint command's group is
    /// signalled on its own; sup tracks no other children.
    fn children(&self) -> Vec<Pid> {
        Vec::new()
    }

    fn has_children(&self) -> bool {
        false
    }

    /// Only PID 1 signals every process; never on Windows.
    fn kill_all(&mut self, _signal: i32) {}
}
