//! One probe attempt at a time, never blocking the loop: a non-blocking TCP connect (mio),
//! and an HTTP/1.0 GET over such a connection (2xx/3xx pass).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpStream;

use crate::platform::net;

/// Bytes of an HTTP response kept while looking for the status line.
const MAX_HEAD: usize = 8192;

/// Resolves `HOST:PORT`. IP literals never block; a host name goes through the system
/// resolver once, when the probe is set up (not per attempt).
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {addr}: no address"))
}

/// `http://HOST[:PORT]/PATH` → (`HOST:PORT`, `Host` header, path).
pub fn parse_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("url {url:?}: only http:// is supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("url {url:?}: no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let hostport = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((hostport, authority.to_string(), path.to_string()))
}

/// A TCP (or HTTP) probe in flight.
pub struct Conn {
    pub stream: TcpStream,
    connected: bool,
    request: Option<Vec<u8>>,
    sent: usize,
    response: Vec<u8>,
}

impl Conn {
    /// Starts a non-blocking connect; `http` = (Host header, path) for a GET.
    pub fn start(addr: SocketAddr, http: Option<(&str, &str)>) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        let request = http.map(|(host, path)| {
            format!(
                "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: sup-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            )
            .into_bytes()
        });
        Ok(Conn {
            stream,
            connected: false,
            request,
            sent: 0,
            response: Vec::new(),
        })
    }

    /// Makes what progress the socket allows; `Some(result)` once the probe is decided.
    pub fn progress(&mut self) -> Option<Result<(), String>> {
        if !self.connected {
            if let Ok(Some(e)) | Err(e) = self.stream.take_error() {
                return Some(Err(format!("connect: {e}")));
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(e) if net::in_progress(&e) => return None,
                Err(e) => return Some(Err(format!("connect: {e}"))),
            }
        }
        let Some(request) = &self.request else {
            return Some(Ok(()));
        };
        while self.sent < request.len() {
            match self.stream.write(&request[self.sent..]) {
                Ok(0) => return Some(Err("connection closed while sending".into())),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(format!("send: {e}"))),
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Some(status_of(&self.response, true).unwrap_or_else(|| {
                        Err("connection closed without an HTTP response".into())
                    }))
                }
                Ok(n) => {
                    let room = MAX_HEAD.saturating_sub(self.response.len());
                    self.response.extend_from_slice(&buf[..n.min(room)]);
                    if let Some(r) = status_of(&self.response, room <= n) {
                        return Some(r);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(format!("receive: {e}"))),
            }
        }
    }
}

/// Decides on the status line once it is complete (or `done`: no more bytes will come).
pub fn status_of(head: &[u8], done: bool) -> Option<Result<(), String>> {
    let end = head.iter().position(|&b| b == b'\n');
    if end.is_none() && !done {
        return None;
    }
    let line = String::from_utf8_lossy(&head[..end.unwrap_or(head.len())]);
    let mut words = line.split_whitespace();
    let code = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    };
    Some(match code {
        Some(c) if (200..400).contains(&c) => Ok(()),
        Some(c) => Err(format!("HTTP status {c}")),
        None => Err(format!("not an HTTP response: {:?}", line.trim_end())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/health").unwrap(),
            (
                "127.0.0.1:8080".into(),
                "127.0.0.1:8080".into(),
                "/health".into()
            )
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            ("localhost:80".into(), "localhost".into(), "/".into())
        );
        assert_eq!(parse_url("http://[::1]/x").unwrap().0, "[::1]:80");
        assert!(parse_url("https://x/").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n", false), Some(Ok(())));
        assert_eq!(status_of(b"HTTP/1.1 302 Found\r\n", false), Some(Ok(())));
        assert!(matches!(
            status_of(b"HTTP/1.1 404 Not Found\r\n", false),
            Some(Err(_))
        ));
        assert!(matches!(
            status_of(b"HTTP/1.1 500 x\r\n", false),
            Some(Err(_))
        ));
        assert_eq!(status_of(b"HTTP/1.1 20", false), None);
        assert!(matches!(status_of(b"SSH-2.0", true), Some(Err(_))));
    }
}
