//! Pure tests of the engine: every transition driven by inputs and a fake clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::*;
use crate::platform::fake::{Call, FakePlatform};
use crate::platform::{Platform, SpawnSpec};
use crate::proc::sig;
use crate::unit::*;

mod health;
mod pools;
mod prop;

pub(crate) fn spec(name: &str) -> UnitSpec {
    UnitSpec {
        name: UnitName::new(name).unwrap(),
        path: format!("/test/{name}.yaml").into(),
        description: None,
        exec: vec!["/bin/true".into()],
        kind: UnitType::Simple,
        enabled: true,
        working_dir: None,
        env: BTreeMap::new(),
        env_file: vec![],
        user: None,
        group: None,
        umask: None,
        restart: RestartSpec {
            policy: RestartPolicy::OnFailure,
            delay: ms(100),
            max_delay: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
            limit_burst: 5,
            limit_interval: Duration::from_secs(60),
        },
        stop: StopSpec {
            signal: sig::TERM,
            timeout: Duration::from_secs(10),
            exec: None,
        },
        start_timeout: Duration::from_secs(90),
        watchdog: None,
        requires: vec![],
        wants: vec![],
        after: vec![],
        before: vec![],
        conflicts: vec![],
        ready: Ready::Started,
        health: vec![],
        on_unhealthy: OnUnhealthy::Restart,
        on_failure: vec![],
        resources: Resources::default(),
        slice: None,
        namespaces: vec![],
        hostname: None,
        root: None,
        private_tmp: false,
        capabilities: None,
        no_new_privileges: false,
        rlimits: vec![],
        log: LogSpec {
            target: LogTarget::Default,
            max_size: 10 << 20,
            keep: 5,
            timestamps: true,
        },
        instances: 1,
        pooled: false,
        instance: None,
        min_ready: None,
        resources_total: None,
        scale: None,
        watch: None,
        sockets: Vec::new(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn names(list: &[&str]) -> Vec<UnitName> {
    list.iter().map(|n| UnitName::new(n).unwrap()).collect()
}

/// The engine driven through the fake platform: spawns succeed with increasing pids
/// (or all fail), signals and kills are recorded.
struct Sim {
    e: Engine,
    p: FakePlatform,
    now: Duration,
    /// Every effect other than events and spawns, in order.
    actions: Vec<Effect>,
    /// Units spawned (main role), in order.
    spawned: Vec<String>,
}

impl Sim {
    fn new(specs: Vec<UnitSpec>) -> Sim {
        Sim {
            e: Engine::new(specs, vec![], |_| None, 7),
            p: FakePlatform::new(),
            now: Duration::ZERO,
            actions: vec![],
            spawned: vec![],
        }
    }

    fn feed(&mut self, input: Input) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            for fx in self.e.handle(input, self.now) {
                match fx {
                    Effect::Spawn { unit, role } => {
                        let exec = &self.e.unit(unit).spec.as_ref().unwrap().exec;
                        match self.p.spawn(&SpawnSpec {
                            argv: exec.iter().map(Into::into).collect(),
                            ..SpawnSpec::default()
                        }) {
                            Ok(child) => {
                                if role == Role::Main {
                                    self.spawned.push(self.e.unit(unit).name.to_string());
                                }
                                queue.push_back(Input::Spawned {
                                    unit,
                                    role,
                                    pid: child.pid,
                                });
                            }
                            Err(message) => queue.push_back(Input::SpawnFailed {
                                unit,
                                role,
                                message,
                            }),
                        }
                    }
                    Effect::Event { .. } => {}
                    other => {
                        match &other {
                            Effect::Signal { pid, signal } => {
                                self.p.signal(*pid, crate::proc::Stop::from_signal(*signal))
                            }
                            Effect::KillUnit { pgid, .. } => {
                                self.p.kill_unit(*pgid, crate::proc::Stop::Kill)
                            }
                            _ => {}
                        }
                        self.actions.push(other);
                    }
                }
            }
        }
    }

    fn id(&self, name: &str) -> UnitId {
        self.e.lookup(name).unwrap()
    }

    fn state(&self, name: &str) -> State {
        self.e.unit(self.id(name)).state
    }

    fn pid(&self, name: &str) -> Pid {
        self.e.unit(self.id(name)).pid.expect("unit has a pid")
    }

    fn exit(&mut self, name: &str, exit: Exit) {
        let pid = self.pid(name);
        self.feed(Input::Exited { pid, exit });
    }

    /// Advances the fake clock to the next deadline and ticks.
    fn advance(&mut self) -> Duration {
        let at = self.e.next_deadline().expect("a timer is pending");
        let step = at - self.now;
        self.now = at;
        self.feed(Input::Tick);
        step
    }
}

#[test]
fn simple_unit_runs_once_spawned() {
    let mut s = Sim::new(vec![spec("web")]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("web"), State::Running);
    assert_eq!(s.spawned, ["web"]);
}

#[test]
fn disabled_unit_stays_inactive_until_started() {
    let mut w = spec("web");
    w.enabled = false;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("web"), State::Inactive);
    s.feed(Input::Start(s.id("web")));
    assert_eq!(s.state("web"), State::Running);
}

