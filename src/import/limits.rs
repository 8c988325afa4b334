//! Resource limits, IO limits, capabilities and rlimits → `resources`, `capabilities`,
//! `rlimits`.

use super::emit::Y;
use super::names;
use super::reader::Reader;
use super::values::{self, LimitKind};

/// `resources`: MemoryMax (MemoryLimit), MemoryHigh, MemorySwapMax, CPUQuota, CPUWeight,
/// TasksMax, IOWeight.
pub(super) fn resources(r: &mut Reader) -> Vec<(String, Y)> {
    let mut out: Vec<(String, Y)> = Vec::new();
    let memory_max = r
        .last("Service", "MemoryMax")
        .or_else(|| r.last("Service", "MemoryLimit"));
    let _ = r.all("Service", "MemoryLimit");
    for (entry, key) in [
        (memory_max, "memory_max"),
        (r.last("Service", "MemoryHigh"), "memory_high"),
        (r.last("Service", "MemorySwapMax"), "memory_swap_max"),
    ] {
        let Some(e) = entry else { continue };
        if e.value.ends_with('%') {
            r.warn(
                e.line,
                format!(
                    "{}={}: a share of the machine's memory; sup needs a size; not imported",
                    e.key, e.value
                ),
            );
            continue;
        }
        match values::size(&e.value) {
            Ok(None) => {}
            Ok(Some(bytes)) => match crate::unit::values::parse_size(&values::size_text(bytes)) {
                Ok(_) => out.push((key.to_string(), Y::Str(values::size_text(bytes)))),
                Err(why) => r.warn(e.line, format!("{}=: {why}; not imported", e.key)),
            },
            Err(why) => r.warn(e.line, format!("{}=: {why}; not imported", e.key)),
        }
    }
    if let Some(e) = r.last("Service", "CPUQuota") {
        match crate::unit::values::parse_cpu(&e.value) {
            Ok(_) if e.value.ends_with('%') => {
                out.push(("cpu_max".to_string(), Y::Str(e.value.clone())))
            }
            Ok(_) | Err(_) => r.warn(
                e.line,
                format!(
                    "CPUQuota={}: not a percentage sup accepts; not imported",
                    e.value
                ),
            ),
        }
    }
    for (key, sup_key, max) in [
        ("CPUWeight", "cpu_weight", 10_000u64),
        ("IOWeight", "io_weight", 10_000),
        ("TasksMax", "pids_max", crate::unit::limits::MAX_PIDS),
    ] {
        let Some(e) = r.last("Service", key) else {
            continue;
        };
        if e.value == "infinity" && key == "TasksMax" {
            continue;
        }
        match e.value.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => out.push((sup_key.to_string(), Y::Int(n))),
            _ => r.warn(
                e.line,
                format!(
                    "{key}={}: sup needs a number from 1 to {max}; not imported",
                    e.value
                ),
            ),
        }
    }
    let io = io_max(r);
    if !io.is_empty() {
        out.push(("io_max".to_string(), Y::Maps(io)));
    }
    out
}

/// `IO{Read,Write}{Bandwidth,IOPS}Max=DEVICE VALUE` → `resources.io_max`, one entry per
/// device. systemd reads these sizes with 1000-based suffixes.
fn io_max(r: &mut Reader) -> Vec<Vec<(String, Y)>> {
    let mut devices: Vec<(String, Vec<(String, Y)>)> = Vec::new();
    for (key, field) in [
        ("IOReadBandwidthMax", "rbps"),
        ("IOWriteBandwidthMax", "wbps"),
        ("IOReadIOPSMax", "riops"),
        ("IOWriteIOPSMax", "wiops"),
    ] {
        for e in r.accumulated("Service", key) {
            let Some((device, value)) = e.value.rsplit_once([' ', '\t']) else {
                r.warn(
                    e.line,
                    format!("{key}={}: expected DEVICE VALUE; not imported", e.value),
                );
                continue;
            };
            let device = device.trim();
            if !device.starts_with("/dev/") {
                r.warn(e.line, format!("{key}={}: sup needs a block device (/dev/...), not a file on it; not imported", e.value));
                continue;
            }
            let value = value.trim();
            if value == "infinity" {
                continue;
            }
            let Some(n) =
                decimal_size(value).filter(|n| *n >= 1 && *n <= crate::unit::limits::MAX_SIZE)
            else {
                r.warn(
                    e.line,
                    format!("{key}={}: invalid value {value:?}; not imported", e.value),
                );
                continue;
            };
            let entry = match devices.iter_mut().find(|(d, _)| d == device) {
                Some(entry) => entry,
                None => {
                    devices.push((device.to_string(), Vec::new()));
                    devices.last_mut().expect("just pushed")
                }
            };
            entry.1.retain(|(k, _)| k != field);
            entry.1.push((field.to_string(), Y::Int(n)));
        }
    }
    devices
        .into_iter()
        .map(|(device, mut fields)| {
            fields.insert(0, ("device".to_string(), Y::Str(device)));
            fields
        })
        .collect()
}

