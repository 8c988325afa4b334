//! Control requests: parsing a request line, checking the peer may make it, and each
//! command's handling (status, start/stop/restart waiters, kill, logs, health, …).

use mio::Token;

use super::conn::{Follow, LogsReply, MAX_STREAMS};
use super::Runtime;
use crate::ctl::proto::{
    parse_request, write_status_reply, ErrorCode, Fields, OpResult, Reply, Request,
};
use crate::engine::{signal_name, Input, State, Time};
use crate::output::LogTail;
use crate::platform::Backend;
use crate::proc::UnitId;
use crate::runtime::status;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Restart,
    /// One step of `restart --rolling`: like restart, but a replacement that goes to
    /// backoff has failed (the roll stops).
    Roll,
}

/// A blocking start/stop/restart/scale: answered once every unit reached an outcome.
pub(super) struct Waiter {
    /// (unit, its `since` when the request was made, what is awaited)
    units: Vec<(UnitId, Time, Op)>,
    /// `restart --rolling`: the instances still to restart, one after another.
    roll: std::collections::VecDeque<UnitId>,
    /// Outcomes of the roll's earlier steps.
    done: Vec<OpResult>,
    /// `scale`: what it did (in the reply).
    scale: Option<crate::ctl::proto::ScaleReport>,
}

impl Waiter {
    fn new(units: Vec<(UnitId, Time, Op)>) -> Waiter {
        Waiter {
            units,
            roll: Default::default(),
            done: Vec::new(),
            scale: None,
        }
    }
}

fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    (1..32).find(|&n| signal_name(n) == name)
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

impl<P: Backend> Runtime<P> {
    /// Completes blocking start/stop/restart requests whose units reached an outcome.
    pub(in crate::runtime) fn check_waiters(&mut self) {
        let Some(server) = self.control.as_ref() else {
            return;
        };
        let waiting: Vec<Token> = server
            .conns
            .iter()
            .filter(|(_, c)| c.waiter.is_some())
            .map(|(t, _)| *t)
            .collect();
        for token in waiting {
            let Some(mut waiter) = self.conn(token).and_then(|c| c.waiter.take()) else {
                continue;
            };
            let settled = waiter
                .units
                .iter()
                .all(|&(u, since, op)| self.outcome(op, u, since).is_some());
            if !settled {
                if let Some(conn) = self.conn(token) {
                    conn.waiter = Some(waiter);
                }
                continue;
            }
            let results: Vec<OpResult> = waiter
                .units
                .iter()
                .map(|&(u, since, op)| {
                    self.op_result(u, self.outcome(op, u, since).unwrap_or(false))
                })
                .collect();
            let ok = results.iter().all(|r| r.ok);
            waiter.done.extend(results);
            if ok {
                if let Some(next) = self.next_roll_step(&mut waiter.roll) {
                    waiter.units = vec![next];
                    if let Some(conn) = self.conn(token) {
                        conn.waiter = Some(waiter);
                    }
                    continue;
                }
            }
            let mut reply = self.results_reply(std::mem::take(&mut waiter.done));
            if !waiter.roll.is_empty() {
                let left: Vec<String> = waiter
                    .roll
                    .iter()
                    .filter(|&&u| self.engine.exists(u))
                    .map(|&u| self.engine.unit(u).name.to_string())
                    .collect();
                let why = reply
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                reply.error = Some(Box::new(crate::ctl::proto::ErrorReply {
                    code: ErrorCode::Failed,
                    message: format!(
                        "rolling restart stopped: {why}; not restarted: {}",
                        if left.is_empty() {
                            "none".into()
                        } else {
                            left.join(", ")
                        }
                    ),
                }));
            }
            reply.scale = waiter.scale.take().map(Box::new);
            self.send(token, &encode(&reply));
        }
    }

