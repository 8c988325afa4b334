//! Integration test harness: a `Sup` fixture running the real `sup` binary in a private
//! temp dir, with helpers to drive the real `supctl` and to wait (bounded) on unit state.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use sup::ctl::client::Client;
use sup::ctl::proto::{Request, StreamItem};

pub const SUP: &str = env!("CARGO_BIN_EXE_sup");
pub const SUPCTL: &str = env!("CARGO_BIN_EXE_supctl");

/// Default bound for waits on unit state.
pub const WAIT: Duration = Duration::from_secs(10);
/// Bound for one supctl invocation (start/stop block until the outcome).
pub const SUPCTL_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variable set on sup (and so inherited by its units) to find leftovers.
const STRAY_MARKER: &str = "SUP_TEST_DIR";
/// Pause between polls of a bounded wait.
const POLL: Duration = Duration::from_millis(25);

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Returns from the calling test, with a printed reason, unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("skipped: this test needs root (CI runs as root)");
            return;
        }
    };
}

/// A unique, empty directory under the system temp dir.
pub fn unique_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Short: the socket path inside must fit in sun_path (108 bytes).
        let dir =
            std::env::temp_dir().join(format!("sup-{tag}-{}-{n}-{:x}", std::process::id(), nanos));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
                return dir;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(mut cond: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// What a finished command left: exit code (-1 when killed by a signal), stdout, stderr.
pub type Output = (i32, String, String);

/// Runs a command to completion, killing it and panicking after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let mut status = None;
    let finished = wait_until(
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
        timeout,
    );
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{desc} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
            out.join().unwrap(),
            err.join().unwrap()
        );
    }
    let code = status.unwrap().code().unwrap_or(-1);
    (code, out.join().unwrap(), err.join().unwrap())
}

/// Runs the real supctl with `args` against `socket`.
pub fn supctl_at(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(SUPCTL);
    cmd.env_remove("SUP_SOCKET").env_remove("SUP_UNITS");
    cmd.arg("--socket").arg(socket).args(args);
    run_bounded(cmd, SUPCTL_TIMEOUT)
}

/// A running `sup` with its own unit, log and socket paths in a temp dir.
pub struct Sup {
    pub dir: PathBuf,
    pub units: PathBuf,
    pub logs: PathBuf,
    pub socket: PathBuf,
    pub stderr_path: PathBuf,
    child: Option<Child>,
    /// The sup program to launch (the built one unless a test sets another).
    pub program: PathBuf,
}

impl Sup {
    /// Writes `units` (`(name, yaml)`) and starts sup on them.
    pub fn start(tag: &str, units: &[(&str, &str)]) -> Sup {
        let mut sup = Sup::prepare(tag);
        for (name, yaml) in units {
            sup.write_unit(name, yaml);
        }
        sup.launch();
        sup
    }

    /// Creates the directories without starting sup (write units, then `launch`).
    pub fn prepare(tag: &str) -> Sup {
        let dir = unique_dir(tag);
        let units = dir.join("units");
        let logs = dir.join("logs");
        fs::create_dir(&units).unwrap();
        fs::create_dir(&logs).unwrap();
        Sup {
            socket: dir.join("ctl.sock"),
            stderr_path: dir.join("sup.stderr"),
            units,
            logs,
            dir,
            child: None,
            program: PathBuf::from(SUP),
        }
    }

    /// A path inside the test dir (for marker files written by units).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Same as `path`, as a `&str`-friendly `String` for unit YAML.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Writes `units/NAME.yaml`.
    pub fn write_unit(&self, name: &str, yaml: &str) {
        fs::write(self.units.join(format!("{name}.yaml")), yaml).unwrap();
    }

    /// Starts sup and waits (bounded) until its control socket accepts connections.
    pub fn launch(&mut self) {
        self.launch_with_env(&[]);
    }

