//! `supctl logs -n N`: the last lines of a unit's log file (and of the newest rotated
//! file when the current one is short), located by reading backwards and then streamed
//! forwards in bounded steps, so a request for any number of lines never holds more than
//! one block of the file in memory nor blocks the event loop for long.

use std::fs::File;
use std::io;
use std::path::Path;

use super::sink::rotated_path;

/// Bytes of file read at a time (on the stack).
const BLOCK: usize = 32 * 1024;

/// Receives the lines of a [`LogTail`] in pieces: `start_line`, any number of
/// `line_bytes` (without the newline; a line may arrive in several pieces), `end_line`.
pub trait LineSink {
    fn start_line(&mut self);
    fn line_bytes(&mut self, bytes: &[u8]);
    fn end_line(&mut self);
}

/// One file's share of the lines: bytes `pos..end` of it.
struct Part {
    file: File,
    pos: u64,
    end: u64,
}

/// Locating the first line: scanning `files[0]` backwards from `pos` for `need` more
/// line starts.
struct Seek {
    /// The files not yet located, newest first: the current file, then the rotated one,
    /// each with its size when opened (a missing file is left out).
    files: Vec<(File, u64)>,
    pos: u64,
    need: u64,
}

/// The last `n` lines of a log file (and, if it has fewer, of `path.1`), oldest first,
/// as they were when it was opened: what is appended later is not included (a follower
/// gets it from the live output instead). A last line without a newline counts as a
/// line. A file truncated meanwhile (a `keep: 0` rotation) ends early.
pub struct LogTail {
    seek: Option<Seek>,
    /// Found so far, newest first while seeking; oldest first once located.
    parts: Vec<Part>,
    /// Index in `parts` being read.
    cur: usize,
    /// A line has been started and not ended.
    in_line: bool,
}