    /// `Some(success)` once the unit reached an outcome for `op`, else `None`.
    fn outcome(&self, op: Op, unit: UnitId, since: Time) -> Option<bool> {
        if !self.engine.exists(unit) {
            // Forgotten (an instance removed by scale): it stopped.
            return Some(op == Op::Stop);
        }
        let u = self.engine.unit(unit);
        let changed = u.since != since;
        match (op, u.state) {
            (_, State::Invalid) => Some(false),
            (Op::Roll, _) if !changed => None,
            (Op::Roll, State::Running | State::Done) => Some(true),
            (Op::Roll, State::Backoff | State::Failed | State::Stopped | State::Inactive) => {
                Some(false)
            }
            (Op::Roll, _) => None,
            (Op::Stop, State::Stopped | State::Failed | State::Inactive | State::Done) => {
                Some(true)
            }
            (Op::Stop, _) => None,
            (Op::Restart, _) if !changed => None,
            (_, State::Running | State::Done) => Some(true),
            (_, State::Failed | State::Stopped | State::Inactive) => Some(false),
            _ => None,
        }
    }

    fn op_result(&self, unit: UnitId, ok: bool) -> OpResult {
        let u = self.engine.unit(unit);
        let message = match (u.reason, &u.message) {
            (_, Some(m)) => Some(m.clone()),
            (Some(r), None) if !ok => Some(r.as_str().to_string()),
            _ => None,
        };
        OpResult {
            unit: u.name.to_string(),
            ok,
            state: u.state.as_str().to_string(),
            message,
        }
    }

