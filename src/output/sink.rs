//! Sinks for formatted lines: a size-rotated log file, sup's own stdout/stderr
//! (bounded waiting, then dropping), or nothing.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::platform::console::{self, Attempt, Out, ATOMIC_WRITE};
use crate::platform::fs as os_fs;

/// `path.N` (the N-th rotated file).
pub(crate) fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// An append-only log file rotated by size.
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    size: u64,
    /// 0 = never rotate.
    max_size: u64,
    keep: u32,
    prealloc: Prealloc,
    /// Set while the file cannot take lines: they are dropped (counted) until a retry
    /// succeeds. The size limit holds meanwhile: a file never grows past `max_size`
    /// because its rotation failed.
    trouble: Option<Trouble>,
    /// Bytes dropped over the sink's life.
    pub(crate) dropped: u64,
}

/// File offsets at which writes of a busy stream end (see [`FileSink::aligned_cut`]).
const WRITE_ALIGN: u64 = 64 << 10;

/// Bytes a file must have received from this sink before blocks are allocated ahead
/// of its end, and the smallest write that allocates (a unit writing that much between
/// two reads of its pipe is busy *now*): a quiet unit's log never has any.
const PREALLOC_AFTER: u64 = 1 << 20;
const PREALLOC_MIN_WRITE: u64 = 32 << 10;
/// Blocks allocated ahead of the end of a busy log file, per `fallocate`.
const PREALLOC_CHUNK: u64 = 4 << 20;

/// Allocating a busy log file's blocks ahead of its end (`fallocate` with
/// `FALLOC_FL_KEEP_SIZE`: the size, and so what readers see, is unchanged). On ext4 the
/// writes then land in already allocated (unwritten) blocks and skip the delayed
/// allocation bookkeeping per block (`ext4_da_get_block_prep`, quota and reservation):
/// a 1 GiB file in 64 KiB writes costs 0.36–0.39 s of system time instead of 0.47–0.75 s
/// on this project's VM. Only on ext4, where it was measured. The blocks beyond the end
/// are released (`ftruncate` to the current size) at rotation, at EOF of a stream and
/// when the sink is dropped; until then (a unit that wrote a burst and went quiet, or
/// a crash) at most [`PREALLOC_CHUNK`] stays allocated beyond the end (`du` shows it).
struct Prealloc {
    /// The file system is ext4 and `fallocate` has not failed.
    enabled: bool,
    /// Bytes appended to the current file by this sink.
    written: u64,
    /// File offset up to which blocks are allocated (0: none beyond the end).
    end: u64,
}

impl Prealloc {
    fn new(file: &File) -> Prealloc {
        Prealloc {
            enabled: os_fs::allocate_ahead_pays(file),
            written: 0,
            end: 0,
        }
    }
}

/// Opens a log file for appending without ever blocking: `O_NONBLOCK`, so a FIFO at the
/// path cannot hang the event loop in `open`, then refuses anything but a regular file
/// (a FIFO, a device, a socket would block or misbehave later).
fn open_append(path: &Path) -> io::Result<File> {
    let context = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot open log file {}: {e}", path.display()),
        )
    };
    let opened = os_fs::open_append_nonblocking(path, 0o640);
    let (file, kind) = match opened {
        Ok(file) => {
            let kind = file.metadata().map_err(context)?.file_type();
            (Some(file), kind)
        }
        // A FIFO without a reader refuses a non-blocking open (ENXIO): say what it is.
        Err(e) => match fs::metadata(path) {
            Ok(m) if !m.is_file() => (None, m.file_type()),
            _ => return Err(context(e)),
        },
    };
    let file = match file {
        Some(file) if kind.is_file() => file,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot use log file {}: not a regular file ({})",
                    path.display(),
                    file_kind(&kind)
                ),
            ))
        }
    };
    Ok(file)
}

