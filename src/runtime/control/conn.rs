//! One control connection's buffers and their limits: requests read into a bounded
//! buffer, replies and stream items queued in an output buffer whose bytes are counted
//! against a budget shared by all connections, and the socket I/O that moves them.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use super::Waiter;
use crate::ctl::proto::{LinesReplyWriter, MAX_REQUEST_BYTES};
use crate::engine::Time;
use crate::output::{LineSink, LogTail};
use crate::platform::transport::Connection;
use crate::proc::UnitId;

/// Connections served at once; one more is sent a `busy` reply and closed.
pub(super) const MAX_CONNECTIONS: usize = 256;
/// Streams at once: `events` and `logs --follow` subscribers, and `logs` replies still
/// being sent (each holds its log files open).
pub(super) const MAX_STREAMS: usize = 128;
/// A connection takes no new request while this much of its replies is unsent.
pub(super) const REPLY_BUDGET: usize = 1 << 20;
/// Unsent output of all connections together past which only connections with nothing
/// unsent take requests, and followers are held to [`FOLLOWER_SHARE`].
pub(super) const TOTAL_BUDGET: usize = 16 << 20;
/// A follower with more than this unsent is dropped.
pub(super) const FOLLOWER_LIMIT: usize = 1 << 20;
/// ... or with more than this while the total budget is exceeded.
pub(super) const FOLLOWER_SHARE: usize = 64 << 10;
/// `run --wait`: above this much unsent output the unit's pipe is not read (the unit
/// waits for the client, as for a terminal), so its output is never dropped.
pub(super) const RUN_HOLD: usize = 256 << 10;
/// `run --wait`: the bound of a follower's unsent output (the last read at the unit's end
/// can add up to a pipe's capacity beyond [`RUN_HOLD`]).
pub(super) const RUN_LIMIT: usize = 4 << 20;
/// Requests handled for one connection per turn of the loop (then the others' turn).
pub(super) const REQUESTS_PER_TURN: usize = 64;
/// Time one connection may take per turn of the loop (then the others' turn): what a
/// good client may wait for each busy connection.
pub(super) const TURN_TIME: Duration = Duration::from_millis(2);
/// Bytes of log file sent to one `logs` connection per turn of the loop.
pub(super) const LOG_BYTES_PER_TURN: usize = 1 << 20;
/// Bytes of log file turned into reply per step (the reply is built only while the
/// previous step's output has been taken by the socket).
pub(super) const LOG_STEP: usize = 32 * 1024;
/// A connection whose unsent output has not moved for this long is closed.
pub(super) const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection being closed (its last line queued) gets this long to take it.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// The request buffer holds at most one request line of the largest size.
const READ_LIMIT: usize = MAX_REQUEST_BYTES + 1;
/// Capacity an emptied request buffer keeps (a larger one is freed).
const KEEP_CAPACITY: usize = 16 * 1024;

/// Memory held by the output of all connections together, in bytes, and how much was
/// released since it was last handed back to the system.
#[derive(Clone, Debug, Default)]
pub(super) struct Usage(Rc<(Cell<usize>, Cell<usize>)>);

impl Usage {
    pub(super) fn get(&self) -> usize {
        self.0 .0.get()
    }

    /// Bytes released since the last call.
    pub(super) fn take_released(&self) -> usize {
        self.0 .1.replace(0)
    }

    fn change(&self, from: usize, to: usize) {
        let (held, released) = &*self.0;
        held.set((held.get() + to).saturating_sub(from));
        if from > to {
            released.set(released.get() + (from - to));
        }
    }
}

/// Bytes queued for a peer, in chunks of at most [`CHUNK`] bytes (larger ones only as
/// built whole, like a `status` reply): equal blocks are reused by the allocator instead
/// of fragmenting the heap as growing buffers would. Every chunk's capacity is counted in
/// the shared [`Usage`] until it is written or dropped.
#[derive(Debug)]
pub(super) struct OutBuf {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already written.
    pos: usize,
    /// Unsent bytes.
    len: usize,
    usage: Usage,
    /// What this buffer adds to `usage` now.
    counted: usize,
}