    fn results_reply(&self, results: Vec<OpResult>) -> Reply {
        let ok = results.iter().all(|r| r.ok);
        let mut reply = if ok {
            Reply::ok()
        } else {
            let failed: Vec<String> = results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.unit.clone())
                .collect();
            Reply::error(ErrorCode::Failed, format!("failed: {}", failed.join(", ")))
        };
        reply.results = Some(results);
        reply
    }

    /// The named units; a pool's name stands for all its instances.
    fn resolve_units(&self, names: &[String]) -> Result<Vec<UnitId>, Reply> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(members) = self.pool_members(n) {
                out.extend(members);
                continue;
            }
            out.push(self.engine.lookup(n).ok_or_else(|| {
                Reply::error(ErrorCode::NoSuchUnit, format!("no such unit: {n}"))
            })?);
        }
        Ok(out)
    }

    /// The next instance a rolling restart restarts (skipping those gone or not
    /// running), already told to restart.
    fn next_roll_step(
        &mut self,
        roll: &mut std::collections::VecDeque<UnitId>,
    ) -> Option<(UnitId, Time, Op)> {
        while let Some(u) = roll.pop_front() {
            if !self.engine.exists(u) || !self.engine.unit(u).state.is_live() {
                continue;
            }
            let since = self.engine.unit(u).since;
            self.feed(Input::Restart(u));
            return Some((u, since, Op::Roll));
        }
        None
    }

    /// Why a unit does not count as healthy, or None when it does: a service is running,
    /// ready and not unhealthy; a oneshot has run to completion (`done`).
    fn not_healthy(&self, u: UnitId) -> Option<String> {
        let unit = self.engine.unit(u);
        let oneshot = unit
            .spec
            .as_ref()
            .is_some_and(|s| s.kind == crate::unit::UnitType::Oneshot);
        let health = self.probes.health(u);
        let why = match unit.state {
            State::Done if oneshot => return None,
            State::Running if oneshot => "running, not done".to_string(),
            State::Running if !unit.ready() => "running, not ready".to_string(),
            State::Running if health == crate::runtime::health::Health::Unhealthy => {
                "unhealthy".into()
            }
            State::Running => return None,
            state => match unit.reason {
                Some(r) => format!("{state}: {r}"),
                None => state.to_string(),
            },
        };
        Some(format!("{} ({why})", unit.name))
    }

    /// `health [UNIT...]`: the named units, or without names every enabled unit (and
    /// every unit file that is invalid), must be healthy; the reply names those that are not.
    fn health(&self, req: &Request) -> Result<Reply, Reply> {
        let ids = if req.units.is_empty() {
            self.engine
                .ids()
                .filter(|&u| {
                    let unit = self.engine.unit(u);
                    unit.spec.as_ref().map_or(true, |s| s.enabled)
                })
                .collect()
        } else {
            self.resolve_units(&req.units)?
        };
        let failing: Vec<String> = ids
            .into_iter()
            .filter_map(|u| self.not_healthy(u))
            .collect();
        let mut reply = Reply::ok();
        reply.healthy = Some(failing.is_empty());
        if !failing.is_empty() {
            reply.not_healthy = Some(Box::new(failing));
        }
        Ok(reply)
    }

    /// `cat UNIT`: the unit's effective configuration as the keys of a unit file, defaults
    /// filled in (supctl writes it as YAML: the YAML writer stays out of sup); a unit whose
    /// file was rejected has none.
    fn cat(&self, u: UnitId) -> Result<Reply, Reply> {
        let unit = self.engine.unit(u);
        let Some(spec) = &unit.spec else {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!(
                    "{}: the unit file is invalid: {}",
                    unit.name,
                    unit.message.as_deref().unwrap_or("no detail")
                ),
            ));
        };
        let mut reply = Reply::ok();
        reply.config = Some(Box::new(crate::unit::render::unit_config(spec)));
        Ok(reply)
    }

    fn one_unit(&self, req: &Request) -> Result<UnitId, Reply> {
        match req.units.as_slice() {
            [name] => match self.pool_members(name) {
                Some(members) => Err(Reply::error(
                    ErrorCode::BadRequest,
                    format!(
                        "{} takes one unit and {name} is a pool: name one of its instances ({})",
                        req.cmd,
                        crate::unit::deps::short_list(
                            &members
                                .iter()
                                .map(|&m| self.engine.unit(m).name.as_str())
                                .collect::<Vec<_>>()
                        )
                    ),
                )),
                None => self.resolve_units(std::slice::from_ref(name)).map(|v| v[0]),
            },
            _ => Err(Reply::error(
                ErrorCode::BadRequest,
                format!("{} takes exactly one unit", req.cmd),
            )),
        }
    }

    /// One request; `None` when the reply is deferred (waiter) or already queued (status).
    pub(super) fn handle_request(&mut self, token: Token, line: &[u8]) -> Option<Reply> {
        let req = match parse_request(line) {
            Ok(req) => req,
            Err(reply) => return Some(reply),
        };
        let rw = self.conn(token).is_some_and(|c| c.rw);
        let read_only = req.is_read_only();
        if !read_only && !rw {
            return Some(Reply::error(ErrorCode::PermissionDenied, format!("{}: permission denied (only root, sup's user and the control group may change state)", req.cmd)));
        }
        let result = match req.cmd.as_str() {
            "status" => self.resolve_units(&req.units).map(|ids| {
                let pools: Vec<String> = req
                    .units
                    .iter()
                    .filter(|n| self.pools.get(n).is_some())
                    .cloned()
                    .collect();
                self.send_status(token, &ids, &pools, req.units.is_empty(), Fields::requested(&req));
                None
            }),
            "start" | "restart" | "reload" | "run" | "scale" if self.recovering() => Err(Reply::error(
                ErrorCode::Busy,
                format!(
                    "{}: sup is still stopping what a previous sup left running (crash recovery); try again in a moment",
                    req.cmd
                ),
            )),
            "start" | "stop" | "restart" => self.start_stop(token, &req),
            "kill" => self.kill(&req).map(Some),
            "logs" => self.logs(token, &req),
            "events" => self.stream_slot().map(|()| {
                if let Some(conn) = self.conn(token) {
                    conn.follow = Follow::Events;
                }
                Some(Reply::ok())
            }),
            "health" => self.health(&req).map(Some),
            "cat" => match req.units.as_slice() {
                // A pool: its unit file, as the template of its instances.
                [name] if self.pools.get(name).is_some() => {
                    let mut reply = Reply::ok();
                    reply.config = self
                        .pools
                        .get(name)
                        .map(|p| Box::new(crate::unit::render::unit_config(&p.template)));
                    Ok(Some(reply))
                }
                _ => self.one_unit(&req).and_then(|u| self.cat(u)).map(Some),
            },
            "shutdown" | "poweroff" | "reboot" | "halt" => {
                log::info!("{} requested over the control socket", req.cmd);
                self.request_end(crate::runtime::init::action_for(&req.cmd));
                Ok(Some(Reply::ok()))
            }
            "pause" | "resume" => self.pause_resume_request(&req).map(Some),
            "reload" | "run" if self.shutting_down => Err(Reply::error(
                ErrorCode::Failed,
                format!("{}: sup is shutting down", req.cmd),
            )),
            "reload" => Ok(Some(self.reload(req.dry_run))),
            "run" => self.run(token, &req),
            "forget" => self.forget_request(&req).map(Some),
            "reexec" => self.reexec_request(token),
            "metrics" => {
                let reply = self.metrics_reply();
                self.send_built(token, reply);
                Ok(None)
            }
            "scale" if self.shutting_down => Err(Reply::error(
                ErrorCode::Failed,
                "scale: sup is shutting down".to_string(),
            )),
            "scale" => self.scale(token, &req),
            other => Err(Reply::error(
                ErrorCode::BadRequest,
                format!("unknown command {other:?}"),
            )),
        };
        match result {
            Ok(reply) => reply,
            Err(reply) => Some(reply),
        }
    }

    /// Writes the reply to `status` straight into the connection's buffer: `fields` of
    /// the named units, or with `all` of every unit, plus the slices.
    /// A pool named in `pools` (or, with `all`, every pool) gets its summary line before
    /// its first instance.
    fn send_status(
        &mut self,
        token: Token,
        ids: &[UnitId],
        pools: &[String],
        all: bool,
        fields: Fields,
    ) {
        let now = self.now();
        let Some(conn) = self.conn(token).filter(|c| !c.gone) else {
            return;
        };
        if conn.out.is_empty() {
            conn.progress = now;
        }
        let mut buf = Vec::new();
        let slices = if all {
            self.slice_statuses()
        } else {
            Vec::new()
        };
        let count = if all { self.engine.len() } else { ids.len() };
        // About 320 bytes per unit: reserve once instead of growing through the copies.
        buf.reserve(count * 384 + 64);
        let every: Vec<UnitId>;
        let ids = if all {
            every = self.engine.ids().collect();
            &every[..]
        } else {
            ids
        };
        let lines: Vec<(crate::runtime::pools::PoolLine, Vec<UnitId>)> = if all {
            self.pools
                .map
                .keys()
                .filter_map(|n| Some((self.pool_line(n)?, self.pool_members(n)?)))
                .collect()
        } else {
            pools
                .iter()
                .filter_map(|n| Some((self.pool_line(n)?, self.pool_members(n)?)))
                .collect()
        };
        let mut rows: Vec<Result<UnitId, usize>> = Vec::with_capacity(ids.len() + lines.len());
        let mut shown = vec![false; lines.len()];
        for &id in ids {
            if let Some(k) = lines.iter().position(|(_, m)| m.contains(&id)) {
                if !std::mem::replace(&mut shown[k], true) {
                    rows.push(Err(k));
                }
            }
            rows.push(Ok(id));
        }
        // A pool scaled to nothing still has its line.
        for (k, done) in shown.iter().enumerate() {
            if !done {
                rows.push(Err(k));
            }
        }
        let units = rows.iter().map(|row| match *row {
            Ok(id) => status::unit_status(self, id, fields),
            Err(k) => status::pool_status(self, &lines[k].0, &lines[k].1, fields),
        });
        write_status_reply(&mut buf, units, (!slices.is_empty()).then_some(&slices[..]));
        if let Some(conn) = self.conn(token) {
            conn.out.push_vec(buf);
        }
    }

    /// Queues a reply built whole (`metrics`).
    fn send_built(&mut self, token: Token, reply: Vec<u8>) {
        let now = self.now();
        if let Some(conn) = self.conn(token).filter(|c| !c.gone) {
            if conn.out.is_empty() {
                conn.progress = now;
            }
            conn.out.push_vec(reply);
        }
    }

    fn start_stop(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        if req.units.is_empty() {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                format!("{} needs at least one unit", req.cmd),
            ));
        }
        if req.rolling {
            return self.rolling_restart(token, req);
        }
        let ids = self.resolve_units(&req.units)?;
        let op = match req.cmd.as_str() {
            "start" => Op::Start,
            "stop" => Op::Stop,
            _ => Op::Restart,
        };
        let before: Vec<(UnitId, Time, Op)> = ids
            .iter()
            .map(|&u| (u, self.engine.unit(u).since, op))
            .collect();
        // A pool stops as one: the units that require it stop first, once.
        for name in &req.units {
            if let (Op::Stop, Some(members)) = (op, self.pool_members(name)) {
                self.feed(Input::StopUnits(members));
            }
        }
        for &u in &ids {
            self.feed(match op {
                Op::Start => Input::Start(u),
                Op::Stop => Input::Stop(u),
                Op::Restart | Op::Roll => Input::Restart(u),
            });
        }
        if req.no_block {
            let results = ids
                .iter()
                .map(|&u| self.op_result(u, self.engine.unit(u).state != State::Invalid))
                .collect();
            return Ok(Some(self.results_reply(results)));
        }
        if let Some(conn) = self.conn(token) {
            conn.waiter = Some(Waiter::new(before));
        }
        self.check_waiters();
        Ok(None)
    }

    /// `restart --rolling POOL`: its running instances restart one at a time, each
    /// once the one before is running (ready) again; a replacement that fails (or goes
    /// to backoff) ends the roll, and the reply names those not restarted.
    fn rolling_restart(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        let [name] = req.units.as_slice() else {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                "restart --rolling takes exactly one pool".to_string(),
            ));
        };
        let Some(members) = self.pool_members(name) else {
            return Err(match self.engine.lookup(name) {
                Some(_) => Reply::error(
                    ErrorCode::BadRequest,
                    format!("restart --rolling: {name} is not a pool (no instances or scale key)"),
                ),
                None => Reply::error(ErrorCode::NoSuchUnit, format!("no such unit: {name}")),
            });
        };
        if req.no_block {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                "restart --rolling waits for each step; --no-block is not for it".to_string(),
            ));
        }
        let mut roll: std::collections::VecDeque<UnitId> = members.into_iter().collect();
        let Some(first) = self.next_roll_step(&mut roll) else {
            let mut reply = Reply::ok();
            reply.results = Some(Vec::new());
            return Ok(Some(reply));
        };
        if let Some(conn) = self.conn(token) {
            let mut w = Waiter::new(vec![first]);
            w.roll = roll;
            conn.waiter = Some(w);
        }
        self.check_waiters();
        Ok(None)
    }

    /// `scale POOL N|auto`: answered once new instances run and removed ones stopped.
    fn scale(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        let ([name], Some(count)) = (req.units.as_slice(), req.count.as_deref()) else {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                "scale takes one pool and a count (N or auto)".to_string(),
            ));
        };
        let (added, removed, report) = self.scale_request(name, count)?;
        let mut units: Vec<(UnitId, Time, Op)> = Vec::new();
        for u in added {
            units.push((u, self.engine.unit(u).since, Op::Start));
        }
        for u in removed {
            let since = if self.engine.exists(u) {
                self.engine.unit(u).since
            } else {
                Time::ZERO
            };
            units.push((u, since, Op::Stop));
        }
        if req.no_block || units.is_empty() {
            let mut reply = Reply::ok();
            reply.results = Some(Vec::new());
            reply.scale = Some(Box::new(report));
            return Ok(Some(reply));
        }
        if let Some(conn) = self.conn(token) {
            let mut w = Waiter::new(units);
            w.scale = Some(report);
            conn.waiter = Some(w);
        }
        self.check_waiters();
        Ok(None)
    }

    /// The instances of the pool a one-unit command names, if it names a pool.
    fn named_pool(&self, req: &Request) -> Option<Vec<UnitId>> {
        match req.units.as_slice() {
            [name] => self.pool_members(name),
            _ => None,
        }
    }

    /// `pause`/`resume` of one unit, or of every instance of a pool (each one's outcome).
    fn pause_resume_request(&mut self, req: &Request) -> Result<Reply, Reply> {
        let pause = req.cmd == "pause";
        let Some(members) = self.named_pool(req) else {
            return self.one_unit(req).and_then(|u| self.pause_resume(u, pause));
        };
        let mut results = Vec::new();
        for m in members {
            match self.pause_resume(m, pause) {
                Ok(reply) => results.extend(reply.results.unwrap_or_default()),
                Err(reply) => results.push(OpResult {
                    unit: self.engine.unit(m).name.to_string(),
                    ok: false,
                    state: self.engine.unit(m).state.as_str().into(),
                    message: reply.error.map(|e| e.message),
                }),
            }
        }
        Ok(self.results_reply(results))
    }

    fn kill(&mut self, req: &Request) -> Result<Reply, Reply> {
        if let Some(members) = self.named_pool(req) {
            // Every instance that has a process.
            let mut results = Vec::new();
            for m in members {
                if self.engine.unit(m).pid.is_some() {
                    let mut one = req.clone();
                    one.units = vec![self.engine.unit(m).name.to_string()];
                    let reply = self.kill(&one)?;
                    results.extend(reply.results.unwrap_or_default());
                }
            }
            if results.is_empty() {
                return Err(Reply::error(
                    ErrorCode::Failed,
                    format!("{} has no running instance", req.units[0]),
                ));
            }
            return Ok(self.results_reply(results));
        }
        let u = self.one_unit(req)?;
        let name = req.signal.as_deref().unwrap_or("SIGTERM");
        let sig = parse_signal(name).ok_or_else(|| {
            Reply::error(ErrorCode::BadRequest, format!("unknown signal {name:?}"))
        })?;
        let stop = crate::proc::Stop::from_signal(sig);
        if !<crate::platform::Host as crate::platform::Platform>::SIGNALS
            && matches!(stop, crate::proc::Stop::Signal(s) if s != crate::proc::sig::INT)
        {
            return Err(Reply::error(
                ErrorCode::BadRequest,
                format!(
                    "signal {name}: not available on this platform (TERM and INT ask the unit to stop, KILL ends it)"
                ),
            ));
        }
        let unit = self.engine.unit(u);
        let Some(pid) = unit.pid else {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!("{} has no running process", unit.name),
            ));
        };
        let pgid = unit.pgid.unwrap_or(pid);
        self.kill_unit_fx(u, pgid, stop);
        Ok(self.results_reply(vec![self.op_result(u, true)]))
    }

    /// `run`: the transient unit is added and started; with `wait` the reply goes out
    /// first and the connection then follows the run (output lines, then `run_end`).
    fn run(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        if req.wait {
            self.stream_slot()?;
        }
        let id = self.add_transient(req)?;
        let mut reply = Reply::ok();
        reply.results = Some(vec![OpResult {
            unit: self.engine.unit(id).name.to_string(),
            ok: true,
            state: self.engine.unit(id).state.as_str().into(),
            message: None,
        }]);
        if !req.wait {
            self.feed(Input::Start(id));
            return Ok(Some(reply));
        }
        self.send(token, &encode(&reply));
        if let Some(conn) = self.conn(token) {
            conn.follow = Follow::Run(id);
        }
        self.feed(Input::Start(id));
        Ok(None)
    }

    /// Refuses a new stream when [`MAX_STREAMS`] are open.
    fn stream_slot(&self) -> Result<(), Reply> {
        let open = self.control.as_ref().map_or(0, |s| s.streams());
        if open >= MAX_STREAMS {
            return Err(Reply::error(
                ErrorCode::Busy,
                format!(
                    "too many streams open (events, logs, limit {MAX_STREAMS}); try again later"
                ),
            ));
        }
        Ok(())
    }

    /// `logs`: the reply is streamed from the log files as the peer takes it (any number
    /// of lines, in bounded memory); with `follow`, new lines come after it.
    fn logs(&mut self, token: Token, req: &Request) -> Result<Option<Reply>, Reply> {
        let u = self.one_unit(req)?;
        let Some(path) = self.log_path(u) else {
            return Err(Reply::error(
                ErrorCode::Failed,
                format!(
                    "{}: output is not kept in a log file (see its log key)",
                    self.engine.unit(u).name
                ),
            ));
        };
        self.stream_slot()?;
        let lines = req.lines.unwrap_or(50) as u64;
        let tail = LogTail::open(&path, lines)
            .map_err(|e| Reply::error(ErrorCode::Failed, format!("{}: {e}", path.display())))?;
        let now = self.now();
        let Some(server) = self.control.as_mut() else {
            return Ok(None);
        };
        let usage = server.usage.clone();
        if let Some(conn) = server.conns.get_mut(&token) {
            if conn.out.is_empty() {
                conn.progress = now;
            }
            conn.logs = Some(Box::new(LogsReply::new(tail, &mut conn.out, &usage)));
            if req.follow {
                conn.follow = Follow::Logs(u);
            }
        }
        Ok(None)
    }
}
