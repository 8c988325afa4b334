//! `supctl reload` (and SIGHUP): the unit directory is read again and compared with what
//! runs. New units are added (and started when enabled), units whose file is gone stop
//! and go away, changed units restart, and unchanged units are not touched. A change of
//! resource values only is applied to the running unit's group in place. A file that
//! became invalid leaves a running unit running as it was (its status shows the error).
//!
//! Also here: the per-unit tables that follow the engine's slots, and forgetting a unit
//! (a removed one, or an ended transient one) once it has no process left.

use std::collections::HashSet;

use super::Runtime;
use crate::ctl::proto::{ErrorCode, InvalidFile, ReloadReport, Reply};
use crate::engine::{Effect, Input, State};
use crate::limits::Resources;
use crate::platform::Backend;
use crate::proc::UnitId;
use crate::unit::{UnitName, UnitSpec};

/// What a reload does to one unit.
enum Change {
    /// A new file (or the file of a unit that was going away).
    Add(UnitSpec),
    /// A new file that is invalid: the unit is listed as invalid.
    AddInvalid(UnitName, String),
    /// A changed file of a live unit: new definition, then restart.
    Restart(UnitId, UnitSpec),
    /// Only resource values changed on a live unit: apply them to its group.
    Limits(UnitId, UnitSpec),
    /// A changed file of a unit that is not running: the new definition is used at its
    /// next start (and it starts if it just became enabled).
    Update(UnitId, UnitSpec),
    /// An invalid file that was valid (or invalid otherwise) before.
    Invalid(UnitId, String),
    /// The file is as what runs again (a previous invalid edit was undone).
    Clear(UnitId),
    /// The file is gone.
    Remove(UnitId),
}

/// The same resource keys are set (values may differ): what can change in place. A key
/// added or removed may need another cgroup controller (v1) or a reset, so it restarts.
fn same_keys(a: &Resources, b: &Resources) -> bool {
    a.cpu_weight.is_some() == b.cpu_weight.is_some()
        && a.cpu_max.is_some() == b.cpu_max.is_some()
        && a.memory_max.is_some() == b.memory_max.is_some()
        && a.memory_high.is_some() == b.memory_high.is_some()
        && a.memory_swap_max.is_some() == b.memory_swap_max.is_some()
        && a.io_weight.is_some() == b.io_weight.is_some()
        && a.io_max.len() == b.io_max.len()
        && a.pids_max.is_some() == b.pids_max.is_some()
}

/// Only resource values differ between the two definitions.
fn limits_only(old: &UnitSpec, new: &UnitSpec) -> bool {
    if old.resources == new.resources || !same_keys(&old.resources, &new.resources) {
        return false;
    }
    let mut same = old.clone();
    same.resources = new.resources.clone();
    same == *new
}

impl<P: Backend> Runtime<P> {
    /// Per-unit tables have an entry for every slot of the engine.
    pub(super) fn ensure_slots(&mut self) {
        let n = self.engine.slots();
        if self.outputs.len() < n {
            self.outputs.resize_with(n, || None);
        }
    }

