//! `sup --metrics-listen ADDR`: `GET /metrics` over plain HTTP/1.x, served by the event
//! loop itself (a mio listener, no thread). Read-only and bounded: a request head of at
//! most [`MAX_REQUEST`] bytes, arriving within [`REQUEST_TIME`]; the response taken
//! within [`RESPONSE_TIME`]; at most [`MAX_CONNS`] connections (a new one closes the
//! oldest still sending its request). One request per connection (`Connection: close`);
//! what a client sends after its request is read and dropped, up to [`LINGER_BYTES`].
//! Deadlines exist only while a connection is open: an idle endpoint costs no wakeup.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::super::Runtime;
use crate::ctl::prom::CONTENT_TYPE;
use crate::engine::Time;
use crate::platform::Backend;

/// The listener's token (the fixed tokens are below 16).
const LISTEN_TOKEN: Token = Token(5);
/// A request head (request line and headers) larger than this is answered 400.
pub(super) const MAX_REQUEST: usize = 8 * 1024;
/// Time from accepting a connection to having its request head.
pub(super) const REQUEST_TIME: Duration = Duration::from_secs(5);
/// Time for the client to take the response.
pub(super) const RESPONSE_TIME: Duration = Duration::from_secs(10);
/// After the response, time for the client to close (its leftovers are read and
/// dropped, so closing does not reset the connection under the response).
const LINGER_TIME: Duration = Duration::from_secs(2);
/// What a client may still send after the response before it is cut off (read and
/// dropped meanwhile).
const LINGER_BYTES: usize = 64 * 1024;
/// Requests within this long of a rendering are answered with it: however many
/// clients ask, the loop renders at most twice a second for them.
const REUSE_TIME: Duration = Duration::from_millis(500);
/// Connections at once.
pub(super) const MAX_CONNS: usize = 16;
/// Connections accepted per turn of the loop.
const ACCEPT_BATCH: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the request head.
    Reading,
    /// Writing the response.
    Writing,
    /// The response is out and the writing side shut: waiting for the client's close.
    Lingering,
}

struct Conn {
    stream: TcpStream,
    /// The request head so far (at most [`MAX_REQUEST`] bytes).
    head: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    /// Bytes read and dropped after the response.
    dropped: usize,
    phase: Phase,
    accepted: Time,
    deadline: Time,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// `GET /metrics`; `HEAD /metrics` (`head_only`).
    Metrics {
        head_only: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// The answer to a request head received so far, or `None` while it is incomplete.
pub(super) fn parse(buf: &[u8]) -> Option<Answer> {
    let Some(line_end) = buf.iter().position(|&b| b == b'\n') else {
        return (buf.len() >= MAX_REQUEST).then_some(Answer::BadRequest);
    };
    let answer = request_line(&buf[..line_end]);
    if answer == Answer::BadRequest {
        return Some(answer);
    }
    // The head ends with an empty line.
    let mut rest = &buf[line_end + 1..];
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return (buf.len() >= MAX_REQUEST).then_some(Answer::BadRequest);
        };
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if line.is_empty() {
            return Some(answer);
        }
        if !line.contains(&b':') || line[0] == b' ' || line[0] == b'\t' {
            return Some(Answer::BadRequest);
        }
        rest = &rest[end + 1..];
    }
}

fn request_line(line: &[u8]) -> Answer {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Answer::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Answer::BadRequest;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method)
        || !target.starts_with('/')
        || target.bytes().any(|b| b.is_ascii_control())
        || !matches!(version, "HTTP/1.0" | "HTTP/1.1")
    {
        return Answer::BadRequest;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    match (path, method) {
        ("/metrics", "GET") => Answer::Metrics { head_only: false },
        ("/metrics", "HEAD") => Answer::Metrics { head_only: true },
        ("/metrics", _) => Answer::MethodNotAllowed,
        _ => Answer::NotFound,
    }
}

/// The whole response: status line, headers, body.
pub(super) fn response(answer: Answer, body: &[u8]) -> Vec<u8> {
    let (status, kind, body, head_only) = match answer {
        Answer::Metrics { head_only } => ("200 OK", CONTENT_TYPE, body, head_only),
        Answer::NotFound => (
            "404 Not Found",
            "text/plain",
            &b"not found: sup serves /metrics\n"[..],
            false,
        ),
        Answer::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            &b"method not allowed: GET or HEAD\n"[..],
            false,
        ),
        Answer::BadRequest => (
            "400 Bad Request",
            "text/plain",
            &b"bad request\n"[..],
            false,
        ),
    };
    let allow = if answer == Answer::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.reserve_exact(body.len());
        out.extend_from_slice(body);
    }
    out
}

