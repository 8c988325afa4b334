//! The read end of a unit's output pipe as the loop sees it: a non-blocking fd that mio
//! registers and the output layer reads.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Pipe capacity asked for the output of a chatty unit (fewer wakeups); best effort.
const LARGE_PIPE: libc::c_int = 1 << 20;

#[derive(Debug)]
pub struct PipeReader(OwnedFd);

impl PipeReader {
    /// `fd` must already be non-blocking.
    pub fn new(fd: OwnedFd) -> PipeReader {
        PipeReader(fd)
    }
}

impl io::Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a live, exclusively borrowed region of `buf.len()` writable
        // bytes for the whole call, and the fd is owned by `self`, so it stays open.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl mio::event::Source for PipeReader {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

impl super::super::OutputPipe for PipeReader {
    fn carry(&self) -> io::Result<u64> {
        crate::platform::handover::carry_fd(self.0.as_raw_fd())
    }

    fn adopt(handle: u64) -> io::Result<PipeReader> {
        crate::platform::handover::adopt_fd(handle).map(PipeReader)
    }

    fn grow(&self) {
        // SAFETY: F_SETPIPE_SZ on a pipe fd we own; failure (e.g. above the unprivileged
        // maximum) only leaves the size as it was.
        unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETPIPE_SZ, LARGE_PIPE) };
    }
}
