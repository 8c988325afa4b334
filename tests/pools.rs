//! Integration tests of pools (`instances`, `scale`) against the real `sup` and `supctl`:
//! instances with their numbers, logs and cgroups; dependencies on a pool (`min_ready`);
//! `supctl scale`; `restart --rolling` of HTTP servers behind one shared socket under
//! load (no failed request); a roll that stops at a failing replacement; reload of a
//! pool; autoscaling on real CPU load. Every wait is bounded and based on status,
//! events, files or answers.

#[macro_use]
mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use common::*;

/// A server on the socket passed as fd 3 that answers each connection with
/// `INSTANCE PID` once it has read a line. SIGTERM is taken only while it waits for a
/// connection (never between accepting one and answering it), so a stop never cuts a
/// request it accepted; what it has not accepted waits in the shared socket's backlog.
const SERVER: &str = r#"
import os, select, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(fileno=3)
s.setblocking(False)
me = os.environ["INSTANCE"]
while True:
    select.select([s], [], [])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        c, _ = s.accept()
    except BlockingIOError:
        c = None
    if c is not None:
        c.setblocking(True)
        c.settimeout(10)
        c.makefile("rb").readline()
        c.sendall(b"%s %d\n" % (me.encode(), os.getpid()))
        c.close()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
"#;

