//! The Windows control transport: the named pipe `\\.\pipe\sup` (or the `--socket`
//! value), served through `mio::windows::NamedPipe` instances, with the peer's right to
//! mutate taken from its process token. See `platform::transport` for the contract.
//!
//! - The listener creates the first instance with `FILE_FLAG_FIRST_PIPE_INSTANCE` after
//!   a client open found nobody serving the name (Wine ignores the flag), so a second
//!   sup on the same name is refused (`AddrInUse`); each connected instance is
//!   handed over and the next one created at once, so one always waits for a client.
//!   A pipe disappears with its last handle: a dead sup leaves nothing stale behind.
//! - Remote clients are rejected (`PIPE_REJECT_REMOTE_CLIENTS`). The pipe keeps the
//!   default security descriptor: full control for LocalSystem, administrators and the
//!   creator owner, read-only opening for everyone else, so, as with Linux's 0600
//!   socket, other users cannot send requests at all. A `--control-group` is refused.
//! - The peer may mutate when its token's user is sup's own, or its token is a member of
//!   BUILTIN\Administrators (an elevated administrator; a filtered UAC token is not).
//!   The token is read from the client process (`GetNamedPipeClientProcessId`), at
//!   accept time: a client that exits before sup accepts it and whose pid is reused at
//!   once would be judged by the new process. A process sup may not open (another
//!   user's, when sup is not an administrator) is read-only. Under Wine every process
//!   runs as the same user, so every local client may mutate there.
//! - The client opens the pipe blocking (`CreateFileW`, identification-level
//!   impersonation only), waiting with `WaitNamedPipeW` while every instance is busy.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::windows::NamedPipe;
use mio::{Interest, Registry, Token};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_BAD_PATHNAME, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND,
    ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::{
    CheckTokenMembership, CreateWellKnownSid, DuplicateToken, EqualSid, GetTokenInformation,
    SecurityIdentification, TokenUser, WinBuiltinAdministratorsSid, SECURITY_MAX_SID_SIZE,
    TOKEN_DUPLICATE, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_DUPLEX, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, GetNamedPipeClientProcessId, WaitNamedPipeW, NMPWAIT_WAIT_FOREVER,
    PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES,
    PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::{cvt, wide};
use crate::platform::transport::{already_serving, ConnectFailure};

/// The client's end of a connection: the pipe opened blocking.
pub type ClientStream = File;

/// Size of each direction's pipe buffer.
const BUFFER: u32 = 64 * 1024;

/// `--socket` default: the named pipe `\\.\pipe\sup`.
pub fn default_control_path() -> PathBuf {
    PathBuf::from(r"\\.\pipe\sup")
}

/// The pipe's full name as a NUL-terminated wide string: a path that does not start with
/// `\\` is a name under `\\.\pipe\`.
fn pipe_name(path: &Path) -> io::Result<Vec<u16>> {
    let s = path.as_os_str();
    if s.to_string_lossy().starts_with(r"\\") {
        return wide(s, "the pipe name");
    }
    let mut full = OsString::from(r"\\.\pipe\");
    full.push(s);
    wide(&full, "the pipe name")
}

/// Opens the pipe. While every instance is busy, waits for one within `timeout`
/// (without one: as long as it takes).
pub fn connect(path: &Path, timeout: Option<Duration>) -> io::Result<ClientStream> {
    let name = pipe_name(path)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let err = match open_client(&name) {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        if err.raw_os_error() != Some(ERROR_PIPE_BUSY as i32) {
            return Err(err);
        }
        let wait_ms = match deadline {
            None => NMPWAIT_WAIT_FOREVER,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::from_raw_os_error(ERROR_SEM_TIMEOUT as i32));
                }
                // At least 1 ms: 0 would mean the pipe's default time-out.
                left.as_millis().clamp(1, u128::from(u32::MAX - 1)) as u32
            }
        };
        // SAFETY: `name` is a NUL-terminated wide string.
        cvt(unsafe { WaitNamedPipeW(name.as_ptr(), wait_ms) })?;
    }
}

