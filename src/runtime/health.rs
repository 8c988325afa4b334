//! The probe scheduler: readiness probes (`tcp`, `http`, `exec`, `log`) while a unit is
//! starting, health checks and the notify watchdog while it runs. Everything runs from
//! the event loop: each probe has a next-attempt time, an attempt is a non-blocking
//! connection or a child process with a deadline, and `next_deadline` joins the engine's
//! for the poll timeout. The engine only hears the verdicts (`Input::Ready`,
//! `Input::Unhealthy`).

use std::collections::HashMap;
use std::time::Duration;

use mio::Token;

use super::attempts::{Attempt, Owner, Target};
pub use super::checks::Health;
use super::checks::{aggregate, CheckState};
use super::Runtime;
use crate::ctl::proto::Event;
use crate::engine::{EventKind, Input, State, Time};
use crate::output::rfc3339;
use crate::platform::notify::{NotifyPipe, NotifySocket};
use crate::platform::Backend;
use crate::proc::{Pid, UnitId};
use crate::unit::{HealthKind, Ready, UnitSpec};

/// Pause between failed readiness attempts.
const READY_RETRY: Duration = Duration::from_millis(250);
/// Longest a single readiness attempt may take.
const READY_ATTEMPT: Duration = Duration::from_secs(1);

/// What a loop token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Attempt,
    Notify(UnitId),
    Fd(UnitId),
}

/// Probe state of one unit.
#[derive(Default)]
pub struct UnitProbes {
    ready: Option<(Target, Option<Time>)>,
    log_ready: Option<regex_lite::Regex>,
    checks: Vec<CheckState>,
    pub health: Option<Health>,
    running_since: Time,
    watchdog_at: Option<Time>,
    pub notify: Option<NotifySocket>,
    pub fd_pipe: Option<(Token, NotifyPipe)>,
    /// The latest `STATUS=` of the unit.
    pub status_text: Option<String>,
}

impl UnitProbes {
    /// Health as reported: `unknown` until a check has decided.
    pub fn current_health(&self) -> Health {
        self.health.unwrap_or(Health::Unknown)
    }
}

#[derive(Default)]
pub struct Probes {
    units: HashMap<UnitId, UnitProbes>,
    pub(super) attempts: HashMap<Token, Attempt>,
    pub(super) exec_pids: HashMap<Pid, Token>,
    pub tokens: HashMap<Token, Source>,
}

impl Probes {
    /// The probe state of `unit` (an empty one for a unit that never had any).
    pub fn unit(&self, unit: UnitId) -> &UnitProbes {
        static EMPTY: std::sync::OnceLock<UnitProbes> = std::sync::OnceLock::new();
        self.units
            .get(&unit)
            .unwrap_or_else(|| EMPTY.get_or_init(UnitProbes::default))
    }

    pub fn unit_mut(&mut self, unit: UnitId) -> &mut UnitProbes {
        self.units.entry(unit).or_default()
    }

    pub fn source(&self, token: Token) -> Option<Source> {
        self.tokens.get(&token).copied()
    }

    /// The unit's health as shown in status.
    pub fn health(&self, unit: UnitId) -> Health {
        self.unit(unit).current_health()
    }

    /// Someone wants the unit's output lines (a `log` probe or check).
    pub fn wants_lines(&self, unit: UnitId) -> bool {
        let u = self.unit(unit);
        u.log_ready.is_some() || u.checks.iter().any(|c| c.regex.is_some())
    }

    /// The earliest time at which `run_probes` has work.
    pub fn next_deadline(&self) -> Option<Time> {
        let attempts = self.attempts.values().map(|a| a.deadline);
        let units = self.units.values().flat_map(|u| {
            let ready = u.ready.as_ref().and_then(|(_, at)| *at);
            let checks = u.checks.iter().filter_map(|c| c.next_at);
            ready.into_iter().chain(u.watchdog_at).chain(checks)
        });
        attempts.chain(units).min()
    }
}

