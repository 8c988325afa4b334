//! Integration tests of readiness, health checks, the watchdog, events and failure hooks
//! (SPEC sections 2, 5 and 6), against the real `sup` and `supctl` and real processes
//! (python3 servers, shell scripts). Every wait is bounded and based on state or events.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

/// A free TCP port in 20000–40000, different for every call in this process.
fn port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20000 + (std::process::id() % 2000) as u16 * 10;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = 20000 + (base - 20000 + n * 7) % 20000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

fn index(events: &[Value], pred: impl Fn(&Value) -> bool) -> Option<usize> {
    events.iter().position(pred)
}

fn is_state(e: &Value, unit: &str, state: &str) -> bool {
    e["unit"] == unit && e["kind"] == "state" && e["state"] == state
}

fn secs(e: &Value) -> f64 {
    rfc3339_secs(e["time"].as_str().unwrap()).unwrap()
}

/// `slow` becomes ready about 0.8 s after it starts, by `ready`; `dep` requires it.
/// `dep` must start only after `slow` is ready, and `slow` must not count as running
/// before then.
fn dependent_waits_for(tag: &str, ready: &str, exec: &str) -> (Sup, Vec<Value>) {
    let sup = Sup::start(
        tag,
        &[
            (
                "slow",
                &format!("enabled: false\nready: {ready}\nstart_timeout: 20s\nexec: {exec}\n"),
            ),
            (
                "dep",
                "enabled: false\nrequires: [slow]\nexec: [sleep, \"1000\"]\n",
            ),
        ],
    );
    let mut events = sup.events();
    let out = sup.supctl(&["start", "dep"]);
    assert_eq!(out.0, 0, "start dep: {out:?}\n{}", sup.stderr_log());
    let evs = events.wait_until(
        |e| index(e, |x| is_state(x, "dep", "running")).is_some(),
        WAIT,
    );
    let starting = index(&evs, |e| is_state(e, "slow", "starting")).expect("slow starting");
    let ready = index(&evs, |e| e["unit"] == "slow" && e["kind"] == "ready").expect("ready event");
    let running = index(&evs, |e| is_state(e, "slow", "running")).expect("slow running");
    let dep_starts = index(&evs, |e| is_state(e, "dep", "starting")).expect("dep starting");
    assert!(
        starting < ready && ready < running && running < dep_starts,
        "{evs:#?}"
    );
    assert!(
        index(&evs, |e| is_state(e, "dep", "waiting")).unwrap() < running,
        "dep shows waiting meanwhile: {evs:#?}"
    );
    let slow_for = secs(&evs[running]) - secs(&evs[starting]);
    assert!(
        slow_for >= 0.6,
        "slow counted as ready after {slow_for}s only"
    );
    assert_eq!(sup.status("slow")["ready"], true);
    (sup, evs)
}

#[test]
fn notify_readiness_orders_dependents_and_shows_status_text() {
    let exec = "[python3, -c, \"import os,socket,time\\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\\ns.connect(os.environ['NOTIFY_SOCKET'])\\ns.send(b'STATUS=warming up')\\ntime.sleep(0.8)\\ns.send(b'READY=1\\\\nSTATUS=serving 42 clients')\\ntime.sleep(1000)\\n\"]";
    let (sup, _) = dependent_waits_for("rnotify", "notify", exec);
    let st = sup.wait_for("slow", |s| s["status_text"] == "serving 42 clients", WAIT);
    assert_eq!(st["state"], "running");
    let (code, out, _) = sup.supctl(&["status", "slow"]);
    assert_eq!(code, 0);
    assert!(out.contains("running"), "{out}");
    assert!(out.contains("    status: serving 42 clients"), "{out}");
}

#[test]
fn fd_readiness_orders_dependents() {
    dependent_waits_for("rfd", "{fd: 3}", "\"sleep 0.8; echo >&3; exec sleep 1000\"");
}

