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
/// `delay * 2^(failures-1)`, capped at `max_delay`, then ±10% jitter.
pub fn backoff_delay(spec: &RestartSpec, failures: u32, rng: &mut Rng) -> Duration {
    if spec.delay.is_zero() {
        return Duration::ZERO;
    }
    let exp = failures.saturating_sub(1).min(32);
    let raw = spec.delay.as_secs_f64() * f64::from(1u32 << exp.min(31));
    let capped = raw.min(spec.max_delay.as_secs_f64().max(spec.delay.as_secs_f64()));
    let jitter = 0.9 + 0.2 * rng.next_f64();
    Duration::from_secs_f64(capped * jitter)
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
