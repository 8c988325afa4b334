//! cgroup v1 files: the SPEC §4 mapping of resource keys (`cpu.shares`,
//! `cpu.cfs_quota_us`, `memory.limit_in_bytes`, `blkio.throttle.*`, …), accounting,
//! pause through the freezer hierarchy, and SIGKILL of a whole cgroup without waiting.

use std::collections::HashSet;

use super::{device_numbers, read, write, CgroupError, Cgroups, Result};
use crate::limits::Resources;

/// v2 `cpu.weight` (1–10000, default 100) → v1 `cpu.shares` (default 1024).
pub fn shares(weight: u32) -> u64 {
    (u64::from(weight) * 1024 / 100).clamp(2, 262_144)
}

/// v2 `io.weight` (1–10000, default 100) → v1 `blkio.weight` (10–1000, default 500).
pub fn blkio_weight(weight: u32) -> u64 {
    (u64::from(weight) * 5).clamp(10, 1000)
}

fn set(cg: &Cgroups, path: &str, ctrl: &str, file: &str, value: &str, key: &str) -> Result<()> {
    let Some(dir) = cg.dir(ctrl, path) else {
        return Err(CgroupError::Other(match cg.unusable_reason(ctrl) {
            Some(why) => format!("{key}: the {ctrl} controller cannot be used: {why}"),
            None => format!("{key}: the {ctrl} controller is not mounted (cgroup v1)"),
        }));
    };
    let f = dir.join(file);
    if !f.exists() {
        let why = match file {
            "memory.memsw.limit_in_bytes" => " (swap accounting off)",
            "blkio.weight" => " (nor blkio.bfq.weight: no proportional I/O scheduler)",
            _ => "",
        };
        return Err(CgroupError::Other(format!("{key}: {file} missing{why}")));
    }
    write(&f, value).map_err(|e| CgroupError::Other(format!("{key}: {e}")))
}

pub fn apply(cg: &Cgroups, path: &str, res: &Resources, pre: &str) -> Result<()> {
    let key = |k: &str| format!("{pre}.{k}");
    if let Some(w) = res.cpu_weight {
        set(
            cg,
            path,
            "cpu",
            "cpu.shares",
            &shares(w).to_string(),
            &key("cpu_weight"),
        )?;
    }
    if let Some(c) = res.cpu_max {
        let k = key("cpu_max");
        let period = 100_000u64;
        let quota = ((c * period as f64).round() as u64).max(1000);
        set(
            cg,
            path,
            "cpu",
            "cpu.cfs_period_us",
            &period.to_string(),
            &k,
        )?;
        set(cg, path, "cpu", "cpu.cfs_quota_us", &quota.to_string(), &k)?;
    }
    if let Some(m) = res.memory_max {
        let k = key("memory_max");
        set(
            cg,
            path,
            "memory",
            "memory.limit_in_bytes",
            &m.to_string(),
            &k,
        )?;
    }
    if let Some(m) = res.memory_high {
        let k = key("memory_high");
        set(
            cg,
            path,
            "memory",
            "memory.soft_limit_in_bytes",
            &m.to_string(),
            &k,
        )?;
    }
    if let Some(swap) = res.memory_swap_max {
        let k = key("memory_swap_max");
        // memsw limits memory + swap together and must not be below the memory limit.
        let Some(mem) = res.memory_max else {
            return Err(CgroupError::Other(format!(
                "{k}: needs memory_max on cgroup v1 (memory.memsw.limit_in_bytes limits memory and swap together)"
            )));
        };
        let total = mem.saturating_add(swap);
        set(
            cg,
            path,
            "memory",
            "memory.memsw.limit_in_bytes",
            &total.to_string(),
            &k,
        )?;
    }
    if let Some(w) = res.io_weight {
        let k = key("io_weight");
        // CFQ's blkio.weight, or BFQ's blkio.bfq.weight (same 10–1000 scale here).
        let bfq = cg.dir("blkio", path).is_some_and(|d| {
            !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists()
        });
        let file = if bfq {
            "blkio.bfq.weight"
        } else {
            "blkio.weight"
        };
        set(cg, path, "blkio", file, &blkio_weight(w).to_string(), &k)?;
    }
    for io in &res.io_max {
        let k = key("io_max");
        let (maj, min) =
            device_numbers(&io.device).map_err(|e| CgroupError::Other(format!("{k}: {e}")))?;
        for (file, v) in [
            ("blkio.throttle.read_bps_device", io.rbps),
            ("blkio.throttle.write_bps_device", io.wbps),
            ("blkio.throttle.read_iops_device", io.riops),
            ("blkio.throttle.write_iops_device", io.wiops),
        ] {
            if let Some(v) = v {
                set(cg, path, "blkio", file, &format!("{maj}:{min} {v}"), &k)?;
            }
        }
    }
    if let Some(p) = res.pids_max {
        set(
            cg,
            path,
            "pids",
            "pids.max",
            &p.to_string(),
            &key("pids_max"),
        )?;
    }
    Ok(())
}

/// Freezes or thaws the cgroup. Never waits: v1 freezing completes asynchronously
/// (FREEZING → FROZEN, normally within microseconds), and the tasks are stopped for
/// good once the kernel gets to them, so a pause is reported as requested.
pub fn freeze(cg: &Cgroups, path: &str, frozen: bool) -> Result<()> {
    let Some(dir) = cg.dir("freezer", path) else {
        return Err(CgroupError::Other(match cg.unusable_reason("freezer") {
            Some(why) => format!("the freezer controller cannot be used: {why}"),
            None => "the freezer controller is not mounted (cgroup v1)".into(),
        }));
    };
    write(
        &dir.join("freezer.state"),
        if frozen { "FROZEN" } else { "THAWED" },
    )
}

/// How many times SIGKILL goes round the cgroup's task list at most.
const KILL_ROUNDS: usize = 16;

/// Signals every process in the cgroup. For SIGKILL, without freezing and without
/// waiting: rounds over `cgroup.procs` until it lists no process that was not already
/// sent SIGKILL. A process with SIGKILL pending can fork no more (the kernel refuses the
/// fork), so only a child created just before its parent was signalled can appear, and
/// the next round takes it: the set shrinks and the rounds end. A frozen (paused)
/// cgroup is thawed afterwards, since its tasks die only once they run.
pub fn kill(cg: &Cgroups, path: &str, signal: i32) {
    if signal != libc::SIGKILL {
        for pid in cg.pids(path) {
            // SAFETY: kill takes plain integers; a vanished pid only yields ESRCH.
            unsafe { libc::kill(pid, signal) };
        }
        return;
    }
    let mut sent: HashSet<i32> = HashSet::new();
    for _ in 0..KILL_ROUNDS {
        let fresh: Vec<i32> = cg
            .pids(path)
            .into_iter()
            .filter(|p| sent.insert(*p))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            // SAFETY: kill takes plain integers; a vanished pid only yields ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let Some(dir) = cg.dir("freezer", path) {
        let state = dir.join("freezer.state");
        if read(&state).is_ok_and(|s| s.trim() != "THAWED") {
            let _ = write(&state, "THAWED");
        }
    }
}
