//! Facts about sup's own process and its start-up chores, for the binaries: whether it
//! is PID 1, whether it runs privileged, where logs go by default, what its own log
//! writes to, and the control group's id. Each backend answers in its `system` module.

use std::path::PathBuf;

#[cfg(target_os = "linux")]
use super::linux::system as imp;
#[cfg(windows)]
use super::windows::system as imp;

/// Whether sup is the first process of its machine or container (Linux PID 1).
pub fn is_pid1() -> bool {
    imp::is_pid1()
}

/// Start-up chores before sup opens anything. A supervisor passes its units only the
/// handles it means to (whatever it inherited is not passed on); an entrypoint passes
/// everything to its command, as tini does.
pub fn prepare(entrypoint: bool) {
    imp::prepare(entrypoint)
}

/// Whether sup runs with the rights to give units other users, limits and isolation
/// (root on Linux, an administrator on Windows).
pub fn is_privileged() -> bool {
    imp::is_privileged()
}

/// Where unit logs go without `--log-dir`.
pub fn default_log_dir() -> PathBuf {
    imp::default_log_dir()
}

/// The numeric id of a group named by name or number (`--control-group`).
pub fn group_id(group: &str) -> Result<u32, String> {
    imp::group_id(group)
}

/// Where sup's own log goes as PID 1 (the console, and the kernel log), if elsewhere
/// than stderr.
pub fn pid1_log_target() -> Option<Box<dyn std::io::Write + Send>> {
    imp::pid1_log_target()
}
