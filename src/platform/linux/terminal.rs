//! Entrypoint mode's terminal on Linux: sessions, the controlling terminal, the
//! foreground process group and stop reports (`waitid(WSTOPPED)`) for shell job control.

use super::LinuxPlatform;
use crate::platform::terminal::Terminal;
use crate::platform::StdinMode;
use crate::proc::Pid;

/// Takes pending (blocked) instances of `sigs` off sup's queue without waiting.
fn consume_pending(sigs: &[i32]) {
    // SAFETY: a zeroed sigset_t is then initialised by sigemptyset/sigaddset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signals are valid numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
    }
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `zero` are valid for the call; no siginfo is asked for. The
    // signals are blocked in sup, so sigtimedwait takes them without any handler running.
    while unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) } > 0 {}
}

impl Terminal for LinuxPlatform {
    /// When sup leads the terminal's session (a container's PID 1 with a tty, `script`),
    /// sup lets go of the terminal so the command's new session can take it. When the
    /// terminal belongs to another session (sup started from a shell), a new session
    /// could only steal it from that shell, so the command gets a new process group in
    /// sup's session, made the foreground group.
    fn main_stdin(&mut self) -> StdinMode {
        // SAFETY: isatty, getpid, getsid and tcgetsid take integers and only query.
        let (tty, me, my_sid, tty_sid) = unsafe {
            (
                libc::isatty(0) == 1,
                libc::getpid(),
                libc::getsid(0),
                libc::tcgetsid(0),
            )
        };
        if !tty {
            return StdinMode::Inherit;
        }
        if tty_sid == me {
            // SAFETY: TIOCNOTTY takes no argument. As session leader this sends SIGHUP
            // and SIGCONT to sup's own (foreground) group; both are blocked and consumed
            // below.
            unsafe { libc::ioctl(0, libc::TIOCNOTTY) };
            consume_pending(&[libc::SIGHUP, libc::SIGCONT]);
            return StdinMode::TakeTerminal;
        }
        if tty_sid == my_sid {
            return StdinMode::ForegroundGroup;
        }
        StdinMode::Inherit
    }

    fn reclaim_terminal(&mut self) {
        // SAFETY: tcsetpgrp and getpgrp take integers; failure only leaves the group as
        // it was. SIGTTOU is blocked in sup, so this cannot stop it.
        unsafe { libc::tcsetpgrp(0, libc::getpgrp()) };
    }

    fn pass_terminal(&mut self, pgid: Pid) {
        // SAFETY: tcgetpgrp/getpgrp/tcsetpgrp take integers; SIGTTOU is blocked in sup,
        // so tcsetpgrp from the foreground cannot stop it.
        unsafe {
            if libc::tcgetpgrp(0) == libc::getpgrp() {
                libc::tcsetpgrp(0, pgid.raw() as libc::pid_t);
            }
        }
    }

    fn stopped_by_terminal(&mut self, pid: Pid) -> Option<i32> {
        // SAFETY: siginfo_t is plain data; all-zero is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer; WSTOPPED without WEXITED only takes a
        // stop report of this one child (its exit stays for the reaper); WNOHANG.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid.raw() as libc::id_t,
                &mut info,
                libc::WSTOPPED | libc::WNOHANG,
            )
        };
        // SAFETY: si_status is valid for a CLD_STOPPED report, which si_code says it is
        // (it is only used when it does).
        let (code, status) = (info.si_code, unsafe { info.si_status() });
        let by_terminal = matches!(status, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        (r == 0 && code == libc::CLD_STOPPED && by_terminal).then_some(status)
    }

    fn stop_self(&mut self) {
        // SAFETY: SIGSTOP to sup itself; it resumes here on SIGCONT.
        unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
    }
}