#[test]
fn tcp_readiness_orders_dependents() {
    let p = port();
    let exec = format!(
        "[python3, -c, \"import socket,time\\ntime.sleep(0.8)\\ns=socket.socket()\\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('127.0.0.1', {p}))\\ns.listen()\\ntime.sleep(1000)\\n\"]"
    );
    dependent_waits_for("rtcp", &format!("{{tcp: \"127.0.0.1:{p}\"}}"), &exec);
}

#[test]
fn http_readiness_orders_dependents() {
    let p = port();
    dependent_waits_for(
        "rhttp",
        &format!("{{http: \"http://127.0.0.1:{p}/\"}}"),
        &format!("\"sleep 0.8; exec python3 -m http.server --bind 127.0.0.1 {p}\""),
    );
}

#[test]
fn log_readiness_orders_dependents() {
    dependent_waits_for(
        "rlog",
        "{log: \"listening on port [0-9]+\"}",
        "\"echo starting up; sleep 0.8; echo now listening on port 8080; exec sleep 1000\"",
    );
}

#[test]
fn exec_readiness_orders_dependents() {
    let dir = unique_dir("rexec-flag");
    let flag = dir.join("up").display().to_string();
    dependent_waits_for(
        "rexec",
        &format!("{{exec: [test, -e, \"{flag}\"]}}"),
        &format!("\"sleep 0.8; touch {flag}; exec sleep 1000\""),
    );
}

#[test]
fn start_timeout_fails_with_reason_timeout() {
    let p = port();
    let sup = Sup::start(
        "rtimeout",
        &[(
            "never",
            &format!(
                "ready: {{tcp: \"127.0.0.1:{p}\"}}\nstart_timeout: 1s\nrestart: never\nexec: [sleep, \"1000\"]\n"
            ),
        )],
    );
    let st = sup.wait_for("never", |s| s["state"] == "failed", WAIT);
    assert_eq!(st["reason"], "timeout", "{st}");
    assert_eq!(st["ready"], false);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("not ready within 1s"),
        "{st}"
    );
    assert_eq!(st["exit"]["signal"], "SIGTERM", "{st}");
}

/// A python http server answering 200, or 500 once `flag` exists.
fn flaky_server(p: u16, flag: &str) -> String {
    format!(
        "[python3, -c, \"import http.server,os\\nclass H(http.server.BaseHTTPRequestHandler):\\n  def do_GET(self):\\n    self.send_response(500 if self.path == '/health' and os.path.exists('{flag}') else 200)\\n    self.end_headers()\\n  def log_message(self, *a): pass\\nhttp.server.HTTPServer(('127.0.0.1', {p}), H).serve_forever()\\n\"]"
    )
}

