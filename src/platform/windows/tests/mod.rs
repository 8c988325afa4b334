//! Tests of the job-object building blocks against real processes. They run under Wine
//! here (`scripts/windows-test.sh`) and assert what Wine shows; the enforcement tests
//! detect Wine and say that they skip. The processes are this test binary itself, run
//! as [`child`] with `SUP_WIN_CHILD` naming what to do.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::windows::io::{AsHandle, FromRawHandle, OwnedHandle};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::windows::NamedPipe;
use mio::{Events, Interest, Poll, Token, Waker};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_QUERY_INFORMATION, PROCESS_SYNCHRONIZE,
};

use super::*;

const WAIT: Duration = Duration::from_secs(20);
const CHILD_TEST: &str = "platform::windows::tests::child";
/// Starts the child's own output lines (libtest prints some of its own).
const MARK: &str = "@sup-child: ";

// ---- the child side -------------------------------------------------------------

/// Not a test: what the child processes of the other tests run (skipped without
/// `SUP_WIN_CHILD`). Modes: `park` (wait forever), `exit:N`, `abort`, `echo` (print
/// the arguments after `--sup-args`, the working directory and `SUP_WIN_PROBE` as
/// JSON), `spawn` (start a `park` child, print `child PID`, park; exit 3 if the start
/// fails), `alloc` (commit 256 MiB; exit 4 if refused).
#[test]
#[ignore = "a helper that the other tests run as a child process"]
fn child() {
    let Ok(mode) = std::env::var("SUP_WIN_CHILD") else {
        return;
    };
    let mut out = std::io::stdout();
    match mode.as_str() {
        "park" => park(),
        "abort" => std::process::abort(),
        "echo" => {
            let args: Vec<String> = std::env::args()
                .skip_while(|a| a != "--sup-args")
                .skip(1)
                .collect();
            let doc = serde_json::json!({
                "args": args,
                "cwd": std::env::current_dir().unwrap(),
                "probe": std::env::var("SUP_WIN_PROBE").ok(),
            });
            writeln!(out, "{MARK}{doc}").unwrap();
            out.flush().unwrap();
            std::process::exit(0);
        }
        "spawn" => {
            let started = std::process::Command::new(std::env::current_exe().unwrap())
                .args(child_args())
                .env("SUP_WIN_CHILD", "park")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            match started {
                Ok(c) => {
                    writeln!(out, "{MARK}child {}", c.id()).unwrap();
                    out.flush().unwrap();
                    park();
                }
                Err(e) => {
                    eprintln!("spawn: {e}");
                    std::process::exit(3);
                }
            }
        }
        "alloc" => {
            let mut v: Vec<u8> = Vec::new();
            if v.try_reserve_exact(256 << 20).is_err() {
                std::process::exit(4);
            }
            v.resize(256 << 20, 1);
            std::process::exit(0);
        }
        m => match m.strip_prefix("exit:").and_then(|n| n.parse::<i32>().ok()) {
            Some(code) => std::process::exit(code),
            None => panic!("unknown SUP_WIN_CHILD mode {m:?}"),
        },
    }
}

fn park() -> ! {
    loop {
        std::thread::park();
    }
}

// ---- the parent side ------------------------------------------------------------

/// The libtest arguments that run only [`child`].
fn child_args() -> Vec<OsString> {
    [
        "--exact",
        CHILD_TEST,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .iter()
    .map(OsString::from)
    .collect()
}

fn child_argv(extra: &[&str]) -> Vec<OsString> {
    let mut argv = vec![std::env::current_exe().unwrap().into_os_string()];
    argv.extend(child_args());
    if !extra.is_empty() {
        argv.push("--".into());
        argv.push("--sup-args".into());
        argv.extend(extra.iter().map(OsString::from));
    }
    argv
}

fn child_env(mode: &str) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != "SUP_WIN_PROBE")
        .collect();
    env.push(("SUP_WIN_CHILD".into(), mode.into()));
    env
}

/// Starts this binary as a child in `mode` inside `job`, its output captured (and
/// left unread unless the test reads it: libtest's own lines stay out of the report).
fn start(job: &Job, mode: &str) -> Process {
    start_with(job, mode, true)
}

fn start_with(job: &Job, mode: &str, capture: bool) -> Process {
    let argv = child_argv(&[]);
    let env = child_env(mode);
    let req = SpawnRequest {
        argv: &argv,
        env: Some(&env),
        cwd: None,
        capture,
    };
    spawn(job, &req).unwrap_or_else(|e| panic!("spawn {mode}: {e}"))
}

/// Reads `pipe` until `done` says so or the stream ends, within [`WAIT`].
fn read_until(pipe: &mut NamedPipe, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(pipe, Token(0), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(4);
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        if done(&out) {
            return out;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no more output within {WAIT:?}; got {out:?}"
        );
        poll.poll(&mut events, Some(left)).unwrap();
    }
}

/// The first line the child marked with [`MARK`], without the mark.
fn marked_line(pipe: &mut NamedPipe) -> String {
    // A complete line: the mark, then text up to a newline.
    let find = |out: &[u8]| -> Option<String> {
        let text = String::from_utf8_lossy(out);
        let rest = &text[text.find(MARK)? + MARK.len()..];
        Some(rest[..rest.find('\n')?].trim_end_matches('\r').to_string())
    };
    let out = read_until(pipe, |o| find(o).is_some());
    find(&out).unwrap_or_else(|| panic!("no marked line in {:?}", String::from_utf8_lossy(&out)))
}

/// A handle to process `pid` that can be waited on.
fn open(pid: u32) -> Process {
    // SAFETY: OpenProcess has no memory preconditions; the result is checked.
    let raw = unsafe { OpenProcess(PROCESS_SYNCHRONIZE | PROCESS_QUERY_INFORMATION, 0, pid) };
    assert!(
        !raw.is_null(),
        "open process {pid}: {}",
        std::io::Error::last_os_error()
    );
    Process {
        // SAFETY: a new handle that nothing else owns.
        handle: unsafe { OwnedHandle::from_raw_handle(raw) },
        pid,
        stdout: None,
        stderr: None,
    }
}

fn wait_exit(p: &Process) -> ExitStatus {
    p.wait_timeout(WAIT)
        .unwrap()
        .unwrap_or_else(|| panic!("process {} still runs after {WAIT:?}", p.pid()))
}

/// A poll, its waker and the job event thread.
struct Loop {
    poll: Poll,
    events: JobEvents,
    rx: Receiver<JobEvent>,
    seen: Vec<JobEvent>,
}

impl Loop {
    fn new() -> Loop {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(9)).unwrap());
        let (events, rx) = JobEvents::start(waker).unwrap();
        Loop {
            poll,
            events,
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits, woken by the waker only, until `done` holds for the events seen.
    fn wait_for(&mut self, done: impl Fn(&[JobEvent]) -> bool) -> &[JobEvent] {
        let deadline = Instant::now() + WAIT;
        let mut events = Events::with_capacity(4);
        loop {
            self.seen.extend(self.rx.try_iter());
            if done(&self.seen) {
                return &self.seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "job events so far: {:?}", self.seen);
            self.poll.poll(&mut events, Some(left)).unwrap();
        }
    }
}

fn skip_under_wine(what: &str) -> bool {
    if let Some(v) = wine_version() {
        println!("skipped under Wine {v}: {what}");
        return true;
    }
    false
}

mod args;
mod groups;
mod jobs;
mod limits;