    /// `reload [--dry-run]`.
    pub(super) fn reload(&mut self, dry_run: bool) -> Reply {
        let started = std::time::Instant::now();
        let dir = self.config.units_dir.clone();
        let loaded = match crate::unit::load_dir(&dir) {
            Ok(loaded) => loaded,
            Err(e) => {
                return Reply::error(
                    ErrorCode::Failed,
                    format!("cannot read the unit directory {}: {e}", dir.display()),
                )
            }
        };
        let mut report = ReloadReport {
            dry_run,
            ..ReloadReport::default()
        };
        let mut changes = Vec::new();
        let mut seen: HashSet<UnitId> = HashSet::new();
        let (units, mut pools) = self.pools.expand(loaded.units);
        for spec in units {
            let Some(id) = self.engine.lookup(spec.name.as_str()) else {
                report.added.push(spec.name.to_string());
                changes.push(Change::Add(spec));
                continue;
            };
            seen.insert(id);
            let u = self.engine.unit(id);
            let name = spec.name.to_string();
            if u.transient {
                report.invalid.push(InvalidFile {
                    unit: name.clone(),
                    message: format!(
                        "{}: a transient unit named {name} exists; this file is ignored until it is forgotten (supctl forget {name})",
                        spec.path.display()
                    ),
                });
                continue;
            }
            let change = match &u.spec {
                None => {
                    report.added.push(name);
                    Change::Add(spec)
                }
                Some(_) if u.retiring => {
                    report.added.push(name);
                    Change::Add(spec)
                }
                Some(old) if *old == spec => {
                    report.unchanged += 1;
                    if u.file_error.is_none() {
                        continue;
                    }
                    Change::Clear(id)
                }
                Some(old) => {
                    let runs = matches!(u.state, State::Starting | State::Running | State::Paused)
                        && u.pid.is_some();
                    if runs && limits_only(old, &spec) {
                        report.updated.push(name);
                        Change::Limits(id, spec)
                    } else if runs {
                        report.restarted.push(name);
                        Change::Restart(id, spec)
                    } else {
                        report.updated.push(name);
                        Change::Update(id, spec)
                    }
                }
            };
            changes.push(change);
        }
        for bad in loaded.invalid {
            let message = bad.message.clone();
            report.invalid.push(InvalidFile {
                unit: bad.name.clone(),
                message: message.clone(),
            });
            if let Some(members) = self.pool_members(&bad.name) {
                // A pool whose file went bad runs on as it is, every instance with the
                // file's error.
                if let Some(old) = self.pools.get(&bad.name) {
                    pools.map.insert(bad.name.clone(), old.clone());
                }
                for id in members {
                    seen.insert(id);
                    let u = self.engine.unit(id);
                    if u.file_error.as_ref() != Some(&message) && u.state != State::Invalid {
                        changes.push(Change::Invalid(id, message.clone()));
                    }
                }
                continue;
            }
            match self.engine.lookup(&bad.name) {
                Some(id) if self.engine.unit(id).transient => {}
                Some(id) => {
                    seen.insert(id);
                    let u = self.engine.unit(id);
                    let same = u.file_error.as_ref() == Some(&message)
                        || (u.state == State::Invalid && u.message.as_ref() == Some(&message));
                    if !same {
                        changes.push(Change::Invalid(id, message));
                    }
                }
                None => {
                    // A name that is not a unit name cannot be a unit: reported only.
                    match UnitName::new(&bad.name) {
                        Ok(name) => changes.push(Change::AddInvalid(name, message)),
                        Err(_) if !dry_run => super::log_file_problems(&message),
                        Err(_) => {}
                    }
                }
            }
        }
        for (id, u) in self.engine.units_with_ids() {
            if !u.transient && !u.retiring && !seen.contains(&id) {
                report.removed.push(u.name.to_string());
                changes.push(Change::Remove(id));
            }
        }
        report.added.sort();
        report.removed.sort();
        report.restarted.sort();
        report.updated.sort();
        report.invalid.sort_by(|a, b| a.unit.cmp(&b.unit));
        if !dry_run {
            self.pools = pools;
            self.apply_slices(loaded.slices);
            self.apply_changes(changes, &mut report);
            log::info!(
                "reload: {} added, {} removed, {} restarted, {} updated, {} unchanged, {} invalid ({} µs)",
                report.added.len(),
                report.removed.len(),
                report.restarted.len(),
                report.updated.len(),
                report.unchanged,
                report.invalid.len(),
                started.elapsed().as_micros()
            );
        }
        report.took_us = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        let mut reply = if report.invalid.is_empty() {
            Reply::ok()
        } else {
            let names: Vec<&str> = report.invalid.iter().map(|f| f.unit.as_str()).collect();
            Reply::error(
                ErrorCode::Failed,
                format!("invalid unit files: {}", names.join(", ")),
            )
        };
        reply.reload = Some(Box::new(report));
        reply
    }

    /// New, changed and removed slices: groups of new slices are made and changed
    /// limits applied; units in a slice pick up its new place at their next start.
    fn apply_slices(&mut self, slices: Vec<crate::unit::SliceSpec>) {
        let old = self.iso.slices().to_vec();
        self.iso.set_slices(slices.clone());
        for s in slices {
            if old.contains(&s) {
                continue;
            }
            let path = self.iso.path_of(s.name.as_str());
            match self
                .platform
                .create_slice(s.name.as_str(), &path, &s.resources)
            {
                Ok(()) => self.iso.clear_slice_error(s.name.as_str()),
                Err(e) => {
                    let e = e.to_string();
                    log::error!("{e}");
                    self.iso.set_slice_error(s.name.as_str(), e);
                }
            }
        }
    }

