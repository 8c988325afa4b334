//! Signals as events: the handled signals are blocked in sup and read from a signalfd
//! that the event loop polls. No handler ever runs asynchronously in sup.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals sup takes from its signalfd.
pub const HANDLED: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGALRM,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGURG,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGSTKFLT,
];

/// Blocks the handled signals (and ignores SIGPIPE) and returns a non-blocking signalfd
/// that receives them. Call before any thread or child exists.
pub fn signal_fd() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in HANDLED {
        set.add(*s);
    }
    // Real-time signals have no nix `Signal`: add them to the raw set, so they too are
    // events (forwarded in entrypoint mode) instead of killing sup by default.
    let mut raw: libc::sigset_t = *set.as_ref();
    for sig in libc::SIGRTMIN()..=libc::SIGRTMAX() {
        // SAFETY: `raw` is an initialised sigset_t and `sig` a valid signal number.
        unsafe { libc::sigaddset(&mut raw, sig) };
    }
    // SAFETY: `raw` was initialised from a valid SigSet and only extended by sigaddset.
    let set = unsafe { SigSet::from_sigset_t_unchecked(raw) };
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    // SAFETY: installing SIG_IGN runs no code of ours asynchronously; a write to a closed
    // control connection then fails with EPIPE instead of killing sup.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Reads every pending signal (signal numbers), until the fd would block.
pub fn drain(fd: &mut SignalFd) -> Vec<i32> {
    let mut out = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        out.push(info.ssi_signo as i32);
    }
    out
}

/// Marks sup as child subreaper: orphans of its units are reparented to it and reaped.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