/// Opens the pipe `name` (NUL-terminated) as a client, once.
fn open_client(name: &[u16]) -> io::Result<ClientStream> {
    // SAFETY: `name` is a NUL-terminated wide string; no security attributes or
    // template; the returned handle is checked before use.
    let h = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            0,
            std::ptr::null(),
            OPEN_EXISTING,
            SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `h` is a fresh handle that nothing else owns.
    Ok(unsafe { File::from_raw_handle(h as RawHandle) })
}

/// The class of a [`connect`] error.
pub fn connect_failure(err: &io::Error) -> ConnectFailure {
    let Some(code) = err.raw_os_error() else {
        return ConnectFailure::Other;
    };
    match code as u32 {
        ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND | ERROR_BAD_PATHNAME => ConnectFailure::Missing,
        ERROR_ACCESS_DENIED => ConnectFailure::PermissionDenied,
        ERROR_PIPE_BUSY | ERROR_SEM_TIMEOUT => ConnectFailure::TimedOut,
        _ => ConnectFailure::Other,
    }
}

/// An error of opening or creating a pipe that says someone serves it already
/// (every instance busy, or one of another user's).
fn is_in_use(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32)
        || e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
}

/// Creates one server instance of the pipe (overlapped, for mio).
fn create_instance(name: &[u16], first: bool) -> io::Result<NamedPipe> {
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    // SAFETY: `name` is a NUL-terminated wide string; default security attributes; the
    // returned handle is checked before use.
    let h = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            open_mode,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            BUFFER,
            BUFFER,
            0,
            std::ptr::null(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `h` is a fresh overlapped pipe handle that nothing else owns.
    Ok(unsafe { NamedPipe::from_raw_handle(h as RawHandle) })
}

/// sup's listening pipe: the instance waiting for the next client.
#[derive(Debug)]
pub struct Listener {
    name: Vec<u16>,
    /// The instance a client connects to next (none only after creating it failed).
    pending: Option<NamedPipe>,
    /// Where events go: the next instance is registered there too.
    registration: Option<(Registry, Token)>,
    /// sup's own token user.
    own: TokenUserBuf,
}

impl Listener {
    /// Not available on Windows (no reexec).
    pub fn carry(&self) -> io::Result<u64> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Not available on Windows (no reexec).
    pub fn adopt(_handle: u64, _path: &Path, _gid: Option<u32>) -> io::Result<Listener> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Creates the pipe's first instance; a sup already serving the name is `AddrInUse`.
    pub fn bind(path: &Path, control_gid: Option<u32>) -> io::Result<Listener> {
        if control_gid.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "--control-group names a Unix group; on Windows only sup's own user and \
                 administrators may use mutating commands",
            ));
        }
        let name = pipe_name(path)?;
        // SAFETY: the pseudo-handle of this process needs no closing.
        let own = token_user(unsafe { GetCurrentProcess() })?;
        // Wine creates a further instance despite FILE_FLAG_FIRST_PIPE_INSTANCE: a
        // client open tells there (and only a race of two starting sups gets past it,
        // which the flag catches on Windows). The serving sup sees a connection that
        // ends at once.
        match open_client(&name) {
            Ok(_) => return Err(already_serving("pipe")),
            Err(e) if is_in_use(&e) => return Err(already_serving("pipe")),
            Err(_) => {}
        }
        let pending = match create_instance(&name, true) {
            Ok(p) => p,
            Err(e) if is_in_use(&e) => return Err(already_serving("pipe")),
            Err(e) => return Err(e),
        };
        Ok(Listener {
            name,
            pending: Some(pending),
            registration: None,
            own,
        })
    }

    /// The next connected client and whether it may mutate; `WouldBlock` when none is.
    pub fn accept(&mut self) -> io::Result<(Connection, bool)> {
        let Some(pending) = self.pending.as_ref() else {
            self.renew()?;
            return Err(io::ErrorKind::WouldBlock.into());
        };
        if let Some(e) = pending.take_error()? {
            // The connect failed: this instance is of no use, the next one waits.
            log::debug!("control pipe: a connect failed: {e}");
            self.pending = None;
            self.renew()?;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // Ok once a client is connected (also one that has left already: it reads
        // as end of stream); WouldBlock while the connect is in flight.
        pending.connect()?;
        let pipe = self.pending.take().expect("checked above");
        let may_mutate = peer_may_mutate(&pipe, &self.own);
        if let Err(e) = self.renew() {
            log::warn!("control pipe: cannot create the next instance: {e}");
        }
        Ok((
            Connection {
                pipe,
                listening: true,
            },
            may_mutate,
        ))
    }

    /// Creates, registers and starts connecting the next instance.
    fn renew(&mut self) -> io::Result<()> {
        let mut next = create_instance(&self.name, false)?;
        if let Some((registry, token)) = &self.registration {
            next.register(registry, *token, Interest::READABLE | Interest::WRITABLE)?;
            connect_pending(&next)?;
        }
        self.pending = Some(next);
        Ok(())
    }

    /// Nothing to remove: the pipe goes with its last handle.
    pub fn close(self) {}
}

