//! Transient units (`supctl run`, `supctl forget`): units made from a command and `-p`
//! properties instead of a file. They live only in this sup (never written to the unit
//! directory); an ended one stays listed with its exit status until it is forgotten, by
//! `forget`, or when more than [`MAX_ENDED`] ended ones are kept (the oldest goes).

use std::collections::VecDeque;
use std::time::Duration;

use super::Runtime;
use crate::ctl::proto::{ErrorCode, OpResult, Reply, Request, RunEnd};
use crate::engine::{Input, State, Time};
use crate::output::Stream;
use crate::platform::Backend;
use crate::proc::UnitId;

/// Ended transient units kept in status (the oldest is forgotten beyond this).
pub const MAX_ENDED: usize = 100;
/// Transient units at once (running or ended).
pub const MAX_TRANSIENT: usize = 1000;

/// The runtime's transient units.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Transients {
    /// For `run-N` names.
    next: u64,
    /// Ended ones, oldest first.
    ended: VecDeque<UnitId>,
    /// `--timeout`: when each is stopped.
    deadlines: Vec<(UnitId, Time)>,
}

impl Transients {
    pub fn next_deadline(&self) -> Option<Time> {
        self.deadlines.iter().map(|&(_, at)| at).min()
    }
}

/// The run ended: not live, and not on its way up again (a restart).
fn ended(state: State, going_up: bool) -> bool {
    matches!(
        state,
        State::Done | State::Stopped | State::Failed | State::Inactive | State::Invalid
    ) && !going_up
}

