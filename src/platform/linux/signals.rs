//! Signals as events: every signal that can be blocked is blocked in sup and read from a
//! signalfd that the event loop polls. No handler ever runs asynchronously in sup, and no
//! signal that another process sends can kill it (SIGKILL and SIGSTOP aside, which no
//! process can block).
//!
//! A genuine fault inside sup (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP raised by the CPU)
//! still kills it: the kernel forces synchronous faults through, unblocking them. A fault
//! signal sent with kill(2) is only an event. Signals the kernel sends to sup because of
//! sup's own action (SIGPIPE for a write to a closed pipe, SIGXFSZ for a file over
//! RLIMIT_FSIZE) carry sup's own pid as sender: `drain` drops them, so they are neither
//! acted on nor forwarded, and the write itself fails with EPIPE/EFBIG as usual.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The kernel's signal set: one bit per signal, signal N at bit N-1 (64 signals on
/// x86_64 and aarch64). Built by hand because glibc's sigset helpers refuse signals 32
/// and 33, which it reserves for its threads, and sup must block those too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSigSet(u64);

/// Highest signal number the kernel knows (`_NSIG`).
pub const NSIG: i32 = 64;

impl KernelSigSet {
    /// Every signal that can be blocked: all but SIGKILL and SIGSTOP.
    pub fn all_blockable() -> KernelSigSet {
        let mut bits = u64::MAX;
        for s in [libc::SIGKILL, libc::SIGSTOP] {
            bits &= !(1u64 << (s - 1));
        }
        KernelSigSet(bits)
    }

    pub fn contains(&self, sig: i32) -> bool {
        (1..=NSIG).contains(&sig) && self.0 & (1u64 << (sig - 1)) != 0
    }

    /// The same set as glibc's `sigset_t` (whose first word holds the kernel's bits).
    fn to_libc(self) -> libc::sigset_t {
        // SAFETY: sigset_t is plain data (an array of unsigned longs); all-zero is the
        // empty set.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: sigset_t is at least 8 bytes and 8-aligned on the 64-bit targets sup
        // builds for; its first 8 bytes are the kernel's mask word.
        unsafe { std::ptr::write(std::ptr::addr_of_mut!(set).cast::<u64>(), self.0) };
        set
    }
}

/// One signal as read from the signalfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// The sending process (0 when the kernel sent it on nobody's behalf).
    pub sender: u32,
}

/// Blocks every blockable signal and returns a non-blocking signalfd that receives them.
/// SIGPIPE is also set to SIG_IGN, so a write to a closed socket fails with EPIPE even if
/// the mask were ever lifted. Call before any thread or child exists.
pub fn signal_fd() -> std::io::Result<OwnedFd> {
    let set = KernelSigSet::all_blockable();
    // SAFETY: rt_sigprocmask reads 8 bytes (the kernel's sigset size) from `set.0`, a
    // live u64, and writes nothing (null old set). The raw call, unlike glibc's wrapper,
    // does not drop signals 32 and 33 from the set.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &set.0 as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: installing SIG_IGN runs no code of ours asynchronously.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(std::io::Error::last_os_error());
    }
    let mask = set.to_libc();
    // SAFETY: `mask` is a valid sigset_t for the call; -1 asks for a new fd. glibc's
    // signalfd passes the set through to the kernel unfiltered.
    let fd = unsafe { libc::signalfd(-1, &mask, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: signalfd just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads every pending signal until the fd would block. Signals sup caused itself (sent
/// by its own pid) are dropped: see the module doc.
pub fn drain(fd: &OwnedFd) -> Vec<Received> {
    let me = std::process::id();
    let mut out = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is a live, writable buffer of `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                std::ptr::addr_of_mut!(info).cast::<libc::c_void>(),
                size,
            )
        };
        if n != size as isize {
            // EAGAIN (drained), EINTR or a short read (cannot happen): nothing more now.
            return out;
        }
        let r = Received {
            signo: info.ssi_signo as i32,
            sender: info.ssi_pid,
        };
        if is_self_inflicted(r, info.ssi_code, me) {
            log::debug!("dropping signal {} caused by sup itself", r.signo);
            continue;
        }
        out.push(r);
    }
}

/// A signal the kernel raised against sup for sup's own action (SIGPIPE, SIGXFSZ): sent
/// "by" sup's own pid with SI_USER. sup never signals itself otherwise.
fn is_self_inflicted(r: Received, code: i32, me: u32) -> bool {
    r.sender == me && code == libc::SI_USER && r.signo != libc::SIGCHLD
}

/// Marks sup as child subreaper: orphans of its units are reparented to it and reaped.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockable_set_holds_everything_but_kill_and_stop() {
        let set = KernelSigSet::all_blockable();
        for sig in 1..=NSIG {
            let expected = sig != libc::SIGKILL && sig != libc::SIGSTOP;
            assert_eq!(set.contains(sig), expected, "signal {sig}");
        }
        assert!(!set.contains(0) && !set.contains(65));
    }

    #[test]
    fn libc_view_matches_the_kernel_bits() {
        let set = KernelSigSet::all_blockable().to_libc();
        for sig in [libc::SIGSEGV, libc::SIGPIPE, libc::SIGSYS, libc::SIGRTMAX()] {
            // SAFETY: `set` is a valid sigset_t; the numbers are valid signals.
            assert_eq!(unsafe { libc::sigismember(&set, sig) }, 1, "signal {sig}");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sigismember(&set, libc::SIGKILL) }, 0);
    }

    #[test]
    fn only_sups_own_kernel_signals_are_dropped() {
        let me = 4242;
        let pipe = |sender| Received {
            signo: libc::SIGPIPE,
            sender,
        };
        assert!(is_self_inflicted(pipe(me), libc::SI_USER, me));
        assert!(!is_self_inflicted(pipe(7), libc::SI_USER, me));
        assert!(!is_self_inflicted(pipe(me), libc::SI_QUEUE, me));
        let chld = Received {
            signo: libc::SIGCHLD,
            sender: me,
        };
        assert!(!is_self_inflicted(chld, libc::SI_USER, me));
    }
}