impl<P: Backend> Runtime<P> {
    /// Keeps the probes in step with the unit's lifecycle (called for every event).
    pub(super) fn probes_on_event(&mut self, unit: UnitId, event: &EventKind) {
        let now = self.now();
        let u = self.engine.unit(unit);
        let Some(spec) = u.spec.clone() else { return };
        match event {
            EventKind::Spawned { pid } if u.pid == Some(*pid) => {
                let starting = u.state == State::Starting;
                let p = self.probes.unit_mut(unit);
                p.status_text = None;
                if !starting {
                    return;
                }
                p.ready = match &spec.ready {
                    Ready::Tcp(a) => Some((Target::Tcp(a.clone()), Some(now))),
                    Ready::Http(url) => Some((Target::Http(url.clone()), Some(now))),
                    Ready::Exec(argv) => Some((Target::Exec(argv.clone()), Some(now))),
                    _ => None,
                };
                p.log_ready = match &spec.ready {
                    Ready::Log(re) => regex_lite::Regex::new(re).ok(),
                    _ => None,
                };
            }
            EventKind::State { to, .. } if *to == State::Running => {
                self.end_readiness(unit);
                self.start_checks(unit, &spec, now);
            }
            EventKind::State { to, .. } if !matches!(to, State::Starting | State::Running) => {
                self.clear_probes(unit)
            }
            _ => {}
        }
    }

    fn end_readiness(&mut self, unit: UnitId) {
        let p = self.probes.unit_mut(unit);
        p.ready = None;
        p.log_ready = None;
        self.close_notify_pipe(unit);
        self.cancel_attempts(unit, |o| matches!(o, Owner::Ready(_)));
    }

    fn start_checks(&mut self, unit: UnitId, spec: &UnitSpec, now: Time) {
        let p = self.probes.unit_mut(unit);
        p.running_since = now;
        p.watchdog_at = spec.watchdog.map(|w| now.saturating_add(w));
        p.health = (!spec.health.is_empty() || spec.watchdog.is_some()).then_some(Health::Unknown);
        p.checks = spec
            .health
            .iter()
            .map(|c| CheckState::new(c, now))
            .collect();
    }

    /// The run ended: forget every probe of the unit (its notify socket stays).
    fn clear_probes(&mut self, unit: UnitId) {
        self.end_readiness(unit);
        self.cancel_attempts(unit, |_| true);
        let p = self.probes.unit_mut(unit);
        p.checks.clear();
        p.watchdog_at = None;
        p.health = None;
    }

    /// The unit is going away (removed by a reload, forgotten): every probe, its notify
    /// socket and its fd pipe go with it.
    pub(super) fn drop_probes(&mut self, unit: UnitId) {
        self.clear_probes(unit);
        self.close_notify_pipe(unit);
        if let Some(mut ns) = self.probes.units.remove(&unit).and_then(|p| p.notify) {
            let _ = self.poll.registry().deregister(&mut ns);
        }
        self.probes
            .tokens
            .retain(|_, s| !matches!(s, Source::Notify(u) | Source::Fd(u) if *u == unit));
    }