#[test]
fn failing_http_health_check_restarts_with_backoff() {
    let p = port();
    let mut sup = Sup::prepare("hhttp");
    let flag = sup.p("FAIL");
    let url = format!("http://127.0.0.1:{p}/health");
    sup.write_unit(
        "web",
        &format!(
            "ready: {{http: \"http://127.0.0.1:{p}/\"}}\nhealth:\n  - {{http: \"{url}\", interval: 200ms, timeout: 1s, retries: 2}}\n\
             restart: {{delay: 300ms, limit: {{burst: 10, interval: 60s}}}}\nexec: {}\n",
            flaky_server(p, &flag)
        ),
    );
    sup.launch();
    let mut events = sup.events();
    sup.wait_for("web", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["health", "web"]).0, 0);
    std::fs::write(&flag, "").unwrap();
    let evs = events.wait_until(
        |e| {
            // `restart` is published just before the `state` event to backoff.
            e.iter().filter(|x| is_state(x, "web", "backoff")).count() >= 2
        },
        Duration::from_secs(20),
    );
    let backoffs: Vec<&Value> = evs
        .iter()
        .filter(|e| is_state(e, "web", "backoff"))
        .collect();
    assert!(backoffs.len() >= 2, "{evs:#?}");
    for b in &backoffs {
        assert_eq!(b["reason"], "unhealthy", "{b}");
        assert!(
            b["message"].as_str().unwrap().contains("HTTP status 500"),
            "{b}"
        );
    }
    let delays: Vec<u64> = evs
        .iter()
        .filter(|e| e["unit"] == "web" && e["kind"] == "restart")
        .map(|e| {
            let m = e["message"].as_str().unwrap();
            m.trim_start_matches("restarting in ")
                .trim_end_matches("ms")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(delays[1] > delays[0], "backoff grows: {delays:?}");
    let h = index(&evs, |e| {
        e["unit"] == "web" && e["kind"] == "health" && e["state"] == "unhealthy"
    })
    .expect("health event");
    assert_eq!(evs[h]["from"], "healthy");
    let stop = index(&evs, |e| is_state(e, "web", "stopping")).unwrap();
    assert!(h < stop, "health event precedes the stop: {evs:#?}");
    // Healthy again once the server answers 200.
    std::fs::remove_file(&flag).unwrap();
    let st = sup.wait_for("web", |s| s["health"] == "healthy", Duration::from_secs(20));
    assert!(st["restarts"].as_u64().unwrap() >= 2, "{st}");
}

#[test]
fn health_command_exit_codes() {
    let p = port();
    let mut sup = Sup::prepare("hcmd");
    let flag = sup.p("FAIL");
    let url = format!("http://127.0.0.1:{p}/health");
    sup.write_unit(
        "web",
        &format!(
            "ready: {{tcp: \"127.0.0.1:{p}\"}}\non_unhealthy: ignore\nhealth:\n  - {{http: \"{url}\", interval: 200ms, retries: 1}}\nexec: {}\n",
            flaky_server(p, &flag)
        ),
    );
    sup.write_unit("off", "enabled: false\nexec: [sleep, \"1000\"]\n");
    sup.launch();
    sup.wait_for("web", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["health", "web"]).0, 0);
    std::fs::write(&flag, "").unwrap();
    let st = sup.wait_for("web", |s| s["health"] == "unhealthy", WAIT);
    assert_eq!(
        st["state"], "running",
        "on_unhealthy: ignore keeps it running"
    );
    let (code, out, _) = sup.supctl(&["health", "web"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.trim(), "not healthy: web (unhealthy)");
    assert_eq!(sup.supctl(&["health", "off"]).0, 1);
    assert_eq!(sup.supctl(&["health", "nosuch"]).0, 3);
    // Without a unit: every enabled unit (the disabled `off` does not count).
    let (code, out, _) = sup.supctl(&["health"]);
    assert_eq!((code, out.trim()), (1, "not healthy: web (unhealthy)"));
    std::fs::remove_file(&flag).unwrap();
    sup.wait_for("web", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["health", "web"]).0, 0);
    assert_eq!(
        sup.supctl(&["health"]),
        (0, "healthy\n".into(), String::new())
    );
    // A stopped enabled unit makes the whole not healthy, and is named.
    assert_eq!(sup.supctl(&["stop", "web"]).0, 0);
    let (code, out, _) = sup.supctl(&["--json", "health"]);
    assert_eq!(code, 1, "{out}");
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["healthy"], false, "{reply}");
    assert_eq!(
        reply["not_healthy"],
        serde_json::json!(["web (stopped)"]),
        "{reply}"
    );
    assert_eq!(sup.supctl(&["start", "web"]).0, 0);
    sup.wait_for("web", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["health"]).0, 0);
}