#[test]
fn dependencies_start_in_order_and_wait_for_oneshots() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut b = spec("b");
    b.after = names(&["c"]);
    b.enabled = false;
    let mut c = spec("c");
    c.kind = UnitType::Oneshot;
    let mut s = Sim::new(vec![a, b, c]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.spawned, ["c"]);
    assert_eq!(s.state("a"), State::Waiting);
    assert_eq!(s.state("b"), State::Waiting);
    assert_eq!(s.state("c"), State::Starting);
    s.exit("c", Exit::Code(0));
    assert_eq!(s.state("c"), State::Done);
    assert_eq!(s.spawned, ["c", "b", "a"]);
    assert_eq!(s.state("a"), State::Running);
}

#[test]
fn before_orders_like_after() {
    let mut x = spec("x");
    x.before = names(&["y"]);
    x.kind = UnitType::Oneshot;
    let s_y = spec("y");
    let mut s = Sim::new(vec![s_y, x]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.spawned, ["x"]);
    s.exit("x", Exit::Code(0));
    assert_eq!(s.spawned, ["x", "y"]);
}

#[test]
fn independent_units_start_together() {
    let specs = (0..50).map(|i| spec(&format!("u{i}"))).collect();
    let mut s = Sim::new(specs);
    s.feed(Input::StartEnabled);
    assert_eq!(s.spawned.len(), 50);
}

#[test]
fn crash_restarts_with_doubling_jittered_delay() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    let mut delays = vec![];
    for _ in 0..4 {
        s.exit("w", Exit::Code(3));
        assert_eq!(s.state("w"), State::Backoff);
        let u = s.e.unit(s.id("w"));
        assert_eq!(u.reason, Some(Reason::ExitCode));
        assert_eq!(u.exit, Some(Exit::Code(3)));
        delays.push(s.advance());
        assert_eq!(s.state("w"), State::Running);
    }
    for (n, d) in delays.iter().enumerate() {
        let base = 100.0 * f64::from(1u32 << n);
        let got = d.as_secs_f64() * 1000.0;
        assert!(
            got >= base * 0.9 - 0.001 && got <= base * 1.1 + 0.001,
            "delay {n}: {got}ms vs {base}ms"
        );
    }
    assert_eq!(s.e.unit(s.id("w")).restarts, 4);
}

#[test]
fn delay_is_capped_at_max_delay() {
    let mut w = spec("w");
    w.restart.max_delay = ms(300);
    w.restart.limit_burst = 100;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    let mut last = Duration::ZERO;
    for _ in 0..8 {
        s.exit("w", Exit::Signal(sig::KILL));
        last = s.advance();
    }
    assert!(last <= ms(330) && last >= ms(270), "{last:?}");
}

#[test]
fn zero_delay_restarts_in_the_same_step() {
    let mut w = spec("w");
    w.restart.delay = Duration::ZERO;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Signal(sig::KILL));
    assert_eq!(s.state("w"), State::Running);
    assert_eq!(s.spawned.len(), 2);
}

