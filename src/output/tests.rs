//! Tests of `UnitOutput` over real pipes and files: line reassembly, stream
//! separation, timestamps, EOF, rotation, tail and the tap.

use super::sink::Console;
use super::*;
use crate::platform::pipe::{Reader, Writer};
use crate::platform::{console, fs as os_fs};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

/// A fresh, empty directory under the system temp dir.
pub(super) fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sup-output-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pipe whose read end is non-blocking: (read, write).
pub(super) fn pipe() -> (Reader, Writer) {
    crate::platform::pipe::pipe().expect("pipe")
}

pub(super) fn write_all(wr: &Writer, data: &[u8]) {
    let mut w = wr;
    w.write_all(data).expect("write to the pipe");
}

fn file_dest(path: &Path, max_size: u64, keep: u32) -> Destination {
    Destination::File {
        path: path.to_path_buf(),
        max_size,
        keep,
    }
}

fn read_all(
    out: &mut UnitOutput,
    stream: Stream,
    rd: &Reader,
    tap: Option<&mut Vec<u8>>,
) -> ReadOutcome {
    let mut rd = rd;
    out.read_from(stream, &mut rd, 1 << 20, tap).unwrap()
}

#[test]
fn lines_split_across_reads_are_reassembled_and_eof_flushes() {
    let dir = temp_dir("reassemble");
    let path = dir.join("sub/dir/u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), false).unwrap();
    let (rd, wr) = pipe();
    for piece in [&b"ab"[..], b"c\nde", b"f\n\n", b"g"] {
        write_all(&wr, piece);
        let o = read_all(&mut out, Stream::Stdout, &rd, None);
        assert_eq!(
            o,
            ReadOutcome {
                bytes: piece.len(),
                eof: false,
                more: false,
                parked: false
            }
        );
    }
    assert_eq!(fs::read(&path).unwrap(), b"abc\ndef\n\n");
    assert!(out.has_partial(Stream::Stdout));
    drop(wr);
    let o = read_all(&mut out, Stream::Stdout, &rd, None);
    assert!(o.eof && !o.more && o.bytes == 0);
    assert_eq!(fs::read(&path).unwrap(), b"abc\ndef\n\ng\n");
    // Where the platform has permission bits.
    if let Some(mode) = os_fs::mode(&fs::metadata(&path).unwrap()) {
        assert_eq!(mode & 0o777, 0o640);
    }
    if let Some(mode) = os_fs::mode(&fs::metadata(path.parent().unwrap()).unwrap()) {
        assert_eq!(mode & 0o777, 0o755);
    }
}

#[test]
fn stdout_and_stderr_partials_do_not_mix() {
    let dir = temp_dir("streams");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), false).unwrap();
    let (ord, owr) = pipe();
    let (erd, ewr) = pipe();
    write_all(&owr, b"out-start ");
    read_all(&mut out, Stream::Stdout, &ord, None);
    write_all(&ewr, b"err-start ");
    read_all(&mut out, Stream::Stderr, &erd, None);
    write_all(&owr, b"out-end\nout-2 ");
    read_all(&mut out, Stream::Stdout, &ord, None);
    write_all(&ewr, b"err-end\n");
    read_all(&mut out, Stream::Stderr, &erd, None);
    out.flush_partial(Stream::Stdout, None).unwrap();
    out.flush_partial(Stream::Stderr, None).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "out-start out-end\nerr-start err-end\nout-2 \n"
    );
}

#[test]
fn timestamps_have_rfc3339_shape_and_do_not_go_back() {
    let dir = temp_dir("ts");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), true).unwrap();
    let (rd, wr) = pipe();
    for i in 0..50 {
        write_all(&wr, format!("line {i}\nx").as_bytes());
        read_all(&mut out, Stream::Stdout, &rd, None);
    }
    let text = fs::read_to_string(&path).unwrap();
    let mut last = String::new();
    for (i, line) in text.lines().enumerate() {
        let (ts, rest) = line.split_at(TIMESTAMP_PREFIX_LEN);
        let want = if i == 0 {
            "line 0".to_string()
        } else {
            format!("xline {i}")
        };
        assert_eq!(rest, want);
        let b = ts.as_bytes();
        for (pos, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (26, b'Z'),
            (27, b' '),
        ] {
            assert_eq!(b[pos], c, "{ts:?}");
        }
        assert!(b
            .iter()
            .enumerate()
            .all(|(p, c)| [4, 7, 10, 13, 16, 19, 26, 27].contains(&p) || c.is_ascii_digit()));
        assert!(*ts >= *last, "{ts} < {last}");
        last = ts.to_string();
    }
    assert_eq!(text.lines().count(), 50);
    let now = rfc3339(SystemTime::now());
    assert_eq!(&last[..13], &now[..13], "timestamp is in UTC, now");
}

