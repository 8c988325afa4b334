//! Chaos soak (bounded: `SUP_SOAK_SECS`, default 60): 100 units killed at random as
//! fast as the test can, while hostile clients hammer the control socket. Afterwards
//! every unit is back, no zombie is left, and sup's fd count and RSS are back within 2%
//! of their figures at the start of the soak (taken after a warm-up round that uses
//! every path once, so allocator arenas and grown buffers count as the start).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const UNITS: usize = 100;

/// sup's fds, less the units' `cgroup.procs` counters (checked on their own, by
/// `procs_count`): those are opened at their first read and let go after a read that
/// found the cgroup empty (a kernel seq_file quirk), so how many are open at a given
/// moment depends on which units were between runs then; at most one per unit.
fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| {
        d.flatten()
            .filter(|e| !fs::read_link(e.path()).is_ok_and(|t| t.ends_with("cgroup.procs")))
            .count()
    })
}

/// The units' open `cgroup.procs` counters (at most one per unit).
fn procs_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| {
        d.flatten()
            .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t.ends_with("cgroup.procs")))
            .count()
    })
}

/// sup's fds by kind (for the failure message).
fn fd_kinds(pid: u32) -> String {
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for e in fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = fs::read_link(e.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let kind = match target.split_once(':') {
            Some((k, _)) if !target.starts_with('/') => k.to_string(),
            _ => target
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == 's')
                .to_string(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    format!("{kinds:?}")
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Children of `pid` (unit main processes), from /proc.
fn children(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(e.path().join("stat")) {
            if proc_ppid(&stat) == Some(pid as i32) && proc_state(&stat) != Some('Z') {
                out.push(p);
            }
        }
    }
    out
}

/// A small xorshift: the soak needs cheap randomness, not a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One round of each hostile client: garbage, an oversized line, pipelined requests
/// never read, an `events` stream never read, a half-sent request.
fn hostile_round(socket: &Path, rng: &mut Rng) {
    let connect = || {
        let s = UnixStream::connect(socket).ok()?;
        s.set_write_timeout(Some(Duration::from_millis(200))).ok()?;
        Some(s)
    };
    if let Some(mut s) = connect() {
        let mut junk = vec![0u8; 512 + (rng.next() % 4096) as usize];
        for b in junk.iter_mut() {
            *b = rng.next() as u8;
        }
        junk.push(b'\n');
        let _ = s.write_all(&junk);
    }
    if let Some(mut s) = connect() {
        let big = vec![b'x'; 3 << 20];
        let _ = s.write_all(&big);
    }
    if let Some(mut s) = connect() {
        let req = b"{\"v\":1,\"cmd\":\"status\"}\n".repeat(2000);
        let _ = s.write_all(&req);
    }
    if let Some(mut s) = connect() {
        let _ = s.write_all(b"{\"v\":1,\"cmd\":\"events\"}\n");
        // Kept open unread for a moment by the caller's next round; dropped here.
    }
    if let Some(mut s) = connect() {
        let _ = s.write_all(b"{\"v\":1,\"cmd\":\"sta");
    }
}

/// `secs` of chaos: units SIGKILLed at random while hostile clients hammer the socket
/// and a good client keeps asking for status. Returns (kills, hostile rounds).
fn chaos(sup: &Sup, pid: u32, socket: &Path, rng: &mut Rng, secs: u64) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let hostile = {
        let stop = stop.clone();
        let socket = socket.to_path_buf();
        let seed = rng.next();
        std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                hostile_round(&socket, &mut rng);
                rounds += 1;
            }
            rounds
        })
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut kills = 0u64;
    while Instant::now() < deadline {
        let kids = children(pid);
        if kids.is_empty() {
            std::thread::yield_now();
            continue;
        }
        for _ in 0..kids.len().min(16) {
            let c = kids[(rng.next() % kids.len() as u64) as usize];
            // SAFETY: kill takes plain integers; a pid that already exited gives ESRCH.
            if unsafe { libc::kill(c, libc::SIGKILL) } == 0 {
                kills += 1;
            }
        }
        // A good client keeps being answered throughout.
        let (code, _, err) = sup.supctl(&["status"]);
        assert_eq!(code, 0, "status failed during the soak: {err}");
    }
    stop.store(true, Ordering::Relaxed);
    (kills, hostile.join().unwrap())
}

