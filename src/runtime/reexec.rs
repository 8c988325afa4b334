//! `supctl reexec`: sup replaces its program with the one now on disk (a package upgrade
//! takes effect) and carries on where it was, in the same process: every unit keeps
//! running, untouched.
//!
//! 1. The new program is checked first: `PROGRAM --reexec-check` runs as a child (from
//!    the loop, like any child) and must print [`HANDOVER_CHECK`], the handover format
//!    this build writes. Anything else — a missing or broken file, another format — is
//!    an error to the requester and nothing changes.
//! 2. The state ([`Handover`]: the engine with every unit's lifecycle bookkeeping, pids
//!    and timers; partial output lines; health; transient units; slices) goes into a
//!    memfd, and the endpoints that must stay open — units' output pipes, notify sockets
//!    and pipes, the control listener and the requester's connection — are carried by
//!    number. Output still in a pipe stays there for the new image to read; a line cut
//!    by the handover is carried as its start, so no line is lost, cut or doubled.
//! 3. `exec`. If it fails, the endpoints are made close-on-exec again, the partial lines
//!    put back, and the requester hears why; sup goes on as it was.
//! 4. The new image reads the state before it opens anything, adopts sup's cgroups as
//!    they are (nothing in them is stale), the endpoints, and the units; it answers the
//!    requester and reaps whatever exited meanwhile. Other clients' connections (events,
//!    logs -f) are closed by the exec; they reconnect.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use mio::{Interest, Token};
use serde::{Deserialize, Serialize};

use super::health::Health;
use super::transient::Transients;
use super::{Pipe, Runtime};
use crate::ctl::proto::{ErrorCode, OpResult, Reply};
use crate::engine::{EngineState, EventKind, State};
use crate::output::Stream;
use crate::platform::handover;
use crate::platform::listen::Listener;
use crate::platform::notify::{NotifyPipe, NotifySocket};
use crate::platform::{Backend, OutputPipe, SpawnSpec};
use crate::proc::{Exit, Pid, UnitId};
use crate::unit::spec::SocketSpec;
use crate::unit::SliceSpec;

/// What `sup --reexec-check` prints: the handover format this build reads and writes.
pub const HANDOVER_CHECK: &str = "sup-handover 1";

/// How long the new program's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A reexec whose new program is being checked.
pub(super) struct Pending<R> {
    requester: Token,
    pid: Pid,
    out: Option<R>,
    exe: PathBuf,
    deadline: crate::engine::Time,
}

/// A reexec whose program passed its check: handed over at the top of the next turn of
/// the loop, once everything read in this one (exits reaped with the check's, signals)
/// has been handled.
pub(super) struct Ready {
    requester: Token,
    exe: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct CarriedPipe {
    handle: u64,
    unit: UnitId,
    stream: Stream,
    grown: bool,
}

/// Everything the new image needs.
#[derive(Serialize, Deserialize)]
pub(super) struct Handover {
    format: String,
    /// CLOCK_MONOTONIC at the engine's time zero.
    clock_zero: Duration,
    wall_base: SystemTime,
    engine: EngineState,
    outputs: Vec<(UnitId, [Vec<u8>; 2])>,
    pipes: Vec<CarriedPipe>,
    notify: Vec<(UnitId, u64, PathBuf)>,
    fd_pipes: Vec<(UnitId, u64)>,
    /// Listening sockets of units (`sockets:`), as opened and their handles.
    #[serde(default)]
    sockets: Vec<(UnitId, Vec<(SocketSpec, u64)>)>,
    health: Vec<(UnitId, Option<Health>, Option<String>)>,
    transients: Transients,
    forgetting: Vec<UnitId>,
    relog: Vec<UnitId>,
    slices: Vec<SliceSpec>,
    /// Each unit's group path as made, and the groups still to be removed.
    groups: Vec<(UnitId, String)>,
    remove_pending: Vec<UnitId>,
    listener: Option<u64>,
    requester: Option<u64>,
    platform: String,
    /// Pools: templates, counts, pinned.
    #[serde(default)]
    pools: super::pools::Pools,
}

impl Handover {
    /// The pools (their autoscalers start over: what they measured is not carried).
    pub(super) fn take_pools(&mut self) -> super::pools::Pools {
        let mut pools = std::mem::take(&mut self.pools);
        for pool in pools.map.values_mut() {
            pool.autoscaler = pool
                .template
                .scale
                .as_ref()
                .map(|s| super::pools::new_autoscaler(s));
        }
        pools
    }

