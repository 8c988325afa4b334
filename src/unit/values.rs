//! The value grammar of unit files: durations, sizes, CPU amounts, signals, umasks,
//! capability and rlimit names. Pure string → value functions, reusable outside parsing.

use std::time::Duration;

use super::spec::RlimitResource;
use crate::proc::sig;

use super::limits::{MAX_CPU, MAX_DURATION, MAX_DURATION_TEXT, MAX_SIZE, MAX_SIZE_TEXT};

const DURATION_HINT: &str = "use 250ms, 10s, 2m, 1h or an integer number of seconds";
const SIZE_HINT: &str = "use a number of bytes or 512K, 256M, 2G, 1T";
const CPU_HINT: &str =
    "use a percentage of one core like \"50%\" or a number of cores like \"1.5\"";

/// Splits `"250ms"` into `("250", "ms")`: the leading number and the unit suffix.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// A non-negative decimal number (`"10"`, `"1.5"`), no sign, no exponent.
fn parse_decimal(s: &str) -> Option<f64> {
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 || s.chars().filter(|&c| c == '.').count() > 1 || s.starts_with('.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// `250ms`, `10s`, `2m`, `1h`, `1.5s`; a bare number is seconds. At most `MAX_DURATION`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = || format!("invalid duration {text:?} ({DURATION_HINT})");
    let (number, unit) = split_number(s);
    let value = parse_decimal(number).ok_or_else(bad)?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!(
            "duration {text:?} is too large (at most {MAX_DURATION_TEXT})"
        )),
    }
}

/// Bytes as an integer, or `512K`, `256M`, `2G`, `1T` (powers of 1024, either case). At
/// most `MAX_SIZE`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let size = parse_size_unbounded(text)?;
    if size > MAX_SIZE {
        return Err(format!(
            "size {text:?} is too large (at most {MAX_SIZE_TEXT})"
        ));
    }
    Ok(size)
}

fn parse_size_unbounded(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad = || format!("invalid size {text:?} ({SIZE_HINT})");
    let (number, unit) = split_number(s);
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return Err(bad()),
    };
    if shift == 0 || !number.contains('.') {
        let base: u64 = number.parse().map_err(|_| {
            if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
                format!("size {text:?} is too large (at most {MAX_SIZE_TEXT})")
            } else {
                bad()
            }
        })?;
        return base
            .checked_mul(1u64 << shift)
            .ok_or_else(|| format!("size {text:?} is too large (at most {MAX_SIZE_TEXT})"));
    }
    let value = parse_decimal(number).ok_or_else(bad)? * (1u64 << shift) as f64;
    if value >= u64::MAX as f64 {
        return Err(format!(
            "size {text:?} is too large (at most {MAX_SIZE_TEXT})"
        ));
    }
    Ok(value.round() as u64)
}

/// `"50%"` of one core (0.5) or a number of cores (`"1.5"`); above zero, at most
/// `MAX_CPU` cores.
pub fn parse_cpu(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let bad = || format!("invalid cpu amount {text:?} ({CPU_HINT})");
    let cores = match s.strip_suffix('%') {
        Some(percent) => parse_decimal(percent.trim_end()).ok_or_else(bad)? / 100.0,
        None => parse_decimal(s).ok_or_else(bad)?,
    };
    if cores <= 0.0 {
        return Err(format!("cpu amount {text:?} must be greater than zero"));
    }
    if cores > MAX_CPU {
        return Err(format!(
            "cpu amount {text:?} is too large (at most {MAX_CPU} cores, \"{}%\")",
            MAX_CPU * 100.0
        ));
    }
    Ok(cores)
}

/// Standard signal names (without `SIG`) and their numbers (`crate::proc::sig`, Linux
/// numbering: the one vocabulary units use on every platform).
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", sig::HUP),
    ("INT", sig::INT),
    ("QUIT", sig::QUIT),
    ("ILL", sig::ILL),
    ("TRAP", sig::TRAP),
    ("ABRT", sig::ABRT),
    ("IOT", sig::IOT),
    ("BUS", sig::BUS),
    ("FPE", sig::FPE),
    ("KILL", sig::KILL),
    ("USR1", sig::USR1),
    ("SEGV", sig::SEGV),
    ("USR2", sig::USR2),
    ("PIPE", sig::PIPE),
    ("ALRM", sig::ALRM),
    ("TERM", sig::TERM),
    ("STKFLT", sig::STKFLT),
    ("CHLD", sig::CHLD),
    ("CONT", sig::CONT),
    ("STOP", sig::STOP),
    ("TSTP", sig::TSTP),
    ("TTIN", sig::TTIN),
    ("TTOU", sig::TTOU),
    ("URG", sig::URG),
    ("XCPU", sig::XCPU),
    ("XFSZ", sig::XFSZ),
    ("VTALRM", sig::VTALRM),
    ("PROF", sig::PROF),
    ("WINCH", sig::WINCH),
    ("IO", sig::IO),
    ("POLL", sig::POLL),
    ("PWR", sig::PWR),
    ("SYS", sig::SYS),
];

