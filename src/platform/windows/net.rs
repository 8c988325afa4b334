//! Socket facts of Windows for the probes.

/// `WSAEINPROGRESS` and `WSAEWOULDBLOCK` (winsock2.h: 10036, 10035): a non-blocking
/// connect not finished yet.
pub fn in_progress(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(10035 | 10036))
}