    pub(super) fn take_slices(&mut self) -> Vec<SliceSpec> {
        std::mem::take(&mut self.slices)
    }

    pub(super) fn take_engine(&mut self) -> EngineState {
        std::mem::take(&mut self.engine)
    }

    pub(super) fn take_listener(&mut self) -> Option<u64> {
        self.listener.take()
    }
}

/// Reads the state the previous image left (`--reexec-state`); the platform learns
/// that this process takes over (before it is created).
pub(super) fn read_handover(handle: u64) -> Result<Handover, String> {
    let bytes = handover::take_state(handle).map_err(|e| format!("cannot read it: {e}"))?;
    let h: Handover =
        serde_json::from_slice(&bytes).map_err(|e| format!("cannot understand it: {e}"))?;
    if h.format != HANDOVER_CHECK {
        return Err(format!(
            "format {:?}, this sup reads {HANDOVER_CHECK:?}",
            h.format
        ));
    }
    handover::resume_platform(&h.platform);
    Ok(h)
}

/// sup's arguments for the new image: its own, less a previous handover's.
fn own_args() -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--reexec-state" {
            args.next();
            continue;
        }
        if a.to_str().is_some_and(|s| s.starts_with("--reexec-state=")) {
            continue;
        }
        out.push(a);
    }
    out
}

impl<P: Backend> Runtime<P> {
    /// `reexec`: refuses what cannot be handed over, else starts checking the program.
    pub(super) fn reexec_request(&mut self, token: Token) -> Result<Option<Reply>, Reply> {
        let fail = |m: String| Err(Reply::error(ErrorCode::Failed, format!("reexec: {m}")));
        if !handover::SUPPORTED {
            return fail("not available on this platform".into());
        }
        if self.shutting_down {
            return fail("sup is shutting down".into());
        }
        if self.life.main.is_some() {
            return fail("not in entrypoint mode (the main command's terminal and job control are not carried yet)".into());
        }
        if self.recovering() || self.reexec.is_some() || self.reexec_ready.is_some() {
            return Err(Reply::error(
                ErrorCode::Busy,
                "reexec: sup is busy (crash recovery or another reexec); try again in a moment",
            ));
        }
        let exe = match handover::exe_path() {
            Ok(exe) => exe,
            Err(e) => return fail(format!("cannot tell which program sup runs: {e}")),
        };
        let spec = SpawnSpec {
            argv: vec![exe.clone().into(), "--reexec-check".into()],
            env: super::launch::base_env(),
            capture: true,
            ..SpawnSpec::default()
        };
        let child = match self.platform.spawn(&spec) {
            Ok(child) => child,
            Err(e) => {
                return fail(format!(
                    "{} cannot be run: {e}; nothing changed",
                    exe.display()
                ))
            }
        };
        log::info!("reexec: checking {}", exe.display());
        let deadline = self.now().saturating_add(CHECK_TIMEOUT);
        self.reexec = Some(Pending {
            requester: token,
            pid: child.pid,
            out: child.stdout,
            exe,
            deadline,
        });
        Ok(None)
    }

    /// When the loop must wake for a check that does not end.
    pub(super) fn reexec_deadline(&self) -> Option<crate::engine::Time> {
        self.reexec.as_ref().map(|p| p.deadline)
    }

