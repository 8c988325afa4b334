//! The Windows backend's building blocks: a unit's job object, its processes and the
//! job notifications for the event loop (issue 13). Safe wrappers over Win32, each
//! `unsafe` call with the invariant it relies on.
//!
//! Contract, for the runtime that will plug these into the platform seam:
//! - A unit is one [`Job`]: kill-on-close (no unit outlives sup, even a crashed one),
//!   die-on-unhandled-exception (a crash ends the process instead of waiting on an error
//!   dialog), and the unit's `resources` as [`JobLimits`]. A limit the host refuses is a
//!   [`JobError::Refused`] naming the key; a key with no job-object equivalent is a
//!   [`JobError::Unsupported`]. Nothing is silently not enforced.
//! - [`spawn`] starts a process suspended, in a new process group, assigns it to the job
//!   and only then resumes it: the program runs no instruction outside the job, and every
//!   process it starts is in the job too. Its stdout/stderr are overlapped named pipes
//!   that mio can register (`mio::windows::NamedPipe`); no thread reads them.
//! - Stop: the unit's `stop.signal` (whatever it names) becomes [`send_ctrl_break`] to the
//!   unit's process group (its main pid), which works when sup and the unit share a
//!   console; after `stop.timeout`, [`Job::terminate`] ends the whole tree.
//! - Events: [`JobEvents`] owns one I/O completion port that every job is associated
//!   with (its completion key names the unit) and one thread blocked in
//!   `GetQueuedCompletionStatus`; each notification is sent over a std channel and wakes
//!   the event loop through its `mio::Waker`. Windows does not guarantee delivery of job
//!   notifications, so an exit message is a reason to look ([`Process::exit_status`]),
//!   not the only way to learn of an exit.
//! - Exit statuses are [`ExitStatus`]: a code, or an NTSTATUS such as `0xC0000005`.
//!
//! Wine 8.0 (the test harness, `scripts/windows-test.sh`) accepts but does not enforce
//! memory and process limits, refuses CPU rate control (error 87), reports zero CPU time
//! for other processes and posts no `EXIT_PROCESS` after `TerminateJobObject`: tests of
//! those check [`is_wine`] and say that they skip.

pub mod cmdline;
pub mod control_pipe;
mod events;
pub mod groups;
mod host;
mod job;
mod limits;
pub mod listen;
pub mod machine;
pub mod net;
pub mod notify;
mod process;
pub mod procinfo;
pub mod program;
mod spawn;
mod stdio;
pub mod system;
pub mod terminal;
mod watch;

#[cfg(test)]
mod tests;

pub use events::{JobEvent, JobEvents, JobMessage};
pub use host::{PipeOut, WindowsPlatform};
pub use job::{Accounting, Job};
pub use limits::{cpu_rate, cpu_weight, JobError, JobLimits};
pub use process::{send_ctrl_break, ExitStatus, Process};
pub use spawn::{spawn, SpawnError, SpawnRequest};

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::sync::OnceLock;

use windows_sys::core::BOOL;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

/// `Ok(())` for a true `BOOL`, the thread's last error otherwise.
fn cvt(ok: BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `s` as a NUL-terminated UTF-16 string; an interior NUL is an `InvalidInput` error
/// naming `what`.
fn wide(s: &OsStr, what: &str) -> io::Result<Vec<u16>> {
    let mut w: Vec<u16> = s.encode_wide().collect();
    if w.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {s:?} contains a NUL character"),
        ));
    }
    w.push(0);
    Ok(w)
}

/// Wine's version when running under Wine (`ntdll!wine_get_version` exists), else `None`.
pub fn wine_version() -> Option<&'static str> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
            // SAFETY: `ntdll` is a NUL-terminated UTF-16 string; ntdll is loaded in
            // every process, so the handle (not reference-counted) stays valid.
            let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
            if module.is_null() {
                return None;
            }
            // SAFETY: `module` is a loaded module, the name is a NUL-terminated ASCII
            // string.
            let f = unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }?;
            // SAFETY: Wine declares `const char *wine_get_version(void)`, returning a
            // static NUL-terminated string; the transmute only gives the pointer
            // that signature.
            let get: unsafe extern "C" fn() -> *const std::ffi::c_char =
                unsafe { std::mem::transmute(f) };
            // SAFETY: as above: a static string, valid for the process's life.
            let v = unsafe { get() };
            if v.is_null() {
                return Some(String::from("unknown"));
            }
            // SAFETY: `v` is a non-null, NUL-terminated static string.
            let s = unsafe { std::ffi::CStr::from_ptr(v) };
            Some(s.to_string_lossy().into_owned())
        })
        .as_deref()
}

/// Whether this process runs under Wine, which shows job objects only in part.
pub fn is_wine() -> bool {
    wine_version().is_some()
}
