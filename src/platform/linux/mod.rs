//! The Linux backend: fork/exec with setup in the child, process-group signalling,
//! reaping with `waitpid(-1, WNOHANG)`, signals through a signalfd.

pub mod caps;
pub mod cgroup;
pub mod groups;
pub mod isolate;
pub mod listen;
pub mod net;
pub mod notify;
pub mod outpipe;
pub mod pid1;
pub mod procinfo;
pub mod program;
pub mod recover;
pub mod signals;
pub mod spawn;
pub mod system;
pub mod terminal;
pub mod transport;
pub mod users;
pub mod vfork;
pub mod watch;

use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::{Asks, Child, OsEvent, Platform, SpawnSpec};
use crate::proc::{sig, Exit, Pid, Stop};

#[derive(Debug, Default)]
pub struct LinuxPlatform {
    /// sup's cgroup subtree, once `init_cgroups` found a writable hierarchy.
    pub cgroups: Option<cgroup::Cgroups>,
    /// Why there is none (units with resources or a slice fail with it).
    pub cgroup_error: Option<String>,
    /// The signalfd every signal to sup arrives on (see `signals`).
    sigfd: Option<OwnedFd>,
    /// The units' cgroups and their OOM watches (`ResourceGroups`).
    pub groups: groups::LinuxGroups,
    /// The units' file watches (`FileWatch`).
    pub watches: watch::LinuxWatches,
}

impl LinuxPlatform {
    pub fn new() -> LinuxPlatform {
        LinuxPlatform::default()
    }
}

/// A `waitpid` status as an exit: a code or the signal that killed the process (any
/// signal number, real-time ones included). None for stop/continue reports.
pub fn exit_of(status: libc::c_int) -> Option<Exit> {
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill takes plain integers; an unknown pid or group only yields ESRCH.
    unsafe { libc::kill(pid, signal) };
}

impl Platform for LinuxPlatform {
    type Pipe = outpipe::PipeReader;

    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child<outpipe::PipeReader>, String> {
        spawn::spawn(spec)
    }

    /// Blocks every blockable signal into a signalfd (see `signals`) and makes sup the
    /// child subreaper of its units' orphans.
    fn watch_events(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        let fd = signals::signal_fd()?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        self.sigfd = Some(fd);
        if let Err(e) = signals::become_subreaper() {
            log::warn!(
                "cannot become child subreaper ({e}); orphans of units will not be reaped by sup"
            );
        }
        Ok(())
    }

    fn events(&mut self) -> Vec<OsEvent> {
        let Some(fd) = &self.sigfd else {
            return Vec::new();
        };
        signals::drain(fd)
            .into_iter()
            .map(|r| match r.signo {
                sig::CHLD => OsEvent::ChildEnded,
                signo => OsEvent::Signal {
                    signo,
                    sender: Pid::from_raw(r.sender),
                },
            })
            .collect()
    }

    fn watch_console(
        &mut self,
        registry: &Registry,
        stream: usize,
        token: Token,
    ) -> std::io::Result<()> {
        registry.register(
            &mut SourceFd(&[1, 2][stream & 1]),
            token,
            Interest::WRITABLE,
        )
    }

    fn unwatch_console(&mut self, registry: &Registry, stream: usize) {
        let _ = registry.deregister(&mut SourceFd(&[1, 2][stream & 1]));
    }

    fn signal(&mut self, pid: Pid, stop: Stop) {
        kill(pid.raw() as i32, stop.signal());
    }

    fn kill_unit(&mut self, pgid: Pid, stop: Stop) {
        let pgid = pgid.raw();
        if pgid > 1 {
            kill(-(pgid as i32), stop.signal());
        }
    }

    fn reap(&mut self) -> Vec<(Pid, Exit)> {
        let mut out = Vec::new();
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks. The raw call
            // is used because nix's status conversion fails for real-time signals (no
            // `Signal` for them) after the child was already reaped, losing its exit.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                // 0: children left but none has changed; -1: ECHILD (none) or EINTR.
                if pid == -1
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                break;
            }
            if let Some(exit) = exit_of(status) {
                out.push((Pid::from_raw(pid as u32), exit));
            }
        }
        out
    }

    /// Linux honours every key; resources and slices need a cgroup.
    fn unsupported(&self, asks: &Asks<'_>) -> Option<String> {
        self.cgroup_missing(asks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The neutral signal numbers of `proc::sig` are the kernel's.
    #[test]
    fn neutral_signal_numbers_are_the_kernels() {
        use crate::proc::sig;
        let pairs = [
            (sig::HUP, libc::SIGHUP),
            (sig::INT, libc::SIGINT),
            (sig::QUIT, libc::SIGQUIT),
            (sig::ILL, libc::SIGILL),
            (sig::TRAP, libc::SIGTRAP),
            (sig::ABRT, libc::SIGABRT),
            (sig::BUS, libc::SIGBUS),
            (sig::FPE, libc::SIGFPE),
            (sig::KILL, libc::SIGKILL),
            (sig::USR1, libc::SIGUSR1),
            (sig::SEGV, libc::SIGSEGV),
            (sig::USR2, libc::SIGUSR2),
            (sig::PIPE, libc::SIGPIPE),
            (sig::ALRM, libc::SIGALRM),
            (sig::TERM, libc::SIGTERM),
            (sig::STKFLT, libc::SIGSTKFLT),
            (sig::CHLD, libc::SIGCHLD),
            (sig::CONT, libc::SIGCONT),
            (sig::STOP, libc::SIGSTOP),
            (sig::TSTP, libc::SIGTSTP),
            (sig::TTIN, libc::SIGTTIN),
            (sig::TTOU, libc::SIGTTOU),
            (sig::URG, libc::SIGURG),
            (sig::XCPU, libc::SIGXCPU),
            (sig::XFSZ, libc::SIGXFSZ),
            (sig::VTALRM, libc::SIGVTALRM),
            (sig::PROF, libc::SIGPROF),
            (sig::WINCH, libc::SIGWINCH),
            (sig::IO, libc::SIGIO),
            (sig::PWR, libc::SIGPWR),
            (sig::SYS, libc::SIGSYS),
        ];
        for (ours, kernel) in pairs {
            assert_eq!(ours, kernel, "{}", crate::proc::signal_name(ours));
        }
    }

    #[test]
    fn wait_statuses_become_exits() {
        // Encodings of <sys/wait.h>: exited with code N = N << 8; killed by S = S.
        assert_eq!(exit_of(7 << 8), Some(Exit::Code(7)));
        assert_eq!(exit_of(libc::SIGKILL), Some(Exit::Signal(libc::SIGKILL)));
        assert_eq!(exit_of(40), Some(Exit::Signal(40)));
        assert_eq!(exit_of(33 | 0x80), Some(Exit::Signal(33)), "core dumped");
        assert_eq!(exit_of(0x7f | (libc::SIGSTOP << 8)), None, "stopped");
    }
}
