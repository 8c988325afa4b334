//! Serde types for the structured unit keys (`restart`, `stop`, `resources`, `log`,
//! `watch`): each checks its own consistency while it is read.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::de::{AbsPath, Cpu, Dur, Int, PolicyDe, Size};
use super::shapes::{str_or_map, Argv, OneOrMany};
use super::spec::{
    IoMax, LogSpec, LogTarget, Resources, RestartPolicy, ScaleMetric, ScaleSpec, WatchSpec,
};

use super::limits::{MAX_BURST, MAX_PIDS, MAX_SIZE};
use crate::platform::listen::ListenAddr;

/// `restart`, with the policy left open (its default depends on the unit type).
#[derive(Clone, Debug, PartialEq)]
pub struct RawRestart {
    pub policy: Option<RestartPolicy>,
    pub delay: Duration,
    pub max_delay: Duration,
    pub reset_after: Duration,
    pub limit_burst: u32,
    pub limit_interval: Duration,
}

impl Default for RawRestart {
    fn default() -> Self {
        RawRestart {
            policy: None,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
            limit_burst: 5,
            limit_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartMap {
    policy: Option<PolicyDe>,
    delay: Option<Dur>,
    max_delay: Option<Dur>,
    reset_after: Option<Dur>,
    limit: Option<LimitMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitMap {
    burst: Option<Int<1, MAX_BURST>>,
    interval: Option<Dur>,
}

impl<'de> Deserialize<'de> for RawRestart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = |s: &str| {
            let policy =
                PolicyDe::deserialize(de::value::StrDeserializer::<de::value::Error>::new(s))
                    .map_err(|e| e.to_string())?;
            Ok(RawRestart {
                policy: Some(policy.0),
                ..RawRestart::default()
            })
        };
        str_or_map(
            d,
            "a restart policy or a map",
            Some(word),
            |m: RestartMap| {
                let dflt = RawRestart::default();
                let limit = m.limit.unwrap_or(LimitMap {
                    burst: None,
                    interval: None,
                });
                let r = RawRestart {
                    policy: m.policy.map(|p| p.0),
                    delay: m.delay.map_or(dflt.delay, |d| d.0),
                    max_delay: m.max_delay.map_or(dflt.max_delay, |d| d.0),
                    reset_after: m.reset_after.map_or(dflt.reset_after, |d| d.0),
                    limit_burst: limit.burst.map_or(dflt.limit_burst, |b| b.u32()),
                    limit_interval: limit.interval.map_or(dflt.limit_interval, |d| d.0),
                };
                if r.delay > r.max_delay {
                    return Err(format!(
                        "delay ({:?}) is longer than max_delay ({:?})",
                        r.delay, r.max_delay
                    ));
                }
                Ok(r)
            },
        )
    }
}

/// `stop`: every field optional, defaults applied by the converter.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    pub signal: Option<super::de::Signal>,
    pub timeout: Option<Dur>,
    pub exec: Option<Argv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesMap {
    cpu_weight: Option<Int<1, 10000>>,
    cpu_max: Option<Cpu>,
    memory_max: Option<Size>,
    memory_high: Option<Size>,
    memory_swap_max: Option<Size>,
    io_weight: Option<Int<1, 10000>>,
    io_max: Option<Vec<IoMaxDe>>,
    pids_max: Option<Int<1, MAX_PIDS>>,
}

/// `resources` (units and slices).
pub struct ResourcesDe(pub Resources);

impl<'de> Deserialize<'de> for ResourcesDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_map(d, "a map of resource limits", None, |m: ResourcesMap| {
            Ok(ResourcesDe(Resources {
                cpu_weight: m.cpu_weight.map(|w| w.u32()),
                cpu_max: m.cpu_max.map(|c| c.0),
                memory_max: m.memory_max.map(|s| s.0),
                memory_high: m.memory_high.map(|s| s.0),
                memory_swap_max: m.memory_swap_max.map(|s| s.0),
                io_weight: m.io_weight.map(|w| w.u32()),
                io_max: m
                    .io_max
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| i.0)
                    .collect(),
                pids_max: m.pids_max.map(|p| p.0),
            }))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IoMaxMap {
    device: AbsPath,
    rbps: Option<Size>,
    wbps: Option<Size>,
    riops: Option<Int<1, MAX_SIZE>>,
    wiops: Option<Int<1, MAX_SIZE>>,
}

struct IoMaxDe(IoMax);

impl<'de> Deserialize<'de> for IoMaxDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_map(
            d,
            "a map {device, rbps, wbps, riops, wiops}",
            None,
            |m: IoMaxMap| {
                let io = IoMax {
                    device: m.device.0,
                    rbps: m.rbps.map(|s| s.0),
                    wbps: m.wbps.map(|s| s.0),
                    riops: m.riops.map(|i| i.0),
                    wiops: m.wiops.map(|i| i.0),
                };
                if io.rbps.is_none()
                    && io.wbps.is_none()
                    && io.riops.is_none()
                    && io.wiops.is_none()
                {
                    return Err(format!(
                        "io_max for {:?} needs at least one of rbps, wbps, riops, wiops",
                        io.device
                    ));
                }
                Ok(IoMaxDe(io))
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogMap {
    file: Option<LogFile>,
    max_size: Option<Size>,
    keep: Option<Int<0, 1000>>,
    timestamps: Option<bool>,
}

/// `file:` of `log`: an absolute path, `false` (discard) or `true` (the default file).
struct LogFile(LogTarget);

impl<'de> Deserialize<'de> for LogFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LogFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an absolute path or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LogFile, E> {
                Ok(LogFile(if v {
                    LogTarget::Default
                } else {
                    LogTarget::Discard
                }))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LogFile, E> {
                super::de::no_nul(v).map_err(E::custom)?;
                if v.starts_with('/') {
                    Ok(LogFile(LogTarget::File(v.into())))
                } else {
                    Err(E::custom(format!(
                        "log file {v:?} must be an absolute path (or false)"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The default `log` (file under the log directory, 10M, 5 kept, timestamps).
pub fn default_log() -> LogSpec {
    LogSpec {
        target: LogTarget::Default,
        max_size: 10 << 20,
        keep: 5,
        timestamps: true,
    }
}

/// `log`: `inherit` or a map.
pub struct LogDe(pub LogSpec);

impl<'de> Deserialize<'de> for LogDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = |s: &str| {
            match s {
            "inherit" => Ok(LogDe(LogSpec { target: LogTarget::Inherit, ..default_log() })),
            _ => Err(format!("invalid log {s:?} (expected inherit or a map with file, max_size, keep, timestamps)")),
        }
        };
        str_or_map(d, "inherit or a map", Some(word), |m: LogMap| {
            let dflt = default_log();
            let max_size = m.max_size.map_or(dflt.max_size, |s| s.0);
            if max_size == 0 {
                return Err("max_size must be greater than 0".to_string());
            }
            Ok(LogDe(LogSpec {
                target: m.file.map_or(LogTarget::Default, |f| f.0),
                max_size,
                keep: m.keep.map_or(dflt.keep, |k| k.u32()),
                timestamps: m.timestamps.unwrap_or(dflt.timestamps),
            }))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchMap {
    paths: OneOrMany<AbsPath>,
    debounce: Option<Dur>,
}

/// `watch`: `{paths, debounce}`.
pub struct WatchDe(pub WatchSpec);

impl<'de> Deserialize<'de> for WatchDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_map(d, "a map {paths, debounce}", None, |m: WatchMap| {
            if m.paths.0.is_empty() {
                return Err("paths must list at least one path".to_string());
            }
            Ok(WatchDe(WatchSpec {
                paths: m.paths.0.into_iter().map(|p| p.0).collect(),
                debounce: m.debounce.map_or(Duration::from_millis(500), |d| d.0),
            }))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleMap {
    min: Int<1, { super::limits::MAX_INSTANCES as u64 }>,
    max: Int<1, { super::limits::MAX_INSTANCES as u64 }>,
    metric: Option<super::de::Text>,
    up_above: super::de::Text,
    down_below: super::de::Text,
    window: Option<Dur>,
    cooldown: Option<Dur>,
}

/// `scale`: `{min, max, metric: cpu | memory, up_above, down_below, window, cooldown}`.
/// Thresholds are CPU amounts (`"80%"` of one core, `"1.5"` cores) for `cpu` and sizes
/// for `memory`.
pub struct ScaleDe(pub ScaleSpec);

impl<'de> Deserialize<'de> for ScaleDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        str_or_map(
            d,
            "a map {min, max, metric, up_above, down_below, window, cooldown}",
            None,
            |m: ScaleMap| {
                let metric = match m.metric.as_ref().map_or("cpu", |t| t.0.as_str()) {
                    "cpu" => ScaleMetric::Cpu,
                    "memory" => ScaleMetric::Memory,
                    other => {
                        return Err(format!("metric: {other:?} is not cpu or memory"));
                    }
                };
                let threshold = |key: &str, text: &str| -> Result<f64, String> {
                    match metric {
                        ScaleMetric::Cpu => super::values::parse_cpu(text).map_err(|e| {
                            format!("{key}: {e} (metric cpu: a CPU amount like \"80%\")")
                        }),
                        ScaleMetric::Memory => super::values::parse_size(text)
                            .map(|b| b as f64)
                            .map_err(|e| format!("{key}: {e} (metric memory: a size like 256M)")),
                    }
                };
                let up_above = threshold("up_above", &m.up_above.0)?;
                let down_below = threshold("down_below", &m.down_below.0)?;
                let (min, max) = (m.min.u32(), m.max.u32());
                if min > max {
                    return Err(format!("min {min} is above max {max}"));
                }
                if down_below >= up_above {
                    return Err(format!(
                        "down_below ({}) must be below up_above ({})",
                        m.down_below.0, m.up_above.0
                    ));
                }
                let window = m.window.map_or(Duration::from_secs(30), |d| d.0);
                if window < Duration::from_secs(1) {
                    return Err("window: at least 1s".to_string());
                }
                Ok(ScaleDe(ScaleSpec {
                    min,
                    max,
                    metric,
                    up_above,
                    down_below,
                    window,
                    cooldown: m.cooldown.map_or(Duration::from_secs(60), |d| d.0),
                }))
            },
        )
    }
}

/// `backlog` of a socket when none is given.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// A name in `LISTEN_FDNAMES`: what systemd accepts, narrowed to letters, digits and
/// `_.-@` (no `:`, the separator), at most 255 bytes.
fn socket_name(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "_.-@".contains(c);
    if !s.is_empty() && s.len() <= 255 && s.chars().all(ok) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid socket name {s:?} (letters, digits, '_', '.', '-', '@'; at most 255)"
        ))
    }
}

struct SocketName(String);

impl<'de> Deserialize<'de> for SocketName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::de::from_text(d, "a socket name", socket_name).map(SocketName)
    }
}

struct ListenDe(ListenAddr);

impl<'de> Deserialize<'de> for ListenDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::de::from_text(
            d,
            "an address like \"tcp:127.0.0.1:8080\"",
            ListenAddr::parse,
        )
        .map(ListenDe)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SocketMap {
    listen: ListenDe,
    name: Option<SocketName>,
    backlog: Option<Int<1, 65535>>,
}

/// One item of `sockets`: `{listen, name, backlog}`, or just the address. The name is
/// left open (its default is the unit's name).
pub struct SocketDe {
    pub listen: ListenAddr,
    pub name: Option<String>,
    pub backlog: u32,
}

impl<'de> Deserialize<'de> for SocketDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = |s: &str| {
            Ok(SocketDe {
                listen: ListenAddr::parse(s)?,
                name: None,
                backlog: DEFAULT_BACKLOG,
            })
        };
        str_or_map(
            d,
            "a map {listen, name, backlog} or an address",
            Some(word),
            |m: SocketMap| {
                Ok(SocketDe {
                    listen: m.listen.0,
                    name: m.name.map(|n| n.0),
                    backlog: m.backlog.map_or(DEFAULT_BACKLOG, |b| b.u32()),
                })
            },
        )
    }
}

/// `env`: names checked as keys, any scalar value kept as its text.
pub type EnvMap = super::shapes::DistinctMap<super::de::EnvName, super::de::EnvValue>;

/// The keys of each nested map read here, by dotted prefix, for `unit::keys`.
pub(super) fn nested_keys() -> Vec<(&'static str, &'static [&'static str])> {
    use super::keys::fields_of;
    vec![
        ("restart", fields_of::<RestartMap>()),
        ("restart.limit", fields_of::<LimitMap>()),
        ("stop", fields_of::<RawStop>()),
        ("resources", fields_of::<ResourcesMap>()),
        ("resources.io_max", fields_of::<IoMaxMap>()),
        ("log", fields_of::<LogMap>()),
        ("watch", fields_of::<WatchMap>()),
        ("sockets", fields_of::<SocketMap>()),
        ("resources_total", fields_of::<ResourcesMap>()),
        ("resources_total.io_max", fields_of::<IoMaxMap>()),
        ("scale", fields_of::<ScaleMap>()),
    ]
}
