//! fork + exec of a unit's process. Everything the child needs is prepared before `fork`;
//! between `fork` and `exec` the child makes only async-signal-safe system calls and, on
//! failure, reports `(step, errno)` (in shared memory when started by vfork, else through a
//! close-on-exec pipe), so the parent learns exactly which step failed and why.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::isolate::{self, IsoStep};
use super::outpipe::PipeReader;
use super::users::{self, Creds};
use crate::limits::RlimitResource;
use crate::platform::env::DEFAULT_PATH;
use crate::platform::{Child, SpawnSpec, StdinMode};
use crate::proc::Pid;

/// The kernel's number for an rlimit resource.
#[allow(clippy::unnecessary_cast)] // the type of RLIMIT_* differs between libcs
fn rlimit_resource(r: RlimitResource) -> libc::c_int {
    (match r {
        RlimitResource::As => libc::RLIMIT_AS,
        RlimitResource::Core => libc::RLIMIT_CORE,
        RlimitResource::Cpu => libc::RLIMIT_CPU,
        RlimitResource::Data => libc::RLIMIT_DATA,
        RlimitResource::Fsize => libc::RLIMIT_FSIZE,
        RlimitResource::Locks => libc::RLIMIT_LOCKS,
        RlimitResource::Memlock => libc::RLIMIT_MEMLOCK,
        RlimitResource::Msgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitResource::Nice => libc::RLIMIT_NICE,
        RlimitResource::Nofile => libc::RLIMIT_NOFILE,
        RlimitResource::Nproc => libc::RLIMIT_NPROC,
        RlimitResource::Rss => libc::RLIMIT_RSS,
        RlimitResource::Rtprio => libc::RLIMIT_RTPRIO,
        RlimitResource::Rttime => libc::RLIMIT_RTTIME,
        RlimitResource::Sigpending => libc::RLIMIT_SIGPENDING,
        RlimitResource::Stack => libc::RLIMIT_STACK,
    }) as libc::c_int
}

/// Steps of child setup, reported back on failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Step {
    Signals = 1,
    Setsid,
    Stdio,
    PassFd,
    Sockets,
    Chdir,
    Rlimit,
    Setgroups,
    Setgid,
    Setuid,
    NoNewPrivs,
    Exec,
}

impl Step {
    fn from_u32(n: u32) -> Option<Step> {
        use Step::*;
        [
            Signals, Setsid, Stdio, PassFd, Sockets, Chdir, Rlimit, Setgroups, Setgid, Setuid,
            NoNewPrivs, Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == n)
    }
}

/// Turns a `-1` return into `io::Error`.
fn cvt(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an fd we own; no memory is passed.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

fn cstring(s: impl AsRef<OsStr>, what: &str) -> Result<CString, String> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| format!("{what} contains a NUL byte"))
}

/// `NAME=VALUE` for `envp`, built in one allocation.
fn env_entry(name: &OsStr, value: &OsStr) -> Result<CString, String> {
    let (name, value) = (name.as_bytes(), value.as_bytes());
    let mut entry = Vec::with_capacity(name.len() + value.len() + 2);
    entry.extend_from_slice(name);
    entry.push(b'=');
    entry.extend_from_slice(value);
    CString::new(entry).map_err(|_| {
        format!(
            "environment variable {} contains a NUL byte",
            String::from_utf8_lossy(name)
        )
    })
}

/// Finds `prog` on `path` (the unit's `PATH`, else [`DEFAULT_PATH`]) unless it contains
/// a slash.
fn resolve_program(prog: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, String> {
    if prog.is_empty() {
        return Err("exec: empty program name".into());
    }
    if prog.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(prog));
    }
    let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    for dir in path
        .as_bytes()
        .split(|b| *b == b':')
        .filter(|d| !d.is_empty())
    {
        let candidate = Path::new(OsStr::from_bytes(dir)).join(prog);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "exec {}: not found in PATH ({})",
        prog.to_string_lossy(),
        path.to_string_lossy()
    ))
}

