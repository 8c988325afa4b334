//! sup's own stdout/stderr as a destination for unit lines (`log: inherit`), Windows:
//! plain writes to the standard handles, which wait while the stream is full (a
//! console or pipe cannot be asked whether a write would block).

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::windows::io::{AsRawHandle, FromRawHandle, RawHandle};
use std::time::Duration;

/// Lines are written in pieces of at most this size, as on Linux (`PIPE_BUF`).
pub const ATOMIC_WRITE: usize = 4096;

/// Whether [`try_write`] returns [`Attempt::Later`] instead of waiting for a full
/// stream: false here, writes wait.
pub const NEVER_BLOCKS: bool = false;

/// A stream lines are written to: sup's stdout or stderr, or (tests) a pipe.
#[derive(Clone, Copy, Debug)]
pub struct Out(Which);

#[derive(Clone, Copy, Debug)]
enum Which {
    Stdout,
    Stderr,
    /// Borrowed: its owner keeps it open while it is used.
    Handle(RawHandle),
}

impl Out {
    pub fn stdout() -> Out {
        Out(Which::Stdout)
    }

    pub fn stderr() -> Out {
        Out(Which::Stderr)
    }

    /// The write end of a test pipe.
    pub fn of_pipe(w: &super::pipe::Writer) -> Out {
        Out(Which::Handle(w.as_file().as_raw_handle()))
    }

    fn handle(self) -> RawHandle {
        match self.0 {
            Which::Stdout => io::stdout().as_raw_handle(),
            Which::Stderr => io::stderr().as_raw_handle(),
            Which::Handle(h) => h,
        }
    }
}

/// What one write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Written(usize),
    /// The stream cannot take it now: try again later (not returned here).
    Later,
    /// The stream failed (closed, no stdout): what was not written is lost.
    Failed,
}

/// One write of `piece`, straight to the handle (not through std's line buffer).
pub fn try_write(out: Out, piece: &[u8]) -> Attempt {
    let handle = out.handle();
    if handle.is_null() {
        return Attempt::Failed;
    }
    // SAFETY: `handle` is sup's standard handle (owned by the process, never closed by
    // sup) or a pipe its owner keeps open while `out` is used; ManuallyDrop keeps this
    // borrowed File from closing it.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_handle(handle) });
    let mut retries = 0;
    loop {
        match file.write(piece) {
            Ok(n) => return Attempt::Written(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted && retries < 8 => retries += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Attempt::Later,
            Err(_) => return Attempt::Failed,
        }
    }
}

/// Writes wait here, so the stream always counts as writable.
pub fn wait_writable(_out: Out, _timeout: Duration) -> bool {
    true
}
