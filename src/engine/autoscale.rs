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
//!   (so the datapoints cover the whole window), and at least two. Until the readings span
//!   a full window nothing is decided ("measuring").
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
//! - **Instances in flux.** The per-instance figure divides by `running` (the instances
//!   measured); `current` (the target) only bounds the step. While instances start or stop,
//!   `running` changes and restarts the window, so nothing is decided until the set has
//!   been stable for a whole window. A replacement that keeps the count and whose counter
//!   does not make the sum go down cannot be seen here: the runtime calls `reset` for it.
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
                (min, "below min")
            } else {
                (max, "above max")
            };
            let why = format!("count {current} {bound} {to}");
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
        // Keep one reading at or before the window's start, none older, and at least two
        // (a CPU figure needs a pair, even when the window is 0).
        let start = r.at.saturating_sub(self.spec.window);
        while self.samples.len() >= 3 && self.samples[1].at <= start {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn secs(s: u64) -> Time {
        Duration::from_secs(s)
    }

    fn spec(min: u32, max: u32, metric: ScaleMetric, up: f64, down: f64) -> ScaleSpec {
        ScaleSpec {
            min,
            max,
            metric,
            up_above: up,
            down_below: down,
            window: secs(30),
            cooldown: secs(60),
        }
    }

    fn cpu(min: u32, max: u32) -> ScaleSpec {
        spec(min, max, ScaleMetric::Cpu, 0.8, 0.3)
    }

    /// A simulated pool: every instance uses `load(t)` cores; the runtime reads it every
    /// `interval` and applies each decision at once (the new count runs from the next
    /// reading on). Returns the steps taken up to `until`.
    struct Sim {
        a: Autoscaler,
        now: Time,
        current: u32,
        cpu_usec: u64,
        steps: Vec<(Time, Decision)>,
    }

    impl Sim {
        fn new(spec: &ScaleSpec, current: u32) -> Sim {
            Sim {
                a: Autoscaler::new(spec),
                now: Time::ZERO,
                current,
                cpu_usec: 0,
                steps: Vec::new(),
            }
        }

        fn read(&mut self, running: u32) -> Option<Decision> {
            let r = Reading {
                at: self.now,
                cpu_usec: self.cpu_usec,
                memory_bytes: 0,
                running,
            };
            let d = self.a.observe(r, self.current);
            if let Some(d) = &d {
                assert_eq!(d.from, self.current);
                self.current = d.to;
                self.steps.push((self.now, d.clone()));
            }
            d
        }

        /// Runs until `until` with every instance at `load(t)` cores.
        fn run(&mut self, until: Time, load: impl Fn(Time) -> f64) {
            let dt = self.a.interval();
            if self.now.is_zero() && self.steps.is_empty() {
                self.read(self.current);
            }
            while self.now + dt <= until {
                let cores = load(self.now);
                self.now += dt;
                self.cpu_usec += (cores * dt.as_micros() as f64 * self.current as f64) as u64;
                self.read(self.current);
            }
        }

        fn step_times(&self) -> Vec<u64> {
            self.steps.iter().map(|(t, _)| t.as_secs()).collect()
        }

        fn counts(&self) -> Vec<u32> {
            self.steps.iter().map(|(_, d)| d.to).collect()
        }
    }

    #[test]
    fn interval_is_a_tenth_of_the_window_within_bounds() {
        let at = |window: Duration| {
            let mut s = cpu(1, 3);
            s.window = window;
            Autoscaler::new(&s).interval()
        };
        assert_eq!(at(secs(30)), secs(3));
        assert_eq!(at(secs(300)), secs(10));
        assert_eq!(at(secs(2)), secs(1));
        assert_eq!(at(Duration::from_millis(500)), Duration::from_millis(500));
        assert_eq!(at(Duration::ZERO), Duration::from_millis(100));
        assert_eq!(at(Duration::MAX), secs(10));
    }

    #[test]
    fn steady_high_steps_up_after_the_window_then_once_per_cooldown() {
        let mut sim = Sim::new(&cpu(1, 10), 2);
        sim.run(secs(29), |_| 0.95);
        assert!(sim.steps.is_empty(), "nothing before a full window");
        sim.run(secs(30), |_| 0.95);
        assert_eq!(sim.step_times(), [30]);
        let d = &sim.steps[0].1;
        assert_eq!((d.from, d.to), (2, 3));
        assert!((d.figure - 0.95).abs() < 1e-6, "{}", d.figure);
        assert_eq!(d.why, "cpu 0.95 cores per instance above 0.80 for 30s");
        // The window restarts (full again at 63) but the cooldown holds until 90.
        sim.run(secs(89), |_| 0.95);
        assert_eq!(sim.step_times(), [30]);
        let text = sim.a.explain(sim.now);
        assert!(text.contains("cooldown ends in 3s"), "{text}");
        assert!(text.contains("last: +1 (2 -> 3) 57s ago"), "{text}");
        sim.run(secs(160), |_| 0.95);
        assert_eq!(sim.step_times(), [30, 90, 150]);
        assert_eq!(sim.counts(), [3, 4, 5]);
    }

    #[test]
    fn steady_low_steps_down_to_min_and_never_below() {
        let mut sim = Sim::new(&cpu(2, 10), 4);
        sim.run(secs(1000), |_| 0.1);
        assert_eq!(sim.step_times(), [30, 90]);
        assert_eq!(sim.counts(), [3, 2]);
        assert_eq!(
            sim.steps[0].1.why,
            "cpu 0.10 cores per instance below 0.30 for 30s"
        );
        let text = sim.a.explain(sim.now);
        assert!(
            text.starts_with("cpu 0.10 cores per instance over 30s"),
            "{text}"
        );
        assert!(text.contains("(up above 0.80, down below 0.30, 2..10 instances)"));
        assert!(text.contains("below for 30s but at min 2"), "{text}");
    }

    #[test]
    fn max_is_respected() {
        let mut sim = Sim::new(&cpu(1, 3), 2);
        sim.run(secs(1000), |_| 1.9);
        assert_eq!(sim.counts(), [3]);
        let text = sim.a.explain(sim.now);
        assert!(text.contains("above for 30s but at max 3"), "{text}");
    }

    #[test]
    fn oscillating_around_a_threshold_does_not_flap() {
        // Around up_above: every other interval dips under it.
        let mut sim = Sim::new(&cpu(1, 10), 3);
        sim.run(
            secs(1000),
            |t| {
                if t.as_secs() / 3 % 2 == 0 {
                    0.9
                } else {
                    0.7
                }
            },
        );
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        // Around down_below.
        let mut sim = Sim::new(&cpu(1, 10), 3);
        sim.run(secs(1000), |t| {
            if t.as_secs() / 3 % 2 == 0 {
                0.35
            } else {
                0.25
            }
        });
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        // Between busy and idle in 20s bursts: its average crosses both thresholds, but
        // neither holds for a whole window.
        let mut sim = Sim::new(&cpu(1, 10), 3);
        sim.run(secs(1000), |t| {
            if t.as_secs() / 20 % 2 == 0 {
                1.0
            } else {
                0.0
            }
        });
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        let text = sim.a.explain(sim.now);
        assert!(text.contains("holding"), "{text}");
    }

    #[test]
    fn a_spike_shorter_than_the_window_does_nothing_a_longer_one_scales() {
        // 27s at 2 cores per instance (the window's average is far above 0.8).
        let spike = |from: u64, len: u64| {
            move |t: Time| {
                if (from..from + len).contains(&t.as_secs()) {
                    2.0
                } else {
                    0.5
                }
            }
        };
        let mut sim = Sim::new(&cpu(1, 10), 2);
        sim.run(secs(300), spike(60, 27));
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        let mut sim = Sim::new(&cpu(1, 10), 2);
        sim.run(secs(300), spike(60, 30));
        assert_eq!(sim.step_times(), [90]);
        assert!((sim.steps[0].1.figure - 2.0).abs() < 1e-6);
    }

    #[test]
    fn instances_joining_mid_window_restart_it() {
        let mut sim = Sim::new(&cpu(1, 10), 2);
        sim.run(secs(15), |_| 0.95);
        // Someone else scaled to 3 without a reset: the new instance's counter starts at 0
        // (the sum barely moves for it), the count of running instances changes.
        // The reading at 18 is the first with 3: the window restarts there.
        sim.current = 3;
        sim.run(secs(45), |_| 0.95);
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        let text = sim.a.explain(sim.now);
        assert!(
            text.contains(
                "measuring (27s of the 30s window; restarted 27s ago: 2 -> 3 instances running)"
            ),
            "{text}"
        );
        sim.run(secs(48), |_| 0.95);
        assert_eq!(sim.step_times(), [48]);
        assert_eq!(sim.counts(), [4]);
    }

    #[test]
    fn an_instance_leaving_makes_the_sum_go_down_without_a_negative_rate() {
        let mut a = Autoscaler::new(&cpu(1, 10));
        let at = |s, cpu_usec, running| Reading {
            at: secs(s),
            cpu_usec,
            memory_bytes: 0,
            running,
        };
        assert_eq!(a.observe(at(0, 50_000_000, 3), 3), None);
        assert_eq!(a.observe(at(3, 58_000_000, 3), 3), None);
        // The busiest instance went away: the sum drops.
        assert_eq!(a.observe(at(6, 10_000_000, 2), 3), None);
        assert!(a.figure.is_none());
        // Same count, lower sum: an instance was replaced between readings.
        assert_eq!(a.observe(at(9, 12_000_000, 2), 3), None);
        assert_eq!(a.observe(at(12, 1_000_000, 2), 3), None);
        let text = a.explain(secs(12));
        assert!(text.contains("the CPU counter went down"), "{text}");
        for s in (15..=39).step_by(3) {
            let used = 1_000_000 + (s - 12) * 2 * 100_000;
            assert_eq!(a.observe(at(s, used, 2), 2), None, "at {s}");
            let (fig, _) = a.figure.unwrap();
            assert!((fig - 0.1).abs() < 1e-9, "{fig}");
        }
        let d = a.observe(at(42, 1_000_000 + 30 * 200_000, 2), 2).unwrap();
        assert_eq!((d.from, d.to), (2, 1));
    }

    #[test]
    fn reset_restarts_the_window_but_not_the_cooldown() {
        let mut sim = Sim::new(&cpu(1, 10), 2);
        sim.run(secs(21), |_| 0.95);
        sim.a.reset(sim.now);
        assert!(sim.a.explain(sim.now).contains("the pool changed"));
        // The next reading (24) starts the window: full at 54.
        sim.run(secs(53), |_| 0.95);
        assert!(sim.steps.is_empty(), "{:?}", sim.steps);
        sim.run(secs(54), |_| 0.95);
        assert_eq!(sim.step_times(), [54]);
    }

    #[test]
    fn no_running_instance_scales_nothing() {
        let mut a = Autoscaler::new(&cpu(0, 10));
        assert!(a.explain(secs(0)).contains("waiting for the first reading"));
        for s in 0..100 {
            let r = Reading {
                at: secs(s),
                cpu_usec: s * 10_000_000,
                memory_bytes: 1 << 30,
                running: 0,
            };
            assert_eq!(a.observe(r, 2), None);
        }
        let text = a.explain(secs(100));
        assert!(
            text.contains("no instance running: nothing to measure"),
            "{text}"
        );
        assert!(text.starts_with("cpu: no figure yet"), "{text}");
    }

    #[test]
    fn a_count_outside_the_range_goes_to_the_bound_at_once() {
        let mut sim = Sim::new(&cpu(3, 5), 1);
        sim.read(1);
        assert_eq!(sim.counts(), [3]);
        let d = &sim.steps[0].1;
        assert_eq!(d.figure, 3.0);
        assert_eq!(d.why, "count 1 below min 3");
        let mut sim = Sim::new(&cpu(3, 5), 9);
        sim.read(9);
        assert_eq!(sim.counts(), [5]);
        assert_eq!(sim.steps[0].1.why, "count 9 above max 5");
        // Even with nothing running, and even within the cooldown of a step.
        let mut sim = Sim::new(&cpu(2, 4), 0);
        sim.read(0);
        assert_eq!(sim.counts(), [2]);
        sim.now += secs(1);
        sim.current = 7;
        sim.read(0);
        assert_eq!(sim.counts(), [2, 4]);
        // max below min acts as max = min.
        let mut sim = Sim::new(&cpu(4, 2), 6);
        sim.read(6);
        assert_eq!(sim.counts(), [4]);
    }

    #[test]
    fn memory_scales_on_the_average_per_instance() {
        let s = spec(1, 4, ScaleMetric::Memory, 512.0 * MIB, 128.0 * MIB);
        let mut a = Autoscaler::new(&s);
        let read = |a: &mut Autoscaler, t: u64, per: f64, running: u32, current: u32| {
            a.observe(
                Reading {
                    at: secs(t),
                    cpu_usec: 0,
                    memory_bytes: (per * MIB) as u64 * running as u64,
                    running,
                },
                current,
            )
        };
        // 600 MiB each, but one reading at 500: not above for a window until it has left.
        for t in (0..=57).step_by(3) {
            let per = if t == 27 { 500.0 } else { 600.0 };
            assert_eq!(read(&mut a, t, per, 2, 2), None, "at {t}");
        }
        let d = read(&mut a, 60, 600.0, 2, 2).unwrap();
        assert_eq!((d.from, d.to), (2, 3));
        assert!((d.figure - 600.0 * MIB).abs() < 1.0, "{}", d.figure);
        assert_eq!(
            d.why,
            "memory 600.0 MiB per instance above 512.0 MiB for 30s"
        );
        // The new count: 3 instances at 100 MiB each, steps down after the cooldown.
        let mut down = None;
        for t in (63..=200).step_by(3) {
            if let Some(d) = read(&mut a, t, 100.0, 3, 3) {
                down = Some((t, d));
                break;
            }
        }
        let (t, d) = down.unwrap();
        assert_eq!((t, d.from, d.to), (120, 3, 2));
        let text = a.explain(secs(121));
        assert!(
            text.contains("(up above 512.0 MiB, down below 128.0 MiB"),
            "{text}"
        );
    }

    #[test]
    fn huge_and_zero_values_give_finite_figures_and_no_panic() {
        let mut s = cpu(0, u32::MAX);
        s.window = Duration::ZERO;
        s.cooldown = Duration::ZERO;
        let mut a = Autoscaler::new(&s);
        let mut steps = 0;
        let readings = [
            (0, u64::MAX - 10, u64::MAX, u32::MAX),
            (0, u64::MAX, u64::MAX, u32::MAX),
            (1, u64::MAX, u64::MAX, u32::MAX),
            (2, 0, 0, u32::MAX),
            (3, u64::MAX, 0, u32::MAX),
            (1, 5, 0, u32::MAX),
            (4, 0, 0, 1),
            (5, u64::MAX, u64::MAX, 1),
            (u64::MAX, u64::MAX, u64::MAX, 1),
        ];
        let mut current = 1;
        for (t, cpu_usec, memory_bytes, running) in readings {
            let r = Reading {
                at: secs(t),
                cpu_usec,
                memory_bytes,
                running,
            };
            if let Some(d) = a.observe(r, current) {
                assert!(d.figure.is_finite(), "{d:?}");
                assert_eq!(d.to.abs_diff(d.from), 1);
                current = d.to;
                steps += 1;
            }
            if let Some((f, _)) = a.figure {
                assert!(f.is_finite() && f >= 0.0, "{f}");
            }
            a.explain(secs(t));
        }
        assert!(steps > 0);
        // A zero window decides on every pair of readings.
        let mut sim = Sim::new(&s, 3);
        sim.a = Autoscaler::new(&s);
        sim.run(secs(3), |_| 0.0);
        assert!(!sim.steps.is_empty());
        assert!(sim.counts().windows(2).all(|w| w[0] > w[1]));
        // Memory: u64::MAX bytes over one instance.
        let mut m = spec(1, 3, ScaleMetric::Memory, 1e9, 1.0);
        m.cooldown = Duration::ZERO;
        let mut a = Autoscaler::new(&m);
        for t in 0..=40 {
            let r = Reading {
                at: secs(t),
                cpu_usec: 0,
                memory_bytes: u64::MAX,
                running: 1,
            };
            if let Some(d) = a.observe(r, 1) {
                assert_eq!((t, d.to), (30, 2));
                assert!(d.why.contains("EiB"), "{}", d.why);
            }
        }
    }

    #[test]
    fn samples_stay_bounded_when_read_far_too_often() {
        let mut a = Autoscaler::new(&cpu(1, 10));
        let mut cpu_usec = 0u64;
        let mut first = None;
        // Every millisecond, one core per instance, 2 instances.
        for ms in 0..=31_000u64 {
            let r = Reading {
                at: Duration::from_millis(ms),
                cpu_usec,
                memory_bytes: 0,
                running: 2,
            };
            cpu_usec += 2_000;
            if let Some(d) = a.observe(r, 2) {
                first.get_or_insert((ms, d));
                break;
            }
            assert!(a.samples.len() <= a.cap, "{} at {ms}", a.samples.len());
        }
        assert_eq!(a.cap, 24);
        let (ms, d) = first.unwrap();
        assert_eq!((ms, d.to), (30_000, 3));
        // The cap is at most MAX_SAMPLES whatever the window.
        let mut s = cpu(1, 2);
        s.window = Duration::MAX;
        assert_eq!(Autoscaler::new(&s).cap, MAX_SAMPLES);
    }

    #[derive(Clone, Debug)]
    struct Op {
        dt_ms: u64,
        /// Cores per instance until the next reading.
        load: f64,
        /// 0: the running count is the target; 1: one fewer; 2: one more; 3: none.
        running: u8,
        /// An instance was replaced: the CPU sum starts again from a lower figure.
        counter_reset: bool,
        reset: bool,
        memory_mib: u32,
    }

    fn op() -> impl Strategy<Value = Op> {
        (
            1u64..20_000,
            prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0f64..3.0],
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.02),
            0u32..2048,
        )
            .prop_map(
                |(dt_ms, load, running, counter_reset, reset, memory_mib)| Op {
                    dt_ms,
                    load,
                    running,
                    counter_reset,
                    reset,
                    memory_mib,
                },
            )
    }

    fn scale_spec() -> impl Strategy<Value = ScaleSpec> {
        (
            0u32..4,
            0u32..6,
            prop::bool::ANY,
            0.0f64..2.0,
            0.0f64..2.0,
            0u64..60_000,
            0u64..120_000,
        )
            .prop_map(|(min, extra, memory, up, down, window, cooldown)| {
                let (metric, scale) = if memory {
                    (ScaleMetric::Memory, 1024.0 * MIB)
                } else {
                    (ScaleMetric::Cpu, 1.0)
                };
                ScaleSpec {
                    min,
                    max: min + extra,
                    metric,
                    up_above: up.max(down) * scale,
                    down_below: up.min(down) * scale,
                    window: Duration::from_millis(window),
                    cooldown: Duration::from_millis(cooldown),
                }
            })
    }

    proptest! {
        #[test]
        fn steps_stay_in_range_one_at_a_time_a_cooldown_apart(
            spec in scale_spec(),
            start in 0u32..10,
            ops in prop::collection::vec(op(), 1..400),
        ) {
            let mut a = Autoscaler::new(&spec);
            let mut current = start.clamp(spec.min, spec.max);
            let mut now = Time::ZERO;
            let mut cpu_usec = 0u64;
            let mut last_step: Option<Time> = None;
            let mut running = current;
            for op in ops {
                now += Duration::from_millis(op.dt_ms);
                if op.reset {
                    a.reset(now);
                }
                cpu_usec = if op.counter_reset {
                    cpu_usec / 2
                } else {
                    let used = op.load * op.dt_ms as f64 * 1000.0 * running as f64;
                    cpu_usec.saturating_add(used as u64)
                };
                running = match op.running {
                    0 => current,
                    1 => current.saturating_sub(1),
                    2 => current + 1,
                    _ => 0,
                };
                let r = Reading {
                    at: now,
                    cpu_usec,
                    memory_bytes: u64::from(op.memory_mib) << 20,
                    running,
                };
                if let Some(d) = a.observe(r, current) {
                    prop_assert_eq!(d.from, current);
                    prop_assert_eq!(d.to.abs_diff(d.from), 1, "{:?}", d);
                    prop_assert!(spec.min <= d.to && d.to <= spec.max, "{:?}", d);
                    prop_assert!(d.figure.is_finite() && d.figure >= 0.0, "{:?}", d);
                    if let Some(prev) = last_step {
                        prop_assert!(now - prev >= spec.cooldown, "{:?} {:?}", now - prev, d);
                    }
                    last_step = Some(now);
                    current = d.to;
                }
                prop_assert!(a.samples.len() <= a.cap);
                let _ = a.explain(now);
            }
        }

        #[test]
        fn any_count_is_brought_into_the_range(
            spec in scale_spec(),
            current in 0u32..20,
            running in 0u32..20,
        ) {
            let mut a = Autoscaler::new(&spec);
            let r = Reading { at: Time::ZERO, cpu_usec: 0, memory_bytes: 0, running };
            match a.observe(r, current) {
                Some(d) => {
                    prop_assert!(current < spec.min || current > spec.max);
                    prop_assert_eq!(d.to, current.clamp(spec.min, spec.max));
                }
                None => prop_assert!(spec.min <= current && current <= spec.max),
            }
        }
    }
}
