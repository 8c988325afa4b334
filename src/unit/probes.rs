//! Serde types for `ready` (one readiness probe) and `health` items (one check kind plus
//! timing options), each checked for exactly one probe while it is read.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::de::{Address, Cpu, Dur, Int, Regex, SeverityDe, Size, Url};
use super::shapes::{Argv, KeyIn};
use super::spec::{HealthCheck, HealthKind, Ready, Severity};

const READY_KEYS: &[&str] = &["fd", "tcp", "http", "log", "exec"];

/// `ready`: a word or a map with exactly one probe.
pub struct ReadyDe(pub Ready);

impl<'de> Deserialize<'de> for ReadyDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ReadyDe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("started, notify or a map with one of fd, tcp, http, log, exec")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ReadyDe, E> {
                match v {
                    "started" => Ok(ReadyDe(Ready::Started)),
                    "notify" => Ok(ReadyDe(Ready::Notify)),
                    _ => Err(E::custom(format!(
                        "invalid readiness {v:?} (expected started, notify, or a map with one of fd, tcp, http, log, exec)"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReadyDe, A::Error> {
                let mut ready = None;
                while let Some(key) =
                    map.next_key_seed(KeyIn(READY_KEYS, "readiness probe", &[]))?
                {
                    let value = match key.as_str() {
                        "fd" => Ready::Fd(map.next_value::<Int<3, 65535>>()?.0 as i32),
                        "tcp" => Ready::Tcp(map.next_value::<Address>()?.0),
                        "http" => Ready::Http(map.next_value::<Url>()?.0),
                        "log" => Ready::Log(map.next_value::<Regex>()?.0),
                        _ => Ready::Exec(map.next_value::<Argv>()?.0),
                    };
                    if ready.is_some() {
                        return Err(de::Error::custom(format!(
                            "only one readiness probe is allowed, found a second one ({key:?})"
                        )));
                    }
                    ready = Some(value);
                }
                ready.map(ReadyDe).ok_or_else(|| {
                    de::Error::custom(
                        "empty readiness map (expected one of fd, tcp, http, log, exec)",
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

const HEALTH_KINDS: &[&str] = &["exec", "tcp", "http", "log", "memory_above", "cpu_above"];
const HEALTH_KEYS: &[&str] = &[
    "exec",
    "tcp",
    "http",
    "log",
    "memory_above",
    "cpu_above",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "severity",
];

/// One `health` item: exactly one check kind plus timing options.
pub struct HealthDe(pub HealthCheck);

impl<'de> Deserialize<'de> for HealthDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HealthDe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with one of exec, tcp, http, log, memory_above, cpu_above")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HealthDe, A::Error> {
                let mut kinds: Vec<(String, HealthKind)> = Vec::new();
                let mut seen: Vec<String> = Vec::new();
                let mut check = HealthCheck {
                    kind: HealthKind::Tcp(String::new()),
                    interval: Duration::from_secs(10),
                    timeout: Duration::from_secs(1),
                    retries: 3,
                    start_period: Duration::ZERO,
                    severity: Severity::Critical,
                };
                while let Some(key) =
                    map.next_key_seed(KeyIn(HEALTH_KEYS, "health check key", &seen))?
                {
                    seen.push(key.clone());
                    let kind = match key.as_str() {
                        "exec" => HealthKind::Exec(map.next_value::<Argv>()?.0),
                        "tcp" => HealthKind::Tcp(map.next_value::<Address>()?.0),
                        "http" => HealthKind::Http(map.next_value::<Url>()?.0),
                        "log" => HealthKind::Log(map.next_value::<Regex>()?.0),
                        "memory_above" => HealthKind::MemoryAbove(map.next_value::<Size>()?.0),
                        "cpu_above" => HealthKind::CpuAbove(map.next_value::<Cpu>()?.0),
                        other => {
                            match other {
                                "interval" => check.interval = map.next_value::<Dur>()?.0,
                                "timeout" => check.timeout = map.next_value::<Dur>()?.0,
                                "retries" => {
                                    check.retries = map.next_value::<Int<1, 10000>>()?.u32()
                                }
                                "start_period" => check.start_period = map.next_value::<Dur>()?.0,
                                _ => check.severity = map.next_value::<SeverityDe>()?.0,
                            }
                            continue;
                        }
                    };
                    kinds.push((key, kind));
                }
                let kind = match kinds.len() {
                    0 => {
                        return Err(de::Error::custom(format!(
                            "health check needs one of {}",
                            super::parse::or_list(HEALTH_KINDS)
                        )))
                    }
                    1 => kinds.remove(0).1,
                    _ => {
                        return Err(de::Error::custom(format!(
                            "health check has both {:?} and {:?} (use one kind per check)",
                            kinds[0].0, kinds[1].0
                        )))
                    }
                };
                for (name, value) in [("interval", check.interval), ("timeout", check.timeout)] {
                    if value.is_zero() {
                        return Err(de::Error::custom(format!("{name} must be greater than 0")));
                    }
                }
                check.kind = kind;
                Ok(HealthDe(check))
            }
        }
        d.deserialize_map(V)
    }
}

/// The keys of `ready` and of a `health` item, for `unit::keys`.
pub(super) fn probe_keys() -> Vec<(&'static str, &'static [&'static str])> {
    vec![("ready", READY_KEYS), ("health", HEALTH_KEYS)]
}
