//! Linux answers for `platform::system`.

use std::path::PathBuf;

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

pub fn prepare(entrypoint: bool) {
    if !entrypoint {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on our own fds.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
    }
    raise_nofile();
    // Low fd numbers for cheap spawns (see `vfork`).
    super::vfork::reserve_low_fds();
}

/// The open-file limit sup was started with, when sup raised its own (what children get).
static NOFILE_AT_START: std::sync::OnceLock<libc::rlimit> = std::sync::OnceLock::new();

/// sup holds a few descriptors per unit (log file, output pipes, cgroup files): a
/// thousand units do not fit the usual soft limit of 1024 (PID 1 starts with the
/// kernel's 1024/4096). The soft limit is raised to the hard one, and as root the hard
/// one to the kernel's `fs.nr_open` first (as systemd does for itself). Children get the
/// limit sup was started with ([`nofile_for_children`]).
fn raise_nofile() {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the live local `old`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
        return;
    }
    let mut new = old;
    if is_privileged() {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|t| t.trim().parse::<libc::rlim_t>().ok())
            .unwrap_or(old.rlim_max);
        new.rlim_max = old.rlim_max.max(nr_open);
    }
    new.rlim_cur = new.rlim_max;
    // SAFETY: setrlimit reads one rlimit from the live local `new`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        // Not allowed to raise the hard limit: raise the soft one only.
        new.rlim_max = old.rlim_max;
        new.rlim_cur = old.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
            return;
        }
    }
    if new.rlim_cur != old.rlim_cur || new.rlim_max != old.rlim_max {
        let _ = NOFILE_AT_START.set(old);
    }
}

/// After a reexec: the open-file limit the first image of sup was started with.
pub(crate) fn carry_nofile(limit: libc::rlimit) {
    let _ = NOFILE_AT_START.set(limit);
}

/// The open-file limit a child gets when it sets none itself: the one sup was started
/// with, if sup raised its own.
pub fn nofile_for_children() -> Option<libc::rlimit> {
    NOFILE_AT_START.get().copied()
}

pub fn is_privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn default_log_dir() -> PathBuf {
    if is_privileged() {
        return PathBuf::from("/var/log/sup");
    }
    match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sup/log"),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"));
            home.join(".local/state/sup/log")
        }
    }
}

pub fn group_id(group: &str) -> Result<u32, String> {
    super::users::resolve(None, Some(group)).map(|c| c.gid)
}

pub fn pid1_log_target() -> Option<Box<dyn std::io::Write + Send>> {
    Some(Box::new(super::pid1::ConsoleKmsg))
}
