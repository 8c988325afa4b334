//! Integration tests of live change (issue 14): `supctl reload` (and SIGHUP) with each
//! kind of change, an invalid edit of a running unit, `supctl run` with `--wait`,
//! `--timeout`, `-p` properties and errors, and `supctl forget`. Every wait is bounded
//! and based on state.

#[macro_use]
mod common;

use std::fs;

use serde_json::Value;

use common::*;

fn pid_of(s: &Value) -> u64 {
    s["pid"].as_u64().unwrap_or_else(|| panic!("no pid: {s}"))
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// `supctl --json reload [ARGS]`: (exit code, the report).
fn reload(sup: &Sup, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "reload"];
    all.extend_from_slice(args);
    let (code, out, err) = sup.supctl(&all);
    let doc: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("reload printed no JSON ({e}): {out} / {err}"));
    (code, doc["reload"].clone())
}

fn memory_limit(cgroup: &str) -> u64 {
    let v2 = format!("/sys/fs/cgroup{cgroup}/memory.max");
    let v1 = format!("/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes");
    let text = fs::read_to_string(&v2)
        .or_else(|_| fs::read_to_string(&v1))
        .unwrap_or_else(|e| panic!("no memory limit file for {cgroup}: {e}"));
    text.trim().parse().unwrap()
}

fn cgroups_usable() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        || std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

const SLEEP: &str = "exec: [sleep, '1000']\n";

#[test]
fn reload_adds_removes_restarts_updates_and_leaves_the_rest_alone() {
    require_root!();
    let limits = cgroups_usable();
    let sup = Sup::start(
        "reload",
        &[
            ("keep", SLEEP),
            (
                "limited",
                "exec: [sleep, '1000']\nresources: {memory_max: 64M}\n",
            ),
            ("changed", SLEEP),
            ("gone", SLEEP),
            ("edited", SLEEP),
        ],
    );
    for u in ["keep", "limited", "changed", "gone", "edited"] {
        sup.wait_state(u, "running");
    }
    let before: Vec<(String, u64)> = ["keep", "limited", "changed", "edited"]
        .iter()
        .map(|u| (u.to_string(), pid_of(&sup.status(u))))
        .collect();
    let pid = |u: &str| before.iter().find(|(n, _)| n == u).unwrap().1;
    let mut events = sup.events();

    sup.write_unit(
        "limited",
        "exec: [sleep, '1000']\nresources: {memory_max: 32M}\n",
    );
    sup.write_unit("changed", "exec: [sleep, '1001']\n");
    fs::remove_file(sup.units.join("gone.yaml")).unwrap();
    sup.write_unit("edited", "exec: [sleep, '1000'\n");
    sup.write_unit("fresh", SLEEP);
    sup.write_unit("dormant", "exec: [sleep, '1000']\nenabled: false\n");

    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 1, "an invalid file makes reload exit 1: {report}");
    assert_eq!(report["dry_run"], false);
    assert_eq!(names(&report["added"]), ["dormant", "fresh"], "{report}");
    assert_eq!(names(&report["removed"]), ["gone"], "{report}");
    assert_eq!(names(&report["restarted"]), ["changed"], "{report}");
    assert_eq!(names(&report["updated"]), ["limited"], "{report}");
    assert_eq!(report["unchanged"], 1, "{report}");
    let invalid = report["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{report}");
    assert_eq!(invalid[0]["unit"], "edited");
    let edited_yaml = sup.units.join("edited.yaml").display().to_string();
    assert!(
        invalid[0]["message"]
            .as_str()
            .unwrap()
            .contains(&edited_yaml),
        "{report}"
    );

    // Unchanged: same process, no restart.
    let keep = sup.status("keep");
    assert_eq!(pid_of(&keep), pid("keep"));
    assert_eq!(keep["restarts"], 0);
    // Limits only: same process, the new limit on its cgroup.
    let limited = sup.status("limited");
    assert_eq!(pid_of(&limited), pid("limited"));
    if limits {
        let cg = limited["cgroup"].as_str().expect("a cgroup");
        assert_eq!(memory_limit(cg), 32 << 20);
    }
    // Changed: a new process.
    let changed = sup.wait_for(
        "changed",
        |s| s["state"] == "running" && s["pid"].as_u64() != Some(pid("changed")),
        WAIT,
    );
    assert_eq!(
        changed["restarts"], 0,
        "a restart by reload is not a failure"
    );
    // Invalid edit: runs on as it was, the error as its message.
    let edited = sup.status("edited");
    assert_eq!(edited["state"], "running");
    assert_eq!(pid_of(&edited), pid("edited"));
    assert!(
        edited["message"]
            .as_str()
            .unwrap_or("")
            .contains(&edited_yaml),
        "{edited}"
    );
    // Added: started when enabled.
    sup.wait_state("fresh", "running");
    assert_eq!(sup.status("dormant")["state"], "inactive");
    // Removed: stopped and gone.
    assert!(
        wait_until(|| sup.supctl(&["status", "gone"]).0 == 3, WAIT),
        "gone is still listed: {:?}",
        sup.supctl(&["status"])
    );
    let seen = events.wait_until(
        |e| {
            e.iter()
                .any(|e| e["unit"] == "fresh" && e["state"] == "running")
                && e.iter()
                    .any(|e| e["unit"] == "gone" && e["state"] == "stopped")
        },
        WAIT,
    );
    for quiet in ["keep", "limited", "edited"] {
        assert!(
            !seen.iter().any(|e| e["unit"] == quiet),
            "{quiet} was touched: {seen:?}"
        );
    }

    // The edit fixed (to a new definition): restarted, message gone, reload exits 0.
    sup.write_unit("edited", "exec: [sleep, '1002']\n");
    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(names(&report["restarted"]), ["edited"], "{report}");
    let edited = sup.wait_for(
        "edited",
        |s| s["state"] == "running" && s["pid"].as_u64() != Some(pid("edited")),
        WAIT,
    );
    assert!(edited["message"].is_null(), "{edited}");
    // Nothing changed since: everything unchanged.
    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 0);
    assert_eq!(report["unchanged"], 6, "{report}");
    assert_eq!(pid_of(&sup.status("keep")), pid("keep"));
}

