//! Restart policy arithmetic: exponential backoff with jitter, and the start limit.

use std::collections::VecDeque;
use std::time::Duration;

use super::Time;
use crate::unit::RestartSpec;

/// A small deterministic PRNG (xorshift64*) so jitter is testable with a fixed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Delay before restart number `failures` (1 = first consecutive failure):
/// `delay * 2^(failures-1)`, capped at `max_delay`, then ±10% jitter. Total: any spec and
/// count give a delay (saturating at `Duration::MAX`), never a panic.
pub fn backoff_delay(spec: &RestartSpec, failures: u32, rng: &mut Rng) -> Duration {
    if spec.delay.is_zero() {
        return Duration::ZERO;
    }
    let exp = failures.saturating_sub(1).min(31);
    let capped = spec
        .delay
        .saturating_mul(1u32 << exp)
        .min(spec.max_delay.max(spec.delay));
    let jitter = 0.9 + 0.2 * rng.next_f64();
    Duration::try_from_secs_f64(capped.as_secs_f64() * jitter).unwrap_or(Duration::MAX)
}

/// Forgets starts older than the interval, then says whether one more start is allowed.
pub fn start_allowed(spec: &RestartSpec, starts: &mut VecDeque<Time>, now: Time) -> bool {
    while let Some(&first) = starts.front() {
        if now.saturating_sub(first) >= spec.limit_interval {
            starts.pop_front();
        } else {
            break;
        }
    }
    starts.len() < spec.limit_burst as usize
}

/// Text for `%` durations in messages: `60s`, `1.5s`, `250ms`.
pub fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::limits::MAX_DURATION;
    use crate::unit::RestartPolicy;

    fn spec(delay: Duration, max_delay: Duration) -> RestartSpec {
        RestartSpec {
            policy: RestartPolicy::Always,
            delay,
            max_delay,
            reset_after: Duration::from_secs(60),
            limit_burst: 5,
            limit_interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_up_to_max_delay_with_jitter() {
        let s = spec(Duration::from_millis(100), Duration::from_secs(30));
        let mut rng = Rng::new(7);
        for (failures, base) in [(1, 0.1), (2, 0.2), (4, 0.8), (10, 30.0), (u32::MAX, 30.0)] {
            let d = backoff_delay(&s, failures, &mut rng).as_secs_f64();
            assert!(
                d >= base * 0.9 - 1e-9 && d <= base * 1.1 + 1e-9,
                "{failures}: {d}"
            );
        }
    }

    #[test]
    fn backoff_is_total_at_the_largest_values() {
        let mut rng = Rng::new(1);
        // The largest durations a unit file may give: within ±10% of them.
        let s = spec(MAX_DURATION, MAX_DURATION);
        for failures in [0, 1, 2, 31, 32, 33, u32::MAX] {
            let d = backoff_delay(&s, failures, &mut rng);
            assert!(
                d >= MAX_DURATION.mul_f64(0.9) && d <= MAX_DURATION.mul_f64(1.1),
                "{d:?}"
            );
        }
        // Beyond anything a unit file may give: saturates instead of panicking.
        for (delay, max_delay) in [
            (Duration::MAX, Duration::MAX),
            (Duration::from_secs(u64::MAX / 2), Duration::MAX),
            (Duration::from_nanos(1), Duration::MAX),
            (Duration::MAX, Duration::ZERO),
        ] {
            for failures in [1, 2, 32, u32::MAX] {
                for _ in 0..50 {
                    let d = backoff_delay(&spec(delay, max_delay), failures, &mut rng);
                    assert!(d >= delay.min(max_delay.max(delay)).mul_f64(0.5), "{d:?}");
                }
            }
        }
    }
}
