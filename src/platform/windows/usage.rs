//! CPU time of the calling thread, Windows (`GetThreadTimes`), for benchmarks.

use std::io;
use std::time::Duration;

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::Threading::{GetCurrentThread, GetThreadTimes};

/// (user, system) CPU time used by the calling thread so far.
pub fn thread_cpu_time() -> io::Result<(Duration, Duration)> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: the pseudo handle of the current thread is always valid; the four
    // FILETIMEs are valid, exclusively borrowed for the call to fill.
    let ok = unsafe {
        GetThreadTimes(
            GetCurrentThread(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // FILETIME counts 100 ns units.
    let d = |t: FILETIME| {
        Duration::from_nanos(
            ((u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)) * 100,
        )
    };
    Ok((d(user), d(kernel)))
}
