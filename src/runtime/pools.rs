//! Pools (`instances`, `scale`): a unit file describing `NAME@1` … `NAME@N`. The engine
//! sees each instance as an ordinary unit; here is what makes them a pool: the template
//! and the count (from the file, pinned by `supctl scale N`, or moved by the
//! autoscaler), name resolution (`NAME` means all its instances), `supctl scale`, the
//! pool's summary line in `status`, and its `scale` events.

use std::collections::BTreeMap;

use super::Runtime;
use crate::ctl::proto::{ErrorCode, Event, Reply, ScaleReport};
use crate::engine::{Input, State};
use crate::output::rfc3339;
use crate::platform::Backend;
use crate::proc::UnitId;
use crate::unit::limits::MAX_INSTANCES;
use crate::unit::pool::expand;
use crate::unit::UnitSpec;

use crate::engine::autoscale;

/// One pool.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Pool {
    /// The unit file's spec (name `NAME`, not an instance).
    pub template: UnitSpec,
    /// How many instances the pool is to have.
    pub count: u32,
    /// Set by `supctl scale NAME N`: the count stays until `supctl scale NAME auto` (or
    /// the unit file changes `instances`/`scale`).
    pub pinned: bool,
    /// The last change of the count and why.
    #[serde(default)]
    pub last: Option<String>,
    /// The autoscaler of a pool with `scale` (rebuilt after a reexec).
    #[serde(skip)]
    pub autoscaler: Option<autoscale::Autoscaler>,
    /// When the autoscaler takes its next reading (`None`: at once).
    #[serde(skip)]
    pub next_reading: Option<crate::engine::Time>,
}

pub(super) fn new_autoscaler(spec: &crate::unit::ScaleSpec) -> autoscale::Autoscaler {
    autoscale::Autoscaler::new(spec)
}

/// Every pool, by name.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Pools {
    pub map: BTreeMap<String, Pool>,
}

impl Pools {
    /// The units of a directory's specs: each pool's spec replaced by its instances.
    /// Returns them with the pools as they are to be (the count a pool keeps: pinned,
    /// or moved by its autoscaler within a `scale` range that is still there; otherwise
    /// the file's `instances`).
    pub fn expand(&self, specs: Vec<UnitSpec>) -> (Vec<UnitSpec>, Pools) {
        if !specs.iter().any(|s| s.pooled) {
            // No pool: the specs as they are (no copy of every spec).
            return (specs, Pools::default());
        }
        let mut units = Vec::with_capacity(specs.len());
        let mut next = Pools::default();
        for spec in specs {
            if !spec.pooled {
                units.push(spec);
                continue;
            }
            let name = spec.name.to_string();
            let old = self.map.get(&name);
            let same_keys = old.is_some_and(|o| {
                o.template.instances == spec.instances && o.template.scale == spec.scale
            });
            let (count, pinned, last) = match old {
                Some(o) if same_keys && o.pinned => (o.count, true, o.last.clone()),
                Some(o) if same_keys && spec.scale.is_some() => {
                    let s = spec.scale.as_ref().expect("checked");
                    (o.count.clamp(s.min, s.max), false, o.last.clone())
                }
                _ => (spec.instances, false, None),
            };
            units.extend(expand(&spec, count));
            let autoscaler = match old {
                Some(o) if same_keys => o.autoscaler.clone(),
                _ => None,
            }
            .or_else(|| spec.scale.as_deref().map(autoscale::Autoscaler::new));
            next.map.insert(
                name,
                Pool {
                    template: spec,
                    count,
                    pinned,
                    last,
                    autoscaler,
                    next_reading: None,
                },
            );
        }
        (units, next)
    }

    pub fn get(&self, name: &str) -> Option<&Pool> {
        self.map.get(name)
    }
}

/// The pool state shown on its summary line: all instances alike → that state;
/// otherwise the one that matters most (starting, then running, …).
fn summary_state(states: &[State]) -> State {
    let Some(&first) = states.first() else {
        return State::Stopped;
    };
    if states.iter().all(|&s| s == first) {
        return first;
    }
    for s in [
        State::Starting,
        State::Waiting,
        State::Backoff,
        State::Stopping,
        State::Running,
        State::Paused,
        State::Failed,
    ] {
        if states.contains(&s) {
            return s;
        }
    }
    first
}

/// A pool's line in `status` (owned: it is summed from its instances).
pub(super) struct PoolLine {
    pub name: String,
    pub state: State,
    pub ready: bool,
    pub restarts: u32,
    pub health: &'static str,
    pub since: crate::engine::Time,
    pub message: String,
    pub instances: Vec<String>,
}

