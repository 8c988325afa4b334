//! Wall-clock formatting: RFC 3339 UTC with microseconds, and a cached line-head
//! timestamp that is re-formatted only when the second changes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of a formatted timestamp plus its trailing space, as written before each
/// line (`2026-11-27T13:00:00.123456Z `), for years 0000–9999.
pub const TIMESTAMP_PREFIX_LEN: usize = 28;

/// Seconds and microseconds since the Unix epoch (negative seconds before it; the
/// microseconds always count forward from the start of that second).
pub(crate) fn split_epoch(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(e) => {
            let d: Duration = e.duration();
            let micros = d.subsec_micros();
            if micros == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000 - micros)
            }
        }
    }
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of `days` since 1970-01-01.
/// Counts in 400-year eras starting on March 1st, so the leap day is the last day
/// of the (shifted) year and needs no special case.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097; // 400 years
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z.rem_euclid(DAYS_PER_ERA); // 0..=146096
                                                 // Subtract the leap days seen so far (every 4 years, except 100, except 400).
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: lengths 31,30,31,30,31 repeat, which 153/5 captures.
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March … 11 = February
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS` for whole seconds since the epoch.
fn format_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// RFC 3339 in UTC with microseconds: `2026-11-27T13:00:00.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    Rfc3339(t).to_string()
}

/// [`rfc3339`] as a `Display` (and a JSON string), formatted without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339(pub SystemTime);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (secs, micros) = split_epoch(self.0);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return write!(
                f,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                sod / 3600,
                sod / 60 % 60,
                sod % 60
            );
        }
        // Digits placed by hand: `status` formats one per unit.
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |end: usize, width: usize, mut v: u64| {
            for i in (end - width..end).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(4, 4, y as u64);
        put(7, 2, m.into());
        put(10, 2, d.into());
        put(13, 2, (sod / 3600) as u64);
        put(16, 2, (sod / 60 % 60) as u64);
        put(19, 2, (sod % 60) as u64);
        put(26, 6, micros.into());
        // All ASCII digits and separators.
        f.write_str(std::str::from_utf8(&b).unwrap_or_default())
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The bytes written before every line: a fixed prefix (e.g. `web: `) followed, when
/// timestamps are on, by `TIMESTAMP ` kept up to date by [`LineHead::set_time`].
pub(crate) struct LineHead {
    bytes: Vec<u8>,
    prefix_len: usize,
    timestamps: bool,
    /// The second currently formatted in `bytes` (`None` before the first update).
    secs: Option<i64>,
}

impl LineHead {
    pub(crate) fn new(prefix: &[u8], timestamps: bool) -> LineHead {
        LineHead {
            bytes: prefix.to_vec(),
            prefix_len: prefix.len(),
            timestamps,
            secs: None,
        }
    }

    /// Reads the clock once (vDSO `clock_gettime(CLOCK_REALTIME)`) and updates the head.
    pub(crate) fn refresh(&mut self) {
        if self.timestamps {
            self.set_time(SystemTime::now());
        }
    }

    /// Re-formats the date and time only when the second changed; otherwise rewrites
    /// the six microsecond digits in place.
    pub(crate) fn set_time(&mut self, t: SystemTime) {
        if !self.timestamps {
            return;
        }
        let (secs, micros) = split_epoch(t);
        if self.secs != Some(secs) {
            self.bytes.truncate(self.prefix_len);
            self.bytes
                .extend_from_slice(format_seconds(secs).as_bytes());
            self.bytes.extend_from_slice(b".000000Z ");
            self.secs = Some(secs);
        }
        let end = self.bytes.len() - 2; // before `Z `
        let mut v = micros;
        for b in self.bytes[end - 6..end].iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }

    pub(crate) fn prefix_len(&self) -> usize {
        self.prefix_len
    }

    pub(crate) fn timestamps(&self) -> bool {
        self.timestamps
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, micros: u32) -> SystemTime {
        try_at(secs, micros).expect("a time this platform represents")
    }

    /// None before what the platform's `SystemTime` can hold (Windows: 1601).
    fn try_at(secs: i64, micros: u32) -> Option<SystemTime> {
        if secs >= 0 {
            Some(UNIX_EPOCH + Duration::new(secs as u64, micros * 1000))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs((-secs) as u64))
                .map(|t| t + Duration::from_micros(micros.into()))
        }
    }

    #[test]
    fn display_and_json_match_rfc3339() {
        let t = at(1_709_164_800, 123_456);
        assert_eq!(Rfc3339(t).to_string(), rfc3339(t));
        // The hand-placed digits agree with plain formatting, years 0000-9999 and beyond.
        let mut secs: i64 = -62_167_219_200 - 86_400 * 400; // before 0000-01-01
        while secs < 253_402_300_800 + 86_400 * 400 {
            let micros = (secs.rem_euclid(1_000_003) % 1_000_000) as u32;
            let want = format!("{}.{micros:06}Z", format_seconds(secs));
            if let Some(t) = try_at(secs, micros) {
                assert_eq!(Rfc3339(t).to_string(), want);
            }
            secs += 86_400 * 17 + 3_607;
        }
        assert_eq!(
            serde_json::to_string(&Rfc3339(t)).unwrap(),
            "\"2024-02-29T00:00:00.123456Z\""
        );
    }

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(951_868_799, 999_999)),
            "2000-02-29T23:59:59.999999Z"
        );
        assert_eq!(rfc3339(at(951_868_800, 0)), "2000-03-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(at(1_798_462_800, 500_000)),
            "2026-12-28T13:00:00.500000Z"
        );
        assert_eq!(
            rfc3339(at(1_795_784_400, 500_000)),
            "2026-11-27T13:00:00.500000Z"
        );
        assert_eq!(
            rfc3339(at(1_709_164_800, 123_456)),
            "2024-02-29T00:00:00.123456Z"
        );
        assert_eq!(rfc3339(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000000Z");
        assert_eq!(rfc3339(at(4_107_456_000, 0)), "2100-02-28T00:00:00.000000Z");
        assert_eq!(rfc3339(at(-1, 0)), "1969-12-31T23:59:59.000000Z");
        assert_eq!(rfc3339(at(-1, 250_000)), "1969-12-31T23:59:59.250000Z");
        assert_eq!(
            rfc3339(at(253_402_300_799, 0)),
            "9999-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn civil_matches_day_by_day_walk() {
        // Walk 1970-01-01 .. 2500 day by day with a naive calendar.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for days in 0..(530 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][(m - 1) as usize];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn head_updates_micros_and_seconds() {
        let mut h = LineHead::new(b"web: ", true);
        h.set_time(at(1_795_784_400, 5));
        assert_eq!(h.bytes(), b"web: 2026-11-27T13:00:00.000005Z ");
        h.set_time(at(1_795_784_400, 999_999));
        assert_eq!(h.bytes(), b"web: 2026-11-27T13:00:00.999999Z ");
        h.set_time(at(1_795_784_401, 0));
        assert_eq!(h.bytes(), b"web: 2026-11-27T13:00:01.000000Z ");
        assert_eq!(h.bytes().len(), 5 + TIMESTAMP_PREFIX_LEN);
        let mut plain = LineHead::new(b"", false);
        plain.refresh();
        assert!(plain.bytes().is_empty());
    }
}
