//! Throughput benchmark (ignored test): one writer thread pushes 128-byte lines
//! through a 1 MiB pipe; the reader drives `read_from`, waiting for the pipe, into a rotating
//! log file and reports MiB/s and its own CPU time.
//!
//! `cargo test --release --lib output::bench -- --ignored --nocapture`
//! (`SUP_BENCH_MIB` sets the volume, default 1024; `SUP_BENCH_MAX_MIB` the log
//! file's `max_size`, default 10, 0 = no rotation; `TMPDIR` where the log goes).

use super::tests::{pipe, temp_dir, write_all};
use super::*;
use std::time::{Duration, Instant};

const LINE: usize = 128;

/// (user, system) CPU time of the calling thread.
fn thread_cpu() -> (Duration, Duration) {
    crate::platform::usage::thread_cpu_time().expect("thread CPU time")
}

fn run(timestamps: bool, budget: usize, discard: bool) {
    let mib: u64 = std::env::var("SUP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;
    let dir = temp_dir("bench");
    let path = dir.join("bench.log");
    let dest = Destination::File {
        path: path.clone(),
        max_size: std::env::var("SUP_BENCH_MAX_MIB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10)
            << 20,
        keep: 5,
    };
    let dest = if discard { Destination::Discard } else { dest };
    let mut out = UnitOutput::new(dest, timestamps).unwrap();
    let (rd, wr) = pipe();
    let granted = wr.set_capacity(1 << 20).expect("pipe capacity");
    assert!(granted >= 1 << 20, "pipe capacity {granted}");

    let writer = std::thread::spawn(move || {
        let mut block = Vec::with_capacity(64 * 1024);
        for i in 0..(64 * 1024 / LINE) {
            let head = format!("line {i:06} ");
            block.extend_from_slice(head.as_bytes());
            block.resize(block.len() + LINE - 1 - head.len(), b'x');
            block.push(b'\n');
        }
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            write_all(&wr, &block[..n]);
            left -= n as u64;
        }
    });

    let cpu0 = thread_cpu();
    let start = Instant::now();
    let (mut bytes, mut calls, mut polls) = (0u64, 0u64, 0u64);
    loop {
        match rd.wait_readable(None) {
            Ok(_) => {}
            // No way to wait on this platform's pipe: read until WouldBlock instead.
            Err(e) if e.kind() == io::ErrorKind::Unsupported => std::thread::yield_now(),
            Err(e) => panic!("waiting for the pipe: {e}"),
        }
        polls += 1;
        let o = loop {
            let o = out
                .read_from(Stream::Stdout, &mut &rd, budget, None)
                .unwrap();
            bytes += o.bytes as u64;
            calls += 1;
            if !o.more {
                break o;
            }
        };
        if o.eof {
            break;
        }
    }
    let wall = start.elapsed();
    let cpu1 = thread_cpu();
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu = user + sys;
    writer.join().unwrap();
    assert_eq!(bytes, total);
    let lines = total / LINE as u64;
    let expect = total
        + if timestamps {
            lines * TIMESTAMP_PREFIX_LEN as u64
        } else {
            0
        };
    let kept: u64 = std::iter::once(path.clone())
        .chain((1..=5).map(|n| sink::rotated_path(&path, n)))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert_eq!(
        kept,
        expect.min(kept),
        "files hold at most what was written"
    );
    assert_eq!(out.dropped_bytes(), 0);
    let secs = wall.as_secs_f64();
    println!(
        "{}timestamps={timestamps:<5} budget={:>4}KiB: {mib} MiB in {secs:.3}s = {:.0} MiB/s; \
         reader CPU {:.3}s (user {:.3}s, sys {:.3}s) = {:.1}% of a core; {calls} read_from calls, {polls} polls",
        if discard { "discard " } else { "file " },
        budget >> 10,
        mib as f64 / secs,
        cpu.as_secs_f64(),
        user.as_secs_f64(),
        sys.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / secs,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "throughput benchmark; run with --release --ignored --nocapture"]
fn bench_throughput() {
    run(true, 1 << 20, false);
    run(false, 1 << 20, false);
    run(true, 256 << 10, false);
    run(false, 1 << 20, true);
}
