//! The control socket server: binding (through `platform::transport`: a stale socket is
//! replaced, anything else at the path is left alone), accepting within the connection
//! cap, and serving each
//! connection in bounded turns of the event loop: requests are taken only while the
//! connection's unsent replies are within budget, `logs` replies are streamed from the
//! file as the peer reads, followers that fall behind are dropped. Requests themselves
//! are handled in `requests`.

mod conn;
mod requests;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use mio::{Interest, Registry, Token};

use super::Runtime;
use crate::ctl::proto::{ErrorCode, Event, Reply, StreamItem};
use crate::engine::Time;
use crate::platform::transport::{self, Listener};
use crate::platform::Backend;
use crate::proc::UnitId;
use conn::{
    Conn, Follow, NextLine, ReadOutcome, Usage, FOLLOWER_LIMIT, FOLLOWER_SHARE, LOG_BYTES_PER_TURN,
    MAX_CONNECTIONS, REQUESTS_PER_TURN, RUN_HOLD, RUN_LIMIT, TOTAL_BUDGET, TURN_TIME,
};
use requests::encode;
use requests::Waiter;

/// Time the queued connections get together per turn of the loop (each at most
/// `TURN_TIME`): what the loop spends on them before it polls again.
const TICK_TIME: std::time::Duration = std::time::Duration::from_millis(5);
/// Connections accepted per turn of the loop.
const ACCEPT_BATCH: usize = 32;
/// Memory freed by closed connections after which it is handed back to the system.
const TRIM_AFTER: usize = 4 << 20;
/// Buffer memory released after which the heap is trimmed when no connection is left.
const TRIM_WHEN_QUIET: usize = 256 << 10;

pub struct Server {
    listener: Listener,
    conns: HashMap<Token, Conn>,
    /// Unsent output of all connections.
    usage: Usage,
    /// Connections to serve before the loop sleeps (more to do, or resumed).
    work: Vec<Token>,
    /// Some connection waits for the total budget to allow its next request.
    starved: bool,
    /// A refusal at the connection cap was logged (until the count drops again).
    refusal_logged: bool,
    /// Buffer memory released since the last trim.
    freed: usize,
    /// The last accept stopped at its batch size: accept again next turn.
    accept_more: bool,
}

