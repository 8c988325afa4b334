//! Client side of the control protocol: connect, send a request, read replies and streams.
//!
//! A blocking client over the platform's control transport (a Unix stream socket, or a
//! named pipe on Windows). One [`Client`] is one connection: send a
//! [`Request`] line, read one [`Reply`] line, and for `events` / `logs --follow` keep reading
//! [`StreamItem`] lines until the server closes the connection. Reads have no timeout (start
//! and stop wait for their outcome); only connecting may be bounded.
//!
//! Every reply and stream item is returned both typed and as the raw JSON value, so callers
//! that print JSON keep fields this version of the types does not know about.

use std::io::{self, BufRead, BufReader, Read, Write};

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::platform::transport::{self, ClientStream, ConnectFailure};

use super::proto::{Reply, Request, StreamItem, MAX_REQUEST_BYTES, PROTOCOL_VERSION};

/// A reply or stream line longer than this is treated as a protocol error (a sane server
/// never sends one; this only stops a broken peer from exhausting memory).
pub const MAX_REPLY_BYTES: u64 = 256 * 1024 * 1024;

/// What can go wrong talking to sup.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket file (or a directory on its path, or the named pipe) does not exist.
    #[error("cannot reach sup: no control socket at {path}")]
    NoSocket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The socket file exists but nobody listens on it (a dead sup).
    #[error("cannot reach sup: connection refused at {path} (is sup running?)")]
    Refused {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The socket (or a directory on its path) is not accessible to this user.
    #[error("cannot reach sup: permission denied on {path}")]
    PermissionDenied {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Connecting did not complete within the connect timeout (sup's backlog is full).
    #[error("cannot reach sup: connecting to {path} timed out")]
    ConnectTimeout { path: PathBuf },
    /// Any other failure to connect (path too long, not a socket, …).
    #[error("cannot reach sup at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// sup closed the connection before sending a reply line.
    #[error("cannot reach sup: connection closed before a reply")]
    ClosedBeforeReply,
    /// Reading or writing the connection failed.
    #[error("connection to sup failed: {0}")]
    Io(#[source] io::Error),
    /// The serialized request is longer than the server accepts.
    #[error("request too large ({size} bytes, limit {MAX_REQUEST_BYTES})")]
    RequestTooLarge { size: usize },
    /// A line from sup is not valid JSON of the expected shape.
    #[error("invalid reply from sup: {source}")]
    BadReply {
        #[source]
        source: serde_json::Error,
    },
    /// A line from sup is longer than [`MAX_REPLY_BYTES`].
    #[error("invalid reply from sup: line longer than {MAX_REPLY_BYTES} bytes")]
    ReplyTooLarge,
    /// The reply carries a protocol version this client does not speak.
    #[error("sup speaks protocol version {got}, supctl speaks {PROTOCOL_VERSION}")]
    Version { got: u32 },
}

impl ClientError {
    /// True for the "cannot reach sup" class: no socket, refused, permission denied or a
    /// timeout on connect, or the connection closing before a reply (supctl exit code 4).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::NoSocket { .. }
                | ClientError::Refused { .. }
                | ClientError::PermissionDenied { .. }
                | ClientError::ConnectTimeout { .. }
                | ClientError::Connect { .. }
                | ClientError::ClosedBeforeReply
                | ClientError::Io(_)
        )
    }

    fn connect(path: &Path, err: io::Error) -> ClientError {
        let path = path.to_path_buf();
        match transport::connect_failure(&err) {
            ConnectFailure::Missing => ClientError::NoSocket { path, source: err },
            ConnectFailure::Refused => ClientError::Refused { path, source: err },
            ConnectFailure::PermissionDenied => ClientError::PermissionDenied { path, source: err },
            ConnectFailure::TimedOut => ClientError::ConnectTimeout { path },
            ConnectFailure::Other => ClientError::Connect { path, source: err },
        }
    }
}

/// A reply, typed and as sent.
#[derive(Clone, Debug)]
pub struct Response {
    pub reply: Reply,
    pub json: serde_json::Value,
}

/// One stream line, typed and as sent.
#[derive(Clone, Debug)]
pub struct StreamMessage {
    pub item: StreamItem,
    pub json: serde_json::Value,
}

/// Parses a reply line into the typed reply and its raw JSON value.
pub fn parse_reply(line: &[u8]) -> Result<Response, ClientError> {
    let json: serde_json::Value =
        serde_json::from_slice(line).map_err(|source| ClientError::BadReply { source })?;
    let reply = Reply::deserialize(&json).map_err(|source| ClientError::BadReply { source })?;
    if reply.v != PROTOCOL_VERSION {
        return Err(ClientError::Version { got: reply.v });
    }
    Ok(Response { reply, json })
}

/// Read buffer of a connection: a `status` reply of hundreds of units (~320 bytes each)
/// arrives in a few reads instead of dozens.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One connection to sup.
pub struct Client {
    reader: BufReader<ClientStream>,
    writer: ClientStream,
}

impl Client {
    /// Connects to the control socket. `timeout` bounds only the connect itself (a Unix
    /// socket connect blocks only while sup's accept backlog is full, a pipe's while all
    /// its instances are busy).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client, ClientError> {
        let stream =
            transport::connect(path, timeout).map_err(|e| ClientError::connect(path, e))?;
        let writer = stream.try_clone().map_err(ClientError::Io)?;
        Ok(Client {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, stream),
            writer,
        })
    }

    /// Sends one request line.
    pub fn send(&mut self, req: &Request) -> Result<(), ClientError> {
        let mut line =
            serde_json::to_vec(req).map_err(|source| ClientError::BadReply { source })?;
        if line.len() > MAX_REQUEST_BYTES {
            return Err(ClientError::RequestTooLarge { size: line.len() });
        }
        line.push(b'\n');
        match self
            .writer
            .write_all(&line)
            .and_then(|()| self.writer.flush())
        {
            Ok(()) => Ok(()),
            // sup may have answered before closing (a `busy` refusal when it serves too
            // many connections): reading the reply tells, or ends in ClosedBeforeReply.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    /// Reads the reply line that answers the last request.
    pub fn read_reply(&mut self) -> Result<Response, ClientError> {
        parse_reply(&self.read_reply_line()?)
    }

    /// Reads the reply line that answers the last request without parsing it, for callers
    /// that parse only what they need (see [`parse_reply`] for the full reply).
    pub fn read_reply_line(&mut self) -> Result<Vec<u8>, ClientError> {
        match self.read_line() {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(ClientError::ClosedBeforeReply),
            Err(ClientError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                Err(ClientError::ClosedBeforeReply)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the reply to the last request, handing each string of its `lines` to
    /// `on_line` as it is parsed instead of collecting them (a `logs` reply may carry
    /// any number): memory stays one line, whatever the reply's length. The returned
    /// reply and JSON have every other field, `lines` left out.
    pub fn read_reply_lines(
        &mut self,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Response, ClientError> {
        // Nothing at all before the end: sup closed without a reply.
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(ClientError::ClosedBeforeReply)
                }
                Err(e) => return Err(ClientError::Io(e)),
            };
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(skip) => {
                    self.reader.consume(skip);
                    break;
                }
                None if buf.is_empty() => return Err(ClientError::ClosedBeforeReply),
                None => {
                    let n = buf.len();
                    self.reader.consume(n);
                }
            }
        }
        let mut de = serde_json::Deserializer::from_reader(&mut self.reader);
        let fields = serde::de::DeserializeSeed::deserialize(LinesReply { on_line }, &mut de)
            .map_err(|e| {
                if e.is_io() {
                    ClientError::Io(e.into())
                } else {
                    ClientError::BadReply { source: e }
                }
            })?;
        let json = serde_json::Value::Object(fields);
        let reply = Reply::deserialize(&json).map_err(|source| ClientError::BadReply { source })?;
        if reply.v != PROTOCOL_VERSION {
            return Err(ClientError::Version { got: reply.v });
        }
        Ok(Response { reply, json })
    }

    /// Sends a request and reads its reply.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.send(req)?;
        self.read_reply()
    }

    /// Reads the next stream line after the reply; `None` once sup closes the connection.
    pub fn read_item(&mut self) -> Result<Option<StreamMessage>, ClientError> {
        let Some(json) = self.read_json_line()? else {
            return Ok(None);
        };
        let item =
            StreamItem::deserialize(&json).map_err(|source| ClientError::BadReply { source })?;
        Ok(Some(StreamMessage { item, json }))
    }

    /// Reads one non-empty line as JSON; `None` at end of stream. A final line without a
    /// newline is still parsed.
    fn read_json_line(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        let Some(line) = self.read_line()? else {
            return Ok(None);
        };
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|source| ClientError::BadReply { source })
    }

    /// Reads one non-empty line (newline included when there was one); `None` at end of
    /// stream.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut self.reader)
                .take(MAX_REPLY_BYTES + 1)
                .read_until(b'\n', &mut buf)
                .map_err(ClientError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_REPLY_BYTES {
                return Err(ClientError::ReplyTooLarge);
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(buf));
        }
    }
}