impl<P: Backend> Runtime<P> {
    /// `run`: adds the transient unit (started by the caller, once its reply is out
    /// when the caller streams).
    pub(super) fn add_transient(&mut self, req: &Request) -> Result<UnitId, Reply> {
        let count = self.engine.units().filter(|u| u.transient).count();
        if count >= MAX_TRANSIENT {
            return Err(Reply::error(
                ErrorCode::Busy,
                format!("{count} transient units exist (at most {MAX_TRANSIENT}); forget ended ones first (supctl forget --ended)"),
            ));
        }
        let name = match &req.name {
            Some(name) => name.clone(),
            None => loop {
                self.transients.next += 1;
                let name = format!("run-{}", self.transients.next);
                if self.engine.lookup(&name).is_none() {
                    break name;
                }
            },
        };
        if self.engine.lookup(&name).is_some() {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!("a unit named {name} exists already (an ended transient unit can be dropped with supctl forget {name})"),
            ));
        }
        let spec = crate::unit::transient::transient_spec(
            &name,
            &req.argv,
            req.unit_type.as_deref(),
            &req.props,
        )
        .map_err(|m| Reply::error(ErrorCode::BadRequest, m))?;
        let unsupported = super::asks::unsupported(&self.platform, &spec);
        let now = self.now();
        let id = self
            .engine
            .add(spec.name.clone(), Ok(spec), unsupported, true, now);
        self.engine.rebuild();
        self.ensure_slots();
        if let Some(ms) = req.timeout_ms {
            let at = now.saturating_add(Duration::from_millis(ms));
            self.transients.deadlines.push((id, at));
        }
        log::info!("{name}: transient unit running {:?}", req.argv);
        Ok(id)
    }

    /// `forget NAME...` / `forget --ended`: drops ended transient units.
    pub(super) fn forget_request(&mut self, req: &Request) -> Result<Reply, Reply> {
        let mut ids = Vec::new();
        if req.ended {
            ids.extend(
                self.engine
                    .units_with_ids()
                    .filter(|(_, u)| u.transient && ended(u.state, u.going_up()))
                    .map(|(id, _)| id),
            );
        }
        for name in &req.units {
            let Some(id) = self.engine.lookup(name) else {
                return Err(Reply::error(
                    ErrorCode::NoSuchUnit,
                    format!("no such unit: {name}"),
                ));
            };
            let u = self.engine.unit(id);
            if !u.transient {
                return Err(Reply::error(
                    ErrorCode::BadRequest,
                    format!("{name} is not a transient unit (units from files go away when their file does, at a reload)"),
                ));
            }
            if !ended(u.state, u.going_up()) {
                return Err(Reply::error(
                    ErrorCode::Failed,
                    format!("{name} is {}; stop it first", u.state),
                ));
            }
            ids.push(id);
        }
        if ids.is_empty() && !req.ended {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                "forget needs unit names or --ended",
            ));
        }
        let mut names: Vec<String> = ids
            .iter()
            .map(|&id| self.engine.unit(id).name.to_string())
            .collect();
        names.sort();
        names.dedup();
        for id in ids {
            if !self.forgetting.contains(&id) {
                self.forgetting.push(id);
            }
        }
        self.forget_pending_units();
        let mut reply = Reply::ok();
        reply.results = Some(
            names
                .into_iter()
                .map(|unit| OpResult {
                    unit,
                    ok: true,
                    state: "forgotten".into(),
                    message: None,
                })
                .collect(),
        );
        Ok(reply)
    }

    /// A transient unit changed state: once its run ended, whoever waits for it hears
    /// how, and it joins the ended ones (the oldest beyond [`MAX_ENDED`] are forgotten).
    pub(super) fn transient_state(&mut self, unit: UnitId) {
        let u = self.engine.unit(unit);
        if !u.transient {
            return;
        }
        if !ended(u.state, u.going_up()) {
            // Started again (supctl start): not an ended one any more.
            self.transients.ended.retain(|&u| u != unit);
            return;
        }
        let end = RunEnd {
            unit: u.name.to_string(),
            state: u.state.as_str().into(),
            reason: u.reason.map(|r| r.as_str().into()),
            exit: u.exit.map(super::status::exit_info),
            message: u.message.clone(),
        };
        self.transients.deadlines.retain(|&(id, _)| id != unit);
        self.finish_runs(unit, &end);
        if !self.transients.ended.contains(&unit) {
            self.transients.ended.push_back(unit);
        }
        while self.transients.ended.len() > MAX_ENDED {
            if let Some(old) = self.transients.ended.pop_front() {
                if !self.forgetting.contains(&old) {
                    self.forgetting.push(old);
                }
            }
        }
    }

    /// Deadlines of `run --timeout` that are due.
    pub(super) fn transient_tick(&mut self) {
        let now = self.now();
        let due: Vec<UnitId> = self
            .transients
            .deadlines
            .iter()
            .filter(|&&(_, at)| at <= now)
            .map(|&(id, _)| id)
            .collect();
        if due.is_empty() {
            return;
        }
        self.transients.deadlines.retain(|&(_, at)| at > now);
        for id in due {
            log::info!("{}: stopping it at its deadline", self.engine.unit(id).name);
            self.feed(Input::Deadline(id));
        }
    }

    /// A unit is forgotten: nothing of it stays here.
    pub(super) fn unit_forgotten(&mut self, unit: UnitId) {
        self.transients.ended.retain(|&u| u != unit);
        self.transients.deadlines.retain(|&(u, _)| u != unit);
    }

    /// Reads what the unit's pipes hold now (its process has ended) and passes on its
    /// last partial lines, so whoever waits for it gets all of its output first.
    pub(super) fn drain_output(&mut self, unit: UnitId) {
        self.draining = true;
        for t in self.unit_pipes(unit) {
            // Bounded: a pipe whose writer lives on (a leftover child) is read once more
            // per round, up to 64 rounds of the budget.
            for _ in 0..64 {
                self.pending_reads.retain(|p| *p != t);
                self.read_pipe(t);
                if !self.pending_reads.contains(&t) {
                    break;
                }
            }
        }
        self.draining = false;
        let mut tap = Vec::new();
        if let Some(out) = self.outputs.get_mut(unit.index()).and_then(Option::as_mut) {
            for stream in [Stream::Stdout, Stream::Stderr] {
                if out.has_partial(stream) {
                    let _ = out.flush_partial(stream, Some(&mut tap));
                }
            }
        }
        if !tap.is_empty() {
            self.forward_log(unit, &tap);
        }
    }
}
