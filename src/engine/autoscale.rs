//! Autoscaling decisions for a pool (`scale:`): pure arithmetic on readings the runtime
//! takes of the instances' cgroups. Nothing here touches the OS or reads the clock; time
//! is the runtime's monotonic [`Time`], and every value comes in as an argument.
//!
//! How the runtime drives it: every [`Autoscaler::interval`] it sums, over the pool's
//! running instances, their cumulative CPU time and their current memory, and calls
//! [`Autoscaler::observe`] with the pool's current target count. When that returns a
//! [`Decision`], it sets the target to `to` (starting the next instance or stopping the
//! newest) and emits a `scale` event with `why`. When the count changes for any other
//! reason (`supctl scale N` / `auto`, an instance died or was replaced, a reload) it calls
//! [`Autoscaler::reset`]. `status` shows [`Autoscaler::explain`].
//!
//! The rules:
//!
//! - **Datapoints.** For `cpu`, each pair of consecutive readings gives one datapoint: the
//!   CPU time used between them divided by (elapsed time × running instances), in cores per
//!   instance. For `memory`, each reading is one datapoint: memory bytes / running.
//! - **The window.** Readings are kept from the last one taken at or before `now - window`
//!   (so the datapoints cover the whole window). Until the readings span a full window
//!   nothing is decided ("measuring").
//! - **Above / below for the window** means *every* datapoint in the window is above
//!   `up_above` (strictly) — or every one below `down_below` — like an alarm that needs N
//!   breaching periods in a row: a spike shorter than the window, or a load that dips under
//!   the threshold now and then, does not scale. The figure reported is the window's
//!   average (for `cpu` the CPU time over the whole span / (span × instances); for `memory`
//!   the mean of the readings).
//! - **The window restarts** (readings dropped, the new reading is the first of a new
//!   window) when the number of running instances changes, when the summed CPU counter
//!   goes down (an instance was replaced between readings: its counter started again at
//!   0), when time goes backwards, after every step (so the new count is measured on its
//!   own), and on [`Autoscaler::reset`]. So no datapoint ever mixes two instance sets, and
//!   no rate is negative. A reading at the same time as the previous one is ignored.
//! - **Steps.** One step is ±1 (up: one more instance; down: the newest goes), never above
//!   `max` nor below `min`, and none before `cooldown` has passed since the previous step.
//!   The window keeps filling during the cooldown, so a step can follow as soon as the
//!   cooldown ends if the condition held for the whole window.
//! - **Outside the range.** When `current` is below `min` or above `max` (a reload changed
//!   the range), the next `observe` moves the count straight to the nearest bound in one
//!   decision — not step by step, and ignoring window and cooldown: the range is a hard
//!   limit the user just set. That decision starts a cooldown like any step.
//! - **No instance running** (`running == 0`): nothing is measured and nothing decided
//!   (except the range rule above); `explain` says so. A pool at 0 with `min: 0` stays at 0:
//!   there is nothing to measure load on.
//! - **Bad specs** are handled without panicking: `max < min` acts as `max = min`; when
//!   `up_above <= down_below` a window that satisfies both scales up; NaN thresholds never
//!   hold.

use std::collections::VecDeque;
use std::time::Duration;

use super::restart::human_duration;
use super::Time;
use crate::unit::{ScaleMetric, ScaleSpec};

/// Most readings kept for one window, whatever the window and however often the runtime
/// calls `observe`.
pub const MAX_SAMPLES: usize = 1000;

/// One reading of the pool, taken by the runtime at `at`: over the instances that were
/// running, the sum of their cumulative CPU time in microseconds and the sum of their
/// current memory in bytes, and how many instances were counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub at: Time,
    pub cpu_usec: u64,
    pub memory_bytes: u64,
    pub running: u32,
}

