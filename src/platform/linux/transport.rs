//! The Linux control transport: a Unix stream socket (mode 0600, or 0660 with a control
//! group), the peer's credentials from `SO_PEERCRED`, stale-socket replacement, and the
//! client's bounded connect. See `platform::transport` for the contract.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::sys::time::TimeVal;

use crate::platform::transport::{already_serving, ConnectFailure};

/// The client's end of a connection: a blocking Unix stream socket.
pub type ClientStream = std::os::unix::net::UnixStream;

/// `--socket` default: `/run/sup/control.sock` for root, `$XDG_RUNTIME_DIR/sup/control.sock`
/// otherwise (falling back to `/tmp/sup-UID/control.sock` when `XDG_RUNTIME_DIR` is unset).
pub fn default_control_path() -> PathBuf {
    let uid = euid();
    if uid == 0 {
        return PathBuf::from("/run/sup/control.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("sup/control.sock"),
        _ => PathBuf::from(format!("/tmp/sup-{uid}/control.sock")),
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Connects a close-on-exec Unix stream socket. With a timeout, `SO_SNDTIMEO` bounds the
/// connect (Linux applies it to a Unix stream connect waiting for backlog room) and is
/// cleared again afterwards so later writes block without a limit.
pub fn connect(path: &Path, timeout: Option<Duration>) -> io::Result<ClientStream> {
    let Some(timeout) = timeout else {
        return ClientStream::connect(path);
    };
    let addr = UnixAddr::new(path).map_err(io::Error::from)?;
    let fd: OwnedFd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let limit = TimeVal::new(
        timeout.as_secs().try_into().unwrap_or(i64::MAX),
        timeout.subsec_micros().into(),
    );
    socket::setsockopt(&fd, sockopt::SendTimeout, &limit)?;
    socket::connect(fd.as_raw_fd(), &addr)?;
    socket::setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(0, 0))?;
    Ok(ClientStream::from(fd))
}

/// The class of a [`connect`] error.
pub fn connect_failure(err: &io::Error) -> ConnectFailure {
    match err.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) | Some(Errno::ENOTDIR) => ConnectFailure::Missing,
        Some(Errno::ECONNREFUSED) => ConnectFailure::Refused,
        Some(Errno::EACCES) | Some(Errno::EPERM) => ConnectFailure::PermissionDenied,
        Some(Errno::EAGAIN) | Some(Errno::ETIMEDOUT) | Some(Errno::EINPROGRESS) => {
            ConnectFailure::TimedOut
        }
        _ => ConnectFailure::Other,
    }
}

/// Whether `path` is a socket nobody accepts on (left by a sup that died).
fn stale_socket(path: &Path) -> io::Result<bool> {
    match ClientStream::connect(path) {
        Ok(_) => Err(already_serving("socket")),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// sup's listening control socket.
#[derive(Debug)]
pub struct Listener {
    inner: mio::net::UnixListener,
    path: PathBuf,
    control_gid: Option<u32>,
}

impl Listener {
    /// Binds the socket (mode 0600, or 0660 and group `control_gid`), creating its
    /// directory (0755) if missing. A stale socket at the path is replaced; a live one is
    /// `AddrInUse`; anything else there (a regular file, a directory, a link) is an error
    /// and is left as it is.
    pub fn bind(path: &Path, control_gid: Option<u32>) -> io::Result<Listener> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)?;
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if stale_socket(path)? {
                    std::fs::remove_file(path)?;
                }
            }
            Ok(meta) => {
                let what = if meta.is_dir() {
                    "a directory"
                } else if meta.file_type().is_symlink() {
                    "a symbolic link"
                } else if meta.is_file() {
                    "a regular file"
                } else {
                    "not a socket"
                };
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("the path exists and is {what}, not a socket; refusing to replace it"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Bound inside a fresh directory only sup can enter, given its mode (and group)
        // there, then moved into place: no one can connect before the mode is right, and
        // the process's umask (shared by every thread) is left alone.
        let mode = if control_gid.is_some() { 0o660 } else { 0o600 };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let staging = parent.join(format!(".{name}.{}.bind", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
        let tmp = staging.join("socket");
        let placed = mio::net::UnixListener::bind(&tmp).and_then(|inner| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
            if let Some(gid) = control_gid {
                std::os::unix::fs::chown(&tmp, None, Some(gid))?;
            }
            rename_noreplace(&tmp, path)?;
            Ok(inner)
        });
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir(&staging);
        let inner = placed?;
        Ok(Listener {
            inner,
            path: path.to_path_buf(),
            control_gid,
        })
    }

    /// The next waiting client and whether it may mutate; `WouldBlock` when none waits.
    pub fn accept(&mut self) -> io::Result<(Connection, bool)> {
        let (stream, _) = self.inner.accept()?;
        let may_mutate = peer_may_mutate(&stream, self.control_gid);
        Ok((Connection(stream), may_mutate))
    }

    /// Keeps the listening socket open across sup's reexec; the number to `adopt` it by.
    pub fn carry(&self) -> io::Result<u64> {
        crate::platform::handover::carry_fd(self.inner.as_raw_fd())
    }

    /// Takes back a listener carried across the reexec (still bound at `path`).
    pub fn adopt(handle: u64, path: &Path, control_gid: Option<u32>) -> io::Result<Listener> {
        let fd = crate::platform::handover::adopt_fd(handle)?;
        let std = std::os::unix::net::UnixListener::from(fd);
        std.set_nonblocking(true)?;
        Ok(Listener {
            inner: mio::net::UnixListener::from_std(std),
            path: path.to_path_buf(),
            control_gid,
        })
    }

    /// Removes the socket file, if it is still a socket (not replaced by something else).
    pub fn close(self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_socket());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.inner.register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.inner.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.inner.deregister(r)
    }
}

/// May this peer mutate? Root, sup's own user, and members of the control group.
fn peer_may_mutate(stream: &mio::net::UnixStream, control_gid: Option<u32>) -> bool {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid out-pointers of the sizes getsockopt expects for
    // SO_PEERCRED on a connected Unix socket we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return false;
    }
    if cred.uid == 0 || cred.uid == euid() {
        return true;
    }
    let Some(gid) = control_gid else { return false };
    if cred.gid == gid {
        return true;
    }
    // Supplementary groups of the peer process.
    std::fs::read_to_string(format!("/proc/{}/status", cred.pid))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Groups:"))
                .map(|l| l[7..].split_whitespace().any(|g| g.parse() == Ok(gid)))
        })
        .unwrap_or(false)
}

