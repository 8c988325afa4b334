//! CPU time of the calling thread, Linux (`getrusage(RUSAGE_THREAD)`), for benchmarks.

use std::io;
use std::time::Duration;

/// (user, system) CPU time used by the calling thread so far.
pub fn thread_cpu_time() -> io::Result<(Duration, Duration)> {
    // SAFETY: `rusage` is plain data; all-zero is a valid value for getrusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, exclusively borrowed rusage for the call to fill.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((tv(ru.ru_utime), tv(ru.ru_stime)))
}
