//! Integration tests of isolation (SPEC sections 2 and 4; issue 3) on this machine's
//! cgroup layout (v1 controllers here): limits, OOM, fork bombs, CPU quota, namespaces,
//! privileges, slices and quotas, pause/resume, stop leaving nothing behind. Root only;
//! every wait is bounded and based on state.

#[macro_use]
mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

fn cgroups_usable() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        || std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

macro_rules! require_cgroups {
    () => {
        require_root!();
        if !cgroups_usable() {
            eprintln!("skipped: no cgroup hierarchy with a memory controller");
            return;
        }
    };
}

fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[test]
fn memory_hog_is_oom_killed_and_reported_while_neighbour_runs() {
    require_cgroups!();
    let sup = Sup::start(
        "oom",
        &[
            (
                "hog",
                "exec: 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'\nrestart: never\nresources: {memory_max: 32M, memory_swap_max: 0}\n",
            ),
            (
                "neighbour",
                "exec: [sleep, '1000']\nresources: {memory_max: 32M}\n",
            ),
        ],
    );
    let mut events = sup.events();
    let hog = sup.wait_for("hog", |s| s["state"] == "failed", WAIT);
    assert_eq!(hog["reason"], "oom", "{hog}");
    events.wait_until(
        |evs| evs.iter().any(|e| e["unit"] == "hog" && e["kind"] == "oom"),
        WAIT,
    );
    let n = sup.status("neighbour");
    assert_eq!(n["state"], "running", "{n}");
    assert!(n["cgroup"].as_str().unwrap().ends_with("/neighbour"), "{n}");
    assert!(num(&n, "memory_bytes") < 32 << 20);
    assert_eq!(num(&n, "pids"), 1);
    assert_eq!(num(&n, "oom_kills"), 0);
}

#[test]
fn fork_bomb_is_held_at_pids_max_and_sup_stays_responsive() {
    require_cgroups!();
    let sup = Sup::start(
        "bomb",
        &[(
            "bomb",
            "exec: 'f() { while :; do f & sleep 0.2; done; }; f'\nresources: {pids_max: 20}\nstop: {timeout: 1s}\nlog: {file: false}\n",
        )],
    );
    let s = sup.wait_for("bomb", |s| s["pids"].as_u64().unwrap_or(0) >= 15, WAIT);
    assert!(num(&s, "pids") <= 20, "{s}");
    for _ in 0..5 {
        let t = Instant::now();
        let s = sup.status("bomb");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "status took {:?}",
            t.elapsed()
        );
        assert!(num(&s, "pids") <= 20, "{s}");
    }
    let (code, _, err) = sup.supctl(&["stop", "bomb"]);
    assert_eq!(code, 0, "{err}");
    let s = sup.status("bomb");
    assert_eq!(s["state"], "stopped");
    assert!(s["cgroup"].is_null(), "cgroup not removed: {s}");
}

#[test]
fn cpu_max_20_percent_is_enforced() {
    require_cgroups!();
    let sup = Sup::start(
        "cpu",
        &[(
            "spin",
            "exec: 'while :; do :; done'\nresources: {cpu_max: \"20%\"}\n",
        )],
    );
    let s0 = sup.wait_for("spin", |s| s["cpu_usec"].as_u64().unwrap_or(0) > 0, WAIT);
    let t0 = Instant::now();
    // A measurement window, not synchronisation.
    std::thread::sleep(Duration::from_secs(3));
    let s1 = sup.status("spin");
    let used = (num(&s1, "cpu_usec") - num(&s0, "cpu_usec")) as f64 / 1e6;
    let share = used / t0.elapsed().as_secs_f64();
    assert!(
        (0.1..=0.3).contains(&share),
        "busy loop used {share:.3} CPU/s under cpu_max 20%"
    );
}

