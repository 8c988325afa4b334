//! Dependencies on pools: a unit that requires or is ordered after `NAME` waits for
//! `min_ready` (default all) of its instances, and stops only when fewer than `min_ready`
//! (default 1) of them stay up; restarting instances leaves it running.

use super::*;

/// Instances `web@1..=n` (ready by `Input::Ready`, so readiness is the test's to give)
/// and a `client` that requires `web`.
fn pool(n: u32, min_ready: Option<u32>) -> Sim {
    let mut t = spec("web");
    t.ready = Ready::Log("^up$".into());
    t.pooled = true;
    t.instances = n;
    t.min_ready = min_ready;
    let mut specs: Vec<UnitSpec> = crate::unit::pool::expand(&t, n).collect();
    let mut c = spec("client");
    c.requires = names(&["web"]);
    specs.push(c);
    Sim::new(specs)
}

fn ready(s: &mut Sim, name: &str) {
    let id = s.id(name);
    s.feed(Input::Ready(id));
}

#[test]
fn a_dependent_waits_for_all_instances_by_default() {
    let mut s = pool(3, None);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("client"), State::Waiting);
    ready(&mut s, "web@1");
    ready(&mut s, "web@3");
    assert_eq!(s.state("client"), State::Waiting);
    ready(&mut s, "web@2");
    assert_eq!(s.state("client"), State::Running);
}

#[test]
fn a_dependent_waits_for_min_ready_instances() {
    let mut s = pool(3, Some(2));
    s.feed(Input::StartEnabled);
    ready(&mut s, "web@2");
    assert_eq!(s.state("client"), State::Waiting);
    ready(&mut s, "web@3");
    assert_eq!(s.state("client"), State::Running);
    assert_eq!(s.state("web@1"), State::Starting);
}

#[test]
fn stopping_instances_stops_the_dependent_only_below_min_ready() {
    let mut s = pool(3, Some(2));
    s.feed(Input::StartEnabled);
    for n in ["web@1", "web@2", "web@3"] {
        ready(&mut s, n);
    }
    assert_eq!(s.state("client"), State::Running);
    // One stopped: two are up, the client runs on.
    s.feed(Input::Stop(s.id("web@1")));
    s.exit("web@1", Exit::Signal(sig::TERM));
    assert_eq!(s.state("web@1"), State::Stopped);
    assert_eq!(s.state("client"), State::Running);
    // A second: one left, below min_ready 2: the client stops first (reason dependency).
    s.feed(Input::Stop(s.id("web@2")));
    assert_eq!(s.state("client"), State::Stopping);
    assert_eq!(
        s.state("web@2"),
        State::Running,
        "waits for the client to stop"
    );
    s.exit("client", Exit::Signal(sig::TERM));
    assert_eq!(s.e.unit(s.id("client")).reason, Some(Reason::Dependency));
    assert_eq!(s.state("web@2"), State::Stopping);
}

#[test]
fn stopping_the_whole_pool_stops_the_dependent_first() {
    let mut s = pool(3, None);
    s.feed(Input::StartEnabled);
    for n in ["web@1", "web@2", "web@3"] {
        ready(&mut s, n);
    }
    let all = vec![s.id("web@1"), s.id("web@2"), s.id("web@3")];
    s.feed(Input::StopUnits(all));
    assert_eq!(s.state("client"), State::Stopping);
    for n in ["web@1", "web@2", "web@3"] {
        assert_eq!(s.state(n), State::Running, "{n} waits for the client");
    }
    s.exit("client", Exit::Signal(sig::TERM));
    for n in ["web@1", "web@2", "web@3"] {
        assert_eq!(s.state(n), State::Stopping);
    }
}

#[test]
fn restarting_instances_leaves_the_dependent_running() {
    let mut s = pool(2, None);
    s.feed(Input::StartEnabled);
    ready(&mut s, "web@1");
    ready(&mut s, "web@2");
    let client = s.pid("client");
    s.feed(Input::Restart(s.id("web@1")));
    s.feed(Input::Restart(s.id("web@2")));
    s.exit("web@1", Exit::Signal(sig::TERM));
    s.exit("web@2", Exit::Signal(sig::TERM));
    assert_eq!(s.state("web@1"), State::Starting);
    assert_eq!(s.state("client"), State::Running);
    assert_eq!(s.pid("client"), client);
}

#[test]
fn a_pool_with_every_instance_failed_fails_a_waiting_dependent() {
    let mut s = pool(2, None);
    let c = s.id("client");
    s.feed(Input::Start(s.id("web@1")));
    s.feed(Input::Start(s.id("web@2")));
    s.feed(Input::Stop(s.id("web@1")));
    s.feed(Input::Stop(s.id("web@2")));
    s.exit("web@1", Exit::Signal(sig::TERM));
    s.exit("web@2", Exit::Signal(sig::TERM));
    // Started on its own, the client starts the pool again (requires).
    s.feed(Input::Start(c));
    assert_eq!(s.state("web@1"), State::Starting);
    assert_eq!(s.state("client"), State::Waiting);
    // Both fail to start: nothing is up, the client fails naming the pool.
    for n in ["web@1", "web@2"] {
        let id = s.id(n);
        s.feed(Input::Internal {
            unit: id,
            message: "test".into(),
        });
    }
    assert_eq!(s.state("client"), State::Failed);
    let msg = s.e.unit(c).message.clone().unwrap();
    assert_eq!(msg, "required pool web has 0 of 2 instances up (needs 1)");
}
