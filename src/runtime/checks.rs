//! Health-check bookkeeping, without I/O: counting one check's results (`retries`,
//! `start_period`) and deriving the unit's health from all of its checks.

use crate::engine::Time;
use crate::unit::{HealthCheck, HealthKind, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One health check of a running unit.
pub struct CheckState {
    pub spec: HealthCheck,
    /// When the next attempt is due (`None` while one is in flight).
    pub next_at: Option<Time>,
    /// Consecutive failures counted so far.
    pub failures: u32,
    /// It passed at least once in this run.
    pub passed: bool,
    /// `retries` consecutive failures and no success since.
    pub failing: bool,
    /// `log` checks: a line matched since the last interval.
    pub matched: bool,
    pub regex: Option<regex_lite::Regex>,
    /// `cpu_above`: the previous (time, cpu µs) sample.
    pub cpu_prev: Option<(Time, u64)>,
}

impl CheckState {
    /// A check of a run that became running at `now`: first attempt right away.
    pub fn new(spec: &HealthCheck, now: Time) -> CheckState {
        CheckState {
            spec: spec.clone(),
            next_at: Some(now),
            failures: 0,
            passed: false,
            failing: false,
            matched: false,
            regex: match &spec.kind {
                HealthKind::Log(re) => regex_lite::Regex::new(re).ok(),
                _ => None,
            },
            cpu_prev: None,
        }
    }

    pub fn critical(&self) -> bool {
        self.spec.severity == Severity::Critical
    }

    /// Counts one result at `now` of a run running since `since`. Failures inside
    /// `start_period` do not count until the check has passed once. Returns a message
    /// when the check starts failing or passes again.
    pub fn record(&mut self, result: Result<(), String>, now: Time, since: Time) -> Option<String> {
        let what = describe(&self.spec.kind);
        match result {
            Ok(()) => {
                self.failures = 0;
                self.passed = true;
                std::mem::take(&mut self.failing).then(|| format!("{what}: passing again"))
            }
            Err(msg) => {
                if !self.passed && now < since + self.spec.start_period {
                    return None;
                }
                self.failures += 1;
                if self.failures < self.spec.retries || self.failing {
                    return None;
                }
                self.failing = true;
                let n = self.failures;
                let times = if n == 1 {
                    "failure"
                } else {
                    "consecutive failures"
                };
                Some(format!("{what}: {msg} ({n} {times})"))
            }
        }
    }
}

/// The unit's health from its checks: unhealthy if a critical check is failing; healthy
/// once every critical check has passed (with only warning checks: once one has passed);
/// otherwise unknown. `old` is kept when nothing decides.
pub fn aggregate(checks: &[CheckState], old: Health) -> Health {
    let mut critical = checks.iter().filter(|c| c.critical()).peekable();
    if critical.peek().is_none() {
        return if checks.iter().any(|c| c.passed) {
            Health::Healthy
        } else {
            old
        };
    }
    let critical: Vec<&CheckState> = critical.collect();
    if critical.iter().any(|c| c.failing) {
        Health::Unhealthy
    } else if critical.iter().all(|c| c.passed) {
        Health::Healthy
    } else {
        Health::Unknown
    }
}

/// How a check is named in messages: `http http://…/health`, `memory_above 104857600`.
pub fn describe(kind: &HealthKind) -> String {
    match kind {
        HealthKind::Exec(argv) => format!("exec {}", argv.join(" ")),
        HealthKind::Tcp(a) => format!("tcp {a}"),
        HealthKind::Http(u) => format!("http {u}"),
        HealthKind::Log(r) => format!("log {r:?}"),
        HealthKind::MemoryAbove(b) => format!("memory_above {b}"),
        HealthKind::CpuAbove(c) => format!("cpu_above {:.0}%", c * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check(retries: u32, start_period: u64, severity: Severity) -> CheckState {
        let spec = HealthCheck {
            kind: HealthKind::Tcp("127.0.0.1:1".into()),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries,
            start_period: Duration::from_secs(start_period),
            severity,
        };
        CheckState::new(&spec, Duration::ZERO)
    }

    fn s(n: u64) -> Time {
        Duration::from_secs(n)
    }

    fn fail() -> Result<(), String> {
        Err("connect: refused".into())
    }

    #[test]
    fn retries_consecutive_failures_make_it_failing_once() {
        let mut c = check(3, 0, Severity::Critical);
        assert_eq!(c.record(fail(), s(1), s(0)), None);
        assert_eq!(c.record(fail(), s(2), s(0)), None);
        assert_eq!(
            c.record(fail(), s(3), s(0)).as_deref(),
            Some("tcp 127.0.0.1:1: connect: refused (3 consecutive failures)")
        );
        assert!(c.failing);
        assert_eq!(c.record(fail(), s(4), s(0)), None, "reported once");
        assert_eq!(
            c.record(Ok(()), s(5), s(0)).as_deref(),
            Some("tcp 127.0.0.1:1: passing again")
        );
        assert!(!c.failing && c.failures == 0);
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut c = check(2, 0, Severity::Critical);
        c.record(fail(), s(1), s(0));
        c.record(Ok(()), s(2), s(0));
        assert_eq!(c.record(fail(), s(3), s(0)), None);
        assert!(c.record(fail(), s(4), s(0)).is_some());
    }

    #[test]
    fn start_period_failures_do_not_count_until_a_pass() {
        let mut c = check(1, 10, Severity::Critical);
        assert_eq!(c.record(fail(), s(5), s(0)), None);
        assert_eq!(c.failures, 0);
        assert!(c.record(fail(), s(10), s(0)).is_some(), "period over");
        let mut c = check(1, 10, Severity::Critical);
        c.record(Ok(()), s(1), s(0));
        assert!(
            c.record(fail(), s(2), s(0)).is_some(),
            "counts once it passed"
        );
    }

    #[test]
    fn health_from_checks() {
        use Health::*;
        let mut checks = vec![
            check(1, 0, Severity::Critical),
            check(1, 0, Severity::Critical),
            check(1, 0, Severity::Warning),
        ];
        assert_eq!(aggregate(&[], Unknown), Unknown);
        assert_eq!(aggregate(&checks, Unknown), Unknown);
        checks[0].record(Ok(()), s(1), s(0));
        assert_eq!(
            aggregate(&checks, Unknown),
            Unknown,
            "the second has not passed"
        );
        checks[1].record(Ok(()), s(1), s(0));
        assert_eq!(aggregate(&checks, Unknown), Healthy);
        checks[2].record(fail(), s(2), s(0));
        assert_eq!(
            aggregate(&checks, Healthy),
            Healthy,
            "warnings do not count"
        );
        checks[1].record(fail(), s(2), s(0));
        assert_eq!(aggregate(&checks, Healthy), Unhealthy);
        checks[1].record(Ok(()), s(3), s(0));
        assert_eq!(aggregate(&checks, Unhealthy), Healthy);
    }

    #[test]
    fn warning_checks_alone() {
        let mut w = check(1, 0, Severity::Warning);
        assert_eq!(
            aggregate(std::slice::from_ref(&w), Health::Unknown),
            Health::Unknown
        );
        w.record(fail(), s(1), s(0));
        assert_eq!(
            aggregate(std::slice::from_ref(&w), Health::Unknown),
            Health::Unknown
        );
        w.record(Ok(()), s(2), s(0));
        assert_eq!(
            aggregate(std::slice::from_ref(&w), Health::Unknown),
            Health::Healthy
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(describe(&HealthKind::CpuAbove(0.9)), "cpu_above 90%");
        assert_eq!(
            describe(&HealthKind::Exec(vec!["curl".into(), "-f".into()])),
            "exec curl -f"
        );
    }
}