#[test]
fn budget_stops_with_more() {
    let dir = temp_dir("budget");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), false).unwrap();
    let (rd, wr) = pipe();
    write_all(&wr, &b"0123456789\n".repeat(100));
    let o = out.read_from(Stream::Stdout, &mut &rd, 300, None).unwrap();
    assert_eq!(
        o,
        ReadOutcome {
            bytes: 300,
            eof: false,
            more: true,
            parked: false
        }
    );
    let o = read_all(&mut out, Stream::Stdout, &rd, None);
    assert_eq!(
        o,
        ReadOutcome {
            bytes: 800,
            eof: false,
            more: false,
            parked: false
        }
    );
    assert_eq!(fs::read(&path).unwrap().len(), 1100);
}

fn numbered(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .flat_map(|i| format!("line {i:05}\n").into_bytes())
        .collect()
}

#[test]
fn rotation_keeps_at_most_keep_files_each_within_max_size() {
    let dir = temp_dir("rotate");
    let path = dir.join("u.log");
    let (max, keep) = (200u64, 3u32);
    let mut out = UnitOutput::new(file_dest(&path, max, keep), false).unwrap();
    let (rd, wr) = pipe();
    let mut tap = Vec::new();
    for batch in 0..40 {
        write_all(&wr, &numbered(batch * 7..batch * 7 + 7));
        read_all(&mut out, Stream::Stdout, &rd, Some(&mut tap));
    }
    // A single line larger than max_size gets a file of its own.
    let big = format!("{}\n", "B".repeat(300));
    write_all(&wr, big.as_bytes());
    write_all(&wr, b"after\n");
    read_all(&mut out, Stream::Stdout, &rd, Some(&mut tap));
    assert!(!rotated_exists(&path, keep + 1));
    let mut all = Vec::new();
    for n in (1..=keep).rev() {
        let data = fs::read(super::sink::rotated_path(&path, n)).unwrap();
        assert!(
            data.len() as u64 <= max || data == big.as_bytes(),
            "file .{n}: {}",
            data.len()
        );
        assert!(data.ends_with(b"\n"));
        all.extend_from_slice(&data);
    }
    assert_eq!(fs::read(&path).unwrap(), b"after\n");
    all.extend_from_slice(b"after\n");
    assert_eq!(
        fs::read(super::sink::rotated_path(&path, 1)).unwrap(),
        big.as_bytes()
    );
    // The kept files are exactly the newest part of everything written.
    assert!(
        tap.ends_with(&all),
        "rotated files are the tail of the output"
    );

    // tail across the rotation boundary: `path` has 1 line, the rest comes from `.1`.
    let lines = tail_lines(&path, 2).unwrap();
    assert_eq!(lines, vec!["B".repeat(300), "after".to_string()]);
    let lines = tail_lines(&path, 5).unwrap();
    assert_eq!(lines.len(), 2, "only path and path.1 are read");
}

fn rotated_exists(path: &Path, n: u32) -> bool {
    super::sink::rotated_path(path, n).exists()
}

#[test]
fn rotation_with_keep_zero_truncates() {
    let dir = temp_dir("keep0");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 100, 0), false).unwrap();
    let (rd, wr) = pipe();
    for batch in 0..10 {
        write_all(&wr, &numbered(batch * 5..batch * 5 + 5));
        read_all(&mut out, Stream::Stdout, &rd, None);
        assert!(fs::metadata(&path).unwrap().len() <= 100);
    }
    assert!(!rotated_exists(&path, 1));
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("line 00049\n"), "{text}");
}

#[test]
fn rotation_continues_an_existing_file_size() {
    let dir = temp_dir("existing");
    let path = dir.join("u.log");
    fs::write(&path, "old line that is long enough\n".repeat(3)).unwrap();
    let mut out = UnitOutput::new(file_dest(&path, 100, 2), false).unwrap();
    let (rd, wr) = pipe();
    write_all(&wr, b"new line that does not fit\n");
    read_all(&mut out, Stream::Stdout, &rd, None);
    assert_eq!(fs::read(&path).unwrap(), b"new line that does not fit\n");
    assert_eq!(
        fs::read(super::sink::rotated_path(&path, 1)).unwrap().len(),
        87
    );
}