/// The whole-container probe: a oneshot that is done counts as healthy; one still
/// running or failed does not, and neither does an invalid unit file.
#[test]
fn health_of_all_counts_oneshots_and_invalid_files() {
    let mut sup = Sup::prepare("hall");
    sup.write_unit("setup", "type: oneshot\nexec: [\"true\"]\n");
    sup.write_unit("svc", "exec: [sleep, \"1000\"]\n");
    sup.launch();
    sup.wait_state("setup", "done");
    sup.wait_state("svc", "running");
    assert_eq!(sup.supctl(&["health"]).0, 0);
    drop(sup);
    let mut sup = Sup::prepare("hall2");
    sup.write_unit("svc", "exec: [sleep, \"1000\"]\n");
    sup.write_unit("broken", "exec: [sleep, \"1000\"]\nbogus_key: 1\n");
    sup.launch();
    sup.wait_state("svc", "running");
    let (code, out, _) = sup.supctl(&["health"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken (invalid"), "{out}");
    assert!(!out.contains("svc"), "{out}");
}

#[test]
fn watchdog_expiry_restarts_the_unit() {
    let exec = "[python3, -c, \"import os,socket,time\\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\\ns.connect(os.environ['NOTIFY_SOCKET'])\\nassert os.environ['WATCHDOG_USEC'] == '1000000'\\ns.send(b'READY=1')\\nfor i in range(4):\\n  time.sleep(0.3)\\n  s.send(b'WATCHDOG=1')\\ntime.sleep(1000)\\n\"]";
    let sup = Sup::start(
        "wdog",
        &[(
            "pinger",
            &format!("enabled: false\nready: notify\nwatchdog: 1s\nrestart: {{delay: 200ms}}\nexec: {exec}\n"),
        )],
    );
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["start", "pinger"]).0, 0);
    let evs = events.wait_until(
        |e| index(e, |x| is_state(x, "pinger", "backoff")).is_some(),
        WAIT,
    );
    let running = index(&evs, |x| is_state(x, "pinger", "running")).unwrap();
    let health = |h: &str| {
        index(&evs, |x| {
            x["unit"] == "pinger" && x["kind"] == "health" && x["state"] == h
        })
        .unwrap_or_else(|| panic!("no health {h} event: {evs:#?}"))
    };
    let (healthy, unhealthy) = (health("healthy"), health("unhealthy"));
    let backoff = index(&evs, |x| is_state(x, "pinger", "backoff")).unwrap();
    assert!(
        running < healthy && healthy < unhealthy && unhealthy < backoff,
        "{evs:#?}"
    );
    // Pinging kept it alive for 1.2 s, longer than the 1 s watchdog.
    assert!(
        secs(&evs[unhealthy]) - secs(&evs[running]) > 1.5,
        "{evs:#?}"
    );
    let b = &evs[backoff];
    assert_eq!(b["reason"], "unhealthy", "{b}");
    assert!(b["message"].as_str().unwrap().contains("watchdog"), "{b}");
    let st = sup.wait_for(
        "pinger",
        |s| s["restarts"].as_u64() >= Some(1) && s["state"] == "running",
        WAIT,
    );
    assert_eq!(st["ready"], true);
}

#[test]
fn events_stream_content_and_order() {
    let sup = Sup::start(
        "evorder",
        &[(
            "job",
            "enabled: false\nready: {log: ready}\nrestart: {policy: on-failure, delay: 100ms}\n\
             exec: \"echo ready; read x < /dev/null; sleep 0.3; exit 3\"\n",
        )],
    );
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["start", "job"]).0, 0);
    let evs = events.wait_until(
        |e| e.iter().filter(|x| is_state(x, "job", "running")).count() >= 2,
        WAIT,
    );
    let kinds: Vec<String> = evs
        .iter()
        .filter(|e| e["unit"] == "job")
        .map(|e| {
            let k = e["kind"].as_str().unwrap();
            match k {
                "state" => format!("state:{}", e["state"].as_str().unwrap()),
                _ => k.to_string(),
            }
        })
        .collect();
    let expected = [
        "state:waiting",
        "state:starting",
        "spawn",
        "ready",
        "state:running",
        "exit",
        "restart",
        "state:backoff",
        "state:waiting",
        "state:starting",
        "spawn",
        "ready",
        "state:running",
    ];
    // The restart is scheduled (with its delay) as the state turns to backoff.
    assert_eq!(kinds[..expected.len()], expected, "{kinds:?}");
    for e in &evs {
        assert!(rfc3339_secs(e["time"].as_str().unwrap()).is_some(), "{e}");
    }
    let exit = evs.iter().find(|e| e["kind"] == "exit").unwrap();
    assert_eq!(exit["exit"]["code"], 3);
    assert!(exit["pid"].as_u64().is_some());
    let backoff = evs.iter().find(|e| is_state(e, "job", "backoff")).unwrap();
    assert_eq!(
        (backoff["from"].as_str(), backoff["reason"].as_str()),
        (Some("running"), Some("exit-code"))
    );
    let times: Vec<f64> = evs.iter().map(secs).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1] + 1e-6),
        "timestamps in order"
    );
}