/// `/dev/null` (close-on-exec), a unit's stdin by default: the reserved low one of
/// `vfork` (no slot needed), else one opened once and kept.
fn dev_null() -> std::io::Result<RawFd> {
    if let Some(fd) = super::vfork::low_dev_null() {
        return Ok(fd);
    }
    static DEV_NULL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    if let Some(f) = DEV_NULL.get() {
        return Ok(f.as_raw_fd());
    }
    let f = std::fs::File::open("/dev/null")?;
    Ok(DEV_NULL.get_or_init(|| f).as_raw_fd())
}

/// The kernel's `struct sigaction` for `rt_sigaction(2)` (x86_64 and aarch64 layout; on
/// arches without `sa_restorer` the mask moves up, which is harmless here: the handler
/// is first everywhere and every other field is zero). The raw call reaches every
/// signal: glibc's wrappers refuse 32 and 33, which it keeps for itself, so an ignored
/// 32/33 inherited by sup would stay ignored in every unit.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

const SIG_DFL_ACTION: KernelSigaction = KernelSigaction {
    handler: libc::SIG_DFL,
    flags: 0,
    restorer: 0,
    mask: 0,
};

/// The signals whose disposition in sup is not SIG_DFL (handled or ignored), looked up
/// once: sup sets no disposition after start-up (it takes signals through a signalfd),
/// so the list stays true. A child resets just these instead of every signal.
fn non_default_signals() -> &'static [libc::c_int] {
    static LIST: std::sync::OnceLock<Vec<libc::c_int>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        (1..=libc::SIGRTMAX())
            .filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP)
            .filter(|&sig| {
                let mut old = KernelSigaction { ..SIG_DFL_ACTION };
                // SAFETY: with a null new action rt_sigaction only writes the current one
                // into `old`, a valid out-parameter of the kernel's layout; 8 is the
                // kernel's sigset size.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        std::ptr::null::<KernelSigaction>(),
                        &mut old as *mut KernelSigaction,
                        8usize,
                    )
                };
                r != 0 || old.handler != libc::SIG_DFL
            })
            .collect()
    })
}

/// `shared_err` before the child stored anything (no step number is all ones).
const NO_ERROR: u64 = u64::MAX;

