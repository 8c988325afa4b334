//! Crash recovery: after `kill -9` of sup, a new sup on the same socket stops what the
//! dead one left (a paused unit too) before starting anything, so no unit runs twice.

mod common;

use std::ffi::OsStr;
use std::fs;

use common::*;

const UNITS: usize = 20;

fn is_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => proc_state(&stat) == Some('Z'),
        Err(_) => true,
    }
}

/// Live processes of this test's units: `sleep`s that inherited the test's marker
/// variable (sup passes its environment to every unit).
fn unit_processes(sup: &Sup) -> Vec<i32> {
    let marker = format!("SUP_TEST_DIR={}\0", sup.dir.display());
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            let environ = fs::read(e.path().join("environ")).ok()?;
            (comm.trim() == "sleep"
                && String::from_utf8_lossy(&environ).contains(&marker)
                && !is_gone(pid))
            .then_some(pid)
        })
        .collect()
}

/// `pause`: one unit is paused (frozen) when sup is killed (needs the freezer cgroup).
fn recover(tag: &str, env: &[(&OsStr, &OsStr)], pause: bool) {
    let mut sup = Sup::prepare(tag);
    let mut names: Vec<String> = (0..UNITS).map(|i| format!("u{i:02}")).collect();
    for n in &names {
        sup.write_unit(n, "exec: [\"sleep\", \"1000\"]\n");
    }
    // A pool: its instances' groups are one level deeper (below the pool's).
    sup.write_unit("pool", "exec: [\"sleep\", \"1000\"]\ninstances: 2\n");
    names.extend(["pool@1".to_string(), "pool@2".to_string()]);
    sup.launch_with_env(env);
    let old: Vec<i32> = names
        .iter()
        .map(|n| sup.wait_state(n, "running")["pid"].as_i64().unwrap() as i32)
        .collect();
    if pause {
        assert_eq!(sup.supctl(&["pause", "u05"]).0, 0, "{}", sup.stderr_log());
        sup.wait_state("u05", "paused");
    }
    sup.kill9();
    // The units outlive sup, outside any status.
    assert!(old.iter().all(|&p| !is_gone(p)), "units died with sup");

    sup.launch_with_env(env);
    assert!(
        wait_until(|| old.iter().all(|&p| is_gone(p)), WAIT),
        "leftovers of the killed sup are still running: {:?}\n{}",
        old.iter().filter(|&&p| !is_gone(p)).collect::<Vec<_>>(),
        sup.stderr_log()
    );
    for n in &names {
        let st = sup.wait_state(n, "running");
        let pid = st["pid"].as_i64().unwrap() as i32;
        assert!(!old.contains(&pid), "{n} kept an old pid: {st}");
    }
    // Exactly one process per unit: nothing runs twice.
    assert!(
        wait_until(|| unit_processes(&sup).len() == names.len(), WAIT),
        "{} unit processes, want {}",
        unit_processes(&sup).len(),
        names.len()
    );
    let log = sup.stderr_log();
    assert!(
        log.contains("died without stopping its units"),
        "sup did not say what it found:\n{log}"
    );
    assert!(sup.terminate(WAIT).success());
    // A clean exit leaves no state file: the next start finds nothing to recover.
    assert!(!sup.dir.join("ctl.sock.state").exists());
}

/// With cgroups: the dead sup's subtree is found from the state file, thawed, emptied
/// and removed.
#[test]
fn leftovers_in_cgroups_are_stopped_before_units_start() {
    require_root!();
    recover("recover-cg", &[], true);
}

/// Without cgroups (no hierarchy at the cgroup root): the units' process groups are on
/// record instead.
#[test]
fn leftovers_in_process_groups_are_stopped_before_units_start() {
    let dir = unique_dir("nocg");
    recover(
        "recover-pg",
        &[(OsStr::new("SUP_CGROUP_ROOT"), dir.as_os_str())],
        false,
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A leftover that ignores SIGTERM gets SIGKILL after `--grace`; until the leftovers are
/// gone, `supctl start` is refused (busy, exit 4) rather than starting a duplicate.
#[test]
fn stubborn_leftovers_are_killed_after_grace_and_starts_wait() {
    let mut sup = Sup::prepare("recover-stubborn");
    sup.write_unit(
        "stubborn",
        "stop: {timeout: 1s}\nexec: [\"sh\", \"-c\", \"trap '' TERM; while :; do sleep 0.05; done\"]\n",
    );
    let grace = [(OsStr::new("SUP_GRACE"), OsStr::new("2s"))];
    sup.launch_with_env(&grace);
    let old = sup.wait_state("stubborn", "running")["pid"]
        .as_i64()
        .unwrap() as i32;
    sup.kill9();
    assert!(!is_gone(old));
    sup.launch_with_env(&grace);
    let (code, _, err) = sup.supctl(&["start", "stubborn"]);
    assert_eq!(code, 4, "start during recovery: {err}");
    assert!(err.contains("crash recovery"), "{err}");
    let st = sup.wait_state("stubborn", "running");
    assert!(is_gone(old), "the stubborn leftover survived");
    assert_ne!(st["pid"].as_i64().unwrap() as i32, old);
    assert!(sup
        .stderr_log()
        .contains("did not stop on SIGTERM: SIGKILL"));
}