/// `promtool check metrics` accepts the text (skipped, said, without promtool).
fn promtool_accepts(text: &str) {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped the promtool check: promtool is not installed");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn names(status: &Value) -> Vec<String> {
    status["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

fn pid(sup: &Sup, unit: &str) -> u64 {
    sup.status(unit)["pid"].as_u64().expect("a pid")
}

/// A pool of `n` servers on one port (and the port).
fn server_pool(sup: &Sup, n: u32, extra: &str) -> u16 {
    let server = sup.path("server.py");
    std::fs::write(&server, SERVER).unwrap();
    let port = free_port();
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {}]\ninstances: {n}\nenv: {{INSTANCE: \"{{{{instance}}}}\"}}\nsockets: [\"tcp:127.0.0.1:{port}\"]\n{extra}",
            server.display()
        ),
    );
    port
}

#[test]
fn instances_have_their_number_their_log_and_their_group() {
    let mut sup = Sup::prepare("pool-basic");
    sup.write_unit(
        "work",
        &format!(
            "exec: [sh, -c, 'echo \"instance $N args $0\" > {dir}/out-$N; echo hello from $N; exec sleep 1000', \"arg{{{{instance}}}}\"]\ninstances: 3\nenv: {{N: \"{{{{instance}}}}\"}}\nresources: {{memory_max: 64M}}\nresources_total: {{memory_max: 150M}}\n",
            dir = sup.dir.display()
        ),
    );
    sup.launch();
    for n in 1..=3 {
        sup.wait_state(&format!("work@{n}"), "running");
        let path = sup.path(&format!("out-{n}"));
        assert!(wait_until(|| path.exists(), WAIT), "work@{n} wrote nothing");
        assert!(
            wait_until(
                || std::fs::read_to_string(&path).unwrap_or_default()
                    == format!("instance {n} args arg{n}\n"),
                WAIT
            ),
            "work@{n}: {:?}",
            std::fs::read_to_string(&path)
        );
    }
    // The pool's line comes first and sums its instances; each instance has its own.
    let all = sup.status_all();
    assert_eq!(names(&all), ["work", "work@1", "work@2", "work@3"]);
    let pool = &all["units"][0];
    assert_eq!(pool["state"], "running");
    assert_eq!(pool["ready"], true);
    assert_eq!(pool["pid"], Value::Null);
    assert_eq!(
        pool["instances"],
        serde_json::json!(["work@1", "work@2", "work@3"])
    );
    assert!(
        pool["message"]
            .as_str()
            .unwrap()
            .starts_with("3 of 3 ready, target 3"),
        "{pool}"
    );
    // `status NAME` is the pool's line and its instances.
    let (code, out, err) = sup.supctl(&["--json", "status", "work"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(names(&doc), ["work", "work@1", "work@2", "work@3"]);
    // Logs per instance; a pool is not one unit for logs.
    let logs = sup.wait_for(
        "work@2",
        |_| {
            let (_, out, _) = sup.supctl(&["logs", "work@2"]);
            out.contains("hello from 2")
        },
        WAIT,
    );
    drop(logs);
    let (code, _, err) = sup.supctl(&["logs", "work"]);
    assert_eq!(code, 2, "logs of a pool: {err}");
    assert!(
        err.contains("work is a pool: name one of its instances (work@1, work@2, work@3)"),
        "{err}"
    );
    if is_root() {
        // Each instance in its own group below the pool's, which bounds them together.
        let one = sup.status("work@1");
        let cg = one["cgroup"].as_str().expect("a cgroup as root");
        assert!(cg.ends_with("/work/work@1"), "{cg}");
        let pids: Vec<u64> = (1..=3).map(|n| pid(&sup, &format!("work@{n}"))).collect();
        for (n, p) in pids.iter().enumerate() {
            let own = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
            assert!(
                own.contains(&format!("/work/work@{}\n", n + 1)),
                "work@{}: {own}",
                n + 1
            );
        }
        let mem = std::fs::read_to_string(format!("/proc/{}/cgroup", pids[0])).unwrap();
        if let Some(line) = mem.lines().find(|l| l.contains(":memory:")) {
            // cgroup v1: the limits are in the memory hierarchy.
            let rel = line.splitn(3, ':').nth(2).unwrap();
            let dir = format!("/sys/fs/cgroup/memory{rel}");
            let own = std::fs::read_to_string(format!("{dir}/memory.limit_in_bytes")).unwrap();
            let total = std::fs::read_to_string(format!("{dir}/../memory.limit_in_bytes")).unwrap();
            assert_eq!(own.trim(), (64u64 << 20).to_string());
            assert_eq!(total.trim(), (150u64 << 20).to_string());
        } else if let Some(line) = mem.lines().find(|l| l.starts_with("0::")) {
            let dir = format!("/sys/fs/cgroup{}", &line[3..]);
            let own = std::fs::read_to_string(format!("{dir}/memory.max")).unwrap();
            let total = std::fs::read_to_string(format!("{dir}/../memory.max")).unwrap();
            assert_eq!(own.trim(), (64u64 << 20).to_string());
            assert_eq!(total.trim(), (150u64 << 20).to_string());
        }
    }
    // Stopping the pool stops every instance.
    let (code, _, err) = sup.supctl(&["stop", "work"]);
    assert_eq!(code, 0, "{err}");
    for n in 1..=3 {
        assert_eq!(sup.status(&format!("work@{n}"))["state"], "stopped");
    }
    assert_eq!(sup.status("work")["state"], "stopped");
}

/// An instance that is ready once its gate file exists (its own wait, not the test's).
fn gated(sup: &Sup, extra: &str) -> String {
    format!(
        "exec: [sh, -c, 'while [ ! -e {dir}/gate-$N ]; do sleep 0.05; done; echo ready; exec sleep 1000']\ninstances: 3\nenv: {{N: \"{{{{instance}}}}\"}}\nready: {{log: \"^ready$\"}}\n{extra}",
        dir = sup.dir.display()
    )
}

#[test]
fn a_unit_after_a_pool_waits_for_min_ready_instances() {
    let mut sup = Sup::prepare("pool-minready");
    sup.write_unit("web", &gated(&sup, "min_ready: 2\n"));
    sup.write_unit("client", "exec: [sleep, '1000']\nrequires: [web]\n");
    sup.launch();
    sup.wait_state("web@1", "starting");
    std::fs::write(sup.path("gate-1"), "").unwrap();
    sup.wait_state("web@1", "running");
    // One of three ready: the client still waits (sup decides on each state change).
    assert_eq!(sup.status("client")["state"], "waiting");
    std::fs::write(sup.path("gate-3"), "").unwrap();
    sup.wait_state("client", "running");
    assert_eq!(sup.status("web@2")["state"], "starting");
    // Stopping one instance leaves the client running (two are still up) …
    assert_eq!(sup.supctl(&["stop", "web@1"]).0, 0);
    assert_eq!(sup.status("client")["state"], "running");
    // … stopping the pool stops the client first.
    let mut events = sup.events();
    assert_eq!(sup.supctl(&["stop", "web"]).0, 0);
    let client = sup.wait_state("client", "stopped");
    assert_eq!(client["reason"], "dependency");
    let seen = events.wait_until(
        |ev| {
            state_events(ev, "web@3")
                .iter()
                .any(|e| e["state"] == "stopped")
        },
        WAIT,
    );
    let at = |unit: &str, state: &str| {
        seen.iter()
            .position(|e| e["unit"] == unit && e["kind"] == "state" && e["state"] == state)
    };
    assert!(
        at("client", "stopped").unwrap() < at("web@3", "stopping").unwrap(),
        "the client stops before the pool: {seen:?}"
    );
}

#[test]
fn a_unit_after_a_pool_waits_for_all_by_default() {
    let mut sup = Sup::prepare("pool-all");
    sup.write_unit("web", &gated(&sup, ""));
    sup.write_unit(
        "client",
        "exec: [sleep, '1000']\nafter: [web]\nwants: [web]\n",
    );
    sup.launch();
    std::fs::write(sup.path("gate-1"), "").unwrap();
    std::fs::write(sup.path("gate-2"), "").unwrap();
    sup.wait_state("web@2", "running");
    sup.wait_state("web@1", "running");
    assert_eq!(sup.status("client")["state"], "waiting");
    std::fs::write(sup.path("gate-3"), "").unwrap();
    sup.wait_state("client", "running");
}

#[test]
fn scale_adds_and_removes_instances_and_pins_the_count() {
    let mut sup = Sup::prepare("pool-scale");
    sup.write_unit("w", "exec: [sleep, '1000']\ninstances: 2\n");
    sup.launch();
    sup.wait_state("w@2", "running");
    let mut events = sup.events();
    let (code, out, err) = sup.supctl(&["scale", "w", "4"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "w: 2 -> 4 instances (pinned)");
    // It answered once they run.
    for n in 3..=4 {
        assert_eq!(sup.status(&format!("w@{n}"))["state"], "running");
    }
    events.wait_until(
        |ev| ev.iter().any(|e| e["unit"] == "w" && e["kind"] == "scale"),
        WAIT,
    );
    // The pool's metrics, accepted by promtool where it is installed.
    let (code, text, err) = sup.supctl(&["metrics"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "sup_pool_instances{unit=\"w\"} 4",
        "sup_pool_target_instances{unit=\"w\"} 4",
        "sup_pool_ready_instances{unit=\"w\"} 4",
        "sup_unit_ready{unit=\"w@4\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    promtool_accepts(&text);
    let pids: Vec<u64> = (1..=2).map(|n| pid(&sup, &format!("w@{n}"))).collect();
    let (code, out, err) = sup.supctl(&["--json", "scale", "w", "1"]);
    assert_eq!(code, 0, "{err}");
    let reply: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        reply["scale"],
        serde_json::json!({"unit": "w", "from": 4, "to": 1, "pinned": true})
    );
    // The highest-numbered went; the first runs on, untouched.
    assert_eq!(names(&sup.status_all()), ["w", "w@1"]);
    assert_eq!(pid(&sup, "w@1"), pids[0]);
    let line = sup.status("w");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("target 1 (pinned by supctl scale)"),
        "{line}"
    );
    // A reload keeps a pinned count.
    let (code, _, err) = sup.supctl(&["reload"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&sup.status_all()), ["w", "w@1"]);
    // Bad counts and units that are not pools.
    let (code, _, err) = sup.supctl(&["scale", "w", "lots"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a number of instances"), "{err}");
    let (code, _, err) = sup.supctl(&["scale", "w", "auto"]);
    assert_eq!(code, 2);
    assert!(err.contains("w has no scale key"), "{err}");
    let (code, _, _) = sup.supctl(&["scale", "nothing", "2"]);
    assert_eq!(code, 3);
    // Scaled to nothing: every instance stops, the pool's line stays.
    let (code, _, err) = sup.supctl(&["scale", "w", "0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&sup.status_all()), ["w"]);
    let (code, _, err) = sup.supctl(&["scale", "w", "2"]);
    assert_eq!(code, 0, "{err}");
    sup.wait_state("w@2", "running");
}

#[test]
fn a_reload_adds_and_removes_instances_and_an_invalid_edit_keeps_them() {
    let mut sup = Sup::prepare("pool-reload");
    sup.write_unit("w", "exec: [sleep, '1000']\ninstances: 3\n");
    sup.launch();
    sup.wait_state("w@3", "running");
    let one = pid(&sup, "w@1");
    sup.write_unit("w", "exec: [sleep, '1000']\ninstances: 2\n");
    let (code, out, err) = sup.supctl(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        wait_until(|| names(&sup.status_all()) == ["w", "w@1", "w@2"], WAIT),
        "{:?}",
        names(&sup.status_all())
    );
    assert_eq!(
        pid(&sup, "w@1"),
        one,
        "an unchanged instance is not touched"
    );
    sup.write_unit("w", "exec: [sleep, '1000']\ninstances: 2\nbogus: 1\n");
    let (code, _, _) = sup.supctl(&["reload"]);
    assert_eq!(code, 1);
    let s = sup.status("w@1");
    assert_eq!(s["state"], "running");
    assert_eq!(s["pid"].as_u64(), Some(one));
    assert!(s["message"].as_str().unwrap().contains("bogus"), "{s}");
}

#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let mut sup = Sup::prepare("pool-roll");
    let port = server_pool(&sup, 3, "");
    sup.launch();
    for n in 1..=3 {
        sup.wait_state(&format!("web@{n}"), "running");
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    ask_tcp(addr).expect("a first answer");
    let before: Vec<u64> = (1..=3).map(|n| pid(&sup, &format!("web@{n}"))).collect();
    let mut events = sup.events();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match ask_tcp(addr) {
                        Ok(_) => ok += 1,
                        Err(e) => failed.push(e),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (code, out, err) = sup.supctl(&["restart", "--rolling", "web"]);
    // Scaling up and down under the same load: no request fails either.
    let (up, _, up_err) = sup.supctl(&["scale", "web", "5"]);
    let (down, _, down_err) = sup.supctl(&["scale", "web", "3"]);
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for c in clients {
        let (ok, failed) = c.join().unwrap();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        answered += ok;
    }
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(up, 0, "scale 5: {up_err}");
    assert_eq!(down, 0, "scale 3: {down_err}");
    assert!(answered > 0);
    eprintln!("{answered} requests answered during the rolling restart and scaling 3 -> 5 -> 3, none failed");
    // Every instance is new …
    for n in 1..=3 {
        let now = pid(&sup, &format!("web@{n}"));
        assert_ne!(now, before[n as usize - 1], "web@{n} was not restarted");
    }
    // … one at a time: each stopped only once the one before ran again.
    let seen = events.wait_until(
        |ev| {
            state_events(ev, "web@3")
                .iter()
                .any(|e| e["state"] == "running")
        },
        WAIT,
    );
    let at = |unit: &str, state: &str| {
        seen.iter()
            .position(|e| e["unit"] == unit && e["kind"] == "state" && e["state"] == state)
            .unwrap_or_else(|| panic!("no {unit} {state} in {seen:?}"))
    };
    assert!(at("web@2", "stopping") > at("web@1", "running"), "{seen:?}");
    assert!(at("web@3", "stopping") > at("web@2", "running"), "{seen:?}");
    // Scaling up under the same socket: the new instance gets that very socket.
    let (code, _, err) = sup.supctl(&["scale", "web", "4"]);
    assert_eq!(code, 0, "{err}");
    let socket_of = |unit: &str| {
        std::fs::read_link(format!("/proc/{}/fd/3", pid(&sup, unit)))
            .unwrap()
            .display()
            .to_string()
    };
    let first = socket_of("web@1");
    assert!(first.starts_with("socket:["), "{first}");
    assert_eq!(socket_of("web@4"), first);
    ask_tcp(addr).expect("an answer with four instances");
}

#[test]
fn a_rolling_restart_stops_at_a_replacement_that_fails() {
    let mut sup = Sup::prepare("pool-roll-fail");
    sup.write_unit(
        "w",
        &format!(
            "exec: [sh, -c, 'if [ -e {dir}/broken-$N ]; then exit 3; fi; echo up; exec sleep 1000']\ninstances: 3\nenv: {{N: \"{{{{instance}}}}\"}}\nrestart: {{delay: 5s}}\nready: {{log: \"^up$\"}}\n",
            dir = sup.dir.display()
        ),
    );
    sup.launch();
    for n in 1..=3 {
        sup.wait_state(&format!("w@{n}"), "running");
    }
    let three = pid(&sup, "w@3");
    std::fs::write(sup.path("broken-2"), "").unwrap();
    let (code, _, err) = sup.supctl(&["restart", "--rolling", "w"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rolling restart stopped"), "{err}");
    assert!(err.contains("not restarted: w@3"), "{err}");
    assert_eq!(sup.status("w@1")["state"], "running");
    assert_eq!(pid(&sup, "w@3"), three, "w@3 was not touched");
}

#[test]
fn autoscaling_follows_real_cpu_load() {
    require_root!();
    let mut sup = Sup::prepare("pool-auto");
    // Each instance burns a core while the file exists, and idles otherwise.
    sup.write_unit(
        "burn",
        &format!(
            "exec: [sh, -c, 'while :; do if [ -e {dir}/load ]; then i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; else sleep 0.2; fi; done']\nscale: {{min: 1, max: 2, metric: cpu, up_above: \"40%\", down_below: \"10%\", window: 2s, cooldown: 1s}}\n",
            dir = sup.dir.display()
        ),
    );
    sup.launch();
    sup.wait_state("burn@1", "running");
    let mut events = sup.events();
    std::fs::write(sup.path("load"), "").unwrap();
    let seen = events.wait_until(
        |ev| {
            ev.iter().any(|e| {
                e["kind"] == "scale"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("1 -> 2"))
            })
        },
        Duration::from_secs(60),
    );
    let up = seen.iter().find(|e| e["kind"] == "scale").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(up.contains("above 0.40"), "{up}");
    sup.wait_state("burn@2", "running");
    let line = sup.status("burn");
    assert!(
        line["message"].as_str().unwrap().contains("autoscale"),
        "{line}"
    );
    std::fs::remove_file(sup.path("load")).unwrap();
    events.wait_until(
        |ev| {
            ev.iter().any(|e| {
                e["kind"] == "scale"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("2 -> 1"))
            })
        },
        Duration::from_secs(60),
    );
    assert!(
        wait_until(|| names(&sup.status_all()) == ["burn", "burn@1"], WAIT),
        "{:?}",
        names(&sup.status_all())
    );
    // Pinned: the autoscaler lets go; auto: it takes the count back.
    let (code, _, err) = sup.supctl(&["scale", "burn", "2"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = sup.supctl(&["scale", "burn", "auto"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "burn: 2 -> 2 instances (autoscale)");
}

#[test]
fn kill_and_pause_act_on_every_instance_of_a_pool() {
    let mut sup = Sup::prepare("pool-kill");
    sup.write_unit(
        "w",
        "exec: [sleep, '1000']\ninstances: 2\nrestart: {policy: always, delay: 100ms}\n",
    );
    sup.launch();
    sup.wait_state("w@2", "running");
    let before: Vec<u64> = (1..=2).map(|n| pid(&sup, &format!("w@{n}"))).collect();
    let (code, out, err) = sup.supctl(&["kill", "-s", "KILL", "w"]);
    assert_eq!(code, 0, "{out}{err}");
    for n in 1..=2 {
        let s = sup.wait_for(
            &format!("w@{n}"),
            |s| s["restarts"] == 1 && s["state"] == "running",
            WAIT,
        );
        assert_ne!(s["pid"].as_u64().unwrap(), before[n - 1]);
    }
    if is_root() {
        let (code, _, err) = sup.supctl(&["pause", "w"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(sup.status("w@1")["state"], "paused");
        assert_eq!(sup.status("w@2")["state"], "paused");
        let (code, _, err) = sup.supctl(&["resume", "w"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(sup.status("w@2")["state"], "running");
    }
}

#[test]
fn a_reexec_keeps_the_pool_its_count_and_its_instances() {
    let mut sup = Sup::prepare("pool-reexec");
    sup.write_unit("w", "exec: [sleep, '1000']\ninstances: 2\n");
    sup.launch();
    sup.wait_state("w@2", "running");
    let (code, _, err) = sup.supctl(&["scale", "w", "3"]);
    assert_eq!(code, 0, "{err}");
    let pids: Vec<u64> = (1..=3).map(|n| pid(&sup, &format!("w@{n}"))).collect();
    let (code, out, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 0, "{out}{err}");
    for n in 1..=3 {
        assert_eq!(pid(&sup, &format!("w@{n}")), pids[n - 1], "w@{n} restarted");
    }
    let line = sup.status("w");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("target 3 (pinned by supctl scale)"),
        "{line}"
    );
    // Still a pool after the reexec: it scales, and a reload keeps the pinned count.
    let (code, _, err) = sup.supctl(&["scale", "w", "1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&sup.status_all()), ["w", "w@1"]);
    let (code, _, err) = sup.supctl(&["reload"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&sup.status_all()), ["w", "w@1"]);
    // cat: the pool's file, or one instance.
    let (code, out, err) = sup.supctl(&["cat", "w"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l == "instances: 2"), "{out}");
    let (code, out, err) = sup.supctl(&["cat", "w@1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("instances"), "{out}");
}

#[test]
fn a_slice_quota_counts_instances() {
    require_root!();
    let mut sup = Sup::prepare("pool-quota");
    sup.write_unit("pair", "kind: slice\nmax_units: 2\n");
    sup.write_unit(
        "w",
        "exec: [sleep, '1000']\ninstances: 3\nslice: pair\nrestart: never\n",
    );
    sup.launch();
    // Two instances take the slice's two places; the third is refused, naming the quota.
    let failed = (1..=3)
        .map(|n| {
            sup.wait_for(
                &format!("w@{n}"),
                |s| s["state"] == "running" || s["state"] == "failed",
                WAIT,
            )
        })
        .filter(|s| s["state"] == "failed")
        .collect::<Vec<_>>();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let msg = failed[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("slice pair: quota max_units 2 reached"),
        "{msg}"
    );
}