#[test]
fn start_limit_fails_the_unit() {
    let mut w = spec("w");
    w.restart.policy = RestartPolicy::Always;
    w.restart.delay = Duration::ZERO;
    w.restart.limit_burst = 3;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    for _ in 0..3 {
        s.exit("w", Exit::Code(1));
    }
    assert_eq!(s.state("w"), State::Failed);
    assert_eq!(s.e.unit(s.id("w")).reason, Some(Reason::StartLimit));
    assert_eq!(s.spawned.len(), 3);
    // A manual start clears the limit.
    s.feed(Input::Start(s.id("w")));
    assert_eq!(s.state("w"), State::Running);
}

#[test]
fn start_limit_window_slides() {
    let mut w = spec("w");
    w.restart.delay = ms(10);
    w.restart.max_delay = ms(10);
    w.restart.limit_burst = 3;
    w.restart.limit_interval = ms(100);
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    for _ in 0..10 {
        s.now += ms(60);
        s.exit("w", Exit::Code(1));
        s.advance();
        assert_eq!(s.state("w"), State::Running);
    }
}

#[test]
fn reset_after_resets_the_backoff_exponent() {
    let mut w = spec("w");
    w.restart.reset_after = Duration::from_secs(5);
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Code(1));
    s.advance();
    s.exit("w", Exit::Code(1));
    let second = s.advance();
    assert!(second >= ms(180), "{second:?}");
    s.now += Duration::from_secs(6);
    s.exit("w", Exit::Code(1));
    let after_reset = s.advance();
    assert!(after_reset <= ms(110), "{after_reset:?}");
}

#[test]
fn clean_exit_with_on_failure_stops() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Code(0));
    assert_eq!(s.state("w"), State::Stopped);
    assert_eq!(s.e.unit(s.id("w")).reason, None);
}

#[test]
fn never_policy_fails_with_signal_reason() {
    let mut w = spec("w");
    w.restart.policy = RestartPolicy::Never;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Signal(sig::SEGV));
    assert_eq!(s.state("w"), State::Failed);
    assert_eq!(s.e.unit(s.id("w")).reason, Some(Reason::Signal));
}

#[test]
fn stop_escalates_to_sigkill_of_the_group() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    let pid = s.pid("w");
    s.feed(Input::Stop(s.id("w")));
    assert_eq!(s.state("w"), State::Stopping);
    assert_eq!(
        s.actions,
        [Effect::Signal {
            pid,
            signal: sig::TERM
        }]
    );
    let waited = s.advance();
    assert_eq!(waited, Duration::from_secs(10));
    assert_eq!(
        s.actions[1],
        Effect::KillUnit {
            unit: s.id("w"),
            pgid: pid
        }
    );
    assert!(s.p.calls.contains(&Call::KillUnit(pid, sig::KILL)));
    s.exit("w", Exit::Signal(sig::KILL));
    assert_eq!(s.state("w"), State::Stopped);
    assert!(s.e.all_down());
}

#[test]
fn stop_exec_runs_before_the_signal() {
    let mut w = spec("w");
    w.stop.exec = Some(vec!["/bin/true".into()]);
    w.stop.signal = sig::INT;
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    let main = s.pid("w");
    s.feed(Input::Stop(s.id("w")));
    assert!(s.actions.is_empty(), "signal waits for stop.exec");
    let helper = s.p.last_pid();
    s.feed(Input::Exited {
        pid: helper,
        exit: Exit::Code(0),
    });
    assert_eq!(
        s.actions,
        [Effect::Signal {
            pid: main,
            signal: sig::INT
        }]
    );
    s.exit("w", Exit::Code(0));
    assert_eq!(s.state("w"), State::Stopped);
}

