//! A unit's `resources` as job-object limits: which keys map (and how), which cannot,
//! and the errors that name the key.

use std::io;

use crate::limits::Resources;

/// Why a job could not be set up as asked.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The unit asks for a `resources` key that job objects cannot enforce.
    #[error("resources.{key} cannot be enforced on Windows: job objects have no equivalent")]
    Unsupported { key: &'static str },
    /// The value does not fit what the job object takes.
    #[error("resources.{key}: {value} is out of range for a job object ({why})")]
    OutOfRange {
        key: &'static str,
        value: String,
        why: &'static str,
    },
    /// Both keys ask for CPU rate control, and a job has one rate-control mode.
    #[error("resources.cpu_max and resources.cpu_weight cannot both be set on Windows: a job object has one CPU rate-control mode")]
    CpuConflict,
    /// The host refused a limit (Wine refuses CPU rate control with error 87).
    #[error("resources.{key}: this host refused the {what} of the job object: {source}")]
    Refused {
        key: &'static str,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// A job operation without a key failed.
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The job-object side of a unit's `resources` (absent = no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JobLimits {
    /// Committed memory of all processes together (the job memory limit).
    pub memory_max: Option<u64>,
    /// Processes (not threads, unlike a cgroup's `pids.max`) active at once.
    pub pids_max: Option<u64>,
    /// Cores (`0.5` = half of one core): a hard cap on the job's CPU rate.
    pub cpu_max: Option<f64>,
    /// 1–10000 (100 = default share): weight-based CPU rate control, see [`cpu_weight`].
    pub cpu_weight: Option<u32>,
}

impl JobLimits {
    /// The limits for `resources`; the first key with no job-object equivalent is an
    /// [`JobError::Unsupported`] naming it.
    pub fn from_resources(r: &Resources) -> Result<JobLimits, JobError> {
        let unsupported = [
            ("memory_high", r.memory_high.is_some()),
            ("memory_swap_max", r.memory_swap_max.is_some()),
            ("io_weight", r.io_weight.is_some()),
            ("io_max", !r.io_max.is_empty()),
        ];
        if let Some((key, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(JobError::Unsupported { key });
        }
        Ok(JobLimits {
            memory_max: r.memory_max,
            pids_max: r.pids_max,
            cpu_max: r.cpu_max,
            cpu_weight: r.cpu_weight,
        })
    }
}

/// `cores` as a job's hard-cap CPU rate: hundredths of a percent of all `cpus`
/// processors (10000 = the whole machine), at least 1.
pub fn cpu_rate(cores: f64, cpus: u32) -> u32 {
    let rate = (cores / f64::from(cpus.max(1)) * 10000.0).round();
    rate.clamp(1.0, 10000.0) as u32
}

/// A cgroup-style weight (1–10000, default 100) as a job's CPU weight (1–9, default 5),
/// on a log scale: each factor of ten is two steps (1→1, 10→3, 100→5, 1000→7,
/// 10000→9).
pub fn cpu_weight(weight: u32) -> u32 {
    let steps = (f64::from(weight.max(1)) / 100.0).log10() * 2.0;
    (5.0 + steps).round().clamp(1.0, 9.0) as u32
}
