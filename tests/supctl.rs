//! supctl against a scripted fake server: the requests it sends, how it prints replies and
//! streams, and how reply codes map to exit codes. Needs no engine.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use serde_json::{json, Value};

use common::{supctl_at, unique_dir, Output};

/// A fake sup: for each connection in turn reads one request, writes the given lines,
/// closes.
struct Fake {
    dir: PathBuf,
    socket: PathBuf,
    server: Option<JoinHandle<Vec<Value>>>,
}

impl Fake {
    /// One connection.
    fn new(lines: Vec<Value>) -> Fake {
        Fake::connections(vec![lines])
    }

    fn connections(replies: Vec<Vec<Value>>) -> Fake {
        let dir = unique_dir("fake");
        let socket = dir.join("s.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let mut reqs = Vec::new();
            for lines in replies {
                let (conn, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut req = String::new();
                reader.read_line(&mut req).unwrap();
                let mut w = conn;
                for l in lines {
                    let _ = writeln!(w, "{l}");
                }
                reqs.push(serde_json::from_str(&req).unwrap());
            }
            reqs
        });
        Fake {
            dir,
            socket,
            server: Some(server),
        }
    }

    /// Runs supctl against the fake; returns its output and the request it sent.
    fn run(self, args: &[&str]) -> (Output, Value) {
        let (out, mut reqs) = self.run_all(args);
        (out, reqs.remove(0))
    }

    /// Runs supctl against the fake; returns its output and the requests of every
    /// connection.
    fn run_all(mut self, args: &[&str]) -> (Output, Vec<Value>) {
        let out = supctl_at(&self.socket, args);
        let reqs = self.server.take().unwrap().join().unwrap();
        (out, reqs)
    }
}

/// The request of the status table: only its columns (`resources`: with the counters).
fn table_request(resources: bool) -> Value {
    let mut fields = vec![
        "name",
        "state",
        "reason",
        "message",
        "pid",
        "restarts",
        "health",
        "since",
        "status_text",
        "log_error",
        "exit",
        "transient",
    ];
    if resources {
        fields.extend(["memory_bytes", "cpu_usec", "pids"]);
    }
    json!({"v": 1, "cmd": "status", "fields": fields})
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unit(name: &str, state: &str) -> Value {
    json!({
        "name": name, "description": null, "state": state, "reason": null, "message": null,
        "pid": null, "restarts": 0, "ready": false, "health": "unknown", "exit": null,
        "since": "2024-05-01T10:00:00.123456Z", "cgroup": null, "memory_bytes": null,
        "cpu_usec": null, "pids": null, "oom_kills": null
    })
}

fn error(code: &str) -> Value {
    json!({"v": 1, "ok": false, "error": {"code": code, "message": format!("it is {code}")}})
}

#[test]
fn status_table_and_json() {
    let mut web = unit("web", "running");
    web["pid"] = json!(4242);
    web["restarts"] = json!(2);
    web["memory_bytes"] = json!(12_900_000);
    web["cpu_usec"] = json!(1_250_000);
    web["pids"] = json!(3);
    web["health"] = json!("healthy");
    web["extra_field"] = json!("kept");
    let mut bad = unit("broken", "invalid");
    bad["message"] = json!("/etc/sup.d/broken.yaml:2:1: unknown key `bogus`");
    let reply = json!({"v": 1, "ok": true, "units": [web, bad]});

    // All units: no resource columns (sup is not asked for the counters).
    let ((code, out, _), req) = Fake::new(vec![reply.clone()]).run(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(req, table_request(false));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "UNIT    STATE    REASON  PID   RESTARTS  HEALTH   SINCE",
        "{out}"
    );
    assert_eq!(
        lines[1], "web     running  -       4242  2         healthy  2024-05-01T10:00:00Z",
        "{out}"
    );
    assert!(lines[2].starts_with("broken"), "{out}");
    assert!(
        lines[3].starts_with("    /etc/sup.d/broken.yaml:2:1:"),
        "{out}"
    );
    // With -r, or with units named: MEMORY, CPU and PIDS too.
    for args in [
        &["status", "-r"][..],
        &["status", "--resources"],
        &["status", "web"],
    ] {
        let ((code, out, _), req) = Fake::new(vec![reply.clone()]).run(args);
        // Named units of which one (the fake answers with both) is invalid: exit 1.
        assert_eq!(code, if args[1] == "web" { 1 } else { 0 });
        let mut want = table_request(true);
        if args[1] == "web" {
            want["units"] = json!(["web"]);
        }
        assert_eq!(req, want);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "UNIT    STATE    REASON  PID   RESTARTS  HEALTH   MEMORY  CPU    PIDS  SINCE",
            "{out}"
        );
        assert_eq!(
            lines[1],
            "web     running  -       4242  2         healthy  12.3M   1.25s  3     \
             2024-05-01T10:00:00Z",
            "{out}"
        );
    }

    // A sup that does not know `fields` rejects the table's request: asked again without.
    let ((code, out, err), reqs) =
        Fake::connections(vec![vec![error("bad-request")], vec![reply.clone()]])
            .run_all(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        reqs,
        [table_request(false), json!({"v": 1, "cmd": "status"})]
    );
    assert!(out.lines().nth(1).unwrap().contains("4242"), "{out}");
    // ... and a bad request that stays bad is reported once.
    let ((code, _, err), reqs) =
        Fake::connections(vec![vec![error("bad-request")], vec![error("bad-request")]])
            .run_all(&["status"]);
    assert_eq!(code, 2);
    assert_eq!(reqs.len(), 2);
    assert_eq!(err.trim(), "supctl: it is bad-request");

    let ((code, out, _), req) = Fake::new(vec![reply.clone()]).run(&["--json", "status", "web"]);
    // The fake answers with the invalid unit too: exit 1.
    assert_eq!(code, 1);
    assert_eq!(req, json!({"v": 1, "cmd": "status", "units": ["web"]}));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc, json!({"units": reply["units"]}));
}

