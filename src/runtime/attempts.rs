//! Probe attempts: starting one (a non-blocking connection or an `exec` child), driving
//! it from loop events or the child's exit, expiring it at its deadline, and handing the
//! verdict to its owner (a readiness probe or a health check).

use std::time::Duration;

use mio::{Interest, Token};

use super::health::Source;
use super::probe::{self, Conn};
use super::Runtime;
use crate::engine::{Exit, Time};
use crate::output::Stream;
use crate::platform::Backend;
use crate::proc::{Pid, UnitId};

/// Who waits for an attempt's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    Ready(UnitId),
    Check(UnitId, usize),
}

pub(super) enum Work {
    Conn(Conn),
    /// The probe command's pid (`None` once it exited).
    Exec(Option<Pid>),
}

pub(super) struct Attempt {
    pub(super) owner: Owner,
    pub(super) deadline: Time,
    pub(super) timeout: Duration,
    pub(super) work: Work,
}

/// A probe that needs an attempt: where to connect or what to run.
#[derive(Clone, Debug)]
pub(super) enum Target {
    Tcp(String),
    Http(String),
    Exec(Vec<String>),
}

impl<P: Backend> Runtime<P> {
    pub(super) fn cancel_attempts(&mut self, unit: UnitId, which: impl Fn(Owner) -> bool) {
        let tokens: Vec<Token> = self
            .probes
            .attempts
            .iter()
            .filter(|(_, a)| {
                let u = match a.owner {
                    Owner::Ready(u) | Owner::Check(u, _) => u,
                };
                u == unit && which(a.owner)
            })
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            self.drop_attempt(t);
        }
    }

    pub(super) fn drop_attempt(&mut self, token: Token) -> Option<Owner> {
        let mut a = self.probes.attempts.remove(&token)?;
        self.probes.tokens.remove(&token);
        match &mut a.work {
            Work::Conn(c) => {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            Work::Exec(Some(pid)) => {
                self.probes.exec_pids.remove(pid);
                // Its own process group (spawn makes a new session); its exit reaches the
                // engine, which ignores unknown pids.
                self.platform.kill_unit(*pid, crate::proc::Stop::Kill);
            }
            Work::Exec(None) => {}
        }
        Some(a.owner)
    }

    pub(super) fn start_attempt(&mut self, owner: Owner, target: &Target, timeout: Duration) {
        let token = self.token();
        let work = match target {
            Target::Tcp(addr) => probe::resolve(addr)
                .and_then(|a| Conn::start(a, None).map_err(|e| format!("connect {addr}: {e}")))
                .map(Work::Conn),
            Target::Http(url) => probe::parse_url(url).and_then(|(hostport, host, path)| {
                let a = probe::resolve(&hostport)?;
                Conn::start(a, Some((&host, &path)))
                    .map_err(|e| format!("connect {hostport}: {e}"))
                    .map(Work::Conn)
            }),
            Target::Exec(argv) => {
                let unit = match owner {
                    Owner::Ready(u) | Owner::Check(u, _) => u,
                };
                self.spawn_probe(unit, argv)
                    .map(|pid| Work::Exec(Some(pid)))
            }
        };
        let mut work = match work {
            Ok(w) => w,
            Err(msg) => {
                self.on_result(owner, Err(msg));
                return;
            }
        };
        match &mut work {
            Work::Conn(c) => {
                if let Err(e) = self.poll.registry().register(
                    &mut c.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.on_result(owner, Err(format!("register: {e}")));
                    return;
                }
            }
            Work::Exec(pid) => {
                if let Some(pid) = *pid {
                    self.probes.exec_pids.insert(pid, token);
                }
            }
        }
        self.probes.tokens.insert(token, Source::Attempt);
        let deadline = self.now().saturating_add(timeout);
        self.probes.attempts.insert(
            token,
            Attempt {
                owner,
                deadline,
                timeout,
                work,
            },
        );
    }

    /// Runs an `exec` probe as the unit would run (same user, environment, directory);
    /// its output goes to the unit's log.
    pub(super) fn spawn_probe(&mut self, unit: UnitId, argv: &[String]) -> Result<Pid, String> {
        let spec = self.engine.unit(unit).spec.clone().ok_or("invalid unit")?;
        let env = super::launch::unit_env(&spec)?;
        let req = super::launch::unit_spawn_spec(&spec, argv, env);
        let child = self.platform.spawn(&req)?;
        for (fd, stream) in [
            (child.stdout, Stream::Stdout),
            (child.stderr, Stream::Stderr),
        ] {
            let Some(fd) = fd else { continue };
            if self.outputs[unit.index()].is_none() {
                continue;
            }
            if let Err(e) = self.watch_output(unit, stream, fd) {
                log::warn!("{}: probe output not captured: {e}", spec.name);
            }
        }
        Ok(child.pid)
    }

    /// An event on a token of the probes: a connection, a notify socket or an fd pipe.
    pub(super) fn on_probe_source(&mut self, token: Token) {
        match self.probes.source(token) {
            Some(Source::Attempt) => self.on_probe_event(token),
            Some(Source::Notify(u)) => self.on_notify_socket(u),
            Some(Source::Fd(u)) => self.on_notify_pipe(u),
            None => {}
        }
    }

    /// A probe connection became ready.
    pub(super) fn on_probe_event(&mut self, token: Token) {
        let result = match self.probes.attempts.get_mut(&token) {
            Some(Attempt {
                work: Work::Conn(c),
                ..
            }) => c.progress(),
            _ => None,
        };
        if let Some(r) = result {
            self.finish_attempt(token, r);
        }
    }

    /// A child exited: true if it was a probe (its result is taken here).
    pub(super) fn probe_exited(&mut self, pid: Pid, exit: Exit) -> bool {
        let Some(token) = self.probes.exec_pids.remove(&pid) else {
            return false;
        };
        if let Some(a) = self.probes.attempts.get_mut(&token) {
            a.work = Work::Exec(None);
        }
        let r = match exit {
            Exit::Code(0) => Ok(()),
            Exit::Code(c) => Err(format!("exited with code {c}")),
            other => Err(other.describe()),
        };
        self.finish_attempt(token, r);
        true
    }

    pub(super) fn finish_attempt(&mut self, token: Token, result: Result<(), String>) {
        if let Some(owner) = self.drop_attempt(token) {
            self.on_result(owner, result);
        }
    }
}