/// A reply object whose `lines` go to a callback one by one; the other fields are kept.
struct LinesReply<'a> {
    on_line: &'a mut dyn FnMut(&str),
}

impl<'de> serde::de::DeserializeSeed<'de> for LinesReply<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for LinesReply<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a reply object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "lines" {
                map.next_value_seed(EachLine {
                    on_line: &mut *self.on_line,
                })?;
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        Ok(fields)
    }
}

/// The `lines` array (or null), each string handed on as it is parsed.
struct EachLine<'a> {
    on_line: &'a mut dyn FnMut(&str),
}

impl<'de> serde::de::DeserializeSeed<'de> for EachLine<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EachLine<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(line) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
            (self.on_line)(&line);
        }
        Ok(())
    }
}

/// Sends one request on a fresh connection and returns the reply.
pub fn call(
    path: &Path,
    timeout: Option<Duration>,
    req: &Request,
) -> Result<Response, ClientError> {
    Client::connect(path, timeout)?.call(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::transport::{Connection, Listener};
    use mio::{Events, Interest, Poll, Token};

    const WAIT: Duration = Duration::from_secs(20);

    /// A control path of its own per test (a socket in a fresh temp dir, removed again
    /// when the guard drops; a pipe name on Windows).
    struct TempSocket(PathBuf);

    impl Drop for TempSocket {
        fn drop(&mut self) {
            if cfg!(unix) {
                if let Some(dir) = self.0.parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }

    fn temp_socket(tag: &str) -> TempSocket {
        let name = format!("supctl-client-{}-{tag}", std::process::id());
        if cfg!(windows) {
            return TempSocket(PathBuf::from(format!(r"\\.\pipe\{name}")));
        }
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempSocket(dir.join("s.sock"))
    }

    /// The server's end of one test connection, driven by a poll of its own so the
    /// test can block on it. The connection drops before the poll: on Windows the
    /// dropped pipe closes once the poll, dropping, has seen its cancelled read.
    struct Served {
        conn: Connection,
        events: Events,
        poll: Poll,
    }

    /// Waits for the next event of the poll, failing the test after [`WAIT`].
    fn wait(poll: &mut Poll, events: &mut Events) {
        poll.poll(events, Some(WAIT)).unwrap();
        assert!(!events.is_empty(), "no event within {WAIT:?}");
    }

    fn listen(path: &Path) -> (Listener, Poll) {
        let mut listener = Listener::bind(path, None).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut listener, Token(0), Interest::READABLE)
            .unwrap();
        (listener, poll)
    }

    fn accept(mut listener: Listener, mut poll: Poll) -> Served {
        let mut events = Events::with_capacity(8);
        loop {
            match listener.accept() {
                Ok((mut conn, may_mutate)) => {
                    assert!(may_mutate, "a client of sup's own user may mutate");
                    poll.registry()
                        .register(&mut conn, Token(1), Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    // The listener (on Windows its next pipe instance) is not needed.
                    let _ = poll.registry().deregister(&mut listener);
                    return Served { conn, events, poll };
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(&mut poll, &mut events),
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    impl Served {
        fn read_line(&mut self) -> Vec<u8> {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while line.last() != Some(&b'\n') {
                match self.conn.read(&mut byte) {
                    Ok(0) => panic!("EOF before a line"),
                    Ok(_) => line.push(byte[0]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait(&mut self.poll, &mut self.events)
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
            line
        }

        /// Writes all of `bytes`; on Windows also waits until the pipe took them (a
        /// write in flight keeps the pipe open after a drop until a poll sees it done).
        fn write_all(&mut self, mut bytes: &[u8]) {
            while !bytes.is_empty() {
                match self.conn.write(bytes) {
                    Ok(n) => bytes = &bytes[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait(&mut self.poll, &mut self.events)
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            if cfg!(windows) {
                while !self.events.iter().any(|e| e.is_writable()) {
                    wait(&mut self.poll, &mut self.events);
                }
                self.events.clear();
            }
        }
    }

    #[test]
    fn missing_socket_is_unreachable() {
        let tmp = temp_socket("missing");
        let path = tmp.0.clone();
        for timeout in [None, Some(Duration::from_secs(1))] {
            let err = Client::connect(&path, timeout).err().unwrap();
            assert!(matches!(err, ClientError::NoSocket { .. }), "{err:?}");
            assert!(err.is_unreachable());
        }
    }

    #[test]
    fn request_reply_and_stream() {
        let tmp = temp_socket("stream");
        let path = tmp.0.clone();
        let (listener, poll) = listen(&path);
        let server = std::thread::spawn(move || {
            let mut served = accept(listener, poll);
            let line = served.read_line();
            let req: Request = serde_json::from_slice(&line).unwrap();
            served.write_all(b"{\"v\":1,\"ok\":true,\"extra\":5}\n");
            served.write_all(b"{\"line\":\"hello\"}\n\n{\"dropped\":\"slow\"}");
            req
        });
        let mut client = Client::connect(&path, None).unwrap();
        let mut req = Request::new("logs");
        req.units = vec!["web".into()];
        req.follow = true;
        let resp = client.call(&req).unwrap();
        assert!(resp.reply.ok);
        assert_eq!(resp.json["extra"], 5);
        let first = client.read_item().unwrap().unwrap();
        assert_eq!(first.item, StreamItem::Line("hello".into()));
        let second = client.read_item().unwrap().unwrap();
        assert_eq!(second.item, StreamItem::Dropped("slow".into()));
        assert_eq!(server.join().unwrap(), req);
        assert!(client.read_item().unwrap().is_none());
    }

    #[test]
    fn lines_of_a_reply_are_handed_on_one_by_one() {
        let tmp = temp_socket("lines");
        let path = tmp.0.clone();
        let (listener, poll) = listen(&path);
        let mut client = Client::connect(&path, None).unwrap();
        let mut served = accept(listener, poll);
        served.write_all(
            b"{\"v\":1,\"ok\":true,\"lines\":[\"a\",\"\\u00e9 \\\"q\\\"\",\"\"],\"extra\":[1]}\n\
              {\"line\":\"next\"}\n{\"v\":1,\"ok\":false,\"error\":{\"code\":\"failed\",\"message\":\"m\"}}\n",
        );
        drop(served);
        let mut got = Vec::new();
        let resp = client
            .read_reply_lines(&mut |l| got.push(l.to_string()))
            .unwrap();
        assert_eq!(got, ["a", "\u{e9} \"q\"", ""]);
        assert!(resp.reply.ok && resp.reply.lines.is_none());
        assert_eq!(resp.json["extra"][0], 1);
        // What follows the reply is read as before.
        let item = client.read_item().unwrap().unwrap();
        assert_eq!(item.item, StreamItem::Line("next".into()));
        let resp = client
            .read_reply_lines(&mut |_| panic!("no lines"))
            .unwrap();
        assert!(!resp.reply.ok);
        assert!(matches!(
            client.read_reply_lines(&mut |_| {}),
            Err(ClientError::ClosedBeforeReply)
        ));
    }

    #[test]
    fn a_reply_sent_before_closing_is_read() {
        let tmp = temp_socket("refused-busy");
        let path = tmp.0.clone();
        let (listener, poll) = listen(&path);
        let mut client = Client::connect(&path, None).unwrap();
        // The server answers and closes before the request is written.
        let mut served = accept(listener, poll);
        served.write_all(
            b"{\"v\":1,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"too many\"}}\n",
        );
        drop(served);
        let resp = client.call(&Request::new("status")).unwrap();
        let err = resp.reply.error.unwrap();
        assert_eq!(err.code, super::super::proto::ErrorCode::Busy);
    }

    #[test]
    fn close_before_reply() {
        let tmp = temp_socket("close");
        let path = tmp.0.clone();
        let (listener, poll) = listen(&path);
        let server = std::thread::spawn(move || {
            let mut served = accept(listener, poll);
            served.read_line();
        });
        let err = call(&path, None, &Request::new("status")).err().unwrap();
        server.join().unwrap();
        assert!(matches!(err, ClientError::ClosedBeforeReply), "{err:?}");
        assert!(err.is_unreachable());
    }
}