impl Server {
    /// Binds the socket (mode 0600, or 0660 for `control_gid`). A stale socket at the
    /// path is replaced; a live one is `AddrInUse`; anything else there (a regular
    /// file, a directory, a link) is an error and is left as it is.
    pub fn bind(
        path: &Path,
        control_gid: Option<u32>,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Server> {
        let listener = Listener::bind(path, control_gid)?;
        Server::serve(listener, registry, token)
    }

    /// Serves a listener carried across a reexec.
    pub fn adopt(
        handle: u64,
        path: &Path,
        control_gid: Option<u32>,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Server> {
        let listener = Listener::adopt(handle, path, control_gid)?;
        Server::serve(listener, registry, token)
    }

    /// Keeps the listening socket open across a reexec; its handle.
    pub fn carry(&self) -> io::Result<u64> {
        self.listener.carry()
    }

    fn serve(mut listener: Listener, registry: &Registry, token: Token) -> io::Result<Server> {
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(Server {
            listener,
            conns: HashMap::new(),
            usage: Usage::default(),
            work: Vec::new(),
            starved: false,
            refusal_logged: false,
            freed: 0,
            accept_more: false,
        })
    }

    /// Removes the socket file, if it is still the one bound.
    pub fn close(self) {
        self.listener.close();
    }

    /// The connection to close for a new one at the cap: of those not waiting for an
    /// operation's outcome and not streaming, an idle one (nothing unsent, no request
    /// that may be waiting to be read) before one with a request not read yet, before one
    /// with a reply the peer does not take; the least recently active first (then the
    /// oldest).
    fn evictable(&self) -> Option<Token> {
        self.conns
            .iter()
            .filter(|(_, c)| c.waiter.is_none() && !c.is_stream())
            .min_by_key(|(t, c)| {
                let pending = c.readable || c.has_line();
                (!c.out.is_empty(), pending, c.progress, t.0)
            })
            .map(|(t, _)| *t)
    }

    /// Streams (followers and `logs` replies being sent) now.
    fn streams(&self) -> usize {
        self.conns.values().filter(|c| c.is_stream()).count()
    }
}

impl<P: Backend> Runtime<P> {
    fn conn(&mut self, token: Token) -> Option<&mut Conn> {
        self.control.as_mut()?.conns.get_mut(&token)
    }

    /// Accepts pending connections, a batch per turn of the loop: the requests of those
    /// already accepted are read before more arrive (a flood closes idle connections,
    /// not ones whose request was not yet read).
    pub(super) fn accept(&mut self) {
        let now = self.now();
        for _ in 0..ACCEPT_BATCH {
            let Some(server) = self.control.as_mut() else {
                return;
            };
            let (mut stream, rw) = match server.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("control socket accept: {e}");
                    return;
                }
            };
            if server.conns.len() >= MAX_CONNECTIONS {
                if let Some(idle) = server.evictable() {
                    // As a web server drops idle keep-alive connections: the least
                    // recently active one not in an operation or a stream makes room.
                    log::debug!("control socket: at the connection limit, closing the longest idle connection");
                    self.close_conn(idle);
                } else {
                    // A fresh socket's buffer takes one line; then the peer sees EOF.
                    let reply = Reply::error(
                        ErrorCode::Busy,
                        format!("too many connections to sup (limit {MAX_CONNECTIONS}); try again later"),
                    );
                    let _ = stream.write(&encode(&reply));
                    if !server.refusal_logged {
                        server.refusal_logged = true;
                        log::warn!(
                            "control socket: {MAX_CONNECTIONS} connections busy; refusing more"
                        );
                    }
                    continue;
                }
            }
            let Some(server) = self.control.as_mut() else {
                return;
            };
            self.next_token += 1;
            let token = Token(self.next_token);
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_ok()
            {
                let conn = Conn::new(stream, rw, &server.usage, now);
                server.conns.insert(token, conn);
            }
        }
        // More may be pending (edge-triggered: no new event will say so).
        if let Some(server) = self.control.as_mut() {
            server.accept_more = true;
        }
    }

    /// Readiness of a connection (edge-triggered). `hup`: the peer is gone entirely.
    pub(super) fn on_conn_event(
        &mut self,
        token: Token,
        readable: bool,
        writable: bool,
        hup: bool,
    ) {
        if let Some(conn) = self.conn(token) {
            conn.readable |= readable || hup;
            conn.write_blocked &= !writable;
            conn.gone |= hup;
        }
        self.service(token);
    }

    fn close_conn(&mut self, token: Token) {
        let Some(server) = self.control.as_mut() else {
            return;
        };
        let Some(mut conn) = server.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        server.freed += conn.rbuf.capacity();
        if server.conns.len() < MAX_CONNECTIONS {
            server.refusal_logged = false;
        }
    }

    /// Serves the connection on a later turn of the loop (before it sleeps).
    fn queue(&mut self, token: Token) {
        let Some(server) = self.control.as_mut() else {
            return;
        };
        if let Some(conn) = server.conns.get_mut(&token) {
            if !conn.queued {
                conn.queued = true;
                server.work.push(token);
            }
        }
    }

    /// Queues bytes for a peer; they are written when it is served.
    fn send(&mut self, token: Token, bytes: &[u8]) {
        let now = self.now();
        if let Some(conn) = self.conn(token) {
            conn.push(bytes, now);
        }
        self.queue(token);
    }

    /// When the loop must wake for the control socket: now when connections wait to be
    /// served, else the earliest stall or close deadline.
    pub(super) fn control_deadline(&self) -> Option<Time> {
        let server = self.control.as_ref()?;
        if !server.work.is_empty()
            || server.accept_more
            || (server.starved && server.usage.get() < TOTAL_BUDGET)
        {
            return Some(Time::ZERO);
        }
        server.conns.values().filter_map(Conn::deadline).min()
    }

