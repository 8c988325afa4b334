//! Hostile control-socket clients against the real sup (SPEC §7): peers that pipeline
//! requests and never read, ask `logs` for every line of a big log, subscribe to events
//! and never read, or open more connections than sup serves, must leave sup's memory
//! within 64 MiB of its idle figure and a good client answered; and `--socket` naming
//! something that is not a socket is never deleted (SPEC §1).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

/// SPEC §7 / issue 12: with any mix of hostile clients sup stays within this much of
/// its idle RSS.
const RSS_ALLOWANCE_KIB: u64 = 64 * 1024;
/// Bound for a good client's `status` while hostile clients are connected (the target
/// is 50 ms; this only has to be generous enough for a loaded CI machine).
const GOOD_CLIENT_BOUND: Duration = Duration::from_secs(2);

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn request(cmd: &str, extra: &str) -> Vec<u8> {
    format!("{{\"v\":1,\"cmd\":\"{cmd}\"{extra}}}\n").into_bytes()
}

fn connect(sup: &Sup) -> UnixStream {
    let s = UnixStream::connect(&sup.socket).expect("connect to sup");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// A good client: `status` on a fresh connection; returns how long the reply took.
fn good_status(sup: &Sup) -> Duration {
    let t0 = Instant::now();
    let mut s = connect(sup);
    s.write_all(&request("status", "")).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    let took = t0.elapsed();
    let reply: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(reply["ok"], true, "{line}");
    assert!(
        took < GOOD_CLIENT_BOUND,
        "a good client's status took {took:?}"
    );
    took
}

/// Checks sup's RSS against its idle figure (the good client's `status` first makes sure
/// sup has handled what was sent before).
fn check_rss(sup: &Sup, idle: u64, what: &str) -> u64 {
    let took = good_status(sup);
    let rss = rss_kib(sup.pid());
    eprintln!(
        "{what}: RSS {} KiB (idle {idle} KiB), good status in {took:?}",
        rss
    );
    assert!(
        rss <= idle + RSS_ALLOWANCE_KIB,
        "{what}: RSS {rss} KiB, idle {idle} KiB"
    );
    rss
}

/// RSS check without a good client (when none can connect).
fn check_rss_now(sup: &Sup, idle: u64, what: &str) {
    let rss = rss_kib(sup.pid());
    eprintln!("{what}: RSS {rss} KiB (idle {idle} KiB)");
    assert!(
        rss <= idle + RSS_ALLOWANCE_KIB,
        "{what}: RSS {rss} KiB, idle {idle} KiB"
    );
}

fn idle_rss(sup: &Sup) -> u64 {
    good_status(sup);
    rss_kib(sup.pid())
}

/// Reads one line (the first reply) from a raw connection.
fn read_reply(s: &UnixStream) -> Value {
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

#[test]
fn pipelined_requests_are_held_back_until_replies_are_read() {
    // Twenty units make each status reply some 7 KB.
    let units: Vec<(String, String)> = (0..20)
        .map(|i| (format!("u{i}"), "exec: [sleep, infinity]\n".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = units.iter().map(|(n, y)| (&n[..], &y[..])).collect();
    let sup = Sup::start("hostile-pipe", &refs);
    let idle = idle_rss(&sup);

    let hostile = connect(&sup);
    hostile.set_nonblocking(true).unwrap();
    let one = request("status", "");
    let all: Vec<u8> = one.repeat(200_000);
    let mut sent = 0;
    // Write until the socket is full, let sup do its turn, again, until nothing more
    // goes in: sup stops reading once its replies are unsent.
    for _ in 0..200 {
        let before = sent;
        loop {
            match (&hostile).write(&all[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
            if sent == all.len() {
                break;
            }
        }
        check_rss(&sup, idle, "pipelining");
        if sent == before || sent == all.len() {
            break;
        }
    }
    eprintln!("{} of 200000 requests taken", sent / one.len());
    assert!(
        sent < all.len() / 4,
        "sup read {} of 200000 requests whose replies were not read",
        sent / one.len()
    );
    // The replies that were queued are whole lines, in order.
    hostile.set_nonblocking(false).unwrap();
    hostile.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(&hostile);
    for _ in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["units"].as_array().map(Vec::len), Some(20));
    }
    drop(reader);
    drop(hostile);
    check_rss(&sup, idle, "after the pipeliner left");
}

#[test]
fn requests_sent_before_hanging_up_are_answered_or_carried_out() {
    let sup = Sup::start(
        "hostile-hup",
        &[
            ("a", "exec: [sleep, infinity]\n"),
            ("b", "exec: [sleep, infinity]\n"),
        ],
    );
    sup.wait_state("a", "running");
    sup.wait_state("b", "running");
    // Half-closed after the requests (as `socat` does): every reply still comes.
    let s = connect(&sup);
    (&s).write_all(
        &[
            request("status", ""),
            request("status", ",\"units\":[\"a\"]"),
        ]
        .concat(),
    )
    .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut text = String::new();
    (&s).read_to_string(&mut text).unwrap();
    let replies: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 2, "{text}");
    assert_eq!(replies[1]["units"][0]["name"], "a");
    // Gone entirely right after sending: the request is still carried out.
    let s = connect(&sup);
    (&s).write_all(&request("stop", ",\"units\":[\"b\"],\"no_block\":true"))
        .unwrap();
    drop(s);
    sup.wait_state("b", "stopped");
}

#[test]
fn logs_of_every_line_of_a_big_log_stream_in_bounded_memory() {
    let mut sup = Sup::prepare("hostile-logs");
    sup.write_unit(
        "big",
        "exec: [sleep, infinity]\nlog: {max_size: 1G, keep: 1}\n",
    );
    // 48 MiB of 96-byte lines, written straight into the unit's log file.
    let line_of = |i: usize| format!("2024-05-01T10:00:00.000000Z line {i:09} {}", "x".repeat(52));
    let count = 48 * 1024 * 1024 / 96;
    let mut data = String::with_capacity(count * 96);
    for i in 0..count {
        data.push_str(&line_of(i));
        data.push('\n');
    }
    fs::write(sup.logs.join("big.log"), data).unwrap();
    sup.launch();
    let idle = idle_rss(&sup);

    let ask = request(
        "logs",
        &format!(",\"units\":[\"big\"],\"lines\":{}", u64::MAX),
    );
    let hostile: Vec<UnixStream> = (0..10)
        .map(|_| {
            let mut s = connect(&sup);
            s.write_all(&ask).unwrap();
            s
        })
        .collect();
    check_rss(&sup, idle, "10 unread logs replies");

    // A client that reads gets every line, then the reply to what it asked next.
    let mut reader = connect(&sup);
    reader
        .write_all(&[ask.clone(), request("status", "")].concat())
        .unwrap();
    let mut line = Vec::new();
    let mut buffered = BufReader::with_capacity(1 << 20, &reader);
    buffered.read_until(b'\n', &mut line).unwrap();
    let reply: Value = serde_json::from_slice(&line).unwrap();
    let lines = reply["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), count);
    assert_eq!(lines[0], line_of(0));
    assert_eq!(lines[count - 1], line_of(count - 1));
    line.clear();
    buffered.read_until(b'\n', &mut line).unwrap();
    let next: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(next["units"][0]["name"], "big", "{next}");
    drop(buffered);
    drop(line);
    drop(reply);
    check_rss(&sup, idle, "10 unread logs replies and one read");

    drop(hostile);
    drop(reader);
    // Memory comes back once they are gone.
    let mut rss = 0;
    let back = wait_until(
        || {
            good_status(&sup);
            rss = rss_kib(sup.pid());
            rss <= idle + 8 * 1024
        },
        WAIT,
    );
    assert!(
        back,
        "RSS {rss} KiB after the clients left (idle {idle} KiB)"
    );
    sup.terminate(WAIT);
}

/// A unit that exits and is restarted at once, for a steady flow of events.
const FLAP: &str = "exec: [\"true\"]\nenabled: false\nrestart: {policy: always, delay: 1ms, max_delay: 1ms, limit: {burst: 10000, interval: 1s}}\n";

/// `n` connections subscribed to `events` (each acknowledged), which then never read.
fn events_followers(sup: &Sup, n: usize) -> Vec<UnixStream> {
    (0..n)
        .map(|_| {
            let s = connect(sup);
            (&s).write_all(&request("events", "")).unwrap();
            assert_eq!(read_reply(&s)["ok"], true);
            s
        })
        .collect()
}

#[test]
fn followers_that_do_not_read_are_dropped_with_a_final_line() {
    let sup = Sup::start("hostile-events", &[("flap", FLAP)]);
    let idle = idle_rss(&sup);
    let followers = events_followers(&sup, 128);
    // One stream more than sup serves is refused, with the limit named.
    let extra = connect(&sup);
    (&extra).write_all(&request("events", "")).unwrap();
    let refused = read_reply(&extra);
    assert_eq!(refused["error"]["code"], "busy", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("128"),
        "{refused}"
    );

    let (code, _, err) = sup.supctl(&["start", "--no-block", "flap"]);
    assert_eq!(code, 0, "{err}");
    let dropped = |sup: &Sup| sup.stderr_log().matches("dropped a slow").count();
    assert!(
        wait_until(|| dropped(&sup) > 0, Duration::from_secs(15)),
        "no follower was dropped"
    );
    check_rss(&sup, idle, "128 followers that do not read");
    let (code, _, err) = sup.supctl(&["stop", "flap"]);
    assert_eq!(code, 0, "{err}");
    check_rss(&sup, idle, "128 followers that do not read, events stopped");

    // Every follower sup dropped gets its events, then `dropped`, then the end.
    let mut ended = 0;
    let deadline = Instant::now() + WAIT;
    let mut last: Vec<Option<Vec<u8>>> = vec![Some(Vec::new()); followers.len()];
    for s in &followers {
        s.set_nonblocking(true).unwrap();
    }
    while ended == 0 || ended < dropped(&sup) {
        assert!(
            Instant::now() < deadline,
            "{ended} of {} dropped followers saw their stream end",
            dropped(&sup)
        );
        let mut progress = false;
        for (s, tail) in followers.iter().zip(last.iter_mut()) {
            let Some(buf) = tail.as_mut() else { continue };
            let mut chunk = [0u8; 65536];
            match (&*s).read(&mut chunk) {
                Ok(0) => {
                    let text = String::from_utf8_lossy(buf).into_owned();
                    let final_line = text.lines().last().unwrap_or("");
                    assert!(
                        final_line.starts_with("{\"dropped\":"),
                        "a follower's stream ended with {final_line:?}"
                    );
                    *tail = None;
                    ended += 1;
                    progress = true;
                }
                Ok(n) => {
                    // Keep only the last line or so.
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > 4096 {
                        buf.drain(..buf.len() - 4096);
                    }
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        if !progress {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    eprintln!("{ended} followers dropped");
    drop(followers);
    check_rss(&sup, idle, "after the followers left");
}

#[test]
fn connections_beyond_the_cap_make_room_or_are_refused() {
    // Units that never become ready: a blocking `start` of one waits.
    let units: Vec<(String, String)> = (0..128)
        .map(|i| {
            (
                format!("n{i}"),
                "exec: [sleep, infinity]\nenabled: false\nready: notify\nstart_timeout: 60s\n"
                    .to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = units.iter().map(|(n, y)| (&n[..], &y[..])).collect();
    let sup = Sup::start("hostile-cap", &refs);
    let idle = idle_rss(&sup);

    // Idle connections beyond the cap: the longest idle ones make room.
    let idle_conns: Vec<UnixStream> = (0..300).map(|_| connect(&sup)).collect();
    check_rss(&sup, idle, "300 idle connections");
    let closed = idle_conns
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            matches!((&**s).read(&mut [0u8; 64]), Ok(0))
        })
        .count();
    assert!(closed >= 300 - 256, "{closed} idle connections closed");
    drop(idle_conns);

    // Connections busy with a stream or an operation are not closed for others: past
    // 256 of them a new connection is refused with a `busy` reply.
    let followers = events_followers(&sup, 128);
    let starts: Vec<UnixStream> = (0..128)
        .map(|i| {
            let s = connect(&sup);
            (&s).write_all(&request("start", &format!(",\"units\":[\"n{i}\"]")))
                .unwrap();
            s
        })
        .collect();
    // Each start was taken once its unit is starting (seen by a follower).
    let mut starting = std::collections::HashSet::new();
    let mut events = BufReader::new(&followers[0]);
    let deadline = Instant::now() + WAIT;
    while starting.len() < 128 {
        assert!(
            Instant::now() < deadline,
            "{} units starting",
            starting.len()
        );
        let mut line = String::new();
        events.read_line(&mut line).unwrap();
        let item: Value = serde_json::from_str(&line).unwrap();
        if item["event"]["state"] == "starting" {
            starting.insert(item["event"]["unit"].as_str().unwrap().to_string());
        }
    }
    let s = connect(&sup);
    // sup may have answered and closed before the request is written (EPIPE).
    let _ = (&s).write_all(&request("status", ""));
    let refused = read_reply(&s);
    assert_eq!(refused["error"]["code"], "busy", "{refused}");
    let (code, _, err) = sup.supctl(&["status"]);
    assert_eq!(code, 4, "supctl at the cap: {err}");
    assert!(err.contains("too many connections"), "{err}");
    check_rss_now(&sup, idle, "256 busy connections");
    drop(events);
    drop(followers);
    drop(starts);
    // Room again once they are gone (the starts go on without their waiters).
    assert!(wait_until(|| sup.supctl(&["status"]).0 == 0, WAIT));
}

#[test]
fn a_socket_path_that_is_not_a_socket_is_never_deleted() {
    let dir = unique_dir("hostile-sock");
    let units = dir.join("units");
    fs::create_dir(&units).unwrap();
    let file = dir.join("precious");
    fs::write(&file, "keep me\n").unwrap();
    let subdir = dir.join("a-dir");
    fs::create_dir(&subdir).unwrap();
    let sup = |socket: &std::path::Path, cmd: &[&str]| {
        let mut c = Command::new(SUP);
        c.env_remove("SUP_UNITS")
            .env_remove("SUP_LOG")
            .arg("--units")
            .arg(&units)
            .arg("--socket")
            .arg(socket)
            .arg("--log-dir")
            .arg(dir.join("logs"));
        if !cmd.is_empty() {
            c.arg("--").args(cmd);
        }
        run_bounded(c, WAIT)
    };
    // Supervisor mode: an error naming the path; nothing deleted.
    for path in [&file, &subdir] {
        let (code, _, err) = sup(path, &[]);
        assert_ne!(code, 0, "sup ran with --socket {}", path.display());
        assert!(
            err.contains(&path.display().to_string()) && err.contains("not a socket"),
            "{err}"
        );
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep me\n");
    assert!(subdir.is_dir());
    // Entrypoint mode: a warning naming the path, the command runs, nothing deleted.
    let (code, _, err) = sup(&file, &["sh", "-c", "exit 7"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep me\n");
    // A stale socket (its sup is gone) is replaced.
    let stale = dir.join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let stale_path = stale.display().to_string();
    let (code, _, err) = sup(
        &stale,
        &[
            "sh",
            "-c",
            "\"$0\" --socket \"$1\" status >/dev/null && exit 3",
            SUPCTL,
            &stale_path,
        ],
    );
    assert_eq!(code, 3, "sup did not serve the stale socket's path: {err}");
    let _ = fs::remove_dir_all(&dir);
}