/// Starts the process. See `platform` for the contract.
pub fn spawn(spec: &SpawnSpec) -> Result<Child<PipeReader>, String> {
    let prog = spec.argv.first().ok_or("exec: empty command")?;
    let creds: Option<Creds> = if spec.user.is_some() || spec.group.is_some() {
        Some(users::resolve(spec.user.as_deref(), spec.group.as_deref())?)
    } else {
        None
    };
    let path = resolve_program(prog, spec.env.get("PATH"))?;
    let c_path = cstring(&path, "exec path")?;
    let c_argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a, "argument"))
        .collect::<Result<_, _>>()?;
    let mut c_env: Vec<CString> = Vec::with_capacity(spec.env.len() + 6);
    let listening = !spec.listen_fds.is_empty();
    for (name, value) in spec.env.iter() {
        if listening && LISTEN_VARS.iter().any(|v| name == OsStr::new(v)) {
            continue;
        }
        c_env.push(env_entry(name, value)?);
    }
    // Socket activation: LISTEN_FDS and LISTEN_FDNAMES now, LISTEN_PID written by the
    // child into `listen_pid` (its pid is known only there).
    let mut listen_pid: Vec<u8> = Vec::new();
    if listening {
        let names: Vec<&str> = spec.listen_fds.iter().map(|(_, n)| n.as_str()).collect();
        let count = spec.listen_fds.len().to_string();
        c_env.push(env_entry("LISTEN_FDS".as_ref(), count.as_ref())?);
        c_env.push(env_entry(
            "LISTEN_FDNAMES".as_ref(),
            names.join(":").as_ref(),
        )?);
        listen_pid.extend_from_slice(b"LISTEN_PID=");
        // Room for the largest pid (10 digits) and the NUL.
        listen_pid.extend_from_slice(&[0u8; 11]);
    }
    let listen_raw: Vec<RawFd> = spec.listen_fds.iter().map(|(fd, _)| *fd).collect();
    let mut listen_tmp: Vec<RawFd> = vec![-1; listen_raw.len()];
    // Switching to a user sets its HOME, USER and LOGNAME unless the environment has them
    // (the runtime leaves sup's own out of a unit that switches user).
    if let (Some(c), true) = (&creds, spec.user.is_some()) {
        for (name, value) in [("HOME", &c.home), ("USER", &c.name), ("LOGNAME", &c.name)] {
            if let (Some(v), None) = (value, spec.env.get(name)) {
                c_env.push(env_entry(name.as_ref(), v.as_ref())?);
            }
        }
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = c_argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // `/bin/sh FILE ARGS...` for a file exec refuses as not a program (execvp's rule).
    let sh_argv: Option<Vec<*const libc::c_char>> = spec.sh_fallback.then(|| {
        let mut v = vec![SH.as_ptr(), c_path.as_ptr()];
        v.extend(c_argv.iter().skip(1).map(|c| c.as_ptr()));
        v.push(std::ptr::null());
        v
    });
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|c| c.as_ptr()).collect();
    let listen_pid_digits: *mut u8 = if listening {
        let entry = listen_pid.as_mut_ptr();
        env_ptrs.push(entry.cast_const().cast());
        // SAFETY: `listen_pid` holds "LISTEN_PID=" (11 bytes) and 11 more; the pointer
        // stays inside it.
        unsafe { entry.add(11) }
    } else {
        std::ptr::null_mut()
    };
    env_ptrs.push(std::ptr::null());
    let c_dir = spec
        .working_dir
        .as_ref()
        .map(|d| cstring(d, "working_dir"))
        .transpose()?;
    let mut rlimits: Vec<(libc::c_int, libc::rlimit)> = spec
        .rlimits
        .iter()
        .map(|r| {
            (
                rlimit_resource(r.resource),
                libc::rlimit {
                    rlim_cur: r.soft as libc::rlim_t,
                    rlim_max: r.hard as libc::rlim_t,
                },
            )
        })
        .collect();
    // sup raised its own open-file limit (it holds a few fds per unit); a child gets the
    // one sup was started with, unless the unit sets `rlimits: {nofile: …}`.
    if let Some(lim) = super::system::nofile_for_children() {
        if !rlimits
            .iter()
            .any(|(r, _)| *r == libc::RLIMIT_NOFILE as libc::c_int)
        {
            rlimits.push((libc::RLIMIT_NOFILE as libc::c_int, lim));
        }
    }
    let groups: Vec<libc::gid_t> = creds.as_ref().map(|c| c.groups.clone()).unwrap_or_default();

    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let devnull = dev_null().map_err(|e| io("open /dev/null", e))?;
    let (out_r, out_w) = if spec.capture {
        pipe()
            .map(|(r, w)| (Some(r), Some(w)))
            .map_err(|e| io("pipe", e))?
    } else {
        (None, None)
    };
    let (err_r, err_w) = if spec.capture {
        pipe()
            .map(|(r, w)| (Some(r), Some(w)))
            .map_err(|e| io("pipe", e))?
    } else {
        (None, None)
    };
    let iso = isolate::prepare(&spec.confine)?;
    // No namespaces: the child shares our memory (vfork) and, if a step fails, stores
    // `(step, errno)` in `shared_err` before it exits; clone returns only after that. A
    // forked child reports through a close-on-exec pipe instead. (With vfork a pipe would
    // cost more than the pipe: clone returns as soon as the exec has replaced the child's
    // memory, but the pipe closes only later in the exec, so the read would wait for it.)
    let vfork = iso.clone_flags == 0 && iso.unshare_flags == 0 && iso.release.is_none();
    let shared_err = AtomicU64::new(NO_ERROR);
    let (report_r, report_w) = if vfork {
        (None, None)
    } else {
        let (r, w) = pipe().map_err(|e| io("pipe", e))?;
        (Some(r), Some(w))
    };

    let cgroup_fds: Vec<RawFd> = iso.cgroup_fds.iter().map(|f| f.as_raw_fd()).collect();
    let setup = ChildSetup {
        path: c_path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        dir: c_dir.as_ref().map(|d| d.as_ptr()),
        umask: spec.umask,
        rlimits: &rlimits,
        creds: creds.as_ref().map(|c| (c.uid, c.gid)),
        set_groups: spec.user.is_some(),
        groups: &groups,
        no_new_privs: spec.no_new_privileges,
        stdin: if spec.stdin == StdinMode::Null {
            devnull
        } else {
            0
        },
        stdin_mode: spec.stdin,
        stdout: out_w.as_ref().map(|f| f.as_raw_fd()),
        stderr: err_w.as_ref().map(|f| f.as_raw_fd()),
        report: report_w.as_ref().map_or(-1, |w| w.as_raw_fd()),
        shared_err: vfork.then_some(&shared_err),
        reset_signals: non_default_signals(),
        iso: &iso,
        pass_fd: spec.pass_fd,
        listen_fds: &listen_raw,
        listen_tmp: listen_tmp.as_mut_ptr(),
        listen_pid: listen_pid_digits,
        cgroup_fds: &cgroup_fds,
        keep_below: None,
        sh_argv: sh_argv.as_ref().map(|v| v.as_ptr()),
    };

    let pid = if vfork {
        // The common case: no namespaces. Share memory with the child and stay suspended
        // until it has executed (like posix_spawn): no page tables to copy.
        super::vfork::spawn(&setup)
    } else {
        // SAFETY: sup is single-threaded, so the child is a full copy with no lock held by
        // another thread; the child only runs `child_main`, which makes async-signal-safe
        // system calls on data prepared above and never returns.
        unsafe { isolate::fork(&iso) }
    };
    if pid == -1 {
        let what = if iso.clone_flags != 0 {
            "namespaces: clone (pid/user)"
        } else {
            "fork"
        };
        return Err(io(what, std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child; see `child_main`.
        unsafe { child_main(&setup) }
    }
    drop((out_w, err_w, report_w));
    if let Err(e) = isolate::parent_release(&iso, pid) {
        // SAFETY: `pid` is our child, still waiting for the release; `status` is a
        // valid out-pointer.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut 0, 0);
        }
        return Err(e);
    }
    drop(iso);
    let mut buf = [0u8; 8];
    let failed = match &report_r {
        Some(r) => read_full(r.as_raw_fd(), &mut buf) != 0,
        None => {
            let packed = shared_err.load(Ordering::SeqCst);
            buf = packed.to_ne_bytes();
            packed != NO_ERROR
        }
    };
    if !failed {
        for fd in [&out_r, &err_r].into_iter().flatten() {
            // SAFETY: F_SETFL on a pipe end we own; a fresh pipe end has no other status
            // flag to keep, so no F_GETFL first.
            cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })
                .map_err(|e| io("fcntl", e))?;
        }
        return Ok(Child {
            pid: Pid::from_raw(pid as u32),
            stdout: out_r.map(PipeReader::new),
            stderr: err_r.map(PipeReader::new),
        });
    }
    // The child failed before exec and has exited: collect it now so no zombie is left.
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let step_no = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let step = Step::from_u32(step_no);
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let cause = std::io::Error::from_raw_os_error(errno);
    let cause = cause.to_string();
    let cause = cause
        .split(" (os error")
        .next()
        .unwrap_or(&cause)
        .to_string();
    if let Some(msg) = isolate::describe(step_no, &spec.confine, &cause) {
        return Err(msg);
    }
    Err(describe(step, spec, &path, creds.as_ref(), &cause))
}