    /// Once per turn of the loop: closes connections past their deadline, resumes those
    /// the total budget held back, and serves the queued ones.
    pub(super) fn control_tick(&mut self) {
        let now = self.now();
        let Some(server) = self.control.as_mut() else {
            return;
        };
        let expired: Vec<Token> = server
            .conns
            .iter()
            .filter(|(_, c)| c.deadline().is_some_and(|at| at <= now))
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            log::debug!("control socket: closing a connection that takes no output");
            self.close_conn(token);
        }
        let Some(server) = self.control.as_mut() else {
            return;
        };
        if server.starved && server.usage.get() < TOTAL_BUDGET {
            server.starved = false;
            let waiting: Vec<Token> = server
                .conns
                .iter()
                .filter(|(_, c)| c.has_line())
                .map(|(t, _)| *t)
                .collect();
            for token in waiting {
                self.queue(token);
            }
        }
        let Some(server) = self.control.as_mut() else {
            return;
        };
        let started = std::time::Instant::now();
        let mut work = std::mem::take(&mut server.work).into_iter();
        for token in work.by_ref() {
            if let Some(conn) = self.conn(token) {
                conn.queued = false;
            }
            self.service(token);
            if started.elapsed() >= TICK_TIME {
                // The rest first next turn, after what the poll brings (a good client).
                break;
            }
        }
        if let Some(server) = self.control.as_mut() {
            let later = std::mem::take(&mut server.work);
            server.work = work.chain(later).collect();
        }
        let Some(server) = self.control.as_mut() else {
            return;
        };
        if std::mem::take(&mut server.accept_more) {
            self.accept();
        }
        let Some(server) = self.control.as_mut() else {
            return;
        };
        server.freed += server.usage.take_released();
        // Also once the clients are gone: what a burst of them left is handed back then.
        let quiet = server.conns.is_empty() && server.freed >= TRIM_WHEN_QUIET;
        if server.freed >= TRIM_AFTER || quiet {
            server.freed = 0;
            transport::trim_heap();
        }
    }

    /// Moves a connection along as far as its budgets allow this turn: writes what is
    /// unsent, continues a `logs` reply, handles requests, reads more of them.
    fn service(&mut self, token: Token) {
        let now = self.now();
        let started = std::time::Instant::now();
        let mut requests = 0usize;
        let mut log_bytes = 0usize;
        loop {
            let Some(server) = self.control.as_mut() else {
                return;
            };
            let total = server.usage.get();
            let Some(conn) = server.conns.get_mut(&token) else {
                return;
            };
            conn.flush(now);
            if conn.closing {
                // Only the last line is left to take.
                if !conn.gone && !conn.out.is_empty() {
                    conn.read();
                }
                if conn.gone || conn.out.is_empty() {
                    self.close_conn(token);
                }
                return;
            }
            if conn.gone && conn.is_stream() {
                self.close_conn(token);
                return;
            }
            if let Some(reply) = conn.logs.as_mut() {
                if !conn.out.is_empty() {
                    // The peer has not taken the last part yet: wait for it.
                    return;
                }
                if log_bytes >= LOG_BYTES_PER_TURN || started.elapsed() >= TURN_TIME {
                    self.queue(token);
                    return;
                }
                log_bytes += conn::LOG_STEP;
                match reply.step(&mut conn.out) {
                    Ok(false) => {}
                    Ok(true) => self.logs_reply_done(token),
                    Err(e) => {
                        log::warn!("control socket: reading a log for `logs`: {e}");
                        self.close_conn(token);
                        return;
                    }
                }
                continue;
            }
            if conn.is_stream() {
                // A follower sends nothing; reading only notices its end.
                conn.read();
                if conn.gone {
                    self.close_conn(token);
                }
                return;
            }
            if conn.waiter.is_none() && conn.has_line() {
                if !conn.may_take_request(total) {
                    // Nothing more is read either, so the peer is held back too.
                    // Resumed by the output draining, or by the total dropping.
                    server.starved |= conn.out.len() < conn::REPLY_BUDGET;
                    return;
                }
                if requests >= REQUESTS_PER_TURN || started.elapsed() >= TURN_TIME {
                    // The others' turn first.
                    self.queue(token);
                    return;
                }
                match conn.next_line() {
                    NextLine::Line(line) => {
                        requests += 1;
                        conn.progress = now;
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            if let Some(reply) = self.handle_request(token, &line) {
                                self.send_now(token, &encode(&reply));
                            }
                        }
                        continue;
                    }
                    NextLine::Oversized => {
                        let reply = Reply::error(
                            ErrorCode::BadRequest,
                            format!(
                                "request larger than {} bytes",
                                crate::ctl::proto::MAX_REQUEST_BYTES
                            ),
                        );
                        conn.rbuf = Vec::new();
                        conn.push(&encode(&reply), now);
                        conn.closing = true;
                        continue;
                    }
                    NextLine::None => {}
                }
            }
            match conn.read() {
                ReadOutcome::Data => continue,
                ReadOutcome::Eof if conn.waiter.is_none() && !conn.has_line() => {
                    // Every request is answered: close once the replies are out.
                    conn.closing = true;
                    continue;
                }
                ReadOutcome::Eof | ReadOutcome::WouldBlock | ReadOutcome::Full => {
                    if conn.gone && conn.waiter.is_some() {
                        // Nobody will read the outcome; the operation goes on.
                        self.close_conn(token);
                    }
                    return;
                }
            }
        }
    }

    /// Queues bytes during `service` (which flushes them next).
    fn send_now(&mut self, token: Token, bytes: &[u8]) {
        let now = self.now();
        if let Some(conn) = self.conn(token) {
            conn.push(bytes, now);
        }
    }

    /// The last part of a `logs` reply is queued: a follower's held lines follow it.
    fn logs_reply_done(&mut self, token: Token) {
        let now = self.now();
        let Some(conn) = self.conn(token) else { return };
        let Some(mut reply) = conn.logs.take() else {
            return;
        };
        if reply.lost {
            drop_follower(conn, now, FOLLOWER_LIMIT);
        } else {
            conn.out.append(&mut reply.held);
        }
    }

    /// Appends a stream line to a follower; one that does not keep up is dropped with
    /// a final `dropped` item.
    fn push_stream(&mut self, token: Token, line: &[u8]) {
        let now = self.now();
        let Some(server) = self.control.as_mut() else {
            return;
        };
        let over_total = server.usage.get() > TOTAL_BUDGET;
        let Some(conn) = server.conns.get_mut(&token) else {
            return;
        };
        if conn.closing || conn.gone {
            return;
        }
        let limit = if matches!(conn.follow, Follow::Run(_)) {
            RUN_LIMIT
        } else if over_total {
            FOLLOWER_SHARE
        } else {
            FOLLOWER_LIMIT
        };
        if let Some(reply) = conn.logs.as_mut() {
            // The reply is still being sent: hold the line until it is out.
            if !reply.lost {
                reply.held.push(line);
                if reply.held.len() > limit {
                    reply.held.clear();
                    reply.lost = true;
                }
            }
            return;
        }
        conn.push(line, now);
        if conn.out.len() > FOLLOWER_SHARE {
            conn.flush(now);
        }
        if conn.out.len() > limit {
            drop_follower(conn, now, limit);
        }
        self.queue(token);
    }

    fn tokens_following(&self, pred: impl Fn(&Follow) -> bool) -> Vec<Token> {
        match &self.control {
            Some(server) => server
                .conns
                .iter()
                .filter(|(_, c)| pred(&c.follow))
                .map(|(t, _)| *t)
                .collect(),
            None => Vec::new(),
        }
    }

    pub(super) fn broadcast_event(&mut self, ev: Event) {
        self.metrics.events += 1;
        let tokens = self.tokens_following(|f| *f == Follow::Events);
        if tokens.is_empty() {
            return;
        }
        let line = encode(&StreamItem::Event(ev));
        for t in tokens {
            self.push_stream(t, &line);
        }
    }

    /// Keeps a connection open across a reexec (the one that asked for it); its handle.
    pub(super) fn carry_conn(&mut self, token: Token) -> io::Result<u64> {
        match self.conn(token) {
            Some(conn) => conn.stream.carry(),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    /// In a new image after a reexec: answers the requester on its carried connection
    /// (a short reply written at once; then the connection is closed).
    pub(super) fn answer_carried(&mut self, handle: u64, reply: &Reply) -> io::Result<()> {
        let mut conn = crate::platform::transport::Connection::adopt(handle)?;
        conn.write_all(&encode(reply))
    }

    /// Answers a request that waited (reexec) on its connection.
    pub(super) fn answer(&mut self, token: Token, reply: &Reply) {
        self.send(token, &encode(reply));
    }

    /// Someone follows this unit's log (or waits for it: `run --wait`).
    pub(super) fn wants_tap(&self, unit: UnitId) -> bool {
        self.control.as_ref().is_some_and(|s| {
            s.conns
                .values()
                .any(|c| c.follow == Follow::Logs(unit) || c.follow == Follow::Run(unit))
        })
    }

    /// A client waiting for the unit (`run --wait`) has more unsent output than it
    /// should: the unit's pipes wait for it.
    pub(super) fn run_follower_full(&self, unit: UnitId) -> bool {
        self.control.as_ref().is_some_and(|s| {
            s.conns
                .values()
                .any(|c| c.follow == Follow::Run(unit) && !c.gone && c.out.len() > RUN_HOLD)
        })
    }

    /// Pipes that waited for a `run --wait` client are read again once it took its
    /// output (or left).
    pub(super) fn unpark_followed(&mut self) {
        if self.follow_parked.is_empty() {
            return;
        }
        let parked = std::mem::take(&mut self.follow_parked);
        for (unit, token) in parked {
            if !self.pipes.contains_key(&token) {
                continue;
            }
            if self.run_follower_full(unit) {
                self.follow_parked.push((unit, token));
            } else if !self.pending_reads.contains(&token) {
                self.pending_reads.push(token);
            }
        }
    }

    /// Ends every stream about the unit (it is going away): followers of its log get a
    /// last `dropped` item saying so, and their connections close.
    pub(super) fn end_unit_streams(&mut self, unit: UnitId) {
        let tokens = self.tokens_following(|f| *f == Follow::Logs(unit) || *f == Follow::Run(unit));
        let name = self.engine.unit(unit).name.to_string();
        let line = encode(&StreamItem::Dropped(format!("{name} was removed")));
        self.end_streams(&tokens, &line);
    }

    /// Sends each stream its last item; their connections close once it is out.
    fn end_streams(&mut self, tokens: &[Token], last: &[u8]) {
        for &t in tokens {
            self.push_stream(t, last);
            if let Some(conn) = self.conn(t) {
                conn.follow = Follow::None;
                conn.closing = true;
            }
            self.queue(t);
        }
    }

    /// A run waited for (`run --wait`) ended: its last output goes out, then the end
    /// (`run_end`), and the connection closes.
    pub(super) fn finish_runs(&mut self, unit: UnitId, end: &crate::ctl::proto::RunEnd) {
        let tokens = self.tokens_following(|f| *f == Follow::Run(unit));
        if tokens.is_empty() {
            return;
        }
        self.drain_output(unit);
        let line = encode(&StreamItem::RunEnd(end.clone()));
        self.end_streams(&tokens, &line);
    }

    pub(super) fn forward_log(&mut self, unit: UnitId, bytes: &[u8]) {
        let tokens = self.tokens_following(|f| *f == Follow::Logs(unit) || *f == Follow::Run(unit));
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = encode(&StreamItem::Line(
                String::from_utf8_lossy(line).into_owned(),
            ));
            for &t in &tokens {
                self.push_stream(t, &line);
            }
        }
    }
}

/// Ends a follower's stream: what is queued beyond the line being written is dropped
/// and replaced by a `dropped` item; the connection closes once that is out (or after
/// a grace period).
fn drop_follower(conn: &mut Conn, now: Time, limit: usize) {
    conn.out.truncate_to_line();
    let marker = StreamItem::Dropped(format!(
        "follower fell more than {} KiB behind; stream ended",
        limit >> 10
    ));
    conn.progress = now;
    conn.out.push(&encode(&marker));
    conn.closing = true;
    conn.follow = Follow::None;
    log::warn!("dropped a slow control-socket follower");
}
