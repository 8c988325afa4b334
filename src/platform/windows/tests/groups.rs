//! The job-object resource groups (`ResourceGroups for WindowsPlatform`) against real
//! processes: a unit's group is a job its process starts in, kill ends the tree, stats
//! come from the job, its messages become group events, and what jobs cannot do fails
//! with a reason naming the key or Windows.

use crate::limits::Resources;
use crate::platform::groups::{
    GroupError, GroupEventKind, GroupRequest, Registrar, ResourceGroups, StatsWanted,
};
use crate::platform::{OsEvent, Platform};
use crate::proc::UnitId;

use super::*;

/// The unit at position `n`.
fn u(n: usize) -> UnitId {
    UnitId::from_index(n)
}

/// A poller and the token counter the runtime would hand the platform.
struct Rt {
    poll: Poll,
    next: usize,
}

/// The platform's event source (job messages, console events) wakes this token.
const EVENTS: Token = Token(0);

/// What the platform reported while a test waited.
#[derive(Debug, Default)]
struct Seen {
    os: Vec<OsEvent>,
    groups: Vec<(UnitId, GroupEventKind)>,
}

impl Rt {
    /// A poller with `p`'s event source registered, as the runtime starts it.
    fn new(p: &mut WindowsPlatform) -> Rt {
        let poll = Poll::new().unwrap();
        p.watch_events(poll.registry(), EVENTS).unwrap();
        Rt { poll, next: 100 }
    }

    fn create(
        &mut self,
        p: &mut WindowsPlatform,
        unit: UnitId,
        res: &Resources,
    ) -> Result<Arc<Job>, GroupError> {
        let req = GroupRequest {
            path: "web",
            resources: res,
            slices: &[],
        };
        let mut ev = Registrar {
            registry: self.poll.registry(),
            next_token: &mut self.next,
        };
        p.create_group(unit, req, &mut ev)
    }

    /// Waits, woken by the platform's event source only, until `done` holds for what
    /// it reported (as the loop sees it: its events, then the groups' turn).
    fn wait_for(&mut self, p: &mut WindowsPlatform, done: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + WAIT;
        let mut events = Events::with_capacity(4);
        let mut seen = Seen::default();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "reported so far: {seen:?}");
            self.poll.poll(&mut events, Some(left)).unwrap();
            for e in events.iter() {
                assert_eq!(e.token(), EVENTS, "{e:?}");
                assert!(!p.owns_group_event(e.token()));
                seen.os.extend(p.events());
            }
            let got = p.groups_tick(Duration::ZERO);
            seen.groups
                .extend(got.into_iter().map(|g| (g.unit, g.kind)));
            if done(&seen) {
                return seen;
            }
        }
    }
}

#[test]
fn a_unit_runs_in_its_group_and_kill_ends_the_tree() {
    let mut p = WindowsPlatform::default();
    let mut rt = Rt::new(&mut p);
    assert!(p.has_groups());
    let job = rt.create(&mut p, u(3), &Resources::default()).unwrap();
    let mut main = start(&job, "spawn");
    let line = marked_line(main.stdout.as_mut().unwrap());
    let child: u32 = line.strip_prefix("child ").unwrap().parse().unwrap();
    let child = open(child);
    assert!(p.group_occupied(u(3)));
    assert_eq!(p.group_shown(u(3)), Some("web"));
    let stats = p.group_stats(u(3), StatsWanted::ALL).unwrap();
    assert_eq!(stats.pids, Some(2), "{stats:?}");
    assert_eq!(stats.oom_kills, Some(0));
    // Only a kill ends the job; a gentler stop is the caller's (console events).
    assert!(!p.kill_group(u(3), crate::proc::Stop::Terminate, None));
    assert!(p.kill_group(u(3), crate::proc::Stop::Kill, None));
    assert_eq!(wait_exit(&main), ExitStatus::Code(1));
    assert_eq!(wait_exit(&child), ExitStatus::Code(1));
    assert!(!p.group_occupied(u(3)));
    rt.wait_for(&mut p, |s| s.os.contains(&OsEvent::ChildEnded));
    assert!(p.remove_group(u(3), rt.poll.registry()).unwrap());
    assert_eq!(p.group_shown(u(3)), None);
    assert!(
        !p.kill_group(u(3), crate::proc::Stop::Kill, None),
        "no group any more"
    );
}

#[test]
fn an_exit_in_a_group_wakes_the_loop_as_a_child_that_ended() {
    let mut p = WindowsPlatform::default();
    let mut rt = Rt::new(&mut p);
    let job = rt.create(&mut p, u(5), &Resources::default()).unwrap();
    let main = start(&job, "exit:4");
    rt.wait_for(&mut p, |s| s.os.contains(&OsEvent::ChildEnded));
    assert_eq!(wait_exit(&main), ExitStatus::Code(4));
    assert!(p.remove_group(u(5), rt.poll.registry()).unwrap());
}

#[test]
fn what_jobs_cannot_do_fails_naming_the_key_or_windows() {
    let mut p = WindowsPlatform::default();
    let mut rt = Rt::new(&mut p);
    let high = Resources {
        memory_high: Some(1 << 20),
        ..Resources::default()
    };
    let e = rt.create(&mut p, u(1), &high).unwrap_err().to_string();
    assert!(e.contains("resources.memory_high"), "{e}");

    let e = p
        .create_slice(
            "batch",
            "batch.slice",
            &Resources {
                pids_max: Some(4),
                ..Resources::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("slice batch") && e.contains("Windows"), "{e}");
    assert!(p
        .create_slice("plain", "plain.slice", &Resources::default())
        .is_ok());

    rt.create(&mut p, u(2), &Resources::default()).unwrap();
    let e = p.freeze_group(u(2), true).unwrap_err().to_string();
    assert!(e.contains("Windows"), "{e}");
}

#[test]
fn a_refused_cpu_cap_fails_the_unit_naming_the_key() {
    let mut p = WindowsPlatform::default();
    let mut rt = Rt::new(&mut p);
    let cap = Resources {
        cpu_max: Some(0.5),
        ..Resources::default()
    };
    match rt.create(&mut p, u(1), &cap) {
        Err(e) => {
            let e = e.to_string();
            assert!(is_wine(), "refused outside Wine: {e}");
            assert!(e.contains("resources.cpu_max"), "{e}");
        }
        Ok(_) => assert!(!is_wine(), "Wine refuses CPU rate control"),
    }
}

#[test]
fn memory_limit_of_the_group_is_an_oom_event() {
    if skip_under_wine("job memory limits are accepted but not enforced") {
        return;
    }
    let mut p = WindowsPlatform::default();
    let mut rt = Rt::new(&mut p);
    let small = Resources {
        memory_max: Some(64 << 20),
        ..Resources::default()
    };
    let job = rt.create(&mut p, u(7), &small).unwrap();
    let main = start(&job, "alloc");
    assert_eq!(wait_exit(&main), ExitStatus::Code(4));
    rt.wait_for(&mut p, |s| {
        s.groups
            .iter()
            .any(|(unit, k)| *unit == u(7) && matches!(k, GroupEventKind::Oom { .. }))
    });
    assert_eq!(
        p.group_stats(u(7), StatsWanted::ALL).unwrap().oom_kills,
        Some(1)
    );
}
