//! The debounce on a fake clock, and the runtime's watch glue on the fake platform.

use std::path::PathBuf;
use std::time::Duration;

use super::Debounce;
use crate::engine::Input;
use crate::platform::fake::Call;
use crate::platform::watch::{FileEvent, WatchError};
use crate::proc::{Exit, UnitId};
use crate::runtime::tests::{last_process_ends, run_timers, runtime, spawns, spec};

const U0: UnitId = UnitId::from_index(0);
const U1: UnitId = UnitId::from_index(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_change_is_due_one_debounce_after_the_last_change_with_the_last_path() {
    let mut d = Debounce::default();
    assert_eq!(d.next_deadline(), None, "no deadline while nothing changed");
    d.change(U0, "/a/x.tmp".into(), ms(1000), ms(500));
    assert_eq!(d.next_deadline(), Some(ms(1500)));
    d.change(U0, "/a/x".into(), ms(1200), ms(500));
    assert_eq!(d.next_deadline(), Some(ms(1700)));
    assert!(d.take_due(ms(1699)).is_empty());
    assert_eq!(d.take_due(ms(1700)), [(U0, PathBuf::from("/a/x"))]);
    assert_eq!(d.next_deadline(), None, "a restart consumes the change");
    assert!(d.take_due(ms(5000)).is_empty());
}

#[test]
fn changes_that_never_stop_are_due_ten_debounces_after_the_first() {
    let mut d = Debounce::default();
    for t in (0..=2000).step_by(100) {
        d.change(U0, format!("/a/{t}").into(), ms(t), ms(200));
    }
    assert_eq!(d.next_deadline(), Some(ms(2000)));
    assert_eq!(d.take_due(ms(2000)), [(U0, PathBuf::from("/a/2000"))]);
}

#[test]
fn units_are_due_on_their_own_and_forgetting_drops_a_change() {
    let mut d = Debounce::default();
    d.change(U1, "/b".into(), ms(0), ms(100));
    d.change(U0, "/a".into(), ms(50), ms(100));
    assert_eq!(d.take_due(ms(100)), [(U1, PathBuf::from("/b"))]);
    d.change(U1, "/b".into(), ms(120), ms(0));
    assert_eq!(
        d.take_due(ms(150)),
        [(U0, PathBuf::from("/a")), (U1, PathBuf::from("/b"))]
    );
    d.change(U0, "/a".into(), ms(200), ms(100));
    d.forget(U0);
    assert_eq!(d.next_deadline(), None);
}

const WATCHED: &str = "exec: [app]\nwatch: {paths: [/srv/conf], debounce: 0s}\n";

#[test]
fn a_change_restarts_a_running_unit_through_the_normal_restart() {
    let (mut rt, dir) = runtime(&[("app", WATCHED)]);
    assert!(
        rt.platform.watched.is_empty(),
        "nothing watched before it starts"
    );
    rt.feed(Input::StartEnabled);
    assert_eq!(rt.platform.watched[&U0], [PathBuf::from("/srv/conf")]);
    let first = rt.platform.last_pid();
    assert_eq!(rt.watch_deadline(), None);

    rt.platform.file_changes.push(FileEvent::Changed {
        unit: U0,
        path: "/srv/conf/a.yaml".into(),
    });
    rt.on_file_events();
    assert!(
        rt.watch_deadline().is_some(),
        "a deadline while a change waits"
    );
    rt.watch_tick();
    assert_eq!(rt.watch_deadline(), None);
    assert!(
        rt.platform
            .calls
            .contains(&Call::Signal(first, crate::proc::sig::TERM))
            || rt
                .platform
                .calls
                .contains(&Call::KillUnit(first, crate::proc::sig::TERM)),
        "{:?}",
        rt.platform.calls
    );
    rt.platform
        .exits
        .push((first, Exit::Signal(crate::proc::sig::TERM)));
    rt.on_signals();
    run_timers(&mut rt);
    assert_eq!(spawns(&rt), 2, "{:?}", rt.platform.calls);
    let u = rt.engine.unit(U0);
    assert_eq!(u.state.as_str(), "running");
    assert_eq!(u.restarts, 0, "a watch restart is asked for, not a failure");
    assert!(rt.platform.watched.contains_key(&U0), "still watched");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unit_at_rest_watches_nothing_and_a_change_does_not_start_it() {
    let (mut rt, dir) = runtime(&[("app", WATCHED)]);
    rt.feed(Input::StartEnabled);
    let pid = rt.platform.last_pid();
    rt.feed(Input::Stop(U0));
    rt.platform
        .exits
        .push((pid, Exit::Signal(crate::proc::sig::TERM)));
    rt.on_signals();
    assert_eq!(rt.engine.unit(U0).state.as_str(), "stopped");
    assert!(rt.platform.watched.is_empty());
    // A change reported late (read in the same turn as the exit) is dropped too.
    rt.platform.file_changes.push(FileEvent::Changed {
        unit: U0,
        path: "/srv/conf/a".into(),
    });
    rt.on_file_events();
    rt.watch_tick();
    assert_eq!(rt.watch_deadline(), None);
    assert_eq!(spawns(&rt), 1);
    assert_eq!(rt.engine.unit(U0).state.as_str(), "stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_path_that_cannot_be_watched_fails_the_unit_naming_it() {
    let (mut rt, dir) = runtime(&[("app", WATCHED)]);
    rt.platform.refuse_watch = true;
    rt.feed(Input::StartEnabled);
    let u = rt.engine.unit(U0);
    assert_eq!(u.state.as_str(), "failed");
    let message = u.message.as_deref().unwrap_or_default();
    assert!(message.contains("/srv/conf"), "{message}");
    assert_eq!(spawns(&rt), 0, "no process without its watch");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watch_the_platform_dropped_is_set_up_again_by_a_restart() {
    let (mut rt, dir) = runtime(&[("app", WATCHED)]);
    rt.feed(Input::StartEnabled);
    let first = rt.platform.last_pid();
    rt.platform.watched.clear();
    rt.platform.file_changes.push(FileEvent::Failed {
        unit: U0,
        error: WatchError::TooMany {
            path: "/srv/conf".into(),
            limit: 8192,
        },
    });
    rt.on_file_events();
    rt.watch_tick();
    rt.platform
        .exits
        .push((first, Exit::Signal(crate::proc::sig::TERM)));
    rt.on_signals();
    run_timers(&mut rt);
    assert_eq!(spawns(&rt), 2, "{:?}", rt.platform.calls);
    assert!(rt.platform.watched.contains_key(&U0), "watched again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_definition_is_watched_from_its_next_start() {
    let (mut rt, dir) = runtime(&[("app", WATCHED)]);
    rt.feed(Input::StartEnabled);
    // A reload gives the unit new paths and restarts it.
    let now = rt.now();
    let _ = rt.engine.set_spec(
        U0,
        spec("exec: [app]\nwatch: {paths: [/srv/other]}\n"),
        None,
        now,
    );
    rt.feed(Input::Restart(U0));
    last_process_ends(&mut rt);
    assert_eq!(spawns(&rt), 2);
    assert_eq!(rt.platform.watched[&U0], [PathBuf::from("/srv/other")]);
    // And without `watch` any more: nothing is watched.
    let now = rt.now();
    let _ = rt.engine.set_spec(U0, spec("exec: [app]\n"), None, now);
    rt.feed(Input::Restart(U0));
    last_process_ends(&mut rt);
    assert_eq!(spawns(&rt), 3);
    assert!(rt.platform.watched.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
