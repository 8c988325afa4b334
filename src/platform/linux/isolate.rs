//! Child-side confinement: joining the unit's cgroup as the very first step, namespaces
//! (pid with a minimal init, mount with pivot_root and private /tmp, uts, ipc, net with
//! loopback up, user with a mapped range, cgroup) and capabilities.
//!
//! Everything is prepared by `prepare` before fork; the `unsafe fn`s here run between
//! fork and exec and make only async-signal-safe system calls on that data.
//!
//! - pid: sup creates the child with `clone(CLONE_NEWPID)`, so the child is PID 1 of the
//!   new namespace. It sets up the namespaces, forks the unit's process and stays as a
//!   minimal init: it reaps every orphan of the namespace, forwards every signal it
//!   gets to the unit's process, and exits with the unit's exit code (128+N when the
//!   unit was killed by signal N). sup tracks the init as the unit's main process.
//! - user: created with the same clone; the child waits on a pipe until sup has put its
//!   pid into the cgroup and written `uid_map`/`gid_map` (default: inside 0..65536 →
//!   host 100000..165536, `SUP_USERNS_RANGE=BASE:COUNT` changes it).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::caps::{self, CapsPrep};
use crate::limits::Namespace;
use crate::platform::confine::Confinement;

/// Steps of the isolation setup (numbered after spawn's own steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum IsoStep {
    Cgroup = 100,
    UserNs,
    Unshare,
    MountPrivate,
    Root,
    PrivateTmp,
    Proc,
    Hostname,
    Loopback,
    PidInit,
    CapBounding,
    KeepCaps,
    Caps,
}

const ALL_STEPS: [IsoStep; 13] = [
    IsoStep::Cgroup,
    IsoStep::UserNs,
    IsoStep::Unshare,
    IsoStep::MountPrivate,
    IsoStep::Root,
    IsoStep::PrivateTmp,
    IsoStep::Proc,
    IsoStep::Hostname,
    IsoStep::Loopback,
    IsoStep::PidInit,
    IsoStep::CapBounding,
    IsoStep::KeepCaps,
    IsoStep::Caps,
];

