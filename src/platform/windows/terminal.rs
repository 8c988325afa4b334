//! Entrypoint mode's terminal on Windows: the main command shares sup's console (it
//! inherits stdin, stdout and stderr); there is no terminal job control, so nothing is
//! ever handed over or stopped.

use super::WindowsPlatform;
use crate::platform::terminal::Terminal;
use crate::platform::StdinMode;
use crate::proc::Pid;

impl Terminal for WindowsPlatform {
    fn main_stdin(&mut self) -> StdinMode {
        StdinMode::Inherit
    }

    fn reclaim_terminal(&mut self) {}

    fn pass_terminal(&mut self, _pgid: Pid) {}

    fn stopped_by_terminal(&mut self, _pid: Pid) -> Option<i32> {
        None
    }

    fn stop_self(&mut self) {}
}
