//! The event loop: the only caller of `Poll::poll`. It turns OS events (signals, child
//! exits, pipe data, control connections, timer deadlines) into engine inputs and
//! carries out the engine's effects through the platform. Single-threaded; it sleeps in
//! `epoll_wait` with the engine's next deadline as timeout and wakes for nothing else.

mod asks;
mod attempts;
mod checks;
mod control;
mod entry;
mod health;
mod init;
mod isolation;
mod launch;
mod metrics;
mod notify;
mod pools;
mod probe;
mod recover;
mod reexec;
mod reload;
mod sockets;
mod status;
#[cfg(test)]
mod tests;
mod transient;
mod watch;

pub use entry::MainCmd;
pub use reexec::HANDOVER_CHECK;

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token};

use crate::engine::{Effect, Engine, EventKind, Input, Time};
use crate::output::{ReadOutcome, Stream, UnitOutput};
use crate::platform::groups::ResourceGroups;
use crate::platform::{Backend, Host, OsEvent, OutputPipe};
use crate::proc::{sig, Pid, Stop, UnitId};

const SIGNAL_TOKEN: Token = Token(0);
const LISTENER_TOKEN: Token = Token(1);
/// sup's stdout and stderr, watched for writability while units' lines wait for them.
const CONSOLE_TOKENS: [Token; 2] = [Token(2), Token(3)];
const FIRST_DYNAMIC_TOKEN: usize = 16;
/// At exit, how long lines waiting for a slow stdout/stderr may hold sup (in all).
const FINAL_DRAIN: Duration = Duration::from_secs(2);
/// Bytes read from one pipe per turn of the loop, so one chatty unit cannot starve others.
const PIPE_BUDGET: usize = 1 << 20;
/// The same while a client follows the unit's output: what one read forwards stays well
/// within a follower's bound, and the client's socket is written between reads.
const TAP_BUDGET: usize = 64 << 10;

/// How sup was asked to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub units_dir: PathBuf,
    pub socket: PathBuf,
    pub log_dir: PathBuf,
    /// Members of this group may use mutating commands; the socket becomes 0660.
    pub control_gid: Option<u32>,
    /// Entrypoint mode (`sup -- CMD`): the main command.
    pub main: Option<MainCmd>,
    /// How long leftovers get between SIGTERM and SIGKILL (`--grace`).
    pub grace: Duration,
    /// This sup is a new image taking over from the one before (`supctl reexec`): the
    /// handle of the state it left.
    pub handover: Option<u64>,
    /// Serve `GET /metrics` on this address (`--metrics-listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Test builds only: `SUP_TEST_PANIC_UNIT=NAME` makes handling an exit of that unit
/// panic, to prove that a bug in one unit's handling loses nothing else.
fn inject_fault(unit: Option<&str>, engine: &Engine, input: &Input) {
    if let (Some(name), Input::Exited { pid, .. }) = (unit, input) {
        if let Some((u, _)) = engine.pid_owner(*pid) {
            if engine.unit(u).name.as_str() == name {
                panic!("injected fault for {name}");
            }
        }
    }
}

/// Two log problems that differ only in their dropped-byte count.
fn same_problem(a: &str, b: &str) -> bool {
    let cut = |s: &str| s.rsplit_once(", ").map(|(head, _)| head.to_string());
    cut(a).is_some() && cut(a) == cut(b)
}

