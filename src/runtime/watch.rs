//! File-watch restarts (`watch: {paths, debounce}`): a unit's paths are watched from its
//! start until it comes to rest (stopped, failed, done); a change is held for the
//! debounce, then a unit that is starting or running restarts through the engine's
//! normal restart path, as `supctl restart` would (not a failure), after an event
//! `watch` naming the path that changed last.
//!
//! Nothing runs while nothing changes: the platform's watch is an event source of the
//! loop, and a deadline exists only while a change waits for its debounce.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mio::Token;

use super::Runtime;
use crate::engine::{EventKind, Input, State, Time};
use crate::platform::watch::FileEvent;
use crate::platform::Backend;
use crate::proc::UnitId;

/// The token of the platform's file-watch event source.
pub(super) const WATCH_TOKEN: Token = Token(4);
/// Files that never stop changing still restart the unit: at the latest this many
/// debounce periods after the first change.
const MAX_WAIT_FACTOR: u32 = 10;

/// The units watched now and their changes waiting for the debounce.
#[derive(Debug, Default)]
pub(super) struct Watches {
    /// The units watched now, with the paths they watch.
    watched: HashMap<UnitId, Vec<PathBuf>>,
    pending: Debounce,
    /// The platform has events left to read (its read budget ran out).
    more: bool,
}

/// Changes waiting for their debounce, per unit.
#[derive(Debug, Default)]
pub(super) struct Debounce {
    pending: HashMap<UnitId, Pending>,
}

#[derive(Debug)]
struct Pending {
    first: Time,
    due: Time,
    /// The path that changed last.
    path: PathBuf,
}

impl Debounce {
    /// `path` of `unit` changed at `now`: the unit is due `debounce` after its last
    /// change, and at most `MAX_WAIT_FACTOR` debounces after the first one.
    pub fn change(&mut self, unit: UnitId, path: PathBuf, now: Time, debounce: Duration) {
        let p = self.pending.entry(unit).or_insert(Pending {
            first: now,
            due: now,
            path: PathBuf::new(),
        });
        let latest = p
            .first
            .saturating_add(debounce.saturating_mul(MAX_WAIT_FACTOR));
        p.due = now.saturating_add(debounce).min(latest);
        p.path = path;
    }

    /// When the next unit is due (none while nothing waits).
    pub fn next_deadline(&self) -> Option<Time> {
        self.pending.values().map(|p| p.due).min()
    }

    /// The units due at `now`, with the path that changed last; they wait no more.
    pub fn take_due(&mut self, now: Time) -> Vec<(UnitId, PathBuf)> {
        let mut due: Vec<UnitId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(&u, _)| u)
            .collect();
        due.sort();
        due.into_iter()
            .filter_map(|u| self.pending.remove(&u).map(|p| (u, p.path)))
            .collect()
    }

    pub fn forget(&mut self, unit: UnitId) {
        self.pending.remove(&unit);
    }
}

impl<P: Backend> Runtime<P> {
    /// Makes the unit's watch what its definition says: starts watching its `watch`
    /// paths, watches other paths when the definition changed (a reload), or ends the
    /// watch when it has none now. The error names the path: the unit must not run
    /// without its watch. Called as the unit's main process is about to start, so a
    /// reload that changes a unit needs no call of its own (its restart comes here).
    pub(super) fn watch_unit(&mut self, unit: UnitId) -> Result<(), String> {
        let u = self.engine.unit(unit);
        let wanted = u.spec.as_ref().and_then(|s| s.watch.as_ref());
        match (self.watches.watched.get(&unit), wanted) {
            (Some(now), Some(w)) if *now == w.paths => return Ok(()),
            (None, None) => return Ok(()),
            _ => {}
        }
        let paths = wanted.map(|w| w.paths.clone());
        self.unwatch_unit(unit);
        let Some(paths) = paths else {
            return Ok(());
        };
        self.platform
            .watch_files(self.poll.registry(), WATCH_TOKEN, unit, &paths)
            .map_err(|e| e.to_string())?;
        log::debug!("{}: watching {paths:?}", self.engine.unit(unit).name);
        self.watches.watched.insert(unit, paths);
        Ok(())
    }

    /// Ends the unit's watch and forgets its pending change (a unit at rest, or one
    /// that is forgotten).
    pub(super) fn unwatch_unit(&mut self, unit: UnitId) {
        if self.watches.watched.remove(&unit).is_some() {
            self.platform.unwatch_files(unit);
        }
        self.watches.pending.forget(unit);
    }

    /// A unit that comes to rest watches nothing (a change must not start it); its
    /// next start watches again.
    pub(super) fn watch_state_changed(&mut self, unit: UnitId, to: State) {
        if matches!(
            to,
            State::Inactive | State::Stopped | State::Failed | State::Done | State::Invalid
        ) {
            self.unwatch_unit(unit);
        }
    }

    /// The platform's watch has something to say.
    pub(super) fn on_file_events(&mut self) {
        let now = self.now();
        let batch = self.platform.file_events();
        self.watches.more = batch.more;
        for ev in batch.events {
            let unit = match &ev {
                FileEvent::Changed { unit, .. } | FileEvent::Failed { unit, .. } => *unit,
            };
            if !self.watches.watched.contains_key(&unit) {
                continue;
            }
            let u = self.engine.unit(unit);
            let Some(watch) = u.spec.as_ref().and_then(|s| s.watch.as_ref()) else {
                continue;
            };
            match ev {
                FileEvent::Changed { path, .. } => {
                    log::debug!("{}: {} changed", u.name, path.display());
                    let debounce = watch.debounce;
                    self.watches.pending.change(unit, path, now, debounce);
                }
                FileEvent::Failed { error, .. } => {
                    // The platform dropped the watch. Restarting sets it up again at the
                    // start, which fails the unit (naming the path) if it still cannot.
                    log::error!("{}: {error}; restarting it to watch again", u.name);
                    let path = watch.paths.first().cloned().unwrap_or_default();
                    self.watches.watched.remove(&unit);
                    self.watches.pending.change(unit, path, now, Duration::ZERO);
                }
            }
        }
    }

    /// When the next debounce ends; now while the platform has events left to read.
    pub(super) fn watch_deadline(&self) -> Option<Time> {
        if self.watches.more {
            return Some(self.now());
        }
        self.watches.pending.next_deadline()
    }

    /// Reads what the platform left, then restarts the units whose debounce is over if
    /// they are starting or running.
    pub(super) fn watch_tick(&mut self) {
        if self.watches.more {
            self.on_file_events();
        }
        let now = self.now();
        for (unit, path) in self.watches.pending.take_due(now) {
            let u = self.engine.unit(unit);
            if !matches!(u.state, State::Starting | State::Running) {
                log::debug!(
                    "{}: {} changed while {}: not restarting",
                    u.name,
                    path.display(),
                    u.state
                );
                continue;
            }
            log::info!("{}: {} changed: restarting", u.name, path.display());
            let mut ev = super::status::event(self, unit, &EventKind::Ready);
            ev.kind = "watch".into();
            ev.pid = None;
            ev.message = Some(path.display().to_string());
            self.broadcast_event(ev);
            self.feed(Input::Restart(unit));
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