#[test]
fn supctl_events_prints_human_and_json_lines() {
    let sup = Sup::start(
        "evcli",
        &[("x", "enabled: false\nexec: [sleep, \"1000\"]\n")],
    );
    let spawn = |json: bool| {
        let mut cmd = std::process::Command::new(SUPCTL);
        cmd.arg("--socket").arg(&sup.socket);
        if json {
            cmd.arg("--json");
        }
        cmd.arg("events")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut human = spawn(false);
    let mut json = spawn(true);
    // A follower may not be subscribed yet when the first restart happens: restart
    // again whenever nothing arrived for a while (bounded by WAIT overall).
    let mut lines_h = BufReader::new(human.stdout.take().unwrap());
    let mut lines_j = BufReader::new(json.stdout.take().unwrap());
    sup.supctl(&["restart", "--no-block", "x"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut l = String::new();
        while lines_h.read_line(&mut l).unwrap_or(0) > 0 {
            let _ = tx.send((false, std::mem::take(&mut l)));
        }
    });
    std::thread::spawn(move || {
        let mut l = String::new();
        while lines_j.read_line(&mut l).unwrap_or(0) > 0 {
            let _ = tx2.send((true, std::mem::take(&mut l)));
        }
    });
    let (mut got_h, mut got_j) = (false, false);
    let deadline = Instant::now() + WAIT;
    while !(got_h && got_j) && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(300)) {
            Ok((true, l)) => {
                let v: Value = serde_json::from_str(&l).expect("one JSON object per line");
                got_j |= v["unit"] == "x" && v["kind"] == "state";
            }
            Ok((false, l)) => got_h |= l.contains(" x state ") && l.contains("→"),
            Err(_) => {
                sup.supctl(&["restart", "--no-block", "x"]);
            }
        }
    }
    let _ = human.kill();
    let _ = json.kill();
    let _ = human.wait();
    let _ = json.wait();
    assert!(got_h && got_j, "human {got_h}, json {got_j}");
}

#[test]
fn a_follower_that_never_reads_is_dropped_and_does_not_slow_sup() {
    let sup = Sup::start(
        "slowfollow",
        &[
            (
                "flap",
                "enabled: false\nrestart: {policy: always, delay: 0, limit: {burst: 10000, interval: 1s}}\nexec: [/bin/true]\n",
            ),
            ("other", "enabled: false\nexec: [sleep, \"1000\"]\n"),
        ],
    );
    // A raw follower: subscribes, reads the reply, then never reads again.
    let mut lazy = UnixStream::connect(&sup.socket).unwrap();
    lazy.write_all(b"{\"v\":1,\"cmd\":\"events\"}\n").unwrap();
    let mut reply = [0u8; 1];
    let mut got = Vec::new();
    while !got.ends_with(b"\n") {
        lazy.read_exact(&mut reply).unwrap();
        got.push(reply[0]);
    }
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["start", "--no-block", "flap"]).0, 0);
    // Thousands of events flow; status stays fast and a reading follower keeps up.
    let dropped = wait_until(
        || {
            sup.stderr_log()
                .contains("dropped a slow control-socket follower")
        },
        Duration::from_secs(60),
    );
    assert!(dropped, "the lazy follower was never dropped");
    let t = Instant::now();
    assert_eq!(sup.supctl(&["start", "other"]).0, 0);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "start took {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(sup.supctl(&["status"]).0, 0);
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "status took {:?}",
        t.elapsed()
    );
    events.wait_until(
        |e| index(e, |x| is_state(x, "other", "running")).is_some(),
        WAIT,
    );
    assert_eq!(sup.supctl(&["stop", "flap"]).0, 0);
    // The lazy follower's stream ends with the `dropped` marker, then EOF.
    lazy.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    lazy.read_to_end(&mut rest).expect("stream closed by sup");
    let text = String::from_utf8_lossy(&rest);
    let last = text.lines().last().unwrap_or("");
    assert!(last.starts_with("{\"dropped\":"), "last line: {last}");
}