/// The message of a caught panic.
pub(crate) fn panic_text(cause: &(dyn std::any::Any + Send)) -> String {
    cause
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// A unit's output pipe registered with the poller.
struct Pipe<R> {
    unit: UnitId,
    stream: Stream,
    fd: R,
    /// Grown to the large capacity (done once the unit shows it is chatty).
    grown: bool,
}

pub struct Runtime<P: Backend = Host> {
    config: Config,
    poll: Poll,
    engine: Engine,
    platform: P,
    clock_base: Instant,
    wall_base: SystemTime,
    outputs: Vec<Option<UnitOutput>>,
    pipes: HashMap<Token, Pipe<P::Pipe>>,
    /// Pipes whose budget ran out with data left: read again before sleeping.
    pending_reads: Vec<Token>,
    control: Option<control::Server>,
    /// Readiness probes, health checks, notify sockets and the watchdog.
    probes: health::Probes,
    next_token: usize,
    shutting_down: bool,
    iso: isolation::Iso,
    /// Role (supervisor, PID 1, entrypoint), the main command and the shutdown sweep.
    life: init::Life,
    /// Output pipes not read because sup's stdout (0) / stderr (1) cannot take their
    /// lines now; read again when that stream is writable (then it is watched).
    console_parked: [Vec<Token>; 2],
    /// Stopping what a dead sup on the same socket left, before units start.
    recovery: Option<recover::Recovery<P::Leftovers>>,
    /// The state file beside the control socket (crash recovery).
    state_file: Option<recover::StateFile<P::State>>,
    /// Units whose log file is not taking lines, with what their status says.
    log_problems: HashMap<UnitId, String>,
    /// Debug builds: the unit whose exits panic (`SUP_TEST_PANIC_UNIT`, for tests).
    fault_unit: Option<String>,
    /// Units to forget once they have no process and no group left (removed by a
    /// reload, ended transient units dropped).
    forgetting: Vec<UnitId>,
    /// Units whose output goes somewhere new from their next start (reload).
    relog: std::collections::HashSet<UnitId>,
    /// Transient units (`supctl run`).
    transients: transient::Transients,
    /// A reexec whose new program is being checked.
    reexec: Option<reexec::Pending<P::Pipe>>,
    /// Output pipes not read because a `run --wait` client has not taken what it was
    /// sent (read again once it has: `unpark_followed`).
    follow_parked: Vec<(UnitId, Token)>,
    /// Reading a unit's last output for its `run --wait` client: not held back.
    draining: bool,
    /// A reexec whose program passed the check, to hand over at the next turn.
    reexec_ready: Option<reexec::Ready>,
    /// Units' file watches and their changes waiting for the debounce.
    watches: watch::Watches,
    /// Units' listening sockets (`sockets:`), kept across their restarts.
    sockets: sockets::Sockets,
    /// sup's own counters and the metrics endpoint.
    metrics: metrics::Metrics,
    /// Units with instances (`instances`, `scale`).
    pools: pools::Pools,
    /// Counters last read for `status`, per unit: (when, which, values).
    status_stats: std::cell::RefCell<
        HashMap<
            UnitId,
            (
                Time,
                crate::platform::groups::StatsWanted,
                crate::platform::groups::GroupStats,
            ),
        >,
    >,
}

/// Runs sup until it is told to stop; returns the process exit code.
pub fn run(config: Config) -> i32 {
    // A new image after `supctl reexec`: the state the previous one left, read before
    // anything is opened. If it cannot be had, sup starts afresh (its cgroups are then
    // cleared like any stale ones, so nothing runs twice).
    let handover = config
        .handover
        .and_then(|h| match reexec::read_handover(h) {
            Ok(h) => Some(h),
            Err(e) => {
                log::error!("reexec: the state the previous sup handed over: {e}; starting afresh");
                None
            }
        });
    let took_over = handover.is_some();
    let life = init::Life::prepare(&config);
    let machine = life.role == init::Role::Machine;
    let mut rt = match Runtime::<Host>::new(config, life, handover) {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("{e}");
            if machine {
                crate::platform::machine::reap_forever();
            }
            return 1;
        }
    };
    let mut recovering = false;
    rt.guarded("recovery", |rt| recovering = rt.begin_recovery());
    if took_over {
        // The units run on as they were; what exited during the handover is reaped.
        rt.guarded("reaping", |rt| rt.on_signal(sig::CHLD, Pid::from_raw(0)));
    } else if !recovering {
        rt.guarded("start", |rt| rt.feed(Input::StartEnabled));
    }
    // Cleanup that units need not wait for: empty cgroups of dead sups.
    rt.guarded("stale cgroups", |rt| rt.platform.remove_stale_groups());
    rt.main_loop();
    rt.finish();
    rt.end()
}