/// Highest signal number accepted as a bare number (real-time signals included).
pub const MAX_SIGNAL: i32 = 64;

/// `SIGTERM`, `TERM` (any case) or a number 1–64 → signal number.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let s = text.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(n) if (1..=MAX_SIGNAL).contains(&n) => Ok(n),
            _ => Err(format!(
                "signal number {s} is out of range (1 to {MAX_SIGNAL})"
            )),
        };
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(name, _)| *name == bare)
        .map(|&(_, n)| n)
        .ok_or_else(|| {
            format!("unknown signal {text:?} (use a name like SIGTERM or TERM, or a number)")
        })
}

/// The name (`"TERM"`) of a signal number, if it is a standard one.
pub fn signal_name(number: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|&&(_, n)| n == number)
        .map(|&(name, _)| name)
}

/// An octal umask string like `"0022"` or `"027"` (at most `0777`).
pub fn parse_umask(text: &str) -> Result<u32, String> {
    let s = text.trim();
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let bad = || format!("invalid umask {text:?} (use an octal string like \"0022\")");
    if digits.is_empty() || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(bad());
    }
    match u32::from_str_radix(digits, 8) {
        Ok(v) if v <= 0o777 => Ok(v),
        _ => Err(format!("umask {text:?} is out of range (at most \"0777\")")),
    }
}

/// Linux capability names without `CAP_`, indexed by capability number.
pub const CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `NET_BIND_SERVICE`, `CAP_NET_BIND_SERVICE` (any case) → `NET_BIND_SERVICE`.
pub fn parse_capability(text: &str) -> Result<String, String> {
    let upper = text.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if CAPABILITIES.contains(&bare) {
        Ok(bare.to_string())
    } else {
        Err(format!(
            "unknown capability {text:?} (use a Linux capability name like NET_BIND_SERVICE)"
        ))
    }
}

/// The kernel number of a capability name as returned by `parse_capability`.
pub fn capability_number(name: &str) -> Option<u32> {
    CAPABILITIES
        .iter()
        .position(|c| *c == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// An rlimit name (`nofile`, any case, `RLIMIT_` prefix allowed) → its resource.
/// Every platform parses every name; a backend without rlimits refuses the unit.
pub fn parse_rlimit_name(text: &str) -> Result<RlimitResource, String> {
    let lower = text.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    RlimitResource::ALL
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|&(_, r)| r)
        .ok_or_else(|| {
            let names: Vec<&str> = RlimitResource::ALL.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown rlimit {text:?} (expected one of {})",
                names.join(", ")
            )
        })
}

/// One rlimit bound: an integer, or `infinity` / `unlimited` (u64::MAX).
fn parse_rlimit_bound(s: &str) -> Option<u64> {
    match s.trim() {
        "infinity" | "unlimited" => Some(u64::MAX),
        n if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

/// `4096` (soft and hard), `"100:200"` (soft:hard), `infinity` → `(soft, hard)`.
pub fn parse_rlimit_value(text: &str) -> Result<(u64, u64), String> {
    let bad =
        || format!("invalid rlimit value {text:?} (use an integer, \"SOFT:HARD\" or \"infinity\")");
    let (soft, hard) = match text.split_once(':') {
        Some((soft, hard)) => (
            parse_rlimit_bound(soft).ok_or_else(bad)?,
            parse_rlimit_bound(hard).ok_or_else(bad)?,
        ),
        None => {
            let both = parse_rlimit_bound(text).ok_or_else(bad)?;
            (both, both)
        }
    };
    if soft > hard {
        return Err(format!(
            "rlimit {text:?}: soft limit is above the hard limit"
        ));
    }
    Ok((soft, hard))
}
