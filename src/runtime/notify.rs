//! Readiness reported by the unit itself: the sd_notify datagram protocol and the s6
//! notification fd (a newline on fd N).
//!
//! Each unit that needs one gets its own notify socket, `DIR/notify/NAME` next to the
//! control socket, so messages need no demultiplexing and any process of the unit (a
//! shell's `systemd-notify` child too) may send. The socket is mode 0600, owned by the
//! unit's user: only that user and root can send. `MAINPID=` must name a process in the
//! unit's process group (as the platform tells it); the sender's pid, when the platform
//! reports it (`SO_PASSCRED` on Linux), is logged. The channels themselves are the
//! platform's (`platform::notify`); platforms without them refuse such units.

use std::path::{Path, PathBuf};

use mio::Interest;

use super::health::Source;
use super::Runtime;
use crate::engine::{Input, State};
use crate::platform::notify::ChildEnd;
use crate::platform::Backend;
use crate::platform::Env;
use crate::proc::{Pid, UnitId};
use crate::unit::{Ready, UnitSpec};

/// One parsed sd_notify datagram (newline-separated `KEY=VALUE` assignments).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub status: Option<String>,
    pub mainpid: Option<Pid>,
    pub watchdog: bool,
    /// `WATCHDOG=trigger`: the unit asks to be treated as failed now.
    pub watchdog_trigger: bool,
}

pub fn parse(bytes: &[u8]) -> Message {
    let mut m = Message::default();
    for line in String::from_utf8_lossy(bytes).split('\n') {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match (key, value) {
            ("READY", "1") => m.ready = true,
            ("STOPPING", "1") => m.stopping = true,
            ("RELOADING", "1") => m.reloading = true,
            ("STATUS", text) => m.status = Some(text.to_string()),
            ("MAINPID", pid) => {
                m.mainpid = pid
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&p| p > 1)
                    .map(Pid::from_raw)
            }
            ("WATCHDOG", "1") => m.watchdog = true,
            ("WATCHDOG", "trigger") => m.watchdog_trigger = true,
            _ => {}
        }
    }
    m
}

impl<P: Backend> Runtime<P> {
    /// The unit's notify socket path, creating the socket on first use.
    pub(super) fn notify_socket(&mut self, unit: UnitId) -> Result<PathBuf, String> {
        if let Some(s) = &self.probes.unit(unit).notify {
            return Ok(s.path().to_path_buf());
        }
        let dir = self
            .config
            .socket
            .parent()
            .unwrap_or(Path::new("/"))
            .join("notify");
        let path = dir.join(self.engine.unit(unit).name.as_str());
        let user = self
            .engine
            .unit(unit)
            .spec
            .as_ref()
            .and_then(|s| s.user.clone());
        let mut ns = self
            .platform
            .notify_socket(&path, user.as_deref())
            .map_err(|e| e.to_string())?;
        let token = self.token();
        self.poll
            .registry()
            .register(&mut ns, token, Interest::READABLE)
            .map_err(|e| format!("notify socket: {e}"))?;
        self.probes.tokens.insert(token, Source::Notify(unit));
        self.probes.unit_mut(unit).notify = Some(ns);
        Ok(path)
    }

    /// Prepares what the unit's main process needs to report readiness: sets
    /// `NOTIFY_SOCKET` (and `WATCHDOG_USEC`) in `env`, or returns the write end of a
    /// notification pipe and the fd number it must have in the child (to drop once the
    /// child is started).
    pub(super) fn readiness_setup(
        &mut self,
        unit: UnitId,
        spec: &UnitSpec,
        env: &mut Env,
    ) -> Result<Option<(ChildEnd, i32)>, String> {
        if spec.ready == Ready::Notify || spec.watchdog.is_some() {
            let path = self.notify_socket(unit)?;
            env.set("NOTIFY_SOCKET", path);
            if let Some(wd) = spec.watchdog {
                env.set("WATCHDOG_USEC", wd.as_micros().to_string());
            }
        }
        match spec.ready {
            Ready::Fd(n) => Ok(Some((self.notify_pipe(unit)?, n))),
            _ => Ok(None),
        }
    }

