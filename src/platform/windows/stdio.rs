//! The standard handles of a new process: `NUL` for stdin, and for stdout/stderr either
//! the write end of an overlapped named pipe whose read end mio can register, or sup's
//! own handles. Every handle given to the child is inheritable and listed in its
//! `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`, so it inherits nothing else.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use mio::windows::NamedPipe;
use windows_sys::Win32::Foundation::{
    DuplicateHandle, DUPLICATE_SAME_ACCESS, GENERIC_READ, GENERIC_WRITE, HANDLE,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED,
    FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING, PIPE_ACCESS_INBOUND,
};
use windows_sys::Win32::System::Console::{GetStdHandle, STD_HANDLE};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, GetNamedPipeClientProcessId, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_BYTE, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::cvt;

/// Pipe buffer size asked of the system (it treats it as advice).
const PIPE_BUFFER: u32 = 64 * 1024;

/// Security attributes that make a new handle inheritable.
fn inheritable() -> SECURITY_ATTRIBUTES {
    SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: ptr::null_mut(),
        bInheritHandle: 1,
    }
}

/// Owns a handle returned by a creating call, or the thread's last error.
fn owned(raw: HANDLE) -> io::Result<OwnedHandle> {
    if raw.is_null() || raw == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a valid handle that the caller just created and nobody else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) })
}

/// An inheritable handle to `NUL`, for reading or writing.
pub(super) fn null(write: bool) -> io::Result<OwnedHandle> {
    let name: Vec<u16> = "NUL\0".encode_utf16().collect();
    let sa = inheritable();
    let access = if write { GENERIC_WRITE } else { GENERIC_READ };
    // SAFETY: `name` is NUL-terminated UTF-16, `sa` lives across the call.
    owned(unsafe {
        CreateFileW(
            name.as_ptr(),
            access,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            &sa,
            OPEN_EXISTING,
            FILE_ATTRIBUTE_NORMAL,
            ptr::null_mut(),
        )
    })
}

/// An inheritable duplicate of sup's standard handle `which`, or `NUL` when sup has none.
pub(super) fn inherit(which: STD_HANDLE) -> io::Result<OwnedHandle> {
    // SAFETY: GetStdHandle has no preconditions; the result is checked.
    let std = unsafe { GetStdHandle(which) };
    if std.is_null() || std == INVALID_HANDLE_VALUE {
        return null(true);
    }
    let mut dup: HANDLE = ptr::null_mut();
    // SAFETY: `std` is a handle of this process (the pseudo-handle of which is
    // GetCurrentProcess), `dup` a writable out-pointer.
    cvt(unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            std,
            GetCurrentProcess(),
            &mut dup,
            0,
            1,
            DUPLICATE_SAME_ACCESS,
        )
    })?;
    owned(dup)
}

/// A pipe for one output stream of a child: the read end (overlapped, not inheritable,
/// for mio) and the write end (synchronous, inheritable, for the child).
pub(super) fn output_pipe() -> io::Result<(NamedPipe, OwnedHandle)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        r"\\.\pipe\sup-{}-{}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // One instance, which must be new (a name taken by someone else fails instead of
    // joining their pipe), local clients only.
    // SAFETY: `wide` is NUL-terminated UTF-16; null security attributes give the
    // default DACL and a non-inheritable handle.
    let server = owned(unsafe {
        CreateNamedPipeW(
            wide.as_ptr(),
            PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            1,
            0,
            PIPE_BUFFER,
            0,
            ptr::null(),
        )
    })?;
    let sa = inheritable();
    // SAFETY: as above; `sa` lives across the call.
    let client = owned(unsafe {
        CreateFileW(
            wide.as_ptr(),
            GENERIC_WRITE,
            0,
            &sa,
            OPEN_EXISTING,
            FILE_ATTRIBUTE_NORMAL,
            ptr::null_mut(),
        )
    })?;
    // The single instance is ours only if the client connected to it is this process.
    let mut client_pid = 0u32;
    // SAFETY: the server handle is open; `client_pid` is a writable u32.
    cvt(unsafe { GetNamedPipeClientProcessId(server.as_raw_handle(), &mut client_pid) })?;
    if client_pid != std::process::id() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("pipe {name} was connected to by process {client_pid}"),
        ));
    }
    // SAFETY: the server end is an overlapped named pipe handle, owned by nothing else
    // once released from `server`.
    let read = unsafe { NamedPipe::from_raw_handle(server.into_raw_handle()) };
    Ok((read, client))
}
