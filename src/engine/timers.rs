//! One timer heap for all units: a unit has at most one pending timer; stale heap entries
//! are skipped by generation number instead of being removed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Time;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimerKind {
    /// Not ready (oneshot: not done) within `start_timeout`.
    StartTimeout,
    /// `stop.exec` did not finish within `stop.timeout`.
    StopExec,
    /// The main process outlived `stop.timeout` after the stop signal.
    StopKill,
    /// Restart delay elapsed.
    Backoff,
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Time, usize, u64)>>,
    /// Per unit: the live timer (deadline, kind, generation).
    live: Vec<Option<(Time, TimerKind, u64)>>,
    generation: u64,
}

impl Timers {
    pub fn new(units: usize) -> Timers {
        Timers {
            heap: BinaryHeap::new(),
            live: vec![None; units],
            generation: 0,
        }
    }

    /// Makes room for `units` slots (units added at run time).
    pub fn resize(&mut self, units: usize) {
        if self.live.len() < units {
            self.live.resize(units, None);
        }
    }

    /// Replaces the unit's pending timer, if any.
    pub fn set(&mut self, unit: usize, at: Time, kind: TimerKind) {
        self.generation += 1;
        self.live[unit] = Some((at, kind, self.generation));
        self.heap.push(Reverse((at, unit, self.generation)));
    }

    /// Every pending timer: (unit, deadline, kind).
    pub fn live(&self) -> Vec<(usize, Time, TimerKind)> {
        self.live
            .iter()
            .enumerate()
            .filter_map(|(u, t)| t.map(|(at, kind, _)| (u, at, kind)))
            .collect()
    }

    /// The kind of the unit's pending timer, if any.
    #[cfg(all(test, unix))]
    pub fn pending(&self, unit: usize) -> Option<TimerKind> {
        self.live[unit].map(|(_, kind, _)| kind)
    }

    pub fn cancel(&mut self, unit: usize) {
        self.live[unit] = None;
    }

    /// The earliest live deadline (stale entries are dropped on the way).
    pub fn next_deadline(&mut self) -> Option<Time> {
        while let Some(&Reverse((at, unit, gen))) = self.heap.peek() {
            if matches!(self.live[unit], Some((_, _, g)) if g == gen) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Time) -> Option<(usize, TimerKind)> {
        let at = self.next_deadline()?;
        if at > now {
            return None;
        }
        let Reverse((_, unit, _)) = self.heap.pop()?;
        let (_, kind, _) = self.live[unit].take()?;
        Some((unit, kind))
    }
}
