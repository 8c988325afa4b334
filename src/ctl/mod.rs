//! The control protocol (`proto`), the client side used by supctl (`client`), the
//! Prometheus text format of `metrics` (`prom`).
//! The server side lives in the runtime, which owns the event loop; the transport under
//! both (Unix socket, named pipe) is `platform::transport`.

pub mod client;
pub mod prom;
pub mod proto;

use std::path::PathBuf;

/// `--socket` default: `/run/sup/control.sock` for root, `$XDG_RUNTIME_DIR/sup/control.sock`
/// otherwise (falling back to `/tmp/sup-UID/control.sock` when `XDG_RUNTIME_DIR` is unset);
/// the named pipe `\\.\pipe\sup` on Windows.
pub fn default_socket_path() -> PathBuf {
    crate::platform::transport::default_control_path()
}
