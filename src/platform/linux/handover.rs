//! Handing sup over to a new image of itself (`supctl reexec`), Linux side: the endpoints
//! to keep lose close-on-exec, the state goes into a memfd whose number the new image is
//! given on its command line, and `execv` replaces the program in the same process (same
//! pid, same children, same cgroup, PID 1 stays PID 1).
//!
//! Contract (every backend): [`SUPPORTED`] says whether the platform can do it;
//! [`exe_path`] is the program to run (the file now at the path sup was started from, so
//! an upgraded package takes effect); [`exec_with_state`] returns only on failure, with
//! nothing changed but the carried endpoints being inheritable; [`take_state`] reads the
//! state in the new image. Endpoints are carried as numbers (`carry()` on each) and taken
//! back with `adopt(number, …)`, each exactly once, before sup opens anything that could
//! be given the same number (the numbers stay open across the exec, so it cannot).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SUPPORTED: bool = true;

/// The program sup was started from, as it is on disk now. When the file was replaced
/// (a package upgrade renames a new file over it) `/proc/self/exe` names the old one
/// ` (deleted)`: the path without that suffix is the new program.
pub fn exe_path() -> io::Result<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let bytes = exe.as_os_str().as_bytes();
    Ok(match bytes.strip_suffix(b" (deleted)") {
        Some(path) => PathBuf::from(OsString::from_vec(path.to_vec())),
        None => exe,
    })
}

/// CLOCK_MONOTONIC now: `Instant` is this clock, and it goes on across an exec, so the
/// new image can place the old one's timestamps on its own clock.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the live local `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Makes `fd` survive the exec (clears close-on-exec); its number is the handle.
pub(crate) fn carry_fd(fd: RawFd) -> io::Result<u64> {
    // SAFETY: F_SETFD on an fd the caller owns (borrowed for the call); only its flags
    // change.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd as u64)
}

/// Takes back an fd carried across the exec.
pub(crate) fn adopt_fd(handle: u64) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(handle)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad handle"))?;
    // SAFETY: F_GETFD only reads the flags of `fd`; a number that is not open fails.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("handle {handle} is not an open descriptor"),
        ));
    }
    // SAFETY: the number was carried by the previous image of this process, which kept
    // it open across the exec (checked just above) and gave it up; the handover takes
    // each number exactly once, so this is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Writes `state` into a memfd and executes `exe` with `args` plus `--reexec-state N`.
/// Returns only when that fails (the error); the process is then as it was.
pub fn exec_with_state(exe: &Path, args: &[OsString], state: &[u8]) -> io::Error {
    let name = c"sup-handover";
    // SAFETY: memfd_create with a static NUL-terminated name; no flags, so the fd stays
    // open across the exec.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if raw < 0 {
        return io::Error::last_os_error();
    }
    // SAFETY: `raw` was just returned by memfd_create and is owned by nobody else.
    let memfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut file = std::fs::File::from(memfd);
    if let Err(e) = io::Write::write_all(&mut file, state) {
        return e;
    }
    let mut argv: Vec<CString> = Vec::with_capacity(args.len() + 3);
    let to_c = |s: &[u8]| CString::new(s.to_vec());
    let Ok(prog) = to_c(exe.as_os_str().as_bytes()) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "program path has a NUL byte");
    };
    argv.push(prog.clone());
    for a in args {
        match to_c(a.as_bytes()) {
            Ok(c) => argv.push(c),
            Err(_) => {
                return io::Error::new(io::ErrorKind::InvalidInput, "argument has a NUL byte")
            }
        }
    }
    argv.push(c"--reexec-state".into());
    argv.push(CString::new(file.as_raw_fd().to_string()).expect("digits"));
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `prog` and every `argv` entry are NUL-terminated strings kept alive for the
    // call, `ptrs` is NULL-terminated; the environment is the process's own.
    unsafe { libc::execv(prog.as_ptr(), ptrs.as_ptr()) };
    // Only reached when execv failed: the memfd is closed when `file` drops.
    io::Error::last_os_error()
}

/// Reads the state the previous image left in the memfd `handle`, and closes it.
pub fn take_state(handle: u64) -> io::Result<Vec<u8>> {
    let fd = adopt_fd(handle)?;
    let mut file = std::fs::File::from(fd);
    io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
    let mut out = Vec::new();
    io::Read::read_to_end(&mut file, &mut out)?;
    Ok(out)
}

/// This process took over from a previous image of sup (its cgroups hold live units:
/// nothing in them is stale).
static ADOPTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The name of sup's own cgroup: chosen at start (and carried), or carried in.
static CGROUP_NAME: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The process is a new image taking over (set by [`resume_platform`]).
pub fn adopting() -> bool {
    ADOPTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Notes the name sup's cgroup was given (to carry it across a reexec).
pub(crate) fn remember_cgroup_name(name: &str) {
    if let Ok(mut n) = CGROUP_NAME.lock() {
        *n = Some(name.to_string());
    }
}

/// The cgroup name carried in by a reexec, if this image is one.
pub(crate) fn carried_cgroup_name() -> Option<String> {
    if !adopting() {
        return None;
    }
    CGROUP_NAME.lock().ok().and_then(|n| n.clone())
}

/// What the backend itself must carry across the exec, as text: sup's cgroup name and
/// the open-file limit sup was started with (children get it; sup's own is raised), as
/// `NAME\nSOFT HARD`.
pub fn carried_platform() -> String {
    let name = CGROUP_NAME
        .lock()
        .ok()
        .and_then(|n| n.clone())
        .unwrap_or_default();
    match crate::platform::linux::system::nofile_for_children() {
        Some(l) => format!("{name}\n{} {}", l.rlim_cur, l.rlim_max),
        None => name,
    }
}

/// In the new image, before the platform is created: what [`carried_platform`] gave.
pub fn resume_platform(carried: &str) {
    ADOPTING.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lines = carried.lines();
    if let Some(name) = lines.next().filter(|n| !n.is_empty()) {
        remember_cgroup_name(name);
    }
    let limit = lines.next().and_then(|l| {
        let (soft, hard) = l.split_once(' ')?;
        Some(libc::rlimit {
            rlim_cur: soft.parse().ok()?,
            rlim_max: hard.parse().ok()?,
        })
    });
    if let Some(l) = limit {
        crate::platform::linux::system::carry_nofile(l);
    }
}

/// After a failed exec: the carried endpoints are close-on-exec again.
pub fn uncarry(handle: u64) {
    if let Ok(fd) = RawFd::try_from(handle) {
        // SAFETY: F_SETFD on a number this process carried and still owns; only its
        // flags change.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