#[test]
fn shutdown_stops_in_reverse_dependency_order() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut b = spec("b");
    b.after = names(&["c"]);
    let c = spec("c");
    let mut s = Sim::new(vec![a, b, c]);
    s.feed(Input::StartEnabled);
    let (pa, pb, pc) = (s.pid("a"), s.pid("b"), s.pid("c"));
    s.feed(Input::StopAll);
    assert_eq!(
        s.actions,
        [Effect::Signal {
            pid: pa,
            signal: sig::TERM
        }]
    );
    s.exit("a", Exit::Code(0));
    assert_eq!(
        s.actions.last(),
        Some(&Effect::Signal {
            pid: pb,
            signal: sig::TERM
        })
    );
    s.exit("b", Exit::Code(0));
    assert_eq!(
        s.actions.last(),
        Some(&Effect::Signal {
            pid: pc,
            signal: sig::TERM
        })
    );
    s.exit("c", Exit::Code(0));
    assert!(s.e.all_down());
}

#[test]
fn stopping_a_unit_stops_its_dependents_first() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut s = Sim::new(vec![a, spec("b")]);
    s.feed(Input::StartEnabled);
    let pa = s.pid("a");
    s.feed(Input::Stop(s.id("b")));
    assert_eq!(
        s.actions,
        [Effect::Signal {
            pid: pa,
            signal: sig::TERM
        }]
    );
    assert_eq!(s.state("b"), State::Running);
    s.exit("a", Exit::Code(0));
    assert_eq!(s.state("a"), State::Stopped);
    assert_eq!(s.e.unit(s.id("a")).reason, Some(Reason::Dependency));
    s.exit("b", Exit::Code(0));
    assert_eq!(s.state("b"), State::Stopped);
    assert_eq!(s.e.unit(s.id("b")).reason, None);
}

#[test]
fn a_failed_requirement_stops_dependents() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut b = spec("b");
    b.restart.policy = RestartPolicy::Never;
    let mut s = Sim::new(vec![a, b]);
    s.feed(Input::StartEnabled);
    s.exit("b", Exit::Code(2));
    assert_eq!(s.state("b"), State::Failed);
    assert_eq!(s.state("a"), State::Stopping);
    s.exit("a", Exit::Signal(sig::TERM));
    assert_eq!(s.state("a"), State::Stopped);
    assert_eq!(s.e.unit(s.id("a")).reason, Some(Reason::Dependency));
}

#[test]
fn a_restarting_requirement_keeps_dependents() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut s = Sim::new(vec![a, spec("b")]);
    s.feed(Input::StartEnabled);
    s.exit("b", Exit::Code(2));
    assert_eq!(s.state("b"), State::Backoff);
    assert_eq!(s.state("a"), State::Running);
}

#[test]
fn wanted_unit_failure_does_not_stop_the_wanter() {
    let mut a = spec("a");
    a.wants = names(&["b"]);
    a.after = names(&["b"]);
    let mut b = spec("b");
    b.kind = UnitType::Oneshot;
    b.restart.policy = RestartPolicy::Never;
    b.enabled = false;
    let mut s = Sim::new(vec![a, b]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.spawned, ["b"]);
    s.exit("b", Exit::Code(1));
    assert_eq!(s.state("b"), State::Failed);
    assert_eq!(s.state("a"), State::Running);
}

#[test]
fn waiting_unit_fails_when_its_requirement_fails() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut b = spec("b");
    b.kind = UnitType::Oneshot;
    b.restart.policy = RestartPolicy::Never;
    let mut s = Sim::new(vec![a, b]);
    s.feed(Input::StartEnabled);
    s.exit("b", Exit::Code(1));
    assert_eq!(s.state("a"), State::Failed);
    assert_eq!(s.e.unit(s.id("a")).reason, Some(Reason::Dependency));
}

#[test]
fn cycles_block_their_members_only() {
    let mut x = spec("x");
    x.after = names(&["y"]);
    let mut y = spec("y");
    y.requires = names(&["z"]);
    let mut z = spec("z");
    z.after = names(&["x"]);
    let mut s = Sim::new(vec![x, y, z, spec("free")]);
    s.feed(Input::StartEnabled);
    for n in ["x", "y", "z"] {
        assert_eq!(s.state(n), State::Failed, "{n}");
        let u = s.e.unit(s.id(n));
        assert_eq!(u.reason, Some(Reason::Dependency));
        assert_eq!(
            u.message.as_deref(),
            Some("dependency cycle between x, y, z")
        );
    }
    assert_eq!(s.state("free"), State::Running);
}

