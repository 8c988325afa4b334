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
    // Low fd numbers for cheap spawns (see `vfork`).
    super::vfork::reserve_low_fds();
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