/// A word for a file type, for messages.
pub(crate) fn file_kind(kind: &fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        match os_fs::special_kind(kind) {
            Some("a character device" | "a block device") => "a device",
            Some(other) => other,
            None => "not a file",
        }
    }
}

/// Why a log file is not taking lines, and what was lost since.
#[derive(Debug)]
pub(crate) struct Trouble {
    /// The error, as the OS says it (`No space left on device`).
    pub(crate) error: String,
    pub(crate) dropped: u64,
}

impl FileSink {
    pub(crate) fn open(path: PathBuf, max_size: u64, keep: u32) -> io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            os_fs::create_dir_all(dir, 0o755).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create log directory {}: {e}", dir.display()),
                )
            })?;
        }
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        let prealloc = Prealloc::new(&file);
        Ok(FileSink {
            path,
            file,
            size,
            max_size,
            keep,
            prealloc,
            trouble: None,
            dropped: 0,
        })
    }

    /// The file's current trouble, if it is not taking lines.
    pub(crate) fn trouble(&self) -> Option<&Trouble> {
        self.trouble.as_ref()
    }

    /// Records a failure: the bytes not written are dropped and counted.
    fn fail(&mut self, e: &io::Error, lost: usize) {
        self.dropped += lost as u64;
        let error = strip_os_error(e);
        match &mut self.trouble {
            Some(t) => {
                t.dropped += lost as u64;
                t.error = error;
            }
            None => {
                log::warn!(
                    "log file {}: {e}; dropping lines until it works again",
                    self.path.display()
                );
                self.trouble = Some(Trouble {
                    error,
                    dropped: lost as u64,
                });
            }
        }
    }

    /// Writes `buf` (complete lines), rotating first whenever the next lines would push
    /// the file past `max_size`. A single line larger than `max_size` gets a file of
    /// its own. One `write` per file for the common case of no rotation.
    ///
    /// While the file is in trouble every batch tries again (one write, or the
    /// renames of a rotation): lines are lost only while the trouble lasts.
    pub(crate) fn write(&mut self, buf: &[u8]) {
        if let Err((e, lost)) = self.write_lines(buf) {
            self.fail(&e, lost);
        } else if let Some(t) = self.trouble.take() {
            log::info!(
                "log file {}: writing again ({} bytes were dropped: {})",
                self.path.display(),
                t.dropped,
                t.error
            );
        }
    }

    /// `write` without the trouble bookkeeping; on failure, the error and how many of
    /// `buf`'s bytes were not written.
    fn write_lines(&mut self, mut buf: &[u8]) -> Result<(), (io::Error, usize)> {
        if self.max_size > 0 && self.size >= self.max_size {
            // A rotation that failed before: the file is full until one succeeds.
            self.rotate().map_err(|e| (e, buf.len()))?;
        }
        while !buf.is_empty() {
            let room = self.max_size.saturating_sub(self.size);
            if self.max_size == 0 || buf.len() as u64 <= room {
                return self.append(buf).map_err(|(e, n)| (e, buf.len() - n));
            }
            // Lines that still fit; if none fit, rotate, except that an empty file takes
            // its first line whatever its size.
            let fit = &buf[..room as usize];
            let take = match fit.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if self.size == 0 => buf
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(buf.len(), |i| i + 1),
                None => 0,
            };
            if take > 0 {
                self.append(&buf[..take])
                    .map_err(|(e, n)| (e, buf.len() - n))?;
                buf = &buf[take..];
            }
            if !buf.is_empty() {
                self.rotate().map_err(|e| (e, buf.len()))?;
            }
        }
        Ok(())
    }

    /// For `len` buffered bytes: how many to write now so that the write ends at a
    /// [`WRITE_ALIGN`] boundary of the file, or `None` (write them all) when no
    /// boundary is crossed or a rotation could come within the next writes (rotation
    /// needs writes that end at line boundaries). Writes that cover whole aligned
    /// 64 KiB blocks let the page cache use 64 KiB folios: 1 GiB in aligned 64 KiB
    /// writes costs about 0.36 s of system time on this VM, in 78 KiB writes at
    /// arbitrary offsets 0.54–0.63 s (both with blocks allocated ahead).
    pub(crate) fn aligned_cut(&self, len: usize) -> Option<usize> {
        let end = self.size + len as u64;
        if self.max_size > 0 && end + WRITE_ALIGN > self.max_size {
            return None;
        }
        let cut = end / WRITE_ALIGN * WRITE_ALIGN;
        (cut > self.size).then(|| (cut - self.size) as usize)
    }

    /// Appends `buf`; counts only what reached the file. On failure, the error and how
    /// many bytes were written before it.
    fn append(&mut self, buf: &[u8]) -> Result<(), (io::Error, usize)> {
        self.allocate_ahead(buf.len() as u64);
        let mut done = 0;
        let result = loop {
            if done == buf.len() {
                break Ok(());
            }
            match self.file.write(&buf[done..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.size += done as u64;
        self.prealloc.written += done as u64;
        result.map_err(|e| (e, done))
    }

    /// Allocates the next [`PREALLOC_CHUNK`] (never beyond `max_size`) when a busy
    /// file's next `len` bytes would pass the allocated end. A failure (full disk, no
    /// support) stops it for this sink: the write itself then decides what is lost.
    fn allocate_ahead(&mut self, len: u64) {
        let p = &mut self.prealloc;
        if !p.enabled
            || p.written < PREALLOC_AFTER
            || len < PREALLOC_MIN_WRITE
            || self.size + len <= p.end
        {
            return;
        }
        let mut end = self.size + len.max(PREALLOC_CHUNK);
        if self.max_size > 0 {
            end = end.min(self.max_size.max(self.size + len));
        }
        let from = self.size.max(p.end);
        if end <= from {
            return;
        }
        let r = os_fs::allocate_ahead(&self.file, from, end - from);
        p.end = end;
        if let Err(e) = r {
            log::debug!(
                "{}: allocating ahead: {e}; not allocating ahead",
                self.path.display()
            );
            p.enabled = false;
            // A failure may have allocated part of the range (ENOSPC): give it back
            // before the write needs the space.
            self.release_prealloc();
        }
    }

    /// Frees blocks allocated beyond the end of the file, if any (`ftruncate` to the
    /// file's actual size, which also covers a truncation by someone else).
    pub(crate) fn release_prealloc(&mut self) {
        let end = std::mem::take(&mut self.prealloc.end);
        if end <= self.size {
            return;
        }
        if let Ok(m) = self.file.metadata() {
            let _ = self.file.set_len(m.len());
        }
    }

    /// `path.{keep-1}` → `path.{keep}` … `path` → `path.1`, then a fresh `path`
    /// (`keep == 0`: truncate in place).
    ///
    /// The size is reset only once a fresh file is open: a rotation that fails leaves
    /// the file full, so nothing more is written to it until a rotation succeeds.
    fn rotate(&mut self) -> io::Result<()> {
        self.release_prealloc();
        if self.keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            self.prealloc.written = 0;
            return Ok(());
        }
        for n in (1..self.keep).rev() {
            match fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::rename(&self.path, rotated_path(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = self.file.metadata()?.len();
        self.prealloc.written = 0;
        Ok(())
    }
}

/// The OS's words for an error, without Rust's ` (os error N)` suffix.
fn strip_os_error(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        self.release_prealloc();
    }
}

/// sup's stdout or stderr, shared with other writers and possibly slow (a terminal, a
/// container runtime's log pipe). Where the platform can tell
/// ([`console::NEVER_BLOCKS`], Linux) it never blocks: every write is tried without
/// waiting (`platform::console::try_write`) and is at most [`ATOMIC_WRITE`] bytes of
/// whole lines, so a pipe takes it whole or not at all; on Windows writes wait. What the stream cannot take now waits in
/// `pending` (per stream), and while it waits the unit's pipe is not read
/// ([`Console::blocked`]): the unit is slowed down, as if it wrote to the stream itself,
/// and nothing is lost. The event loop retries when the stream becomes writable. Only a
/// stream that fails (closed, EPIPE) has lines dropped, and counted.
#[derive(Default)]
pub(crate) struct Console {
    /// Lines that stdout (0) / stderr (1) could not take yet, oldest first. Bounded by
    /// what one read of the unit's pipe produces: the pipe is not read meanwhile.
    pending: [Vec<u8>; 2],
    /// A line was cut by a drop: start the next successful write on a new line.
    broken_line: [bool; 2],
    pub(crate) dropped: u64,
}

/// The stream console lines of stream `i` go to.
fn console_out(i: usize) -> Out {
    if i == 0 {
        Out::stdout()
    } else {
        Out::stderr()
    }
}

impl Console {
    /// Lines of stream `i` (0 stdout, 1 stderr) wait for the fd to take them.
    pub(crate) fn blocked(&self, i: usize) -> bool {
        !self.pending[i].is_empty()
    }

    /// Waits up to `timeout` for stream `i`'s fd to be writable (only at exit, outside
    /// the event loop); true when it is.
    pub(crate) fn wait_writable(&mut self, i: usize, timeout: std::time::Duration) -> bool {
        console::wait_writable(console_out(i), timeout)
    }

    /// Writes what the fd takes now of stream `i`'s waiting lines; true when none wait.
    pub(crate) fn flush(&mut self, i: usize) -> bool {
        if self.pending[i].is_empty() {
            return true;
        }
        let waiting = std::mem::take(&mut self.pending[i]);
        self.write_to(i, console_out(i), &waiting);
        self.pending[i].is_empty()
    }

    /// Queues `buf` (complete lines) for stream `i` and writes what the fd takes now.
    pub(crate) fn write(&mut self, i: usize, buf: &[u8]) {
        if self.blocked(i) {
            self.pending[i].extend_from_slice(buf);
            return;
        }
        self.write_to(i, console_out(i), buf);
    }

    /// Stream `i`'s waiting lines (tests).
    #[cfg(test)]
    pub(crate) fn pending_for_test(&mut self, i: usize) -> &mut Vec<u8> {
        &mut self.pending[i]
    }

    /// `write` to an explicit stream (tests; `write` uses sup's own stdout/stderr).
    pub(crate) fn write_to(&mut self, i: usize, out: Out, buf: &[u8]) {
        let mut rest = buf;
        let mut failed = false;
        while !rest.is_empty() {
            if self.broken_line[i] {
                match console::try_write(out, b"\n") {
                    Attempt::Written(_) => self.broken_line[i] = false,
                    Attempt::Later => break,
                    Attempt::Failed => {
                        failed = true;
                        break;
                    }
                }
            }
            // Largest run of whole lines within ATOMIC_WRITE, or a piece of a long line.
            let take = if rest.len() <= ATOMIC_WRITE {
                rest.len()
            } else {
                rest[..ATOMIC_WRITE]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(ATOMIC_WRITE, |i| i + 1)
            };
            match console::try_write(out, &rest[..take]) {
                Attempt::Written(n) => rest = &rest[n..],
                Attempt::Later => break,
                Attempt::Failed => {
                    failed = true;
                    break;
                }
            }
        }
        if rest.is_empty() {
            return;
        }
        if failed {
            self.dropped += rest.len() as u64;
            let done = buf.len() - rest.len();
            self.broken_line[i] |= done > 0 && buf[done - 1] != b'\n';
        } else {
            self.pending[i].extend_from_slice(rest);
        }
    }
}

/// Where formatted lines go.
pub(crate) enum Sink {
    File(FileSink),
    /// Unit stdout → fd 1, unit stderr → fd 2.
    Inherit(Console),
    Discard,
}
