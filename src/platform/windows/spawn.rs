//! Starting a process inside a unit's job: created suspended in a new process group,
//! assigned to the job, then resumed, so it runs no instruction outside the job and
//! everything it starts is in the job too. A failed step ends the suspended process.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_INSUFFICIENT_BUFFER, HANDLE};
use windows_sys::Win32::System::Console::{STD_ERROR_HANDLE, STD_OUTPUT_HANDLE};
use windows_sys::Win32::System::Threading::{
    CreateProcessW, DeleteProcThreadAttributeList, InitializeProcThreadAttributeList, ResumeThread,
    TerminateProcess, UpdateProcThreadAttribute, CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED,
    CREATE_UNICODE_ENVIRONMENT, EXTENDED_STARTUPINFO_PRESENT, LPPROC_THREAD_ATTRIBUTE_LIST,
    PROCESS_INFORMATION, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, STARTF_USESTDHANDLES, STARTUPINFOEXW,
};

use super::cmdline::command_line;
use super::{cvt, stdio, wide, Job, Process};

/// What to start.
#[derive(Clone, Copy, Debug)]
pub struct SpawnRequest<'a> {
    /// Program and arguments. A program without `\` or `/` is looked up in the `PATH`
    /// of the new environment (sup's when `env` is `None`), with `.exe` added when it
    /// has no extension; a relative path is taken from `cwd`.
    pub argv: &'a [OsString],
    /// The complete environment, or `None` for sup's.
    pub env: Option<&'a [(OsString, OsString)]>,
    /// Working directory, or `None` for sup's.
    pub cwd: Option<&'a Path>,
    /// stdout/stderr through pipes ([`Process::stdout`]) rather than sup's own.
    pub capture: bool,
}

/// Which step of starting a process failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct SpawnError {
    pub step: String,
    #[source]
    pub source: io::Error,
}

fn step<T>(r: io::Result<T>, step: impl FnOnce() -> String) -> Result<T, SpawnError> {
    r.map_err(|source| SpawnError {
        step: step(),
        source,
    })
}

/// Starts `req` in `job` (see the module doc).
pub fn spawn(job: &Job, req: &SpawnRequest<'_>) -> Result<Process, SpawnError> {
    let program = req.argv.first().ok_or_else(|| SpawnError {
        step: "command line".into(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the command is empty"),
    })?;
    let path = step(find_program(program, req.env, req.cwd), || {
        format!("find program {program:?}")
    })?;
    let app = step(wide(path.as_os_str(), "program"), || "program path".into())?;
    let mut line = step(
        command_line(req.argv).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e)),
        || "command line".into(),
    )?;
    line.push(0);
    let env = match req.env {
        Some(env) => Some(step(env_block(env), || "environment".into())?),
        None => None,
    };
    let cwd = match req.cwd {
        Some(dir) => Some(step(wide(dir.as_os_str(), "directory"), || {
            format!("working directory {dir:?}")
        })?),
        None => None,
    };

    let stdin = step(stdio::null(false), || "open NUL for stdin".into())?;
    let (out_read, out_write, err_read, err_write) = if req.capture {
        let (or, ow) = step(stdio::output_pipe(), || "create the stdout pipe".into())?;
        let (er, ew) = step(stdio::output_pipe(), || "create the stderr pipe".into())?;
        (Some(or), ow, Some(er), ew)
    } else {
        let ow = step(stdio::inherit(STD_OUTPUT_HANDLE), || {
            "pass sup's stdout".into()
        })?;
        let ew = step(stdio::inherit(STD_ERROR_HANDLE), || {
            "pass sup's stderr".into()
        })?;
        (None, ow, None, ew)
    };
    let handles = [
        stdin.as_raw_handle(),
        out_write.as_raw_handle(),
        err_write.as_raw_handle(),
    ];
    let mut attrs = step(AttributeList::with_handles(&handles), || {
        "set the inherited handle list".into()
    })?;

    let mut si = STARTUPINFOEXW::default();
    si.StartupInfo.cb = size_of::<STARTUPINFOEXW>() as u32;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = handles[0];
    si.StartupInfo.hStdOutput = handles[1];
    si.StartupInfo.hStdError = handles[2];
    si.lpAttributeList = attrs.as_mut_ptr();
    let flags = CREATE_SUSPENDED
        | CREATE_NEW_PROCESS_GROUP
        | CREATE_UNICODE_ENVIRONMENT
        | EXTENDED_STARTUPINFO_PRESENT;
    let mut pi = PROCESS_INFORMATION::default();
    // SAFETY: `app`, `cwd` and the environment block are NUL-terminated (the block
    // doubly) and live across the call; `line` is a writable NUL-terminated buffer, as
    // CreateProcessW requires; `si` is a STARTUPINFOEXW whose attribute list and the
    // handles it names outlive the call; `pi` is a writable PROCESS_INFORMATION.
    let created = cvt(unsafe {
        CreateProcessW(
            app.as_ptr(),
            line.as_mut_ptr(),
            ptr::null(),
            ptr::null(),
            1,
            flags,
            env.as_ref().map_or(ptr::null(), |e| e.as_ptr().cast()),
            cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            &si.StartupInfo,
            &mut pi,
        )
    });
    step(created, || format!("start {}", path.display()))?;
    // SAFETY: CreateProcessW succeeded: both handles are new and owned by nobody else.
    let (process, thread) = unsafe {
        (
            OwnedHandle::from_raw_handle(pi.hProcess),
            OwnedHandle::from_raw_handle(pi.hThread),
        )
    };
    // The child holds its own copies now: closing ours makes its exit the pipes' end.
    drop((stdin, out_write, err_write, attrs));

    let kill = |what: &str, source: io::Error| {
        // SAFETY: `process` is open; ending a suspended process of ours is allowed.
        unsafe { TerminateProcess(process.as_raw_handle(), 1) };
        SpawnError {
            step: what.to_string(),
            source,
        }
    };
    if let Err(e) = job.assign(process.as_handle()) {
        return Err(kill("assign the process to the unit's job", e));
    }
    // SAFETY: `thread` is the open handle of the suspended main thread.
    if unsafe { ResumeThread(thread.as_raw_handle()) } == u32::MAX {
        return Err(kill("resume the process", io::Error::last_os_error()));
    }
    Ok(Process {
        handle: process,
        pid: pi.dwProcessId,
        stdout: out_read,
        stderr: err_read,
    })
}