impl<P: Backend> Runtime<P> {
    fn new(
        config: Config,
        life: init::Life,
        mut handover: Option<reexec::Handover>,
    ) -> Result<Runtime<P>, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create poller: {e}"))?;
        let mut platform = P::create();
        platform
            .watch_events(poll.registry(), SIGNAL_TOKEN)
            .map_err(|e| format!("cannot set up signal handling: {e}"))?;
        let mut loaded = match &mut handover {
            Some(h) => crate::unit::LoadResult {
                slices: h.take_slices(),
                ..Default::default()
            },
            None => match crate::unit::load_dir(&config.units_dir) {
                Ok(loaded) => loaded,
                Err(e) => life.no_units(&config, e)?,
            },
        };
        for bad in &loaded.invalid {
            log_file_problems(&bad.message);
        }
        let iso = isolation::Iso::new(&mut platform, std::mem::take(&mut loaded.slices));
        let seed = u64::from(std::process::id())
            ^ SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        // Said once, by the units that need a cgroup when sup has none: nothing is
        // printed for the (usual) container whose units need none.
        for spec in &loaded.units {
            if let Some(why) = asks::with_asks(spec, |a| platform.group_missing(a)) {
                log::warn!("{}: will fail to start: {why}", spec.name);
            }
        }
        let pools = match &mut handover {
            Some(h) => h.take_pools(),
            None => {
                let (units, pools) =
                    pools::Pools::default().expand(std::mem::take(&mut loaded.units));
                loaded.units = units;
                pools
            }
        };
        let engine = match &mut handover {
            Some(h) => Engine::restore(h.take_engine(), |s| asks::unsupported(&platform, s), seed),
            None => Engine::new(
                loaded.units,
                loaded.invalid,
                |s| asks::unsupported(&platform, s),
                seed,
            ),
        };
        log::info!(
            "loaded {} units from {}",
            engine.len(),
            config.units_dir.display()
        );
        let carried = handover.as_mut().and_then(|h| h.take_listener());
        let served = match carried {
            Some(handle) => control::Server::adopt(
                handle,
                &config.socket,
                config.control_gid,
                poll.registry(),
                LISTENER_TOKEN,
            ),
            None => control::Server::bind(
                &config.socket,
                config.control_gid,
                poll.registry(),
                LISTENER_TOKEN,
            ),
        };
        let control = match served {
            Ok(server) => Some(server),
            Err(e) => life.no_socket(&config, e).map(|()| None)?,
        };
        let n = engine.slots();
        let mut rt = Runtime {
            config,
            poll,
            engine,
            platform,
            clock_base: Instant::now(),
            wall_base: SystemTime::now(),
            outputs: (0..n).map(|_| None).collect(),
            pipes: HashMap::new(),
            pending_reads: Vec::new(),
            control,
            probes: health::Probes::default(),
            next_token: FIRST_DYNAMIC_TOKEN,
            shutting_down: false,
            iso,
            life,
            log_problems: HashMap::new(),
            recovery: None,
            state_file: None,
            console_parked: [Vec::new(), Vec::new()],
            fault_unit: if cfg!(debug_assertions) {
                std::env::var("SUP_TEST_PANIC_UNIT").ok()
            } else {
                None
            },
            forgetting: Vec::new(),
            relog: std::collections::HashSet::new(),
            transients: transient::Transients::default(),
            reexec: None,
            reexec_ready: None,
            follow_parked: Vec::new(),
            draining: false,
            watches: watch::Watches::default(),
            sockets: sockets::Sockets::default(),
            metrics: metrics::Metrics::default(),
            pools,
            status_stats: Default::default(),
        };
        if let Some(addr) = rt.config.metrics_listen {
            // Fatal at a normal start; a machine's init or a sup taking over from a
            // reexec carries on without the endpoint rather than stop.
            if let Err(e) = rt.listen_metrics(addr) {
                if handover.is_some() || rt.life.role == init::Role::Machine {
                    log::error!("{e}; carrying on without the metrics endpoint");
                } else {
                    return Err(e);
                }
            }
        }
        if let Some(h) = handover {
            rt.take_over(h);
        }
        Ok(rt)
    }

    fn now(&self) -> Time {
        self.clock_base.elapsed()
    }

    /// Wall-clock time of an engine timestamp.
    fn wall(&self, t: Time) -> SystemTime {
        self.wall_base + t
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn main_loop(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let mut over = false;
            self.guarded("shutdown", |rt| over = rt.life_step());
            if over {
                return;
            }
            // Returns only if the exec failed (sup goes on as it was).
            self.guarded("reexec", |rt| rt.reexec_now());
            let timeout = if !self.pending_reads.is_empty() || self.reexec_ready.is_some() {
                Some(Duration::ZERO)
            } else {
                [
                    self.engine.next_deadline(),
                    self.probes.next_deadline(),
                    self.life.deadline(),
                    self.iso_deadline(),
                    self.recovery_deadline(),
                    self.control_deadline(),
                    self.transients.next_deadline(),
                    self.reexec_deadline(),
                    self.watch_deadline(),
                    self.metrics_deadline(),
                    self.pools_deadline(),
                ]
                .into_iter()
                .flatten()
                .min()
                .map(|at| at.saturating_sub(self.now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("poll: {e}");
                }
                continue;
            }
            self.metrics.turns += 1;
            for ev in events.iter() {
                self.guarded("an event", |rt| match ev.token() {
                    SIGNAL_TOKEN => rt.on_signals(),
                    LISTENER_TOKEN => rt.accept(),
                    watch::WATCH_TOKEN => rt.on_file_events(),
                    t if CONSOLE_TOKENS.contains(&t) => rt.on_console_writable(t),
                    t if rt.pipes.contains_key(&t) => rt.read_pipe(t),
                    t if rt.iso_owns(t) => rt.on_iso_event(t),
                    t if rt.recovery_owns(t) => rt.on_recovery_event(t),
                    t if rt.probes.source(t).is_some() => rt.on_probe_source(t),
                    t if rt.metrics_owns(t) => rt.on_metrics_event(t),
                    t => rt.on_conn_event(
                        t,
                        ev.is_readable() || ev.is_read_closed(),
                        ev.is_writable(),
                        ev.is_write_closed() || ev.is_error(),
                    ),
                });
            }
            for t in std::mem::take(&mut self.pending_reads) {
                self.guarded("output", |rt| rt.read_pipe(t));
            }
            self.run_probes();
            self.iso_tick();
            self.guarded("file watches", |rt| rt.watch_tick());
            if self.recovery_deadline().is_some_and(|at| at <= self.now()) {
                self.guarded("recovery", |rt| rt.recovery_step());
            }
            self.guarded("state file", |rt| rt.write_state());
            self.guarded("the control socket", |rt| rt.control_tick());
            self.unpark_followed();
            self.guarded("the metrics endpoint", |rt| rt.metrics_tick());
            if self
                .transients
                .next_deadline()
                .is_some_and(|at| at <= self.now())
            {
                self.guarded("a deadline", |rt| rt.transient_tick());
            }
            self.guarded("reexec", |rt| rt.reexec_tick());
            if self.pools_deadline().is_some_and(|at| at <= self.now()) {
                self.guarded("autoscaling", |rt| rt.pools_tick());
            }
            if self
                .engine
                .next_deadline()
                .is_some_and(|at| at <= self.now())
            {
                self.guarded("a timer", |rt| rt.feed(Input::Tick));
            }
        }
    }

    fn on_signals(&mut self) {
        for ev in self.platform.events() {
            let (signo, sender) = match ev {
                OsEvent::Signal { signo, sender } => (signo, sender),
                OsEvent::ChildEnded => (sig::CHLD, Pid::from_raw(0)),
            };
            self.guarded("a signal", |rt| rt.on_signal(signo, sender));
        }
    }

    fn on_signal(&mut self, sig: i32, sender: Pid) {
        if sig != sig::CHLD {
            log::debug!(
                "received {} from process {sender}",
                crate::engine::signal_name(sig)
            );
        }
        if self.role_signal(sig) {
            return;
        }
        match sig {
            sig::CHLD => {
                self.guarded("job control", |rt| rt.entry_stopped());
                for (pid, exit) in self.platform.reap() {
                    self.on_reaped(pid, exit);
                }
                self.guarded("cgroup removals", |rt| rt.retry_removals());
            }
            sig::TERM | sig::INT => {
                if self.shutting_down {
                    log::warn!("second stop signal: killing every unit now");
                    let live: Vec<(UnitId, Pid)> = self
                        .engine
                        .ids()
                        .filter_map(|i| {
                            let u = self.engine.unit(i);
                            Some((i, u.pgid.or(u.pid)?))
                        })
                        .collect();
                    for (i, pgid) in live {
                        self.kill_unit_fx(i, pgid, Stop::Kill);
                    }
                } else {
                    log::info!(
                        "received {}: stopping all units",
                        crate::engine::signal_name(sig)
                    );
                    self.shutting_down = true;
                    self.feed(Input::StopAll);
                }
            }
            sig::HUP if self.shutting_down => log::info!("SIGHUP: no reload while shutting down"),
            sig::HUP if self.recovering() => log::warn!(
                "SIGHUP: no reload while what a previous sup left is being stopped; send it again in a moment"
            ),
            sig::HUP => {
                log::info!("SIGHUP: reloading the unit directory");
                let reply = self.reload(false);
                if let Some(e) = reply.error {
                    log::error!("reload: {}", e.message);
                }
            }
            other => log::debug!("ignoring signal {}", crate::engine::signal_name(other)),
        }
    }

    /// One reaped child. Each exit is handled on its own, so a bug met while handling
    /// one cannot lose the others reaped with it; and the exit always reaches the engine
    /// unless the main command or a probe claimed it.
    fn on_reaped(&mut self, pid: Pid, exit: crate::engine::Exit) {
        let mut claimed = false;
        self.guarded("an exit", |rt| {
            claimed = rt.reexec_check_ended(pid, exit)
                || rt.entry_reaped(pid, exit)
                || rt.probe_exited(pid, exit)
        });
        if claimed {
            return;
        }
        self.guarded("an OOM check", |rt| rt.check_oom_for_pid(pid));
        self.feed(Input::Exited { pid, exit });
    }

    /// Feeds one input and carries out the effects, feeding back spawn results.
    ///
    /// Each input and each effect is handled on its own: a panic (a bug) in one of them
    /// fails only the unit it concerned (`Input::Internal`, reason `internal`) and loses
    /// nothing else: the effects produced before it are still carried out and the queued
    /// inputs still fed.
    fn feed(&mut self, input: Input) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let now = self.now();
            let internal = matches!(input, Input::Internal { .. });
            let exiting = match &input {
                Input::Exited { pid, .. } => self.engine.pid_owner(*pid).map(|(u, _)| u),
                _ => None,
            };
            let fault = self.fault_unit.as_deref();
            let effects = match catch_unwind(AssertUnwindSafe(|| {
                inject_fault(fault, &self.engine, &input);
                self.engine.handle(input, now)
            })) {
                Ok(effects) => effects,
                Err(cause) => {
                    let (unit, effects) = self.engine.after_panic();
                    if let Some(unit) = unit.or(exiting).filter(|_| !internal) {
                        queue.push_back(self.internal_error(unit, "its state", &*cause));
                    } else {
                        log::error!("internal error in the engine: {}", panic_text(&*cause));
                    }
                    effects
                }
            };
            for fx in effects {
                let unit = fx.unit();
                let done = catch_unwind(AssertUnwindSafe(|| self.carry_out(fx, &mut queue)));
                if let Err(cause) = done {
                    match unit {
                        Some(unit) => {
                            queue.push_back(self.internal_error(unit, "an action", &*cause))
                        }
                        None => log::error!("internal error: {}", panic_text(&*cause)),
                    }
                }
            }
        }
        self.check_waiters();
        self.forget_pending_units();
    }

    fn carry_out(&mut self, fx: Effect, queue: &mut VecDeque<Input>) {
        match fx {
            Effect::Spawn { unit, role } => match self.launch(unit, role) {
                Ok(pid) => queue.push_back(Input::Spawned { unit, role, pid }),
                // Out of descriptors (sup's or the system's): may pass; the restart
                // policy retries it.
                Err(message)
                    if role == crate::engine::Role::Main
                        && message.contains("Too many open files") =>
                {
                    queue.push_back(Input::SpawnShort { unit, message })
                }
                Err(message) => queue.push_back(Input::SpawnFailed {
                    unit,
                    role,
                    message,
                }),
            },
            Effect::Signal { pid, signal } => self.platform.signal(pid, Stop::from_signal(signal)),
            Effect::KillUnit { unit, pgid } => self.kill_unit_fx(unit, pgid, Stop::Kill),
            Effect::Event { unit, event } => self.publish(unit, &event),
        }
    }

    /// Logs a caught panic while handling `what` of a unit and makes the input that fails
    /// the unit for it.
    fn internal_error(
        &self,
        unit: UnitId,
        what: &str,
        cause: &(dyn std::any::Any + Send),
    ) -> Input {
        let message = format!(
            "internal error while handling {what}: {} (a bug: please report it)",
            panic_text(cause)
        );
        log::error!("{}: {message}", self.engine.unit(unit).name);
        Input::Internal { unit, message }
    }

    fn publish(&mut self, unit: UnitId, event: &EventKind) {
        self.probes_on_event(unit, event);
        let name = self.engine.unit(unit).name.to_string();
        match event {
            EventKind::State { from, to } => {
                self.iso_state_changed(unit, *from, *to);
                self.transient_state(unit);
                self.watch_state_changed(unit, *to);
                self.sockets_state_changed(unit, *to);
                let u = self.engine.unit(unit);
                let why = match (u.reason, &u.message) {
                    (Some(r), Some(m)) => format!(" ({r}: {m})"),
                    (Some(r), None) => format!(" ({r})"),
                    (None, Some(m)) if *to == crate::engine::State::Failed => format!(" ({m})"),
                    _ => String::new(),
                };
                log::info!("{name}: {from} -> {to}{why}");
            }
            EventKind::Exited { pid, exit } => {
                self.state_changed();
                log::debug!("{name}: process {pid} exited: {exit:?}")
            }
            EventKind::Spawned { pid } => {
                self.state_changed();
                log::debug!("{name}: started process {pid}")
            }
            EventKind::RestartScheduled { delay } => {
                log::info!("{name}: restarting in {}ms", delay.as_millis())
            }
            EventKind::Ready => log::info!("{name}: ready"),
        }
        let ev = status::event(self, unit, event);
        self.broadcast_event(ev);
    }

    /// Watches a child's output pipe: what it carries goes to the unit's output.
    fn watch_output(
        &mut self,
        unit: UnitId,
        stream: Stream,
        mut fd: P::Pipe,
    ) -> std::io::Result<()> {
        let token = self.token();
        self.poll
            .registry()
            .register(&mut fd, token, Interest::READABLE)?;
        self.pipes.insert(
            token,
            Pipe {
                unit,
                stream,
                fd,
                grown: false,
            },
        );
        Ok(())
    }

    /// The tokens of the unit's output pipes still open.
    fn unit_pipes(&self, unit: UnitId) -> Vec<Token> {
        self.pipes
            .iter()
            .filter(|(_, p)| p.unit == unit)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Reads one pipe (up to the budget); on EOF it is closed.
    fn read_pipe(&mut self, token: Token) {
        let Some((unit, stream)) = self.pipes.get(&token).map(|p| (p.unit, p.stream)) else {
            return;
        };
        let followed = self.wants_tap(unit);
        if followed && !self.draining && self.run_follower_full(unit) {
            if !self.follow_parked.contains(&(unit, token)) {
                self.follow_parked.push((unit, token));
            }
            return;
        }
        let budget = if followed { TAP_BUDGET } else { PIPE_BUDGET };
        let probe_tap = self.probes.wants_lines(unit);
        let mut tap = (followed || probe_tap).then(Vec::new);
        let result = match (
            self.outputs[unit.index()].as_mut(),
            self.pipes.get_mut(&token),
        ) {
            (Some(out), Some(pipe)) => out.read_from(stream, &mut pipe.fd, budget, tap.as_mut()),
            _ => Ok(ReadOutcome {
                eof: true,
                ..ReadOutcome::default()
            }),
        };
        if let Some(bytes) = tap.filter(|t| !t.is_empty()) {
            if probe_tap {
                self.probe_lines(unit, &bytes);
            }
            self.forward_log(unit, &bytes);
        }
        self.note_log_problem(unit);
        if let Ok(o) = &result {
            self.metrics.log_bytes += o.bytes as u64;
        }
        if let Ok(ReadOutcome {
            bytes, eof: false, ..
        }) = result
        {
            if bytes >= launch::GROW_AFTER {
                if let Some(pipe) = self.pipes.get_mut(&token).filter(|p| !p.grown) {
                    pipe.grown = true;
                    pipe.fd.grow();
                }
            }
        }
        match result {
            // Before EOF: a finished stream's last lines may still wait for the console.
            Ok(ReadOutcome { parked: true, .. }) => self.park_for_console(token, stream),
            Ok(ReadOutcome { eof: true, .. }) | Err(_) => {
                if let Err(e) = &result {
                    log::warn!("{}: reading output: {e}", self.engine.unit(unit).name);
                }
                if let Some(mut pipe) = self.pipes.remove(&token) {
                    let _ = self.poll.registry().deregister(&mut pipe.fd);
                }
            }
            Ok(ReadOutcome { more: true, .. }) => self.pending_reads.push(token),
            Ok(_) => {}
        }
    }

    /// A pipe whose lines wait for sup's stdout/stderr: watch that stream (edge
    /// triggered: registering a writable fd reports it at once) and read the pipe again
    /// when it can take more.
    fn park_for_console(&mut self, token: Token, stream: Stream) {
        let i = match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        };
        if self.console_parked[i].contains(&token) {
            return;
        }
        if self.console_parked[i].is_empty() {
            let r = self
                .platform
                .watch_console(self.poll.registry(), i, CONSOLE_TOKENS[i]);
            if let Err(e) = r {
                // Not pollable (cannot be full either): try again on the next turn.
                log::debug!("cannot watch {stream:?} for writing: {e}");
                self.pending_reads.push(token);
                return;
            }
        }
        self.console_parked[i].push(token);
    }

    /// sup's stdout or stderr can take lines again: read the pipes that waited for it.
    fn on_console_writable(&mut self, t: Token) {
        let i = usize::from(t == CONSOLE_TOKENS[1]);
        let parked = std::mem::take(&mut self.console_parked[i]);
        self.platform.unwatch_console(self.poll.registry(), i);
        for token in parked {
            self.guarded("output", |rt| rt.read_pipe(token));
        }
    }

    /// Publishes a change in whether the unit's log file takes lines (an event `log`
    /// with the problem, or `log: writing again`), and keeps it for its status.
    fn note_log_problem(&mut self, unit: UnitId) {
        let now = self.outputs[unit.index()]
            .as_ref()
            .and_then(|o| o.problem());
        let message = match (now, self.log_problems.get(&unit)) {
            (None, None) => return,
            (Some(p), Some(old)) if *old == p || same_problem(old, &p) => {
                self.log_problems.insert(unit, p);
                return;
            }
            (Some(p), _) => {
                log::warn!("{}: {p}", self.engine.unit(unit).name);
                self.log_problems.insert(unit, p.clone());
                p
            }
            (None, Some(_)) => {
                self.log_problems.remove(&unit);
                "log: writing again".to_string()
            }
        };
        let mut ev = status::event(self, unit, &crate::engine::EventKind::Ready);
        ev.kind = "log".into();
        ev.pid = None;
        ev.message = Some(message);
        self.broadcast_event(ev);
    }

    /// Shutdown is complete: release the socket.
    ///
    /// What units wrote and sup has not passed on yet goes out first. Lines waiting for
    /// a slow stdout/stderr get at most [`FINAL_DRAIN`] in all: the loop is over, so
    /// waiting here blocks no one, and a stalled reader cannot hold sup's exit for long.
    fn finish(&mut self) {
        let deadline = Instant::now() + FINAL_DRAIN;
        for (_, mut pipe) in std::mem::take(&mut self.pipes) {
            if let Some(out) = self.outputs[pipe.unit.index()].as_mut() {
                while let Ok(ReadOutcome { parked: true, .. }) =
                    out.read_from(pipe.stream, &mut pipe.fd, usize::MAX, None)
                {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || !out.wait_console(pipe.stream, left) {
                        break;
                    }
                }
                let _ = out.flush_partial(pipe.stream, None);
            }
        }
        self.remove_state();
        if let Some(server) = self.control.take() {
            server.close();
        }
        self.iso_finish();
        log::info!("all units stopped; exiting");
    }
}

/// Logs the problems of a rejected unit file one per record, so that each line of sup's
/// log carries the same prefix: `sup: error: FILE:LINE:COL: message`.
pub(crate) fn log_file_problems(message: &str) {
    for line in message.lines() {
        log::error!("{line}");
    }
}
