//! Integration tests of `supctl reexec` (issue 14, part 4): sup replaces its program and
//! carries on in the same process. Ten reexecs while 50 units run and one writes lines as
//! fast as it can: every pid the same, no restart, every line once and in order; timers
//! and transient units cross; a program that cannot take over is refused and nothing
//! changes. Every wait is bounded and based on state.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

/// Writes 1, 2, 3, … one line each, every line in two writes (the number, then the
/// newline), so the loop often holds the start of a line when it hands over.
const WRITER: &str = "n=0; while [ ! -e STOP ]; do n=$((n + 1)); printf %s $n; echo; done; echo end $n; exec sleep 100000";

fn pids(sup: &Sup) -> Vec<(String, u64, u64)> {
    let all = sup.status_all();
    let mut out: Vec<(String, u64, u64)> = all["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["transient"].is_null())
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["pid"].as_u64().unwrap_or(0),
                u["restarts"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn ten_reexecs_keep_every_unit_and_every_log_line() {
    require_root!();
    let mut sup = Sup::prepare("reexec");
    for i in 0..50 {
        sup.write_unit(&format!("u{i:02}"), "exec: [sleep, '100000']\n");
    }
    let stop = sup.p("STOP");
    sup.write_unit(
        "writer",
        &format!(
            "exec: [sh, -c, '{}']\nlog: {{timestamps: false, max_size: 1G}}\n",
            WRITER.replace("STOP", &stop)
        ),
    );
    sup.write_unit(
        "limited",
        "exec: [sleep, '100000']\nresources: {memory_max: 64M}\n",
    );
    sup.launch();
    for i in 0..50 {
        sup.wait_state(&format!("u{i:02}"), "running");
    }
    sup.wait_state("writer", "running");
    sup.wait_state("limited", "running");
    let sup_pid = sup.pid();
    let before = pids(&sup);
    assert!(before.iter().all(|(_, pid, _)| *pid > 0), "{before:?}");
    // A transient unit with a deadline that falls after the reexecs.
    let (code, _, err) = sup.supctl(&[
        "run",
        "--name",
        "late",
        "--timeout",
        "4s",
        "--",
        "sleep",
        "100",
    ]);
    assert_eq!(code, 0, "{err}");
    let log = sup.logs.join("writer.log");
    for round in 0..10 {
        let (code, out, err) = sup.supctl(&["reexec"]);
        assert_eq!(code, 0, "reexec {round}: {out} {err}\n{}", sup.stderr_log());
        assert!(out.contains("reexecuted"), "{out}");
    }
    assert!(
        fs::metadata(&log).map(|m| m.len()).unwrap_or(0) > 0,
        "the writer wrote nothing"
    );
    fs::write(&stop, "").unwrap();
    let done = wait_until(
        || {
            fs::read_to_string(&log)
                .map(|t| t.lines().last().is_some_and(|l| l.starts_with("end ")))
                .unwrap_or(false)
        },
        WAIT,
    );
    assert!(done, "the writer did not end: {}", sup.stderr_log());
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let total: usize = lines.last().unwrap()["end ".len()..].parse().unwrap();
    assert_eq!(lines.len(), total + 1, "lines lost or doubled");
    for (i, line) in lines[..total].iter().enumerate() {
        assert_eq!(*line, (i + 1).to_string(), "line {} is wrong", i + 1);
    }
    // Same sup, same units, same processes, no restart.
    assert_eq!(sup.pid(), sup_pid);
    let after = pids(&sup);
    assert_eq!(after, before);
    assert!(after.iter().all(|(_, _, restarts)| *restarts == 0));
    // The cgroup and its limit went on.
    let limited = sup.status("limited");
    assert!(limited["cgroup"].is_string(), "{limited}");
    assert!(limited["memory_bytes"].is_u64(), "{limited}");
    // The transient unit's deadline crossed the reexecs.
    let late = sup.wait_for("late", |s| s["state"] == "stopped", WAIT);
    assert_eq!(late["reason"], "timeout", "{late}");
    assert_eq!(late["transient"], true);
    // The control socket still serves, and units still start and stop.
    assert_eq!(sup.supctl(&["restart", "u00"]).0, 0);
    assert_eq!(sup.supctl(&["stop", "u01"]).0, 0);
}

#[test]
fn a_watched_unit_is_watched_again_after_a_reexec() {
    let sup = Sup::prepare("reexec-watch");
    let conf = sup.path("conf");
    fs::create_dir(&conf).unwrap();
    sup.write_unit(
        "app",
        &format!(
            "exec: [sleep, '100000']\nwatch: {{paths: [{}], debounce: 100ms}}\n",
            conf.display()
        ),
    );
    let mut sup = sup;
    sup.launch();
    let old = sup.wait_state("app", "running")["pid"].as_u64().unwrap();
    let (code, out, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(sup.status("app")["pid"].as_u64(), Some(old));
    fs::write(conf.join("app.conf"), "changed\n").unwrap();
    sup.wait_for(
        "app",
        |s| s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p != old),
        WAIT,
    );
}

/// `src` at `dst`, linked where it can be: a copy leaves a write descriptor that a fork
/// by another test may hold for a moment, and executing the file then fails (ETXTBSY).
fn place(src: &str, dst: &std::path::Path) {
    if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst).unwrap();
    }
}

/// sup started from its own copy of the program, running unit `a` (its pid), and how
/// to "upgrade" that file as a package does (a new file renamed over it): to a script
/// with the given text, or (`None`) back to the real sup.
fn sup_from_its_own_file(tag: &str) -> (Sup, u64, impl Fn(Option<&str>)) {
    let mut sup = Sup::prepare(tag);
    let bin = sup.path("bin");
    fs::create_dir(&bin).unwrap();
    let program = bin.join("sup");
    place(SUP, &program);
    sup.program = program.clone();
    sup.write_unit("a", "exec: [sleep, '100000']\n");
    sup.launch();
    let a = sup.wait_state("a", "running")["pid"].as_u64().unwrap();
    let upgrade = move |script: Option<&str>| {
        let new = bin.join("sup.new");
        match script {
            Some(text) => {
                fs::write(&new, text).unwrap();
                fs::set_permissions(&new, fs::Permissions::from_mode(0o755)).unwrap();
            }
            None => place(SUP, &new),
        }
        fs::rename(&new, &program).unwrap();
    };
    (sup, a, upgrade)
}

#[test]
fn a_program_that_cannot_take_over_is_refused_and_nothing_changes() {
    let (sup, a, upgrade) = sup_from_its_own_file("reexec-bad");
    // An "upgrade" to something that is not sup.
    upgrade(Some("#!/bin/sh\necho not-sup\n"));
    let (code, _, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 1, "{err}");
    // "cannot take over" (it ran and said something else), or "cannot be run" should
    // a fork elsewhere in this test process hold the new file open for a moment.
    assert!(
        err.contains("cannot take over") || err.contains("cannot be run"),
        "{err}"
    );
    assert!(err.contains("nothing changed"), "{err}");
    // A file that cannot run at all.
    upgrade(Some("not a program"));
    let (code, _, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 1, "{err}");
    let s = sup.status("a");
    assert_eq!(s["pid"].as_u64(), Some(a));
    assert_eq!(s["state"], "running");
    // The real program back: the upgrade goes through.
    upgrade(None);
    let (code, out, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(sup.status("a")["pid"].as_u64(), Some(a));
}

#[test]
fn a_check_that_never_answers_is_killed_and_the_reexec_refused() {
    let (sup, a, upgrade) = sup_from_its_own_file("reexec-hang");
    upgrade(Some("#!/bin/sh\nexec sleep 1000\n"));
    let (code, _, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did not answer"), "{err}");
    assert_eq!(sup.status("a")["pid"].as_u64(), Some(a));
    // Not wedged: the next reexec (of a good program) goes through.
    upgrade(None);
    let (code, out, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 0, "{out} {err}");
}

/// sup's soft and hard open-file limits from /proc/PID/limits.
fn nofile_of(pid: u32) -> (String, String) {
    let text = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

#[test]
fn sup_raises_its_open_file_limit_and_units_get_the_one_it_was_started_with() {
    let mut sup = Sup::prepare("nofile");
    let wrapper = sup.path("sup-wrapper");
    fs::write(
        &wrapper,
        format!("#!/bin/sh\nulimit -Sn 1000\nexec {SUP} \"$@\"\n"),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    sup.program = wrapper;
    sup.launch();
    let (soft, hard) = nofile_of(sup.pid());
    assert_eq!(soft, hard, "sup's soft limit is raised to its hard one");
    assert_ne!(soft, "1000");
    for round in 0..2 {
        let (code, out, err) = sup.supctl(&["run", "--wait", "--", "sh", "-c", "ulimit -Sn"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), "1000", "round {round}");
        // The same after a reexec (the limit sup was started with is carried).
        let (code, out, err) = sup.supctl(&["reexec"]);
        assert_eq!(code, 0, "{out} {err}");
    }
}
