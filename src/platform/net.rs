//! Socket facts that differ by system, for the runtime's probes over `mio::net`.

/// `in_progress(&err)`: whether `err` (from asking a connecting socket for its peer)
/// only says the connection is still being made.
#[cfg(target_os = "linux")]
pub use super::linux::net::in_progress;
#[cfg(windows)]
pub use super::windows::net::in_progress;
