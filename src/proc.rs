//! The process vocabulary that the core and every platform share: unit ids (`UnitId`),
//! process ids (`Pid`), how a process ended (`Exit`) and signal numbers with their names. Nothing here
//! touches the OS; the numbers are Linux's (the only platform with signals), named where
//! the platform has them.

use std::fmt;

/// A unit as the engine, the runtime and the platform's groups name it: its position
/// among the loaded units (fixed for the life of a load). Not its name (that is
/// `UnitName`); shown as `#3`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct UnitId(usize);

impl UnitId {
    /// The unit at this position of the engine's unit list.
    pub const fn from_index(index: usize) -> UnitId {
        UnitId(index)
    }

    /// Its position in the engine's unit list (for indexing per-unit vectors).
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A process (or process group) id as the OS gave it. Only the backends and the
/// protocol edge (status, events, notify messages) see the number; shown as the number.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Pid(u32);

impl Pid {
    /// The process with this OS id.
    pub const fn from_raw(pid: u32) -> Pid {
        Pid(pid)
    }

    /// Its OS id.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (its number).
    Signal(i32),
    /// Windows: it ended with an NTSTATUS (an exception such as `0xC0000005`, or ended
    /// with one), not an exit code of its own.
    NtStatus(u32),
}

/// NTSTATUS values a crashed or interrupted Windows process commonly ends with.
const NT_NAMES: &[(u32, &str)] = &[
    (0x8000_0003, "STATUS_BREAKPOINT"),
    (0xC000_0005, "STATUS_ACCESS_VIOLATION"),
    (0xC000_0017, "STATUS_NO_MEMORY"),
    (0xC000_001D, "STATUS_ILLEGAL_INSTRUCTION"),
    (0xC000_0094, "STATUS_INTEGER_DIVIDE_BY_ZERO"),
    (0xC000_0096, "STATUS_PRIVILEGED_INSTRUCTION"),
    (0xC000_00FD, "STATUS_STACK_OVERFLOW"),
    (0xC000_0135, "STATUS_DLL_NOT_FOUND"),
    (0xC000_0139, "STATUS_ENTRYPOINT_NOT_FOUND"),
    (0xC000_013A, "STATUS_CONTROL_C_EXIT"),
    (0xC000_0142, "STATUS_DLL_INIT_FAILED"),
    (0xC000_0374, "STATUS_HEAP_CORRUPTION"),
    (0xC000_0409, "STATUS_STACK_BUFFER_OVERRUN"),
    (0xC000_0602, "STATUS_FAIL_FAST_EXCEPTION"),
];

/// `STATUS_…` for a well-known NTSTATUS.
pub fn ntstatus_name(status: u32) -> Option<&'static str> {
    NT_NAMES.iter().find(|(v, _)| *v == status).map(|(_, n)| *n)
}

/// An NTSTATUS as status and log text show it: `0xC0000005 (STATUS_ACCESS_VIOLATION)`.
pub fn ntstatus_text(status: u32) -> String {
    match ntstatus_name(status) {
        Some(name) => format!("0x{status:08X} ({name})"),
        None => format!("0x{status:08X}"),
    }
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// `exit code 3`, `killed by SIGKILL`, `ended with NTSTATUS 0xC0000005 (…)`.
    pub fn describe(self) -> String {
        match self {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal(s) => format!("killed by {}", signal_name(s)),
            Exit::NtStatus(s) => format!("ended with NTSTATUS {}", ntstatus_text(s)),
        }
    }
}

/// What sup asks of a process, or of every process of a unit, in terms each platform
/// maps: Linux sends the signal (`Terminate` is SIGTERM, `Kill` SIGKILL); Windows, which
/// has no signals, ends the job for `Kill` and sends CTRL_BREAK to the process group for
/// anything else (a unit's `stop.signal`, whatever it names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Terminate,
    Kill,
    /// A named signal, where the platform has signals.
    Signal(i32),
}

impl Stop {
    /// The intent a signal number stands for.
    pub fn from_signal(signal: i32) -> Stop {
        match signal {
            sig::TERM => Stop::Terminate,
            sig::KILL => Stop::Kill,
            n => Stop::Signal(n),
        }
    }

    /// The signal that carries it out where there are signals.
    pub fn signal(self) -> i32 {
        match self {
            Stop::Terminate => sig::TERM,
            Stop::Kill => sig::KILL,
            Stop::Signal(n) => n,
        }
    }
}

/// Signal numbers (Linux x86_64 and aarch64 numbering).
pub mod sig {
    pub const HUP: i32 = 1;
    pub const INT: i32 = 2;
    pub const QUIT: i32 = 3;
    pub const ILL: i32 = 4;
    pub const TRAP: i32 = 5;
    pub const ABRT: i32 = 6;
    /// Alias of `ABRT`.
    pub const IOT: i32 = ABRT;
    pub const BUS: i32 = 7;
    pub const FPE: i32 = 8;
    pub const KILL: i32 = 9;
    pub const USR1: i32 = 10;
    pub const SEGV: i32 = 11;
    pub const USR2: i32 = 12;
    pub const PIPE: i32 = 13;
    pub const ALRM: i32 = 14;
    pub const TERM: i32 = 15;
    pub const STKFLT: i32 = 16;
    pub const CHLD: i32 = 17;
    pub const CONT: i32 = 18;
    pub const STOP: i32 = 19;
    pub const TSTP: i32 = 20;
    pub const TTIN: i32 = 21;
    pub const TTOU: i32 = 22;
    pub const URG: i32 = 23;
    pub const XCPU: i32 = 24;
    pub const XFSZ: i32 = 25;
    pub const VTALRM: i32 = 26;
    pub const PROF: i32 = 27;
    pub const WINCH: i32 = 28;
    pub const IO: i32 = 29;
    /// Alias of `IO`.
    pub const POLL: i32 = IO;
    pub const PWR: i32 = 30;
    pub const SYS: i32 = 31;
}

/// `SIGTERM`-style name of a signal number (or the number as text when unknown).
pub fn signal_name(signal: i32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(signal)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| NAMES.get(i))
        .map(|s| s.to_string())
        .unwrap_or_else(|| signal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ids_are_positions_not_names() {
        let id = UnitId::from_index(3);
        assert_eq!(id.index(), 3);
        assert_eq!(id.to_string(), "#3");
        assert!(UnitId::from_index(2) < id);
    }

    #[test]
    fn pids_show_as_their_number() {
        let pid = Pid::from_raw(4321);
        assert_eq!(pid.raw(), 4321);
        assert_eq!(pid.to_string(), "4321");
        assert_eq!(format!("pid {pid}"), "pid 4321");
    }

    #[test]
    fn names_of_numbers() {
        assert_eq!(signal_name(sig::TERM), "SIGTERM");
        assert_eq!(signal_name(sig::SYS), "SIGSYS");
        assert_eq!(signal_name(sig::STKFLT), "SIGSTKFLT");
        assert_eq!(signal_name(40), "40");
        assert_eq!(signal_name(0), "0");
        assert_eq!(signal_name(-3), "-3");
    }

    #[test]
    fn exits_describe_themselves_on_every_platform() {
        assert_eq!(Exit::Code(3).describe(), "exit code 3");
        assert_eq!(Exit::Signal(sig::KILL).describe(), "killed by SIGKILL");
        assert_eq!(
            Exit::NtStatus(0xC000_0005).describe(),
            "ended with NTSTATUS 0xC0000005 (STATUS_ACCESS_VIOLATION)"
        );
        assert_eq!(ntstatus_text(0xC012_3456), "0xC0123456");
        assert!(!Exit::NtStatus(0).success());
    }
}
