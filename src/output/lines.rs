//! Line assembly: a fast newline scan over a read chunk and the formatting of complete
//! lines (`HEAD LINE\n`) into one output buffer, with a bounded partial-line buffer.

/// Longest line content written as one line; longer lines are split into pieces of
/// this size, each ending in its own newline. Also bounds the partial-line buffer.
pub const MAX_LINE: usize = 64 * 1024;

use super::time::TIMESTAMP_PREFIX_LEN;

/// Calls `f(i)` for every index `i` with `data[i] == b'\n'`, in increasing order.
#[inline(always)]
pub(crate) fn for_each_newline(data: &[u8], mut f: impl FnMut(usize)) {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        while i + 32 <= data.len() {
            // SAFETY: `i + 32 <= data.len()`, so both unaligned 16-byte loads read inside
            // `data`; SSE2 is part of the x86_64 baseline, so the intrinsics are available.
            let mut mask = unsafe {
                let nl = _mm_set1_epi8(b'\n' as i8);
                let p = data.as_ptr().add(i).cast::<__m128i>();
                let a = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p), nl)) as u32;
                let b = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(p.add(1)), nl)) as u32;
                a | (b << 16)
            };
            while mask != 0 {
                f(i + mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
            i += 32;
        }
    }
    // Word-at-a-time for the rest (and other architectures): exact per-byte zero test
    // of `word ^ 0x0a0a…` with no carries between bytes.
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    while i + 8 <= data.len() {
        let w = u64::from_le_bytes(data[i..i + 8].try_into().unwrap()) ^ NL;
        // High bit of each byte of `t` is set iff that byte of `w` is non-zero.
        let t = ((w & LO7) + LO7) | w;
        let mut mask = !t & !LO7;
        while mask != 0 {
            f(i + (mask.trailing_zeros() / 8) as usize);
            mask &= mask - 1;
        }
        i += 8;
    }
    for (j, &b) in data[i..].iter().enumerate() {
        if b == b'\n' {
            f(i + j);
        }
    }
}

/// Appends `line` (no newline) to `out` as one or more `head piece\n` lines of at most
/// [`MAX_LINE`] content bytes each; an empty line stays one empty line.
#[inline]
fn emit(head: &[u8], line: &[u8], out: &mut Vec<u8>) {
    if line.len() <= MAX_LINE {
        out.extend_from_slice(head);
        out.extend_from_slice(line);
        out.push(b'\n');
    } else {
        for piece in line.chunks(MAX_LINE) {
            out.extend_from_slice(head);
            out.extend_from_slice(piece);
            out.push(b'\n');
        }
    }
}

/// The complete lines of `data`, each preceded by `head`, into `out`; returns the
/// start of the trailing incomplete line. A line is copied together with its newline
/// (one copy per line when `partial` is empty, the common case).
#[inline(always)]
fn format_headed(head: &[u8], partial: &mut Vec<u8>, data: &[u8], out: &mut Vec<u8>) -> usize {
    let mut start = 0;
    for_each_newline(data, |nl| {
        if partial.is_empty() && nl - start <= MAX_LINE {
            out.extend_from_slice(head);
            out.extend_from_slice(&data[start..=nl]);
        } else if partial.is_empty() {
            emit(head, &data[start..nl], out);
        } else {
            partial.extend_from_slice(&data[start..nl]);
            emit(head, partial, out);
            partial.clear();
        }
        start = nl + 1;
    });
    start
}

