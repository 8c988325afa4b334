//! The terminal seam of entrypoint mode (`sup -- CMD`): how the main command gets sup's
//! stdin, and shell job control (Ctrl-Z, `fg`) for a command that runs in the foreground
//! of sup's terminal.
//!
//! Contract (every backend):
//! - `main_stdin` is called once, just before the main command is spawned, and says how
//!   the command gets sup's stdin; it may let go of sup's terminal so that the command
//!   can take it (`StdinMode::TakeTerminal`).
//! - The other calls only matter after `main_stdin` said `StdinMode::ForegroundGroup`
//!   (sup runs under an interactive shell's job control); a backend without terminal job
//!   control never says so, and makes them do nothing.

use super::StdinMode;
use crate::proc::Pid;

pub trait Terminal {
    /// How the main command relates to the terminal on sup's stdin.
    fn main_stdin(&mut self) -> StdinMode;
    /// The main command (a foreground group) has exited: sup's own process group takes
    /// the terminal back.
    fn reclaim_terminal(&mut self);
    /// sup was continued (`fg`): when sup's group has the terminal again, hand it to the
    /// process group `pgid` (the command) before that continues; otherwise (`bg`) do
    /// nothing.
    fn pass_terminal(&mut self, pgid: Pid);
    /// The signal (`proc::sig::TSTP`, `TTIN` or `TTOU`) with which the terminal stopped
    /// the child `pid`, taking that stop report; `None` when it was not stopped so (its
    /// exit, if any, is left for the reaper).
    fn stopped_by_terminal(&mut self, pid: Pid) -> Option<i32>;
    /// Stops sup itself; it carries on where it was when continued.
    fn stop_self(&mut self);
}
