//! Process information on Windows: there are no process groups to look a pid up in
//! (a unit is a job object), so these questions have no answer here; a unit's usage
//! comes from its job's accounting instead.

use super::WindowsPlatform;
use crate::platform::procinfo::{ProcessInfo, Usage};
use crate::proc::Pid;

impl ProcessInfo for WindowsPlatform {
    fn group_of(&self, _pid: Pid) -> Option<Pid> {
        None
    }

    fn group_usage(&self, _pgid: Pid) -> Option<Usage> {
        None
    }
}