#[test]
fn unknown_requirement_fails_the_unit() {
    let mut a = spec("a");
    a.requires = names(&["ghost"]);
    let mut s = Sim::new(vec![a]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("a"), State::Failed);
    assert!(s
        .e
        .unit(s.id("a"))
        .message
        .as_deref()
        .unwrap()
        .contains("ghost"));
}

#[test]
fn spawn_failure_fails_with_exec_reason() {
    let mut s = Sim::new(vec![spec("w")]);
    s.p.fail_spawn = Some("exec /x/y: No such file or directory".into());
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("w"), State::Failed);
    let u = s.e.unit(s.id("w"));
    assert_eq!(u.reason, Some(Reason::Exec));
    assert_eq!(
        u.message.as_deref(),
        Some("exec /x/y: No such file or directory")
    );
}

#[test]
fn a_spawn_short_of_descriptors_is_retried_by_the_restart_policy() {
    let mut e = Engine::new(vec![spec("w")], vec![], |_| None, 7);
    let id = e.lookup("w").unwrap();
    let spawns = |fx: &[Effect]| {
        fx.iter()
            .filter(|f| {
                matches!(
                    f,
                    Effect::Spawn {
                        role: Role::Main,
                        ..
                    }
                )
            })
            .count()
    };
    let fx = e.handle(Input::StartEnabled, Duration::ZERO);
    assert_eq!(spawns(&fx), 1);
    let message = "pipe: Too many open files".to_string();
    e.handle(Input::SpawnShort { unit: id, message }, ms(1));
    // Not failed for good: a restart is scheduled (on-failure, first delay 100ms ± 10%).
    assert_eq!(e.unit(id).state, State::Backoff);
    assert_eq!(e.unit(id).reason, Some(Reason::Exec));
    let at = e.next_deadline().expect("a backoff timer");
    let fx = e.handle(Input::Tick, at);
    assert_eq!(spawns(&fx), 1, "tried again after the delay");
    e.handle(
        Input::Spawned {
            unit: id,
            role: Role::Main,
            pid: Pid::from_raw(4242),
        },
        at,
    );
    assert_eq!(e.unit(id).state, State::Running);
    // With restart: never, it fails (reason exec) as any spawn failure does.
    let mut never = spec("n");
    never.restart.policy = RestartPolicy::Never;
    let mut e = Engine::new(vec![never], vec![], |_| None, 7);
    let id = e.lookup("n").unwrap();
    e.handle(Input::StartEnabled, Duration::ZERO);
    let message = "pipe: Too many open files".to_string();
    e.handle(Input::SpawnShort { unit: id, message }, ms(1));
    assert_eq!(e.unit(id).state, State::Failed);
    assert_eq!(
        e.unit(id).message.as_deref(),
        Some("pipe: Too many open files")
    );
}

#[test]
fn unsupported_feature_fails_instead_of_running() {
    let specs = vec![spec("w")];
    let mut e = Engine::new(
        specs,
        vec![],
        |_| Some("resources: not supported yet".into()),
        1,
    );
    let fx = e.handle(Input::StartEnabled, Duration::ZERO);
    assert!(!fx.iter().any(|f| matches!(f, Effect::Spawn { .. })));
    assert_eq!(e.unit(UnitId::from_index(0)).state, State::Failed);
}

#[test]
fn oneshot_start_timeout_kills_and_fails() {
    let mut w = spec("w");
    w.kind = UnitType::Oneshot;
    w.restart.policy = RestartPolicy::Never;
    w.start_timeout = Duration::from_secs(2);
    w.stop.timeout = Duration::from_secs(1);
    let mut s = Sim::new(vec![w]);
    s.feed(Input::StartEnabled);
    let pid = s.pid("w");
    assert_eq!(s.advance(), Duration::from_secs(2));
    assert_eq!(
        s.actions,
        [Effect::Signal {
            pid,
            signal: sig::TERM
        }]
    );
    s.advance();
    s.exit("w", Exit::Signal(sig::KILL));
    assert_eq!(s.state("w"), State::Failed);
    assert_eq!(s.e.unit(s.id("w")).reason, Some(Reason::Timeout));
}

