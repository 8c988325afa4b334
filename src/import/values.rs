//! systemd's value grammar, as far as the import needs it: booleans, time spans
//! (`1min 30s`, `infinity`), sizes (`512M`, `1.5G`), rlimit values, and writing
//! durations and sizes back in sup's forms.

/// systemd's booleans: `1 yes y true t on` / `0 no n false f off` (any case).
pub fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// A time span in microseconds: `90`, `5min`, `1h 30min`, `2.5s`, `500ms`; a bare number
/// is in `default_unit_us` (seconds for `*Sec=`). `None` for `infinity`; `Err` when bad.
pub fn timespan_us(text: &str, default_unit_us: u64) -> Result<Option<u64>, String> {
    let s = text.trim();
    if s == "infinity" {
        return Ok(None);
    }
    let bad = || format!("invalid time span {text:?}");
    let mut total: f64 = 0.0;
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(end);
        if number.is_empty() || number.matches('.').count() > 1 || number.starts_with('.') {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_end);
        let unit_us: f64 = match unit {
            "" => default_unit_us as f64,
            "us" | "usec" | "µs" | "μs" => 1.0,
            "ms" | "msec" => 1e3,
            "s" | "sec" | "second" | "seconds" => 1e6,
            "m" | "min" | "minute" | "minutes" => 60e6,
            "h" | "hr" | "hour" | "hours" => 3600e6,
            "d" | "day" | "days" => 86400e6,
            "w" | "week" | "weeks" => 604800e6,
            "M" | "month" | "months" => 2_629_800e6,
            "y" | "year" | "years" => 31_557_600e6,
            _ => return Err(bad()),
        };
        total += value * unit_us;
        any = true;
        rest = tail;
    }
    if !any || !total.is_finite() {
        return Err(bad());
    }
    Ok(Some(if total >= u64::MAX as f64 {
        u64::MAX
    } else {
        total.round() as u64
    }))
}

/// A size in bytes with 1024-based suffixes `K M G T P E` (`1.5G` allowed). `None` for
/// `infinity`. Percentages are the caller's business.
pub fn size(text: &str) -> Result<Option<u64>, String> {
    let s = text.trim();
    if s == "infinity" {
        return Ok(None);
    }
    let bad = || format!("invalid size {text:?}");
    let (number, suffix) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let shift = match suffix.trim() {
        "" | "B" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.matches('.').count() > 1 || number.starts_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    Ok(Some(if bytes >= u64::MAX as f64 {
        u64::MAX
    } else {
        bytes.round() as u64
    }))
}

/// A duration for sup: whole hours, minutes, seconds or milliseconds (rounded up to a
/// millisecond), at most `cap_ms`.
pub fn duration_text(us: u64, cap_ms: u64) -> String {
    let ms = us.div_ceil(1000).min(cap_ms);
    if ms == 0 {
        "0s".to_string()
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A size for sup: the largest exact suffix (`512M`) or bytes.
pub fn size_text(bytes: u64) -> String {
    for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        let unit = 1u64 << shift;
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// How an rlimit's value is written in systemd: plain numbers, sizes or time spans.
#[derive(Clone, Copy)]
pub enum LimitKind {
    Number,
    Bytes,
    /// `LimitCPU=`: seconds.
    Seconds,
    /// `LimitRTTIME=`: microseconds.
    Micros,
    /// `LimitNICE=`: a nice level `-20..19` (with a sign) or the raw 0..40.
    Nice,
}

/// `Limit*=` → sup's rlimit value (`N`, `"SOFT:HARD"`, `infinity`).
pub fn rlimit(text: &str, kind: LimitKind) -> Result<String, String> {
    let one = |s: &str| -> Result<Option<u64>, String> {
        let s = s.trim();
        if s == "infinity" {
            return Ok(None);
        }
        match kind {
            LimitKind::Number => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("invalid number {s:?}")),
            LimitKind::Bytes => size(s),
            LimitKind::Seconds => timespan_us(s, 1_000_000).map(|v| v.map(|us| us / 1_000_000)),
            LimitKind::Micros => timespan_us(s, 1),
            LimitKind::Nice => {
                if let Some(n) = s.strip_prefix(['-', '+']) {
                    let n: i64 = n.parse().map_err(|_| format!("invalid nice level {s:?}"))?;
                    let level = if s.starts_with('-') { -n } else { n };
                    if !(-20..=19).contains(&level) {
                        return Err(format!("nice level {s:?} is out of range (-20 to 19)"));
                    }
                    Ok(Some((20 - level) as u64))
                } else {
                    s.parse::<u64>()
                        .ok()
                        .filter(|n| *n <= 40)
                        .map(Some)
                        .ok_or_else(|| format!("invalid nice limit {s:?}"))
                }
            }
        }
    };
    let word = |v: Option<u64>| v.map_or("infinity".to_string(), |n| n.to_string());
    match text.split_once(':') {
        Some((soft, hard)) => {
            let (soft, hard) = (one(soft)?, one(hard)?);
            if soft.unwrap_or(u64::MAX) > hard.unwrap_or(u64::MAX) {
                return Err(format!("{text:?}: the soft limit is above the hard limit"));
            }
            if soft == hard {
                Ok(word(soft))
            } else {
                Ok(format!("{}:{}", word(soft), word(hard)))
            }
        }
        None => Ok(word(one(text)?)),
    }
}
