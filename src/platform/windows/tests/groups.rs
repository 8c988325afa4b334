//! The job-object resource groups (`ResourceGroups for WindowsPlatform`) against real
//! processes: a unit's group is a job its process starts in, kill ends the tree, stats
//! come from the job, its messages become group events, and what jobs cannot do fails
//! with a reason naming the key or Windows.

use crate::platform::groups::{
    GroupError, GroupEventKind, GroupRequest, Registrar, ResourceGroups, StatsWanted,
};
use crate::unit::Resources;

use super::*;

/// A poller and the token counter the runtime would hand the platform.
struct Rt {
    poll: Poll,
    next: usize,
}

impl Rt {
    fn new() -> Rt {
        Rt {
            poll: Poll::new().unwrap(),
            next: 100,
        }
    }

    fn create(
        &mut self,
        p: &mut WindowsPlatform,
        unit: usize,
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

    /// Waits, woken by the job events' waker only, until `done` holds for the group
    /// events seen.
    fn wait_for(
        &mut self,
        p: &mut WindowsPlatform,
        done: impl Fn(&[(usize, GroupEventKind)]) -> bool,
    ) -> Vec<(usize, GroupEventKind)> {
        let deadline = Instant::now() + WAIT;
        let mut events = Events::with_capacity(4);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "group events so far: {seen:?}");
            self.poll.poll(&mut events, Some(left)).unwrap();
            for e in events.iter() {
                assert!(p.owns_group_event(e.token()), "{e:?}");
                let got = p.on_group_event(e.token(), Duration::ZERO);
                seen.extend(got.into_iter().map(|g| (g.unit, g.kind)));
            }
            if done(&seen) {
                return seen;
            }
        }
    }
}

#[test]
fn a_unit_runs_in_its_group_and_kill_ends_the_tree() {
    let mut rt = Rt::new();
    let mut p = WindowsPlatform::default();
    assert!(p.has_groups());
    let job = rt.create(&mut p, 3, &Resources::default()).unwrap();
    let mut main = start(&job, "spawn");
    let line = marked_line(main.stdout.as_mut().unwrap());
    let child: u32 = line.strip_prefix("child ").unwrap().parse().unwrap();
    let child = open(child);
    assert!(p.group_occupied(3));
    assert_eq!(p.group_shown(3), Some("web"));
    let stats = p.group_stats(3, StatsWanted::ALL).unwrap();
    assert_eq!(stats.pids, Some(2), "{stats:?}");
    assert_eq!(stats.oom_kills, Some(0));
    // Only a kill ends the job; a gentler stop is the caller's (console events).
    assert!(!p.kill_group(3, crate::proc::sig::TERM, None));
    assert!(p.kill_group(3, crate::proc::sig::KILL, None));
    assert_eq!(wait_exit(&main), ExitStatus::Code(1));
    assert_eq!(wait_exit(&child), ExitStatus::Code(1));
    assert!(!p.group_occupied(3));
    rt.wait_for(&mut p, |s| s.contains(&(3, GroupEventKind::Empty)));
    assert!(p.remove_group(3, rt.poll.registry()).unwrap());
    assert_eq!(p.group_shown(3), None);
    assert!(
        !p.kill_group(3, crate::proc::sig::KILL, None),
        "no group any more"
    );
}

#[test]
fn group_events_report_exits_and_the_end_of_the_group() {
    let mut rt = Rt::new();
    let mut p = WindowsPlatform::default();
    let job = rt.create(&mut p, 5, &Resources::default()).unwrap();
    let main = start(&job, "exit:4");
    let pid = main.pid();
    let seen = rt.wait_for(&mut p, |s| s.contains(&(5, GroupEventKind::Empty)));
    assert!(
        seen.contains(&(5, GroupEventKind::ProcessExited { pid })),
        "{seen:?}"
    );
    assert_eq!(wait_exit(&main), ExitStatus::Code(4));
    assert!(p.remove_group(5, rt.poll.registry()).unwrap());
}

#[test]
fn what_jobs_cannot_do_fails_naming_the_key_or_windows() {
    let mut rt = Rt::new();
    let mut p = WindowsPlatform::default();
    let high = Resources {
        memory_high: Some(1 << 20),
        ..Resources::default()
    };
    let e = rt.create(&mut p, 1, &high).unwrap_err().to_string();
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

    rt.create(&mut p, 2, &Resources::default()).unwrap();
    let e = p.freeze_group(2, true).unwrap_err().to_string();
    assert!(e.contains("Windows"), "{e}");
}

#[test]
fn a_refused_cpu_cap_fails_the_unit_naming_the_key() {
    let mut rt = Rt::new();
    let mut p = WindowsPlatform::default();
    let cap = Resources {
        cpu_max: Some(0.5),
        ..Resources::default()
    };
    match rt.create(&mut p, 1, &cap) {
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
    let mut rt = Rt::new();
    let mut p = WindowsPlatform::default();
    let small = Resources {
        memory_max: Some(64 << 20),
        ..Resources::default()
    };
    let job = rt.create(&mut p, 7, &small).unwrap();
    let main = start(&job, "alloc");
    assert_eq!(wait_exit(&main), ExitStatus::Code(4));
    rt.wait_for(&mut p, |s| {
        s.iter()
            .any(|(u, k)| *u == 7 && matches!(k, GroupEventKind::Oom { .. }))
    });
    assert_eq!(
        p.group_stats(7, StatsWanted::ALL).unwrap().oom_kills,
        Some(1)
    );
}