    /// A check that did not end in time: killed, and the reexec refused.
    pub(super) fn reexec_tick(&mut self) {
        if !self
            .reexec
            .as_ref()
            .is_some_and(|p| p.deadline <= self.now())
        {
            return;
        }
        let Some(p) = self.reexec.take() else { return };
        self.platform.signal(p.pid, crate::proc::Stop::Kill);
        let why = format!(
            "reexec: {} --reexec-check did not answer within {}s; nothing changed",
            p.exe.display(),
            CHECK_TIMEOUT.as_secs()
        );
        log::error!("{why}");
        self.answer(p.requester, &Reply::error(ErrorCode::Failed, why));
    }

    /// A reexec whose check passed: hand over now (the top of a turn of the loop).
    pub(super) fn reexec_now(&mut self) {
        if let Some(ready) = self.reexec_ready.take() {
            self.hand_over(ready.requester, &ready.exe);
        }
    }

    /// The check of the new program ended (true: the pid was that check).
    pub(super) fn reexec_check_ended(&mut self, pid: Pid, exit: Exit) -> bool {
        if self.reexec.as_ref().map(|p| p.pid) != Some(pid) {
            return false;
        }
        let Some(mut pending) = self.reexec.take() else {
            return false;
        };
        let mut said = Vec::new();
        if let Some(out) = pending.out.as_mut() {
            let mut buf = [0u8; 256];
            while said.len() < 4096 {
                match std::io::Read::read(out, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => said.extend_from_slice(&buf[..n]),
                }
            }
        }
        let said = String::from_utf8_lossy(&said).trim().to_string();
        if exit == Exit::Code(0) && said == HANDOVER_CHECK {
            self.reexec_ready = Some(Ready {
                requester: pending.requester,
                exe: pending.exe,
            });
        } else {
            let ended = match exit {
                Exit::Code(c) => format!("exit code {c}"),
                Exit::Signal(s) => format!("killed by {}", crate::proc::signal_name(s)),
                other => format!("{other:?}"),
            };
            let why = format!(
                "reexec: {} cannot take over (it said {said:?}, {ended}; this sup hands over {HANDOVER_CHECK:?}); nothing changed",
                pending.exe.display()
            );
            log::error!("{why}");
            self.answer(pending.requester, &Reply::error(ErrorCode::Failed, why));
        }
        true
    }

    /// Carries the endpoints, writes the state and executes the new program. Returns
    /// only when the exec failed (sup then goes on as it was).
    fn hand_over(&mut self, requester: Token, exe: &std::path::Path) {
        let mut carried: Vec<u64> = Vec::new();
        let result = self.carry_all(requester, &mut carried);
        let (state, partials) = match result {
            Ok(x) => x,
            Err(e) => {
                for h in carried {
                    handover::uncarry(h);
                }
                let why = format!("reexec: cannot carry what sup holds open: {e}; nothing changed");
                log::error!("{why}");
                self.answer(requester, &Reply::error(ErrorCode::Failed, why));
                return;
            }
        };
        log::info!(
            "reexec: handing over {} units to {}",
            self.engine.len(),
            exe.display()
        );
        log::logger().flush();
        let e = handover::exec_with_state(exe, &own_args(), &state);
        // Still here: the exec failed.
        for h in carried {
            handover::uncarry(h);
        }
        for (u, p) in partials {
            if let Some(out) = self.outputs.get_mut(u.index()).and_then(Option::as_mut) {
                out.resume_partials(p);
            }
        }
        let why = format!(
            "reexec: cannot execute {}: {e}; nothing changed",
            exe.display()
        );
        log::error!("{why}");
        self.answer(requester, &Reply::error(ErrorCode::Failed, why));
    }

