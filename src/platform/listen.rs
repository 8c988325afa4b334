//! The listening-socket seam (`sockets:` of a unit, socket activation): sup binds and
//! listens, keeps the socket across the unit's restarts, and hands it to each new main
//! process with the systemd protocol (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`,
//! fds from 3 in order; see `SpawnSpec::listen_fds`).
//!
//! Contract (every backend):
//! - `Listener::open(addr, backlog)` binds `addr` and listens with `backlog`, or fails
//!   with a message saying what failed (`bind: Address already in use`). A TCP socket
//!   reuses addresses in TIME_WAIT (`SO_REUSEADDR`); a `tcp6` one is IPv6 only. A Unix
//!   socket's path must not exist, unless it is a stale socket (nobody listening), which
//!   is replaced; its parent directory is not created. The socket file is mode 0666:
//!   who may connect is decided by the directory's permissions.
//! - The socket is blocking and close-on-exec in sup; sup never accepts on it (it is
//!   not an event source of the loop).
//! - `set_backlog` changes the backlog of the listening socket in place.
//! - `raw()` is the number the spawn passes on; `carry()` / `adopt()` keep it across a
//!   reexec (`handover`).
//! - Dropping it closes sup's copy; a Unix socket's path is removed too when it is still
//!   the file this socket was bound to.
//! - A backend without sockets fails `open` naming the key and the platform, and its
//!   `unsupported` rule refuses such units before they start.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

#[cfg(target_os = "linux")]
pub use super::linux::listen::Listener;
#[cfg(windows)]
pub use super::windows::listen::Listener;

/// Where a socket listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ListenAddr {
    /// `tcp:HOST:PORT` (IPv4) or `tcp6:[ADDR]:PORT` (IPv6, IPv6 only).
    Tcp(SocketAddr),
    /// `unix:PATH` (an absolute path).
    Unix(PathBuf),
}

impl ListenAddr {
    /// Reads `tcp:HOST:PORT`, `tcp6:[ADDR]:PORT` or `unix:/PATH`. HOST is a numeric
    /// address (`0.0.0.0` for every interface), PORT 1-65535 (or 0: any free port).
    pub fn parse(s: &str) -> Result<ListenAddr, String> {
        let bad = |why: &str| {
            format!("invalid listen address {s:?}: {why} (use \"tcp:127.0.0.1:8080\", \"tcp6:[::1]:8080\" or \"unix:/run/app.sock\")")
        };
        if let Some(rest) = s.strip_prefix("unix:") {
            if !rest.starts_with('/') {
                return Err(bad("the path must be absolute"));
            }
            // sun_path holds 108 bytes with the NUL.
            if rest.len() > 107 {
                return Err(bad("the path is longer than 107 bytes"));
            }
            if rest.ends_with('/') {
                return Err(bad("the path names a directory"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(rest)));
        }
        let (v6, rest) = match (s.strip_prefix("tcp6:"), s.strip_prefix("tcp:")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err(bad("unknown kind")),
        };
        let addr: SocketAddr = rest
            .parse()
            .map_err(|_| bad("not a numeric address and port"))?;
        match (v6, addr) {
            (true, SocketAddr::V6(_)) | (false, SocketAddr::V4(_)) => Ok(ListenAddr::Tcp(addr)),
            (true, _) => Err(bad("tcp6 takes an IPv6 address in brackets")),
            (false, _) => Err(bad("tcp takes an IPv4 address (use tcp6 for IPv6)")),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a @ SocketAddr::V4(_)) => write!(f, "tcp:{a}"),
            ListenAddr::Tcp(a) => write!(f, "tcp6:{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ListenAddr;

    #[test]
    fn addresses_read_and_print_back() {
        for s in [
            "tcp:127.0.0.1:8080",
            "tcp6:[::1]:8080",
            "unix:/run/app.sock",
        ] {
            assert_eq!(ListenAddr::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "tcp:[::1]:80",
            "tcp6:127.0.0.1:80",
            "tcp:localhost:80",
            "tcp:1.2.3.4",
            "tcp:1.2.3.4:70000",
            "unix:run/app.sock",
            "unix:/run/",
            "udp:1.2.3.4:5",
            "",
        ] {
            assert!(ListenAddr::parse(s).is_err(), "{s}");
        }
        let long = format!("unix:/{}", "a".repeat(107));
        assert!(ListenAddr::parse(&long).unwrap_err().contains("107"));
    }
}
