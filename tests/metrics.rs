//! Integration tests of `supctl metrics` and `sup --metrics-listen` against the real
//! `sup`, checked by the real clients: `promtool check metrics` on both outputs, and a
//! Prometheus server scraping sup (Debian's `prometheus` package; without it those
//! parts print that they skip). Also the HTTP endpoint's bounds: oversized and garbage
//! requests, silent clients, the connection cap, no wakeups once it is idle. Every wait
//! is bounded and polls state.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

const BURN: &str = "exec: [\"sh\", \"-c\", \"while :; do :; done\"]\n";
const IDLE: &str = "exec: [\"sleep\", \"1000\"]\n";

/// sup with `units`, serving metrics (through `SUP_METRICS_LISTEN`) on a free port.
fn sup_with_metrics(tag: &str, units: &[(&str, &str)]) -> (Sup, u16) {
    let mut sup = Sup::prepare(tag);
    for (name, yaml) in units {
        sup.write_unit(name, yaml);
    }
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    sup.launch_with_env(&[("SUP_METRICS_LISTEN".as_ref(), addr.as_ref())]);
    (sup, port)
}

/// Sends `request` as it is and reads until the server closes: (status code, headers,
/// body). Bounded by a read timeout.
fn http(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    split_response(&all)
}

fn split_response(all: &[u8]) -> (u16, String, Vec<u8>) {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head: {:?}", String::from_utf8_lossy(all)));
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    (code, head, all[end + 4..].to_vec())
}

fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

/// `promtool check metrics` on `text`: `None` when promtool is not installed.
fn promtool_check(text: &[u8]) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
            return None;
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let text = text.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&text);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// Every family has HELP and TYPE lines before its samples, and its samples together.
fn check_families(text: &str) {
    let mut seen = std::collections::HashSet::new();
    let mut current = String::new();
    let mut help = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert_eq!(
                help.as_deref(),
                Some(&name[..]),
                "TYPE without HELP: {line}"
            );
            assert!(seen.insert(name.clone()), "family {name} twice");
            current = name;
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "sample outside its family: {line}");
        }
    }
}

/// The value of the sample written exactly as `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn supctl_metrics_is_valid_exposition() {
    let mut sup = Sup::prepare("metrics-ctl");
    sup.write_unit("burn", BURN);
    sup.write_unit(
        "fail",
        "exec: [\"sh\", \"-c\", \"exit 3\"]\nrestart: never\n",
    );
    sup.write_unit(
        "killed",
        "exec: [\"sh\", \"-c\", \"kill -9 $$\"]\nrestart: never\n",
    );
    sup.write_unit("bad", "exec: 42: [\n");
    sup.launch();
    sup.wait_state("burn", "running");
    sup.wait_state("fail", "failed");
    sup.wait_state("killed", "failed");
    let (code, out, err) = sup.supctl(&["metrics"]);
    assert_eq!(code, 0, "{err}");
    check_families(&out);
    for (series, value) in [
        ("sup_unit_state{unit=\"burn\",state=\"running\"}", 1.0),
        ("sup_unit_state{unit=\"burn\",state=\"failed\"}", 0.0),
        ("sup_unit_state{unit=\"fail\",state=\"failed\"}", 1.0),
        ("sup_unit_state{unit=\"bad\",state=\"invalid\"}", 1.0),
        ("sup_unit_ready{unit=\"burn\"}", 1.0),
        ("sup_unit_ready{unit=\"fail\"}", 0.0),
        ("sup_unit_health{unit=\"burn\",health=\"unknown\"}", 1.0),
        ("sup_unit_restarts_total{unit=\"fail\"}", 0.0),
        ("sup_unit_last_exit_code{unit=\"fail\"}", 3.0),
        (
            "sup_unit_last_exit_signal{unit=\"killed\",signal=\"SIGKILL\"}",
            9.0,
        ),
        ("sup_units", 4.0),
    ] {
        assert_eq!(sample(&out, series), Some(value), "{series} in\n{out}");
    }
    // One state per unit is 1.
    let ones = out
        .lines()
        .filter(|l| l.starts_with("sup_unit_state{unit=\"burn\"") && l.ends_with(" 1"))
        .count();
    assert_eq!(ones, 1, "{out}");
    for own in [
        "process_open_fds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "sup_loop_turns_total",
        "sup_events_total",
        "sup_log_bytes_total",
    ] {
        assert!(
            sample(&out, own).is_some_and(|v| v >= 0.0),
            "{own} in\n{out}"
        );
    }
    assert!(sample(&out, "sup_events_total").unwrap() > 0.0, "{out}");
    if is_root() {
        // Units with a cgroup: its counters.
        assert!(
            sample(&out, "sup_unit_cpu_seconds_total{unit=\"burn\"}").is_some(),
            "{out}"
        );
        assert!(sample(&out, "sup_unit_pids{unit=\"burn\"}").is_some_and(|n| n >= 1.0));
    }
    // The JSON reply carries the same text as `lines`.
    let (code, json, err) = sup.supctl(&["--json", "metrics"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&json).unwrap();
    let lines = doc["lines"].as_array().expect("lines");
    assert!(lines.len() > 40, "{json}");
    assert_eq!(lines[0], out.lines().next().unwrap());
    if let Some((ok, said)) = promtool_check(out.as_bytes()) {
        assert!(ok, "promtool rejects supctl metrics: {said}\n{out}");
    }
}