/// Starts connecting a registered instance: its event says a client came.
fn connect_pending(pipe: &NamedPipe) -> io::Result<()> {
    match pipe.connect() {
        // Connected already: mio flags the pipe writable, which calls accept.
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, _: Interest) -> io::Result<()> {
        self.registration = Some((r.try_clone()?, t));
        match self.pending.as_mut() {
            Some(p) => {
                p.register(r, t, Interest::READABLE | Interest::WRITABLE)?;
                connect_pending(p)
            }
            None => self.renew(),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, _: Interest) -> io::Result<()> {
        self.registration = Some((r.try_clone()?, t));
        match self.pending.as_mut() {
            Some(p) => p.reregister(r, t, Interest::READABLE | Interest::WRITABLE),
            None => Ok(()),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.registration = None;
        match self.pending.as_mut() {
            Some(p) => p.deregister(r),
            None => Ok(()),
        }
    }
}

/// One accepted connection: a connected pipe instance.
#[derive(Debug)]
pub struct Connection {
    pipe: NamedPipe,
    /// Still registered under the listener's token (registering moves it).
    listening: bool,
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.pipe.read(buf)
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pipe.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.pipe.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.pipe.flush()
    }
}

impl Source for Connection {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        if std::mem::take(&mut self.listening) {
            self.pipe.reregister(r, t, i)
        } else {
            self.pipe.register(r, t, i)
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.pipe.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.listening = false;
        self.pipe.deregister(r)
    }
}

/// A `TOKEN_USER` as `GetTokenInformation` fills it (the SID follows in the buffer,
/// which is 8-byte aligned and never moves).
#[derive(Debug)]
struct TokenUserBuf(Vec<u64>);

impl TokenUserBuf {
    fn sid(&self) -> *mut core::ffi::c_void {
        // SAFETY: the buffer holds a TOKEN_USER written by GetTokenInformation, aligned
        // for it; its SID pointer points into the same buffer.
        unsafe { (*(self.0.as_ptr() as *const TOKEN_USER)).User.Sid }
    }
}

/// The token opened from `process` (for query and duplication).
fn open_token(process: HANDLE) -> io::Result<OwnedHandle> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a valid process handle; `token` is a valid out-pointer.
    cvt(unsafe { OpenProcessToken(process, TOKEN_QUERY | TOKEN_DUPLICATE, &mut token) })?;
    // SAFETY: a fresh token handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(token as RawHandle) })
}

