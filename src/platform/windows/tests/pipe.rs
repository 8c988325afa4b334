//! Tests of the control pipe through the platform types, over real named pipes: the
//! listener in a mio poll as sup runs it, blocking clients in threads as supctl is.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

use super::*;

const WAIT: Duration = Duration::from_secs(20);
const LISTENER: Token = Token(0);

/// A pipe name of its own per test.
fn unique_name(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!(
        r"\\.\pipe\sup-test-{}-{tag}-{n}",
        std::process::id()
    ))
}

/// sup's side: the listener and its accepted connections in one poll.
struct Server {
    poll: Poll,
    events: Events,
    listener: Listener,
    conns: Vec<(Connection, bool, Vec<u8>)>,
}

impl Server {
    fn bind(path: &Path) -> Server {
        let mut listener = Listener::bind(path, None).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        Server {
            poll,
            events: Events::with_capacity(16),
            listener,
            conns: Vec::new(),
        }
    }

    /// One turn: waits for an event, accepts what is connected, reads what arrived.
    fn turn(&mut self) {
        self.poll.poll(&mut self.events, Some(WAIT)).unwrap();
        assert!(!self.events.is_empty(), "no event within {WAIT:?}");
        loop {
            match self.listener.accept() {
                Ok((mut conn, may_mutate)) => {
                    let token = Token(1 + self.conns.len());
                    self.poll
                        .registry()
                        .register(&mut conn, token, Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    self.conns.push((conn, may_mutate, Vec::new()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("accept: {e}"),
            }
        }
        for (conn, _, input) in &mut self.conns {
            let mut buf = [0u8; 256];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }

    /// Turns until `n` connections each sent a whole line.
    fn until_lines(&mut self, n: usize) {
        while self.conns.len() < n || self.conns.iter().any(|c| !c.2.ends_with(b"\n")) {
            self.turn();
        }
    }

    /// Writes `line` to connection `i` (one write: the pipe takes it whole into its
    /// buffer, where the client reads it even before the write's completion is seen).
    fn reply(&mut self, i: usize, line: &[u8]) {
        assert_eq!(self.conns[i].0.write(line).unwrap(), line.len());
    }
}

/// A client that sends `request` and returns the line it gets back.
fn client(path: PathBuf, request: &'static str) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut stream = connect(&path, Some(WAIT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).unwrap();
        reply
    })
}

#[test]
fn request_and_reply_over_the_pipe() {
    let path = unique_name("round");
    let mut server = Server::bind(&path);
    let c = client(path.clone(), "{\"cmd\":\"status\"}\n");
    server.until_lines(1);
    let (_, may_mutate, input) = &server.conns[0];
    assert_eq!(input, b"{\"cmd\":\"status\"}\n");
    assert!(*may_mutate, "a client of sup's own user may mutate");
    server.reply(0, b"{\"v\":1,\"ok\":true}\n");
    assert_eq!(c.join().unwrap(), "{\"v\":1,\"ok\":true}\n");
    // The client is gone: its connection reads as end of stream.
    let (conn, _, _) = &mut server.conns[0];
    let mut buf = [0u8; 8];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => panic!("{n} more bytes"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                server.poll.poll(&mut server.events, Some(WAIT)).unwrap();
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn two_connections_at_once() {
    let path = unique_name("two");
    let mut server = Server::bind(&path);
    let a = client(path.clone(), "a\n");
    let b = client(path.clone(), "b\n");
    server.until_lines(2);
    // Both are connected at once; each gets the answer to its own line.
    for i in 0..2 {
        let line = server.conns[i].2.clone();
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(&line);
        server.reply(i, &reply);
    }
    assert_eq!(a.join().unwrap(), "re:a\n");
    assert_eq!(b.join().unwrap(), "re:b\n");
    // And a third after them.
    let c = client(path.clone(), "c\n");
    server.until_lines(3);
    server.reply(2, b"re:c\n");
    assert_eq!(c.join().unwrap(), "re:c\n");
}

#[test]
fn a_second_listener_on_the_name_is_refused() {
    let path = unique_name("twice");
    let server = Server::bind(&path);
    let err = Listener::bind(&path, None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains("already serving"), "{err}");
    // The name is free again once the first sup is gone: nothing stale is left.
    drop(server);
    let _again = Listener::bind(&path, None).unwrap();
}

#[test]
fn a_missing_pipe_is_unreachable() {
    let path = unique_name("none");
    let err = connect(&path, Some(Duration::from_secs(1))).unwrap_err();
    assert_eq!(connect_failure(&err), ConnectFailure::Missing, "{err}");
    assert_eq!(default_control_path(), PathBuf::from(r"\\.\pipe\sup"));
    // A bare name is one under \\.\pipe\.
    assert_eq!(
        pipe_name(Path::new("x")).unwrap(),
        pipe_name(Path::new(r"\\.\pipe\x")).unwrap()
    );
    let err = Listener::bind(&path, Some(0)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
}

/// Not a test: what `scripts/windows-test.sh` runs beside `supctl.exe` (skipped without
/// `SUP_WIN_SERVE`): serves one `status` request on the pipe it names, as sup would,
/// with one unit `web`, after printing `@sup-serve: ready` once the pipe exists.
#[test]
#[ignore = "a helper that scripts/windows-test.sh runs for supctl.exe"]
fn serve_status_once() {
    let Ok(name) = std::env::var("SUP_WIN_SERVE") else {
        return;
    };
    let mut server = Server::bind(Path::new(&name));
    println!("@sup-serve: ready");
    server.until_lines(1);
    let (_, may_mutate, input) = &server.conns[0];
    assert!(*may_mutate, "supctl.exe runs as sup's own user");
    let req: serde_json::Value = serde_json::from_slice(input).unwrap();
    assert_eq!(req["cmd"], "status", "{req}");
    server.reply(
        0,
        b"{\"v\":1,\"ok\":true,\"units\":[{\"name\":\"web\",\"state\":\"running\",\"pid\":42,\
          \"restarts\":0,\"health\":\"unknown\",\"since\":\"2026-12-06T00:00:00Z\"}]}\n",
    );
    // Until supctl has read the reply and closed its end.
    let (conn, _, _) = &mut server.conns[0];
    let mut buf = [0u8; 64];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                server.poll.poll(&mut server.events, Some(WAIT)).unwrap();
                assert!(!server.events.is_empty(), "supctl did not close");
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    println!("@sup-serve: done");
}
