//! Pure tests of readiness (`Input::Ready`), unhealthiness (`Input::Unhealthy`),
//! `MAINPID=` (`Input::MainPid`) and the start timeout of services.

use super::*;
use crate::proc::sig;

fn notify(name: &str) -> UnitSpec {
    let mut s = spec(name);
    s.ready = Ready::Notify;
    s
}

#[test]
fn a_unit_not_ready_stays_starting_and_its_dependents_wait() {
    let mut app = spec("app");
    app.requires = names(&["db"]);
    let mut s = Sim::new(vec![app, notify("db")]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("db"), State::Starting);
    assert_eq!(s.state("app"), State::Waiting);
    assert_eq!(s.spawned, ["db"]);
    s.now += ms(500);
    s.feed(Input::Ready(s.id("db")));
    assert_eq!(s.state("db"), State::Running);
    assert_eq!(s.spawned, ["db", "app"]);
    assert_eq!(s.state("app"), State::Running);
    // The start timeout is over once ready.
    assert_eq!(s.e.next_deadline(), None);
}

#[test]
fn ready_is_ignored_unless_starting() {
    let mut s = Sim::new(vec![notify("db"), spec("web")]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Ready(s.id("web")));
    assert_eq!(s.state("web"), State::Running);
    s.feed(Input::Ready(s.id("db")));
    s.feed(Input::Ready(s.id("db")));
    assert_eq!(s.state("db"), State::Running);
    s.feed(Input::Stop(s.id("db")));
    s.exit("db", Exit::Signal(sig::TERM));
    s.feed(Input::Ready(s.id("db")));
    assert_eq!(s.state("db"), State::Stopped);
}

#[test]
fn ready_event_precedes_running() {
    let mut s = Sim::new(vec![notify("db")]);
    s.feed(Input::StartEnabled);
    let fx = s.e.handle(Input::Ready(s.id("db")), s.now);
    let events: Vec<&EventKind> = fx
        .iter()
        .filter_map(|f| match f {
            Effect::Event { event, .. } => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            &EventKind::Ready,
            &EventKind::State {
                from: State::Starting,
                to: State::Running
            }
        ]
    );
}

#[test]
fn service_start_timeout_stops_then_restarts_with_reason_timeout() {
    let mut db = notify("db");
    db.start_timeout = Duration::from_secs(5);
    let mut s = Sim::new(vec![db]);
    s.feed(Input::StartEnabled);
    let pid = s.pid("db");
    assert_eq!(s.advance(), Duration::from_secs(5));
    assert_eq!(s.state("db"), State::Stopping);
    assert_eq!(
        s.actions.last(),
        Some(&Effect::Signal {
            pid,
            signal: sig::TERM
        })
    );
    s.exit("db", Exit::Signal(sig::TERM));
    assert_eq!(s.state("db"), State::Backoff);
    let u = s.e.unit(s.id("db"));
    assert_eq!(u.reason, Some(Reason::Timeout));
    assert_eq!(u.message.as_deref(), Some("not ready within 5s"));
    s.advance();
    assert_eq!(s.state("db"), State::Starting);
}

#[test]
fn service_start_timeout_with_restart_never_fails() {
    let mut db = notify("db");
    db.start_timeout = Duration::from_secs(2);
    db.restart.policy = RestartPolicy::Never;
    let mut s = Sim::new(vec![db]);
    s.feed(Input::StartEnabled);
    s.advance();
    s.exit("db", Exit::Signal(sig::TERM));
    assert_eq!(s.state("db"), State::Failed);
    assert_eq!(s.e.unit(s.id("db")).reason, Some(Reason::Timeout));
}

