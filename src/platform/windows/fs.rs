//! File-system calls for the layers above the platform (unit files, env files, log
//! files), Windows: files there cannot be FIFOs or devices (named pipes live under
//! `\\.\pipe\`), so plain std opens never block; no permission bits, no allocation
//! ahead.

use std::ffi::OsString;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::FileExt;
use std::path::Path;

use windows_sys::Win32::Foundation::{
    ERROR_CANT_RESOLVE_FILENAME, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND,
};

/// Opens `path` for reading (a regular open: nothing at a path blocks here).
pub fn open_read_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens (creating it) `path` for appending. `mode` is a Unix permission and has no
/// meaning here: the file inherits its directory's ACL.
pub fn open_append_nonblocking(path: &Path, _mode: u32) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Creates `dir` and its missing parents (`mode` as for [`open_append_nonblocking`]).
pub fn create_dir_all(dir: &Path, _mode: u32) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// A word for a file type that is neither a regular file, a directory nor a symbolic
/// link: Windows has none that a path names.
pub fn special_kind(_t: &FileType) -> Option<&'static str> {
    None
}

/// Why an open through a path failed, where the cause matters to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// Too many levels of symbolic links.
    LinkLoop,
    /// Nothing at the path, or a symbolic link to nothing.
    NotFound,
    Other,
}

/// Classifies an error of an open or stat.
pub fn open_failure(e: &io::Error) -> OpenFailure {
    match e.raw_os_error().and_then(|n| u32::try_from(n).ok()) {
        Some(ERROR_CANT_RESOLVE_FILENAME) => OpenFailure::LinkLoop,
        Some(ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND) => OpenFailure::NotFound,
        _ => OpenFailure::Other,
    }
}

/// One positioned read. Windows moves the file pointer too (`seek_read`): callers use
/// only positioned reads on the file.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.seek_read(buf, offset)
}

/// Allocating ahead was measured on ext4 only: never here.
pub fn allocate_ahead_pays(_file: &File) -> bool {
    false
}

/// Not done here ([`allocate_ahead_pays`] is false).
pub fn allocate_ahead(_file: &File, _from: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Bytes as an OS string: Windows strings are text, so the bytes must be UTF-8 (else
/// they are handed back).
pub fn os_string_from_bytes(bytes: Vec<u8>) -> Result<OsString, Vec<u8>> {
    String::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|e| e.into_bytes())
}

/// No permission bits here.
pub fn mode(_meta: &Metadata) -> Option<u32> {
    None
}

/// Not reported through std here.
pub fn allocated_bytes(_meta: &Metadata) -> Option<u64> {
    None
}

/// Windows has no FIFOs in the file system.
pub fn make_fifo(_path: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows has no FIFOs in the file system",
    ))
}

/// A symbolic link at `link` to `target` (a file).
pub fn symlink_file(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}
