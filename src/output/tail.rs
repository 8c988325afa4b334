//! `supctl logs -n N`: the last lines of a unit's log file (and of the newest rotated
//! file when the current one is short), read backwards in blocks.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::sink::rotated_path;

const BLOCK: u64 = 64 * 1024;

/// The last `n` lines of the log file at `path` (and, if it has fewer, of `path.1`),
/// oldest first, without newlines. A missing file gives an empty list.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut lines = tail_file(path, n)?;
    if lines.len() < n {
        let mut older = tail_file(&rotated_path(path, 1), n - lines.len())?;
        older.append(&mut lines);
        lines = older;
    }
    Ok(lines)
}

/// The last `n` lines of one file. A last line without a newline counts as a line.
fn tail_file(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    // Blocks read so far, newest first; `newlines` counts separators seen, not
    // counting a newline that ends the file.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0usize;
    let mut pos = size;
    while pos > 0 && newlines < n {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        match file.read_exact_at(&mut block, start) {
            Ok(()) => {}
            // Truncated under us (a `keep: 0` rotation): it is (nearly) empty now.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let mut count = block.iter().filter(|&&b| b == b'\n').count();
        if pos == size && block.last() == Some(&b'\n') {
            count -= 1;
        }
        newlines += count;
        blocks.push(block);
        pos = start;
    }
    let mut data = Vec::with_capacity(blocks.iter().map(Vec::len).sum());
    for block in blocks.iter().rev() {
        data.extend_from_slice(block);
    }
    if data.last() == Some(&b'\n') {
        data.pop();
    } else if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines: Vec<String> = data
        .rsplit(|&b| b == b'\n')
        .take(n)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    lines.reverse();
    Ok(lines)
}
