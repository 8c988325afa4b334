//! Unit output: per-unit stdout/stderr pipes → complete, timestamped lines → a sink
//! (a rotated file, sup's own stdout/stderr with a `NAME: ` prefix, or nowhere).
//! Built for throughput: one clock read and one write per batch of lines, never a
//! blocking pipe read.
//!
//! Submodules: `lines` (newline scan, line formatting), `sink` (rotating file, console),
//! `time` (RFC 3339, cached line timestamps), `tail` (`supctl logs`).
//!
//! Sink write errors (disk full, a closed stdout) never reach the caller: the lines
//! are dropped and counted ([`UnitOutput::dropped_bytes`]), so a full disk cannot
//! make the runtime close a unit's pipe (which would kill the unit with SIGPIPE).
//! Only pipe read errors are returned.
//!
//! # For the event loop
//!
//! - Call [`UnitOutput::read_from`] on every readiness event with a budget of about
//!   1 MiB (8 reads of [`READ_CHUNK`]); when it returns `more: true`, requeue the fd
//!   and serve other units first rather than looping on one busy unit.
//! - After `eof: true` that stream is finished and flushed: close its read end. When
//!   a unit exits while a stream has not reached EOF (a grandchild still holds the
//!   pipe), call [`UnitOutput::flush_partial`] if no more output is wanted.
//! - The tap receives each formatted line exactly as the sink gets it, head included
//!   (prefix and timestamp): [`UnitOutput::line_head_len`] bytes to skip before the
//!   message, e.g. for `ready: {log: REGEX}`. With `Discard` the tap still gets lines.
//! - Read and format buffers are per thread (128 KiB + up to 2 MiB), not per unit.
//! - `Inherit`: every write to fd 1/2 is at most `PIPE_BUF` bytes of whole lines
//!   (atomic on a pipe, so never mixed with other writers mid-line) and preceded by
//!   `poll(POLLOUT)` with no wait. Lines the stream cannot take now wait in the sink,
//!   and [`UnitOutput::read_from`] then returns `parked: true` without reading the
//!   pipe further (back-pressure on the unit, nothing lost): call it again when the
//!   stream is writable. A stream that fails (closed, EPIPE) has lines dropped, counted
//!   in [`UnitOutput::dropped_bytes`]. SIGPIPE must not kill sup (it is blocked and
//!   ignored): a closed stdout is EPIPE, i.e. a drop.
//!
//! Nothing here touches the OS directly: the unit's pipe is any `io::Read` (the
//! platform's non-blocking pipe read end), and files and console writes go through
//! `platform::fs` and `platform::console`, so the same pipeline runs on every platform.

mod lines;
mod sink;
mod tail;
mod time;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;

pub use lines::MAX_LINE;
pub use tail::{tail_lines, LineSink, LogTail};
pub use time::{rfc3339, Rfc3339, TIMESTAMP_PREFIX_LEN};

use lines::format_chunk;
use sink::{Console, FileSink, Sink};
use time::LineHead;

/// Bytes asked of the pipe per `read(2)`. The read buffer and the formatted output of
/// one read (about 160 KiB with timestamps) still fit the L2 cache together; fewer,
/// larger reads also wake a blocked writer less often. A 1 GiB run used about 0.82 s
/// of sup CPU with 128 KiB reads against 0.93 s with 64 KiB ones (256 KiB: 0.80 s), and
/// a bare C reader 0.97–0.99 s against 1.12–1.15 s, both with the writer in its own
/// process as a unit is. In `bench.rs`, whose writer is a thread of the reading
/// process, 128 KiB reads cost more instead (1.8 against 1.45 s): not understood yet.
pub const READ_CHUNK: usize = 128 * 1024;

/// Where one unit's output goes (resolved by the runtime from the unit's `log` key).
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// Append to `path`; rotate to `path.1` … `path.keep` before exceeding `max_size`.
    File {
        path: PathBuf,
        max_size: u64,
        keep: u32,
    },
    /// Write to sup's own stdout (for the unit's stdout) or stderr (for its stderr),
    /// each line prefixed `prefix` (e.g. `web: `).
    Inherit {
        prefix: String,
    },
    Discard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
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
    /// sup's own stdout/stderr cannot take the lines now (`Inherit`): the pipe was not
    /// read further. Call again once that stream is writable.
    pub parked: bool,
}

/// Read and format buffers, shared by every unit handled on this thread (the event
/// loop): the memory cost is paid once, not per unit.
struct Scratch {
    read: Vec<u8>,
    out: Vec<u8>,
}