#[test]
fn tap_receives_exactly_what_the_file_receives() {
    let dir = temp_dir("tap");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), true).unwrap();
    let (ord, owr) = pipe();
    let (erd, ewr) = pipe();
    let mut tap = Vec::new();
    write_all(&owr, b"one\ntw");
    write_all(&ewr, b"err\npart");
    read_all(&mut out, Stream::Stdout, &ord, Some(&mut tap));
    read_all(&mut out, Stream::Stderr, &erd, Some(&mut tap));
    write_all(&owr, b"o\n");
    read_all(&mut out, Stream::Stdout, &ord, None);
    let untapped = fs::read(&path).unwrap().len();
    drop(ewr);
    let before = tap.len();
    assert!(read_all(&mut out, Stream::Stderr, &erd, Some(&mut tap)).eof);
    let file = fs::read(&path).unwrap();
    assert_eq!(&file[..before], &tap[..before]);
    assert_eq!(&file[untapped..], &tap[before..]);
    assert!(tap.ends_with(b"Z part\n"));

    // Discard still feeds the tap, and nothing else.
    let mut discard = UnitOutput::new(Destination::Discard, false).unwrap();
    let (rd, wr) = pipe();
    write_all(&wr, b"a\nb");
    let mut tap = Vec::new();
    read_all(&mut discard, Stream::Stdout, &rd, Some(&mut tap));
    drop(wr);
    read_all(&mut discard, Stream::Stdout, &rd, Some(&mut tap));
    assert_eq!(tap, b"a\nb\n");
    assert_eq!(discard.line_head_len(), 0);

    // line_head_len locates the message in tapped lines.
    let mut stamped = UnitOutput::new(Destination::Discard, true).unwrap();
    let (rd, wr) = pipe();
    write_all(&wr, b"hello\n");
    let mut tap = Vec::new();
    read_all(&mut stamped, Stream::Stderr, &rd, Some(&mut tap));
    assert_eq!(&tap[stamped.line_head_len()..], b"hello\n");
    let inherit = UnitOutput::new(
        Destination::Inherit {
            prefix: "web: ".into(),
        },
        true,
    )
    .unwrap();
    assert_eq!(inherit.line_head_len(), 5 + TIMESTAMP_PREFIX_LEN);
}

#[test]
fn tail_reads_backwards_and_handles_edges() {
    let dir = temp_dir("tail");
    let path = dir.join("u.log");
    assert!(tail_lines(&path, 10).unwrap().is_empty(), "missing file");
    fs::write(&path, "").unwrap();
    assert!(tail_lines(&path, 10).unwrap().is_empty(), "empty file");
    // Larger than several read blocks.
    fs::write(&path, numbered(0..200_000)).unwrap();
    let lines = tail_lines(&path, 3).unwrap();
    assert_eq!(lines, vec!["line 199997", "line 199998", "line 199999"]);
    assert_eq!(tail_lines(&path, 0).unwrap(), Vec::<String>::new());
    let lines = tail_lines(&path, 10_000).unwrap();
    assert_eq!(lines.len(), 10_000);
    assert_eq!(lines[0], "line 190000");
    // No trailing newline, empty lines, invalid UTF-8.
    fs::write(&path, b"a\n\n\xffb\nlast").unwrap();
    assert_eq!(
        tail_lines(&path, 10).unwrap(),
        vec!["a", "", "\u{fffd}b", "last"]
    );
    assert_eq!(tail_lines(&path, 2).unwrap(), vec!["\u{fffd}b", "last"]);
    // Fewer lines than asked: the rest from path.1, oldest first.
    fs::write(super::sink::rotated_path(&path, 1), "r1\nr2\nr3\n").unwrap();
    fs::write(&path, "c1\n").unwrap();
    assert_eq!(tail_lines(&path, 3).unwrap(), vec!["r2", "r3", "c1"]);
    assert_eq!(tail_lines(&path, 9).unwrap(), vec!["r1", "r2", "r3", "c1"]);
}