    /// `launch` with `vars` added to sup's environment (and so to its units').
    pub fn launch_with_env(&mut self, vars: &[(&OsStr, &OsStr)]) {
        assert!(self.child.is_none(), "sup already launched");
        let stderr = fs::File::create(&self.stderr_path).unwrap();
        let stdout = stderr.try_clone().unwrap();
        let child = Command::new(&self.program)
            .arg("--units")
            .arg(&self.units)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--log-dir")
            .arg(&self.logs)
            .arg("--log-level")
            .arg("debug")
            .env_remove("SUP_UNITS")
            .env_remove("SUP_SOCKET")
            .env_remove("SUP_LOG_DIR")
            .env_remove("SUP_LOG")
            // Inherited by every unit: lets `kill_strays` find them if sup dies.
            .env(STRAY_MARKER, &self.dir)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
        let mut exited = None;
        let up = wait_until(
            || {
                exited = self.child.as_mut().unwrap().try_wait().unwrap();
                exited.is_some() || UnixStream::connect(&self.socket).is_ok()
            },
            WAIT,
        );
        if let Some(status) = exited {
            panic!(
                "sup exited during startup ({status})\n{}",
                self.stderr_log()
            );
        }
        assert!(up, "sup's socket did not come up within {WAIT:?}");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("sup not running").id()
    }