fn describe(
    step: Option<Step>,
    spec: &SpawnSpec,
    path: &Path,
    creds: Option<&Creds>,
    cause: &str,
) -> String {
    let who = |c: Option<&Creds>| c.map(|c| (c.uid, c.gid)).unwrap_or((0, 0));
    match step {
        Some(Step::Exec) => format!("exec {}: {cause}", path.display()),
        Some(Step::Chdir) => {
            format!(
                "working_dir {}: {cause}",
                spec.working_dir
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            )
        }
        Some(Step::Setuid) => format!(
            "user {}: cannot switch to uid {}: {cause}",
            spec.user.as_deref().unwrap_or(""),
            who(creds).0
        ),
        Some(Step::Setgid) | Some(Step::Setgroups) => {
            format!("group: cannot switch to gid {}: {cause}", who(creds).1)
        }
        Some(Step::Rlimit) => format!("rlimits: {cause}"),
        Some(Step::NoNewPrivs) => format!("no_new_privileges: {cause}"),
        Some(Step::PassFd) => format!("ready fd: {cause}"),
        Some(Step::Sockets) => format!("sockets: passing them to the process: {cause}"),
        Some(s) => format!("{s:?}: {cause}").to_lowercase(),
        None => format!("setup: {cause}"),
    }
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_full(fd: RawFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n > 0 {
            got += n as usize;
        } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    got
}

/// Everything the child uses, as raw pointers and plain values prepared before fork.
#[derive(Clone, Copy)]
pub(super) struct ChildSetup<'a> {
    pub(super) path: *const libc::c_char,
    pub(super) argv: *const *const libc::c_char,
    pub(super) envp: *const *const libc::c_char,
    pub(super) dir: Option<*const libc::c_char>,
    pub(super) umask: Option<u32>,
    pub(super) rlimits: &'a [(libc::c_int, libc::rlimit)],
    pub(super) creds: Option<(u32, u32)>,
    pub(super) set_groups: bool,
    pub(super) groups: &'a [libc::gid_t],
    pub(super) no_new_privs: bool,
    pub(super) stdin: RawFd,
    pub(super) stdin_mode: StdinMode,
    pub(super) stdout: Option<RawFd>,
    pub(super) stderr: Option<RawFd>,
    /// Close-on-exec pipe for `(step, errno)` when the child is forked (-1 with vfork).
    pub(super) report: RawFd,
    /// With vfork (shared memory): where the child stores `(step, errno)` instead.
    pub(super) shared_err: Option<&'a AtomicU64>,
    /// Signals whose disposition in sup is not SIG_DFL (the child resets them).
    pub(super) reset_signals: &'a [libc::c_int],
    pub(super) iso: &'a isolate::Prep,
    /// `(fd, n)`: make `fd` the child's fd `n`, without close-on-exec.
    pub(super) pass_fd: Option<(RawFd, RawFd)>,
    /// Listening sockets, to become fds 3, 4, … in this order, without close-on-exec.
    pub(super) listen_fds: &'a [RawFd],
    /// Scratch room for as many fds as `listen_fds` (the child's temporary copies).
    pub(super) listen_tmp: *mut RawFd,
    /// Where the child writes its pid in decimal, NUL-terminated (11 bytes), the value
    /// of the `LISTEN_PID=` entry of `envp`; null without sockets.
    pub(super) listen_pid: *mut u8,
    /// `cgroup.procs` of the unit's cgroup(s): the child writes `0` to each first.
    pub(super) cgroup_fds: &'a [RawFd],
    /// Set when the child shares sup's fd table (CLONE_FILES): its first act is to keep
    /// only the fds below this number in a private table (`close_range` unshare).
    pub(super) keep_below: Option<RawFd>,
    /// `/bin/sh FILE ARGS...`, tried when exec fails with ENOEXEC (else None).
    pub(super) sh_argv: Option<*const *const libc::c_char>,
}