/// Size of an output chunk.
const CHUNK: usize = 16 * 1024;

impl OutBuf {
    pub(super) fn new(usage: &Usage) -> OutBuf {
        OutBuf {
            chunks: VecDeque::new(),
            pos: 0,
            len: 0,
            usage: usage.clone(),
            counted: 0,
        }
    }

    /// Unsent bytes.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn count(&mut self, add: usize, sub: usize) {
        let now = self.counted + add - sub;
        self.usage.change(self.counted, now);
        self.counted = now;
    }

    pub(super) fn push(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            if let Some(last) = self.chunks.back_mut() {
                let room = last.capacity() - last.len();
                if room > 0 {
                    let n = room.min(bytes.len());
                    last.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    continue;
                }
            }
            let chunk = Vec::with_capacity(CHUNK);
            self.count(chunk.capacity(), 0);
            self.chunks.push_back(chunk);
        }
    }

    /// Appends a buffer built whole (a small one is copied instead).
    pub(super) fn push_vec(&mut self, buf: Vec<u8>) {
        if buf.len() <= CHUNK / 2 {
            self.push(&buf);
            return;
        }
        self.len += buf.len();
        self.count(buf.capacity(), 0);
        self.chunks.push_back(buf);
    }

    /// Moves all of `other` to the end of this buffer.
    pub(super) fn append(&mut self, other: &mut OutBuf) {
        while let Some(mut chunk) = other.chunks.pop_front() {
            other.count(0, chunk.capacity());
            if other.pos > 0 {
                chunk.drain(..std::mem::take(&mut other.pos));
            }
            self.push_vec(chunk);
        }
        other.len = 0;
    }

    /// Drops what is unsent.
    pub(super) fn clear(&mut self) {
        let n = self.len;
        self.consume(n);
    }

    /// Drops what is unsent except the rest of the line being written (so the peer
    /// still sees whole lines).
    pub(super) fn truncate_to_line(&mut self) {
        let mut rest = Vec::new();
        'chunks: for (i, chunk) in self.chunks.iter().enumerate() {
            let from = if i == 0 { self.pos } else { 0 };
            for &b in &chunk[from..] {
                rest.push(b);
                if b == b'\n' {
                    break 'chunks;
                }
            }
        }
        if rest.last() != Some(&b'\n') {
            rest.clear();
        }
        self.clear();
        self.push(&rest);
    }

    /// Writes as much as the peer takes (several chunks per call).
    fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut slices = [io::IoSlice::new(&[]); 16];
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().take(slices.len()).enumerate() {
            let from = if i == 0 { self.pos } else { 0 };
            slices[i] = io::IoSlice::new(&chunk[from..]);
            n = i + 1;
        }
        let written = w.write_vectored(&slices[..n])?;
        self.consume(written);
        Ok(written)
    }

    /// `n` bytes were written.
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 || self.chunks.front().is_some_and(|c| c.len() == self.pos) {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.len() - self.pos;
            if n < left {
                self.pos += n;
                break;
            }
            n -= left;
            let cap = front.capacity();
            self.chunks.pop_front();
            self.count(0, cap);
            self.pos = 0;
        }
        if self.chunks.is_empty() && self.chunks.capacity() > 64 {
            self.chunks = VecDeque::new();
        }
    }
}

impl Drop for OutBuf {
    fn drop(&mut self) {
        self.clear();
    }
}

/// What reading a connection gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadOutcome {
    /// Some bytes (there may be more).
    Data,
    /// Nothing more for now.
    WouldBlock,
    /// The peer will send nothing more.
    Eof,
    /// The request buffer is full: nothing was read.
    Full,
}

/// What the request buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NextLine {
    Line(Vec<u8>),
    /// No complete line yet.
    None,
    /// A line longer than `MAX_REQUEST_BYTES`.
    Oversized,
}