#[test]
fn on_failure_starts_the_listed_units() {
    let sup = Sup::prepare("onfail");
    let marker = sup.p("ALERTED");
    sup.write_unit(
        "bad",
        "restart: never\non_failure: [alert]\nexec: \"sleep 0.2; exit 3\"\n",
    );
    sup.write_unit(
        "alert",
        &format!("type: oneshot\nenabled: false\nexec: \"touch {marker}\"\n"),
    );
    let mut sup = sup;
    sup.launch();
    let st = sup.wait_for("bad", |s| s["state"] == "failed", WAIT);
    assert_eq!(st["reason"], "exit-code");
    sup.wait_for("alert", |s| s["state"] == "done", WAIT);
    assert!(std::path::Path::new(&marker).exists());
}

#[test]
fn memory_threshold_warning_reports_without_acting() {
    let sup = Sup::start(
        "memwarn",
        &[(
            "hog",
            "enabled: false\nhealth:\n  - {memory_above: 1K, interval: 200ms, retries: 1, severity: warning}\n  - {exec: [\"true\"], interval: 200ms}\nexec: [sleep, \"1000\"]\n",
        )],
    );
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["start", "hog"]).0, 0);
    let evs = events.wait_until(
        |e| {
            index(e, |x| {
                x["unit"] == "hog"
                    && x["kind"] == "health"
                    && x["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("warning: memory_above"))
            })
            .is_some()
        },
        WAIT,
    );
    let st = sup.status("hog");
    assert_eq!(st["state"], "running", "{evs:#?}");
    assert_eq!(st["restarts"], 0);
    sup.wait_for("hog", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["health", "hog"]).0, 0);
}

#[test]
fn systemd_notify_from_a_shell_child_is_accepted() {
    if std::process::Command::new("systemd-notify")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-notify is not installed");
        return;
    }
    let sup = Sup::start(
        "sdnotify",
        &[(
            "sh",
            "ready: notify\nexec: \"sleep 0.3; systemd-notify --status='from a shell'; systemd-notify --ready; exec sleep 1000\"\n",
        )],
    );
    let st = sup.wait_for("sh", |s| s["state"] == "running", WAIT);
    assert_eq!(st["ready"], true);
    sup.wait_for("sh", |s| s["status_text"] == "from a shell", WAIT);
}

#[test]
fn log_health_check_with_on_unhealthy_stop() {
    let sup = Sup::start(
        "hlog",
        &[(
            "app",
            "on_unhealthy: stop\nhealth:\n  - {log: \"FATAL: .*\", retries: 1, interval: 1s}\n\
             exec: \"echo fine; sleep 0.5; echo 'FATAL: disk gone'; exec sleep 1000\"\n",
        )],
    );
    let st = sup.wait_for("app", |s| s["state"] == "stopped", WAIT);
    assert_eq!(st["reason"], "unhealthy", "{st}");
    assert!(
        st["message"].as_str().unwrap().contains("FATAL: disk gone"),
        "{st}"
    );
    assert_eq!(st["restarts"], 0);
}

#[test]
fn exec_health_check_that_times_out_fails() {
    let sup = Sup::start(
        "hexec",
        &[(
            "app",
            "restart: never\nhealth:\n  - {exec: [sleep, \"5\"], timeout: 200ms, interval: 300ms, retries: 2}\nexec: [sleep, \"1000\"]\n",
        )],
    );
    let st = sup.wait_for("app", |s| s["state"] == "failed", WAIT);
    assert_eq!(st["reason"], "unhealthy", "{st}");
    let msg = st["message"].as_str().unwrap();
    assert!(msg.contains("exec sleep 5: timed out after 200ms"), "{msg}");
}

