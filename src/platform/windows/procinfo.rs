//! Process information on Windows: there are no process groups to look a pid up in
//! (a unit is a job object), so these questions have no answer here; a unit's usage
//! comes from its job's accounting instead. sup's own usage comes from the process's
//! handle count, working set and times.

use super::WindowsPlatform;
use std::mem::size_of;

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessHandleCount, GetProcessTimes,
};

use crate::platform::procinfo::{OwnUsage, ProcessInfo, Usage};
use crate::proc::Pid;

impl ProcessInfo for WindowsPlatform {
    fn group_of(&self, _pid: Pid) -> Option<Pid> {
        None
    }

    fn group_usage(&self, _pgid: Pid) -> Option<Usage> {
        None
    }

    fn own_usage(&self) -> OwnUsage {
        // SAFETY: GetCurrentProcess has no preconditions; it returns a pseudo-handle
        // that needs no closing.
        let me = unsafe { GetCurrentProcess() };
        let mut handles = 0u32;
        // SAFETY: `handles` is a writable u32, as the call expects; `me` is valid.
        let open_fds =
            (unsafe { GetProcessHandleCount(me, &mut handles) } != 0).then_some(u64::from(handles));
        let mut counters = PROCESS_MEMORY_COUNTERS::default();
        // SAFETY: `counters` is a writable PROCESS_MEMORY_COUNTERS and its size is
        // given; `me` is valid.
        let resident_bytes = (unsafe {
            K32GetProcessMemoryInfo(
                me,
                &mut counters,
                size_of::<PROCESS_MEMORY_COUNTERS>() as u32,
            )
        } != 0)
            .then_some(counters.WorkingSetSize as u64);
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: the four FILETIMEs are writable and distinct; `me` is valid.
        let ok = unsafe { GetProcessTimes(me, &mut created, &mut exited, &mut kernel, &mut user) };
        let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
        // 100 ns units.
        let cpu_usec = (ok != 0).then(|| (ticks(kernel) + ticks(user)) / 10);
        OwnUsage {
            open_fds,
            resident_bytes,
            cpu_usec,
        }
    }
}