/// The variables of the socket activation protocol, replaced when sup passes sockets.
const LISTEN_VARS: [&str; 3] = ["LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"];

/// Writes `n` in decimal at `out`, then a NUL (at most 11 bytes). Async-signal-safe.
///
/// # Safety
/// `out` must be valid for 11 bytes of writes.
unsafe fn write_decimal(out: *mut u8, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (j, d) in digits[..len].iter().rev().enumerate() {
        // SAFETY: j < 10, inside the 11 bytes the caller vouches for.
        unsafe { *out.add(j) = *d };
    }
    // SAFETY: len <= 10.
    unsafe { *out.add(len) = 0 };
}

/// The shell a file without `#!` runs with.
const SH: &std::ffi::CStr = c"/bin/sh";

/// The child between fork and exec.
///
/// # Safety
/// Must be called only in a freshly forked child of a single-threaded process, with every
/// pointer in `s` valid (they point into the parent's memory, which the child shares a
/// copy of). Uses only async-signal-safe calls and never returns.
pub(super) unsafe fn child_main(s: &ChildSetup<'_>) -> ! {
    // SAFETY: every call below is async-signal-safe and receives pointers into `s`,
    // valid per the function's contract; nothing allocates or takes a lock.
    unsafe {
        if let Some(first) = s.keep_below {
            // Still sharing sup's fd table: take a private copy of just 0..first (what the
            // child needs was placed there), before touching any fd. Without close_range
            // (Linux < 5.9), copy the whole table.
            let r = libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_UNSHARE,
            );
            if r != 0 && libc::unshare(libc::CLONE_FILES) != 0 {
                libc::_exit(127);
            }
        }
        let mut report = s.report;
        // Fds 3.. (sockets) and `n` (readiness) are about to be taken: the fds the child
        // still needs go to `top` or above first.
        let listening = s.listen_fds.len() as RawFd;
        let top = s.pass_fd.map_or(3, |(_, n)| n + 1).max(3 + listening);
        let taken =
            |fd: RawFd| s.pass_fd.is_some_and(|(_, n)| fd == n) || (3..3 + listening).contains(&fd);
        if taken(report) {
            report = libc::fcntl(report, libc::F_DUPFD_CLOEXEC, top);
        }
        let fail_n = |step: u32| -> ! {
            let errno = *libc::__errno_location();
            let mut msg = [0u8; 8];
            msg[..4].copy_from_slice(&step.to_ne_bytes());
            msg[4..].copy_from_slice(&errno.to_ne_bytes());
            match s.shared_err {
                Some(cell) => cell.store(u64::from_ne_bytes(msg), Ordering::SeqCst),
                None => {
                    libc::write(report, msg.as_ptr().cast(), msg.len());
                }
            }
            libc::_exit(127);
        };
        let fail = |step: Step| -> ! { fail_n(step as u32) };
        let iso_fail = |step: IsoStep| -> ! { fail_n(step as u32) };
        // First of all: into the unit's cgroup, before anything could fork.
        if let Err(step) = isolate::enter_cgroup(s.iso, s.cgroup_fds) {
            iso_fail(step);
        }
        // A new process group taking the terminal: done while sup's mask (which blocks
        // SIGTTOU) still holds, so tcsetpgrp from a background group does not stop us.
        if s.stdin_mode == StdinMode::ForegroundGroup {
            if libc::setpgid(0, 0) == -1 {
                fail(Step::Setsid);
            }
            libc::tcsetpgrp(0, libc::getpid());
        }
        // Dispositions first, while every signal is still blocked (sup's mask): no
        // handler of sup's can run in the child. Only those not at SIG_DFL need it.
        for &sig in s.reset_signals {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &SIG_DFL_ACTION as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            fail(Step::Signals);
        }
        if s.stdin_mode != StdinMode::ForegroundGroup && libc::setsid() == -1 {
            fail(Step::Setsid);
        }
        if s.stdin_mode == StdinMode::TakeTerminal {
            // Best effort: without it the command still runs, just without job control.
            libc::ioctl(0, libc::TIOCSCTTY, 0);
        }
        let out = s.stdout.unwrap_or(1);
        let err = s.stderr.unwrap_or(2);
        // An inherited fd stays where it is (it may even be closed: then it stays closed).
        let dup = |from: RawFd, to: RawFd| from == to || libc::dup2(from, to) != -1;
        if !dup(s.stdin, 0) || !dup(out, 1) || !dup(err, 2) {
            fail(Step::Stdio);
        }
        if let Err(step) = isolate::enter_namespaces(s.iso) {
            iso_fail(step);
        }
        if let Err(step) = isolate::pid_init(s.iso, report) {
            iso_fail(step);
        }
        if !s.listen_pid.is_null() {
            write_decimal(s.listen_pid, libc::getpid() as u32);
        }
        // Sockets: copies above `top` first (a socket may sit where another goes),
        // then each onto its number once the readiness fd is placed.
        for (i, &fd) in s.listen_fds.iter().enumerate() {
            let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top);
            if copy == -1 {
                fail(Step::Sockets);
            }
            *s.listen_tmp.add(i) = copy;
        }
        if let Some((fd, n)) = s.pass_fd {
            // dup2 clears close-on-exec on `n`; when `fd` already is `n`, clear it by hand.
            let ok = if fd == n {
                libc::fcntl(n, libc::F_SETFD, 0) != -1
            } else {
                libc::dup2(fd, n) != -1
            };
            if !ok {
                fail(Step::PassFd);
            }
        }
        for i in 0..s.listen_fds.len() {
            // dup2 clears close-on-exec on the target; the copy (above `top`, never a
            // target) closes at exec.
            if libc::dup2(*s.listen_tmp.add(i), 3 + i as RawFd) == -1 {
                fail(Step::Sockets);
            }
        }
        if let Some(dir) = s.dir {
            if libc::chdir(dir) == -1 {
                fail(Step::Chdir);
            }
        }
        if let Some(mask) = s.umask {
            libc::umask(mask as libc::mode_t);
        }
        for (res, lim) in s.rlimits {
            if libc::setrlimit(*res as _, lim) == -1 {
                fail(Step::Rlimit);
            }
        }
        let switching = s.creds.is_some_and(|(uid, _)| uid != 0);
        if let Err(step) = isolate::caps_before_creds(s.iso, switching) {
            iso_fail(step);
        }
        if let Some((uid, gid)) = s.creds {
            if s.set_groups && libc::setgroups(s.groups.len(), s.groups.as_ptr()) == -1 {
                fail(Step::Setgroups);
            }
            if libc::setgid(gid) == -1 {
                fail(Step::Setgid);
            }
            if libc::setuid(uid) == -1 {
                fail(Step::Setuid);
            }
        }
        if let Err(step) = isolate::caps_after_creds(s.iso) {
            iso_fail(step);
        }
        if s.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 {
            fail(Step::NoNewPrivs);
        }
        libc::execve(s.path, s.argv, s.envp);
        if let Some(sh_argv) = s.sh_argv {
            if *libc::__errno_location() == libc::ENOEXEC {
                libc::execve(SH.as_ptr(), sh_argv, s.envp);
            }
        }
        fail(Step::Exec)
    }
}

#[cfg(test)]
mod rlimit_tests {
    use super::rlimit_resource;
    use crate::limits::RlimitResource;

    /// Every `rlimits` key reaches the kernel as its own RLIMIT_* number.
    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn every_rlimit_key_maps_to_its_own_kernel_number() {
        let mut numbers: Vec<libc::c_int> = RlimitResource::ALL
            .iter()
            .map(|&(_, r)| rlimit_resource(r))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), RlimitResource::ALL.len());
        assert_eq!(
            rlimit_resource(RlimitResource::Nofile),
            libc::RLIMIT_NOFILE as libc::c_int
        );
        assert_eq!(
            rlimit_resource(RlimitResource::Stack),
            libc::RLIMIT_STACK as libc::c_int
        );
    }
}
