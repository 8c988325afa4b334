//! Readiness channels on Linux: a unit's sd_notify socket (a Unix datagram socket with
//! `SO_PASSCRED`, so each message carries its sender's pid) and the s6 notification pipe.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use mio::event::Source;
use mio::net::UnixDatagram;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};

use super::LinuxPlatform;
use crate::platform::notify::{Notify, NotifyError, PipeRead};
use crate::proc::Pid;

/// Longest datagram read; sd_notify messages are small.
const MAX_MESSAGE: usize = 4096;
/// `sizeof(sockaddr_un.sun_path)`: a socket path must be shorter.
const SUN_PATH: usize = 108;

/// A unit's notify socket: bound to a path (so it is reachable from a new network
/// namespace too), mode 0600 and owned by the unit's user.
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(path: &Path, owner: Option<u32>) -> Result<NotifySocket, NotifyError> {
        use std::os::unix::fs::PermissionsExt;
        let what = |source: std::io::Error| NotifyError::Socket {
            path: path.to_path_buf(),
            source,
        };
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

    /// Where the socket is bound (the unit's `NOTIFY_SOCKET`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the socket open across sup's reexec; the number to `adopt` it by after.
    pub fn carry(&self) -> std::io::Result<u64> {
        crate::platform::handover::carry_fd(self.sock.as_raw_fd())
    }

    /// Takes back a socket carried across the reexec, still bound at `path`.
    pub fn adopt(handle: u64, path: PathBuf) -> std::io::Result<NotifySocket> {
        let fd = crate::platform::handover::adopt_fd(handle)?;
        let sock = std::os::unix::net::UnixDatagram::from(fd);
        sock.set_nonblocking(true)?;
        Ok(NotifySocket {
            sock: UnixDatagram::from_std(sock),
            path,
        })
    }

    /// The next datagram and its sender's pid; `None` when nothing is left.
    pub fn recv(&self) -> Option<(Vec<u8>, Option<Pid>)> {
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
                            ControlMessageOwned::ScmCredentials(cred) => {
                                Some(Pid::from_raw(cred.pid() as u32))
                            }
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

impl Source for NotifySocket {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        self.sock.register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        self.sock.reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> std::io::Result<()> {
        self.sock.deregister(r)
    }
}

/// The read end (non-blocking) of an s6 notification pipe.
pub struct NotifyPipe {
    fd: OwnedFd,
}

impl NotifyPipe {
    /// Keeps the pipe open across sup's reexec; the number to `adopt` it by after.
    pub fn carry(&self) -> std::io::Result<u64> {
        crate::platform::handover::carry_fd(self.fd.as_raw_fd())
    }

    /// Takes back a pipe carried across the reexec.
    pub fn adopt(handle: u64) -> std::io::Result<NotifyPipe> {
        crate::platform::handover::adopt_fd(handle).map(|fd| NotifyPipe { fd })
    }

    /// Reads all that is there: whether a newline came, whether the pipe is closed.
    pub fn drain(&mut self) -> PipeRead {
        let mut buf = [0u8; 512];
        let mut seen = PipeRead::default();
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    seen.closed = true;
                    break;
                }
                Ok(n) => seen.newline |= buf[..n].contains(&b'\n'),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => {
                    seen.closed = true;
                    break;
                }
            }
        }
        seen
    }
}

impl Source for NotifyPipe {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> std::io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> std::io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(r)
    }
}

/// The write end of a notification pipe, for the child (`SpawnSpec::pass_fd`); open
/// until dropped (close-on-exec: the spawn dups it to the fd number the unit asked for).
pub struct ChildEnd(OwnedFd);

impl ChildEnd {
    /// The descriptor number, for `SpawnSpec::pass_fd` (valid while `self` lives).
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

impl AsRawFd for ChildEnd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Notify for LinuxPlatform {
    fn notify_socket(
        &mut self,
        path: &Path,
        user: Option<&str>,
    ) -> Result<NotifySocket, NotifyError> {
        if path.as_os_str().len() >= SUN_PATH {
            return Err(NotifyError::PathTooLong {
                path: path.to_path_buf(),
            });
        }
        let owner = match user {
            Some(user) => Some(
                super::users::resolve(Some(user), None)
                    .map_err(NotifyError::User)?
                    .uid,
            ),
            None => None,
        };
        NotifySocket::bind(path, owner)
    }

    fn notify_pipe(&mut self) -> Result<(NotifyPipe, ChildEnd), NotifyError> {
        let (r, w) = super::spawn::pipe().map_err(NotifyError::Pipe)?;
        super::spawn::set_nonblocking(r.as_raw_fd()).map_err(NotifyError::Pipe)?;
        Ok((NotifyPipe { fd: r }, ChildEnd(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn socket_reports_datagrams_with_the_senders_pid() {
        let dir = std::env::temp_dir().join(format!("sup-notify-test-{}", std::process::id()));
        let path = dir.join("notify").join("u");
        let mut p = LinuxPlatform::new();
        let sock = p.notify_socket(&path, None).unwrap();
        assert_eq!(sock.path(), path);
        assert!(sock.recv().is_none(), "nothing sent yet");
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1\n", &path).unwrap();
        let (bytes, pid) = sock.recv().unwrap();
        assert_eq!(bytes, b"READY=1\n");
        assert_eq!(pid, Some(Pid::from_raw(std::process::id())));
        drop(sock);
        assert!(!path.exists(), "dropping the socket removes its path");
        let long = dir.join("x".repeat(SUN_PATH));
        assert!(matches!(
            p.notify_socket(&long, None),
            Err(NotifyError::PathTooLong { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pipe_reports_newline_then_close() {
        let mut p = LinuxPlatform::new();
        let (mut r, w) = p.notify_pipe().unwrap();
        assert_eq!(r.drain(), PipeRead::default());
        let mut f = std::fs::File::from(w.0);
        f.write_all(b"ready\n").unwrap();
        assert_eq!(
            r.drain(),
            PipeRead {
                newline: true,
                closed: false
            }
        );
        drop(f);
        assert_eq!(
            r.drain(),
            PipeRead {
                newline: false,
                closed: true
            }
        );
    }
}