/// A `logs` reply being streamed from the log files.
pub(super) struct LogsReply {
    tail: LogTail,
    writer: LinesReplyWriter,
    /// `follow`: stream items that arrived while the reply was still being sent.
    pub(super) held: OutBuf,
    /// `held` outgrew the follower limit: the stream ends after the reply.
    pub(super) lost: bool,
}

struct JsonLines<'a> {
    writer: &'a mut LinesReplyWriter,
    out: &'a mut Vec<u8>,
}

impl LineSink for JsonLines<'_> {
    fn start_line(&mut self) {
        self.writer.start_line(self.out);
    }
    fn line_bytes(&mut self, bytes: &[u8]) {
        self.writer.line_bytes(self.out, bytes);
    }
    fn end_line(&mut self) {
        self.writer.end_line(self.out);
    }
}

impl LogsReply {
    /// Starts the reply: its head goes to `out`.
    pub(super) fn new(tail: LogTail, out: &mut OutBuf, usage: &Usage) -> LogsReply {
        let mut writer = LinesReplyWriter::default();
        let mut head = Vec::new();
        writer.begin(&mut head);
        out.push(&head);
        LogsReply {
            tail,
            writer,
            held: OutBuf::new(usage),
            lost: false,
        }
    }

    /// Appends the next part of the reply to `out`; `true` once the reply is complete.
    pub(super) fn step(&mut self, out: &mut OutBuf) -> io::Result<bool> {
        let mut buf = Vec::with_capacity(LOG_STEP + LOG_STEP / 4);
        let mut sink = JsonLines {
            writer: &mut self.writer,
            out: &mut buf,
        };
        let done = self.tail.step(LOG_STEP, &mut sink);
        if let Ok(true) = done {
            self.writer.end(&mut buf);
        }
        out.push_vec(buf);
        done
    }
}

/// What a connection is doing besides taking requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Follow {
    None,
    Events,
    Logs(UnitId),
    /// `run --wait`: the unit's output lines, then its end.
    Run(UnitId),
}

/// One accepted connection.
pub(super) struct Conn {
    pub(super) stream: Connection,
    pub(super) rbuf: Vec<u8>,
    pub(super) out: OutBuf,
    /// May use mutating commands.
    pub(super) rw: bool,
    pub(super) follow: Follow,
    /// A blocking start/stop/restart waiting for its outcome (requests after it wait).
    pub(super) waiter: Option<Waiter>,
    pub(super) logs: Option<Box<LogsReply>>,
    /// The peer sends nothing more (it shut down its writing side).
    pub(super) eof: bool,
    /// The peer is gone (hung up, or a write failed): what is queued for it is dropped,
    /// requests it sent before leaving are still carried out.
    pub(super) gone: bool,
    /// Close once `out` is flushed.
    pub(super) closing: bool,
    /// When `out` last moved (or became non-empty).
    pub(super) progress: Time,
    /// The socket may hold input not read yet (set by readiness, cleared when a read
    /// would block): no read is tried otherwise.
    pub(super) readable: bool,
    /// The last write would have blocked: none is tried until the socket is writable.
    pub(super) write_blocked: bool,
    /// In the server's work list.
    pub(super) queued: bool,
}

impl Conn {
    pub(super) fn new(stream: Connection, rw: bool, usage: &Usage, now: Time) -> Conn {
        Conn {
            stream,
            rbuf: Vec::new(),
            out: OutBuf::new(usage),
            rw,
            follow: Follow::None,
            waiter: None,
            logs: None,
            eof: false,
            gone: false,
            closing: false,
            progress: now,
            readable: true,
            write_blocked: false,
            queued: false,
        }
    }

    /// A stream: a follower, or a `logs` reply still being sent.
    pub(super) fn is_stream(&self) -> bool {
        self.follow != Follow::None || self.logs.is_some()
    }

    /// Queues bytes for the peer.
    pub(super) fn push(&mut self, bytes: &[u8], now: Time) {
        if self.gone {
            return;
        }
        if self.out.is_empty() {
            self.progress = now;
        }
        self.out.push(bytes);
    }

