//! A started process of a unit: its handle, its captured output, its exit status
//! (a code or an NTSTATUS), and the console break that asks its group to stop.

use std::fmt;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle};
use std::time::Duration;

use mio::windows::NamedPipe;
use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, TerminateProcess, WaitForSingleObject,
};

use super::cvt;

/// How a process ended: `ExitProcess`'s code, or an NTSTATUS when the process died of an
/// exception or was ended with one (`0xC0000005` access violation, `0xC000013A` ended by
/// a console break).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(u32),
    NtStatus(u32),
}

impl ExitStatus {
    /// Classifies a raw exit code: warning or error severity (the top two bits) with a
    /// system facility (below 0x100) is an NTSTATUS; anything else, `-1`
    /// (`0xFFFFFFFF`) included, is a plain code.
    pub fn from_raw(code: u32) -> ExitStatus {
        let severity_set = code & 0x8000_0000 != 0;
        let facility = (code >> 16) & 0x0FFF;
        if severity_set && facility < 0x100 {
            ExitStatus::NtStatus(code)
        } else {
            ExitStatus::Code(code)
        }
    }

    /// The raw exit code.
    pub fn raw(self) -> u32 {
        match self {
            ExitStatus::Code(c) | ExitStatus::NtStatus(c) => c,
        }
    }

    /// `STATUS_…` for a well-known NTSTATUS.
    pub fn nt_name(self) -> Option<&'static str> {
        match self {
            ExitStatus::NtStatus(s) => crate::proc::ntstatus_name(s),
            ExitStatus::Code(_) => None,
        }
    }

    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// As the core speaks of it.
    pub fn exit(self) -> crate::proc::Exit {
        match self {
            ExitStatus::Code(c) => crate::proc::Exit::Code(c as i32),
            ExitStatus::NtStatus(s) => crate::proc::Exit::NtStatus(s),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (*self, self.nt_name()) {
            (ExitStatus::Code(c), _) => write!(f, "exit code {c}"),
            (ExitStatus::NtStatus(s), Some(name)) => write!(f, "NTSTATUS 0x{s:08X} ({name})"),
            (ExitStatus::NtStatus(s), None) => write!(f, "NTSTATUS 0x{s:08X}"),
        }
    }
}

/// A process started by [`super::spawn`]: in its job, leader of its own process group
/// (whose id is its pid). Dropping it closes the handle, not the process.
#[derive(Debug)]
pub struct Process {
    pub(super) handle: OwnedHandle,
    pub(super) pid: u32,
    /// Read ends of the captured stdout/stderr (overlapped named pipes): register them
    /// with the loop's `Poll` to read; a read of 0 bytes is the end of the stream.
    pub stdout: Option<NamedPipe>,
    pub stderr: Option<NamedPipe>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the process has ended; never blocks.
    pub fn exit_status(&self) -> io::Result<Option<ExitStatus>> {
        self.wait_ms(0)
    }

    /// Waits up to `timeout` for the process to end. Blocks the thread: for tests and
    /// for shutdown, never for the event loop.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        // Below INFINITE (u32::MAX), which would wait forever.
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX - 1);
        self.wait_ms(ms.min(u32::MAX - 1))
    }

    fn wait_ms(&self, ms: u32) -> io::Result<Option<ExitStatus>> {
        // SAFETY: the process handle is open (owned by `self`).
        match unsafe { WaitForSingleObject(self.handle.as_raw_handle(), ms) } {
            WAIT_OBJECT_0 => exit_code(self.handle.as_handle()).map(Some),
            WAIT_TIMEOUT => Ok(None),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// Ends this process alone with `code` (the job's [`super::Job::terminate`] ends
    /// the tree).
    pub fn terminate(&self, code: u32) -> io::Result<()> {
        // SAFETY: the process handle is open (owned by `self`).
        cvt(unsafe { TerminateProcess(self.handle.as_raw_handle(), code) })
    }
}

impl AsHandle for Process {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.as_handle()
    }
}

/// The exit status of an ended process (the caller made sure it ended: while it runs,
/// GetExitCodeProcess answers STILL_ACTIVE, 259, which a process may also exit with).
pub(super) fn exit_code(process: BorrowedHandle<'_>) -> io::Result<ExitStatus> {
    let mut code = 0u32;
    // SAFETY: the handle is open for the call; `code` is a writable u32.
    cvt(unsafe { GetExitCodeProcess(process.as_raw_handle(), &mut code) })?;
    Ok(ExitStatus::from_raw(code))
}

/// Sends CTRL_BREAK to process group `pgid` (a unit's main pid): how a unit is asked to
/// stop, whatever its `stop.signal`. It reaches the group only if sup and the unit
/// share a console; without a console handler the group's processes end with
/// `STATUS_CONTROL_C_EXIT`. (CTRL_C cannot be used: a new process group has it
/// disabled.)
pub fn send_ctrl_break(pgid: u32) -> io::Result<()> {
    // SAFETY: GenerateConsoleCtrlEvent has no memory preconditions.
    cvt(unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pgid) })
}