/// Formatted lines are collected up to about this size before one write to the sink.
/// Small enough that the buffer is still in the L2 cache when the kernel copies it into
/// the page cache, and the page cache uses small folios: on ext4 a 1 GiB file costs
/// about 0.4 s of system time written in 32–128 KiB writes, 0.6–1.3 s in 512 KiB ones.
/// With [`READ_CHUNK`] reads this means about one write per read.
const WRITE_BATCH: usize = 64 * 1024;

/// Largest formatted-output buffer kept between calls.
const OUT_KEEP: usize = 2 * 1024 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { read: Vec::new(), out: Vec::new() })
    };
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            if s.read.len() < READ_CHUNK {
                s.read = vec![0; READ_CHUNK];
            }
            let r = f(&mut s);
            s.out.clear();
            if s.out.capacity() > OUT_KEEP {
                s.out.shrink_to(OUT_KEEP);
            }
            r
        }
        // Never expected (no re-entry), but cheap to survive.
        Err(_) => f(&mut Scratch {
            read: vec![0; READ_CHUNK],
            out: Vec::new(),
        }),
    })
}

/// One unit's output state: a partial-line buffer per stream and the sink.
pub struct UnitOutput {
    sink: Sink,
    head: LineHead,
    /// Incomplete last line of stdout / stderr (at most [`MAX_LINE`] bytes each).
    partial: [Vec<u8>; 2],
}

