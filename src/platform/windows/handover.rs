//! Handing sup over to a new image of itself (`supctl reexec`): not available on Windows
//! (a process cannot replace its program in place; `supctl reexec` says so). The contract
//! is in the Linux backend.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SUPPORTED: bool = false;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "reexec: not available on Windows",
    )
}

pub fn exe_path() -> io::Result<PathBuf> {
    std::env::current_exe()
}

pub fn monotonic_now() -> Duration {
    Duration::ZERO
}

pub fn exec_with_state(_exe: &Path, _args: &[OsString], _state: &[u8]) -> io::Error {
    unsupported()
}

pub fn take_state(_handle: u64) -> io::Result<Vec<u8>> {
    Err(unsupported())
}

pub fn adopting() -> bool {
    false
}

pub fn carried_platform() -> String {
    String::new()
}

pub fn resume_platform(_carried: &str) {}

pub fn uncarry(_handle: u64) {}