pub(super) struct Server {
    listener: TcpListener,
    conns: HashMap<Token, Conn>,
    /// The last accept stopped at its batch size: accept again next turn.
    accept_more: bool,
    /// The last exposition rendered for a request, and when; dropped once no
    /// connection is left or it is older than [`REUSE_TIME`].
    last: Option<(Time, Vec<u8>)>,
}

impl Server {
    pub(super) fn bind(addr: SocketAddr, registry: &Registry) -> io::Result<Server> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, LISTEN_TOKEN, Interest::READABLE)?;
        Ok(Server {
            listener,
            conns: HashMap::new(),
            accept_more: false,
            last: None,
        })
    }

    pub(super) fn local_addr(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string())
    }

    /// The connection to close for a new one at the cap: the oldest still sending its
    /// request (a slow or silent client), never one being answered.
    fn evictable(&self) -> Option<Token> {
        self.conns
            .iter()
            .filter(|(_, c)| c.phase != Phase::Writing)
            .min_by_key(|(t, c)| (c.phase == Phase::Reading, c.accepted, t.0))
            .map(|(t, _)| *t)
    }

    fn close(&mut self, token: Token, registry: &Registry) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut c.stream);
        }
    }
}

/// What serving a connection needs next.
enum Next {
    Wait,
    Close,
    Answer(Answer),
}

impl Conn {
    /// Reads what the socket holds (the head, up to its limit; after the response,
    /// leftovers to drop).
    fn read(&mut self) -> Next {
        let mut scratch = [0u8; 4096];
        loop {
            let want = match self.phase {
                Phase::Reading => (MAX_REQUEST - self.head.len()).min(scratch.len()),
                Phase::Lingering => scratch.len(),
                Phase::Writing => return Next::Wait,
            };
            if want == 0 {
                return Next::Answer(Answer::BadRequest);
            }
            match self.stream.read(&mut scratch[..want]) {
                Ok(0) => return Next::Close,
                Ok(n) if self.phase == Phase::Reading => {
                    self.head.extend_from_slice(&scratch[..n]);
                    if let Some(answer) = parse(&self.head) {
                        return Next::Answer(answer);
                    }
                }
                Ok(n) => {
                    // A client that keeps sending would keep the loop here.
                    self.dropped += n;
                    if self.dropped > LINGER_BYTES {
                        return Next::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(_) => return Next::Close,
            }
        }
    }

    /// Writes the response; once it is out, shuts the writing side and lingers.
    fn write(&mut self, now: Time) -> Next {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Next::Close,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(_) => return Next::Close,
            }
        }
        self.out = Vec::new();
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return Next::Close;
        }
        self.phase = Phase::Lingering;
        self.deadline = now + LINGER_TIME;
        self.read()
    }
}

impl<P: Backend> Runtime<P> {
    pub(in crate::runtime) fn metrics_owns(&self, token: Token) -> bool {
        self.metrics
            .http
            .as_ref()
            .is_some_and(|s| token == LISTEN_TOKEN || s.conns.contains_key(&token))
    }

    /// A readiness of the listener or of a connection.
    pub(in crate::runtime) fn on_metrics_event(&mut self, token: Token) {
        if token == LISTEN_TOKEN {
            self.metrics_accept();
        } else {
            self.metrics_serve(token);
        }
    }

    /// When the loop must wake for the endpoint: the earliest connection deadline (none
    /// without connections), now when accepting was cut short.
    pub(in crate::runtime) fn metrics_deadline(&self) -> Option<Time> {
        let server = self.metrics.http.as_ref()?;
        if server.accept_more {
            return Some(Time::ZERO);
        }
        server.conns.values().map(|c| c.deadline).min()
    }