#[test]
fn unhealthy_restarts_through_backoff_with_reason_unhealthy() {
    let mut s = Sim::new(vec![spec("web")]);
    s.feed(Input::StartEnabled);
    let id = s.id("web");
    let mut delays = vec![];
    for _ in 0..3 {
        let pid = s.pid("web");
        s.feed(Input::Unhealthy {
            unit: id,
            message: "http: HTTP status 500".into(),
        });
        assert_eq!(s.state("web"), State::Stopping);
        assert_eq!(
            s.actions.last(),
            Some(&Effect::Signal {
                pid,
                signal: sig::TERM
            })
        );
        s.exit("web", Exit::Signal(sig::TERM));
        assert_eq!(s.state("web"), State::Backoff);
        let u = s.e.unit(id);
        assert_eq!(u.reason, Some(Reason::Unhealthy));
        assert_eq!(u.message.as_deref(), Some("http: HTTP status 500"));
        delays.push(s.advance());
        assert_eq!(s.state("web"), State::Running);
    }
    assert!(delays[0] < delays[1] && delays[1] < delays[2], "{delays:?}");
    assert_eq!(s.e.unit(id).restarts, 3);
}

#[test]
fn unhealthy_counts_toward_the_start_limit() {
    let mut w = spec("web");
    w.restart.limit_burst = 2;
    w.restart.delay = Duration::ZERO;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    let id = s.id("web");
    for _ in 0..2 {
        s.feed(Input::Unhealthy {
            unit: id,
            message: "x".into(),
        });
        s.exit("web", Exit::Signal(sig::TERM));
    }
    assert_eq!(s.state("web"), State::Failed);
    assert_eq!(s.e.unit(id).reason, Some(Reason::StartLimit));
}

#[test]
fn unhealthy_with_restart_never_fails_with_reason_unhealthy() {
    let mut w = spec("web");
    w.restart.policy = RestartPolicy::Never;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Unhealthy {
        unit: s.id("web"),
        message: "m".into(),
    });
    s.exit("web", Exit::Code(0));
    assert_eq!(s.state("web"), State::Failed);
    assert_eq!(s.e.unit(s.id("web")).reason, Some(Reason::Unhealthy));
}

#[test]
fn on_unhealthy_stop_and_ignore() {
    let mut a = spec("a");
    a.on_unhealthy = OnUnhealthy::Stop;
    let mut b = spec("b");
    b.on_unhealthy = OnUnhealthy::Ignore;
    let mut s = Sim::new(vec![a, b]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Unhealthy {
        unit: s.id("a"),
        message: "m".into(),
    });
    s.feed(Input::Unhealthy {
        unit: s.id("b"),
        message: "m".into(),
    });
    assert_eq!(s.state("a"), State::Stopping);
    assert_eq!(s.state("b"), State::Running);
    s.exit("a", Exit::Signal(sig::TERM));
    assert_eq!(s.state("a"), State::Stopped);
    assert_eq!(s.e.unit(s.id("a")).reason, Some(Reason::Unhealthy));
}

#[test]
fn unhealthy_is_ignored_when_not_running() {
    let mut s = Sim::new(vec![spec("web")]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Stop(s.id("web")));
    s.feed(Input::Unhealthy {
        unit: s.id("web"),
        message: "m".into(),
    });
    s.exit("web", Exit::Signal(sig::TERM));
    assert_eq!(s.state("web"), State::Stopped);
    assert_eq!(s.e.unit(s.id("web")).reason, None);
}

#[test]
fn main_pid_moves_the_main_process_and_keeps_the_group() {
    let mut s = Sim::new(vec![notify("d")]);
    s.feed(Input::StartEnabled);
    let id = s.id("d");
    let first = s.pid("d");
    s.feed(Input::MainPid {
        unit: id,
        pid: Pid::from_raw(4242),
    });
    assert_eq!(s.pid("d"), Pid::from_raw(4242));
    // The launcher exiting is not the end of the run.
    s.feed(Input::Exited {
        pid: first,
        exit: Exit::Code(0),
    });
    assert_eq!(s.state("d"), State::Starting);
    s.feed(Input::Ready(id));
    assert_eq!(s.state("d"), State::Running);
    s.feed(Input::Exited {
        pid: Pid::from_raw(4242),
        exit: Exit::Code(1),
    });
    assert_eq!(s.state("d"), State::Backoff);
    assert!(s.actions.contains(&Effect::KillUnit {
        unit: id,
        pgid: first
    }));
}