#[test]
fn console_keeps_lines_for_a_full_pipe_and_drops_for_a_closed_one() {
    if !console::NEVER_BLOCKS {
        println!("skipped: console writes on this platform wait for the stream");
        return;
    }
    let (rd, wr) = pipe();
    let out = console::Out::of_pipe(&wr);
    let mut console = Console::default();
    // Fill the pipe (made non-blocking for filling only).
    wr.set_nonblocking(true).unwrap();
    let block = [b'x'; 4096];
    while (&wr).write(&block).is_ok_and(|n| n > 0) {}
    wr.set_nonblocking(false).unwrap();
    let start = std::time::Instant::now();
    console.write_to(0, out, b"web: hello\n");
    assert!(console.blocked(0), "a full pipe keeps the lines waiting");
    assert!(!console.blocked(1));
    console.write_to(0, out, b"web: again\n");
    assert_eq!(console.dropped, 0);
    assert!(
        start.elapsed() < std::time::Duration::from_millis(200),
        "never waits"
    );
    // Drain the filler; the waiting lines then go out in order.
    let mut buf = vec![0u8; 1 << 20];
    while (&rd).read(&mut buf).is_ok() {}
    let waiting = std::mem::take(console.pending_for_test(0));
    console.write_to(0, out, &waiting);
    assert!(!console.blocked(0));
    let n = (&rd).read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"web: hello\nweb: again\n");
    // A closed reader: EPIPE drops (and counts) instead of keeping lines forever.
    drop(rd);
    console.write_to(0, out, b"web: gone\n");
    assert!(!console.blocked(0));
    assert_eq!(console.dropped, 10);
}

/// Bytes the file system has allocated for `path` (st_blocks), and its size. Where the
/// platform does not say (it never allocates ahead either), the size itself.
fn allocated(path: &Path) -> (u64, u64) {
    let m = fs::metadata(path).unwrap();
    (os_fs::allocated_bytes(&m).unwrap_or(m.len()), m.len())
}

/// Writes `total` bytes of 100-byte numbered lines through the pipe into `out`,
/// calling `each` after every read; returns what was written.
fn pump(
    out: &mut UnitOutput,
    rd: &Reader,
    wr: &Writer,
    total: usize,
    mut each: impl FnMut(),
) -> Vec<u8> {
    let mut all = Vec::new();
    let mut n = 0;
    while all.len() < total {
        let mut chunk = Vec::new();
        while chunk.len() < 32 * 1024 {
            chunk.extend_from_slice(format!("{n:099}\n").as_bytes());
            n += 1;
        }
        write_all(wr, &chunk);
        read_all(out, Stream::Stdout, rd, None);
        all.extend_from_slice(&chunk);
        each();
    }
    all
}

#[test]
fn busy_file_is_allocated_ahead_and_released_at_eof() {
    let dir = temp_dir("prealloc");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), false).unwrap();
    let ext4 = os_fs::allocate_ahead_pays(&fs::File::open(&path).unwrap());
    let (rd, wr) = pipe();
    let mut ahead = 0;
    let written = pump(&mut out, &rd, &wr, 3 << 20, || {
        let (blocks, len) = allocated(&path);
        ahead = ahead.max(blocks.saturating_sub(len));
    });
    assert_eq!(fs::metadata(&path).unwrap().len(), written.len() as u64);
    if ext4 {
        assert!(ahead >= 1 << 20, "allocated ahead: {ahead}");
    }
    drop(wr);
    assert!(read_all(&mut out, Stream::Stdout, &rd, None).eof);
    let (blocks, len) = allocated(&path);
    assert!(
        blocks <= len.next_multiple_of(4096) + 64 * 1024,
        "{blocks} for {len}"
    );
    assert_eq!(fs::read(&path).unwrap(), written);
}

#[test]
fn allocation_ahead_stops_at_max_size_and_is_released_at_rotation_and_drop() {
    let dir = temp_dir("prealloc-rotate");
    let path = dir.join("u.log");
    let max = 1536 * 1024;
    let mut out = UnitOutput::new(file_dest(&path, max, 2), false).unwrap();
    let (rd, wr) = pipe();
    let written = pump(&mut out, &rd, &wr, 4 << 20, || {
        let (blocks, len) = allocated(&path);
        assert!(len <= max);
        assert!(
            blocks <= max.next_multiple_of(4096) + 64 * 1024,
            "{blocks} for {len}"
        );
    });
    let mut kept = Vec::new();
    for n in [2, 1] {
        let p = super::sink::rotated_path(&path, n);
        let (blocks, len) = allocated(&p);
        assert!(
            blocks <= len.next_multiple_of(4096) + 64 * 1024,
            ".{n}: {blocks} for {len}"
        );
        kept.extend_from_slice(&fs::read(&p).unwrap());
    }
    drop(out);
    let (blocks, len) = allocated(&path);
    assert!(
        blocks <= len.next_multiple_of(4096) + 64 * 1024,
        "{blocks} for {len}"
    );
    kept.extend_from_slice(&fs::read(&path).unwrap());
    assert!(written.ends_with(&kept));
    assert!(kept.len() as u64 > 2 * max - 200);
}

