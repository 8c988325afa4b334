//! The control socket server: non-blocking connections in the event loop, newline-delimited
//! JSON requests (protocol v1, `ctl::proto`), peer credentials, blocking operations as
//! waiters completed by state changes, and event/log followers with bounded buffers.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use super::{status, Runtime};
use crate::ctl::proto::{
    parse_request, write_status_reply, ErrorCode, Event, Fields, OpResult, Reply, Request,
    StreamItem, MAX_REQUEST_BYTES,
};
use crate::engine::{signal_name, Input, State, Time};
use crate::output::tail_lines;

/// A follower whose unsent output exceeds this is dropped.
const FOLLOWER_BUFFER_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, PartialEq, Eq)]
enum Follow {
    None,
    Events,
    Logs(usize),
}

struct Waiter {
    op: Op,
    /// (unit, its `since` when the request was made)
    units: Vec<(usize, Time)>,
}

struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// May use mutating commands.
    rw: bool,
    follow: Follow,
    waiter: Option<Waiter>,
    /// Close once `wbuf` is flushed.
    closing: bool,
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    conns: HashMap<Token, Conn>,
    control_gid: Option<u32>,
}

impl Server {
    /// Binds the socket (mode 0600, or 0660 for `control_gid`), replacing a stale one.
    pub fn bind(
        path: &Path,
        control_gid: Option<u32>,
        registry: &Registry,
        token: Token,
    ) -> io::Result<Server> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)?;
            }
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another sup is already serving this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let mode = if control_gid.is_some() { 0o117 } else { 0o177 };
        // SAFETY: umask only changes this process's file-creation mask; it is restored
        // right after bind, and sup is single-threaded so nothing else creates files meanwhile.
        let old = unsafe { libc::umask(mode) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let mut listener = bound?;
        if let Some(gid) = control_gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            conns: HashMap::new(),
            control_gid,
        })
    }

    pub fn close(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// May this peer mutate? Root, sup's own user, and members of the control group.
fn peer_may_write(stream: &UnixStream, control_gid: Option<u32>) -> bool {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid out-pointers of the sizes getsockopt expects for
    // SO_PEERCRED on a connected Unix socket we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return false;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if cred.uid == 0 || cred.uid == unsafe { libc::geteuid() } {
        return true;
    }
    let Some(gid) = control_gid else { return false };
    if cred.gid == gid {
        return true;
    }
    // Supplementary groups of the peer process.
    std::fs::read_to_string(format!("/proc/{}/status", cred.pid))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Groups:"))
                .map(|l| l[7..].split_whitespace().any(|g| g.parse() == Ok(gid)))
        })
        .unwrap_or(false)
}

fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    (1..32).find(|&n| signal_name(n) == name)
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

