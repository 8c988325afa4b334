//! Engine state → protocol documents (`UnitStatus`, `Event`).

use super::Runtime;
use crate::ctl::proto::{Event, ExitInfo, Fields, UnitStatusRef};
use crate::engine::{signal_name, EventKind, Exit, State};
use crate::output::{rfc3339, Rfc3339};
use crate::platform::groups::GroupStats;
use crate::platform::Backend;
use crate::proc::{Pid, UnitId};

pub fn exit_info(exit: Exit) -> ExitInfo {
    match exit {
        Exit::Code(c) => ExitInfo::Code(c),
        Exit::Signal(s) => ExitInfo::Signal(signal_name(s)),
        Exit::NtStatus(s) => ExitInfo::Ntstatus(crate::proc::ntstatus_text(s)),
    }
}

/// The `UNIT_STATUS` of unit `i` with `fields`, borrowed from the runtime; reads the
/// cgroup counters among them.
pub fn unit_status<P: Backend>(rt: &Runtime<P>, i: UnitId, fields: Fields) -> UnitStatusRef<'_> {
    let u = rt.engine.unit(i);
    // One lookup of the unit's probe state for its health and status text.
    let probes = rt.probes.unit(i);
    let (cgroup, stats) = match rt.cgroup_status(i, fields) {
        Some((shown, stats)) => (Some(shown), stats),
        None => (None, GroupStats::default()),
    };
    UnitStatusRef {
        fields,
        name: u.name.as_str(),
        description: u.spec.as_ref().and_then(|s| s.description.as_deref()),
        state: u.state.as_str(),
        reason: u.reason.map(|r| r.as_str()),
        message: u.file_error.as_deref().or(u.message.as_deref()),
        pid: u.pid.map(Pid::raw),
        restarts: u.restarts,
        ready: u.ready(),
        health: probes.current_health().as_str(),
        exit: u.exit.map(exit_info),
        since: Rfc3339(rt.wall(u.since)),
        cgroup,
        memory_bytes: stats.memory_bytes,
        cpu_usec: stats.cpu_usec,
        pids: stats.pids,
        oom_kills: stats.oom_kills,
        instances: None,
        status_text: probes.status_text.as_deref(),
        log_error: rt.log_problems.get(&i).map(String::as_str),
        transient: u.transient.then_some(true),
    }
}

/// The summary line of a pool: its instances' counters summed.
pub fn pool_status<'a, P: Backend>(
    rt: &'a Runtime<P>,
    line: &'a super::pools::PoolLine,
    members: &[UnitId],
    fields: Fields,
) -> UnitStatusRef<'a> {
    let mut sum = GroupStats::default();
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    for &m in members {
        if let Some((_, s)) = rt.cgroup_status(m, fields) {
            sum.memory_bytes = add(sum.memory_bytes, s.memory_bytes);
            sum.cpu_usec = add(sum.cpu_usec, s.cpu_usec);
            sum.pids = add(sum.pids, s.pids);
            sum.oom_kills = add(sum.oom_kills, s.oom_kills);
        }
    }
    let pool = rt.pools.get(&line.name);
    UnitStatusRef {
        fields,
        name: &line.name,
        description: pool.and_then(|p| p.template.description.as_deref()),
        state: line.state.as_str(),
        reason: None,
        message: Some(&line.message),
        pid: None,
        restarts: line.restarts,
        ready: line.ready,
        health: line.health,
        exit: None,
        since: Rfc3339(rt.wall(line.since)),
        cgroup: None,
        memory_bytes: sum.memory_bytes,
        cpu_usec: sum.cpu_usec,
        pids: sum.pids,
        oom_kills: sum.oom_kills,
        instances: Some(&line.instances),
        status_text: None,
        log_error: None,
        transient: None,
    }
}

pub fn event<P: Backend>(rt: &Runtime<P>, i: UnitId, kind: &EventKind) -> Event {
    let u = rt.engine.unit(i);
    let mut ev = Event {
        time: rfc3339(std::time::SystemTime::now()),
        unit: u.name.to_string(),
        kind: String::new(),
        state: None,
        from: None,
        reason: None,
        exit: None,
        pid: None,
        message: None,
    };
    match kind {
        EventKind::State { from, to } => {
            ev.kind = "state".into();
            ev.state = Some(to.as_str().into());
            ev.from = Some(from.as_str().into());
            if matches!(
                to,
                State::Failed | State::Stopped | State::Backoff | State::Invalid
            ) {
                ev.reason = u.reason.map(|r| r.as_str().into());
                ev.message = u.message.clone();
            }
        }
        EventKind::Spawned { pid } => {
            ev.kind = "spawn".into();
            ev.pid = Some(pid.raw());
        }
        EventKind::Exited { pid, exit } => {
            ev.kind = "exit".into();
            ev.pid = Some(pid.raw());
            ev.exit = Some(exit_info(*exit));
        }
        EventKind::RestartScheduled { delay } => {
            ev.kind = "restart".into();
            ev.message = Some(format!("restarting in {}ms", delay.as_millis()));
        }
        EventKind::Ready => {
            ev.kind = "ready".into();
            ev.pid = u.pid.map(Pid::raw);
        }
    }
    ev
}