/// Formats the complete lines of `data` into `out`, completing `partial` first and
/// leaving the trailing incomplete line in `partial` (never more than [`MAX_LINE`]
/// bytes: a longer partial line is written out in pieces at once).
pub(crate) fn format_chunk(head: &[u8], partial: &mut Vec<u8>, data: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    if head.is_empty() {
        // No per-line head: complete lines are copied as contiguous runs, and only an
        // over-long line breaks a run.
        let mut run = 0;
        for_each_newline(data, |nl| {
            if !partial.is_empty() {
                partial.extend_from_slice(&data[..nl]);
                emit(head, partial, out);
                partial.clear();
                run = nl + 1;
            } else if nl - start > MAX_LINE {
                out.extend_from_slice(&data[run..start]);
                emit(head, &data[start..nl], out);
                run = nl + 1;
            }
            start = nl + 1;
        });
        out.extend_from_slice(&data[run..start]);
    } else {
        out.reserve(data.len() + data.len() / 64 * head.len() + head.len());
        // The usual head is exactly a timestamp: with its length known at compile time
        // the per-line head copy is a few moves instead of a `memcpy` call.
        start = if head.len() == TIMESTAMP_PREFIX_LEN {
            format_headed(&head[..TIMESTAMP_PREFIX_LEN], partial, data, out)
        } else {
            format_headed(head, partial, data, out)
        };
    }
    let rest = &data[start..];
    if partial.len() + rest.len() > MAX_LINE {
        // Write the oversize partial line now, in MAX_LINE pieces; keep the remainder.
        partial.extend_from_slice(rest);
        let whole = partial.len() / MAX_LINE * MAX_LINE;
        let whole = if whole == partial.len() {
            whole - MAX_LINE
        } else {
            whole
        };
        emit(head, &partial[..whole], out);
        partial.drain(..whole);
    } else {
        partial.extend_from_slice(rest);
    }
}

/// Writes the pending partial line, if any, as a complete line.
pub(crate) fn flush_partial(head: &[u8], partial: &mut Vec<u8>, out: &mut Vec<u8>) {
    if !partial.is_empty() {
        emit(head, partial, out);
        partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(data: &[u8]) -> Vec<usize> {
        let mut v = Vec::new();
        for_each_newline(data, |i| v.push(i));
        v
    }

    #[test]
    fn scan_finds_every_newline() {
        for len in 0..100 {
            for pattern in 0..7usize {
                let data: Vec<u8> = (0..len)
                    .map(|i| {
                        if (i * 7 + pattern) % (pattern + 2) == 0 {
                            b'\n'
                        } else {
                            0x8a ^ (i as u8)
                        }
                    })
                    .collect();
                let want: Vec<usize> = (0..len).filter(|&i| data[i] == b'\n').collect();
                assert_eq!(positions(&data), want, "len {len} pattern {pattern}");
            }
        }
        // Bytes that differ from '\n' only in the high bit or in one low bit.
        let tricky = [0x8a, 0x0b, 0x09, 0x0a, 0x8a, 0x00, 0xff, 0x0a, 0x1a, 0x0a];
        assert_eq!(positions(&tricky), vec![3, 7, 9]);
    }

    /// A head of the timestamp's length (the specialised copy).
    const TS_HEAD: &[u8] = b"2026-11-27T13:00:00.123456Z ";

    #[test]
    fn ts_head_has_the_timestamp_length() {
        assert_eq!(TS_HEAD.len(), TIMESTAMP_PREFIX_LEN);
    }

    fn run(head: &[u8], chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let mut partial = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            format_chunk(head, &mut partial, c, &mut out);
        }
        (out, partial)
    }

    #[test]
    fn lines_split_across_chunks_are_reassembled() {
        for head in [&b""[..], b"H ", TS_HEAD] {
            let (out, partial) = run(head, &[b"ab", b"c\nde", b"f\n\ng", b"h"]);
            let want: Vec<u8> = [&b"abc"[..], b"def", b""]
                .iter()
                .flat_map(|l| [head, l, b"\n"].concat())
                .collect();
            assert_eq!(out, want);
            assert_eq!(partial, b"gh");
        }
    }

    #[test]
    fn long_lines_are_split() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let mut data = long.clone();
        data.extend_from_slice(b"\nshort\n");
        for head in [&b""[..], b"H ", TS_HEAD] {
            let (out, partial) = run(head, &[&data]);
            assert!(partial.is_empty());
            let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
            assert_eq!(lines.len(), 5);
            assert_eq!(lines[0].len(), head.len() + MAX_LINE);
            assert_eq!(lines[2].len(), head.len() + 10);
            assert_eq!(&lines[3][head.len()..], b"short");
        }
        // A partial line grows past MAX_LINE across chunks: written in pieces, the
        // remainder stays partial; exactly MAX_LINE stays pending until its newline.
        let (out, partial) = run(b"", &[&long[..MAX_LINE], &long[..1]]);
        assert_eq!(out.len(), MAX_LINE + 1);
        assert_eq!(partial.len(), 1);
        let (out, partial) = run(b"", &[&long[..MAX_LINE / 2], &long[..MAX_LINE / 2]]);
        assert!(out.is_empty());
        assert_eq!(partial.len(), MAX_LINE);
    }
}