impl LogTail {
    /// Opens the log at `path` for its last `n` lines. A missing file gives no lines.
    pub fn open(path: &Path, n: u64) -> io::Result<LogTail> {
        let mut tail = LogTail {
            seek: None,
            parts: Vec::new(),
            cur: 0,
            in_line: false,
        };
        if n == 0 {
            return Ok(tail);
        }
        let mut files = Vec::new();
        for p in [path.to_path_buf(), rotated_path(path, 1)] {
            match File::open(&p) {
                Ok(f) => {
                    let size = f.metadata()?.len();
                    files.push((f, size));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if files.is_empty() {
            return Ok(tail);
        }
        // A file of S bytes has at most S lines: when `n` covers every byte, everything
        // is asked for and nothing needs counting.
        let total = files
            .iter()
            .map(|(_, s)| *s)
            .fold(0u64, u64::saturating_add);
        if n >= total {
            for (file, size) in files.into_iter().rev() {
                tail.parts.push(Part {
                    file,
                    pos: 0,
                    end: size,
                });
            }
            return Ok(tail);
        }
        let pos = files[0].1;
        tail.seek = Some(Seek {
            files,
            pos,
            need: n,
        });
        Ok(tail)
    }

    /// Advances by at most about `budget` bytes of file (at least one block), handing
    /// complete and partial lines to `sink`. Returns `true` once every line was given.
    pub fn step(&mut self, budget: usize, sink: &mut impl LineSink) -> io::Result<bool> {
        let mut block = [0u8; BLOCK];
        let mut spent = 0usize;
        loop {
            if self.seek.is_some() {
                spent += self.seek_step(&mut block)?;
            } else {
                let Some(part) = self.parts.get_mut(self.cur) else {
                    return Ok(true);
                };
                let want = (part.end - part.pos).min(BLOCK as u64) as usize;
                let got = if want == 0 {
                    0
                } else {
                    read_some_at(&part.file, &mut block[..want], part.pos)?
                };
                if got == 0 {
                    // The part is done (or the file was truncated under us).
                    if self.in_line {
                        sink.end_line();
                        self.in_line = false;
                    }
                    self.cur += 1;
                    continue;
                }
                part.pos += got as u64;
                self.emit(&block[..got], sink);
                spent += got;
            }
            if spent >= budget {
                return Ok(false);
            }
        }
    }

    fn emit(&mut self, mut bytes: &[u8], sink: &mut impl LineSink) {
        while !bytes.is_empty() {
            if !self.in_line {
                sink.start_line();
                self.in_line = true;
            }
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if i > 0 {
                        sink.line_bytes(&bytes[..i]);
                    }
                    sink.end_line();
                    self.in_line = false;
                    bytes = &bytes[i + 1..];
                }
                None => {
                    sink.line_bytes(bytes);
                    bytes = &[];
                }
            }
        }
    }

    /// Scans one block backwards; returns the bytes read.
    fn seek_step(&mut self, block: &mut [u8; BLOCK]) -> io::Result<usize> {
        let Some(seek) = self.seek.as_mut() else {
            return Ok(0);
        };
        let size = seek.files[0].1;
        let mut read = 0;
        if seek.pos > 0 {
            let start = seek.pos.saturating_sub(BLOCK as u64);
            let len = (seek.pos - start) as usize;
            if read_some_at(&seek.files[0].0, &mut block[..len], start)? < len {
                // Truncated under us: nothing of it is left to send.
                seek.pos = 0;
                seek.files[0].1 = 0;
            } else {
                read = len;
                seek.pos = start;
                for i in (0..len).rev() {
                    let at = start + i as u64;
                    // A newline that ends the file ends its last line, starts none.
                    if block[i] == b'\n' && at + 1 != size {
                        seek.need -= 1;
                        if seek.need == 0 {
                            self.located(at + 1);
                            return Ok(read);
                        }
                    }
                }
            }
        }
        if seek.pos > 0 {
            return Ok(read);
        }
        // The whole file is needed: it holds the newlines seen plus its first line.
        if seek.files[0].1 > 0 {
            seek.need -= 1;
        }
        if seek.need == 0 || seek.files.len() == 1 {
            self.located(0);
            return Ok(read);
        }
        let (file, end) = seek.files.remove(0);
        self.parts.push(Part { file, pos: 0, end });
        // The rotated file: all of it when it cannot have more lines than still needed.
        let older = seek.files[0].1;
        seek.pos = older;
        if seek.need >= older {
            self.located(0);
        }
        Ok(read)
    }

    /// The first line starts at `begin` in the file being scanned: reading can start.
    fn located(&mut self, begin: u64) {
        if let Some(mut seek) = self.seek.take() {
            let (file, end) = seek.files.remove(0);
            self.parts.push(Part {
                file,
                pos: begin,
                end,
            });
            self.parts.reverse();
        }
    }
}

/// One positioned read, retried on EINTR; 0 at end of file.
fn read_some_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match crate::platform::fs::read_at(file, &mut buf[filled..], at + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Collects whole lines as (lossy UTF-8) strings.
#[derive(Default)]
struct Collect {
    lines: Vec<String>,
    line: Vec<u8>,
}

impl LineSink for Collect {
    fn start_line(&mut self) {
        self.line.clear();
    }
    fn line_bytes(&mut self, bytes: &[u8]) {
        self.line.extend_from_slice(bytes);
    }
    fn end_line(&mut self) {
        self.lines
            .push(String::from_utf8_lossy(&self.line).into_owned());
    }
}

/// The last `n` lines of the log file at `path` (and, if it has fewer, of `path.1`),
/// oldest first, without newlines. A missing file gives an empty list.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut tail = LogTail::open(path, n as u64)?;
    let mut sink = Collect::default();
    while !tail.step(usize::MAX, &mut sink)? {}
    Ok(sink.lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The lines `tail_lines` promises, computed the obvious way.
    fn reference(current: Option<&[u8]>, rotated: Option<&[u8]>, n: usize) -> Vec<String> {
        fn lines(data: &[u8]) -> Vec<String> {
            let data = data.strip_suffix(b"\n").unwrap_or(data);
            data.split(|&b| b == b'\n')
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect()
        }
        let of = |f: Option<&[u8]>| match f {
            Some(d) if !d.is_empty() => lines(d),
            _ => Vec::new(),
        };
        let mut cur = of(current);
        let take = cur.len().min(n);
        let mut out = cur.split_off(cur.len() - take);
        if out.len() < n {
            let mut old = of(rotated);
            let k = old.len().min(n - out.len());
            let mut older = old.split_off(old.len() - k);
            older.append(&mut out);
            out = older;
        }
        out
    }

    /// Streams with a small budget per step, as the server does.
    fn streamed(path: &Path, n: u64, budget: usize) -> Vec<String> {
        let mut tail = LogTail::open(path, n).unwrap();
        let mut sink = Collect::default();
        let mut steps = 0;
        while !tail.step(budget, &mut sink).unwrap() {
            steps += 1;
            assert!(steps < 100_000, "no progress");
        }
        sink.lines
    }

    #[test]
    fn streaming_matches_the_reference() {
        let dir = std::env::temp_dir().join(format!("sup-tail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("u.log");
        let old = rotated_path(&path, 1);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        // Lines from empty to several blocks long, with and without a last newline.
        let gen = |next: &mut dyn FnMut(u64) -> u64| -> Vec<u8> {
            let mut d = Vec::new();
            for i in 0..next(40) {
                let len = match next(10) {
                    0 => 0,
                    1 if next(3) == 0 => BLOCK as u64 + next(BLOCK as u64),
                    _ => next(120),
                };
                d.extend((0..len).map(|j| b'a' + ((i + j) % 26) as u8));
                d.push(b'\n');
            }
            if next(3) == 0 {
                d.extend_from_slice(b"partial \xe2\x82");
            }
            d
        };
        for round in 0..40 {
            let cur = (round % 5 != 4).then(|| gen(&mut next));
            let rot = (round % 3 != 2).then(|| gen(&mut next));
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&old);
            if let Some(d) = &cur {
                std::fs::write(&path, d).unwrap();
            }
            if let Some(d) = &rot {
                std::fs::write(&old, d).unwrap();
            }
            for n in [0, 1, 2, 3, 7, 20, 39, 41, 79, 100, usize::MAX] {
                let want = reference(cur.as_deref(), rot.as_deref(), n);
                assert_eq!(tail_lines(&path, n).unwrap(), want, "round {round} n {n}");
                for budget in [1, BLOCK + 1] {
                    assert_eq!(
                        streamed(&path, n as u64, budget),
                        want,
                        "round {round} n {n}"
                    );
                }
            }
        }
        // What is appended after opening is not included; a truncation ends it early.
        let _ = std::fs::remove_file(&old);
        std::fs::write(&path, "a\nb\n").unwrap();
        let mut tail = LogTail::open(&path, u64::MAX).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"c\n")
            .unwrap();
        let mut sink = Collect::default();
        while !tail.step(1, &mut sink).unwrap() {}
        assert_eq!(sink.lines, ["a", "b"]);
        let mut tail = LogTail::open(&path, 2).unwrap();
        std::fs::write(&path, "").unwrap();
        let mut sink = Collect::default();
        while !tail.step(1, &mut sink).unwrap() {}
        assert!(sink.lines.is_empty(), "{:?}", sink.lines);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