/// The message for a failed isolation step `n` (None if `n` is not one).
pub fn describe(n: u32, c: &Confinement, cause: &str) -> Option<String> {
    let step = ALL_STEPS.into_iter().find(|s| *s as u32 == n)?;
    let ns_list = || {
        c.namespaces
            .iter()
            .map(|n| format!("{n:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let root = || {
        c.root
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    Some(match step {
        IsoStep::Cgroup => format!("cgroup: cannot join the unit's cgroup: {cause}"),
        IsoStep::UserNs => format!("namespaces: user: setup by sup failed: {cause}"),
        IsoStep::Unshare => format!("namespaces: cannot create [{}]: {cause}", ns_list()),
        IsoStep::MountPrivate => format!("namespaces: mount: cannot make / private: {cause}"),
        IsoStep::Root => format!("root {}: cannot pivot_root into it: {cause}", root()),
        IsoStep::PrivateTmp => format!("private_tmp: cannot mount a tmpfs on /tmp: {cause}"),
        IsoStep::Proc => format!("namespaces: pid: cannot mount /proc: {cause}"),
        IsoStep::Hostname => format!("hostname: {cause}"),
        IsoStep::Loopback => format!("namespaces: net: cannot bring up lo: {cause}"),
        IsoStep::PidInit => format!("namespaces: pid: cannot fork the unit's process: {cause}"),
        IsoStep::CapBounding => format!("capabilities: cannot reduce the bounding set: {cause}"),
        IsoStep::KeepCaps => format!("capabilities: PR_SET_KEEPCAPS: {cause}"),
        IsoStep::Caps => format!("capabilities: cannot set the capability sets: {cause}"),
    })
}

/// Everything prepared before fork.
pub struct Prep {
    /// Open `cgroup.procs` files of the unit's cgroup.
    pub cgroup_fds: Vec<OwnedFd>,
    pub clone_flags: libc::c_int,
    pub unshare_flags: libc::c_int,
    pub user: bool,
    pub pid: bool,
    pub net: bool,
    pub mount: bool,
    pub hostname: Option<CString>,
    pub root: Option<CString>,
    pub private_tmp: bool,
    pub caps: Option<CapsPrep>,
    /// user namespace: (read end for the child, write end for sup).
    pub release: Option<(OwnedFd, OwnedFd)>,
    pub map: (u32, u32),
}

const DOT: &std::ffi::CStr = c".";
const SLASH: &std::ffi::CStr = c"/";
const TMP: &std::ffi::CStr = c"/tmp";
const PROC: &std::ffi::CStr = c"/proc";
const TMPFS: &std::ffi::CStr = c"tmpfs";
const PROCFS: &std::ffi::CStr = c"proc";
const TMP_OPTS: &std::ffi::CStr = c"mode=1777";

fn cstr(p: &std::path::Path, what: &str) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{what} contains a NUL byte"))
}

pub fn prepare(c: &Confinement) -> Result<Prep, String> {
    let mut cgroup_fds = Vec::new();
    for f in &c.cgroup_join {
        let fd = match f.dir {
            Some(dir) => super::cgroup::open_at(dir, &f.rel, libc::O_WRONLY),
            None => std::fs::OpenOptions::new()
                .write(true)
                .open(&f.path)
                .map(OwnedFd::from),
        }
        .map_err(|e| format!("cgroup: open {}: {e}", f.path.display()))?;
        cgroup_fds.push(fd);
    }
    let has = |n| c.has(n);
    let mut clone_flags = 0;
    let mut unshare_flags = 0;
    for (ns, flag, at_clone) in [
        (Namespace::User, libc::CLONE_NEWUSER, true),
        (Namespace::Pid, libc::CLONE_NEWPID, true),
        (Namespace::Mount, libc::CLONE_NEWNS, false),
        (Namespace::Uts, libc::CLONE_NEWUTS, false),
        (Namespace::Ipc, libc::CLONE_NEWIPC, false),
        (Namespace::Net, libc::CLONE_NEWNET, false),
        // After joining the unit's cgroup, so that it is the namespace's root.
        (Namespace::Cgroup, libc::CLONE_NEWCGROUP, false),
    ] {
        if has(ns) {
            if at_clone {
                clone_flags |= flag;
            } else {
                unshare_flags |= flag;
            }
        }
    }
    if c.hostname.is_some() && !has(Namespace::Uts) {
        return Err("hostname: needs the uts namespace".into());
    }
    if (c.root.is_some() || c.private_tmp) && !has(Namespace::Mount) {
        return Err("root/private_tmp: need the mount namespace".into());
    }
    let map = std::env::var("SUP_USERNS_RANGE")
        .ok()
        .and_then(|v| {
            let (b, n) = v.split_once(':')?;
            Some((b.parse().ok()?, n.parse().ok()?))
        })
        .unwrap_or((100_000, 65_536));
    let release = if has(Namespace::User) {
        Some(super::spawn::pipe().map_err(|e| format!("pipe: {e}"))?)
    } else {
        None
    };
    Ok(Prep {
        cgroup_fds,
        clone_flags,
        unshare_flags,
        user: has(Namespace::User),
        pid: has(Namespace::Pid),
        net: has(Namespace::Net),
        mount: has(Namespace::Mount),
        hostname: c
            .hostname
            .as_deref()
            .map(|h| CString::new(h).map_err(|_| "hostname contains a NUL byte".to_string()))
            .transpose()?,
        root: c.root.as_deref().map(|r| cstr(r, "root")).transpose()?,
        private_tmp: c.private_tmp,
        caps: c.capabilities.as_deref().map(caps::prepare).transpose()?,
        release,
        map,
    })
}

/// fork, or `clone` with the pid/user namespace flags. Returns like fork.
///
/// # Safety
/// As `fork`: the caller is single-threaded and the child only runs async-signal-safe
/// code until exec or `_exit`.
pub unsafe fn fork(p: &Prep) -> libc::pid_t {
    if p.clone_flags == 0 {
        // SAFETY: per this function's contract.
        unsafe { libc::fork() }
    } else {
        // SAFETY: clone without CLONE_VM and with a null stack behaves like fork (the
        // child gets a copy-on-write copy of the address space and continues here).
        unsafe {
            libc::syscall(
                libc::SYS_clone,
                (p.clone_flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            ) as libc::pid_t
        }
    }
}

/// sup's side after fork, for a user namespace: put the child into its cgroup, write its
/// id maps, release it. On error the child is killed and reaped by the caller.
pub fn parent_release(p: &Prep, pid: libc::pid_t) -> Result<(), String> {
    let Some((_, w)) = &p.release else {
        return Ok(());
    };
    for fd in &p.cgroup_fds {
        let s = pid.to_string();
        // SAFETY: writes our own buffer to an fd we own.
        if unsafe { libc::write(fd.as_raw_fd(), s.as_ptr().cast(), s.len()) } == -1 {
            return Err(format!(
                "cgroup: cannot move the process into the unit's cgroup: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let (base, count) = p.map;
    for f in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{f}");
        std::fs::write(&path, format!("0 {base} {count}\n")).map_err(|e| {
            format!("namespaces: user: write {path} (mapping 0 → {base}, {count} ids): {e}")
        })?;
    }
    // SAFETY: writes one byte from a local to an fd we own.
    if unsafe { libc::write(w.as_raw_fd(), b"go".as_ptr().cast(), 1) } != 1 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Step result in the child: the failing step (errno is left in `errno`).
pub type ChildResult = Result<(), IsoStep>;

fn ok_if(r: libc::c_int, step: IsoStep) -> ChildResult {
    if r == -1 {
        Err(step)
    } else {
        Ok(())
    }
}

/// First step of the child: join the unit's cgroup (or, with a user namespace, wait
/// until sup has put it there and written its id maps).
///
/// # Safety
/// Between fork and exec only; async-signal-safe.
pub unsafe fn enter_cgroup(p: &Prep, cgroup_fds: &[RawFd]) -> ChildResult {
    if let Some((r, w)) = &p.release {
        // SAFETY: closes our copy of sup's end, so sup dying means EOF here.
        unsafe { libc::close(w.as_raw_fd()) };
        let mut b = [0u8; 1];
        // SAFETY: reads one byte into a local buffer from an fd we own.
        let n = unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n != 1 {
            return Err(IsoStep::UserNs);
        }
        // Become the namespace's root (host ids of the mapped range): until now our
        // ids were sup's, which the map does not cover.
        // SAFETY: plain id system calls.
        let r = unsafe {
            if libc::setgroups(0, std::ptr::null()) == -1
                || libc::setresgid(0, 0, 0) == -1
                || libc::setresuid(0, 0, 0) == -1
            {
                -1
            } else {
                0
            }
        };
        return ok_if(r, IsoStep::UserNs);
    }
    for &fd in cgroup_fds {
        // SAFETY: writes a static buffer to an fd opened before fork.
        let r = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
        if r != 1 {
            return Err(IsoStep::Cgroup);
        }
    }
    Ok(())
}

/// Namespaces created by unshare, mounts, hostname, loopback.
///
/// # Safety
/// Between fork and exec only; async-signal-safe, pointers from `p` and constants.
pub unsafe fn enter_namespaces(p: &Prep) -> ChildResult {
    // SAFETY: plain system calls on prepared C strings and constants (see each).
    unsafe {
        if p.unshare_flags != 0 {
            ok_if(libc::unshare(p.unshare_flags), IsoStep::Unshare)?;
        }
        let null = std::ptr::null::<libc::c_char>();
        if p.mount {
            ok_if(
                libc::mount(
                    null,
                    SLASH.as_ptr(),
                    null,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ),
                IsoStep::MountPrivate,
            )?;
            if let Some(root) = &p.root {
                ok_if(
                    libc::mount(
                        root.as_ptr(),
                        root.as_ptr(),
                        null,
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ),
                    IsoStep::Root,
                )?;
                ok_if(libc::chdir(root.as_ptr()), IsoStep::Root)?;
                ok_if(
                    libc::syscall(libc::SYS_pivot_root, DOT.as_ptr(), DOT.as_ptr()) as libc::c_int,
                    IsoStep::Root,
                )?;
                ok_if(libc::umount2(DOT.as_ptr(), libc::MNT_DETACH), IsoStep::Root)?;
                ok_if(libc::chdir(SLASH.as_ptr()), IsoStep::Root)?;
            }
            if p.private_tmp {
                ok_if(
                    libc::mount(
                        TMPFS.as_ptr(),
                        TMP.as_ptr(),
                        TMPFS.as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        TMP_OPTS.as_ptr().cast(),
                    ),
                    IsoStep::PrivateTmp,
                )?;
            }
            if p.pid {
                // We are PID 1 of the new pid namespace: give it its own /proc.
                ok_if(
                    libc::mount(
                        PROCFS.as_ptr(),
                        PROC.as_ptr(),
                        PROCFS.as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        std::ptr::null(),
                    ),
                    IsoStep::Proc,
                )?;
            }
        }
        if let Some(h) = &p.hostname {
            ok_if(
                libc::sethostname(h.as_ptr(), h.as_bytes().len()),
                IsoStep::Hostname,
            )?;
        }
        if p.net {
            loopback_up()?;
        }
    }
    Ok(())
}

/// `ip link set lo up` with ioctl(SIOCSIFFLAGS).
unsafe fn loopback_up() -> ChildResult {
    // SAFETY: socket/ioctl/close on a local ifreq; no allocation.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        ok_if(fd, IsoStep::Loopback)?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let r = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr);
        if r == -1 {
            libc::close(fd);
            return Err(IsoStep::Loopback);
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let r = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr);
        libc::close(fd);
        ok_if(r, IsoStep::Loopback)
    }
}

/// With a pid namespace: fork the unit's process and, in the parent (PID 1 inside),
/// run the minimal init forever. Returns only in the unit's process.
///
/// # Safety
/// Between fork and exec only; `report` is the close-on-exec report pipe.
pub unsafe fn pid_init(p: &Prep, report: RawFd) -> ChildResult {
    if !p.pid {
        return Ok(());
    }
    // SAFETY: signal mask calls on locals; fork in a single-threaded child; the init
    // loop only waits, reaps and forwards signals.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        let unit = libc::fork();
        if unit == -1 {
            return Err(IsoStep::PidInit);
        }
        if unit == 0 {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            return Ok(());
        }
        // The init: keep nothing of sup's open (the report pipe must close at the
        // unit's exec), only stdio.
        libc::close(report);
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) == -1 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig == -1 {
                continue;
            }
            if sig == libc::SIGCHLD {
                loop {
                    let mut status = 0;
                    let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                    if pid <= 0 {
                        break;
                    }
                    if pid == unit {
                        let code = if libc::WIFEXITED(status) {
                            libc::WEXITSTATUS(status)
                        } else {
                            128 + libc::WTERMSIG(status)
                        };
                        libc::_exit(code);
                    }
                }
            } else {
                libc::kill(unit, sig);
            }
        }
    }
}

/// Before switching user: reduce the bounding set and keep capabilities across setuid.
///
/// # Safety
/// Between fork and exec only.
pub unsafe fn caps_before_creds(p: &Prep, switching_user: bool) -> ChildResult {
    let Some(c) = &p.caps else { return Ok(()) };
    // SAFETY: integer-only prctl calls.
    unsafe {
        if !caps::drop_bounding(c) {
            return Err(IsoStep::CapBounding);
        }
        if switching_user {
            ok_if(
                libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
                IsoStep::KeepCaps,
            )?;
        }
    }
    Ok(())
}

/// After switching user: permitted/effective/inheritable/ambient = the list.
///
/// # Safety
/// Between fork and exec only.
pub unsafe fn caps_after_creds(p: &Prep) -> ChildResult {
    let Some(c) = &p.caps else { return Ok(()) };
    // SAFETY: see `caps::set_sets`.
    if unsafe { caps::set_sets(c) } {
        Ok(())
    } else {
        Err(IsoStep::Caps)
    }
}