/// A step the runtime should take: set the pool's target from `from` to `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub from: u32,
    pub to: u32,
    /// The figure that caused it: the window's average (cores per instance for `cpu`,
    /// bytes per instance for `memory`), or the bound (`min` / `max`) when the count was
    /// outside the range.
    pub figure: f64,
    /// For the event and `status`, e.g. `cpu 0.93 cores per instance above 0.80 for 30s`.
    pub why: String,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Time,
    cpu_usec: u64,
    memory_bytes: u64,
}

/// What the last `observe` (or `reset`) concluded, for `explain`.
#[derive(Clone, Debug, PartialEq)]
enum Status {
    /// Nothing observed yet.
    Start,
    NoInstances,
    /// Readings span less than the window.
    Measuring,
    /// The window is full; neither condition holds.
    Holding,
    /// The condition to go up (true) / down (false) holds but the count is at the bound.
    AtBound(bool),
    /// The condition holds; the step waits for the cooldown to end at this time.
    Cooldown(bool, Time),
    /// A step was just taken.
    Stepped,
}

/// The autoscaling state of one pool.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    spec: ScaleSpec,
    interval: Duration,
    cap: usize,
    samples: VecDeque<Sample>,
    /// How many instances were running for every sample in `samples`.
    running: u32,
    /// The latest window average and the span it covers.
    figure: Option<(f64, Duration)>,
    last_step: Option<Time>,
    last: Option<(Time, Decision)>,
    status: Status,
    /// When and why the window last restarted (other than by a step), for `explain`.
    restarted: Option<(Time, String)>,
}

impl Autoscaler {
    pub fn new(spec: &ScaleSpec) -> Autoscaler {
        let interval = interval_for(spec.window);
        // Readings at `interval` over a window: window/interval + 1, plus the one before
        // the window's start; twice that leaves room for a runtime that reads a bit more
        // often.
        let per_window = spec.window.as_nanos() / interval.as_nanos().max(1);
        let cap = usize::try_from(per_window.saturating_mul(2).saturating_add(4))
            .unwrap_or(MAX_SAMPLES)
            .clamp(8, MAX_SAMPLES);
        Autoscaler {
            spec: spec.clone(),
            interval,
            cap,
            samples: VecDeque::new(),
            running: 0,
            figure: None,
            last_step: None,
            last: None,
            status: Status::Start,
            restarted: None,
        }
    }

    /// How often the runtime should take a reading: a tenth of the window, at least 1s and
    /// at most 10s (a 30s window is read every 3s, a 5m window every 10s); a window shorter
    /// than 1s is read once per window (at least every 100ms).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The spec this autoscaler follows.
    pub fn spec(&self) -> &ScaleSpec {
        &self.spec
    }

    /// The last step taken, and when.
    pub fn last_decision(&self) -> Option<&(Time, Decision)> {
        self.last.as_ref()
    }

    /// Feeds a reading; returns a step when one is due. `current` is the pool's current
    /// target count.
    pub fn observe(&mut self, r: Reading, current: u32) -> Option<Decision> {
        let now = r.at;
        let (min, max) = self.bounds();
        if current < min || current > max {
            let (to, bound) = if current < min {
                (min, "min")
            } else {
                (max, "max")
            };
            let why = format!("{current} instances outside the range: {bound} is {to}");
            return Some(self.step(now, current, to, to as f64, why));
        }
        if !self.ingest(r) {
            return None;
        }
        let Some(eval) = self.evaluate(now) else {
            self.figure = None;
            self.status = Status::Measuring;
            return None;
        };
        self.figure = Some((eval.average, eval.span));
        if !eval.covered {
            self.status = Status::Measuring;
            return None;
        }
        let up = eval.all_above;
        if !up && !eval.all_below {
            self.status = Status::Holding;
            return None;
        }
        let to = if up {
            if current >= max {
                self.status = Status::AtBound(true);
                return None;
            }
            current + 1
        } else {
            if current <= min {
                self.status = Status::AtBound(false);
                return None;
            }
            current - 1
        };
        if let Some(last) = self.last_step {
            let ready = last.saturating_add(self.spec.cooldown);
            if now < ready {
                self.status = Status::Cooldown(up, ready);
                return None;
            }
        }
        let (word, threshold) = if up {
            ("above", self.spec.up_above)
        } else {
            ("below", self.spec.down_below)
        };
        let why = format!(
            "{} per instance {word} {} for {}",
            self.figure_text(eval.average),
            self.value_text(threshold),
            human_duration(self.spec.window),
        );
        Some(self.step(now, current, to, eval.average, why))
    }