    /// sup's stderr and stdout so far.
    pub fn stderr_log(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs `supctl --socket SOCKET ARGS...`: (exit code, stdout, stderr).
    pub fn supctl(&self, args: &[&str]) -> Output {
        supctl_at(&self.socket, args)
    }

    /// `supctl --json status UNIT` → the unit's status object, or why it could not be had.
    pub fn try_status(&self, unit: &str) -> Result<Value, String> {
        let (code, out, err) = self.supctl(&["--json", "status", unit]);
        // 1: the unit is failed or invalid (its status is printed all the same).
        if code != 0 && code != 1 {
            return Err(format!("supctl status {unit} exited {code}: {err}"));
        }
        let doc: Value =
            serde_json::from_str(&out).map_err(|e| format!("bad status JSON ({e}): {out}"))?;
        doc["units"]
            .as_array()
            .and_then(|u| u.iter().find(|s| s["name"] == unit))
            .cloned()
            .ok_or_else(|| format!("{unit} missing from status: {out}"))
    }

    /// The status object of `unit`; panics if supctl fails.
    pub fn status(&self, unit: &str) -> Value {
        self.try_status(unit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `{"units": [...]}` for all units.
    pub fn status_all(&self) -> Value {
        let (code, out, err) = self.supctl(&["--json", "status"]);
        assert_eq!(code, 0, "supctl status failed: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Polls the status of `unit` until `pred` holds; panics with the last status after
    /// `timeout`.
    pub fn wait_for(&self, unit: &str, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let mut last = Err(String::from("never polled"));
        let ok = wait_until(
            || {
                last = self.try_status(unit);
                matches!(&last, Ok(s) if pred(s))
            },
            timeout,
        );
        match last {
            Ok(s) if ok => s,
            last => panic!("{unit}: condition not met within {timeout:?}; last status: {last:?}"),
        }
    }

    /// Waits until `unit` is in `state`.
    pub fn wait_state(&self, unit: &str, state: &str) -> Value {
        self.wait_for(unit, |s| s["state"] == state, WAIT)
    }

    /// Subscribes to the event stream (the subscription is live when this returns).
    pub fn events(&self) -> Events {
        let mut client = Client::connect(&self.socket, Some(WAIT)).expect("connect for events");
        let resp = client
            .call(&Request::new("events"))
            .expect("events request");
        assert!(resp.reply.ok, "events refused: {}", resp.json);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(Some(msg)) = client.read_item() {
                if let StreamItem::Event(_) = msg.item {
                    if tx.send(msg.json["event"].clone()).is_err() {
                        break;
                    }
                }
            }
        });
        Events {
            rx,
            seen: Vec::new(),
        }
    }

    /// Kills sup with SIGKILL (its units keep running) and waits for it; `launch`
    /// may then start a new sup on the same paths. The old log is kept as `sup.stderr.N`.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("sup not running");
        let _ = child.kill();
        let _ = child.wait();
        for n in 1.. {
            let kept = self.dir.join(format!("sup.stderr.{n}"));
            if !kept.exists() {
                let _ = fs::rename(&self.stderr_path, kept);
                break;
            }
        }
    }

    /// Sends SIGTERM to sup and waits (bounded) for it to exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("sup not running");
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let mut status = None;
        if wait_until(
            || {
                status = child.try_wait().unwrap();
                status.is_some()
            },
            timeout,
        ) {
            return status.unwrap();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "sup did not exit within {timeout:?} of SIGTERM\n{}",
            self.stderr_log()
        );
    }

    /// Kills processes that carry this test's marker in their environment or mention its
    /// dir on their command line (units left behind if sup died); best effort.
    fn kill_strays(&self) {
        let dir = self.dir.display().to_string();
        let marker = format!("{STRAY_MARKER}={dir}\0");
        let needle = format!("{dir}/");
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == std::process::id() {
                continue;
            }
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            let environ = fs::read(e.path().join("environ")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle)
                || String::from_utf8_lossy(&environ).contains(&marker)
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let exited = wait_until(
                || !matches!(child.try_wait(), Ok(None)),
                Duration::from_secs(15),
            );
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.kill_strays();
        if std::thread::panicking() {
            eprintln!(
                "---- sup output ({}) ----\n{}\n---- end of sup output ----",
                self.stderr_path.display(),
                self.stderr_log()
            );
        }
        if std::env::var_os("SUP_TEST_KEEP").is_some() {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A live `events` subscription; events are collected in the background.
pub struct Events {
    rx: Receiver<Value>,
    seen: Vec<Value>,
}

impl Events {
    /// Everything received so far, oldest first.
    pub fn seen(&mut self) -> &[Value] {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    /// Waits until `pred` holds on the events so far; panics with them after `timeout`.
    pub fn wait_until(&mut self, pred: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(self.seen()) {
                return self.seen.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "event condition not met within {timeout:?}; events:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            if let Ok(e) = self.rx.recv_timeout(left) {
                self.seen.push(e);
            }
        }
    }
}

/// `state` events of `unit`, in order.
pub fn state_events<'a>(events: &'a [Value], unit: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["unit"] == unit && e["kind"] == "state")
        .collect()
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-05-01T10:00:00.25+02:00`).
pub fn rfc3339_secs(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = format!("0.{}", &t[start..i]).parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let secs = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset) as f64 + frac)
}

/// Whether `line` starts with an RFC 3339 timestamp.
pub fn has_rfc3339_prefix(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    let word = word.trim_start_matches('[').trim_end_matches(']');
    rfc3339_secs(word).is_some()
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => proc_state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// The state letter of a `/proc/PID/stat` line.
pub fn proc_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The ppid of a `/proc/PID/stat` line.
pub fn proc_ppid(stat: &str) -> Option<i32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Pids of zombie children of `parent`.
pub fn zombie_children(parent: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(e.path().join("stat")) {
            if proc_state(&stat) == Some('Z') && proc_ppid(&stat) == Some(parent as i32) {
                found.push(pid);
            }
        }
    }
    found
}

/// The `NAME=VALUE` entries of a copy of `/proc/PID/environ` (NUL-separated bytes).
pub fn environ_entries(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The values of `name` among `entries` (`NAME=VALUE` bytes), in order, non-ASCII bytes
/// written `\xNN` (so that `b"v\xfe"` is seen as `"v\\xfe"`).
pub fn environ_values(entries: &[Vec<u8>], name: &[u8]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| e.strip_prefix(name)?.strip_prefix(b"="))
        .map(|v| v.escape_ascii().to_string())
        .collect()
}

/// `entries` one per line, non-ASCII bytes written `\xNN` (for failure messages).
pub fn environ_text(entries: &[Vec<u8>]) -> String {
    entries
        .iter()
        .map(|e| e.escape_ascii().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads whitespace-separated pids from a file written by a unit.
pub fn read_pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn rfc3339_parsing() {
    assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(rfc3339_secs("1970-01-01T01:00:01.5+01:00"), Some(1.5));
    assert_eq!(rfc3339_secs("2000-03-01T00:00:00Z"), Some(951_868_800.0));
    assert!(rfc3339_secs("yesterday").is_none());
    assert_eq!(proc_state("12 (a) b) Z 1 2"), Some('Z'));
    assert_eq!(proc_ppid("12 (a) b) Z 1 2"), Some(1));
}

/// A port nobody listens on now on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request to a line server: sends `hello\n`, returns the answer line (trimmed), or
/// why there was none.
pub fn ask(stream: impl std::io::Read + std::io::Write) -> Result<String, String> {
    use std::io::BufRead;
    let mut stream = stream;
    stream.write_all(b"hello\n").map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.ends_with('\n') {
        Ok(line.trim().to_string())
    } else {
        Err(format!("no answer (got {line:?})"))
    }
}

/// [`ask`] over TCP (connect and answer bounded).
pub fn ask_tcp(addr: std::net::SocketAddr) -> Result<String, String> {
    let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    ask(s)
}
