//! Pure tests of the engine's isolation inputs: OOM marks the next exit, pause/resume.

use std::time::Duration;

use super::tests::spec;
use super::*;
use crate::proc::sig;
use crate::unit::RestartPolicy;

const U0: UnitId = UnitId::from_index(0);

fn t(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// One running unit with pid 100.
fn running(policy: RestartPolicy) -> Engine {
    let mut s = spec("a");
    s.restart.policy = policy;
    let mut e = Engine::new(vec![s], vec![], |_| None, 1);
    let fx = e.handle(Input::StartEnabled, t(0));
    assert!(fx.contains(&Effect::Spawn {
        unit: U0,
        role: Role::Main
    }));
    e.handle(
        Input::Spawned {
            unit: U0,
            role: Role::Main,
            pid: Pid::from_raw(100),
        },
        t(1),
    );
    assert_eq!(e.unit(U0).state, State::Running);
    e
}

#[test]
fn oom_then_exit_fails_with_reason_oom() {
    let mut e = running(RestartPolicy::Never);
    e.handle(Input::Oom(U0), t(2));
    e.handle(
        Input::Exited {
            pid: Pid::from_raw(100),
            exit: Exit::Signal(sig::KILL),
        },
        t(3),
    );
    assert_eq!(e.unit(U0).state, State::Failed);
    assert_eq!(e.unit(U0).reason, Some(Reason::Oom));
}

#[test]
fn oom_counts_as_failure_for_the_restart_policy_even_with_exit_0() {
    let mut e = running(RestartPolicy::OnFailure);
    e.handle(Input::Oom(U0), t(2));
    e.handle(
        Input::Exited {
            pid: Pid::from_raw(100),
            exit: Exit::Code(0),
        },
        t(3),
    );
    assert_eq!(e.unit(U0).state, State::Backoff);
    assert_eq!(e.unit(U0).reason, Some(Reason::Oom));
}

#[test]
fn oom_mark_does_not_outlive_the_run() {
    let mut e = running(RestartPolicy::Always);
    e.handle(Input::Oom(U0), t(2));
    e.handle(
        Input::Exited {
            pid: Pid::from_raw(100),
            exit: Exit::Signal(sig::KILL),
        },
        t(3),
    );
    e.handle(Input::Tick, t(1000));
    e.handle(
        Input::Spawned {
            unit: U0,
            role: Role::Main,
            pid: Pid::from_raw(101),
        },
        t(1001),
    );
    e.handle(
        Input::Exited {
            pid: Pid::from_raw(101),
            exit: Exit::Code(3),
        },
        t(1002),
    );
    assert_eq!(e.unit(U0).reason, Some(Reason::ExitCode));
}

#[test]
fn pause_resume_and_stop_while_paused() {
    let mut e = running(RestartPolicy::Never);
    e.handle(Input::Pause(U0), t(2));
    assert_eq!(e.unit(U0).state, State::Paused);
    e.handle(Input::Pause(U0), t(3));
    assert_eq!(e.unit(U0).state, State::Paused);
    e.handle(Input::Resume(U0), t(4));
    assert_eq!(e.unit(U0).state, State::Running);
    e.handle(Input::Pause(U0), t(5));
    let fx = e.handle(Input::Stop(U0), t(6));
    assert_eq!(e.unit(U0).state, State::Stopping);
    assert!(fx.contains(&Effect::Event {
        unit: U0,
        event: EventKind::State {
            from: State::Paused,
            to: State::Stopping
        }
    }));
    assert!(fx.contains(&Effect::Signal {
        pid: Pid::from_raw(100),
        signal: sig::TERM
    }));
}

#[test]
fn resume_of_a_running_unit_changes_nothing() {
    let mut e = running(RestartPolicy::Never);
    let fx = e.handle(Input::Resume(U0), t(2));
    assert!(fx.is_empty());
    assert_eq!(e.unit(U0).state, State::Running);
}