impl UnitOutput {
    /// Opens the sink (creating the log file's directory if needed).
    pub fn new(dest: Destination, timestamps: bool) -> io::Result<UnitOutput> {
        let (sink, prefix) = match dest {
            Destination::File {
                path,
                max_size,
                keep,
            } => (
                Sink::File(FileSink::open(path, max_size, keep)?),
                String::new(),
            ),
            Destination::Inherit { prefix } => (Sink::Inherit(Console::default()), prefix),
            Destination::Discard => (Sink::Discard, String::new()),
        };
        Ok(UnitOutput {
            sink,
            head: LineHead::new(prefix.as_bytes(), timestamps),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Reads from `pipe` (non-blocking: `WouldBlock` when empty) until it would block, reaches EOF, or `budget`
    /// bytes were read; writes every complete line to the sink. If `tap` is given, the
    /// exact bytes written to the sink (formatted lines) are also appended to it.
    ///
    /// Reads up to [`READ_CHUNK`] bytes at a time (cache-sized) and writes the
    /// formatted lines as they come, in writes of at least [`WRITE_BATCH`]; to a file
    /// far from rotation those writes end at 64 KiB-aligned offsets, possibly mid-line
    /// (the rest of that line follows in the next write of the same call). Everything
    /// is written before returning, so a file never ends mid-line between calls, and a
    /// rotation splits a write at a line boundary. `budget == 0` means one read.
    /// With [`Destination::Discard`] lines are still formatted into `tap`, if given.
    pub fn read_from<R: io::Read + ?Sized>(
        &mut self,
        stream: Stream,
        pipe: &mut R,
        budget: usize,
        mut tap: Option<&mut Vec<u8>>,
    ) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        if let Sink::Inherit(c) = &mut self.sink {
            if !c.flush(stream.index()) {
                outcome.parked = true;
                return Ok(outcome);
            }
        }
        let budget = budget.max(1);
        let discard = matches!(self.sink, Sink::Discard) && tap.is_none();
        let mut eof = false;
        with_scratch(|s| {
            let result = loop {
                if outcome.bytes >= budget {
                    outcome.more = true;
                    break Ok(());
                }
                if matches!(&self.sink, Sink::Inherit(c) if c.blocked(stream.index())) {
                    // Back-pressure: leave the rest in the unit's pipe.
                    outcome.parked = true;
                    break Ok(());
                }
                let want = READ_CHUNK.min(budget - outcome.bytes);
                let n = match pipe.read(&mut s.read[..want]) {
                    Ok(0) => {
                        self.head.refresh();
                        let partial = &mut self.partial[stream.index()];
                        lines::flush_partial(self.head.bytes(), partial, &mut s.out);
                        outcome.eof = true;
                        eof = true;
                        break Ok(());
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                    Err(e) => break Err(e),
                };
                outcome.bytes += n;
                let partial = &mut self.partial[stream.index()];
                if discard {
                    partial.clear();
                    continue;
                }
                self.head.refresh();
                format_chunk(self.head.bytes(), partial, &s.read[..n], &mut s.out);
                if s.out.len() >= WRITE_BATCH {
                    let k = match &self.sink {
                        Sink::File(f) => f.aligned_cut(s.out.len()),
                        _ => None,
                    };
                    match k {
                        Some(k) => {
                            // Ends mid-line at an aligned file offset; the rest of the
                            // line is written by the next write, before returning.
                            self.emit(stream, &s.out[..k], tap.as_deref_mut());
                            s.out.drain(..k);
                        }
                        None => {
                            self.emit(stream, &s.out, tap.as_deref_mut());
                            s.out.clear();
                        }
                    }
                }
            };
            self.emit(stream, &s.out, tap);
            if eof {
                // The stream is finished: no more appending soon from it.
                if let Sink::File(f) = &mut self.sink {
                    f.release_prealloc();
                }
            }
            // Lines left waiting for sup's stdout/stderr by the last write: the caller
            // must come back when it is writable, even if the pipe is empty or at EOF
            // (nothing else would bring it back: a unit that wrote its last line and
            // went quiet sends no more events).
            if matches!(&self.sink, Sink::Inherit(c) if c.blocked(stream.index())) {
                outcome.parked = true;
            }
            result.map(|()| outcome)
        })
    }

    /// Writes a partial last line of `stream`, if any, with a newline added.
    pub fn flush_partial(&mut self, stream: Stream, tap: Option<&mut Vec<u8>>) -> io::Result<()> {
        let mut out = Vec::new();
        self.flush_partial_into(stream, &mut out, tap);
        Ok(())
    }

    /// Bytes of formatted output lost so far because the sink could not take them
    /// (full disk, rotation failure, sup's stdout full or closed).
    pub fn dropped_bytes(&self) -> u64 {
        match &self.sink {
            Sink::Inherit(c) => c.dropped,
            Sink::File(f) => f.dropped,
            Sink::Discard => 0,
        }
    }

    /// Waits up to `timeout` for sup's stdout/stderr to take `stream`'s waiting lines
    /// (only at exit, outside the event loop); true when it is writable.
    pub fn wait_console(&mut self, stream: Stream, timeout: std::time::Duration) -> bool {
        match &mut self.sink {
            Sink::Inherit(c) => c.wait_writable(stream.index(), timeout),
            _ => true,
        }
    }

    /// While the log file is not taking lines: `log: ERROR, N bytes dropped` (for the
    /// unit's status and an event). None when all is well.
    pub fn problem(&self) -> Option<String> {
        match &self.sink {
            Sink::File(f) => f
                .trouble()
                .map(|t| format!("log: {}, {} bytes dropped", t.error, t.dropped)),
            _ => None,
        }
    }

    /// Bytes before the message in every formatted line: the `Inherit` prefix plus,
    /// with timestamps, [`TIMESTAMP_PREFIX_LEN`] (years 0000–9999).
    pub fn line_head_len(&self) -> usize {
        self.head.prefix_len()
            + if self.head.timestamps() {
                TIMESTAMP_PREFIX_LEN
            } else {
                0
            }
    }

    /// Whether `stream` has an incomplete line pending.
    pub fn has_partial(&self, stream: Stream) -> bool {
        !self.partial[stream.index()].is_empty()
    }

    /// Before sup hands over to a new image of itself: the incomplete last lines (stdout,
    /// stderr), which the new image takes back with [`UnitOutput::resume_partials`], so no
    /// line is cut in two; a log file's preallocated space beyond its end is given back.
    pub fn handover(&mut self) -> [Vec<u8>; 2] {
        if let Sink::File(f) = &mut self.sink {
            f.release_prealloc();
        }
        std::mem::take(&mut self.partial)
    }

    /// The incomplete last lines handed over by the previous image of sup.
    pub fn resume_partials(&mut self, partial: [Vec<u8>; 2]) {
        self.partial = partial;
    }

    fn flush_partial_into(&mut self, stream: Stream, out: &mut Vec<u8>, tap: Option<&mut Vec<u8>>) {
        let partial = &mut self.partial[stream.index()];
        if partial.is_empty() {
            return;
        }
        self.head.refresh();
        lines::flush_partial(self.head.bytes(), partial, out);
        self.emit(stream, out, tap);
        out.clear();
    }

    /// Hands formatted complete lines to the sink and the tap.
    fn emit(&mut self, stream: Stream, out: &[u8], tap: Option<&mut Vec<u8>>) {
        if out.is_empty() {
            return;
        }
        if let Some(tap) = tap {
            tap.extend_from_slice(out);
        }
        match &mut self.sink {
            Sink::File(f) => f.write(out),
            Sink::Inherit(c) => c.write(stream.index(), out),
            Sink::Discard => {}
        }
    }
}
