//! cgroup v2 files: limits (`cpu.max`, `memory.max`, `io.max`, …), accounting, `cgroup.kill`
//! and `cgroup.freeze`.

use std::path::{Path, PathBuf};

use super::{device_numbers, read, write, CgroupError, Cgroups, Result};
use crate::limits::Resources;

/// Enables sup's controllers in `cgroup.subtree_control` of every dir from `top` down to
/// the parent of `leaf` (and `leaf` itself when `include_leaf`). Best effort: what
/// cannot be enabled stays off and the keys needing it fail when applied.
pub fn enable_down(top: &Path, leaf: &Path, include_leaf: bool) {
    let Ok(below) = leaf.strip_prefix(top) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = vec![top.to_path_buf()];
    let mut cur = top.to_path_buf();
    for part in below.iter() {
        cur = cur.join(part);
        dirs.push(cur.clone());
    }
    if !include_leaf {
        dirs.pop();
    }
    for dir in dirs {
        let offered = read(&dir.join("cgroup.controllers")).unwrap_or_default();
        let enabled = read(&dir.join("cgroup.subtree_control")).unwrap_or_default();
        for ctrl in super::V2_CONTROLLERS {
            let has = |text: &str| text.split_whitespace().any(|c| c == *ctrl);
            if has(&offered) && !has(&enabled) {
                if let Err(e) = write(&dir.join("cgroup.subtree_control"), &format!("+{ctrl}")) {
                    log::debug!("cannot enable {ctrl}: {e}");
                }
            }
        }
    }
}

/// Writes `value` to `file` of the cgroup, which needs controller `ctrl`; errors name the
/// key and why.
fn set(cg: &Cgroups, path: &str, ctrl: &str, file: &str, value: &str, key: &str) -> Result<()> {
    let Some(dir) = cg.dir(ctrl, path).filter(|_| cg.has(ctrl)) else {
        return Err(CgroupError::Other(format!(
            "{key}: the {ctrl} controller is not enabled for sup's cgroup"
        )));
    };
    let f = dir.join(file);
    if !f.exists() {
        return Err(CgroupError::Other(format!(
            "{key}: {} missing (the {ctrl} controller does not offer it)",
            f.display()
        )));
    }
    write(&f, value).map_err(|e| CgroupError::Other(format!("{key}: {e}")))
}

/// The `cpu.max` value for `cores` CPUs: quota and period in microseconds.
pub fn cpu_max_value(cores: f64) -> String {
    let period = 100_000u64;
    let quota = ((cores * period as f64).round() as u64).max(1000);
    format!("{quota} {period}")
}

/// `io.max` line for one device.
pub fn io_max_line(maj: u64, min: u64, io: &crate::limits::IoMax) -> String {
    let mut line = format!("{maj}:{min}");
    for (k, v) in [
        ("rbps", io.rbps),
        ("wbps", io.wbps),
        ("riops", io.riops),
        ("wiops", io.wiops),
    ] {
        if let Some(v) = v {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line
}

pub fn apply(cg: &Cgroups, path: &str, res: &Resources, pre: &str) -> Result<()> {
    let key = |k: &str| format!("{pre}.{k}");
    if let Some(w) = res.cpu_weight {
        set(
            cg,
            path,
            "cpu",
            "cpu.weight",
            &w.to_string(),
            &key("cpu_weight"),
        )?;
    }
    if let Some(c) = res.cpu_max {
        set(
            cg,
            path,
            "cpu",
            "cpu.max",
            &cpu_max_value(c),
            &key("cpu_max"),
        )?;
    }
    if let Some(m) = res.memory_max {
        set(
            cg,
            path,
            "memory",
            "memory.max",
            &m.to_string(),
            &key("memory_max"),
        )?;
    }
    if let Some(m) = res.memory_high {
        set(
            cg,
            path,
            "memory",
            "memory.high",
            &m.to_string(),
            &key("memory_high"),
        )?;
    }
    if let Some(m) = res.memory_swap_max {
        let k = key("memory_swap_max");
        set(cg, path, "memory", "memory.swap.max", &m.to_string(), &k)?;
    }
    if let Some(w) = res.io_weight {
        set(
            cg,
            path,
            "io",
            "io.weight",
            &format!("default {w}"),
            &key("io_weight"),
        )?;
    }
    for io in &res.io_max {
        let k = key("io_max");
        let (maj, min) =
            device_numbers(&io.device).map_err(|e| CgroupError::Other(format!("{k}: {e}")))?;
        set(cg, path, "io", "io.max", &io_max_line(maj, min, io), &k)?;
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

pub fn kill(cg: &Cgroups, path: &str, signal: i32) {
    let dir = cg.hierarchies[0].base.join(path);
    if signal == libc::SIGKILL && write(&dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    // No cgroup.kill (before 5.14) or another signal: signal each process; for SIGKILL
    // freeze first so none can fork meanwhile.
    let frozen = signal == libc::SIGKILL && freeze(cg, path, true).is_ok();
    for pid in cg.pids(path) {
        // SAFETY: kill takes plain integers; a vanished pid only yields ESRCH.
        unsafe { libc::kill(pid, signal) };
    }
    if frozen {
        let _ = freeze(cg, path, false);
    }
}

pub fn freeze(cg: &Cgroups, path: &str, frozen: bool) -> Result<()> {
    let dir = cg.hierarchies[0].base.join(path);
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
}