#[test]
fn small_writes_never_allocate_ahead() {
    let dir = temp_dir("prealloc-small");
    let path = dir.join("u.log");
    let mut out = UnitOutput::new(file_dest(&path, 0, 5), false).unwrap();
    let (rd, wr) = pipe();
    let line = [b'y'; 1023];
    for _ in 0..(2 << 20) / (4 * 1024) {
        for _ in 0..4 {
            write_all(&wr, &line);
            write_all(&wr, b"\n");
        }
        read_all(&mut out, Stream::Stdout, &rd, None);
        let (blocks, len) = allocated(&path);
        assert!(
            blocks <= len.next_multiple_of(4096) + 64 * 1024,
            "{blocks} for {len}"
        );
    }
    assert_eq!(fs::metadata(&path).unwrap().len(), 2 << 20);
}

/// Big reads: writes end at aligned offsets mid-line, yet every call leaves the file
/// at a line end, stdout and stderr lines stay whole, the tap matches the file, and
/// rotated files hold whole lines within max_size.
#[test]
fn aligned_writes_keep_lines_whole() {
    for max_size in [0u64, 300 * 1024] {
        let dir = temp_dir("aligned");
        let path = dir.join("u.log");
        let mut out = UnitOutput::new(file_dest(&path, max_size, 20), true).unwrap();
        let (ord, owr) = pipe();
        let (erd, ewr) = pipe();
        for wr in [&owr, &ewr] {
            assert!(wr.set_capacity(1 << 20).unwrap() >= 1 << 20);
        }
        let mut tap = Vec::new();
        let mut n = 0;
        for round in 0..6 {
            for (wr, rd, stream, tag) in [
                (&owr, &ord, Stream::Stdout, "out"),
                (&ewr, &erd, Stream::Stderr, "err"),
            ] {
                let mut chunk = Vec::new();
                while chunk.len() < 700 * 1024 {
                    // Lines of varying length, so that aligned cuts fall mid-line.
                    let pad = "p".repeat(n % 300);
                    chunk.extend_from_slice(format!("{tag} {n:07} {pad}\n").as_bytes());
                    n += 1;
                }
                chunk.extend_from_slice(format!("{tag} partial {round}").as_bytes());
                write_all(wr, &chunk);
                let mut rd = rd;
                let o = out.read_from(stream, &mut rd, 1 << 20, Some(&mut tap));
                assert!(!o.unwrap().more);
                let file = fs::read(&path).unwrap();
                assert!(file.is_empty() || file.ends_with(b"\n"), "ends mid-line");
                assert!(max_size == 0 || file.len() as u64 <= max_size);
            }
        }
        let mut files = Vec::new();
        for k in (1..=20).rev() {
            if let Ok(data) = fs::read(super::sink::rotated_path(&path, k)) {
                assert!(data.ends_with(b"\n") && data.len() as u64 <= max_size);
                files.extend_from_slice(&data);
            }
        }
        files.extend_from_slice(&fs::read(&path).unwrap());
        if max_size == 0 {
            assert_eq!(files, tap);
        } else {
            assert!(tap.ends_with(&files) && files.len() as u64 > 15 * max_size);
        }
        // Every line is a timestamp and one whole line of one stream, in order per stream.
        let (mut last_out, mut last_err) = (None, None);
        for line in tap.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let msg = std::str::from_utf8(&line[TIMESTAMP_PREFIX_LEN..]).unwrap();
            assert!(line[TIMESTAMP_PREFIX_LEN - 2] == b'Z', "{msg}");
            let mut parts = msg.split(' ');
            let (tag, num) = (parts.next().unwrap(), parts.next().unwrap());
            if num == "partial" {
                continue;
            }
            let num: usize = num.parse().unwrap();
            assert_eq!(parts.next().unwrap().len(), num % 300, "{msg}");
            let last = if tag == "out" {
                &mut last_out
            } else {
                &mut last_err
            };
            assert!(last.is_none_or(|l| l < num), "{msg}");
            *last = Some(num);
        }
    }
}