#[test]
fn http_endpoint_answers_get_head_404_405_400() {
    let (sup, port) = sup_with_metrics("metrics-http", &[("idle", IDLE)]);
    sup.wait_state("idle", "running");
    let (code, head, body) = get(port, "/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    let text = String::from_utf8(body.clone()).unwrap();
    check_families(&text);
    assert_eq!(
        sample(&text, "sup_unit_state{unit=\"idle\",state=\"running\"}"),
        Some(1.0)
    );
    if let Some((ok, said)) = promtool_check(&body) {
        assert!(ok, "promtool rejects GET /metrics: {said}\n{text}");
    }
    // Requests within 0.5 s of a rendering get that one (sup's own counters, which
    // change with every turn of the loop, are the same).
    let t = Instant::now();
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    first
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (_, _, second) = get(port, "/metrics");
    let quick = t.elapsed() < Duration::from_millis(400);
    let mut all = Vec::new();
    first.read_to_end(&mut all).unwrap();
    let (code, _, first) = split_response(&all);
    assert_eq!(code, 200);
    if quick {
        assert_eq!(first, second, "a rendering was not reused");
    } else {
        eprintln!("not checked: the two requests were more than 0.4 s apart");
    }
    // A query string is ignored; HEAD has the head only.
    assert_eq!(get(port, "/metrics?x=1").0, 200);
    let (code, head, body) = http(port, b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert_eq!((code, body.len()), (200, 0), "{head}");
    let (code, _, _) = get(port, "/");
    assert_eq!(code, 404);
    let (code, _, _) = get(port, "/metricsx");
    assert_eq!(code, 404);
    let (code, head, _) = http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(code, 405, "{head}");
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    for garbage in [
        &b"hello there\r\n\r\n"[..],
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        b"GET /metrics HTTP/1.1\r\nnot a header\r\n\r\n",
    ] {
        let (code, head, _) = http(port, garbage);
        assert_eq!(code, 400, "{garbage:?}: {head}");
    }
    // The control socket and sup are unaffected.
    sup.wait_state("idle", "running");
}

#[test]
fn http_endpoint_bounds_size_time_and_connections() {
    let (sup, port) = sup_with_metrics("metrics-bounds", &[("idle", IDLE)]);
    sup.wait_state("idle", "running");
    // A head that never ends within 8 KiB: 400, then closed (whatever else is sent).
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while req.len() < 64 * 1024 {
        req.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let _ = s.write_all(&req);
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    assert_eq!(split_response(&all).0, 400);

    // A silent client is closed after the request deadline (5 s); meanwhile another
    // client is served at once.
    let silent_at = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    (&half)
        .write_all(b"GET /metrics HTTP/1.1\r\nHost:")
        .unwrap();
    let t = Instant::now();
    assert_eq!(get(port, "/metrics").0, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let mut buf = [0u8; 64];
    let n = silent
        .read(&mut buf)
        .expect("closed by sup, not timed out here");
    assert_eq!(n, 0, "a silent client gets nothing but the close");
    let took = silent_at.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
    drop(half);

    // The connection cap (16): more silent clients than that, and a good one is still
    // served (the oldest unanswered one makes room).
    let crowd: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let t = Instant::now();
    assert_eq!(get(port, "/metrics").0, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The oldest were closed to make room.
    let mut first = &crowd[0];
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(first.read(&mut buf).unwrap_or(0), 0);
    drop(crowd);
    sup.wait_state("idle", "running");
}

/// Voluntary and involuntary context switches of a process so far.
fn switches(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn idle_endpoint_costs_no_wakeups() {
    let (sup, port) = sup_with_metrics("metrics-idle", &[("idle", IDLE)]);
    sup.wait_state("idle", "running");
    assert_eq!(get(port, "/metrics").0, 200);
    // The connection's close has been handled once sup has not switched for a second
    // (a measuring window, not a wait for an event).
    let quiet = wait_until(
        || {
            let before = switches(sup.pid());
            std::thread::sleep(Duration::from_secs(1));
            switches(sup.pid()) == before
        },
        Duration::from_secs(15),
    );
    assert!(quiet, "sup never went quiet");
    // A window longer than every deadline of the endpoint (request 5 s): no wakeup.
    let before = switches(sup.pid());
    let until = Instant::now() + Duration::from_secs(6);
    wait_until(|| Instant::now() >= until, Duration::from_secs(7));
    let after = switches(sup.pid());
    assert_eq!(
        after,
        before,
        "sup woke up {} times while idle",
        after - before
    );
}

#[test]
fn bind_error_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = unique_dir("metrics-bind");
    std::fs::create_dir(dir.join("units")).unwrap();
    let mut cmd = Command::new(SUP);
    cmd.env_remove("SUP_METRICS_LISTEN")
        .arg("--units")
        .arg(dir.join("units"))
        .arg("--socket")
        .arg(dir.join("s.sock"))
        .arg("--log-dir")
        .arg(dir.join("log"))
        .args(["--metrics-listen", &addr]);
    let (code, _, err) = run_bounded(cmd, Duration::from_secs(20));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&addr) && err.contains("cannot listen"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Prometheus server, killed when dropped (also when the test fails).
struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
            eprintln!("---- prometheus log ----\n{log}\n---- end ----");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; `None` when not installed.
    fn start(target: &str) -> Option<Prometheus> {
        let dir = unique_dir("prom");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sup\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn();
        match child {
            Ok(child) => Some(Prometheus { child, dir, port }),
            Err(_) => {
                eprintln!("skipped: prometheus is not installed (apt-get install prometheus)");
                let _ = std::fs::remove_dir_all(&dir);
                None
            }
        }
    }

    /// The first value of an instant query, if the API answers with one.
    fn query(&self, q: &str) -> Option<f64> {
        let enc: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(
            format!(
                "GET /api/v1/query?query={enc} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .ok()?;
        let mut all = Vec::new();
        s.read_to_end(&mut all).ok()?;
        let (code, _, body) = split_response(&all);
        if code != 200 {
            return None;
        }
        // Prometheus may answer chunked: the JSON object is between the outer braces.
        let body = String::from_utf8_lossy(&body).into_owned();
        let json = &body[body.find('{')?..=body.rfind('}')?];
        let doc: Value = serde_json::from_str(json).ok()?;
        doc["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

fn wait_value(p: &Prometheus, q: &str, pred: impl Fn(f64) -> bool, timeout: Duration) -> f64 {
    let mut last = None;
    let ok = wait_until(
        || {
            last = p.query(q);
            last.is_some_and(&pred)
        },
        timeout,
    );
    assert!(ok, "{q}: last value {last:?} after {timeout:?}");
    last.unwrap()
}

#[test]
fn prometheus_scrapes_sup() {
    require_root!();
    let (sup, port) = sup_with_metrics("metrics-prom", &[("burn", BURN)]);
    sup.wait_state("burn", "running");
    let Some(prom) = Prometheus::start(&format!("127.0.0.1:{port}")) else {
        return;
    };
    let bound = Duration::from_secs(90);
    wait_value(&prom, "up{job=\"sup\"}", |v| v == 1.0, bound);
    let q = "sup_unit_cpu_seconds_total{job=\"sup\",unit=\"burn\"}";
    let first = wait_value(&prom, q, |v| v >= 0.0, bound);
    let later = wait_value(&prom, q, |v| v > first, bound);
    assert!(later > first);
    assert_eq!(
        wait_value(
            &prom,
            "sup_unit_state{unit=\"burn\",state=\"running\"}",
            |v| v == 1.0,
            bound
        ),
        1.0
    );
}