/// `readlink /proc/self/ns/*` etc. written by a unit, compared with the host.
#[test]
fn namespaces_are_observed_from_inside() {
    require_cgroups!();
    let mut sup = Sup::prepare("ns");
    // Output goes through the log pipe: private_tmp hides the test dir under /tmp.
    let probe = "exec: 'for n in pid mnt uts ipc net cgroup; do echo \"$n $(readlink /proc/self/ns/$n)\"; done; echo \"pid1 $(cat /proc/1/comm) self $$\"; echo \"host $(hostname)\"; echo \"ifs $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" | tr \"\\n\" \" \")\"; echo \"cg $(grep -vc \":/$\" /proc/self/cgroup)\"; echo \"tmp $(ls -A /tmp | wc -l)\"; echo done; sleep 1000'\nnamespaces: [pid, mount, uts, ipc, net, cgroup]\nhostname: inside\nprivate_tmp: true\nlog: {timestamps: false}\n";
    sup.write_unit("ns", probe);
    sup.write_unit(
        "userns",
        "exec: 'echo \"uid $(id -u) $(cat /proc/self/uid_map)\"; sleep 1000'\nnamespaces: [user, pid, mount]\nlog: {timestamps: false}\n",
    );
    sup.launch();
    let log = sup.logs.join("ns.log");
    let done = || fs::read_to_string(&log).is_ok_and(|t| t.lines().any(|l| l == "done"));
    assert!(wait_until(done, WAIT), "{}", sup.stderr_log());
    let text = fs::read_to_string(&log).unwrap();
    let get = |k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{k} missing in {text}"))
    };
    for n in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let host = fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        assert_ne!(get(n), host.display().to_string(), "{n} namespace not new");
    }
    // sup's minimal init is PID 1 inside; the unit is its child.
    assert_eq!(get("pid1"), "sup self 2", "{text}");
    assert_eq!(get("host"), "inside");
    assert_eq!(get("ifs").trim(), "lo");
    assert_eq!(
        get("cg"),
        "0",
        "cgroup paths not rooted at the unit: {text}"
    );
    assert_eq!(get("tmp"), "0", "private /tmp not empty");
    assert_ne!(nix::unistd::gethostname().unwrap(), "inside");
    let s = sup.status("ns");
    assert_eq!(s["state"], "running");

    let ulog = sup.logs.join("userns.log");
    let line = || {
        fs::read_to_string(&ulog)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("uid "))
            .map(str::to_string)
    };
    assert!(
        wait_until(|| line().is_some(), WAIT),
        "{}",
        sup.stderr_log()
    );
    let user = line().unwrap();
    let words: Vec<&str> = user.split_whitespace().collect();
    assert_eq!(words, ["uid", "0", "0", "100000", "65536"], "{user}");
    // Stopping reaches through the init: nothing left.
    let pid = num(&sup.status("ns"), "pid") as i32;
    let (code, _, err) = sup.supctl(&["stop", "ns", "userns"]);
    assert_eq!(code, 0, "{err}");
    assert!(!process_alive(pid));
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

// A unit that switches user gets that user's HOME and LOGNAME, not sup's, unless it sets
// them itself (USER here); a unit that does not switch keeps sup's.
#[test]
fn user_switch_sets_login_variables() {
    require_root!();
    let home = fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| Some(l.strip_prefix("nobody:")?.split(':').nth(4)?.to_string()));
    let Some(home) = home else {
        eprintln!("skipped: no user nobody in /etc/passwd");
        return;
    };
    let mut sup = Sup::prepare("login");
    let out = sup.path("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (a, b) = (sup.p("out/nobody"), sup.p("out/root"));
    sup.write_unit(
        "nobody",
        &format!("type: oneshot\nuser: nobody\nenv: {{USER: custom}}\nexec: \"cat /proc/$$/environ > {a}; exit 0\"\n"),
    );
    sup.write_unit(
        "root",
        &format!("type: oneshot\nexec: \"cat /proc/$$/environ > {b}; exit 0\"\n"),
    );
    let s = std::ffi::OsStr::new;
    sup.launch_with_env(&[
        (s("HOME"), s("/sup-home")),
        (s("USER"), s("sup-user")),
        (s("LOGNAME"), s("sup-user")),
    ]);
    sup.wait_state("nobody", "done");
    sup.wait_state("root", "done");
    let nobody = environ_entries(std::path::Path::new(&a));
    let seen = |name: &[u8]| environ_values(&nobody, name);
    assert_eq!(seen(b"HOME"), [home.as_str()], "{}", environ_text(&nobody));
    assert_eq!(seen(b"USER"), ["custom"], "{}", environ_text(&nobody));
    assert_eq!(seen(b"LOGNAME"), ["nobody"], "{}", environ_text(&nobody));
    let root = environ_entries(std::path::Path::new(&b));
    let seen = |name: &[u8]| environ_values(&root, name);
    assert_eq!(seen(b"HOME"), ["/sup-home"], "{}", environ_text(&root));
    assert_eq!(seen(b"USER"), ["sup-user"], "{}", environ_text(&root));
    assert_eq!(seen(b"LOGNAME"), ["sup-user"], "{}", environ_text(&root));
}