    /// Starts due attempts, expires late ones and fires the watchdog.
    pub(super) fn run_probes(&mut self) {
        let now = self.now();
        let late: Vec<(Token, Duration)> = self
            .probes
            .attempts
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(t, a)| (*t, a.timeout))
            .collect();
        for (t, timeout) in late {
            let msg = format!(
                "timed out after {}",
                crate::engine::restart::human_duration(timeout)
            );
            self.finish_attempt(t, Err(msg));
        }
        let mut due_ready = Vec::new();
        let mut due_checks = Vec::new();
        let mut watchdogs = Vec::new();
        for (&unit, p) in &self.probes.units {
            if let Some((target, Some(at))) = &p.ready {
                if *at <= now {
                    due_ready.push((unit, target.clone()));
                }
            }
            if p.watchdog_at.is_some_and(|at| at <= now) {
                watchdogs.push(unit);
            }
            for (c, check) in p.checks.iter().enumerate() {
                if check.next_at.is_some_and(|at| at <= now) {
                    due_checks.push((unit, c));
                }
            }
        }
        for unit in watchdogs {
            let wd = self.watchdog_of(unit);
            let within = wd
                .map(crate::engine::restart::human_duration)
                .unwrap_or_default();
            self.watchdog_fire(unit, format!("watchdog: no WATCHDOG=1 within {within}"));
        }
        for (unit, target) in due_ready {
            if let Some((_, at)) = &mut self.probes.unit_mut(unit).ready {
                *at = None;
            }
            self.start_attempt(Owner::Ready(unit), &target, READY_ATTEMPT);
        }
        for (unit, c) in due_checks {
            self.run_check(unit, c, now);
        }
    }

    fn run_check(&mut self, unit: UnitId, c: usize, now: Time) {
        let Some(check) = self.probes.unit_mut(unit).checks.get_mut(c) else {
            return;
        };
        check.next_at = None;
        let timeout = check.spec.timeout;
        let target = match &check.spec.kind {
            HealthKind::Exec(argv) => Target::Exec(argv.clone()),
            HealthKind::Tcp(a) => Target::Tcp(a.clone()),
            HealthKind::Http(u) => Target::Http(u.clone()),
            HealthKind::Log(_) => {
                let result = if std::mem::take(&mut check.matched) {
                    None // already counted when the line arrived
                } else {
                    Some(Ok(()))
                };
                check.next_at = Some(now.saturating_add(check.spec.interval));
                if let Some(r) = result {
                    self.check_result(unit, c, r);
                }
                return;
            }
            HealthKind::MemoryAbove(limit) => {
                let limit = *limit;
                check.next_at = Some(now.saturating_add(check.spec.interval));
                let r = match self.unit_usage(unit) {
                    Some((mem, _)) if mem > limit => {
                        Err(format!("memory {mem} bytes is above {limit}"))
                    }
                    Some(_) => Ok(()),
                    None => return,
                };
                self.check_result(unit, c, r);
                return;
            }
            HealthKind::CpuAbove(limit) => {
                let limit = *limit;
                check.next_at = Some(now.saturating_add(check.spec.interval));
                let Some((_, cpu)) = self.unit_usage(unit) else {
                    return;
                };
                let check = &mut self.probes.unit_mut(unit).checks[c];
                let prev = check.cpu_prev.replace((now, cpu));
                let Some((t0, cpu0)) = prev else { return };
                let wall = now.saturating_sub(t0).as_micros().max(1) as f64;
                let used = cpu.saturating_sub(cpu0) as f64 / wall;
                let r = if used > limit {
                    Err(format!(
                        "cpu {:.0}% is above {:.0}%",
                        used * 100.0,
                        limit * 100.0
                    ))
                } else {
                    Ok(())
                };
                self.check_result(unit, c, r);
                return;
            }
        };
        self.start_attempt(Owner::Check(unit, c), &target, timeout);
    }

    /// Memory (bytes) and CPU time (µs) used by the unit's processes, or `None` when
    /// unknown: the unit's resource group, else what the platform tells of its process
    /// group.
    pub(super) fn unit_usage(&self, unit: UnitId) -> Option<(u64, u64)> {
        if let Some((memory, cpu)) = self.cgroup_usage(unit) {
            return Some((memory, cpu));
        }
        let usage = self.platform.group_usage(self.engine.unit(unit).pgid?)?;
        Some((usage.memory, usage.cpu_usec))
    }

    /// The verdict of one attempt, for its owner.
    pub(super) fn on_result(&mut self, owner: Owner, result: Result<(), String>) {
        let now = self.now();
        match owner {
            Owner::Ready(unit) => {
                if self.engine.unit(unit).state != State::Starting {
                    return;
                }
                match result {
                    Ok(()) => self.feed(Input::Ready(unit)),
                    Err(msg) => {
                        let name = &self.engine.unit(unit).name;
                        log::debug!("{name}: not ready yet: {msg}");
                        if let Some((_, at)) = &mut self.probes.unit_mut(unit).ready {
                            *at = Some(now.saturating_add(READY_RETRY));
                        }
                    }
                }
            }
            Owner::Check(unit, c) => {
                if let Some(check) = self.probes.unit_mut(unit).checks.get_mut(c) {
                    check.next_at = Some(now.saturating_add(check.spec.interval));
                    self.check_result(unit, c, result);
                }
            }
        }
    }

    /// Output lines of a unit (formatted: `head` bytes of timestamp/prefix first).
    pub(super) fn probe_lines(&mut self, unit: UnitId, bytes: &[u8]) {
        let head = self.outputs[unit.index()]
            .as_ref()
            .map_or(0, |o| o.line_head_len());
        let mut ready = false;
        let mut hits: Vec<(usize, String)> = Vec::new();
        let p = self.probes.unit_mut(unit);
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let text = String::from_utf8_lossy(&line[head.min(line.len())..]);
            if p.log_ready.as_ref().is_some_and(|re| re.is_match(&text)) {
                ready = true;
            }
            for (c, check) in p.checks.iter_mut().enumerate() {
                if check.regex.as_ref().is_some_and(|re| re.is_match(&text)) {
                    check.matched = true;
                    hits.push((c, format!("log line matched: {}", text.trim_end())));
                }
            }
        }
        for (c, msg) in hits {
            self.check_result(unit, c, Err(msg));
        }
        if ready && self.engine.unit(unit).state == State::Starting {
            self.feed(Input::Ready(unit));
        }
    }

    /// Counts one check result and acts on the unit's health changing.
    fn check_result(&mut self, unit: UnitId, c: usize, result: Result<(), String>) {
        let now = self.now();
        let name = self.engine.unit(unit).name.to_string();
        let p = self.probes.unit_mut(unit);
        let since = p.running_since;
        let Some(check) = p.checks.get_mut(c) else {
            return;
        };
        if let Err(msg) = &result {
            log::debug!("{name}: health check {c} failed: {msg}");
        }
        let changed = check.record(result, now, since);
        if !check.critical() {
            if let Some(msg) = changed {
                log::warn!("{name}: warning check {msg}");
                let h = self.probes.health(unit);
                self.publish_health(unit, h, h, format!("warning: {msg}"));
            }
            return;
        }
        let old = self.probes.health(unit);
        let p = self.probes.unit(unit);
        // Once the watchdog fired (checks cleared) only a new run clears unhealthy.
        if old == Health::Unhealthy && p.checks.is_empty() {
            return;
        }
        let new = aggregate(&p.checks, old);
        if new == old {
            return;
        }
        let message = changed.unwrap_or_default();
        self.probes.unit_mut(unit).health = Some(new);
        self.publish_health(unit, new, old, message.clone());
        if new == Health::Unhealthy {
            self.feed(Input::Unhealthy { unit, message });
        }
    }

    fn publish_health(&mut self, unit: UnitId, new: Health, old: Health, message: String) {
        let name = self.engine.unit(unit).name.to_string();
        if new != old {
            let why = if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            };
            log::info!("{name}: health {} -> {}{why}", old.as_str(), new.as_str());
        }
        let ev = Event {
            time: rfc3339(std::time::SystemTime::now()),
            unit: name,
            kind: "health".into(),
            state: Some(new.as_str().into()),
            from: Some(old.as_str().into()),
            reason: None,
            exit: None,
            pid: None,
            message: (!message.is_empty()).then_some(message),
        };
        self.broadcast_event(ev);
    }

    /// The unit's `watchdog` timeout, if it has one.
    fn watchdog_of(&self, unit: UnitId) -> Option<std::time::Duration> {
        self.engine.unit(unit).spec.as_ref()?.watchdog
    }

    pub(super) fn watchdog_ping(&mut self, unit: UnitId) {
        let wd = self.watchdog_of(unit);
        let now = self.now();
        let p = self.probes.unit_mut(unit);
        if p.watchdog_at.is_none() {
            return;
        }
        p.watchdog_at = wd.map(|w| now.saturating_add(w));
        // With no checks, the watchdog alone decides health: alive means healthy.
        if p.checks.is_empty() && p.health == Some(Health::Unknown) {
            p.health = Some(Health::Healthy);
            self.publish_health(
                unit,
                Health::Healthy,
                Health::Unknown,
                "watchdog: WATCHDOG=1 received".into(),
            );
        }
    }

    /// The watchdog expired (or was triggered): the unit is unhealthy.
    pub(super) fn watchdog_fire(&mut self, unit: UnitId, message: String) {
        let p = self.probes.unit_mut(unit);
        p.watchdog_at = None;
        let old = p.health.unwrap_or(Health::Unknown);
        p.health = Some(Health::Unhealthy);
        p.checks.clear();
        log::warn!("{}: {message}", self.engine.unit(unit).name);
        self.publish_health(unit, Health::Unhealthy, old, message.clone());
        self.feed(Input::Unhealthy { unit, message });
    }
}