    /// A new s6 notification pipe for the unit's next run; returns the write end for
    /// the child (the read end is watched by the loop).
    pub(super) fn notify_pipe(&mut self, unit: UnitId) -> Result<ChildEnd, String> {
        self.close_notify_pipe(unit);
        let (mut r, w) = self.platform.notify_pipe().map_err(|e| e.to_string())?;
        let token = self.token();
        self.poll
            .registry()
            .register(&mut r, token, Interest::READABLE)
            .map_err(|e| format!("pipe: {e}"))?;
        self.probes.tokens.insert(token, Source::Fd(unit));
        self.probes.unit_mut(unit).fd_pipe = Some((token, r));
        Ok(w)
    }

    pub(super) fn close_notify_pipe(&mut self, unit: UnitId) {
        if let Some((token, mut pipe)) = self.probes.unit_mut(unit).fd_pipe.take() {
            let _ = self.poll.registry().deregister(&mut pipe);
            self.probes.tokens.remove(&token);
        }
    }

    /// Data on an s6 notification pipe: a newline means ready; EOF ends the watch.
    pub(super) fn on_notify_pipe(&mut self, unit: UnitId) {
        let Some((_, pipe)) = &mut self.probes.unit_mut(unit).fd_pipe else {
            return;
        };
        let seen = pipe.drain();
        let (newline, closed) = (seen.newline, seen.closed);
        if newline || closed {
            self.close_notify_pipe(unit);
        }
        if newline && self.engine.unit(unit).state == State::Starting {
            self.feed(Input::Ready(unit));
        }
    }

    /// Datagrams on a unit's notify socket.
    pub(super) fn on_notify_socket(&mut self, unit: UnitId) {
        loop {
            let Some(sock) = &self.probes.unit(unit).notify else {
                return;
            };
            let Some((bytes, sender)) = sock.recv() else {
                return;
            };
            let name = self.engine.unit(unit).name.to_string();
            log::debug!(
                "{name}: notify from pid {}: {:?}",
                sender.unwrap_or(Pid::from_raw(0)),
                String::from_utf8_lossy(&bytes)
            );
            self.apply_notify(unit, &name, parse(&bytes));
        }
    }

    fn apply_notify(&mut self, unit: UnitId, name: &str, m: Message) {
        if let Some(text) = m.status {
            log::debug!("{name}: status: {text}");
            self.probes.unit_mut(unit).status_text = Some(text);
        }
        if m.stopping {
            log::info!("{name}: notified STOPPING=1");
        }
        if m.reloading {
            log::info!("{name}: notified RELOADING=1");
        }
        if let Some(pid) = m.mainpid {
            let group = self.platform.group_of(pid);
            if group.is_some() && group == self.engine.unit(unit).pgid {
                log::info!("{name}: main process is now {pid} (MAINPID)");
                self.feed(Input::MainPid { unit, pid });
            } else {
                log::warn!("{name}: ignoring MAINPID={pid}: not a process of the unit");
            }
        }
        if m.watchdog {
            self.watchdog_ping(unit);
        }
        if m.watchdog_trigger {
            self.watchdog_fire(unit, "watchdog: the unit sent WATCHDOG=trigger".into());
        }
        let u = self.engine.unit(unit);
        let wants_notify = u.spec.as_ref().is_some_and(|s| s.ready == Ready::Notify);
        if m.ready && wants_notify && u.state == State::Starting {
            self.feed(Input::Ready(unit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_assignments() {
        let m = parse(b"READY=1\nSTATUS=Listening on :80\nMAINPID=42\nWATCHDOG=1\n");
        assert!(m.ready && m.watchdog && !m.stopping);
        assert_eq!(m.status.as_deref(), Some("Listening on :80"));
        assert_eq!(m.mainpid, Some(Pid::from_raw(42)));
        let m = parse(b"STOPPING=1\nRELOADING=1\nREADY=0\nWATCHDOG=trigger\nMAINPID=x");
        assert!(m.stopping && m.reloading && !m.ready && m.watchdog_trigger);
        assert_eq!(m.mainpid, None);
        assert_eq!(parse(b"garbage"), Message::default());
    }
}
