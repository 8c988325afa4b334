//! Unit output: per-unit stdout/stderr pipes → complete, timestamped lines → a sink
//! (a rotated file, sup's own stdout/stderr with a `NAME: ` prefix, or nowhere).
//! Built for throughput: one clock read and one write per batch of lines, never a
//! blocking pipe read.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where one unit's output goes (resolved by the runtime from the unit's `log` key).
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// Append to `path`; rotate to `path.1` … `path.keep` before exceeding `max_size`.
    File { path: PathBuf, max_size: u64, keep: u32 },
    /// Write to sup's own stdout (for the unit's stdout) or stderr (for its stderr),
    /// each line prefixed `prefix` (e.g. `web: `).
    Inherit { prefix: String },
    Discard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes read from the pipe in this call.
    pub bytes: usize,
    /// The write end is closed (the partial last line has been flushed).
    pub eof: bool,
    /// The call stopped because `budget` was used up, not because the pipe was empty:
    /// call again later (edge-triggered readiness will not fire again by itself).
    pub more: bool,
}

/// One unit's output state: a partial-line buffer per stream and the sink.
pub struct UnitOutput {}

impl UnitOutput {
    /// Opens the sink (creating the log file's directory if needed).
    pub fn new(dest: Destination, timestamps: bool) -> io::Result<UnitOutput> {
        let _ = (dest, timestamps);
        todo!("helper: output")
    }

    /// Reads from `fd` (non-blocking) until it would block, reaches EOF, or `budget`
    /// bytes were read; writes every complete line to the sink. If `tap` is given, the
    /// exact bytes written to the sink (formatted lines) are also appended to it.
    pub fn read_from(
        &mut self,
        stream: Stream,
        fd: BorrowedFd<'_>,
        budget: usize,
        tap: Option<&mut Vec<u8>>,
    ) -> io::Result<ReadOutcome> {
        let _ = (stream, fd, budget, tap);
        todo!("helper: output")
    }

    /// Writes a partial last line of `stream`, if any, with a newline added.
    pub fn flush_partial(&mut self, stream: Stream, tap: Option<&mut Vec<u8>>) -> io::Result<()> {
        let _ = (stream, tap);
        todo!("helper: output")
    }
}

/// The last `n` lines of the log file at `path` (and, if it has fewer, of `path.1`),
/// oldest first, without newlines. A missing file gives an empty list.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let _ = (path, n);
    todo!("helper: output")
}

/// RFC 3339 in UTC with microseconds: `2026-11-27T13:00:00.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let _ = t;
    todo!("helper: output")
}
