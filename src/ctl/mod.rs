//! The control protocol (`proto`), the client side used by supctl (`client`).
//! The server side lives in the runtime, which owns the event loop.

#[cfg(unix)]
pub mod client;
pub mod proto;

#[cfg(unix)]
use std::path::PathBuf;

/// `--socket` default: `/run/sup/control.sock` for root, `$XDG_RUNTIME_DIR/sup/control.sock`
/// otherwise (falling back to `/tmp/sup-UID/control.sock` when `XDG_RUNTIME_DIR` is unset).
#[cfg(unix)]
pub fn default_socket_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/sup/control.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("sup/control.sock"),
        _ => PathBuf::from(format!("/tmp/sup-{uid}/control.sock")),
    }
}