/// A PROC_THREAD_ATTRIBUTE_LIST holding one attribute: the handles to inherit.
struct AttributeList {
    buf: Vec<usize>,
    /// Read by the system through the list until the list is deleted.
    _handles: Box<[HANDLE]>,
}

impl AttributeList {
    fn with_handles(handles: &[HANDLE]) -> io::Result<AttributeList> {
        let mut size = 0usize;
        // SAFETY: a null list with a size pointer only asks for the size; failing with
        // ERROR_INSUFFICIENT_BUFFER is the expected answer.
        let ok = unsafe { InitializeProcThreadAttributeList(ptr::null_mut(), 1, 0, &mut size) };
        if ok == 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) {
                return Err(e);
            }
        }
        let mut buf = vec![0usize; size.div_ceil(size_of::<usize>()).max(1)];
        // SAFETY: `buf` is writable for at least `size` bytes and pointer-aligned.
        cvt(unsafe {
            InitializeProcThreadAttributeList(buf.as_mut_ptr().cast(), 1, 0, &mut size)
        })?;
        let mut list = AttributeList {
            buf,
            _handles: handles.into(),
        };
        // SAFETY: the list was initialised for one attribute; the handle array lives in
        // `list._handles` (a heap allocation that does not move) as long as the list.
        cvt(unsafe {
            UpdateProcThreadAttribute(
                list.as_mut_ptr(),
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                list._handles.as_ptr().cast(),
                size_of_val(&*list._handles),
                ptr::null_mut(),
                ptr::null(),
            )
        })?;
        Ok(list)
    }

    fn as_mut_ptr(&mut self) -> LPPROC_THREAD_ATTRIBUTE_LIST {
        self.buf.as_mut_ptr().cast()
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        // SAFETY: the list was initialised in `with_handles` and is deleted only here.
        unsafe { DeleteProcThreadAttributeList(self.as_mut_ptr()) };
    }
}

/// The `PATH` of `env` (names compare case-insensitively), or sup's.
fn path_var(env: Option<&[(OsString, OsString)]>) -> Option<OsString> {
    match env {
        Some(env) => env
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
            .map(|(_, v)| v.clone()),
        None => std::env::var_os("PATH"),
    }
}

/// Where `program` is (see [`SpawnRequest::argv`]).
fn find_program(
    program: &OsStr,
    env: Option<&[(OsString, OsString)]>,
    cwd: Option<&Path>,
) -> io::Result<PathBuf> {
    let with_exe = |p: PathBuf| -> Option<PathBuf> {
        if p.is_file() {
            return Some(p);
        }
        if p.extension().is_none() {
            let exe = p.with_extension("exe");
            if exe.is_file() {
                return Some(exe);
            }
        }
        None
    };
    let has_dir = program
        .encode_wide()
        .any(|c| c == u16::from(b'\\') || c == u16::from(b'/'));
    if has_dir {
        let p = Path::new(program);
        let p = match cwd {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        };
        return with_exe(p.clone()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", p.display()),
            )
        });
    }
    let path = path_var(env).unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .find_map(|dir| with_exe(dir.join(program)))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found in PATH"))
}

/// A CREATE_UNICODE_ENVIRONMENT block: `NAME=VALUE\0` sorted by name (case-insensitive,
/// as Windows expects), a later duplicate (in any case) replacing an earlier one, then
/// a final `\0`.
pub(super) fn env_block(env: &[(OsString, OsString)]) -> io::Result<Vec<u16>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let mut vars: Vec<(Vec<u16>, Vec<u16>, Vec<u16>)> = Vec::with_capacity(env.len());
    for (k, v) in env {
        let name: Vec<u16> = k.encode_wide().collect();
        let value: Vec<u16> = v.encode_wide().collect();
        // A leading `=` is allowed: Windows keeps per-drive directories as `=C:=C:\x`.
        let eq = u16::from(b'=');
        if name.is_empty() || name.contains(&0) || name.iter().skip(1).any(|&c| c == eq) {
            return Err(invalid(format!("invalid variable name {k:?}")));
        }
        if value.contains(&0) {
            return Err(invalid(format!(
                "the value of {k:?} contains a NUL character"
            )));
        }
        let upper: Vec<u16> = k.to_string_lossy().to_uppercase().encode_utf16().collect();
        match vars.iter_mut().find(|(u, _, _)| *u == upper) {
            Some(slot) => *slot = (upper, name, value),
            None => vars.push((upper, name, value)),
        }
    }
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut block = Vec::new();
    for (_, name, value) in vars {
        block.extend_from_slice(&name);
        block.push(u16::from(b'='));
        block.extend_from_slice(&value);
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}
