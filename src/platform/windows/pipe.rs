//! Anonymous pipes whose read end never blocks, Windows (`CreatePipe`; a read first asks
//! `PeekNamedPipe` what is there, and reads only that): what the log pipeline's tests
//! and benchmark read from. (The runtime's unit pipes are overlapped named pipes that
//! mio registers.) `PIPE_NOWAIT` is not used for reads: Wine reports an empty pipe in
//! that mode as end of file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::windows::io::{AsRawHandle, FromRawHandle};
use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{ERROR_BROKEN_PIPE, HANDLE};
use windows_sys::Win32::System::Pipes::{
    CreatePipe, PeekNamedPipe, SetNamedPipeHandleState, NAMED_PIPE_MODE, PIPE_NOWAIT, PIPE_WAIT,
};

/// The pipe buffer asked for: writers in tests and the benchmark put up to about 1 MiB
/// in before the reader drains it, in the same thread.
const CAPACITY: usize = 4 << 20;

/// The read end: reads return `WouldBlock` when the pipe is empty, `Ok(0)` once every
/// write end is closed and the pipe is drained.
#[derive(Debug)]
pub struct Reader(File);

/// The write end (blocking unless told otherwise).
#[derive(Debug)]
pub struct Writer(File);

fn set_mode(f: &File, mode: NAMED_PIPE_MODE) -> io::Result<()> {
    // SAFETY: `f` owns an open pipe handle; `mode` outlives the call; the two optional
    // pointers are null (not changed).
    let ok = unsafe {
        SetNamedPipeHandleState(f.as_raw_handle() as HANDLE, &mode, ptr::null(), ptr::null())
    };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A new pipe, neither end inheritable; reads never wait.
pub fn pipe() -> io::Result<(Reader, Writer)> {
    let (mut rd, mut wr): (HANDLE, HANDLE) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: both out-pointers are valid for writes; no security attributes (handles
    // not inherited); CAPACITY fits in u32.
    let ok = unsafe { CreatePipe(&mut rd, &mut wr, ptr::null(), CAPACITY as u32) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CreatePipe succeeded: both handles are open and owned by nobody else.
    let (rd, wr) = unsafe { (File::from_raw_handle(rd), File::from_raw_handle(wr)) };
    Ok((Reader(rd), Writer(wr)))
}

/// Bytes waiting in the pipe; `None` once the write ends are closed and it is drained.
fn available(f: &File) -> io::Result<Option<usize>> {
    let mut avail = 0u32;
    // SAFETY: `f` owns an open pipe handle; no buffer is passed (null, size 0), and
    // `avail` is valid for the call to fill; the other out-pointers are null (unused).
    let ok = unsafe {
        PeekNamedPipe(
            f.as_raw_handle() as HANDLE,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            &mut avail,
            ptr::null_mut(),
        )
    };
    if ok != 0 {
        return Ok(Some(avail as usize));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_BROKEN_PIPE as i32) {
        Ok(None)
    } else {
        Err(e)
    }
}

fn read_nowait(f: &File, buf: &mut [u8]) -> io::Result<usize> {
    match available(f)? {
        None => Ok(0),
        Some(0) if !buf.is_empty() => Err(io::Error::from(io::ErrorKind::WouldBlock)),
        Some(n) => {
            let mut f = f;
            // At least `n` bytes are there: the read returns without waiting.
            let want = n.min(buf.len());
            match f.read(&mut buf[..want]) {
                Err(e) if e.raw_os_error() == Some(ERROR_BROKEN_PIPE as i32) => Ok(0),
                other => other,
            }
        }
    }
}

impl Reader {
    /// Anonymous pipes cannot be waited on: `Unsupported` (read until `WouldBlock`).
    pub fn wait_readable(&self, _timeout: Option<Duration>) -> io::Result<bool> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "anonymous pipes cannot be waited on",
        ))
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_nowait(&self.0, buf)
    }
}

impl Read for &Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_nowait(&self.0, buf)
    }
}

impl Writer {
    /// Makes writes to a full pipe return at once (`PIPE_NOWAIT`) instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        set_mode(&self.0, if on { PIPE_NOWAIT } else { PIPE_WAIT })
    }

    /// The buffer was sized at creation ([`CAPACITY`]): `bytes` up to that is granted.
    pub fn set_capacity(&self, bytes: usize) -> io::Result<usize> {
        if bytes <= CAPACITY {
            Ok(CAPACITY)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("pipe buffers are sized at creation ({CAPACITY} bytes)"),
            ))
        }
    }

    pub(super) fn as_file(&self) -> &File {
        &self.0
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
