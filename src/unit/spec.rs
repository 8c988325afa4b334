//! Validated, typed unit and slice specifications: what the rest of sup works with.
//!
//! These types are produced by `unit::parse` from YAML; every value in them has already
//! been checked (names, durations, sizes, signals, ranges). Nothing here touches the OS.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::limits::{IoMax, Namespace, Resources, Rlimit, RlimitResource};

/// A unit or slice name: `[A-Za-z0-9][A-Za-z0-9_.-]*`, optionally with an `@N` instance
/// suffix for instances of an instanced unit.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct UnitName(String);

impl UnitName {
    /// Checks the name grammar (without an instance suffix).
    pub fn new(s: &str) -> Result<UnitName, String> {
        let mut chars = s.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphanumeric() => {}
            _ => {
                return Err(format!(
                    "invalid unit name {s:?}: must start with a letter or digit"
                ))
            }
        }
        if let Some(bad) =
            chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(format!(
                "invalid unit name {s:?}: character {bad:?} is not allowed"
            ));
        }
        Ok(UnitName(s.to_string()))
    }

    /// The name of instance `n` of this unit: `NAME@n`.
    pub fn instance(&self, n: u32) -> UnitName {
        UnitName(format!("{}@{}", self.0, n))
    }

    /// For `NAME@N` returns `NAME`; otherwise the name itself.
    pub fn template(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnitType {
    Simple,
    Oneshot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RestartSpec {
    pub policy: RestartPolicy,
    /// First restart delay (default 100ms); doubles per consecutive failure.
    pub delay: Duration,
    /// Cap for the doubled delay (default 30s).
    pub max_delay: Duration,
    /// A run at least this long resets the consecutive-failure counter (default 60s).
    pub reset_after: Duration,
    /// At most `limit_burst` starts within `limit_interval` (default 5 in 60s).
    pub limit_burst: u32,
    pub limit_interval: Duration,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StopSpec {
    /// Signal number sent to the main process (default SIGTERM).
    pub signal: i32,
    /// Time after the signal before SIGKILL to every process of the unit (default 10s).
    pub timeout: Duration,
    /// Optional command run before the signal.
    pub exec: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Ready {
    Started,
    Notify,
    Fd(i32),
    Tcp(String),
    Http(String),
    Log(String),
    Exec(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HealthKind {
    Exec(Vec<String>),
    Tcp(String),
    Http(String),
    Log(String),
    MemoryAbove(u64),
    /// Fraction of one core: `"90%"` is 0.9, `"1.5"` is 1.5.
    CpuAbove(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Severity {
    Critical,
    Warning,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheck {
    pub kind: HealthKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub severity: Severity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OnUnhealthy {
    Restart,
    Stop,
    Ignore,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LogTarget {
    /// `LOGDIR/NAME.log` (or `inherit` in entrypoint mode).
    Default,
    File(PathBuf),
    /// Lines go to sup's own stdout/stderr prefixed `NAME: `.
    Inherit,
    /// `file: false`: output is discarded.
    Discard,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogSpec {
    pub target: LogTarget,
    /// Rotate when the file would exceed this many bytes (default 10M).
    pub max_size: u64,
    /// Rotated files kept: NAME.log.1 … NAME.log.keep (default 5).
    pub keep: u32,
    /// Prefix each line with an RFC 3339 timestamp (default true).
    pub timestamps: bool,
}

/// One of `sockets`: a listening socket sup holds for the unit and passes to it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SocketSpec {
    pub listen: crate::platform::listen::ListenAddr,
    /// Its name in `LISTEN_FDNAMES` (default: the unit's name).
    pub name: String,
    pub backlog: u32,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WatchSpec {
    pub paths: Vec<PathBuf>,
    pub debounce: Duration,
}

/// What `scale` measures on the instances' groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScaleMetric {
    /// Average CPU use per instance, in cores (1.0 = one core busy), over `window`.
    Cpu,
    /// Average memory per instance, in bytes, over `window`.
    Memory,
}

/// `scale`: autoscaling of an instanced unit between `min` and `max` instances.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleSpec {
    pub min: u32,
    pub max: u32,
    pub metric: ScaleMetric,
    /// Add an instance when the average stays above this for `window` (cores for `cpu`,
    /// bytes for `memory`).
    pub up_above: f64,
    /// Remove the newest instance when the average stays below this for `window`.
    pub down_below: f64,
    pub window: Duration,
    /// At most one step per cooldown.
    pub cooldown: Duration,
}

/// One unit file, validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitSpec {
    pub name: UnitName,
    /// The file it came from.
    pub path: PathBuf,
    pub description: Option<String>,
    /// The argv to execute; a string `exec` is already `["/bin/sh", "-c", STRING]`.
    pub exec: Vec<String>,
    pub kind: UnitType,
    pub enabled: bool,
    pub working_dir: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    pub env_file: Vec<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub umask: Option<u32>,
    pub restart: RestartSpec,
    pub stop: StopSpec,
    pub start_timeout: Duration,
    /// `watchdog`: with `NOTIFY_SOCKET`, the unit must send `WATCHDOG=1` at least this
    /// often once running, or it counts as unhealthy.
    pub watchdog: Option<Duration>,
    pub requires: Vec<UnitName>,
    pub wants: Vec<UnitName>,
    pub after: Vec<UnitName>,
    pub before: Vec<UnitName>,
    pub conflicts: Vec<UnitName>,
    pub ready: Ready,
    pub health: Vec<HealthCheck>,
    pub on_unhealthy: OnUnhealthy,
    pub on_failure: Vec<UnitName>,
    pub resources: Resources,
    pub slice: Option<UnitName>,
    pub namespaces: Vec<Namespace>,
    pub hostname: Option<String>,
    pub root: Option<PathBuf>,
    pub private_tmp: bool,
    /// `None`: unchanged for root, none for other users.
    pub capabilities: Option<Vec<String>>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    pub log: LogSpec,
    pub instances: u32,
    /// The file asks for a pool (`instances` or `scale` given): its units are
    /// `NAME@1` … `NAME@N`, even with one instance.
    #[serde(default)]
    pub pooled: bool,
    /// Set on the spec of one instance of a pool: its number.
    #[serde(default)]
    pub instance: Option<u32>,
    /// How many instances must be ready for units ordered after the pool (default all).
    #[serde(default)]
    pub min_ready: Option<u32>,
    /// Limits on all instances together (the pool's own group). Boxed, like `scale`:
    /// most units have neither, and a spec stays small.
    #[serde(default)]
    pub resources_total: Option<Box<Resources>>,
    #[serde(default)]
    pub scale: Option<Box<ScaleSpec>>,
    pub watch: Option<WatchSpec>,
    /// `sockets`, in the order of their fds (3, 4, …).
    #[serde(default)]
    pub sockets: Vec<SocketSpec>,
}

/// A `kind: slice` file, validated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SliceSpec {
    pub name: UnitName,
    pub path: PathBuf,
    pub description: Option<String>,
    pub parent: Option<UnitName>,
    pub resources: Resources,
    pub max_units: Option<u32>,
}

/// A file that was rejected. `message` is `FILE:LINE:COL: message` (one per problem,
/// joined with newlines when there are several).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InvalidUnit {
    pub name: String,
    pub path: PathBuf,
    pub message: String,
}

/// Everything found in a unit directory.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadResult {
    pub units: Vec<UnitSpec>,
    pub slices: Vec<SliceSpec>,
    pub invalid: Vec<InvalidUnit>,
}