impl<P: Backend> Runtime<P> {
    /// The instances of pool `name` (by instance number), or `None` when it is no pool.
    pub(super) fn pool_members(&self, name: &str) -> Option<Vec<UnitId>> {
        self.pools.get(name)?;
        let mut members: Vec<(u32, UnitId)> = self
            .engine
            .units_with_ids()
            .filter(|(_, u)| u.name.as_str().contains('@') && u.name.template() == name)
            .map(|(id, u)| {
                let n = u.name.as_str().rsplit('@').next().unwrap_or("0");
                (n.parse().unwrap_or(0), id)
            })
            .collect();
        members.sort_unstable();
        Some(members.into_iter().map(|(_, id)| id).collect())
    }

    /// The pool's summary line: its instances' states, readiness and restarts summed.
    pub(super) fn pool_line(&self, name: &str) -> Option<PoolLine> {
        let pool = self.pools.get(name)?;
        let members = self.pool_members(name)?;
        let units: Vec<&crate::engine::Unit> =
            members.iter().map(|&m| self.engine.unit(m)).collect();
        let states: Vec<State> = units.iter().map(|u| u.state).collect();
        let ready = units.iter().filter(|u| u.ready()).count();
        let need = pool
            .template
            .min_ready
            .map_or(units.len(), |m| (m as usize).min(units.len()));
        let unhealthy = members
            .iter()
            .any(|&m| self.probes.health(m) == super::health::Health::Unhealthy);
        let healthy = members
            .iter()
            .all(|&m| self.probes.health(m) == super::health::Health::Healthy);
        let mut message = format!("{ready} of {} ready, target {}", units.len(), pool.count);
        if pool.pinned {
            message.push_str(" (pinned by supctl scale)");
        } else if let Some(a) = &pool.autoscaler {
            message.push_str(&format!(" (autoscale: {})", a.explain(self.now())));
        }
        if let Some(last) = &pool.last {
            message.push_str(&format!("; last change: {last}"));
        }
        Some(PoolLine {
            name: name.to_string(),
            state: summary_state(&states),
            ready: !units.is_empty() && ready >= need,
            restarts: units.iter().map(|u| u.restarts).sum(),
            health: if unhealthy {
                "unhealthy"
            } else if healthy && !units.is_empty() {
                "healthy"
            } else {
                "unknown"
            },
            since: units.iter().map(|u| u.since).max().unwrap_or_default(),
            message,
            instances: units.iter().map(|u| u.name.to_string()).collect(),
        })
    }

    /// When the loop must wake for an autoscaler's reading: only for pools that have one,
    /// are not pinned and are up (an idle sup without such pools never wakes for this).
    pub(super) fn pools_deadline(&self) -> Option<crate::engine::Time> {
        self.pools
            .map
            .iter()
            .filter(|(_, p)| p.autoscaler.is_some() && !p.pinned)
            .filter(|(name, _)| self.pool_up(name))
            .map(|(_, p)| p.next_reading.unwrap_or_default())
            .min()
    }

    /// A pool is up when one of its instances is going up.
    fn pool_up(&self, name: &str) -> bool {
        self.pool_members(name)
            .is_some_and(|m| m.iter().any(|&u| self.engine.unit(u).going_up()))
    }

