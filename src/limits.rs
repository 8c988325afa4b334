//! What a unit asks of the OS to confine it, as plain data shared by `unit` (which parses
//! it) and `platform` (which enforces it): resource limits, namespaces and rlimits.
//! Nothing here touches the OS; each backend maps these values to its own API (or
//! refuses what it cannot honour).

use std::path::PathBuf;

/// One `resources.io_max` entry: bandwidth and IOPS caps for one block device.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IoMax {
    pub device: PathBuf,
    pub rbps: Option<u64>,
    pub wbps: Option<u64>,
    pub riops: Option<u64>,
    pub wiops: Option<u64>,
}

/// A unit's or slice's `resources`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub cpu_weight: Option<u32>,
    /// Cores: `"50%"` is 0.5, `"1.5"` is 1.5.
    pub cpu_max: Option<f64>,
    pub memory_max: Option<u64>,
    pub memory_high: Option<u64>,
    pub memory_swap_max: Option<u64>,
    pub io_weight: Option<u32>,
    pub io_max: Vec<IoMax>,
    pub pids_max: Option<u64>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Namespace {
    Pid,
    Mount,
    Uts,
    Ipc,
    Net,
    User,
    Cgroup,
}

/// The resource an rlimit bounds (the `rlimits` keys, as `setrlimit(2)` names them).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RlimitResource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl RlimitResource {
    /// Every resource with its key name (`nofile`), in the order `rlimits` documents.
    pub const ALL: [(&'static str, RlimitResource); 16] = [
        ("as", RlimitResource::As),
        ("core", RlimitResource::Core),
        ("cpu", RlimitResource::Cpu),
        ("data", RlimitResource::Data),
        ("fsize", RlimitResource::Fsize),
        ("locks", RlimitResource::Locks),
        ("memlock", RlimitResource::Memlock),
        ("msgqueue", RlimitResource::Msgqueue),
        ("nice", RlimitResource::Nice),
        ("nofile", RlimitResource::Nofile),
        ("nproc", RlimitResource::Nproc),
        ("rss", RlimitResource::Rss),
        ("rtprio", RlimitResource::Rtprio),
        ("rttime", RlimitResource::Rttime),
        ("sigpending", RlimitResource::Sigpending),
        ("stack", RlimitResource::Stack),
    ];

    /// The key name (`nofile`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("?", |(n, _)| n)
    }
}

/// One `rlimits` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub resource: RlimitResource,
    /// `u64::MAX` means infinity.
    pub soft: u64,
    pub hard: u64,
}