#[test]
fn conflicts_stop_the_other_unit() {
    let mut a = spec("a");
    a.conflicts = names(&["b"]);
    a.enabled = false;
    let mut s = Sim::new(vec![a, spec("b")]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("b"), State::Running);
    s.feed(Input::Start(s.id("a")));
    assert_eq!(s.state("b"), State::Stopping);
    assert_eq!(s.state("a"), State::Running);
}

#[test]
fn on_failure_units_start_when_a_unit_fails() {
    let mut w = spec("w");
    w.restart.policy = RestartPolicy::Never;
    w.on_failure = names(&["alert"]);
    let mut alert = spec("alert");
    alert.enabled = false;
    let mut s = Sim::new(vec![w, alert]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("alert"), State::Inactive);
    s.exit("w", Exit::Code(1));
    assert_eq!(s.state("alert"), State::Running);
}

#[test]
fn restart_brings_dependents_back_after_the_unit() {
    let mut a = spec("a");
    a.requires = names(&["b"]);
    let mut s = Sim::new(vec![a, spec("b")]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Restart(s.id("b")));
    s.exit("a", Exit::Code(0));
    assert_eq!(s.state("a"), State::Waiting);
    s.exit("b", Exit::Code(0));
    assert_eq!(s.state("b"), State::Running);
    assert_eq!(s.state("a"), State::Running);
    assert_eq!(s.spawned, ["b", "a", "b", "a"]);
}

#[test]
fn explicit_start_skips_the_backoff_delay() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Code(1));
    assert_eq!(s.state("w"), State::Backoff);
    s.feed(Input::Start(s.id("w")));
    assert_eq!(s.state("w"), State::Running);
}

#[test]
fn stop_during_backoff_cancels_the_restart() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    s.exit("w", Exit::Code(1));
    s.feed(Input::Stop(s.id("w")));
    assert_eq!(s.state("w"), State::Stopped);
    assert_eq!(s.e.next_deadline(), None);
}

#[test]
fn orphan_exits_are_ignored() {
    let mut s = Sim::new(vec![spec("w")]);
    s.feed(Input::StartEnabled);
    s.feed(Input::Exited {
        pid: Pid::from_raw(99_999),
        exit: Exit::Code(0),
    });
    assert_eq!(s.state("w"), State::Running);
}

#[test]
fn invalid_units_are_listed_and_never_start() {
    let bad = InvalidUnit {
        name: "bad".into(),
        path: "/x/bad.yaml".into(),
        message: "/x/bad.yaml:1:1: boom".into(),
    };
    let mut a = spec("a");
    a.requires = names(&["bad"]);
    let mut e = Engine::new(vec![a, spec("ok")], vec![bad], |_| None, 1);
    e.handle(Input::StartEnabled, Duration::ZERO);
    let bad = e.lookup("bad").unwrap();
    assert_eq!(e.unit(bad).state, State::Invalid);
    e.handle(Input::Start(bad), Duration::ZERO);
    assert_eq!(e.unit(bad).state, State::Invalid);
    assert_eq!(e.unit(e.lookup("a").unwrap()).state, State::Failed);
    assert_eq!(e.unit(e.lookup("ok").unwrap()).state, State::Starting);
}

#[test]
fn internal_error_fails_the_unit_kills_it_and_forgets_its_pids() {
    let mut app = spec("app");
    app.requires = names(&["db"]);
    let mut s = Sim::new(vec![spec("db"), app]);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("app"), State::Running);
    let pid = s.pid("db");
    s.feed(Input::Internal {
        unit: s.id("db"),
        message: "boom".into(),
    });
    assert_eq!(s.state("db"), State::Failed);
    let db = s.e.unit(s.id("db"));
    assert_eq!(db.reason, Some(Reason::Internal));
    assert_eq!(db.message.as_deref(), Some("boom"));
    assert!(db.pid.is_none() && s.e.pid_owner(pid).is_none());
    assert!(s.actions.contains(&Effect::KillUnit {
        unit: s.id("db"),
        pgid: pid
    }));
    // What required it stops; the old pid's exit is an orphan's and changes nothing.
    assert_eq!(s.state("app"), State::Stopping);
    s.feed(Input::Exited {
        pid,
        exit: Exit::Signal(sig::KILL),
    });
    assert_eq!(s.state("db"), State::Failed);
    // And it can be started again.
    s.feed(Input::Start(s.id("db")));
    assert_eq!(s.state("db"), State::Running);
}