    /// Text for `status`, e.g. `cpu 0.42 cores per instance over 30s (up above 0.80, down
    /// below 0.30, 2..10 instances); holding; last: +1 (2 -> 3) 40s ago: cpu 0.93 cores per
    /// instance above 0.80 for 30s`.
    pub fn explain(&self, now: Time) -> String {
        let (min, max) = self.bounds();
        let figure = match self.figure {
            Some((avg, span)) => format!(
                "{} per instance over {}",
                self.figure_text(avg),
                human_duration(span)
            ),
            None => format!("{}: no figure yet", self.metric_name()),
        };
        let mut out = format!(
            "{figure} (up above {}, down below {}, {min}..{max} instances); ",
            self.value_text(self.spec.up_above),
            self.value_text(self.spec.down_below),
        );
        let window = human_duration(self.spec.window);
        let status = match &self.status {
            Status::Start => "waiting for the first reading".to_string(),
            Status::NoInstances => "no instance running: nothing to measure".to_string(),
            Status::Measuring => {
                let span = self.figure.map_or(Duration::ZERO, |(_, s)| s);
                let mut s = format!("measuring ({} of the {window} window", human_duration(span));
                if let Some((at, why)) = &self.restarted {
                    s.push_str(&format!(
                        "; restarted {} ago: {why}",
                        human_duration(now.saturating_sub(*at))
                    ));
                }
                s.push(')');
                s
            }
            Status::Holding => "holding: not above or below for the whole window".to_string(),
            Status::AtBound(true) => format!("above for {window} but at max {max}"),
            Status::AtBound(false) => format!("below for {window} but at min {min}"),
            Status::Cooldown(up, until) => format!(
                "{} for {window}, cooldown ends in {}",
                if *up { "above" } else { "below" },
                human_duration(until.saturating_sub(now))
            ),
            Status::Stepped => "stepped; measuring the new count".to_string(),
        };
        out.push_str(&status);
        if let Some((at, d)) = &self.last {
            let sign = if d.to >= d.from { '+' } else { '-' };
            out.push_str(&format!(
                "; last: {sign}{} ({} -> {}) {} ago: {}",
                d.to.abs_diff(d.from),
                d.from,
                d.to,
                human_duration(now.saturating_sub(*at)),
                d.why
            ));
        }
        out
    }

    /// The count changed by someone else (`scale N` / `auto`, instances died or were
    /// replaced, a reload): the window starts over. The cooldown is not restarted: it only
    /// follows autoscaling steps.
    pub fn reset(&mut self, now: Time) {
        self.clear();
        self.status = Status::Measuring;
        self.restarted = Some((now, "the pool changed".to_string()));
    }

    fn bounds(&self) -> (u32, u32) {
        (self.spec.min, self.spec.max.max(self.spec.min))
    }

    fn clear(&mut self) {
        self.samples.clear();
        self.figure = None;
        self.running = 0;
    }

    fn step(&mut self, now: Time, from: u32, to: u32, figure: f64, why: String) -> Decision {
        let d = Decision {
            from,
            to,
            figure,
            why,
        };
        self.clear();
        self.restarted = None;
        self.last_step = Some(now);
        self.last = Some((now, d.clone()));
        self.status = Status::Stepped;
        d
    }