/// The user of `process`'s token.
fn token_user(process: HANDLE) -> io::Result<TokenUserBuf> {
    token_user_of(&open_token(process)?)
}

fn token_user_of(token: &OwnedHandle) -> io::Result<TokenUserBuf> {
    let mut buf = TokenUserBuf(vec![0u64; 16]);
    loop {
        let bytes = (buf.0.len() * 8) as u32;
        let mut needed = 0u32;
        // SAFETY: `buf` is writable for `bytes` bytes and 8-byte aligned; `needed` is a
        // valid out-pointer.
        let ok = unsafe {
            GetTokenInformation(
                token.as_raw_handle() as HANDLE,
                TokenUser,
                buf.0.as_mut_ptr().cast(),
                bytes,
                &mut needed,
            )
        };
        if ok != 0 {
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if needed <= bytes {
            return Err(err);
        }
        buf.0 = vec![0u64; needed.div_ceil(8) as usize];
    }
}

/// Whether the client of a connected pipe may mutate: its process token's user is sup's
/// own, or the token is an (elevated) administrator's. Anything unknown is read-only.
fn peer_may_mutate(pipe: &NamedPipe, own: &TokenUserBuf) -> bool {
    let mut pid = 0u32;
    // SAFETY: the pipe handle is valid while `pipe` lives; `pid` is a valid out-pointer.
    if unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle() as HANDLE, &mut pid) } == 0 {
        return false;
    }
    // SAFETY: plain arguments; the handle is checked before use.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return false;
    }
    // SAFETY: a fresh process handle that nothing else owns.
    let process = unsafe { OwnedHandle::from_raw_handle(process as RawHandle) };
    let Ok(token) = open_token(process.as_raw_handle() as HANDLE) else {
        return false;
    };
    if let Ok(user) = token_user_of(&token) {
        // SAFETY: both SIDs are valid, inside their live buffers.
        if unsafe { EqualSid(user.sid(), own.sid()) } != 0 {
            return true;
        }
    }
    is_admin(&token)
}

/// Whether `token` is a member of BUILTIN\Administrators (deny-only membership, as in
/// a filtered UAC token, does not count).
fn is_admin(token: &OwnedHandle) -> bool {
    let mut imp: HANDLE = std::ptr::null_mut();
    // SAFETY: `token` was opened with TOKEN_DUPLICATE; `imp` is a valid out-pointer.
    if unsafe {
        DuplicateToken(
            token.as_raw_handle() as HANDLE,
            SecurityIdentification,
            &mut imp,
        )
    } == 0
    {
        return false;
    }
    // SAFETY: a fresh token handle that nothing else owns.
    let imp = unsafe { OwnedHandle::from_raw_handle(imp as RawHandle) };
    let mut sid = [0u64; (SECURITY_MAX_SID_SIZE as usize).div_ceil(8)];
    let mut size = SECURITY_MAX_SID_SIZE;
    // SAFETY: `sid` is writable for `size` bytes and aligned; no domain SID is needed
    // for a builtin group.
    if unsafe {
        CreateWellKnownSid(
            WinBuiltinAdministratorsSid,
            std::ptr::null_mut(),
            sid.as_mut_ptr().cast(),
            &mut size,
        )
    } == 0
    {
        return false;
    }
    let mut member = 0;
    // SAFETY: `imp` is an impersonation token with TOKEN_QUERY; `sid` holds a valid SID;
    // `member` is a valid out-pointer.
    let ok = unsafe {
        CheckTokenMembership(
            imp.as_raw_handle() as HANDLE,
            sid.as_mut_ptr().cast(),
            &mut member,
        )
    };
    ok != 0 && member != 0
}

#[cfg(test)]
#[path = "tests/pipe.rs"]
mod tests;

impl Connection {
    /// Not available on Windows (no reexec).
    pub fn carry(&self) -> io::Result<u64> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Not available on Windows (no reexec).
    pub fn adopt(_handle: u64) -> io::Result<Connection> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}