#[test]
fn deadlines_saturate_instead_of_overflowing() {
    let mut u = spec("slow");
    u.kind = UnitType::Oneshot;
    u.start_timeout = Duration::MAX;
    u.stop.timeout = Duration::MAX;
    let mut s = Sim::new(vec![u]);
    s.now = Duration::from_secs(1 << 20);
    s.feed(Input::StartEnabled);
    assert_eq!(s.state("slow"), State::Starting);
    assert_eq!(s.e.next_deadline(), Some(Duration::MAX));
    s.feed(Input::Stop(s.id("slow")));
    assert_eq!(s.state("slow"), State::Stopping);
}

// ---- a changing set of units (reload, transient units) ------------------------------

#[test]
fn units_added_at_run_time_get_edges_and_start_after_their_dependencies() {
    let mut s = Sim::new(vec![spec("b")]);
    s.feed(Input::StartEnabled);
    let mut a = spec("a");
    a.requires = names(&["b", "c"]);
    let mut c = spec("c");
    c.kind = UnitType::Oneshot;
    c.enabled = false;
    let ia = s.e.add(a.name.clone(), Ok(a), None, false, s.now);
    s.e.add(c.name.clone(), Ok(c), None, false, s.now);
    s.e.rebuild();
    // Listed in name order whatever their slots.
    let listed: Vec<&str> = s.e.units().map(|u| u.name.as_str()).collect();
    assert_eq!(listed, ["a", "b", "c"]);
    assert_eq!(s.e.lookup("a"), Some(ia));
    s.feed(Input::Start(ia));
    assert_eq!(s.spawned, ["b", "c"], "a waits for c, which it requires");
    s.exit("c", Exit::Code(0));
    assert_eq!(s.state("a"), State::Running);
}

#[test]
fn removed_unit_stops_with_its_dependents_and_its_slot_is_reused() {
    let mut app = spec("app");
    app.requires = names(&["db"]);
    let mut s = Sim::new(vec![app, spec("db")]);
    s.feed(Input::StartEnabled);
    let db = s.id("db");
    s.feed(Input::Remove(db));
    // Its dependent stops first (reverse order), then it.
    assert_eq!(s.state("app"), State::Stopping);
    assert_eq!(s.state("db"), State::Running);
    assert!(!s.e.forget(db), "a unit with a process is not forgotten");
    s.exit("app", Exit::Signal(sig::TERM));
    assert_eq!(s.state("db"), State::Stopping);
    s.exit("db", Exit::Signal(sig::TERM));
    assert_eq!(s.state("app"), State::Stopped);
    // A retiring unit is not started again by hand.
    s.feed(Input::Start(db));
    assert_eq!(s.state("db"), State::Stopped);
    assert!(s.e.forget(db));
    s.e.rebuild();
    assert!(s.e.lookup("db").is_none());
    assert!(!s.e.exists(db));
    assert_eq!(s.e.len(), 1);
    let again = s.e.add(
        UnitName::new("new").unwrap(),
        Ok(spec("new")),
        None,
        true,
        s.now,
    );
    s.e.rebuild();
    assert_eq!(again, db, "the freed slot is reused");
    assert!(s.e.unit(again).transient);
    assert_eq!(s.e.unit(again).state, State::Inactive);
    assert_eq!(s.e.unit(again).restarts, 0);
    // `app` requires a unit that no longer exists: it cannot start.
    s.e.rebuild();
    s.feed(Input::Start(s.id("app")));
    assert_eq!(s.state("app"), State::Failed);
}