    fn apply_changes(&mut self, changes: Vec<Change>, report: &mut ReloadReport) {
        let now = self.now();
        let mut effects: Vec<Effect> = Vec::new();
        let mut inputs: Vec<Input> = Vec::new();
        for change in changes {
            match change {
                Change::Add(spec) => {
                    let enabled = spec.enabled;
                    let id = match self.engine.lookup(spec.name.as_str()) {
                        Some(id) => {
                            // A unit on its way out whose file came back stays.
                            self.forgetting.retain(|&u| u != id);
                            let unsupported = super::asks::unsupported(&self.platform, &spec);
                            effects.extend(self.engine.set_spec(id, spec, unsupported, now));
                            id
                        }
                        None => {
                            let unsupported = super::asks::unsupported(&self.platform, &spec);
                            let name = spec.name.clone();
                            self.engine.add(name, Ok(spec), unsupported, false, now)
                        }
                    };
                    self.relog.insert(id);
                    if enabled {
                        inputs.push(Input::Start(id));
                    }
                }
                Change::AddInvalid(name, message) => {
                    super::log_file_problems(&message);
                    self.engine.add(name, Err(message), None, false, now);
                }
                Change::Restart(id, spec) => {
                    if self.engine.unit(id).spec.as_ref().map(|s| &s.log) != Some(&spec.log) {
                        self.relog.insert(id);
                    }
                    let unsupported = super::asks::unsupported(&self.platform, &spec);
                    effects.extend(self.engine.set_spec(id, spec, unsupported, now));
                    inputs.push(Input::Restart(id));
                }
                Change::Limits(id, spec) => {
                    let name = spec.name.to_string();
                    match self.platform.apply_limits(id, &spec.resources) {
                        Ok(()) => {
                            let unsupported = super::asks::unsupported(&self.platform, &spec);
                            effects.extend(self.engine.set_spec(id, spec, unsupported, now));
                            log::info!("{name}: new resource limits applied in place");
                        }
                        Err(e) => {
                            log::warn!(
                                "{name}: cannot change its limits in place ({e}); restarting it"
                            );
                            report.updated.retain(|n| *n != name);
                            report.restarted.push(name);
                            report.restarted.sort();
                            let unsupported = super::asks::unsupported(&self.platform, &spec);
                            effects.extend(self.engine.set_spec(id, spec, unsupported, now));
                            inputs.push(Input::Restart(id));
                        }
                    }
                }
                Change::Update(id, spec) => {
                    let was_enabled = self
                        .engine
                        .unit(id)
                        .spec
                        .as_ref()
                        .is_some_and(|s| s.enabled);
                    let enabled = spec.enabled;
                    self.relog.insert(id);
                    let unsupported = super::asks::unsupported(&self.platform, &spec);
                    effects.extend(self.engine.set_spec(id, spec, unsupported, now));
                    let u = self.engine.unit(id);
                    if enabled && !was_enabled && !u.state.is_live() {
                        inputs.push(Input::Start(id));
                    }
                }
                Change::Invalid(id, message) => {
                    super::log_file_problems(&message);
                    self.forgetting.retain(|&u| u != id);
                    effects.extend(self.engine.set_invalid(id, message, now));
                }
                Change::Clear(id) => self.engine.clear_file_error(id),
                Change::Remove(id) => {
                    self.forgetting.push(id);
                    inputs.push(Input::Remove(id));
                }
            }
        }
        self.engine.rebuild();
        self.ensure_slots();
        for fx in effects {
            if let Effect::Event { unit, event } = fx {
                self.publish(unit, &event);
            }
        }
        for input in inputs {
            self.feed(input);
        }
        self.forget_pending_units();
    }

    /// Forgets the units waiting to go (removed, or ended transient units dropped) that
    /// have no process and no group left.
    pub(super) fn forget_pending_units(&mut self) {
        if self.forgetting.is_empty() {
            return;
        }
        let ready: Vec<UnitId> = self
            .forgetting
            .iter()
            .copied()
            .filter(|&u| self.engine.forgettable(u) && !self.iso.removal_pending(u))
            .collect();
        if ready.is_empty() {
            return;
        }
        self.forgetting.retain(|u| !ready.contains(u));
        for u in ready {
            self.forget_unit(u);
        }
        self.engine.rebuild();
    }

    /// Drops everything the runtime keeps for a unit, then the unit itself.
    fn forget_unit(&mut self, unit: UnitId) {
        for t in self.unit_pipes(unit) {
            // What the last run wrote still reaches its log.
            self.read_pipe(t);
            if let Some(mut pipe) = self.pipes.remove(&t) {
                let _ = self.poll.registry().deregister(&mut pipe.fd);
            }
            self.pending_reads.retain(|p| *p != t);
            for parked in &mut self.console_parked {
                parked.retain(|p| *p != t);
            }
        }
        self.end_unit_streams(unit);
        self.drop_probes(unit);
        self.log_problems.remove(&unit);
        self.relog.remove(&unit);
        self.unit_forgotten(unit);
        self.forget_status_stats(unit);
        self.unwatch_unit(unit);
        self.close_sockets(unit);
        if let Some(out) = self.outputs.get_mut(unit.index()) {
            *out = None;
        }
        let name = self.engine.unit(unit).name.to_string();
        if self.engine.forget(unit) {
            log::info!("{name}: removed");
        }
    }
}