    /// Adds the reading to the window (restarting it when it cannot continue); false when
    /// there is nothing to evaluate.
    fn ingest(&mut self, r: Reading) -> bool {
        if r.running == 0 {
            self.clear();
            self.status = Status::NoInstances;
            return false;
        }
        let sample = Sample {
            at: r.at,
            cpu_usec: r.cpu_usec,
            memory_bytes: r.memory_bytes,
        };
        if let Some(prev) = self.samples.back().copied() {
            let restart = if r.running != self.running {
                Some(format!(
                    "{} -> {} instances running",
                    self.running, r.running
                ))
            } else if r.at < prev.at {
                Some("the clock went back".to_string())
            } else if r.at == prev.at {
                return false;
            } else if self.spec.metric == ScaleMetric::Cpu && r.cpu_usec < prev.cpu_usec {
                Some("the CPU counter went down (an instance was replaced)".to_string())
            } else {
                None
            };
            if let Some(why) = restart {
                self.clear();
                self.restarted = Some((r.at, why));
            }
        }
        self.running = r.running;
        self.samples.push_back(sample);
        // Keep one reading at or before the window's start, none older.
        let start = r.at.saturating_sub(self.spec.window);
        while self.samples.len() >= 2 && self.samples[1].at <= start {
            self.samples.pop_front();
        }
        // Too many readings for one window: merge the two oldest (for cpu the first two
        // intervals become one, the window stays covered).
        while self.samples.len() > self.cap {
            self.samples.remove(1);
        }
        true
    }

    /// The window's datapoints, or None when there are not enough readings for one.
    fn evaluate(&self, now: Time) -> Option<Eval> {
        let first = *self.samples.front()?;
        let last = *self.samples.back()?;
        let span = now.saturating_sub(first.at);
        let n = self.running as f64;
        let (up, down) = (self.spec.up_above, self.spec.down_below);
        let (mut all_above, mut all_below) = (true, true);
        let average = match self.spec.metric {
            ScaleMetric::Cpu => {
                if self.samples.len() < 2 {
                    return None;
                }
                for (a, b) in self.samples.iter().zip(self.samples.iter().skip(1)) {
                    let v = cores(a, b, n);
                    all_above &= v > up;
                    all_below &= v < down;
                }
                cores(&first, &last, n)
            }
            ScaleMetric::Memory => {
                let mut sum = 0.0;
                for s in &self.samples {
                    let v = s.memory_bytes as f64 / n;
                    all_above &= v > up;
                    all_below &= v < down;
                    sum += v;
                }
                sum / self.samples.len() as f64
            }
        };
        Some(Eval {
            average,
            span,
            covered: span >= self.spec.window,
            all_above,
            all_below,
        })
    }

    fn metric_name(&self) -> &'static str {
        match self.spec.metric {
            ScaleMetric::Cpu => "cpu",
            ScaleMetric::Memory => "memory",
        }
    }

    /// `0.80` (cores) or `512.0 MiB`.
    fn value_text(&self, v: f64) -> String {
        match self.spec.metric {
            ScaleMetric::Cpu => format!("{v:.2}"),
            ScaleMetric::Memory => bytes_text(v),
        }
    }

    /// `cpu 0.93 cores` or `memory 512.0 MiB`.
    fn figure_text(&self, v: f64) -> String {
        match self.spec.metric {
            ScaleMetric::Cpu => format!("cpu {v:.2} cores"),
            ScaleMetric::Memory => format!("memory {}", bytes_text(v)),
        }
    }
}

struct Eval {
    average: f64,
    span: Duration,
    covered: bool,
    all_above: bool,
    all_below: bool,
}

fn interval_for(window: Duration) -> Duration {
    if window < Duration::from_secs(1) {
        window.max(Duration::from_millis(100))
    } else {
        (window / 10).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }
}

/// Cores per instance between two readings of the same instance set (`b` after `a`, its
/// counter not lower).
fn cores(a: &Sample, b: &Sample, running: f64) -> f64 {
    let used = b.cpu_usec.saturating_sub(a.cpu_usec) as f64;
    let elapsed = b.at.saturating_sub(a.at).as_secs_f64() * 1e6;
    if elapsed <= 0.0 || running <= 0.0 {
        return 0.0;
    }
    used / (elapsed * running)
}

fn bytes_text(v: f64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if v.is_nan() || v.abs() < 1024.0 {
        return format!("{v:.0} B");
    }
    let mut v = v / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v.abs() < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}