/// A number with an optional 1000-based suffix `K M G T`.
fn decimal_size(s: &str) -> Option<u64> {
    let (number, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'G' => (&s[..s.len() - 1], 1e9),
        'T' => (&s[..s.len() - 1], 1e12),
        _ => (s, 1.0),
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = number.parse().ok()?;
    let v = v * mult;
    (v.is_finite() && v < u64::MAX as f64).then(|| v.round() as u64)
}

/// `CapabilityBoundingSet=` and `AmbientCapabilities=` → `capabilities`, the set the
/// process keeps: the ambient set for a user other than root, the bounding set for root.
pub(super) fn capabilities(r: &mut Reader, user: Option<&str>) -> Option<Vec<String>> {
    let all: Vec<String> = crate::unit::values::CAPABILITIES
        .iter()
        .map(|c| c.to_string())
        .collect();
    let read = |r: &mut Reader, key: &str| -> Option<(Vec<String>, usize)> {
        let entries = r.all("Service", key);
        let line = entries.last()?.line;
        let mut set: Option<Vec<String>> = None;
        for e in entries {
            let (invert, list) = match e.value.strip_prefix('~') {
                Some(rest) => (true, rest),
                None => (false, e.value.as_str()),
            };
            if list.trim().is_empty() && !invert {
                set = Some(Vec::new());
                continue;
            }
            let mut named = Vec::new();
            for w in list.split_whitespace() {
                match crate::unit::values::parse_capability(w) {
                    Ok(c) => named.push(c),
                    Err(why) => r.warn(e.line, format!("{key}=: {why}; skipped")),
                }
            }
            let current = set.take();
            set = Some(if invert {
                let base = current.unwrap_or_else(|| all.clone());
                base.into_iter().filter(|c| !named.contains(c)).collect()
            } else {
                let mut base = current.unwrap_or_default();
                for c in named {
                    if !base.contains(&c) {
                        base.push(c);
                    }
                }
                base
            });
        }
        set.map(|s| (s, line))
    };
    let bounding = read(r, "CapabilityBoundingSet");
    let ambient = read(r, "AmbientCapabilities");
    let root = names::is_root(user);
    let keep = |set: Vec<String>| -> Vec<String> {
        // In the kernel's order, as a reader expects.
        all.iter().filter(|c| set.contains(c)).cloned().collect()
    };
    if root {
        if let Some((_, line)) = &ambient {
            r.warn(*line, "AmbientCapabilities= for root: root keeps its capabilities in sup unless CapabilityBoundingSet= limits them; not imported".to_string());
        }
        bounding.map(|(set, _)| keep(set))
    } else {
        match ambient {
            Some((set, line)) => {
                let set = match bounding {
                    Some((b, _)) => {
                        let dropped: Vec<&String> = set.iter().filter(|c| !b.contains(c)).collect();
                        if !dropped.is_empty() {
                            r.warn(line, format!("AmbientCapabilities=: {dropped:?} are outside CapabilityBoundingSet= and dropped"));
                        }
                        set.into_iter().filter(|c| b.contains(c)).collect()
                    }
                    None => set,
                };
                Some(keep(set))
            }
            // A user other than root has no capabilities in sup unless given: the same
            // as the bounding set alone does in systemd.
            None => None,
        }
    }
}

/// `Limit*=` → `rlimits`.
pub(super) fn rlimits(r: &mut Reader) -> Vec<(String, Y)> {
    let table: &[(&str, &str, LimitKind)] = &[
        ("LimitCPU", "cpu", LimitKind::Seconds),
        ("LimitFSIZE", "fsize", LimitKind::Bytes),
        ("LimitDATA", "data", LimitKind::Bytes),
        ("LimitSTACK", "stack", LimitKind::Bytes),
        ("LimitCORE", "core", LimitKind::Bytes),
        ("LimitRSS", "rss", LimitKind::Bytes),
        ("LimitNOFILE", "nofile", LimitKind::Number),
        ("LimitAS", "as", LimitKind::Bytes),
        ("LimitNPROC", "nproc", LimitKind::Number),
        ("LimitMEMLOCK", "memlock", LimitKind::Bytes),
        ("LimitLOCKS", "locks", LimitKind::Number),
        ("LimitSIGPENDING", "sigpending", LimitKind::Number),
        ("LimitMSGQUEUE", "msgqueue", LimitKind::Bytes),
        ("LimitNICE", "nice", LimitKind::Nice),
        ("LimitRTPRIO", "rtprio", LimitKind::Number),
        ("LimitRTTIME", "rttime", LimitKind::Micros),
    ];
    let mut out = Vec::new();
    for (key, name, kind) in table {
        let Some(e) = r.last("Service", key) else {
            continue;
        };
        match values::rlimit(&e.value, *kind) {
            Ok(v) => match v.parse::<u64>() {
                Ok(n) => out.push((name.to_string(), Y::Int(n))),
                Err(_) => out.push((name.to_string(), Y::Str(v))),
            },
            Err(why) => r.warn(e.line, format!("{key}=: {why}; not imported")),
        }
    }
    out
}
