//! sup's own stdout/stderr as a destination for unit lines (`log: inherit`), Linux:
//! writes that never block (`poll(POLLOUT)` with no wait first), each at most
//! `PIPE_BUF` bytes so that a pipe takes it whole or not at all.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Longest write that a pipe takes atomically (POSIX `PIPE_BUF`): lines written in
/// pieces of at most this size are never interleaved with other writers of the pipe.
pub const ATOMIC_WRITE: usize = libc::PIPE_BUF;

/// Whether [`try_write`] returns [`Attempt::Later`] instead of waiting for a full
/// stream (true here: the caller keeps the lines and retries).
pub const NEVER_BLOCKS: bool = true;

/// A stream lines are written to: sup's stdout or stderr, or (tests) a pipe. Borrowed:
/// whoever made it keeps the descriptor open while it is used.
#[derive(Clone, Copy, Debug)]
pub struct Out(RawFd);

impl Out {
    pub fn stdout() -> Out {
        Out(libc::STDOUT_FILENO)
    }

    pub fn stderr() -> Out {
        Out(libc::STDERR_FILENO)
    }

    /// The write end of a test pipe.
    pub fn of_pipe(w: &super::pipe::Writer) -> Out {
        Out(w.as_file().as_raw_fd())
    }
}

/// What one write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Written(usize),
    /// The stream cannot take it now (full): try again when it is writable.
    Later,
    /// The stream failed (closed, EPIPE): what was not written is lost.
    Failed,
}

/// One write of `piece` (at most [`ATOMIC_WRITE`] bytes) if the stream takes it now.
pub fn try_write(out: Out, piece: &[u8]) -> Attempt {
    let mut retries = 0;
    loop {
        let mut pfd = libc::pollfd {
            fd: out.0,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and
        // we pass nfds = 1. A zero timeout never waits.
        let r = unsafe { libc::poll(&mut pfd, 1, 0) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted && retries < 8 {
                retries += 1;
                continue;
            }
            return Attempt::Failed;
        }
        if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            return Attempt::Failed;
        }
        if r == 0 {
            return Attempt::Later;
        }
        // SAFETY: `piece` is a live, initialised buffer of `piece.len()` bytes for the
        // duration of the call; the fd is sup's stdout/stderr (never closed by sup) or
        // a pipe its owner keeps open while `out` is used.
        let n = unsafe { libc::write(out.0, piece.as_ptr().cast(), piece.len()) };
        if n >= 0 {
            return Attempt::Written(n as usize);
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::Interrupted if retries < 8 => retries += 1,
            io::ErrorKind::WouldBlock => return Attempt::Later,
            _ => return Attempt::Failed,
        }
    }
}

/// Waits up to `timeout` for the stream to be writable (only at exit, outside the event
/// loop); true when it is.
pub fn wait_writable(out: Out, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: out.0,
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call; nfds = 1.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    r > 0 && pfd.revents & libc::POLLOUT != 0
}
