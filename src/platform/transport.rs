//! The control transport behind the platform seam: the stream `supctl` talks over and
//! the listener sup serves, with the peer's right to mutate decided by the OS's idea of
//! who the peer is.
//!
//! Contract (every backend):
//! - [`default_control_path`] is where sup listens and supctl connects without
//!   `--socket`: a Unix socket path on Linux (`/run/sup/control.sock` for root,
//!   `$XDG_RUNTIME_DIR/sup/control.sock` otherwise), the named pipe `\\.\pipe\sup` on
//!   Windows.
//! - [`connect`] opens a blocking, close-on-exec / non-inherited [`ClientStream`]
//!   (`Read + Write`, `try_clone`); `timeout` bounds only the connect (sup's backlog or
//!   pipe instances being busy). Its errors are sorted by [`connect_failure`] into the
//!   classes supctl reports as "cannot reach sup".
//! - [`Listener::bind`] takes the path for sup alone: a live sup already serving it is
//!   `AddrInUse`; a stale endpoint left by a dead sup is replaced; anything else at the
//!   path is an error and is left alone. `control_gid` (a Unix group whose members may
//!   mutate) is refused where the OS has no such thing.
//! - [`Listener`] is a mio `Source` (register it for `READABLE`; every event on its token
//!   means "call accept"). [`Listener::accept`] returns `WouldBlock` when no client
//!   waits, else a non-blocking [`Connection`] (mio `Source` + `Read` + `Write`, to be
//!   registered by the caller under its own token) and whether the peer may mutate:
//!   root, sup's own user or a `control_gid` member on Linux (`SO_PEERCRED`); sup's own
//!   user or an elevated administrator on Windows. Everyone else is read-only.
//! - [`Listener::close`] removes what bind created (the socket file), if still ours.
//! - [`trim_heap`] hands freed heap memory back to the OS where the allocator keeps it.

use std::io;

/// Why connecting to sup failed, in the classes supctl tells apart (all of them exit 4,
/// "cannot reach sup").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing at the path (no socket file, no such pipe, a missing directory).
    Missing,
    /// Something is there but nobody accepts (a socket file left by a dead sup).
    Refused,
    /// The OS does not let this user connect.
    PermissionDenied,
    /// sup did not take the connection within the timeout.
    TimedOut,
    /// Anything else (a path too long, not a socket, …).
    Other,
}

#[cfg(target_os = "linux")]
pub use super::linux::transport::{
    connect, connect_failure, default_control_path, ClientStream, Connection, Listener,
};
#[cfg(windows)]
pub use super::windows::control_pipe::{
    connect, connect_failure, default_control_path, ClientStream, Connection, Listener,
};

/// Hands freed heap memory back to the system (glibc keeps it otherwise; elsewhere a
/// no-op).
pub fn trim_heap() {
    #[cfg(target_os = "linux")]
    super::linux::transport::trim_heap();
}

/// An `io::Error` for a listener refused because another sup serves the path.
pub(crate) fn already_serving(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("another sup is already serving this {what}"),
    )
}