#[test]
fn privileges_are_observed_in_proc_status() {
    require_root!();
    let mut sup = Sup::prepare("caps");
    let out = sup.path("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (a, b) = (sup.p("out/nobody.out"), sup.p("out/root.out"));
    sup.write_unit(
        "nobody",
        &format!("exec: 'cat /proc/self/status > {a}.tmp; mv {a}.tmp {a}; sleep 1000'\nuser: nobody\ncapabilities: [NET_BIND_SERVICE]\nno_new_privileges: true\n"),
    );
    sup.write_unit(
        "rootcaps",
        &format!("exec: 'cat /proc/self/status > {b}.tmp; mv {b}.tmp {b}; sleep 1000'\ncapabilities: [NET_BIND_SERVICE, KILL]\n"),
    );
    sup.launch();
    assert!(
        wait_until(
            || sup.path("out/nobody.out").exists() && sup.path("out/root.out").exists(),
            WAIT
        ),
        "{}",
        sup.stderr_log()
    );
    let st = fs::read_to_string(sup.path("out/nobody.out")).unwrap();
    for k in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(status_field(&st, k), "0000000000000400", "{k}\n{st}");
    }
    assert_eq!(status_field(&st, "NoNewPrivs"), "1");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert!(status_field(&st, "Uid").starts_with(&nobody.uid.to_string()));
    assert!(status_field(&st, "Gid").starts_with(&nobody.gid.to_string()));
    let st = fs::read_to_string(sup.path("out/root.out")).unwrap();
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&st, k), "0000000000000420", "{k}\n{st}");
    }
    assert_eq!(status_field(&st, "NoNewPrivs"), "0");
}

#[test]
fn slice_quota_refuses_a_start_and_slices_show_in_status() {
    require_cgroups!();
    let sup = Sup::start(
        "slice",
        &[
            (
                "batch",
                "kind: slice\nmax_units: 1\nresources: {memory_max: 256M, pids_max: 50}\n",
            ),
            ("inner", "kind: slice\nslice: batch\n"),
            ("one", "exec: [sleep, '1000']\nslice: inner\n"),
            (
                "two",
                "exec: [sleep, '1000']\nslice: batch\nenabled: false\n",
            ),
        ],
    );
    let one = sup.wait_state("one", "running");
    assert!(
        one["cgroup"]
            .as_str()
            .unwrap()
            .ends_with("/batch.slice/inner.slice/one"),
        "{one}"
    );
    let (code, _, err) = sup.supctl(&["start", "two"]);
    assert_eq!(code, 1, "{err}");
    let two = sup.status("two");
    assert_eq!(two["state"], "failed");
    let msg = two["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("slice batch") && msg.contains("max_units 1"),
        "{two}"
    );
    assert!(sup.stderr_log().contains("quota max_units 1"));
    let all = sup.status_all();
    let slices = all["slices"].as_array().expect("slices in status");
    let batch = slices.iter().find(|s| s["name"] == "batch").unwrap();
    assert_eq!(batch["units"], 1);
    assert_eq!(batch["max_units"], 1);
    let (code, table, _) = sup.supctl(&["status"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("SLICE") && table.contains("batch"),
        "{table}"
    );
    // The resource columns: only with -r, read from the unit's real cgroup.
    assert!(!table.lines().next().unwrap().contains("MEMORY"), "{table}");
    let (code, table, _) = sup.supctl(&["status", "-r"]);
    assert_eq!(code, 0);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("one "))
        .expect("row of one")
        .split_whitespace()
        .collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert!(cell("MEMORY").ends_with(['B', 'K', 'M']), "{table}");
    assert_eq!(cell("PIDS"), "1", "{table}");
    assert!(cell("CPU").ends_with('s'), "{table}");
    // Once `one` stops, `two` may start.
    assert_eq!(sup.supctl(&["stop", "one"]).0, 0);
    assert_eq!(sup.supctl(&["start", "two"]).0, 0);
}