    /// When this connection is closed unless its output moves.
    pub(super) fn deadline(&self) -> Option<Time> {
        if self.out.is_empty() && !self.closing {
            return None;
        }
        let limit = if self.closing {
            CLOSE_GRACE
        } else {
            STALL_TIMEOUT
        };
        Some(self.progress.saturating_add(limit))
    }

    /// May a request be handled now, given the unsent output of all connections?
    pub(super) fn may_take_request(&self, total: usize) -> bool {
        self.out.is_empty() || (self.out.len() < REPLY_BUDGET && total < TOTAL_BUDGET)
    }

    /// Writes unsent output until the socket is full. A failed write marks the peer
    /// gone (and drops the output).
    pub(super) fn flush(&mut self, now: Time) {
        if self.gone {
            self.out.clear();
            return;
        }
        if self.write_blocked {
            return;
        }
        while !self.out.is_empty() {
            match self.out.write_to(&mut self.stream) {
                Ok(0) => {
                    self.gone = true;
                    break;
                }
                Ok(_) => self.progress = now,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return;
                }
                Err(_) => {
                    self.gone = true;
                    break;
                }
            }
        }
        if self.gone {
            self.out.clear();
        }
    }

    /// Reads what the socket holds, up to one request line in the buffer; from a
    /// follower or a connection being closed (whose peer has nothing more to ask) what
    /// arrives is read and dropped.
    pub(super) fn read(&mut self) -> ReadOutcome {
        if self.eof {
            return ReadOutcome::Eof;
        }
        if !self.readable {
            return ReadOutcome::WouldBlock;
        }
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let stream = self.follow != Follow::None || self.closing;
            let room = READ_LIMIT - self.rbuf.len().min(READ_LIMIT);
            if room == 0 && !stream {
                return ReadOutcome::Full;
            }
            let want = if stream {
                scratch.len()
            } else {
                room.min(scratch.len())
            };
            let got = self.stream.read(&mut scratch[..want]);
            match got {
                Ok(0) => {
                    self.eof = true;
                    return ReadOutcome::Eof;
                }
                Ok(n) if stream => {
                    let _ = n;
                }
                Ok(n) => {
                    // Grow to powers of two but never past the limit (no doubling to
                    // twice a request's size).
                    let want = (self.rbuf.len() + n).next_power_of_two().min(READ_LIMIT);
                    self.rbuf
                        .reserve_exact(want.saturating_sub(self.rbuf.len()));
                    self.rbuf.extend_from_slice(&scratch[..n]);
                    return ReadOutcome::Data;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return ReadOutcome::WouldBlock;
                }
                Err(_) => {
                    self.eof = true;
                    self.gone = true;
                    return ReadOutcome::Eof;
                }
            }
        }
    }

    /// The next complete request line (newline removed).
    pub(super) fn next_line(&mut self) -> NextLine {
        match self.rbuf.iter().position(|&b| b == b'\n') {
            Some(pos) if pos <= MAX_REQUEST_BYTES => {
                let mut line: Vec<u8> = self.rbuf.drain(..=pos).collect();
                line.pop();
                if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_CAPACITY / 4 {
                    self.rbuf = Vec::new();
                }
                NextLine::Line(line)
            }
            Some(_) => NextLine::Oversized,
            None if self.rbuf.len() > MAX_REQUEST_BYTES => NextLine::Oversized,
            None => NextLine::None,
        }
    }

    /// Whether the request buffer holds a complete line (or an oversized one).
    pub(super) fn has_line(&self) -> bool {
        self.rbuf.len() > MAX_REQUEST_BYTES || self.rbuf.contains(&b'\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unsent bytes of a buffer.
    fn unsent(o: &OutBuf) -> Vec<u8> {
        let mut all = Vec::new();
        for (i, c) in o.chunks.iter().enumerate() {
            all.extend_from_slice(&c[if i == 0 { o.pos } else { 0 }..]);
        }
        assert_eq!(all.len(), o.len());
        all
    }

    fn capacity(o: &OutBuf) -> usize {
        o.chunks.iter().map(Vec::capacity).sum()
    }

    #[test]
    fn out_buffer_accounts_its_memory() {
        let usage = Usage::default();
        let mut a = OutBuf::new(&usage);
        let mut b = OutBuf::new(&usage);
        a.push(b"one\ntwo\nthree");
        b.push(b"xy");
        assert_eq!(usage.get(), capacity(&a) + capacity(&b));
        a.consume(5);
        assert_eq!(unsent(&a), b"wo\nthree");
        // The rest of the line being written is kept, the others dropped.
        a.truncate_to_line();
        assert_eq!(unsent(&a), b"wo\n");
        a.push_vec(vec![b'4'; CHUNK]);
        assert_eq!(a.chunks.len(), 2);
        assert_eq!(usage.get(), capacity(&a) + capacity(&b));
        b.append(&mut a);
        assert_eq!((a.len(), b.len()), (0, 5 + CHUNK));
        assert_eq!(&unsent(&b)[..5], b"xywo\n");
        assert_eq!(usage.get(), capacity(&b));
        // Written across chunk boundaries, several chunks per call.
        let mut sink = Vec::new();
        b.write_to(&mut sink).unwrap();
        assert_eq!(sink.len(), 5 + CHUNK);
        assert!(b.is_empty() && b.chunks.is_empty());
        assert_eq!(usage.get(), 0);
        for _ in 0..1000 {
            b.push(&[b'x'; 1000]);
        }
        assert_eq!(usage.get(), capacity(&b));
        assert!(capacity(&b) <= 1000 * 1000 + CHUNK);
        b.consume(999_999);
        assert_eq!((unsent(&b), b.chunks.len()), (b"x".to_vec(), 1));
        drop(b);
        assert_eq!(usage.get(), 0);
        assert!(usage.take_released() >= 1000 * 1000);
        assert_eq!(usage.take_released(), 0);
    }

    // `Connection::pair` is Linux's (a Windows named pipe does I/O only once registered
    // with a poller); the bound itself is the same code on both.
    #[cfg(target_os = "linux")]
    #[test]
    fn request_lines_are_bounded() {
        let (a, mut b) = Connection::pair().unwrap();
        let usage = Usage::default();
        let mut conn = Conn::new(a, true, &usage, Time::ZERO);
        b.write_all(b"{\"v\":1}\n\n").unwrap();
        assert_eq!(conn.read(), ReadOutcome::Data);
        assert_eq!(conn.next_line(), NextLine::Line(b"{\"v\":1}".to_vec()));
        assert_eq!(conn.next_line(), NextLine::Line(Vec::new()));
        assert_eq!(conn.next_line(), NextLine::None);
        assert_eq!(conn.read(), ReadOutcome::WouldBlock);
        // No read is tried until readiness says there is input.
        assert!(!conn.readable);
        // A line of exactly MAX_REQUEST_BYTES is accepted; the buffer never holds more
        // than one such line, whatever the peer sends.
        let mut big = vec![b' '; MAX_REQUEST_BYTES];
        big.push(b'\n');
        big.extend_from_slice(&[b'x'; 3 * MAX_REQUEST_BYTES]);
        let mut sent = 0;
        while let Ok(n) = b.write(&big[sent..]) {
            sent += n;
            if sent == big.len() {
                break;
            }
        }
        conn.readable = true;
        while conn.read() == ReadOutcome::Data {}
        assert_eq!(conn.read(), ReadOutcome::Full);
        assert!(conn.rbuf.len() <= READ_LIMIT);
        assert!(
            conn.rbuf.capacity() <= READ_LIMIT,
            "{}",
            conn.rbuf.capacity()
        );
        assert!(matches!(conn.next_line(), NextLine::Line(l) if l.len() == MAX_REQUEST_BYTES));
        while conn.read() == ReadOutcome::Data {}
        assert_eq!(conn.next_line(), NextLine::Oversized);
        drop(b);
        conn.rbuf.clear();
        conn.follow = Follow::Events;
        // On a stream, input is dropped until the end.
        while conn.read() == ReadOutcome::Data {}
        assert_eq!((conn.read(), conn.rbuf.len()), (ReadOutcome::Eof, 0));
    }
}