#[test]
fn reload_dry_run_says_what_it_would_do_and_does_nothing() {
    let sup = Sup::start("reload-dry", &[("a", SLEEP), ("b", SLEEP)]);
    let a = pid_of(&sup.wait_state("a", "running"));
    sup.wait_state("b", "running");
    sup.write_unit("a", "exec: [sleep, '1001']\n");
    fs::remove_file(sup.units.join("b.yaml")).unwrap();
    sup.write_unit("c", SLEEP);
    let (code, report) = reload(&sup, &["--dry-run"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(names(&report["restarted"]), ["a"]);
    assert_eq!(names(&report["removed"]), ["b"]);
    assert_eq!(names(&report["added"]), ["c"]);
    // The table says "would".
    let (code, out, _) = sup.supctl(&["reload", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains("would restart  a"), "{out}");
    assert!(out.contains("would remove   b"), "{out}");
    assert!(out.contains("would add      c"), "{out}");
    assert_eq!(pid_of(&sup.status("a")), a);
    assert_eq!(sup.status("b")["state"], "running");
    assert_eq!(sup.supctl(&["status", "c"]).0, 3, "c must not exist yet");
}

#[test]
fn sighup_reloads_and_a_new_invalid_file_is_listed_until_fixed() {
    let sup = Sup::start("reload-hup", &[("a", SLEEP)]);
    sup.wait_state("a", "running");
    sup.write_unit("b", SLEEP);
    sup.write_unit("c", "exec: 42\nnope: 1\n");
    // SAFETY-free: a plain kill(1) of our own child.
    let status = std::process::Command::new("kill")
        .args(["-HUP", &sup.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    sup.wait_state("b", "running");
    let c = sup.wait_state("c", "invalid");
    assert!(c["message"].as_str().unwrap().contains("nope"), "{c}");
    sup.write_unit("c", SLEEP);
    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(names(&report["added"]), ["c"], "{report}");
    sup.wait_state("c", "running");
}

#[test]
fn removed_unit_that_others_require_stops_them_too() {
    let sup = Sup::start(
        "reload-deps",
        &[
            ("db", SLEEP),
            ("app", "exec: [sleep, '1000']\nrequires: [db]\n"),
        ],
    );
    sup.wait_state("app", "running");
    fs::remove_file(sup.units.join("db.yaml")).unwrap();
    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(names(&report["removed"]), ["db"]);
    let app = sup.wait_state("app", "stopped");
    assert_eq!(app["reason"], "dependency", "{app}");
    assert!(wait_until(|| sup.supctl(&["status", "db"]).0 == 3, WAIT));
}

#[test]
fn run_wait_streams_output_and_exits_with_the_status() {
    let sup = Sup::start("run-wait", &[]);
    let (code, out, err) = sup.supctl(&[
        "run",
        "--wait",
        "--",
        "sh",
        "-c",
        "echo one; echo two; echo three >&2; exit 3",
    ]);
    assert_eq!(code, 3, "{out} / {err}");
    let lines: Vec<&str> = out.lines().collect();
    // One pipe's lines keep their order; the two pipes interleave as they come.
    let one = lines.iter().position(|l| *l == "one").expect(&out);
    let two = lines.iter().position(|l| *l == "two").expect(&out);
    assert!(one < two, "{out}");
    assert!(lines.contains(&"three"), "{out}");
    let (code, out, _) = sup.supctl(&["run", "--wait", "--", "printf", "no newline"]);
    assert_eq!(code, 0);
    assert_eq!(out, "no newline\n");
    let (code, _, _) = sup.supctl(&["run", "--wait", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(code, 128 + 9);
    let (code, _, err) = sup.supctl(&["run", "--wait", "--", "/nonexistent/cmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("No such file"), "{err}");
    // Ended runs stay listed, transient, with their exit status.
    let all = sup.status_all();
    let runs: Vec<&Value> = all["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["transient"] == true)
        .collect();
    assert_eq!(runs.len(), 4, "{all}");
    let first = sup.status("run-1");
    assert_eq!(first["state"], "failed");
    assert_eq!(first["exit"]["code"], 3);
    // Never written to the unit directory.
    assert_eq!(fs::read_dir(&sup.units).unwrap().count(), 0);
}

#[test]
fn run_timeout_stops_it_with_reason_timeout_and_exit_124() {
    let sup = Sup::start("run-timeout", &[]);
    let (code, _, err) = sup.supctl(&[
        "run",
        "--wait",
        "--timeout",
        "300ms",
        "--name",
        "slow",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(code, 124, "{err}");
    let s = sup.status("slow");
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["reason"], "timeout", "{s}");
    assert_eq!(s["transient"], true);
    // A bad duration is a usage error.
    let (code, _, err) = sup.supctl(&["run", "--timeout", "soon", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--timeout"), "{err}");
}

#[test]
fn run_properties_are_unit_keys_and_errors_name_the_argument() {
    require_root!();
    let sup = Sup::start("run-props", &[]);
    let (code, _, err) = sup.supctl(&["run", "-p", "resources.memory_max=lots", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("-p resources.memory_max=lots: "), "{err}");
    let (code, _, err) = sup.supctl(&["run", "-p", "restart=sometimes", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("-p restart=sometimes: "), "{err}");
    let (code, _, err) = sup.supctl(&["run", "-p", "novalue", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = sup.supctl(&[
        "run",
        "--name",
        "bg",
        "-p",
        "env.GREETING=hello there",
        "-p",
        "resources.memory_max=48M",
        "--",
        "sh",
        "-c",
        "echo $GREETING; exec sleep 1000",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "bg");
    let s = sup.wait_state("bg", "running");
    assert_eq!(s["transient"], true);
    if cgroups_usable() {
        assert_eq!(memory_limit(s["cgroup"].as_str().unwrap()), 48 << 20);
    }
    let log = sup.logs.join("bg.log");
    assert!(
        wait_until(
            || fs::read_to_string(&log).is_ok_and(|t| t == "hello there\n"),
            WAIT
        ),
        "log without timestamps: {:?}",
        fs::read_to_string(&log)
    );
    // A running transient unit cannot be forgotten; stopped, it can.
    let (code, _, err) = sup.supctl(&["forget", "bg"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stop it first"), "{err}");
    assert_eq!(sup.supctl(&["stop", "bg"]).0, 0);
    let (code, out, _) = sup.supctl(&["forget", "bg"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "bg");
    assert_eq!(sup.supctl(&["status", "bg"]).0, 3);
    // A unit from a file is not forgotten.
    sup.write_unit("file", SLEEP);
    assert_eq!(reload(&sup, &[]).0, 0);
    let (code, _, err) = sup.supctl(&["forget", "file"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn ended_runs_are_kept_up_to_the_retention_limit_and_forget_ended_drops_them() {
    let sup = Sup::start("run-retention", &[]);
    for _ in 0..105 {
        let (code, _, err) = sup.supctl(&["run", "--wait", "--", "true"]);
        assert_eq!(code, 0, "{err}");
    }
    let all = sup.status_all();
    let runs: Vec<String> = all["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 100, "{runs:?}");
    for old in ["run-1", "run-5"] {
        assert!(!runs.contains(&old.to_string()), "{old} kept: {runs:?}");
    }
    assert!(runs.contains(&"run-6".to_string()));
    assert!(runs.contains(&"run-105".to_string()));
    let (code, _, _) = sup.supctl(&["run", "--name", "live", "--", "sleep", "1000"]);
    assert_eq!(code, 0);
    sup.wait_state("live", "running");
    let (code, out, _) = sup.supctl(&["forget", "--ended"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 100);
    let all = sup.status_all();
    let left: Vec<&str> = all["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["live"]);
}

#[test]
fn reload_applies_slice_limits_and_quotas() {
    require_root!();
    if !cgroups_usable() {
        eprintln!("skipped: no cgroup hierarchy with a memory controller");
        return;
    }
    let sup = Sup::start(
        "reload-slice",
        &[
            (
                "batch",
                "kind: slice\nmax_units: 2\nresources: {memory_max: 256M}\n",
            ),
            ("a", "exec: [sleep, '1000']\nslice: batch\n"),
            ("b", "exec: [sleep, '1000']\nslice: batch\nenabled: false\n"),
        ],
    );
    let a = sup.wait_state("a", "running");
    let cg = a["cgroup"].as_str().unwrap().to_string();
    let slice_cg = cg.rsplit_once('/').unwrap().0.to_string();
    assert!(slice_cg.ends_with("batch.slice"), "{cg}");
    assert_eq!(memory_limit(&slice_cg), 256 << 20);
    // The slice's limit and quota change; the unit in it runs on.
    sup.write_unit(
        "batch",
        "kind: slice\nmax_units: 1\nresources: {memory_max: 128M}\n",
    );
    let (code, report) = reload(&sup, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["unchanged"], 2, "{report}");
    assert_eq!(memory_limit(&slice_cg), 128 << 20);
    assert_eq!(sup.status("a")["pid"], a["pid"]);
    // The new quota holds: a second unit in the slice is refused.
    let (code, _, _) = sup.supctl(&["start", "b"]);
    assert_eq!(code, 1);
    let b = sup.status("b");
    assert!(
        b["message"].as_str().unwrap_or("").contains("max_units 1"),
        "{b}"
    );
}

#[test]
fn run_properties_set_user_and_namespaces() {
    require_root!();
    let sup = Sup::start("run-isolation", &[]);
    let (code, out, err) = sup.supctl(&["run", "--wait", "-p", "user=nobody", "--", "id", "-u"]);
    assert_eq!(code, 0, "{err}");
    let nobody = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.trim(), String::from_utf8_lossy(&nobody.stdout).trim());
    // A new network namespace: only the loopback interface.
    let (code, out, err) = sup.supctl(&[
        "run",
        "--wait",
        "-p",
        "namespaces=[net]",
        "--",
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(code, 0, "{err}");
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{out}");
}

#[test]
fn a_unit_in_an_unknown_slice_fails_naming_it_and_touches_nothing_outside_sups_cgroup() {
    require_root!();
    let sup = Sup::start("run-noslice", &[]);
    // A directory named like the unit at the root: an unknown slice once made the unit's
    // cgroup path absolute, and sup removed such a directory.
    let name = format!("sup-sentinel-{}", std::process::id());
    let sentinel = std::path::Path::new("/").join(&name);
    fs::create_dir_all(&sentinel).unwrap();
    let (code, _, err) = sup.supctl(&[
        "run",
        "--wait",
        "--name",
        &name,
        "-p",
        "slice=nope",
        "--",
        "true",
    ]);
    let kept = sentinel.is_dir();
    let _ = fs::remove_dir(&sentinel);
    assert!(kept, "sup removed {}", sentinel.display());
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("slice nope: no such slice"), "{err}");
}

#[test]
fn run_wait_passes_on_every_line_of_a_fast_writer_and_waits_for_a_slow_reader() {
    let sup = Sup::start("run-burst", &[]);
    // 400000 lines (2.7 MB) as fast as seq writes them.
    let (code, out, err) = sup.supctl(&["run", "--wait", "--", "seq", "1", "400000"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 400000, "{err}");
    assert_eq!(lines[399999], "400000");
    // A reader that takes its time: the unit waits for it, nothing is dropped.
    let mut cmd = std::process::Command::new(SUPCTL);
    cmd.arg("--socket")
        .arg(&sup.socket)
        .args(["run", "--wait", "--", "seq", "1", "300000"])
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut reads = 0;
    loop {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads < 200 {
            // Slow at first: the unit's output piles up behind this reader.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.lines().count(), 300000);
    assert_eq!(text.lines().last(), Some("300000"));
}