/// One accepted connection: a non-blocking Unix stream socket.
#[derive(Debug)]
pub struct Connection(mio::net::UnixStream);

impl Connection {
    /// Keeps the connection open across sup's reexec; the number to `adopt` it by.
    pub fn carry(&self) -> io::Result<u64> {
        crate::platform::handover::carry_fd(self.0.as_raw_fd())
    }

    /// Takes back a connection carried across the reexec.
    pub fn adopt(handle: u64) -> io::Result<Connection> {
        let fd = crate::platform::handover::adopt_fd(handle)?;
        let std = std::os::unix::net::UnixStream::from(fd);
        std.set_nonblocking(true)?;
        Ok(Connection(mio::net::UnixStream::from_std(std)))
    }

    /// Two connected ends, for tests of what runs over a connection.
    #[cfg(test)]
    pub fn pair() -> io::Result<(Connection, Connection)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((Connection(a), Connection(b)))
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Source for Connection {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.0.register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.0.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.0.deregister(r)
    }
}

/// Hands freed heap memory back to the system (glibc keeps it otherwise).
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of malloc's own arenas; sup is
    // single-threaded, so no allocation runs concurrently.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Moves `from` to `to` unless something is at `to` by then (`AddrInUse`: another sup
/// bound the path meanwhile).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths for the call; AT_FDCWD resolves them
    // as given.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EEXIST) {
        return Err(already_serving("socket"));
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sup-transport-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_dead_socket_is_refused_then_replaced() {
        let dir = temp_dir("stale");
        let path = dir.join("s.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let err = connect(&path, Some(Duration::from_secs(1))).unwrap_err();
        assert_eq!(connect_failure(&err), ConnectFailure::Refused, "{err}");
        let err = connect(&dir.join("none"), None).unwrap_err();
        assert_eq!(connect_failure(&err), ConnectFailure::Missing, "{err}");
        // sup replaces the stale socket; a second sup is refused while it serves.
        let mut listener = Listener::bind(&path, None).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let err = Listener::bind(&path, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // The second sup's probe was a connection, closed at once.
        let (mut probe, _) = listener.accept().unwrap();
        assert_eq!(probe.read(&mut [0u8; 1]).unwrap(), 0);
        let mut client = connect(&path, Some(Duration::from_secs(1))).unwrap();
        let (mut conn, may_mutate) = listener.accept().unwrap();
        assert!(may_mutate, "the same user may mutate");
        client.write_all(b"ping\n").unwrap();
        let mut buf = [0u8; 5];
        // The client's write is complete: the bytes wait in the socket.
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping\n");
        listener.close();
        assert!(!path.exists());
        // Anything but a socket is left alone.
        std::fs::write(&path, b"x").unwrap();
        let err = Listener::bind(&path, None).unwrap_err();
        assert!(err.to_string().contains("a regular file"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
