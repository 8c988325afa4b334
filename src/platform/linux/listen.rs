//! Listening sockets for units (see `platform::listen` for the contract).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, UnixAddr,
};

use crate::platform::listen::ListenAddr;

/// A listening socket sup holds for a unit.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    /// A Unix socket's path and the file bound there (device, inode), removed on drop
    /// if it is still that file.
    unix: Option<(PathBuf, u64, u64)>,
}

fn err(what: &str, e: impl Into<io::Error>) -> String {
    let e: io::Error = e.into();
    let text = e.to_string();
    format!(
        "{what}: {}",
        text.split(" (os error").next().unwrap_or(&text)
    )
}

/// The kernel's backlog for `n` (clamped to what nix accepts; the kernel clamps further
/// to `net.core.somaxconn`).
fn backlog(n: u32) -> Backlog {
    let n = i32::try_from(n)
        .unwrap_or(i32::MAX)
        .min(Backlog::MAXCONN.into());
    Backlog::new(n).unwrap_or(Backlog::MAXCONN)
}

/// Whether `path` is a socket nobody listens on.
fn stale(path: &Path) -> bool {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::ConnectionRefused,
    }
}

impl Listener {
    pub fn open(addr: &ListenAddr, n: u32) -> Result<Listener, String> {
        let flags = SockFlag::SOCK_CLOEXEC;
        let (fd, unix) = match addr {
            ListenAddr::Tcp(sa) => {
                let family = match sa {
                    SocketAddr::V4(_) => AddressFamily::Inet,
                    SocketAddr::V6(_) => AddressFamily::Inet6,
                };
                let fd = socket::socket(family, SockType::Stream, flags, None)
                    .map_err(|e| err("socket", e))?;
                socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
                    .map_err(|e| err("SO_REUSEADDR", e))?;
                let bound = match sa {
                    SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(*a)),
                    SocketAddr::V6(a) => {
                        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)
                            .map_err(|e| err("IPV6_V6ONLY", e))?;
                        socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(*a))
                    }
                };
                bound.map_err(|e| err("bind", e))?;
                (fd, None)
            }
            ListenAddr::Unix(path) => {
                let fd = socket::socket(AddressFamily::Unix, SockType::Stream, flags, None)
                    .map_err(|e| err("socket", e))?;
                let ua = UnixAddr::new(path.as_path()).map_err(|e| err("address", e))?;
                match std::fs::symlink_metadata(path) {
                    Ok(m) if m.file_type().is_socket() && stale(path) => {
                        std::fs::remove_file(path).map_err(|e| err("removing a stale socket", e))?
                    }
                    Ok(m) if m.file_type().is_socket() => {
                        return Err("bind: Address already in use (a live socket is there)".into())
                    }
                    Ok(_) => return Err("bind: the path exists and is not a socket".into()),
                    Err(_) => {}
                }
                socket::bind(fd.as_raw_fd(), &ua).map_err(|e| err("bind", e))?;
                let m = std::fs::symlink_metadata(path).map_err(|e| err("stat", e))?;
                let unix = Some((path.clone(), m.dev(), m.ino()));
                // Anyone who may reach the directory may connect.
                let mode = std::fs::Permissions::from_mode(0o666);
                if let Err(e) = std::fs::set_permissions(path, mode) {
                    let _ = std::fs::remove_file(path);
                    return Err(err("chmod", e));
                }
                (fd, unix)
            }
        };
        let l = Listener { fd, unix };
        socket::listen(&l.fd, backlog(n)).map_err(|e| err("listen", e))?;
        Ok(l)
    }

    /// Listens again with another backlog (the kernel takes the new one in place).
    pub fn set_backlog(&self, n: u32) -> Result<(), String> {
        socket::listen(&self.fd, backlog(n)).map_err(|e| err("listen", e))
    }

    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Keeps the socket open across a reexec.
    pub fn carry(&self) -> io::Result<u64> {
        crate::platform::handover::carry_fd(self.raw())
    }

    /// Takes back a socket carried across a reexec, listening on `addr`.
    pub fn adopt(handle: u64, addr: &ListenAddr) -> io::Result<Listener> {
        let fd = crate::platform::handover::adopt_fd(handle)?;
        let unix = match addr {
            ListenAddr::Unix(p) => {
                let m = std::fs::symlink_metadata(p)?;
                Some((p.clone(), m.dev(), m.ino()))
            }
            ListenAddr::Tcp(_) => None,
        };
        Ok(Listener { fd, unix })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.unix {
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if m.dev() == *dev && m.ino() == *ino {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}
