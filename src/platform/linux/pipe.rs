//! Anonymous pipes whose read end never blocks, Linux: what the log pipeline reads unit
//! output from, made directly for its tests and benchmark.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The read end: reads return `WouldBlock` when the pipe is empty, `Ok(0)` once every
/// write end is closed and the pipe is drained.
#[derive(Debug)]
pub struct Reader(File);

/// The write end (blocking unless told otherwise).
#[derive(Debug)]
pub struct Writer(File);

/// A new pipe, both ends close-on-exec, the read end non-blocking.
pub fn pipe() -> io::Result<(Reader, Writer)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (rd, wr) = (File::from(rd), File::from(wr));
    set_nonblocking(&rd, true)?;
    Ok((Reader(rd), Writer(wr)))
}

fn set_nonblocking(f: &File, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an open fd; F_SETFL with these flags touches only O_NONBLOCK
    // (pipes have no other settable status flags sup uses).
    let r = unsafe {
        libc::fcntl(
            f.as_raw_fd(),
            libc::F_SETFL,
            if on { libc::O_NONBLOCK } else { 0 },
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Reader {
    /// Waits up to `timeout` (`None`: for ever) until there is something to read or
    /// the write ends are closed.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
        // SAFETY: one valid, initialised pollfd that outlives the call; nfds = 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r > 0)
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
}

impl Read for &Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
}

impl Writer {
    /// Makes writes return `WouldBlock` instead of waiting when the pipe is full.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        set_nonblocking(&self.0, on)
    }

    /// Asks for a pipe buffer of `bytes` (`F_SETPIPE_SZ`); returns the size granted.
    pub fn set_capacity(&self, bytes: usize) -> io::Result<usize> {
        let want = libc::c_int::try_from(bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: fcntl on an open pipe fd; F_SETPIPE_SZ only resizes its buffer.
        let r = unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
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
