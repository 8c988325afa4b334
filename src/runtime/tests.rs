//! The real runtime driven on the fake platform (`platform::fake`): what it asks of the
//! OS over a unit's life — spawn, reap, restart, stop — with no process involved.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;
use crate::platform::fake::{Call, FakePlatform};
use crate::proc::{Exit, UnitId};

/// The only unit of these runtimes.
const U0: UnitId = UnitId::from_index(0);

/// A runtime over `units` (name, YAML) in a directory of its own, on the fake platform.
pub(super) fn runtime(units: &[(&str, &str)]) -> (Runtime<FakePlatform>, PathBuf) {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sup-rt-fake-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("units")).unwrap();
    for (name, yaml) in units {
        std::fs::write(dir.join("units").join(format!("{name}.yaml")), yaml).unwrap();
    }
    let config = Config {
        units_dir: dir.join("units"),
        socket: dir.join("s.sock"),
        log_dir: dir.join("log"),
        control_gid: None,
        main: None,
        grace: Duration::from_secs(1),
        handover: None,
        metrics_listen: None,
    };
    let life = init::Life::prepare(&config);
    let rt =
        Runtime::<FakePlatform>::new(config, life, None).expect("runtime on the fake platform");
    (rt, dir)
}

/// Feeds the timer while a deadline is due (the loop would).
pub(super) fn run_timers(rt: &mut Runtime<FakePlatform>) {
    while rt.engine.next_deadline().is_some_and(|at| at <= rt.now()) {
        rt.feed(Input::Tick);
    }
}

/// The spec of a unit named `app` from its file text.
pub(super) fn spec(text: &str) -> crate::unit::UnitSpec {
    let name = crate::unit::UnitName::new("app").unwrap();
    match crate::unit::parse::parse_file(std::path::Path::new("app.yaml"), &name, text) {
        Ok(crate::unit::parse::Parsed::Unit(spec)) => *spec,
        other => panic!("not a unit: {other:?}"),
    }
}

/// The last process started ends (SIGTERM) as the platform would report it, and the
/// timers due run (a restart, say).
pub(super) fn last_process_ends(rt: &mut Runtime<FakePlatform>) {
    let pid = rt.platform.last_pid();
    rt.platform
        .exits
        .push((pid, Exit::Signal(crate::proc::sig::TERM)));
    rt.on_signals();
    run_timers(rt);
}

pub(super) fn spawns(rt: &Runtime<FakePlatform>) -> usize {
    rt.platform
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Spawn(_)))
        .count()
}

#[test]
fn a_unit_is_spawned_restarted_after_its_exit_and_stopped() {
    let (mut rt, dir) = runtime(&[(
        "web",
        "exec: [web, --port, '80']\nrestart: {policy: always, delay: 0s}\nstop: {signal: SIGINT}\n",
    )]);
    rt.feed(Input::StartEnabled);
    assert_eq!(
        rt.platform.calls,
        [Call::Spawn(vec![
            "web".into(),
            "--port".into(),
            "80".into()
        ])]
    );
    let first = rt.platform.last_pid();
    assert_eq!(rt.engine.unit(U0).pid, Some(first));
    assert_eq!(rt.engine.unit(U0).state.as_str(), "running");

    // It dies: the platform's event source says a child ended, the runtime reaps it and
    // the engine restarts it (no delay).
    rt.platform.exits.push((first, Exit::Code(3)));
    rt.on_signals();
    run_timers(&mut rt);
    assert_eq!(spawns(&rt), 2, "{:?}", rt.platform.calls);
    let second = rt.platform.last_pid();
    assert_ne!(second, first);
    assert_eq!(rt.engine.unit(U0).pid, Some(second));
    assert_eq!(rt.engine.unit(U0).restarts, 1);

    // Stopping asks the platform for the unit's stop signal, as a neutral intent.
    rt.feed(Input::StopAll);
    assert!(
        rt.platform.calls.iter().any(
            |c| matches!(c, Call::Signal(p, s) if *p == second && *s == crate::proc::sig::INT)
                || matches!(c, Call::KillUnit(p, s) if *p == second && *s == crate::proc::sig::INT)
        ),
        "{:?}",
        rt.platform.calls
    );
    rt.platform
        .exits
        .push((second, Exit::Signal(crate::proc::sig::INT)));
    rt.on_signals();
    assert_eq!(rt.engine.unit(U0).state.as_str(), "stopped");
    assert!(rt.engine.all_down());
    assert_eq!(spawns(&rt), 2, "no restart after a stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_spawn_fails_the_unit_with_the_platforms_message() {
    let (mut rt, dir) = runtime(&[("job", "exec: [missing]\n")]);
    rt.platform.fail_spawn = Some("exec missing: No such file or directory".into());
    rt.feed(Input::StartEnabled);
    let u = rt.engine.unit(U0);
    assert_eq!(u.state.as_str(), "failed");
    assert_eq!(
        u.message.as_deref(),
        Some("exec missing: No such file or directory")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unit_asking_for_limits_without_groups_never_reaches_the_platform() {
    let (mut rt, dir) = runtime(&[("big", "exec: [big]\nresources: {memory_max: 64M}\n")]);
    rt.feed(Input::StartEnabled);
    let u = rt.engine.unit(U0);
    assert_eq!(u.state.as_str(), "failed");
    assert!(
        u.message
            .as_deref()
            .is_some_and(|m| m.contains("resources")),
        "{:?}",
        u.message
    );
    assert_eq!(spawns(&rt), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