    /// Takes the due autoscalers' readings and carries out their decisions.
    pub(super) fn pools_tick(&mut self) {
        let now = self.now();
        let due: Vec<String> = self
            .pools
            .map
            .iter()
            .filter(|(_, p)| p.autoscaler.is_some() && !p.pinned)
            .filter(|(_, p)| p.next_reading.map_or(true, |at| at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            if !self.pool_up(&name) {
                continue;
            }
            let members = self.pool_members(&name).unwrap_or_default();
            let mut reading = autoscale::Reading {
                at: now,
                cpu_usec: 0,
                memory_bytes: 0,
                running: 0,
            };
            for &m in &members {
                if self.engine.unit(m).state != State::Running {
                    continue;
                }
                if let Some((memory, cpu)) = self.cgroup_usage(m) {
                    reading.cpu_usec = reading.cpu_usec.saturating_add(cpu);
                    reading.memory_bytes = reading.memory_bytes.saturating_add(memory);
                    reading.running += 1;
                }
            }
            let Some(pool) = self.pools.map.get_mut(&name) else {
                continue;
            };
            let count = pool.count;
            let Some(a) = pool.autoscaler.as_mut() else {
                continue;
            };
            pool.next_reading = Some(now.saturating_add(a.interval()));
            if let Some(d) = a.observe(reading, count) {
                let why = format!("{} -> {}: {}", d.from, d.to, d.why);
                self.set_pool_count(&name, d.to, why);
            }
        }
    }

    /// Sends a `scale` event for the pool.
    pub(super) fn scale_event(&mut self, name: &str, message: String) {
        log::info!("{name}: scale: {message}");
        let ev = Event {
            time: rfc3339(std::time::SystemTime::now()),
            unit: name.to_string(),
            kind: "scale".into(),
            state: None,
            from: None,
            reason: None,
            exit: None,
            pid: None,
            message: Some(message),
        };
        self.broadcast_event(ev);
    }

    /// `scale NAME N|auto`: the count changes (pinned), or goes back to the autoscaler.
    /// Returns the units to wait for: new instances (start) and removed ones (stop).
    pub(super) fn scale_request(
        &mut self,
        name: &str,
        count: &str,
    ) -> Result<(Vec<UnitId>, Vec<UnitId>, ScaleReport), Reply> {
        let now = self.now();
        let Some(pool) = self.pools.map.get_mut(name) else {
            return Err(match self.engine.lookup(name) {
                Some(_) => Reply::error(
                    ErrorCode::BadRequest,
                    format!("{name} is not a pool (its unit file has no instances or scale key)"),
                ),
                None => Reply::error(ErrorCode::NoSuchUnit, format!("no such unit: {name}")),
            });
        };
        let (to, pinned) = if count == "auto" {
            let Some(scale) = pool.template.scale.clone() else {
                return Err(Reply::error(
                    ErrorCode::BadRequest,
                    format!("{name} has no scale key: nothing to hand the count back to"),
                ));
            };
            if let Some(a) = pool.autoscaler.as_mut() {
                a.reset(now);
            }
            (pool.count.clamp(scale.min, scale.max), false)
        } else {
            match count.parse() {
                Ok(n) if n <= MAX_INSTANCES => (n, true),
                _ => {
                    return Err(Reply::error(
                        ErrorCode::BadRequest,
                        format!(
                            "scale: {count:?} is not a number of instances (0 to {MAX_INSTANCES}) or auto"
                        ),
                    ))
                }
            }
        };
        pool.pinned = pinned;
        let from = pool.count;
        let msg = if pinned {
            format!("{from} -> {to} (supctl scale {name} {to}, pinned)")
        } else {
            format!("{from} -> {to} (supctl scale {name} auto)")
        };
        let (up, down) = self.set_pool_count(name, to, msg);
        let report = ScaleReport {
            unit: name.to_string(),
            from,
            to,
            pinned,
        };
        Ok((up, down, report))
    }

    /// Makes the pool have `to` instances: new ones are added (and started when the
    /// pool is up), the highest-numbered go. Returns (added, removed).
    pub(super) fn set_pool_count(
        &mut self,
        name: &str,
        to: u32,
        why: String,
    ) -> (Vec<UnitId>, Vec<UnitId>) {
        let Some(members) = self.pool_members(name) else {
            return (Vec::new(), Vec::new());
        };
        let Some(pool) = self.pools.map.get_mut(name) else {
            return (Vec::new(), Vec::new());
        };
        let from = pool.count;
        pool.count = to;
        pool.last = Some(why.clone());
        let template = pool.template.clone();
        if from != to {
            self.scale_event(name, why);
        }
        let now = self.now();
        // The pool is up when one of its instances is (or, with none left, when its
        // file says it starts with sup).
        let up = if members.is_empty() {
            template.enabled
        } else {
            members.iter().any(|&m| self.engine.unit(m).going_up())
        };
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for spec in expand(&template, to) {
            match self.engine.lookup(spec.name.as_str()) {
                Some(id) if !self.engine.unit(id).retiring => {}
                Some(id) => {
                    // On its way out: it stays after all.
                    self.forgetting.retain(|&u| u != id);
                    let unsupported = super::asks::unsupported(&self.platform, &spec);
                    let fx = self.engine.set_spec(id, spec, unsupported, now);
                    self.publish_effects(fx);
                    added.push(id);
                }
                None => {
                    let unsupported = super::asks::unsupported(&self.platform, &spec);
                    let name = spec.name.clone();
                    let id = self.engine.add(name, Ok(spec), unsupported, false, now);
                    self.relog.insert(id);
                    added.push(id);
                }
            }
        }
        for &m in &members {
            let u = self.engine.unit(m);
            if u.retiring {
                continue;
            }
            let n: u32 = u
                .name
                .as_str()
                .rsplit('@')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if n > to {
                removed.push(m);
            }
        }
        self.engine.rebuild();
        self.ensure_slots();
        if up {
            for &id in &added {
                self.feed(Input::Start(id));
            }
        }
        for &id in &removed {
            self.forgetting.push(id);
        }
        if !removed.is_empty() {
            self.feed(Input::StopUnits(removed.clone()));
            for &id in &removed {
                self.feed(Input::Remove(id));
            }
        }
        self.forget_pending_units();
        if !up {
            added.clear();
        }
        (added, removed)
    }

    /// Events of engine calls made outside `feed` (state changes of `set_spec`).
    pub(super) fn publish_effects(&mut self, fx: Vec<crate::engine::Effect>) {
        for fx in fx {
            if let crate::engine::Effect::Event { unit, event } = fx {
                self.publish(unit, &event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_state_prefers_what_moves() {
        use State::*;
        assert_eq!(summary_state(&[Running, Running]), Running);
        assert_eq!(summary_state(&[Running, Starting]), Starting);
        assert_eq!(summary_state(&[Running, Failed]), Running);
        assert_eq!(summary_state(&[Stopped, Failed]), Failed);
        assert_eq!(summary_state(&[]), Stopped);
    }
}