#[test]
fn pause_freezes_and_resume_thaws() {
    require_cgroups!();
    let mut sup = Sup::prepare("pause");
    let f = sup.p("ticks");
    sup.write_unit(
        "ticker",
        &format!("exec: 'while :; do echo x >> {f}; sleep 0.02; done'\n"),
    );
    sup.launch();
    sup.wait_state("ticker", "running");
    let size = || {
        fs::metadata(sup.path("ticks"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(wait_until(|| size() > 0, WAIT));
    let (code, _, err) = sup.supctl(&["pause", "ticker"]);
    assert_eq!(code, 0, "{err}");
    let s = sup.status("ticker");
    assert_eq!(s["state"], "paused");
    let pid = num(&s, "pid");
    // The freezer itself says so (v1 freezer.state, v2 cgroup.events).
    let freezer = format!(
        "/sys/fs/cgroup/freezer/sup-{}/ticker/freezer.state",
        sup.pid()
    );
    let events = format!(
        "/sys/fs/cgroup{}/cgroup.events",
        s["cgroup"].as_str().unwrap()
    );
    match (fs::read_to_string(&freezer), fs::read_to_string(&events)) {
        (Ok(state), _) => assert_eq!(state.trim(), "FROZEN"),
        (_, Ok(ev)) => assert!(ev.contains("frozen 1"), "{ev}"),
        _ => panic!("neither {freezer} nor {events} readable"),
    }
    let frozen = size();
    // Observation window: a running ticker appends every 20ms.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(size(), frozen, "the unit kept running while paused");
    assert_eq!(sup.supctl(&["resume", "ticker"]).0, 0);
    assert_eq!(sup.status("ticker")["state"], "running");
    assert!(
        wait_until(|| size() > frozen, WAIT),
        "no progress after resume"
    );
    // Stopping a paused unit thaws it so it can die.
    assert_eq!(sup.supctl(&["pause", "ticker"]).0, 0);
    let (code, _, err) = sup.supctl(&["stop", "ticker"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(|| !process_alive(pid as i32), WAIT));
}

#[test]
fn stop_leaves_no_process_even_after_setsid_and_double_fork() {
    require_cgroups!();
    let mut sup = Sup::prepare("escape");
    let p = sup.p("escaped.pid");
    sup.write_unit(
        "escaper",
        &format!("exec: 'setsid sh -c \"sleep 1000 & echo \\$! > {p}.tmp; mv {p}.tmp {p}\" & sleep 1000'\nstop: {{timeout: 2s}}\n"),
    );
    sup.launch();
    sup.wait_state("escaper", "running");
    assert!(wait_until(
        || !read_pids(&sup.path("escaped.pid")).is_empty(),
        WAIT
    ));
    let escaped = read_pids(&sup.path("escaped.pid"))[0];
    assert!(process_alive(escaped));
    let (code, _, err) = sup.supctl(&["stop", "escaper"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_until(|| !process_alive(escaped), WAIT),
        "process {escaped} outlived its unit"
    );
}

#[test]
fn without_a_cgroup_units_with_resources_fail_and_others_run() {
    require_root!();
    let sup_dir = unique_dir("nocg");
    let units = sup_dir.join("units");
    fs::create_dir(&units).unwrap();
    fs::write(units.join("plain.yaml"), "exec: [sleep, '1000']\n").unwrap();
    fs::write(
        units.join("limited.yaml"),
        "exec: [sleep, '1000']\nresources: {memory_max: 10M}\n",
    )
    .unwrap();
    let socket = sup_dir.join("s.sock");
    let empty = sup_dir.join("no-cgroups");
    fs::create_dir(&empty).unwrap();
    let mut child = Command::new(SUP)
        .args([
            "--units",
            units.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
        ])
        .args(["--log-dir", sup_dir.join("logs").to_str().unwrap()])
        .env("SUP_CGROUP_ROOT", &empty)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = |unit: &str| -> Option<Value> {
        let (code, out, _) = supctl_at(&socket, &["--json", "status", unit]);
        // 1: the unit is failed or invalid (its status is printed all the same).
        (code == 0 || code == 1).then(|| serde_json::from_str::<Value>(&out).ok())??["units"][0]
            .clone()
            .into()
    };
    let ok = wait_until(
        || {
            status("plain").is_some_and(|s| s["state"] == "running")
                && status("limited").is_some_and(|s| s["state"] == "failed")
        },
        WAIT,
    );
    let limited = status("limited");
    let plain = status("plain");
    let _ = child.kill();
    let pid = plain.as_ref().and_then(|p| p["pid"].as_i64());
    let _ = child.wait();
    if let Some(pid) = pid {
        // SAFETY-free cleanup of the unit sup left when killed.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-(pid as i32)),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = fs::remove_dir_all(&sup_dir);
    assert!(ok, "plain: {plain:?}\nlimited: {limited:?}");
    let msg = limited.unwrap()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("resources") && msg.contains("cgroup"), "{msg}");
    assert!(plain.unwrap()["cgroup"].is_null());
}

/// `root` pivots into a directory holding a static busybox; `/proc` there is the new pid
/// namespace's and `/tmp` a private tmpfs.
#[test]
fn root_pivots_into_a_directory() {
    require_root!();
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(busybox) = busybox else {
        eprintln!("skipped: no busybox to populate a root directory");
        return;
    };
    let mut sup = Sup::prepare("root");
    let rootfs = sup.path("rootfs");
    for d in ["bin", "proc", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    fs::write(rootfs.join("marker"), "inside-the-root\n").unwrap();
    sup.write_unit(
        "jail",
        &format!(
            "exec: ['/bin/busybox', 'sh', '-c', 'cat /marker; echo \"ls $(/bin/busybox ls / | /bin/busybox tr \"\\n\" \" \")\"; echo \"procs $(/bin/busybox ls /proc | /bin/busybox grep -c \"^[0-9]\")\"; /bin/busybox touch /tmp/x && echo tmp-ok; echo done; /bin/busybox sleep 1000']\nnamespaces: [mount, pid]\nroot: {}\nprivate_tmp: true\nlog: {{timestamps: false}}\n",
            rootfs.display()
        ),
    );
    sup.launch();
    let log = sup.logs.join("jail.log");
    let done = || fs::read_to_string(&log).is_ok_and(|t| t.lines().any(|l| l == "done"));
    assert!(wait_until(done, WAIT), "{}", sup.stderr_log());
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("inside-the-root"), "{text}");
    assert!(text.contains("ls bin marker proc tmp"), "{text}");
    // init (1) and the unit's shell (2), plus the ls/grep pipeline at most.
    let procs: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("procs "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(procs <= 5, "{text}");
    assert!(text.contains("tmp-ok"), "{text}");
    assert!(!rootfs.join("tmp/x").exists(), "/tmp was not private");
}

/// In a pid namespace sup's minimal init (PID 1 inside) reaps the unit's orphans and
/// forwards the stop signal to the unit.
#[test]
fn pid_namespace_init_reaps_orphans_and_forwards_stop() {
    require_root!();
    let sup = Sup::start(
        "pidinit",
        &[(
            "orphans",
            "exec: 'for i in 1 2 3 4 5; do (sleep 0.1 &); done; exec sleep 1000'\nnamespaces: [pid, mount]\n",
        )],
    );
    let init = num(&sup.wait_state("orphans", "running"), "pid") as u32;
    let children = || -> Vec<i32> {
        fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    assert!(
        wait_until(
            || children().len() == 1 && zombie_children(init).is_empty(),
            WAIT
        ),
        "init {init} children: {:?}, zombies: {:?}",
        children(),
        zombie_children(init)
    );
    let (code, _, err) = sup.supctl(&["stop", "orphans"]);
    assert_eq!(code, 0, "{err}");
    let s = sup.status("orphans");
    assert_eq!(s["state"], "stopped");
    // The unit died of the forwarded SIGTERM: the init exits 128 + 15.
    assert_eq!(s["exit"]["code"], 143, "{s}");
}

/// An OOM kill of a child (the main process survives) is noticed from the kernel's
/// notification alone (no exit to trigger a check): `oom` event and `oom_kills` 1.
#[test]
fn oom_of_a_child_is_reported_by_notification() {
    require_cgroups!();
    let sup = Sup::start(
        "oomchild",
        &[(
            "parent",
            "exec: 'tail /dev/zero; exec sleep 1000'\nresources: {memory_max: 24M, memory_swap_max: 0}\nlog: {file: false}\n",
        )],
    );
    // (The kill may precede any `events` subscription: check status and sup's log.)
    let s = sup.wait_for("parent", |s| s["oom_kills"] == 1, WAIT);
    assert_eq!(s["state"], "running", "{s}");
    assert!(
        wait_until(
            || sup
                .stderr_log()
                .contains("parent: the kernel OOM killer killed 1"),
            WAIT
        ),
        "{}",
        sup.stderr_log()
    );
}

/// On a cgroup v1 host every key lands in its mapped file of the unit's cgroup.
#[test]
fn limits_land_in_the_v1_files() {
    require_cgroups!();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: cgroup v2 host (tests/vm/check-isolation.sh covers v2)");
        return;
    }
    let loop0 = std::path::Path::new("/dev/loop0").exists();
    let io = if loop0 {
        ", io_max: [{device: /dev/loop0, rbps: 1M, wiops: 100}]"
    } else {
        ""
    };
    let sup = Sup::start(
        "v1files",
        &[
            (
                "limited",
                &format!("exec: [sleep, '1000']\nresources: {{cpu_weight: 200, cpu_max: \"1.5\", memory_max: 64M, memory_high: 48M, memory_swap_max: 16M, pids_max: 77{io}}}\n"),
            ),
            ("plain", "exec: [sleep, '1000']\n"),
        ],
    );
    sup.wait_state("limited", "running");
    sup.wait_state("plain", "running");
    // Which v1 hierarchies each process joined (from /proc/PID/cgroup).
    let joined = |unit: &str| -> Vec<String> {
        let pid = sup.status(unit)["pid"].as_u64().unwrap();
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let mut out: Vec<String> = text
            .lines()
            .filter(|l| l.ends_with(&format!("/sup-{}/{unit}", sup.pid())))
            .filter_map(|l| l.split(':').nth(1).map(String::from))
            .collect();
        out.sort();
        out
    };
    // cpu, blkio and pids are joined only for their keys.
    // (Co-mounted `cpu,cpuacct` is one hierarchy, joined for the accounting.)
    let plain = joined("plain");
    for c in ["memory", "freezer"] {
        assert!(plain.iter().any(|p| p == c), "{plain:?}");
    }
    assert!(plain.iter().any(|p| p.contains("cpuacct")), "{plain:?}");
    assert!(
        !plain
            .iter()
            .any(|p| p == "cpu" || p == "blkio" || p == "pids"),
        "{plain:?}"
    );
    // Its process count comes from the freezer's list instead of pids.current.
    assert_eq!(sup.status("plain")["pids"], 1, "{}", sup.status("plain"));
    // v1 OOM notices exist only for memory limits: one eventfd (for `limited`), none
    // for `plain`, unless a limit above sup's own cgroup applies to both.
    let base_limited = fs::read_to_string(format!(
        "/sys/fs/cgroup/memory{}/memory.stat",
        sup.status("plain")["cgroup"]
            .as_str()
            .unwrap()
            .trim_end_matches("/plain")
    ))
    .unwrap()
    .lines()
    .find_map(|l| l.strip_prefix("hierarchical_memory_limit "))
    .is_some_and(|v| v.trim().parse::<u64>().unwrap() < 1 << 62);
    let eventfds = fs::read_dir(format!("/proc/{}/fd", sup.pid()))
        .unwrap()
        .flatten()
        .filter(|e| fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("eventfd")))
        .count();
    assert_eq!(eventfds, if base_limited { 2 } else { 1 });
    let limited = joined("limited");
    assert!(limited.iter().any(|c| c == "cpu"), "{limited:?}");
    assert!(limited.iter().any(|c| c == "pids"), "{limited:?}");
    assert_eq!(limited.iter().any(|c| c == "blkio"), loop0, "{limited:?}");
    let dir = |ctrl: &str| format!("/sys/fs/cgroup/{ctrl}/sup-{}/limited", sup.pid());
    let mem = sup.status("limited")["cgroup"]
        .as_str()
        .unwrap()
        .to_string();
    let read = |path: String| fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(read(format!("{}/cpu.shares", dir("cpu"))).trim(), "2048");
    assert_eq!(
        read(format!("{}/cpu.cfs_quota_us", dir("cpu"))).trim(),
        "150000"
    );
    assert_eq!(
        read(format!("{}/cpu.cfs_period_us", dir("cpu"))).trim(),
        "100000"
    );
    let m = format!("/sys/fs/cgroup/memory{mem}");
    assert_eq!(
        read(format!("{m}/memory.limit_in_bytes")).trim(),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(format!("{m}/memory.soft_limit_in_bytes")).trim(),
        (48u64 << 20).to_string()
    );
    assert_eq!(
        read(format!("{m}/memory.memsw.limit_in_bytes")).trim(),
        (80u64 << 20).to_string()
    );
    assert_eq!(read(format!("{}/pids.max", dir("pids"))).trim(), "77");
    if loop0 {
        let b = dir("blkio");
        assert_eq!(
            read(format!("{b}/blkio.throttle.read_bps_device")).trim(),
            "7:0 1048576"
        );
        assert_eq!(
            read(format!("{b}/blkio.throttle.write_iops_device")).trim(),
            "7:0 100"
        );
    }
}

/// Starting a unit opens none of its counter files; the first read opens them (and a
/// restart in the kept cgroup would reuse them).
#[test]
fn counter_files_are_opened_when_first_read() {
    require_cgroups!();
    let mut sup = Sup::prepare("lazy");
    let up = sup.p("up");
    sup.write_unit("quiet", &format!("exec: \"touch {up}; exec sleep 1000\"\n"));
    sup.launch();
    assert!(
        wait_until(|| std::path::Path::new(&up).exists(), WAIT),
        "{}",
        sup.stderr_log()
    );
    // sup's open files inside the unit's cgroup dirs.
    let open_in_unit = || {
        fs::read_dir(format!("/proc/{}/fd", sup.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| fs::read_link(e.path()).ok())
            .filter(|l| l.to_string_lossy().contains("/quiet/"))
            .count()
    };
    assert_eq!(open_in_unit(), 0);
    // The lean table reads no counter either.
    let (code, table, _) = sup.supctl(&["status"]);
    assert_eq!(code, 0);
    assert!(table.contains("running"), "{table}");
    assert_eq!(open_in_unit(), 0);
    let (code, table, _) = sup.supctl(&["status", "-r", "quiet"]);
    assert_eq!(code, 0);
    assert!(table.contains("PIDS"), "{table}");
    // memory, CPU and the process count (pids.current or cgroup.procs).
    assert!(open_in_unit() >= 3, "{table}");
}