#[test]
fn tcp_health_check_follows_the_server() {
    let p = port();
    let sup = Sup::start(
        "htcp",
        &[
            (
                "server",
                &format!("exec: [python3, -c, \"import socket,time\\ns=socket.socket()\\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('127.0.0.1', {p}))\\ns.listen()\\ntime.sleep(1000)\\n\"]\n"),
            ),
            (
                "client",
                &format!("on_unhealthy: ignore\nhealth:\n  - {{tcp: \"127.0.0.1:{p}\", interval: 200ms, retries: 2}}\nexec: [sleep, \"1000\"]\n"),
            ),
        ],
    );
    sup.wait_for("client", |s| s["health"] == "healthy", WAIT);
    assert_eq!(sup.supctl(&["stop", "server"]).0, 0);
    let st = sup.wait_for("client", |s| s["health"] == "unhealthy", WAIT);
    assert_eq!(st["state"], "running");
    assert_eq!(sup.supctl(&["health", "client"]).0, 1);
    assert_eq!(sup.supctl(&["start", "server"]).0, 0);
    sup.wait_for("client", |s| s["health"] == "healthy", WAIT);
}

#[test]
fn cpu_above_check_stops_a_busy_unit() {
    let sup = Sup::start(
        "hcpu",
        &[(
            "busy",
            "on_unhealthy: stop\nhealth:\n  - {cpu_above: \"20%\", interval: 500ms, retries: 1}\nexec: \"while :; do :; done\"\n",
        )],
    );
    let st = sup.wait_for("busy", |s| s["state"] == "stopped", WAIT);
    assert_eq!(st["reason"], "unhealthy", "{st}");
    assert!(
        st["message"].as_str().unwrap().contains("cpu_above 20%"),
        "{st}"
    );
}

#[test]
fn mainpid_moves_the_main_process() {
    let mut sup = Sup::prepare("mainpid");
    let flag = sup.p("LAUNCHER_MAY_EXIT");
    sup.write_unit(
        "d",
        &format!(
            "enabled: false\nready: notify\nrestart: {{policy: on-failure, delay: 10s}}\nexec: \"sleep 1000 & python3 -c \\\"import os,socket,sys\\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\\ns.connect(os.environ['NOTIFY_SOCKET'])\\ns.send(('MAINPID=%s\\\\nSTATUS=daemon %s\\\\nREADY=1' % (sys.argv[1], sys.argv[1])).encode())\\\" $!; while [ ! -e {flag} ]; do sleep 0.05; done; exit 0\"\n"
        ),
    );
    sup.launch();
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["start", "d"]).0, 0);
    let st = sup.wait_for(
        "d",
        |s| {
            s["status_text"]
                .as_str()
                .is_some_and(|t| t.starts_with("daemon "))
        },
        WAIT,
    );
    let daemon: u64 = st["status_text"].as_str().unwrap()[7..].parse().unwrap();
    let st = sup.wait_for("d", |s| s["pid"] == daemon, WAIT);
    assert_eq!(st["state"], "running");
    let is_spawn = |e: &Value| e["unit"] == "d" && e["kind"] == "spawn";
    let evs = events.wait_until(|e| e.iter().any(is_spawn), WAIT);
    let launcher = evs.iter().find(|e| is_spawn(e)).unwrap()["pid"].clone();
    std::fs::write(&flag, "").unwrap();
    // The launcher's exit does not end the run (sup reaps it; the engine ignores it).
    wait_until(|| !process_alive(launcher.as_i64().unwrap() as i32), WAIT);
    let st = sup.status("d");
    assert_eq!(
        (st["state"].as_str(), st["pid"].as_u64()),
        (Some("running"), Some(daemon))
    );
    // The daemon's death does.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let st = sup.wait_for("d", |s| s["state"] == "backoff", WAIT);
    assert_eq!(st["reason"], "signal", "{st}");
    assert_eq!(st["exit"]["signal"], "SIGKILL");
}
