//! Readiness reported by the unit itself: the sd_notify datagram protocol and the s6
//! notification fd (a newline on fd N).
//!
//! Each unit that needs one gets its own notify socket, `DIR/notify/NAME` next to the
//! control socket, so messages need no demultiplexing and any process of the unit (a
//! shell's `systemd-notify` child too) may send. The socket is mode 0600, owned by the
//! unit's user: only that user and root can send. `MAINPID=` must name a process in the
//! unit's process group (checked through `/proc`); the sender's pid (`SO_PASSCRED`) is
//! logged.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use mio::net::UnixDatagram;
use mio::unix::SourceFd;
use mio::Interest;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};

use super::health::Source;
use super::probe::pgid_of;
use super::Runtime;
use crate::engine::{Input, State};
use crate::platform::Env;
use crate::unit::{Ready, UnitSpec};

/// Longest datagram read; sd_notify messages are small.
const MAX_MESSAGE: usize = 4096;

/// One parsed sd_notify datagram (newline-separated `KEY=VALUE` assignments).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub status: Option<String>,
    pub mainpid: Option<u32>,
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
            ("MAINPID", pid) => m.mainpid = pid.trim().parse().ok().filter(|&p| p > 1),
            ("WATCHDOG", "1") => m.watchdog = true,
            ("WATCHDOG", "trigger") => m.watchdog_trigger = true,
            _ => {}
        }
    }
    m
}

/// A unit's notify socket: bound to a path (so it is reachable from a new network
/// namespace too), mode 0600 and owned by `owner` (the unit's user).
pub struct NotifySocket {
    pub sock: UnixDatagram,
    pub path: PathBuf,
}

impl NotifySocket {
    pub fn bind(path: &Path, owner: Option<u32>) -> Result<NotifySocket, String> {
        use std::os::unix::fs::PermissionsExt;
        let what = |e: std::io::Error| format!("notify socket {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(what)?;
        }
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path).map_err(what)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(what)?;
        if let Some(uid) = owner {
            std::os::unix::fs::chown(path, Some(uid), None).map_err(what)?;
        }
        setsockopt(&sock.as_fd(), sockopt::PassCred, &true)
            .map_err(|e| what(std::io::Error::from(e)))?;
        Ok(NotifySocket {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// The next datagram and its sender's pid; `None` when nothing is left.
    fn recv(&self) -> Option<(Vec<u8>, Option<u32>)> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let len = msg.bytes;
                    let pid = msg.cmsgs().ok().and_then(|mut c| {
                        c.find_map(|m| match m {
                            ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid() as u32),
                            _ => None,
                        })
                    });
                    buf.truncate(len);
                    return Some((buf, pid));
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Runtime {
    /// The unit's notify socket path, creating the socket on first use.
    pub(super) fn notify_socket(&mut self, unit: usize) -> Result<PathBuf, String> {
        if let Some(s) = &self.probes.unit(unit).notify {
            return Ok(s.path.clone());
        }
        let dir = self
            .config
            .socket
            .parent()
            .unwrap_or(Path::new("/"))
            .join("notify");
        let path = dir.join(self.engine.unit(unit).name.as_str());
        if path.as_os_str().len() >= 108 {
            return Err(format!(
                "notify socket path {} is too long for a Unix socket",
                path.display()
            ));
        }
        let spec = self.engine.unit(unit).spec.as_ref();
        let owner = match spec.and_then(|s| s.user.as_deref()) {
            Some(user) => Some(crate::platform::linux::users::resolve(Some(user), None)?.uid),
            None => None,
        };
        let mut ns = NotifySocket::bind(&path, owner)?;
        let token = self.token();
        self.poll
            .registry()
            .register(&mut ns.sock, token, Interest::READABLE)
            .map_err(|e| format!("notify socket: {e}"))?;
        self.probes.tokens.insert(token, Source::Notify(unit));
        self.probes.unit_mut(unit).notify = Some(ns);
        Ok(path)
    }

    /// Prepares what the unit's main process needs to report readiness: sets
    /// `NOTIFY_SOCKET` (and `WATCHDOG_USEC`) in `env`, or returns the write end of a
    /// notification pipe and the fd number it must have in the child.
    pub(super) fn readiness_setup(
        &mut self,
        unit: usize,
        spec: &UnitSpec,
        env: &mut Env,
    ) -> Result<Option<(OwnedFd, i32)>, String> {
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
    pub(super) fn notify_pipe(&mut self, unit: usize) -> Result<OwnedFd, String> {
        self.close_notify_pipe(unit);
        let (r, w) = crate::platform::linux::spawn::pipe().map_err(|e| format!("pipe: {e}"))?;
        crate::platform::linux::spawn::set_nonblocking(r.as_raw_fd())
            .map_err(|e| format!("pipe: {e}"))?;
        let token = self.token();
        self.poll
            .registry()
            .register(&mut SourceFd(&r.as_raw_fd()), token, Interest::READABLE)
            .map_err(|e| format!("pipe: {e}"))?;
        self.probes.tokens.insert(token, Source::Fd(unit));
        self.probes.unit_mut(unit).fd_pipe = Some((token, r));
        Ok(w)
    }

    pub(super) fn close_notify_pipe(&mut self, unit: usize) {
        if let Some((token, fd)) = self.probes.unit_mut(unit).fd_pipe.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
            self.probes.tokens.remove(&token);
        }
    }

    /// Data on an s6 notification pipe: a newline means ready; EOF ends the watch.
    pub(super) fn on_notify_pipe(&mut self, unit: usize) {
        let Some((_, fd)) = &self.probes.unit(unit).fd_pipe else {
            return;
        };
        let mut buf = [0u8; 512];
        let (mut newline, mut closed) = (false, false);
        loop {
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => newline |= buf[..n].contains(&b'\n'),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if newline || closed {
            self.close_notify_pipe(unit);
        }
        if newline && self.engine.unit(unit).state == State::Starting {
            self.feed(Input::Ready(unit));
        }
    }

    /// Datagrams on a unit's notify socket.
    pub(super) fn on_notify_socket(&mut self, unit: usize) {
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
                sender.unwrap_or(0),
                String::from_utf8_lossy(&bytes)
            );
            self.apply_notify(unit, &name, parse(&bytes));
        }
    }

    fn apply_notify(&mut self, unit: usize, name: &str, m: Message) {
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
            if pgid_of(pid).is_some() && pgid_of(pid) == self.engine.unit(unit).pgid {
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
        assert_eq!(m.mainpid, Some(42));
        let m = parse(b"STOPPING=1\nRELOADING=1\nREADY=0\nWATCHDOG=trigger\nMAINPID=x");
        assert!(m.stopping && m.reloading && !m.ready && m.watchdog_trigger);
        assert_eq!(m.mainpid, None);
        assert_eq!(parse(b"garbage"), Message::default());
    }
}