    /// Once per turn: closes connections past their deadline, accepts what is left.
    pub(in crate::runtime) fn metrics_tick(&mut self) {
        let now = self.now();
        let Some(server) = self.metrics.http.as_mut() else {
            return;
        };
        let expired: Vec<Token> = server
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            log::debug!("metrics endpoint: closing a connection past its deadline");
            server.close(token, self.poll.registry());
        }
        if server.conns.is_empty()
            || server
                .last
                .as_ref()
                .is_some_and(|(at, _)| now.saturating_sub(*at) >= REUSE_TIME)
        {
            server.last = None;
        }
        if std::mem::take(&mut server.accept_more) {
            self.metrics_accept();
        }
    }

    fn metrics_accept(&mut self) {
        let now = self.now();
        for _ in 0..ACCEPT_BATCH {
            let Some(server) = self.metrics.http.as_mut() else {
                return;
            };
            let stream = match server.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("metrics endpoint: accept: {e}");
                    return;
                }
            };
            if server.conns.len() >= MAX_CONNS {
                match server.evictable() {
                    Some(old) => {
                        log::debug!("metrics endpoint: at {MAX_CONNS} connections, closing the oldest unanswered one");
                        server.close(old, self.poll.registry());
                    }
                    // Every connection is being answered: this one is closed at once.
                    None => continue,
                }
            }
            let mut stream = stream;
            self.next_token += 1;
            let token = Token(self.next_token);
            let Some(server) = self.metrics.http.as_mut() else {
                return;
            };
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            server.conns.insert(
                token,
                Conn {
                    stream,
                    head: Vec::new(),
                    out: Vec::new(),
                    sent: 0,
                    dropped: 0,
                    phase: Phase::Reading,
                    accepted: now,
                    deadline: now + REQUEST_TIME,
                },
            );
            self.metrics_serve(token);
        }
        if let Some(server) = self.metrics.http.as_mut() {
            server.accept_more = true;
        }
    }

    fn metrics_conn(&mut self, token: Token) -> Option<&mut Conn> {
        self.metrics.http.as_mut()?.conns.get_mut(&token)
    }

    /// Moves a connection along: reads its request, answers it, writes the answer.
    fn metrics_serve(&mut self, token: Token) {
        let now = self.now();
        let Some(conn) = self.metrics_conn(token) else {
            return;
        };
        let mut next = match conn.phase {
            Phase::Reading | Phase::Lingering => conn.read(),
            Phase::Writing => conn.write(now),
        };
        if let Next::Answer(answer) = next {
            // The exposition is built only for a complete, valid request.
            let reuse = self.metrics.http.as_ref().and_then(|s| {
                let (at, text) = s.last.as_ref()?;
                (now.saturating_sub(*at) < REUSE_TIME).then(|| response(answer, text))
            });
            let out = match (answer, reuse) {
                (Answer::Metrics { .. }, Some(out)) => out,
                (Answer::Metrics { .. }, None) => {
                    let text = self.render_metrics();
                    let out = response(answer, &text);
                    if let Some(server) = self.metrics.http.as_mut() {
                        server.last = Some((now, text));
                    }
                    out
                }
                _ => response(answer, b""),
            };
            let Some(conn) = self.metrics_conn(token) else {
                return;
            };
            conn.head = Vec::new();
            conn.out = out;
            conn.phase = Phase::Writing;
            conn.deadline = now + RESPONSE_TIME;
            next = conn.write(now);
        }
        if let Next::Close = next {
            if let Some(server) = self.metrics.http.as_mut() {
                server.close(token, self.poll.registry());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let get = Answer::Metrics { head_only: false };
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(get)
        );
        assert_eq!(parse(b"GET /metrics?x=1 HTTP/1.0\n\n"), Some(get));
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Some(Answer::Metrics { head_only: true })
        );
        // Incomplete: no answer yet.
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse(b"GET /met"), None);
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Answer::MethodNotAllowed)
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Some(Answer::NotFound));
        assert_eq!(parse(b"DELETE /x HTTP/1.1\r\n\r\n"), Some(Answer::NotFound));
        // Garbage is answered as soon as its first line is complete.
        for bad in [
            &b"hello\r\n"[..],
            b"GET /metrics\r\n",
            b"GET /metrics HTTP/2.0\r\n",
            b"GET metrics HTTP/1.1\r\n",
            b"G(T /metrics HTTP/1.1\r\n",
            b"GET /metrics HTTP/1.1 x\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Some(Answer::BadRequest), "{bad:?}");
        }
        // A head that does not end within the limit.
        let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while big.len() < MAX_REQUEST {
            big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse(&big), Some(Answer::BadRequest));
        assert_eq!(parse(&[b'G'; MAX_REQUEST]), Some(Answer::BadRequest));
    }

    #[test]
    fn responses() {
        let ok =
            String::from_utf8(response(Answer::Metrics { head_only: false }, b"a 1\n")).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.contains("Content-Length: 4\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\na 1\n"), "{ok}");
        let head = response(Answer::Metrics { head_only: true }, b"a 1\n");
        assert!(head.ends_with(b"Content-Length: 4\r\nConnection: close\r\n\r\n"));
        let nope = String::from_utf8(response(Answer::MethodNotAllowed, b"")).unwrap();
        assert!(nope.starts_with("HTTP/1.1 405 ") && nope.contains("Allow: GET, HEAD"));
    }
}
