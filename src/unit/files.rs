//! Finding and reading the files of a unit directory without ever blocking or reading
//! without bound: only regular files are opened (a FIFO, a device, a socket or a
//! directory named `x.yaml` is refused after a `stat`, never opened for a read that
//! could hang), the open is non-blocking and checked again with `fstat`, and at most
//! `MAX_FILE_SIZE + 1` bytes are read.

use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::limits::MAX_FILE_SIZE;
use super::parse::byte_position;
use crate::platform::fs::{self as os_fs, OpenFailure};

/// Why a `NAME.yaml` entry could not be read as a unit file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a regular file ({0}); a unit file must be a regular file")]
    NotRegular(&'static str),
    #[error("dangling symbolic link (its target {0:?} does not exist)")]
    Dangling(PathBuf),
    #[error("symbolic link loop")]
    LinkLoop,
    #[error("cannot read the file: {0}")]
    Io(#[source] io::Error),
    #[error("the file is larger than 1 MiB, the limit for {what} (it is crossed here)")]
    TooLarge {
        what: &'static str,
        line: usize,
        col: usize,
    },
    #[error("the file is not valid UTF-8")]
    NotUtf8 { line: usize, col: usize },
}

impl ReadError {
    /// 1-based `(line, column)` the problem is reported at.
    pub fn position(&self) -> (usize, usize) {
        match *self {
            ReadError::TooLarge { line, col, .. } | ReadError::NotUtf8 { line, col } => (line, col),
            _ => (1, 1),
        }
    }
}

/// What kind of non-regular file `meta` describes.
fn kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else {
        Some(os_fs::special_kind(&t).unwrap_or("not a file"))
    }
}

/// Why `path` cannot be opened, telling dangling links and loops apart.
fn open_error(path: &Path, e: io::Error) -> ReadError {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match os_fs::open_failure(&e) {
        OpenFailure::LinkLoop => ReadError::LinkLoop,
        OpenFailure::NotFound if is_link => {
            ReadError::Dangling(fs::read_link(path).unwrap_or_default())
        }
        _ => ReadError::Io(e),
    }
}

/// Reads one unit file: a regular file (through symbolic links) of at most
/// `MAX_FILE_SIZE` bytes of UTF-8. Never blocks on a FIFO or a device.
pub fn read_unit_file(path: &Path) -> Result<String, ReadError> {
    read_bounded(path, "a unit file")
}

/// `read_unit_file` for other files sup reads (`env_file`s); `what` names them in the
/// size error.
pub fn read_bounded(path: &Path, what: &'static str) -> Result<String, ReadError> {
    let meta = fs::metadata(path).map_err(|e| open_error(path, e))?;
    if let Some(kind) = kind(&meta) {
        return Err(ReadError::NotRegular(kind));
    }
    // Replaced by something else since the stat: O_NONBLOCK keeps a FIFO from blocking
    // the open, O_NOCTTY a terminal from becoming ours, and the fstat refuses it.
    let file = os_fs::open_read_nonblocking(path).map_err(|e| open_error(path, e))?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = kind(&meta) {
        return Err(ReadError::NotRegular(kind));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > MAX_FILE_SIZE {
        let (line, col) = byte_position(&bytes, MAX_FILE_SIZE);
        return Err(ReadError::TooLarge { what, line, col });
    }
    String::from_utf8(bytes).map_err(|e| {
        let (line, col) = byte_position(e.as_bytes(), e.utf8_error().valid_up_to());
        ReadError::NotUtf8 { line, col }
    })
}

/// What `list_dir` found.
#[derive(Default)]
pub struct Listing {
    /// `(stem, path)` of every `NAME.yaml` entry (whatever its type), sorted.
    pub yaml: Vec<(String, PathBuf)>,
    /// `*.yml` entries: ignored, worth a warning in `sup check`.
    pub yml: Vec<PathBuf>,
}

/// The entries of `dir` named `*.yaml` (hidden ones, `.x.yaml`, left out) and `*.yml`.
/// A name that is not UTF-8 is kept with its lossy spelling, so that it is reported.
pub fn list_dir(dir: &Path) -> io::Result<Listing> {
    let mut out = Listing::default();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        if let Some(stem) = file_name.strip_suffix(".yaml") {
            out.yaml.push((stem.to_string(), entry.path()));
        } else if file_name.ends_with(".yml") {
            out.yml.push(entry.path());
        }
    }
    out.yaml.sort();
    out.yml.sort();
    Ok(out)
}
