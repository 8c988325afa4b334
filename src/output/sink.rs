//! Sinks for formatted lines: a size-rotated log file, sup's own stdout/stderr
//! (bounded waiting, then dropping), or nothing.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open log file {}: {e}", path.display()),
            )
        })
}

impl FileSink {
    pub(crate) fn open(path: PathBuf, max_size: u64, keep: u32) -> io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot create log directory {}: {e}", dir.display()),
                    )
                })?;
        }
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(FileSink {
            path,
            file,
            size,
            max_size,
            keep,
        })
    }

    /// Writes `buf` (complete lines), rotating first whenever the next lines would push
    /// the file past `max_size`. A single line larger than `max_size` gets a file of
    /// its own. One `write` per file for the common case of no rotation.
    pub(crate) fn write(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let room = self.max_size.saturating_sub(self.size);
            if self.max_size == 0 || buf.len() as u64 <= room {
                return self.append(buf);
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
                self.append(&buf[..take])?;
                buf = &buf[take..];
            }
            if !buf.is_empty() {
                self.rotate()?;
            }
        }
        Ok(())
    }

    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        // `write_all` retries EINTR and short writes; O_APPEND keeps each write at the end.
        let r = self.file.write_all(buf);
        self.size += buf.len() as u64;
        r
    }

    /// `path.{keep-1}` → `path.{keep}` … `path` → `path.1`, then a fresh `path`
    /// (`keep == 0`: truncate in place).
    fn rotate(&mut self) -> io::Result<()> {
        self.size = 0;
        if self.keep == 0 {
            return self.file.set_len(0);
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
        Ok(())
    }
}

/// Longest write to the console that a pipe takes atomically (POSIX `PIPE_BUF`), so
/// lines are never interleaved with other writers of the same pipe.
const ATOMIC_WRITE: usize = libc::PIPE_BUF;
/// How long one batch may wait for a full stdout/stderr before its lines are dropped.
const CONSOLE_WAIT_MS: libc::c_int = 50;

/// sup's stdout or stderr, shared with other writers and possibly blocking: every
/// write is preceded by `poll(POLLOUT)` and is at most `PIPE_BUF` bytes, so it never
/// blocks on a pipe. A stream that stays full for `CONSOLE_WAIT_MS` has the rest of
/// the batch dropped (counted); while it stays full later batches are dropped without
/// waiting, until a write succeeds again.
#[derive(Default)]
pub(crate) struct Console {
    congested: bool,
    /// A line was cut by a drop: start the next successful write on a new line.
    broken_line: bool,
    pub(crate) dropped: u64,
}

impl Console {
    pub(crate) fn write(&mut self, fd: RawFd, buf: &[u8]) {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.broken_line {
                if self.write_piece(fd, b"\n") == 0 {
                    break;
                }
                self.broken_line = false;
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
            let n = self.write_piece(fd, &rest[..take]);
            rest = &rest[n..];
            if n < take {
                break;
            }
        }
        if !rest.is_empty() {
            self.dropped += rest.len() as u64;
            let done = buf.len() - rest.len();
            self.broken_line |= done > 0 && buf[done - 1] != b'\n';
        }
    }

    /// Writes `piece` (≤ PIPE_BUF); returns how much was written before the fd stayed
    /// unwritable or failed.
    fn write_piece(&mut self, fd: RawFd, piece: &[u8]) -> usize {
        let mut done = 0;
        let mut retries = 0;
        while done < piece.len() {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let wait = if self.congested { 0 } else { CONSOLE_WAIT_MS };
            // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and
            // we pass nfds = 1.
            let r = unsafe { libc::poll(&mut pfd, 1, wait) };
            if r < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted && retries < 8 {
                    retries += 1;
                    continue;
                }
                break;
            }
            if r == 0 || pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                self.congested = true;
                return done;
            }
            let left = &piece[done..];
            // SAFETY: `left` is a live, initialised buffer of `left.len()` bytes for the
            // duration of the call; `fd` is sup's stdout/stderr, which sup never closes.
            let n = unsafe { libc::write(fd, left.as_ptr().cast(), left.len()) };
            if n < 0 {
                match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock if retries < 8 => {
                        retries += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            done += n as usize;
        }
        self.congested = done < piece.len();
        done
    }
}

/// Where formatted lines go.
pub(crate) enum Sink {
    File(FileSink),
    /// Unit stdout → fd 1, unit stderr → fd 2.
    Inherit(Console),
    Discard,
}
