//! Socket facts of Linux for the probes.

/// `EINPROGRESS`: a non-blocking connect not finished yet.
pub fn in_progress(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}