/// Once the chaos is over: every unit back, no zombie, the connections' fds let go
/// (bounded waits); returns (fds, RSS KiB).
fn quiet_state(
    sup: &Sup,
    pid: u32,
    fds0: usize,
    all_running: &dyn Fn(&Sup) -> bool,
) -> (usize, u64) {
    assert!(
        wait_until(|| all_running(sup), Duration::from_secs(30)),
        "not every unit came back"
    );
    assert!(
        wait_until(|| zombie_children(pid).is_empty(), WAIT),
        "zombies left: {:?}",
        zombie_children(pid)
    );
    let mut fds = fd_count(pid);
    // Closed connections are let go as sup reads their EOF (and the heap is trimmed
    // once none is left): wait for that, bounded.
    wait_until(
        || {
            fds = fd_count(pid);
            fds <= fds0
        },
        WAIT,
    );
    (fds, rss_kib(pid))
}

#[test]
fn chaos_soak_every_unit_comes_back_and_nothing_leaks() {
    let secs: u64 = std::env::var("SUP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut sup = Sup::prepare("soak");
    for i in 0..UNITS {
        sup.write_unit(
            &format!("s{i:03}"),
            "restart: {policy: always, delay: 10ms, max_delay: 50ms, limit: {burst: 10000, interval: 1s}}\nexec: [\"sleep\", \"100000\"]\n",
        );
    }
    sup.launch();
    let pid = sup.pid();
    let all_running = |sup: &Sup| {
        sup.status_all()["units"]
            .as_array()
            .is_some_and(|u| u.len() == UNITS && u.iter().all(|x| x["state"] == "running"))
    };
    assert!(wait_until(|| all_running(&sup), Duration::from_secs(30)));

    let socket: PathBuf = sup.socket.clone();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(pid));
    // Warm-up: every path once.
    for _ in 0..3 {
        hostile_round(&socket, &mut rng);
        for c in children(pid).into_iter().take(20) {
            // SAFETY: kill takes plain integers.
            unsafe { libc::kill(c, libc::SIGKILL) };
        }
    }
    assert!(wait_until(|| all_running(&sup), Duration::from_secs(30)));
    assert!(wait_until(|| zombie_children(pid).is_empty(), WAIT));
    let fds0 = fd_count(pid);
    let kinds0 = fd_kinds(pid);
    // Two rounds of chaos: the first settles the allocator (its arenas and free lists
    // reach their working size under this load), the second is measured from the quiet
    // state after the first. A leak grows in both; fragmentation settles in the first.
    let settle = (secs / 3).max(1);
    let (kills_a, rounds_a) = chaos(&sup, pid, &socket, &mut rng, settle);
    let (fds_mid, rss0) = quiet_state(&sup, pid, fds0, &all_running);
    let (kills_b, rounds_b) = chaos(&sup, pid, &socket, &mut rng, secs - settle.min(secs));
    let (fds1, rss1) = quiet_state(&sup, pid, fds0, &all_running);
    eprintln!(
        "soak: {secs}s, {} SIGKILLs, {} hostile rounds; fds {fds0} -> {fds_mid} -> {fds1}, RSS after settling {rss0} -> {rss1} KiB",
        kills_a + kills_b,
        rounds_a + rounds_b
    );
    assert!(
        fds1 <= fds0 + fds0 / 50,
        "fds grew: {fds0} -> {fds1}\nbefore: {kinds0}\nafter:  {}",
        fd_kinds(pid)
    );
    let procs = procs_count(pid);
    assert!(
        procs <= UNITS,
        "more cgroup.procs counters than units: {procs}\n{}",
        fd_kinds(pid)
    );
    assert!(
        rss1 <= rss0 + rss0 / 50,
        "RSS grew more than 2% after settling: {rss0} -> {rss1} KiB"
    );
    // Drain check: the connection fds the hostile clients left are all gone.
    let mut buf = [0u8; 1];
    let mut probe = UnixStream::connect(&socket).unwrap();
    probe.write_all(b"{\"v\":1,\"cmd\":\"health\"}\n").unwrap();
    probe.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(probe.read(&mut buf).unwrap(), 1);
    assert!(sup.terminate(Duration::from_secs(30)).success());
}
