//! File-system calls for the layers above the platform (unit files, env files, log
//! files), Linux: opens that never block or adopt a terminal, file types POSIX has,
//! positioned reads and allocating a busy log file's blocks ahead of its end.

use std::ffi::OsString;
use std::fs::{DirBuilder, File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading without blocking on a FIFO (`O_NONBLOCK`) and without making
/// a terminal sup's controlling terminal (`O_NOCTTY`); close-on-exec.
pub fn open_read_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

/// Opens (creating it with `mode`) `path` for appending, without blocking on a FIFO and
/// without adopting a terminal; close-on-exec.
pub fn open_append_nonblocking(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

/// Creates `dir` and its missing parents, each with permissions `mode` (less the umask).
pub fn create_dir_all(dir: &Path, mode: u32) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(mode).create(dir)
}

/// A word for a file type that is neither a regular file, a directory nor a symbolic
/// link (`a FIFO`, `a socket`, `a character device`, `a block device`), for messages.
pub fn special_kind(t: &FileType) -> Option<&'static str> {
    if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

/// Why an open through a path failed, where the cause matters to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// Too many levels of symbolic links (`ELOOP`).
    LinkLoop,
    /// Nothing at the path, or a symbolic link to nothing (`ENOENT`).
    NotFound,
    Other,
}

/// Classifies an error of an open or stat.
pub fn open_failure(e: &io::Error) -> OpenFailure {
    match e.raw_os_error() {
        Some(libc::ELOOP) => OpenFailure::LinkLoop,
        Some(libc::ENOENT) => OpenFailure::NotFound,
        _ => OpenFailure::Other,
    }
}

/// One positioned read (`pread`): the file offset is not used nor moved.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.read_at(buf, offset)
}

/// Whether allocating blocks ahead of a log file's end pays off on `file`'s file system:
/// only ext4, where it was measured (see `output::sink`).
pub fn allocate_ahead_pays(file: &File) -> bool {
    // SAFETY: `statfs` is plain data; all-zero is a valid value for fstatfs to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `file` is open for the whole call and `st` is a valid, exclusively
    // borrowed statfs for the kernel to fill.
    let r = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    r == 0 && st.f_type == libc::EXT4_SUPER_MAGIC
}

/// Allocates `len` bytes of blocks from offset `from` without changing the file's size
/// (`fallocate` with `FALLOC_FL_KEEP_SIZE`).
pub fn allocate_ahead(file: &File, from: u64, len: u64) -> io::Result<()> {
    let (Ok(from), Ok(len)) = (libc::off_t::try_from(from), libc::off_t::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate on an open file; KEEP_SIZE only allocates blocks beyond what
    // was written, the file's size and contents are unchanged.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, from, len) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Bytes as an OS string, unchanged (Linux strings are bytes).
pub fn os_string_from_bytes(bytes: Vec<u8>) -> Result<OsString, Vec<u8>> {
    Ok(OsString::from_vec(bytes))
}

/// The permission bits of `meta` (`0o640`), where the platform has them.
pub fn mode(meta: &Metadata) -> Option<u32> {
    Some(meta.mode() & 0o7777)
}

/// Bytes of storage allocated to the file (`st_blocks` × 512), where the platform says.
pub fn allocated_bytes(meta: &Metadata) -> Option<u64> {
    Some(meta.blocks() * 512)
}

/// Creates a FIFO at `path` (tests of files that must not be opened for reading).
pub fn make_fifo(path: &Path) -> io::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).map_err(io::Error::from)
}

/// A symbolic link at `link` to `target` (a file).
pub fn symlink_file(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}