impl Runtime {
    pub(super) fn accept(&mut self) {
        loop {
            let Some(server) = self.control.as_mut() else {
                return;
            };
            match server.listener.accept() {
                Ok((mut stream, _)) => {
                    let rw = peer_may_write(&stream, server.control_gid);
                    self.next_token += 1;
                    let token = Token(self.next_token);
                    let server = self.control.as_mut().expect("checked above");
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_ok()
                    {
                        let conn = Conn {
                            stream,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                            rw,
                            follow: Follow::None,
                            waiter: None,
                            closing: false,
                        };
                        server.conns.insert(token, conn);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("control socket accept: {e}");
                    return;
                }
            }
        }
    }

    pub(super) fn on_conn_event(&mut self, token: Token, readable: bool, writable: bool) {
        if writable {
            self.flush(token);
        }
        if readable {
            self.read_conn(token);
        }
    }

    fn conn(&mut self, token: Token) -> Option<&mut Conn> {
        self.control.as_mut()?.conns.get_mut(&token)
    }

    fn close_conn(&mut self, token: Token) {
        if let Some(server) = self.control.as_mut() {
            if let Some(mut conn) = server.conns.remove(&token) {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
        }
    }

    fn read_conn(&mut self, token: Token) {
        let mut eof = false;
        let mut oversized = false;
        if let Some(conn) = self.conn(token) {
            let mut buf = [0u8; 8192];
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        conn.rbuf.extend_from_slice(&buf[..n]);
                        if conn.rbuf.len() > MAX_REQUEST_BYTES
                            && !conn.rbuf[..MAX_REQUEST_BYTES].contains(&b'\n')
                        {
                            oversized = true;
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        } else {
            return;
        }
        if oversized {
            let reply = Reply::error(
                ErrorCode::BadRequest,
                format!("request larger than {MAX_REQUEST_BYTES} bytes"),
            );
            self.send(token, &encode(&reply));
            if let Some(conn) = self.conn(token) {
                conn.rbuf.clear();
                conn.closing = true;
            }
            self.flush(token);
            return;
        }
        self.process_requests(token);
        if eof {
            self.close_conn(token);
        }
    }

    /// Handles complete request lines while the connection is not waiting or streaming.
    fn process_requests(&mut self, token: Token) {
        loop {
            let line = {
                let Some(conn) = self.conn(token) else { return };
                if conn.waiter.is_some() || conn.follow != Follow::None || conn.closing {
                    return;
                }
                let Some(pos) = conn.rbuf.iter().position(|&b| b == b'\n') else {
                    return;
                };
                let line: Vec<u8> = conn.rbuf.drain(..=pos).collect();
                line
            };
            let line = &line[..line.len() - 1];
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if let Some(reply) = self.handle_request(token, line) {
                self.send(token, &encode(&reply));
            }
        }
    }

    fn send(&mut self, token: Token, bytes: &[u8]) {
        if let Some(conn) = self.conn(token) {
            conn.wbuf.extend_from_slice(bytes);
        }
        self.flush(token);
    }

    fn flush(&mut self, token: Token) {
        let mut dead = false;
        let Some(conn) = self.conn(token) else { return };
        while !conn.wbuf.is_empty() {
            match conn.stream.write(&conn.wbuf) {
                Ok(0) => {
                    dead = true;
                    break;
                }
                Ok(n) => {
                    conn.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    dead = true;
                    break;
                }
            }
        }
        if dead || (conn.closing && conn.wbuf.is_empty()) {
            self.close_conn(token);
        }
    }

    /// Appends a stream item to a follower; a follower that does not keep up is dropped
    /// with a final `dropped` item.
    fn push_stream(&mut self, token: Token, item: &StreamItem) {
        let Some(conn) = self.conn(token) else { return };
        if conn.closing {
            return;
        }
        conn.wbuf.extend_from_slice(&encode(item));
        if conn.wbuf.len() > FOLLOWER_BUFFER_LIMIT {
            // Keep the line being written (framing), replace the rest by the marker.
            let keep = conn
                .wbuf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            conn.wbuf.truncate(keep);
            let marker = StreamItem::Dropped(format!(
                "follower fell more than {FOLLOWER_BUFFER_LIMIT} bytes behind; stream ended"
            ));
            conn.wbuf.extend_from_slice(&encode(&marker));
            conn.closing = true;
            conn.follow = Follow::None;
            log::warn!("dropped a slow control-socket follower");
        }
        self.flush(token);
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
        let tokens = self.tokens_following(|f| *f == Follow::Events);
        if tokens.is_empty() {
            return;
        }
        let item = StreamItem::Event(ev);
        for t in tokens {
            self.push_stream(t, &item);
        }
    }

    /// Someone follows this unit's log.
    pub(super) fn wants_tap(&self, unit: usize) -> bool {
        self.control
            .as_ref()
            .is_some_and(|s| s.conns.values().any(|c| c.follow == Follow::Logs(unit)))
    }

    pub(super) fn forward_log(&mut self, unit: usize, bytes: &[u8]) {
        let tokens = self.tokens_following(|f| *f == Follow::Logs(unit));
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let item = StreamItem::Line(String::from_utf8_lossy(line).into_owned());
            for &t in &tokens {
                self.push_stream(t, &item);
            }
        }
    }

    /// Completes blocking start/stop/restart requests whose units reached an outcome.
    pub(super) fn check_waiters(&mut self) {
        let Some(server) = self.control.as_ref() else {
            return;
        };
        let waiting: Vec<Token> = server
            .conns
            .iter()
            .filter(|(_, c)| c.waiter.is_some())
            .map(|(t, _)| *t)
            .collect();
        for token in waiting {
            let Some(waiter) = self.conn(token).and_then(|c| c.waiter.take()) else {
                continue;
            };
            let settled = waiter
                .units
                .iter()
                .all(|&(u, since)| self.outcome(waiter.op, u, since).is_some());
            if !settled {
                if let Some(conn) = self.conn(token) {
                    conn.waiter = Some(waiter);
                }
                continue;
            }
            let results: Vec<OpResult> = waiter
                .units
                .iter()
                .map(|&(u, since)| {
                    self.op_result(u, self.outcome(waiter.op, u, since).unwrap_or(false))
                })
                .collect();
            let reply = self.results_reply(results);
            self.send(token, &encode(&reply));
            self.process_requests(token);
        }
    }

    /// `Some(success)` once the unit reached an outcome for `op`, else `None`.
    fn outcome(&self, op: Op, unit: usize, since: Time) -> Option<bool> {
        let u = self.engine.unit(unit);
        let changed = u.since != since;
        match (op, u.state) {
            (_, State::Invalid) => Some(false),
            (Op::Stop, State::Stopped | State::Failed | State::Inactive | State::Done) => {
                Some(true)
            }
            (Op::Stop, _) => None,
            (Op::Restart, _) if !changed => None,
            (_, State::Running | State::Done) => Some(true),
            (_, State::Failed | State::Stopped | State::Inactive) => Some(false),
            _ => None,
        }
    }

    fn op_result(&self, unit: usize, ok: bool) -> OpResult {
        let u = self.engine.unit(unit);
        let message = match (u.reason, &u.message) {
            (_, Some(m)) => Some(m.clone()),
            (Some(r), None) if !ok => Some(r.as_str().to_string()),
            _ => None,
        };
        OpResult {
            unit: u.name.to_string(),
            ok,
            state: u.state.as_str().to_string(),
            message,
        }
    }

    fn results_reply(&self, results: Vec<OpResult>) -> Reply {
        let ok = results.iter().all(|r| r.ok);
        let mut reply = if ok {
            Reply::ok()
        } else {
            let failed: Vec<String> = results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.unit.clone())
                .collect();
            Reply::error(ErrorCode::Failed, format!("failed: {}", failed.join(", ")))
        };
        reply.results = Some(results);
        reply
    }

    fn resolve_units(&self, names: &[String]) -> Result<Vec<usize>, Reply> {
        names
            .iter()
            .map(|n| {
                self.engine.lookup(n).ok_or_else(|| {
                    Reply::error(ErrorCode::NoSuchUnit, format!("no such unit: {n}"))
                })
            })
            .collect()
    }

    /// Why a unit does not count as healthy, or None when it does: a service is running,
    /// ready and not unhealthy; a oneshot has run to completion (`done`).
    fn not_healthy(&self, u: usize) -> Option<String> {
        let unit = self.engine.unit(u);
        let oneshot = unit
            .spec
            .as_ref()
            .is_some_and(|s| s.kind == crate::unit::UnitType::Oneshot);
        let health = self.probes.health(u);
        let why = match unit.state {
            State::Done if oneshot => return None,
            State::Running if oneshot => "running, not done".to_string(),
            State::Running if !unit.ready() => "running, not ready".to_string(),
            State::Running if health == super::health::Health::Unhealthy => "unhealthy".into(),
            State::Running => return None,
            state => match unit.reason {
                Some(r) => format!("{state}: {r}"),
                None => state.to_string(),
            },
        };
        Some(format!("{} ({why})", unit.name))
    }

    /// `health [UNIT...]`: the named units, or without names every enabled unit (and
    /// every unit file that is invalid), must be healthy; the reply names those that are not.
    fn health(&self, req: &Request) -> Result<Reply, Reply> {
        let ids = if req.units.is_empty() {
            (0..self.engine.units().len())
                .filter(|&u| {
                    let unit = self.engine.unit(u);
                    unit.spec.as_ref().map_or(true, |s| s.enabled)
                })
                .collect()
        } else {
            self.resolve_units(&req.units)?
        };
        let failing: Vec<String> = ids
            .into_iter()
            .filter_map(|u| self.not_healthy(u))
            .collect();
        let mut reply = Reply::ok();
        reply.healthy = Some(failing.is_empty());
        if !failing.is_empty() {
            reply.not_healthy = Some(Box::new(failing));
        }
        Ok(reply)
    }

    fn one_unit(&self, req: &Request) -> Result<usize, Reply> {
        match req.units.as_slice() {
            [name] => self.resolve_units(std::slice::from_ref(name)).map(|v| v[0]),
            _ => Err(Reply::error(
                ErrorCode::BadRequest,
                format!("{} takes exactly one unit", req.cmd),
            )),
        }
    }

    /// One request; `None` when the reply is deferred (waiter) or already queued (status).
    fn handle_request(&mut self, token: Token, line: &[u8]) -> Option<Reply> {
        let req = match parse_request(line) {
            Ok(req) => req,
            Err(reply) => return Some(reply),
        };
        let rw = self.conn(token).is_some_and(|c| c.rw);
        let read_only = req.is_read_only();
        if !read_only && !rw {
            return Some(Reply::error(ErrorCode::PermissionDenied, format!("{}: permission denied (only root, sup's user and the control group may change state)", req.cmd)));
        }
        let result = match req.cmd.as_str() {
            "status" => self.resolve_units(&req.units).map(|ids| {
                self.send_status(token, &ids, req.units.is_empty(), Fields::requested(&req));
                None
            }),
            "start" | "stop" | "restart" => self.start_stop(token, &req),
            "kill" => self.kill(&req).map(Some),
            "logs" => self.logs(token, &req).map(Some),
            "events" => {
                if let Some(conn) = self.conn(token) {
                    conn.follow = Follow::Events;
                }
                Ok(Some(Reply::ok()))
            }
            "health" => self.health(&req).map(Some),
            "shutdown" | "poweroff" | "reboot" | "halt" => {
                log::info!("{} requested over the control socket", req.cmd);
                self.request_end(super::init::action_for(&req.cmd));
                Ok(Some(Reply::ok()))
            }
            "pause" | "resume" => self
                .one_unit(&req)
                .and_then(|u| self.pause_resume(u, req.cmd == "pause"))
                .map(Some),
            "reload" | "run" | "scale" | "metrics" => Err(Reply::error(
                ErrorCode::BadRequest,
                format!("{}: not supported yet by this build of sup", req.cmd),
            )),
            other => Err(Reply::error(
                ErrorCode::BadRequest,
                format!("unknown command {other:?}"),
            )),
        };
        match result {
            Ok(reply) => reply,
            Err(reply) => Some(reply),
        }
    }

    /// Writes the reply to `status` straight into the connection's buffer: `fields` of
    /// the named units, or with `all` of every unit, plus the slices.
    fn send_status(&mut self, token: Token, ids: &[usize], all: bool, fields: Fields) {
        let Some(mut buf) = self.conn(token).map(|c| std::mem::take(&mut c.wbuf)) else {
            return;
        };
        let slices = if all {
            self.slice_statuses()
        } else {
            Vec::new()
        };
        let count = if all {
            self.engine.units().len()
        } else {
            ids.len()
        };
        // About 320 bytes per unit: reserve once instead of growing through the copies.
        buf.reserve(count * 384 + 64);
        let units =
            (0..count).map(|n| status::unit_status(self, if all { n } else { ids[n] }, fields));
        write_status_reply(&mut buf, units, (!slices.is_empty()).then_some(&slices[..]));
        if let Some(conn) = self.conn(token) {
            conn.wbuf = buf;
        }
        self.flush(token);
    }

    fn start_stop(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        if req.units.is_empty() {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                format!("{} needs at least one unit", req.cmd),
            ));
        }
        let ids = self.resolve_units(&req.units)?;
        let op = match req.cmd.as_str() {
            "start" => Op::Start,
            "stop" => Op::Stop,
            _ => Op::Restart,
        };
        let before: Vec<(usize, Time)> = ids
            .iter()
            .map(|&u| (u, self.engine.unit(u).since))
            .collect();
        for &u in &ids {
            self.feed(match op {
                Op::Start => Input::Start(u),
                Op::Stop => Input::Stop(u),
                Op::Restart => Input::Restart(u),
            });
        }
        if req.no_block {
            let results = ids
                .iter()
                .map(|&u| self.op_result(u, self.engine.unit(u).state != State::Invalid))
                .collect();
            return Ok(Some(self.results_reply(results)));
        }
        if let Some(conn) = self.conn(token) {
            conn.waiter = Some(Waiter { op, units: before });
        }
        self.check_waiters();
        Ok(None)
    }

    fn kill(&mut self, req: &Request) -> Result<Reply, Reply> {
        let u = self.one_unit(req)?;
        let name = req.signal.as_deref().unwrap_or("SIGTERM");
        let sig = parse_signal(name).ok_or_else(|| {
            Reply::error(ErrorCode::BadRequest, format!("unknown signal {name:?}"))
        })?;
        let unit = self.engine.unit(u);
        let Some(pid) = unit.pid else {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!("{} has no running process", unit.name),
            ));
        };
        let pgid = unit.pgid.unwrap_or(pid);
        self.kill_unit_fx(u, pgid, sig);
        Ok(self.results_reply(vec![self.op_result(u, true)]))
    }

    fn logs(&mut self, token: Token, req: &Request) -> Result<Reply, Reply> {
        let u = self.one_unit(req)?;
        let Some(path) = self.log_path(u) else {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!(
                    "{}: output is not kept in a log file (see its log key)",
                    self.engine.unit(u).name
                ),
            ));
        };
        let lines = tail_lines(&path, req.lines.unwrap_or(50))
            .map_err(|e| Reply::error(ErrorCode::Failed, format!("{}: {e}", path.display())))?;
        if req.follow {
            if let Some(conn) = self.conn(token) {
                conn.follow = Follow::Logs(u);
            }
        }
        let mut reply = Reply::ok();
        reply.lines = Some(lines);
        Ok(reply)
    }
}
