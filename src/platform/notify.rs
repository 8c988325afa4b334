//! The readiness seam: the channels through which a unit reports itself ready, the
//! sd_notify datagram socket (`NOTIFY_SOCKET`) and the s6 notification fd (a newline on
//! fd N).
//!
//! Contract (every backend):
//! - `notify_socket(path, user)` binds a unit's notify socket at `path`, reachable by the
//!   unit's `user` (else by sup's user) and nobody else but root. The socket is a
//!   `mio::event::Source`; `recv()` returns the next datagram and, when the system tells,
//!   its sender's pid, or `None` once nothing is left (mio is edge-triggered: drain it).
//!   Dropping it removes `path`.
//! - `notify_pipe()` returns a new pipe for one run: the read end (a `mio::event::Source`
//!   whose `drain()` reads all that is there) and the write end (`ChildEnd`), which the
//!   spawn gives the child as the fd number the unit asked for. Drop the write end once
//!   the child is started.
//! - A backend without these returns `NotifyError::Unsupported` naming the unit key and
//!   the platform, and its `unsupported` rule fails such units before they start.

use std::path::PathBuf;

#[cfg(target_os = "linux")]
pub use super::linux::notify::{ChildEnd, NotifyPipe, NotifySocket};
#[cfg(windows)]
pub use super::windows::notify::{ChildEnd, NotifyPipe, NotifySocket};

/// What `NotifyPipe::drain` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeRead {
    /// A newline arrived: the unit is ready.
    pub newline: bool,
    /// The write end is closed (or the pipe failed): nothing more will come.
    pub closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{key}: not available on {platform}")]
    Unsupported {
        key: &'static str,
        platform: &'static str,
    },
    #[error("notify socket path {} is too long for a Unix socket", path.display())]
    PathTooLong { path: PathBuf },
    #[error("notify socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The unit's user could not be resolved (the message names it).
    #[error("{0}")]
    User(String),
    #[error("pipe: {0}")]
    Pipe(#[source] std::io::Error),
}

pub trait Notify {
    fn notify_socket(
        &mut self,
        path: &std::path::Path,
        user: Option<&str>,
    ) -> Result<NotifySocket, NotifyError>;
    fn notify_pipe(&mut self) -> Result<(NotifyPipe, ChildEnd), NotifyError>;
}
