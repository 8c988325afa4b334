//! Property tests of the engine: for any unit set and any sequence of inputs, every unit
//! stays in a legal state, the engine never owns a pid that has exited, every exit is
//! accounted for, and a shutdown always completes (no unit is left in a state that no
//! later event can leave).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::proc::sig;

/// The unit at position `i` (the simulation names units by position).
fn id(i: usize) -> UnitId {
    UnitId::from_index(i)
}

const UNITS: usize = 4;

#[derive(Clone, Debug)]
struct UnitShape {
    oneshot: bool,
    policy: u8,
    zero_delay: bool,
    notify: bool,
    stop_exec: bool,
    /// Indices of units it requires / is ordered after (lower indices: no cycle) and,
    /// with `cycle`, the highest unit requires the lowest.
    requires: Vec<usize>,
    after: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Op {
    Start(usize),
    Stop(usize),
    Restart(usize),
    StopAll,
    /// The main process of unit N exits with code (0..3) or, if `signal`, SIGKILL.
    ExitMain(usize, i32, bool),
    /// Any live pid exits (a stop.exec, or a main process).
    ExitAny(usize),
    Tick,
    Ready(usize),
    Unhealthy(usize),
    Oom(usize),
    Pause(usize),
    Resume(usize),
    Internal(usize),
    SpawnFailing(bool),
}

fn shape(i: usize) -> impl Strategy<Value = UnitShape> {
    let lower = if i == 0 { 0 } else { i };
    (
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(0..lower.max(1), 0..=lower.min(2)),
        proptest::collection::vec(0..lower.max(1), 0..=lower.min(2)),
    )
        .prop_map(
            move |(oneshot, policy, zero_delay, notify, stop_exec, requires, after)| UnitShape {
                oneshot,
                policy,
                zero_delay,
                notify,
                stop_exec,
                requires: if i == 0 { vec![] } else { requires },
                after: if i == 0 { vec![] } else { after },
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..UNITS;
    prop_oneof![
        u.clone().prop_map(Op::Start),
        u.clone().prop_map(Op::Stop),
        u.clone().prop_map(Op::Restart),
        Just(Op::StopAll),
        (u.clone(), 0i32..3, any::<bool>()).prop_map(|(i, c, s)| Op::ExitMain(i, c, s)),
        (0usize..8).prop_map(Op::ExitAny),
        Just(Op::Tick),
        Just(Op::Tick),
        u.clone().prop_map(Op::Ready),
        u.clone().prop_map(Op::Unhealthy),
        u.clone().prop_map(Op::Oom),
        u.clone().prop_map(Op::Pause),
        u.clone().prop_map(Op::Resume),
        u.clone().prop_map(Op::Internal),
        any::<bool>().prop_map(Op::SpawnFailing),
    ]
}

fn build(shapes: &[UnitShape], cycle: bool) -> Vec<UnitSpec> {
    let names: Vec<String> = (0..UNITS).map(|i| format!("u{i}")).collect();
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut u = spec(&names[i]);
            if s.oneshot {
                u.kind = UnitType::Oneshot;
            }
            u.restart.policy = match s.policy {
                0 => RestartPolicy::Never,
                1 => RestartPolicy::OnFailure,
                _ => RestartPolicy::Always,
            };
            if s.zero_delay {
                u.restart.delay = Duration::ZERO;
            }
            if s.notify {
                u.ready = Ready::Notify;
            }
            if s.stop_exec {
                u.stop.exec = Some(vec!["/bin/true".into()]);
            }
            let mut requires: BTreeSet<usize> = s.requires.iter().copied().collect();
            if cycle && i == UNITS - 1 {
                requires.insert(0);
            }
            if cycle && i == 0 {
                requires.insert(UNITS - 1);
            }
            u.requires = requires
                .iter()
                .map(|&j| UnitName::new(&names[j]).unwrap())
                .collect();
            u.after = s
                .after
                .iter()
                .map(|&j| UnitName::new(&names[j]).unwrap())
                .collect();
            u
        })
        .collect()
}

/// Every pid the fake platform handed out so far (it counts up from 1001).
fn handed_out(s: &Sim) -> impl Iterator<Item = Pid> {
    (1001..=s.p.last_pid().raw()).map(Pid::from_raw)
}

/// Pids the fake platform handed out and that have not exited yet.
fn live_pids(s: &Sim, alive: &BTreeSet<Pid>) -> Vec<Pid> {
    alive
        .iter()
        .copied()
        .filter(|p| s.e.pid_owner(*p).is_some())
        .collect()
}

fn check_invariants(s: &mut Sim, exited: &BTreeSet<Pid>) -> Result<(), TestCaseError> {
    // The pid table and the units agree both ways.
    for pid in handed_out(s) {
        if let Some((i, Role::Main)) = s.e.pid_owner(pid) {
            prop_assert_eq!(
                s.e.unit(i).pid,
                Some(pid),
                "pid {} owned by {} but not its main",
                pid,
                i
            );
        }
    }
    for i in (0..UNITS).map(id) {
        let u = s.e.unit(i);
        if let Some(pid) = u.pid {
            prop_assert!(
                u.state.is_live(),
                "{} has pid {pid} but is {}",
                u.name,
                u.state
            );
            prop_assert_eq!(s.e.pid_owner(pid), Some((i, Role::Main)));
        } else {
            prop_assert!(
                !u.state.is_live(),
                "{} is {} without a pid",
                u.name,
                u.state
            );
        }
        if u.state == State::Backoff {
            prop_assert!(s.e.has_timer(i), "{} in backoff without a timer", u.name);
        }
        // (Stopping may have no timer: after SIGKILL it waits for the exit, which comes.)
        let waits_for_readiness = u
            .spec
            .as_ref()
            .is_some_and(|sp| sp.ready != Ready::Started || sp.kind == UnitType::Oneshot);
        if u.state == State::Starting && waits_for_readiness {
            prop_assert!(
                s.e.has_timer(i),
                "{} {} without a deadline",
                u.name,
                u.state
            );
        }
        if u.state == State::Failed {
            prop_assert!(u.reason.is_some(), "{} failed without a reason", u.name);
        }
    }
    for pid in exited {
        prop_assert!(
            s.e.pid_owner(*pid).is_none(),
            "the engine still owns exited pid {pid}"
        );
    }
    Ok(())
}

/// Feeds an exit for `pid` and records it.
fn exit(s: &mut Sim, alive: &mut BTreeSet<Pid>, exited: &mut BTreeSet<Pid>, pid: Pid, e: Exit) {
    alive.remove(&pid);
    exited.insert(pid);
    s.feed(Input::Exited { pid, exit: e });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_input_sequence_keeps_units_legal_and_shutdown_completes(
        shapes in (shape(0), shape(1), shape(2), shape(3)).prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        cycle in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut s = Sim::new(build(&shapes, cycle));
        let mut alive: BTreeSet<Pid> = BTreeSet::new();
        let mut exited: BTreeSet<Pid> = BTreeSet::new();
        s.feed(Input::StartEnabled);
        for op in ops {
            // Every pid the fake platform handed out so far is alive until it exits.
            for p in handed_out(&s) {
                if !exited.contains(&p) {
                    alive.insert(p);
                }
            }
            match op {
                Op::Start(i) => s.feed(Input::Start(id(i))),
                Op::Stop(i) => s.feed(Input::Stop(id(i))),
                Op::Restart(i) => s.feed(Input::Restart(id(i))),
                Op::StopAll => s.feed(Input::StopAll),
                Op::ExitMain(i, code, signal) => {
                    if let Some(pid) = s.e.unit(id(i)).pid {
                        let e = if signal { Exit::Signal(sig::KILL) } else { Exit::Code(code) };
                        exit(&mut s, &mut alive, &mut exited, pid, e);
                    }
                }
                Op::ExitAny(k) => {
                    let live = live_pids(&s, &alive);
                    if !live.is_empty() {
                        let pid = live[k % live.len()];
                        exit(&mut s, &mut alive, &mut exited, pid, Exit::Code(0));
                    }
                }
                Op::Tick => {
                    if let Some(at) = s.e.next_deadline() {
                        s.now = s.now.max(at);
                    }
                    s.feed(Input::Tick);
                }
                Op::Ready(i) => s.feed(Input::Ready(id(i))),
                Op::Unhealthy(i) => s.feed(Input::Unhealthy { unit: id(i), message: "probe".into() }),
                Op::Oom(i) => s.feed(Input::Oom(id(i))),
                Op::Pause(i) => s.feed(Input::Pause(id(i))),
                Op::Resume(i) => s.feed(Input::Resume(id(i))),
                Op::Internal(i) => {
                    // Its processes are killed and forgotten: they exit later as orphans.
                    s.feed(Input::Internal { unit: id(i), message: "bug".into() });
                }
                Op::SpawnFailing(on) => s.p.fail_spawn = on.then(|| "no".to_string()),
            }
            check_invariants(&mut s, &exited)?;
        }
        // Shutdown: whatever happened, everything comes down within bounded steps when
        // processes exit as asked and timers fire.
        s.p.fail_spawn = None;
        s.feed(Input::StopAll);
        for _ in 0..200 {
            if s.e.all_down() {
                break;
            }
            for p in handed_out(&s) {
                if !exited.contains(&p) {
                    alive.insert(p);
                }
            }
            for pid in live_pids(&s, &alive) {
                exit(&mut s, &mut alive, &mut exited, pid, Exit::Signal(sig::TERM));
            }
            if let Some(at) = s.e.next_deadline() {
                s.now = s.now.max(at);
            }
            s.feed(Input::Tick);
            check_invariants(&mut s, &exited)?;
        }
        prop_assert!(s.e.all_down(), "shutdown did not complete: {:?}",
            (0..UNITS).map(|i| (s.e.unit(id(i)).name.to_string(), s.e.unit(id(i)).state)).collect::<Vec<_>>());
    }
}