    /// The state to hand over, with every endpoint carried (their handles in `carried`).
    #[allow(clippy::type_complexity)]
    fn carry_all(
        &mut self,
        requester: Token,
        carried: &mut Vec<u64>,
    ) -> std::io::Result<(Vec<u8>, Vec<(UnitId, [Vec<u8>; 2])>)> {
        let mut keep = |h: std::io::Result<u64>| -> std::io::Result<u64> {
            let h = h?;
            carried.push(h);
            Ok(h)
        };
        let mut pipes = Vec::new();
        for p in self.pipes.values() {
            pipes.push(CarriedPipe {
                handle: keep(p.fd.carry())?,
                unit: p.unit,
                stream: p.stream,
                grown: p.grown,
            });
        }
        let mut notify = Vec::new();
        let mut fd_pipes = Vec::new();
        let mut health = Vec::new();
        for id in self.engine.ids().collect::<Vec<_>>() {
            let p = self.probes.unit(id);
            if let Some(ns) = &p.notify {
                notify.push((id, keep(ns.carry())?, ns.path().to_path_buf()));
            }
            if let Some((_, fp)) = &p.fd_pipe {
                fd_pipes.push((id, keep(fp.carry())?));
            }
            if p.health.is_some() || p.status_text.is_some() {
                health.push((id, p.health, p.status_text.clone()));
            }
        }
        let mut sockets = Vec::new();
        for unit in self.sockets.units().collect::<Vec<_>>() {
            let mut socks = Vec::new();
            for (s, l) in self.sockets.of(unit) {
                socks.push((s.clone(), keep(l.carry())?));
            }
            sockets.push((unit, socks));
        }
        let listener = match self.control.as_ref() {
            Some(server) => Some(keep(server.carry())?),
            None => None,
        };
        let requester = Some(keep(self.carry_conn(requester))?);
        // Last lines waiting for a slow stdout get a moment (as at exit).
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut outputs = Vec::new();
        for (i, out) in self.outputs.iter_mut().enumerate() {
            let Some(out) = out.as_mut() else { continue };
            for stream in [Stream::Stdout, Stream::Stderr] {
                let left = deadline.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    out.wait_console(stream, left);
                }
            }
            outputs.push((UnitId::from_index(i), out.handover()));
        }
        let now = self.now();
        let (groups, remove_pending) = self.iso.groups();
        let h = Handover {
            format: HANDOVER_CHECK.to_string(),
            clock_zero: handover::monotonic_now().saturating_sub(now),
            wall_base: self.wall_base,
            engine: self.engine.save(),
            outputs: outputs.clone(),
            pipes,
            notify,
            fd_pipes,
            sockets,
            health,
            transients: self.transients.clone(),
            forgetting: self.forgetting.clone(),
            relog: self.relog.iter().copied().collect(),
            slices: self.iso.slices().to_vec(),
            groups,
            remove_pending,
            listener,
            requester,
            platform: handover::carried_platform(),
            pools: self.pools.clone(),
        };
        let bytes = match serde_json::to_vec(&h) {
            Ok(b) => b,
            Err(e) => {
                for (u, p) in outputs {
                    if let Some(out) = self.outputs.get_mut(u.index()).and_then(Option::as_mut) {
                        out.resume_partials(p);
                    }
                }
                return Err(std::io::Error::other(e));
            }
        };
        Ok((bytes, outputs))
    }

    /// In the new image: takes over what the previous one handed over.
    pub(super) fn take_over(&mut self, h: Handover) {
        // The engine's clock goes on from where it was.
        let elapsed = handover::monotonic_now().saturating_sub(h.clock_zero);
        self.clock_base = Instant::now()
            .checked_sub(elapsed)
            .unwrap_or_else(Instant::now);
        self.wall_base = h.wall_base;
        self.transients = h.transients;
        self.forgetting = h.forgetting;
        self.relog = h.relog.into_iter().collect();
        self.ensure_slots();
        let registry_err = |what: &str, e: std::io::Error| log::error!("reexec: {what}: {e}");
        for (unit, partials) in h.outputs {
            if !self.engine.exists(unit) {
                continue;
            }
            if let Some(spec) = self.engine.unit(unit).spec.clone() {
                self.ensure_output(unit, &spec);
                if let Some(out) = self.outputs[unit.index()].as_mut() {
                    out.resume_partials(partials);
                }
            }
        }
        for p in h.pipes {
            match P::Pipe::adopt(p.handle) {
                Ok(mut fd) => {
                    let token = self.token();
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut fd, token, Interest::READABLE)
                    {
                        registry_err("output pipe", e);
                        continue;
                    }
                    self.pipes.insert(
                        token,
                        Pipe {
                            unit: p.unit,
                            stream: p.stream,
                            fd,
                            grown: p.grown,
                        },
                    );
                    // What arrived during the handover.
                    self.pending_reads.push(token);
                }
                Err(e) => registry_err("output pipe", e),
            }
        }
        for (unit, handle, path) in h.notify {
            match NotifySocket::adopt(handle, path) {
                Ok(mut ns) => {
                    let token = self.token();
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut ns, token, Interest::READABLE)
                    {
                        registry_err("notify socket", e);
                        continue;
                    }
                    self.probes
                        .tokens
                        .insert(token, super::health::Source::Notify(unit));
                    self.probes.unit_mut(unit).notify = Some(ns);
                }
                Err(e) => registry_err("notify socket", e),
            }
        }
        for (unit, handle) in h.fd_pipes {
            match NotifyPipe::adopt(handle) {
                Ok(mut fp) => {
                    let token = self.token();
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut fp, token, Interest::READABLE)
                    {
                        registry_err("notify pipe", e);
                        continue;
                    }
                    self.probes
                        .tokens
                        .insert(token, super::health::Source::Fd(unit));
                    self.probes.unit_mut(unit).fd_pipe = Some((token, fp));
                }
                Err(e) => registry_err("notify pipe", e),
            }
        }
        // The instances of a pool carried one socket each under the same handle: one
        // adoption, shared again.
        let mut adopted: std::collections::HashMap<u64, std::rc::Rc<Listener>> =
            std::collections::HashMap::new();
        for (unit, socks) in h.sockets {
            let mut open = Vec::new();
            for (s, handle) in socks {
                if let Some(l) = adopted.get(&handle) {
                    open.push((s, std::rc::Rc::clone(l)));
                    continue;
                }
                match Listener::adopt(handle, &s.listen) {
                    Ok(l) => {
                        let l = std::rc::Rc::new(l);
                        adopted.insert(handle, std::rc::Rc::clone(&l));
                        open.push((s, l));
                    }
                    Err(e) => registry_err("listening socket", e),
                }
            }
            if self.engine.exists(unit) {
                self.sockets.adopt(unit, open);
            }
        }
        // Groups as they were made (whatever slices and quotas say now), then probes
        // and checks of the units that run.
        for (u, path) in &h.groups {
            if self.engine.exists(*u) {
                self.adopt_group(*u, path, h.remove_pending.contains(u));
            }
        }
        let ids: Vec<UnitId> = self.engine.ids().collect();
        for &u in &ids {
            let unit = self.engine.unit(u);
            let (state, pid) = (unit.state, unit.pid);
            let Some(spec) = unit.spec.clone() else {
                continue;
            };
            if state.is_live() && pid.is_some() {
                // Watched files: watched again (a change during the handover is missed).
                if let Err(e) = self.watch_unit(u) {
                    log::warn!("{}: reexec: {e}", spec.name);
                }
            }
            match (state, pid) {
                (State::Starting, Some(pid)) => {
                    self.probes_on_event(u, &EventKind::Spawned { pid })
                }
                (State::Running | State::Paused, Some(_)) => self.probes_on_event(
                    u,
                    &EventKind::State {
                        from: State::Starting,
                        to: State::Running,
                    },
                ),
                _ => {}
            }
        }
        for (unit, health, text) in h.health {
            let p = self.probes.unit_mut(unit);
            if health.is_some() {
                p.health = health;
            }
            p.status_text = text;
        }
        if let Some(handle) = h.requester {
            let reply = {
                let mut r = Reply::ok();
                r.results = Some(vec![OpResult {
                    unit: "sup".into(),
                    ok: true,
                    state: format!("reexecuted, {} units carried", self.engine.len()),
                    message: None,
                }]);
                r
            };
            if let Err(e) = self.answer_carried(handle, &reply) {
                log::warn!("reexec: cannot answer the requester: {e}");
            }
        }
        log::info!("reexec: took over {} units", self.engine.len());
    }
}