#[test]
fn status_errors_slices_and_escapes() {
    // Error replies to status: exit code by error code, the raw reply with --json.
    let ((code, out, err), _) = Fake::new(vec![error("no-such-unit")]).run(&["status", "x"]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert_eq!(err.trim(), "supctl: it is no-such-unit");
    let ((code, out, _), _) = Fake::new(vec![error("no-such-unit")]).run(&["--json", "status"]);
    assert_eq!(code, 3);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc, error("no-such-unit"));

    // Escaped strings, a status text, a failed unit's message lines, slices below the units.
    let mut web = unit("we\"b", "failed");
    web["reason"] = json!("exit-code");
    web["message"] = json!("line one\nline \"two\"");
    web["status_text"] = json!("serving \u{e9}t\u{e9}");
    let slice = json!({"name": "batch", "description": null, "parent": null,
        "cgroup": "/sys/fs/cgroup/sup/batch", "max_units": 4, "units": 1,
        "memory_bytes": 2048, "cpu_usec": 10, "pids": 1, "message": null});
    let reply = json!({"v": 1, "ok": true, "units": [web, unit("db", "running")],
        "slices": [slice]});
    let ((code, out, _), _) = Fake::new(vec![reply.clone()]).run(&["status"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "UNIT  STATE    REASON     PID  RESTARTS  HEALTH   SINCE",
            "we\"b  failed   exit-code  -    0         unknown  2024-05-01T10:00:00Z",
            "    status: serving \u{e9}t\u{e9}",
            "    line one",
            "    line \"two\"",
        ],
        "{out}"
    );
    assert!(lines[5].starts_with("db    running  -"), "{out}");
    assert_eq!(lines[6], "");
    assert!(lines[7].starts_with("SLICE  UNITS  MAX"), "{out}");
    assert!(lines[8].starts_with("batch  1      4    2.0K"), "{out}");

    let ((code, out, _), _) = Fake::new(vec![reply.clone()]).run(&["--json", "status"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        json!({"units": reply["units"], "slices": reply["slices"]})
    );
}

#[test]
fn error_codes_map_to_exit_codes() {
    for (code, exit) in [
        ("bad-request", 2),
        ("no-such-unit", 3),
        ("permission-denied", 1),
        ("failed", 1),
    ] {
        let ((got, _, err), _) = Fake::new(vec![error(code)]).run(&["stop", "x"]);
        assert_eq!(got, exit, "{code}: {err}");
        assert_eq!(err.trim(), format!("supctl: it is {code}"));
    }
}

#[test]
fn operations() {
    let results = json!({"v": 1, "ok": true, "results": [
        {"unit": "a", "ok": true, "state": "running", "message": null},
        {"unit": "b", "ok": false, "state": "failed", "message": "exited with code 1"}
    ]});
    let ((code, _, err), req) = Fake::new(vec![results]).run(&["start", "--no-block", "a", "b"]);
    assert_eq!(code, 1);
    assert!(err.contains("b: failed: exited with code 1"), "{err}");
    assert_eq!(
        req,
        json!({"v": 1, "cmd": "start", "units": ["a", "b"], "no_block": true})
    );

    let ok = json!({"v": 1, "ok": true, "results": [
        {"unit": "a", "ok": true, "state": "stopped"}
    ]});
    let ((code, _, _), req) = Fake::new(vec![ok.clone()]).run(&["restart", "a"]);
    assert_eq!(code, 0);
    assert_eq!(req, json!({"v": 1, "cmd": "restart", "units": ["a"]}));
    let ((code, _, _), req) = Fake::new(vec![ok.clone()]).run(&["kill", "-s", "HUP", "a"]);
    assert_eq!(code, 0);
    assert_eq!(
        req,
        json!({"v": 1, "cmd": "kill", "units": ["a"], "signal": "HUP"})
    );
    let ((_, _, _), req) = Fake::new(vec![ok.clone()]).run(&["kill", "a"]);
    assert_eq!(req, json!({"v": 1, "cmd": "kill", "units": ["a"]}));
    for cmd in ["pause", "resume"] {
        let (_, req) = Fake::new(vec![ok.clone()]).run(&[cmd, "a"]);
        assert_eq!(req, json!({"v": 1, "cmd": cmd, "units": ["a"]}));
    }
    for cmd in [
        "reload", "metrics", "shutdown", "poweroff", "reboot", "halt",
    ] {
        let ((code, _, _), req) = Fake::new(vec![error("bad-request")]).run(&[cmd]);
        assert_eq!(code, 2);
        assert_eq!(req, json!({"v": 1, "cmd": cmd}));
    }
}

#[test]
fn health() {
    let ((code, _, _), req) =
        Fake::new(vec![json!({"v": 1, "ok": true, "healthy": true})]).run(&["health", "a"]);
    assert_eq!(code, 0);
    assert_eq!(req, json!({"v": 1, "cmd": "health", "units": ["a"]}));
    let ((code, _, _), _) =
        Fake::new(vec![json!({"v": 1, "ok": true, "healthy": false})]).run(&["health", "a"]);
    assert_eq!(code, 1);
}

#[test]
fn logs_and_follow() {
    let reply = json!({"v": 1, "ok": true, "lines": ["one", "two"]});
    let ((code, out, _), req) = Fake::new(vec![reply.clone()]).run(&["logs", "-n", "2", "a"]);
    assert_eq!(code, 0);
    assert_eq!(out, "one\ntwo\n");
    assert_eq!(
        req,
        json!({"v": 1, "cmd": "logs", "units": ["a"], "lines": 2})
    );

    let stream = vec![reply, json!({"line": "three"})];
    let ((code, out, _), req) = Fake::new(stream).run(&["--json", "logs", "-f", "a"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\"line\":\"one\"}\n{\"line\":\"two\"}\n{\"line\":\"three\"}\n"
    );
    assert_eq!(
        req,
        json!({"v": 1, "cmd": "logs", "units": ["a"], "lines": 50, "follow": true})
    );

    let dropped = vec![
        json!({"v": 1, "ok": true, "lines": []}),
        json!({"dropped": "too slow"}),
    ];
    let ((code, _, err), _) = Fake::new(dropped).run(&["logs", "-f", "a"]);
    assert_eq!(code, 1);
    assert!(err.contains("too slow"), "{err}");
}

#[test]
fn events_stream() {
    let event = json!({"time": "2024-05-01T10:00:00.5Z", "unit": "web", "kind": "state",
        "state": "backoff", "from": "running", "reason": "exit-code", "exit": {"code": 3}});
    let stream = vec![json!({"v": 1, "ok": true}), json!({ "event": event })];
    let ((code, out, _), req) = Fake::new(stream.clone()).run(&["events"]);
    assert_eq!(code, 0);
    assert_eq!(req, json!({"v": 1, "cmd": "events"}));
    assert_eq!(
        out.trim(),
        "2024-05-01T10:00:00.5Z web state running → backoff reason=exit-code exit=3"
    );
    let ((code, out, _), _) = Fake::new(stream).run(&["--json", "events"]);
    assert_eq!(code, 0);
    let printed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed, event);
}

#[test]
fn bad_replies() {
    // Closed before a reply → cannot reach sup.
    let ((code, _, _), _) = Fake::new(vec![]).run(&["status"]);
    assert_eq!(code, 4);
    // A reply that is not the protocol → the operation failed.
    let ((code, _, err), _) = Fake::new(vec![json!({"hello": 1})]).run(&["status"]);
    assert_eq!(code, 1, "{err}");
    let ((code, _, err), _) = Fake::new(vec![json!({"v": 2, "ok": true})]).run(&["status"]);
    assert_eq!(code, 1, "{err}");
}

// --- against a real sup ------------------------------------------------------------------

/// `cat`: a unit file's effective configuration, defaults filled in, as a unit file that
/// loads to the same configuration; a transient unit's too; errors for a unit that does not
/// exist (3) or whose file is invalid (1).
#[test]
fn cat_prints_the_effective_configuration() {
    let sup = common::Sup::start(
        "cat",
        &[
            (
                "web",
                "exec: sleep 600\nrestart: always\nresources: {memory_max: 64M}\nenv: {PORT: '8080'}\n",
            ),
            ("broken", "exec: [true]\nbogus: 1\n"),
        ],
    );
    let (code, out, err) = sup.supctl(&["cat", "web"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with('#') && head.contains("web.yaml"), "{out}");
    // The keys in the order of the reference, not sorted.
    assert_eq!(lines.next(), Some("exec:"), "{out}");
    assert_eq!(
        out.lines().find(|l| !l.starts_with(['#', ' ', '-'])),
        Some("exec:")
    );
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(['#', ' ', '-']))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(&keys[..4], ["exec", "type", "enabled", "env"], "{out}");
    for want in [
        "- /bin/sh",
        "- sleep 600",
        "  policy: always",
        "  max_delay: 30s",
        "  signal: SIGTERM",
        "  timeout: 10s",
        "start_timeout: 90s",
        "  memory_max: 64M",
        "  PORT: '8080'",
        "enabled: true",
    ] {
        assert!(out.lines().any(|l| l == want), "no {want:?} in\n{out}");
    }
    // Written as a unit file of its own it loads, and reads back the same.
    sup.write_unit("copy", &out);
    // (exit 1: `broken` is still invalid)
    let (_, report, err) = sup.supctl(&["reload"]);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("added") && l.ends_with(" copy")),
        "{report}\n{err}"
    );
    let (code, copy, err) = sup.supctl(&["cat", "copy"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        copy.lines().skip(1).collect::<Vec<_>>(),
        out.lines().skip(1).collect::<Vec<_>>()
    );

    // A transient unit has no file: sup answers from its definition.
    let (code, _, err) = sup.supctl(&[
        "run",
        "--name",
        "adhoc",
        "-p",
        "env.A=1",
        "-p",
        "stop.timeout=3s",
        "--",
        "sleep",
        "600",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = sup.supctl(&["--json", "cat", "adhoc"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["unit"], "adhoc");
    assert_eq!(doc["source"], "transient");
    assert_eq!(doc["config"]["exec"], json!(["sleep", "600"]));
    assert_eq!(doc["config"]["env"]["A"], "1");
    assert_eq!(doc["config"]["stop"]["timeout"], "3s");
    // (transient units do not restart unless asked)
    assert_eq!(doc["config"]["restart"]["policy"], "never");
    let (_, out, _) = sup.supctl(&["cat", "adhoc"]);
    assert!(out.starts_with("# adhoc: transient unit"), "{out}");

    let (code, _, err) = sup.supctl(&["cat", "nope"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no such unit: nope"), "{err}");
    let (code, _, err) = sup.supctl(&["cat", "broken"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("broken.yaml:2:1"), "{err}");
}

/// `status UNIT...`: 0 when the named units are well, 1 when one is failed or invalid,
/// 3 when one does not exist; the listing of all units exits 0 whatever their states.
#[test]
fn status_exit_codes() {
    let sup = common::Sup::start(
        "status-codes",
        &[
            ("up", "exec: sleep 600\n"),
            ("down", "exec: 'exit 3'\ntype: oneshot\n"),
            ("broken", "exec: [true]\nbogus: 1\n"),
        ],
    );
    sup.wait_state("up", "running");
    sup.wait_state("down", "failed");
    for (args, want) in [
        (&["status", "up"][..], 0),
        (&["status", "down"], 1),
        (&["status", "up", "down"], 1),
        (&["status", "broken"], 1),
        (&["status", "nope"], 3),
        (&["status", "up", "nope"], 3),
        (&["status"], 0),
        (&["--json", "status", "up"], 0),
        (&["--json", "status", "down"], 1),
        (&["--json", "status", "nope"], 3),
        (&["--json", "status"], 0),
    ] {
        let (code, out, err) = sup.supctl(args);
        assert_eq!(code, want, "supctl {args:?}\n{out}\n{err}");
    }
    let (_, _, err) = sup.supctl(&["status", "nope"]);
    assert!(err.contains("no such unit: nope"), "{err}");
}

/// `logs A B`: the lines of both merged by their timestamps, each naming its unit, a line
/// without a timestamp kept after the line before it; `-n` counts merged lines; `-f`
/// follows both.
#[test]
fn logs_of_several_units_merge_by_time() {
    let mut sup = common::Sup::prepare("logs-merge");
    // Log files with lines already in them: sup appends to them.
    let a = sup.path("a.log");
    let b = sup.path("b.log");
    std::fs::write(
        &a,
        "2026-01-01T10:00:01.000000Z a one\n2026-01-01T10:00:03.000000Z a three\nno time, after a three\n2026-01-01T10:00:05.000000Z a five\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "2026-01-01T10:00:02.000000Z b two\n2026-01-01T10:00:04.000000Z b four\n",
    )
    .unwrap();
    let unit = |log: &std::path::Path, marker: &str| {
        format!(
            "exec: [sh, -c, 'while [ ! -e {m} ]; do sleep 0.02; done; echo {name}-live; exec sleep 600']\nlog: {{file: {}}}\n",
            log.display(),
            m = sup.p(marker),
            name = marker,
        )
    };
    sup.write_unit("a", &unit(&a, "a-go"));
    sup.write_unit("b", &unit(&b, "b-go"));
    sup.launch();

    let (code, out, err) = sup.supctl(&["logs", "a", "b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "2026-01-01T10:00:01.000000Z a: a one",
            "2026-01-01T10:00:02.000000Z b: b two",
            "2026-01-01T10:00:03.000000Z a: a three",
            "a: no time, after a three",
            "2026-01-01T10:00:04.000000Z b: b four",
            "2026-01-01T10:00:05.000000Z a: a five",
        ]
    );
    // The last 3 lines of each, merged, the last 3 of that.
    let (code, out, _) = sup.supctl(&["logs", "-n", "3", "b", "a"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "a: no time, after a three",
            "2026-01-01T10:00:04.000000Z b: b four",
            "2026-01-01T10:00:05.000000Z a: a five",
        ]
    );
    let (code, out, _) = sup.supctl(&["--json", "logs", "-n", "1", "a", "b"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["unit"], "a");
    assert_eq!(doc["line"], "2026-01-01T10:00:05.000000Z a five");
    let (code, _, err) = sup.supctl(&["logs", "a", "nope"]);
    assert_eq!(code, 3, "{err}");

    // Following both: the new lines of each, as they are written.
    let mut follow = std::process::Command::new(common::SUPCTL)
        .arg("--socket")
        .arg(&sup.socket)
        .args(["logs", "-f", "-n", "1", "a", "b"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    // The last line of the merge comes once both units are followed: from then on every
    // new line is streamed.
    for (marker, want) in [
        (None, " a: a five"),
        (Some("b-go"), " b: b-go-live"),
        (Some("a-go"), " a: a-go-live"),
    ] {
        if let Some(marker) = marker {
            std::fs::write(sup.path(marker), "").unwrap();
        }
        let deadline = std::time::Instant::now() + common::WAIT;
        while !seen.iter().any(|l: &String| l.ends_with(want)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no line ending {want:?} within {:?}: {seen:?}",
                    common::WAIT
                ),
            }
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        seen.iter()
            .all(|l| !l.contains(" one") && !l.contains(" four")),
        "-n 1 printed older lines: {seen:?}"
    );
}