#[test]
fn an_invalid_edit_leaves_a_running_unit_running_and_a_stopped_one_invalid() {
    let mut idle = spec("idle");
    idle.enabled = false;
    let mut s = Sim::new(vec![spec("web"), idle]);
    s.feed(Input::StartEnabled);
    let web = s.id("web");
    let pid = s.pid("web");
    let fx = s.e.set_invalid(web, "web.yaml:1:1: bad".into(), s.now);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(s.state("web"), State::Running);
    assert_eq!(s.pid("web"), pid);
    assert_eq!(
        s.e.unit(web).file_error.as_deref(),
        Some("web.yaml:1:1: bad")
    );
    // It still restarts with the definition it runs.
    s.exit("web", Exit::Code(1));
    s.advance();
    assert_eq!(s.state("web"), State::Running);
    // Fixed: the error goes.
    s.e.set_spec(web, spec("web"), None, s.now);
    assert!(s.e.unit(web).file_error.is_none());
    let idle = s.id("idle");
    s.e.set_invalid(idle, "idle.yaml:1:1: bad".into(), s.now);
    assert_eq!(s.state("idle"), State::Invalid);
    s.feed(Input::Start(idle));
    assert_eq!(s.state("idle"), State::Invalid);
    s.e.set_spec(idle, spec("idle"), None, s.now);
    s.e.rebuild();
    assert_eq!(s.state("idle"), State::Inactive);
    s.feed(Input::Start(idle));
    assert_eq!(s.state("idle"), State::Running);
}

#[test]
fn a_deadline_stops_the_unit_with_reason_timeout() {
    let mut s = Sim::new(vec![spec("job")]);
    s.feed(Input::StartEnabled);
    let job = s.id("job");
    s.feed(Input::Deadline(job));
    assert_eq!(s.state("job"), State::Stopping);
    s.exit("job", Exit::Signal(sig::TERM));
    assert_eq!(s.state("job"), State::Stopped);
    assert_eq!(s.e.unit(job).reason, Some(Reason::Timeout));
    // An ended unit's deadline does nothing.
    s.feed(Input::Deadline(job));
    assert_eq!(s.state("job"), State::Stopped);
}

#[test]
fn a_retiring_unit_is_not_restarted_and_is_forgotten_only_without_processes() {
    let mut web = spec("web");
    web.stop.exec = Some(vec!["/bin/stop".into()]);
    let mut s = Sim::new(vec![web]);
    s.feed(Input::StartEnabled);
    let id = s.id("web");
    s.feed(Input::Remove(id));
    assert_eq!(s.state("web"), State::Stopping);
    // The stop exec runs; the main process ends first.
    s.exit("web", Exit::Signal(sig::TERM));
    assert!(!s.state("web").is_live());
    // The fake platform's pids count from 1001.
    let stop_exec = (1000..1010)
        .map(Pid::from_raw)
        .find(|&p| s.e.pid_owner(p) == Some((id, Role::StopExec)))
        .expect("the stop exec is still a process of the unit");
    assert!(!s.e.forgettable(id), "not while its stop exec runs");
    assert!(!s.e.forget(id));
    s.feed(Input::Restart(id));
    assert!(
        !s.state("web").is_live(),
        "a retiring unit is not restarted"
    );
    s.feed(Input::Exited {
        pid: stop_exec,
        exit: Exit::Code(0),
    });
    assert!(s.e.forgettable(id));
    assert!(s.e.forget(id));
}

#[test]
fn restarts_asked_for_do_not_count_toward_the_start_limit() {
    let mut s = Sim::new(vec![spec("web")]);
    s.feed(Input::StartEnabled);
    let id = s.id("web");
    for _ in 0..6 {
        s.feed(Input::Restart(id));
        s.exit("web", Exit::Signal(sig::TERM));
        assert_eq!(s.state("web"), State::Running);
    }
    // A crash now restarts it (backoff), not `failed start-limit`.
    s.exit("web", Exit::Code(1));
    assert_eq!(s.state("web"), State::Backoff);
}
