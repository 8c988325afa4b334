//! Windows answers for `platform::system`.

use std::path::PathBuf;

use windows_sys::Win32::UI::Shell::IsUserAnAdmin;

/// Windows has no PID 1 role: sup is always a supervisor there.
pub fn is_pid1() -> bool {
    false
}

/// Handles are inherited only when listed for a child (see `stdio`): nothing to do.
pub fn prepare(_entrypoint: bool) {}

pub fn is_privileged() -> bool {
    // SAFETY: IsUserAnAdmin takes no arguments and only reads the caller's token.
    unsafe { IsUserAnAdmin() != 0 }
}

/// `%ProgramData%\sup\log`, or `.\sup-log` when the variable is missing.
pub fn default_log_dir() -> PathBuf {
    match std::env::var_os("ProgramData").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("sup").join("log"),
        None => PathBuf::from("sup-log"),
    }
}

pub fn group_id(_group: &str) -> Result<u32, String> {
    Err("not available on Windows (the named pipe admits sup's own user and administrators)".into())
}

pub fn pid1_log_target() -> Option<Box<dyn std::io::Write + Send>> {
    None
}
