//! Entrypoint mode (`sup -- CMD`) as tini and dumb-init users rely on it: exit codes,
//! signal forwarding, leftovers, silence on stdout, terminals; and sup as PID 1 of a pid
//! namespace (`unshare --pid --fork --mount-proc`, root only).

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A temp dir with a socket path and (empty unless written) unit dir for one test.
struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        Env {
            dir: unique_dir(tag),
        }
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn unit(&self, name: &str, yaml: &str) {
        let units = self.dir.join("units");
        fs::create_dir_all(&units).unwrap();
        fs::write(units.join(format!("{name}.yaml")), yaml).unwrap();
    }

    /// `sup --units DIR/units --socket DIR/ctl.sock ARGS -- CMD...`
    fn sup(&self, args: &[&str], cmd: &[&str]) -> Command {
        let mut c = Command::new(SUP);
        self.configure(&mut c, args, cmd);
        c
    }

    fn configure(&self, c: &mut Command, args: &[&str], cmd: &[&str]) {
        c.env_remove("SUP_UNITS")
            .env_remove("SUP_SOCKET")
            .env_remove("SUP_LOG")
            .env("SUP_LOG_DIR", self.dir.join("logs"))
            .arg("--units")
            .arg(self.dir.join("units"))
            .arg("--socket")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .arg("--")
            .args(cmd);
    }

    /// Starts sup in the background, stdout and stderr to files.
    fn spawn(&self, cmd: Command) -> Child {
        let mut cmd = cmd;
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(self.dir.join("stdout")).unwrap())
            .stderr(fs::File::create(self.dir.join("stderr")).unwrap())
            .spawn()
            .unwrap()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    fn wait_file(&self, name: &str) -> String {
        let path = self.dir.join(name);
        assert!(
            wait_until(|| path.exists(), WAIT),
            "{} did not appear; sup said:\n{}",
            path.display(),
            self.stderr()
        );
        // Give the writer a moment to finish the line it is writing.
        wait_until(
            || fs::read_to_string(&path).is_ok_and(|s| s.ends_with('\n')),
            WAIT,
        );
        fs::read_to_string(path).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) for a child to exit; its exit code (-1 if killed).
fn wait_exit(child: &mut Child, timeout: Duration) -> i32 {
    let mut status = None;
    if !wait_until(
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
        timeout,
    ) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("sup did not exit within {timeout:?}");
    }
    status.unwrap().code().unwrap_or(-1)
}

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).unwrap();
}

#[test]
fn exit_codes() {
    let env = Env::new("ep-codes");
    for (cmd, want) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
    ] {
        let (code, out, err) = run_bounded(env.sup(&[], &["sh", "-c", cmd]), WAIT);
        assert_eq!(code, want, "{cmd}: stderr: {err}");
        assert_eq!(out, "", "{cmd}: sup printed on stdout");
    }
}

#[test]
fn not_found_and_not_executable() {
    let env = Env::new("ep-exec");
    let (code, out, err) = run_bounded(env.sup(&[], &["no-such-command-sup-test"]), WAIT);
    assert_eq!(code, 127, "stderr: {err}");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.contains("no-such-command-sup-test"), "{err}");

    let (code, _, err) = run_bounded(env.sup(&[], &["/no/such/path"]), WAIT);
    assert_eq!(code, 127, "stderr: {err}");

    let plain = env.dir.join("plain.txt");
    fs::write(&plain, "just text\n").unwrap();
    let (code, out, err) = run_bounded(env.sup(&[], &[plain.to_str().unwrap()]), WAIT);
    assert_eq!(code, 126, "stderr: {err}");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    let (code, _, err) = run_bounded(env.sup(&[], &[env.dir.to_str().unwrap()]), WAIT);
    assert_eq!(code, 126, "a directory: stderr: {err}");
}

// CMD gets its arguments and sup's environment byte for byte: an argument, and a variable
// whose name and value, that are not UTF-8; nothing is added or changed, and only the
// variables that describe sup itself may be left out. A program name that is not UTF-8
// and not found gets 127 and one line on stderr.
#[test]
fn arguments_and_environment_pass_byte_for_byte() {
    let env = Env::new("ep-bytes");
    let (environ, arg) = (env.p("environ"), env.p("arg"));
    let script = format!("cat /proc/$$/environ > {environ}; printf '%s' \"$1\" > {arg}");
    let b = OsStr::from_bytes;
    let (name, value) = (b(b"SUP_T\xff"), b(b"v\xfe\x80"));
    let mut cmd = env.sup(&[], &["sh", "-c", &script, "sh"]);
    cmd.arg(b(b"a\xff\xfe b")).env(name, value);
    // What sup was given: the test's environment with the command's changes.
    let mut given: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => given.insert(k.to_owned(), v.to_owned()),
            None => given.remove(k),
        };
    }
    let given: Vec<Vec<u8>> = given
        .iter()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let (code, out, err) = run_bounded(cmd, WAIT);
    assert_eq!((code, out.as_str()), (0, ""), "stderr: {err}");
    let arg = fs::read(&arg).unwrap();
    assert_eq!(arg.escape_ascii().to_string(), "a\\xff\\xfe b");

    let seen = environ_entries(Path::new(&environ));
    assert_eq!(
        environ_values(&seen, name.as_bytes()),
        ["v\\xfe\\x80"],
        "{}",
        environ_text(&seen)
    );
    for entry in &seen {
        assert!(
            given.contains(entry),
            "added or changed: {:?}",
            entry.escape_ascii().to_string()
        );
    }
    let sups_own = |e: &[u8]| {
        ["SUP_", "NOTIFY_SOCKET=", "LISTEN_"]
            .iter()
            .any(|p| e.starts_with(p.as_bytes()))
            && !e.starts_with(name.as_bytes())
    };
    for entry in given.iter().filter(|e| !sups_own(e)) {
        assert!(
            seen.contains(entry),
            "left out: {:?}",
            entry.escape_ascii().to_string()
        );
    }

    let mut cmd = env.sup(&[], &[]);
    cmd.arg(b(b"no-such-\xff"));
    let (code, out, err) = run_bounded(cmd, WAIT);
    assert_eq!((code, out.as_str()), (127, ""), "stderr: {err}");
    assert_eq!(err, "sup: no-such-\u{fffd}: command not found\n");
}

#[test]
fn stdio_is_passed_through_and_sup_is_silent() {
    let env = Env::new("ep-stdio");
    let mut cmd = env.sup(&[], &["sh", "-c", "cat; echo to-stderr >&2"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello through stdin\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello through stdin\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-stderr\n");
}

#[test]
fn signals_are_forwarded_to_the_group() {
    let env = Env::new("ep-signals");
    let script = format!(
        "trap 'echo usr1 >> {m}' USR1; trap 'echo hup >> {m}' HUP; trap 'echo winch >> {m}' WINCH; \
         trap 'echo usr2 >> {m}' USR2; trap 'echo alrm >> {m}' ALRM; trap 'echo rt >> {m}' {rt}; \
         trap 'echo term >> {m}; exit 3' TERM; \
         sh -c 'trap \"echo child-usr1 >> {m}\" USR1; echo ready >> {m}.child; while :; do sleep 0.05; done' & \
         echo ready > {r}; while :; do sleep 0.05; done",
        m = env.p("marks"),
        r = env.p("ready"),
        rt = libc::SIGRTMIN() + 2,
    );
    let mut child = env.spawn(env.sup(&[], &["sh", "-c", &script]));
    env.wait_file("ready");
    env.wait_file("marks.child");
    signal(child.id(), Signal::SIGUSR1);
    assert!(
        wait_until(
            || {
                let m = fs::read_to_string(env.dir.join("marks")).unwrap_or_default();
                m.contains("usr1") && m.contains("child-usr1")
            },
            WAIT
        ),
        "USR1 did not reach the command and its group: {:?}",
        fs::read_to_string(env.dir.join("marks"))
    );
    for (sig, mark) in [
        (libc::SIGHUP, "hup"),
        (libc::SIGWINCH, "winch"),
        (libc::SIGUSR2, "usr2"),
        (libc::SIGALRM, "alrm"),
        (libc::SIGRTMIN() + 2, "rt"),
    ] {
        // SAFETY: kill takes plain integers.
        unsafe { libc::kill(child.id() as i32, sig) };
        assert!(
            wait_until(
                || fs::read_to_string(env.dir.join("marks"))
                    .unwrap_or_default()
                    .contains(mark),
                WAIT
            ),
            "signal {sig} was not forwarded; sup said:\n{}",
            env.stderr()
        );
    }
    signal(child.id(), Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, WAIT), 3, "{}", env.stderr());
    assert_eq!(fs::read_to_string(env.dir.join("stdout")).unwrap(), "");
}

#[test]
fn leftovers_are_terminated_then_killed_and_reaped() {
    let env = Env::new("ep-left");
    // A polite leftover (dies on TERM), a stubborn one (ignores TERM), and an orphan in a
    // session of its own (reparented to sup, outside the command's group).
    let script = format!(
        "sleep 1000 & echo $! >> {p}; \
         sh -c 'trap \"\" TERM; echo $$ >> {p}; while :; do sleep 0.05; done' & \
         setsid sh -c 'trap \"\" TERM; echo $$ >> {p}; while :; do sleep 0.05; done' & \
         while [ $(wc -l < {p}) -lt 3 ]; do sleep 0.05; done; exit 4",
        p = env.p("pids"),
    );
    let started = Instant::now();
    let mut child = env.spawn(env.sup(&["--grace", "1s"], &["sh", "-c", &script]));
    let code = wait_exit(&mut child, Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(code, 4, "{}", env.stderr());
    let pids = read_pids(&env.dir.join("pids"));
    assert_eq!(pids.len(), 3, "{pids:?}");
    for pid in pids {
        assert!(!process_alive(pid), "leftover {pid} survived sup");
        assert!(
            fs::metadata(format!("/proc/{pid}")).is_err(),
            "leftover {pid} was not reaped"
        );
    }
    assert!(
        took >= Duration::from_millis(900),
        "stubborn leftovers were killed before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn no_leftovers_means_immediate_exit() {
    let env = Env::new("ep-quick");
    let started = Instant::now();
    let (code, _, err) = run_bounded(env.sup(&[], &["true"]), WAIT);
    assert_eq!(code, 0, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn units_start_before_and_stop_after_the_command() {
    let env = Env::new("ep-units");
    env.unit(
        "db",
        &format!(
            "exec: [\"sh\", \"-c\", \"trap 'echo db-stopped >> {m}; exit 0' TERM; echo db-up >> {m}; while :; do sleep 0.05; done\"]\n",
            m = env.p("marks")
        ),
    );
    env.unit(
        "app-setup",
        &format!(
            "type: oneshot\nrequires: [db]\nexec: [\"sh\", \"-c\", \"echo setup-done >> {m}\"]\n",
            m = env.p("marks")
        ),
    );
    let script = format!(
        "grep -q setup-done {m} && echo cmd-saw-units >> {m}; exit 0",
        m = env.p("marks")
    );
    let (code, out, err) = run_bounded(env.sup(&[], &["sh", "-c", &script]), WAIT);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "units print nothing here; sup must not either");
    let marks = fs::read_to_string(env.dir.join("marks")).unwrap();
    let lines: Vec<&str> = marks.lines().collect();
    // What sup orders: the command after every unit is up, the units' stop after the
    // command. `db` is ready once started, so its first line and the oneshot's may come
    // in either order.
    let mut ups = lines[..2].to_vec();
    ups.sort();
    assert_eq!(ups, ["db-up", "setup-done"], "{marks}\n{err}");
    assert_eq!(
        lines[2..],
        ["cmd-saw-units", "db-stopped"],
        "{marks}\n{err}"
    );
}

#[test]
fn unit_log_default_is_inherit() {
    let env = Env::new("ep-inherit");
    env.unit(
        "talker",
        "type: oneshot\nexec: [\"sh\", \"-c\", \"echo hello-from-unit\"]\n",
    );
    let (code, out, err) = run_bounded(env.sup(&[], &["true"]), WAIT);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("talker: "), "stdout: {out:?}");
    assert!(out.contains("hello-from-unit"), "stdout: {out:?}");
}

#[test]
fn failed_unit_keeps_the_command_from_starting() {
    let env = Env::new("ep-fail");
    env.unit("broken", "restart: never\nexec: [\"/no/such/binary\"]\n");
    let marker = env.p("cmd-ran");
    let (code, out, err) = run_bounded(
        env.sup(&[], &["sh", "-c", &format!("touch {marker}")]),
        WAIT,
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("broken"), "stderr should name the unit: {err}");
    assert!(!Path::new(&marker).exists(), "the command ran anyway");
}

#[test]
fn live_socket_warns_once_and_runs_without() {
    let mut other = Sup::start("ep-live", &[]);
    let env = Env::new("ep-live2");
    let mut cmd = Command::new(SUP);
    cmd.env_remove("SUP_UNITS")
        .env_remove("SUP_LOG")
        .arg("--units")
        .arg(env.dir.join("units"))
        .arg("--socket")
        .arg(&other.socket)
        .args(["--", "sh", "-c", "exit 5"]);
    let (code, out, err) = run_bounded(cmd, WAIT);
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err.matches("served by another sup").count(),
        1,
        "one warning: {err}"
    );
    // The other sup still owns its socket.
    let (code, _, _) = other.supctl(&["status"]);
    assert_eq!(code, 0);
    other.terminate(WAIT);
}

/// Runs `sup -- CMD` on a new pseudo-terminal through python's `pty`, as the session
/// leader (`lead = true`, like a container's PID 1 with a tty) or under a shell that leads
/// the session; types Ctrl-C once `READY` shows; returns (exit code, transcript).
fn on_pty(env: &Env, cmd: &str, lead: bool) -> Option<(i32, String)> {
    if Command::new("python3")
        .arg("-c")
        .arg("import pty")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("skipped: python3 with the pty module is needed");
        return None;
    }
    let sup = format!(
        "{SUP} --units {} --socket {} -- sh -c {}",
        env.p("units"),
        env.p("ctl.sock"),
        shell_quote(cmd)
    );
    let argv = if lead {
        format!("['sh', '-c', 'exec ' + {sup:?}]")
    } else {
        format!("['sh', '-c', {sup:?} + '; echo SHELL-AFTER=$?']")
    };
    let py = format!(
        r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    argv = {argv}
    os.execvp(argv[0], argv)
out = b''
deadline = time.time() + 15
sent = False
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and b'READY' in out:
        os.write(fd, b'\x03')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.write('\nEXIT=%d\n' % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)))
"#
    );
    let (code, out, err) = run_bounded(
        {
            let mut c = Command::new("python3");
            c.arg("-c").arg(py);
            c
        },
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "python pty driver failed: {err}");
    let exit = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("EXIT="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(-1);
    Some((exit, out))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command checks it leads the terminal's foreground group, then waits for Ctrl-C.
const FG_SCRIPT: &str = "set -- $(cat /proc/$$/stat); \
    [ \"$5\" = \"$$\" ] && [ \"$8\" = \"$$\" ] && echo FOREGROUND-OK; \
    [ \"$6\" = \"$$\" ] && echo OWN-SESSION; \
    trap 'echo GOT-INT; exit 9' INT; echo READY; while :; do sleep 0.05; done";

#[test]
fn terminal_foreground_and_ctrl_c_as_session_leader() {
    let env = Env::new("ep-pty1");
    let Some((exit, out)) = on_pty(&env, FG_SCRIPT, true) else {
        return;
    };
    assert!(out.contains("FOREGROUND-OK"), "{out}");
    assert!(out.contains("OWN-SESSION"), "{out}");
    assert!(
        out.contains("GOT-INT"),
        "Ctrl-C did not reach the command: {out}"
    );
    assert_eq!(exit, 9, "{out}");
}

#[test]
fn terminal_foreground_and_ctrl_c_under_a_shell() {
    let env = Env::new("ep-pty2");
    let Some((exit, out)) = on_pty(&env, FG_SCRIPT, false) else {
        return;
    };
    assert!(out.contains("FOREGROUND-OK"), "{out}");
    assert!(
        out.contains("GOT-INT"),
        "Ctrl-C did not reach the command: {out}"
    );
    assert!(out.contains("SHELL-AFTER=9"), "{out}");
    assert_eq!(exit, 0, "{out}");
}

// ---- sup as PID 1 of a pid namespace ----

fn unshare_available() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

macro_rules! require_unshare {
    () => {
        require_root!();
        if !unshare_available() {
            eprintln!("skipped: unshare --pid --fork --mount-proc does not work here");
            return;
        }
    };
}

/// `unshare --pid --fork --mount-proc sup ... [-- CMD]`
fn in_pid_ns(env: &Env, args: &[&str], cmd: Option<&[&str]>) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", SUP]);
    match cmd {
        Some(cmd) => env.configure(&mut c, args, cmd),
        None => {
            c.env_remove("SUP_UNITS")
                .env_remove("SUP_SOCKET")
                .env("SUP_LOG_DIR", env.dir.join("logs"))
                .arg("--units")
                .arg(env.dir.join("units"))
                .arg("--socket")
                .arg(env.dir.join("ctl.sock"))
                .args(args);
        }
    }
    c
}

/// The pid (in our namespace) of sup, the only child of the `unshare` process.
fn sup_under(unshare: u32) -> u32 {
    let mut found = None;
    assert!(
        wait_until(
            || {
                found = fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
                    let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                    let stat = fs::read_to_string(e.path().join("stat")).ok()?;
                    (proc_ppid(&stat) == Some(unshare as i32)).then_some(pid)
                });
                found.is_some()
            },
            WAIT
        ),
        "no child of unshare"
    );
    found.unwrap()
}

#[test]
fn pid_namespace_exit_code_and_reaping() {
    require_unshare!();
    let env = Env::new("ep-ns1");
    // Orphans that exit: PID 1 (sup) must reap them. The command then counts zombies in
    // its namespace (its /proc is the namespace's, thanks to --mount-proc).
    let script = format!(
        "[ $PPID = 1 ] && echo parent-is-pid1 >> {m}; \
         for i in 1 2 3 4 5; do (sleep 0.1 &) ; done; sleep 1; \
         z=0; for s in /proc/[0-9]*/stat; do set -- $(cat $s 2>/dev/null); [ \"$3\" = Z ] && z=$((z+1)); done; \
         echo zombies=$z >> {m}; exit 42",
        m = env.p("marks")
    );
    let (code, out, err) = run_bounded(in_pid_ns(&env, &[], Some(&["sh", "-c", &script])), WAIT);
    assert_eq!(code, 42, "{err}");
    assert_eq!(out, "");
    let marks = fs::read_to_string(env.dir.join("marks")).unwrap_or_default();
    assert!(marks.contains("parent-is-pid1"), "{marks}");
    assert!(marks.contains("zombies=0"), "{marks}\n{err}");
}

#[test]
fn pid_namespace_forwards_signals() {
    require_unshare!();
    let env = Env::new("ep-ns2");
    let script = format!(
        "trap 'echo usr1 >> {m}' USR1; trap 'echo term >> {m}; exit 0' TERM; \
         echo ready > {r}; while :; do sleep 0.05; done",
        m = env.p("marks"),
        r = env.p("ready")
    );
    let mut child = env.spawn(in_pid_ns(&env, &[], Some(&["sh", "-c", &script])));
    let sup = sup_under(child.id());
    env.wait_file("ready");
    signal(sup, Signal::SIGUSR1);
    assert!(wait_until(
        || fs::read_to_string(env.dir.join("marks"))
            .unwrap_or_default()
            .contains("usr1"),
        WAIT
    ));
    signal(sup, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, WAIT), 0, "{}", env.stderr());
    assert!(fs::read_to_string(env.dir.join("marks"))
        .unwrap()
        .contains("term"));
}

#[test]
fn pid_namespace_init_stops_and_exits() {
    require_unshare!();
    let env = Env::new("ep-ns3");
    env.unit(
        "svc",
        &format!(
            "exec: [\"sh\", \"-c\", \"trap 'echo svc-stopped >> {m}; exit 0' TERM; echo up >> {m}; while :; do sleep 0.05; done\"]\n",
            m = env.p("marks")
        ),
    );
    // A process outside any unit, to be swept at the end.
    let mut child = env.spawn(in_pid_ns(&env, &["--grace", "1s"], None));
    let sup = sup_under(child.id());
    env.wait_file("marks");
    let socket = env.dir.join("ctl.sock");
    assert!(wait_until(
        || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        WAIT
    ));
    let (code, out, _) = supctl_at(&socket, &["--json", "status", "svc"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"running\""), "{out}");
    signal(sup, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, WAIT), 0, "{}", env.stderr());
    assert!(
        env.stderr().contains("PID 1 (container init)"),
        "{}",
        env.stderr()
    );
    assert!(fs::read_to_string(env.dir.join("marks"))
        .unwrap()
        .contains("svc-stopped"));

    // And `supctl poweroff` ends it the same way.
    let env = Env::new("ep-ns4");
    env.unit("svc", "exec: [\"sleep\", \"1000\"]\n");
    let mut child = env.spawn(in_pid_ns(&env, &[], None));
    let socket = env.dir.join("ctl.sock");
    assert!(wait_until(
        || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        WAIT
    ));
    let (code, _, err) = supctl_at(&socket, &["poweroff"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wait_exit(&mut child, WAIT), 0, "{}", env.stderr());
}

#[test]
fn orphans_of_units_are_swept_at_the_end() {
    let env = Env::new("ep-unit-orphan");
    let pidfile = env.p("orphan.pid");
    env.unit(
        "spawner",
        &format!(
            "exec: [\"sh\", \"-c\", \"setsid sh -c 'trap \\\"\\\" TERM; echo $$ > {pidfile}; while :; do sleep 0.05; done' & exec sleep 1000\"]\n"
        ),
    );
    let script = format!("while [ ! -s {pidfile} ]; do sleep 0.05; done; exit 0");
    let started = Instant::now();
    let (code, _, err) = run_bounded(env.sup(&["--grace", "1s"], &["sh", "-c", &script]), WAIT);
    assert_eq!(code, 0, "{err}");
    let pids = read_pids(Path::new(&pidfile));
    assert_eq!(pids.len(), 1, "{err}");
    assert!(!process_alive(pids[0]), "the unit's orphan survived sup");
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// Fault and pipe signals sent with kill(2) are events like any other: forwarded to the
/// command's group, never fatal to sup (they used to kill it, or never reach CMD).
#[test]
fn fault_and_pipe_signals_sent_by_others_are_forwarded() {
    let env = Env::new("ep-faults");
    let names = [
        "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGSEGV", "SIGSYS", "SIGPIPE",
        "SIGQUIT", "SIGCONT",
    ];
    let script = format!(
        "import signal, os, sys\n\
         marks = open({m:?}, 'a', buffering=1)\n\
         def h(n, f):\n    marks.write(signal.Signals(n).name + '\\n')\n\
         for s in {names:?}:\n    signal.signal(getattr(signal, s), h)\n\
         signal.signal(signal.SIGTERM, lambda n, f: sys.exit(5))\n\
         open({r:?}, 'w').write('ready\\n')\n\
         while True:\n    signal.pause()\n",
        m = env.p("marks"),
        r = env.p("ready"),
    );
    let mut child = env.spawn(env.sup(&[], &["python3", "-c", &script]));
    env.wait_file("ready");
    for name in names {
        let sig: Signal = name.parse().unwrap();
        signal(child.id(), sig);
        assert!(
            wait_until(
                || fs::read_to_string(env.dir.join("marks"))
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l == name),
                WAIT
            ),
            "{name} was not forwarded (sup alive: {}); sup said:\n{}",
            process_alive(child.id() as i32),
            env.stderr()
        );
    }
    signal(child.id(), Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, WAIT), 5, "{}", env.stderr());
}

/// Signals 32 and 33 (which glibc keeps for itself and its wrappers refuse to block) are
/// forwarded too: the command dies of it and sup reports 128+32.
#[test]
fn glibc_reserved_realtime_signals_are_forwarded() {
    let env = Env::new("ep-rt32");
    let script = format!(
        "echo ready > {r}; while :; do sleep 0.05; done",
        r = env.p("ready")
    );
    let mut child = env.spawn(env.sup(&[], &["sh", "-c", &script]));
    env.wait_file("ready");
    // SAFETY: kill takes plain integers.
    assert_eq!(unsafe { libc::kill(child.id() as i32, 32) }, 0);
    assert_eq!(wait_exit(&mut child, WAIT), 128 + 32, "{}", env.stderr());
}

/// sup's own writes to a closed stdout fail with EPIPE: the SIGPIPE the kernel raises for
/// them is sup's own, not forwarded, and does not kill sup.
#[test]
fn own_sigpipe_is_neither_fatal_nor_forwarded() {
    let env = Env::new("ep-ownpipe");
    env.unit(
        "chatty",
        "exec: [\"sh\", \"-c\", \"while :; do echo chatter; sleep 0.01; done\"]\n",
    );
    let script = format!(
        "trap 'echo pipe >> {m}' PIPE; i=0; while [ $i -lt 60 ]; do sleep 0.02; i=$((i+1)); done; exit 9",
        m = env.p("marks")
    );
    let mut cmd = env.sup(&[], &["sh", "-c", &script]);
    // stdout: a pipe whose reading end is closed at once.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(fs::File::create(env.dir.join("stderr")).unwrap());
    let mut child = cmd.spawn().unwrap();
    assert_eq!(wait_exit(&mut child, WAIT), 9, "{}", env.stderr());
    let marks = fs::read_to_string(env.dir.join("marks")).unwrap_or_default();
    assert!(!marks.contains("pipe"), "sup forwarded its own SIGPIPE");
}

/// A oneshot that fails before the command starts: sup says how it ended.
#[test]
fn failed_oneshot_names_its_exit_status() {
    let env = Env::new("ep-oneshot");
    for (cmd, want) in [
        ("exit 3", "unit setup failed: exit code 3"),
        ("kill -KILL $$", "unit setup failed: killed by SIGKILL"),
    ] {
        env.unit(
            "setup",
            &format!("type: oneshot\nexec: [\"sh\", \"-c\", \"{cmd}\"]\n"),
        );
        let (code, out, err) = run_bounded(env.sup(&[], &["true"]), WAIT);
        assert_eq!(code, 1, "{err}");
        assert_eq!(out, "");
        assert!(err.contains(want), "stderr should say {want:?}: {err}");
    }
}

/// A unit's lines for sup's own stdout wait while that stream is full (the unit is
/// slowed, as if it wrote there itself): none is lost, they keep their order, and sup
/// keeps answering meanwhile. They used to be dropped after a 50 ms wait in the loop.
#[test]
fn slow_stdout_slows_the_unit_and_loses_nothing() {
    let env = Env::new("ep-slowout");
    env.unit(
        "chatty",
        "log: {timestamps: false}\nexec: [\"sh\", \"-c\", \"i=0; while [ $i -lt 3000 ]; do echo line-$i-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz; i=$((i+1)); done; echo DONE; exec sleep 1000\"]\n",
    );
    let flag = env.p("stop");
    let script = format!("while [ ! -e {flag} ]; do sleep 0.02; done");
    let mut cmd = env.sup(&["--log-level", "debug"], &["sh", "-c", &script]);
    let (reader, writer) = nix::unistd::pipe().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(fs::File::create(env.dir.join("stderr")).unwrap());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    // Whatever happens below, the command ends (and sup with it) when the test does.
    struct EndCommand(std::path::PathBuf);
    impl Drop for EndCommand {
        fn drop(&mut self) {
            let _ = fs::write(&self.0, "");
        }
    }
    let _end = EndCommand(env.dir.join("stop"));
    // Nobody reads sup's stdout yet: 3000 lines (~300 KB) cannot all fit in the pipe.
    let queued = |fd: &std::os::fd::OwnedFd| {
        use std::os::fd::AsRawFd;
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to `n`; `fd` is open.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
        n
    };
    assert!(
        wait_until(|| queued(&reader) >= 48 << 10, WAIT),
        "sup's stdout never filled up: {} bytes",
        queued(&reader)
    );
    let sock = env.dir.join("ctl.sock");
    assert!(
        wait_until(
            || {
                let (code, out, _) = supctl_at(&sock, &["status", "chatty"]);
                code == 0 && out.contains("running")
            },
            WAIT
        ),
        "sup did not answer while its stdout was full: {}",
        env.stderr()
    );
    // Read it now; once the unit's last line is through, let the command end.
    let flag_path = env.dir.join("stop");
    let reading = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        let mut r = std::io::BufReader::new(std::fs::File::from(reader));
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 0 {
            if line == "chatty: DONE\n" {
                fs::write(&flag_path, "").unwrap();
            }
            all.push_str(&line);
            line.clear();
        }
        all
    });
    let mut status = None;
    let exited = wait_until(
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
        WAIT,
    );
    assert!(exited, "sup did not exit; it said:\n{}", env.stderr());
    assert_eq!(status.unwrap().code(), Some(0), "{}", env.stderr());
    let out = reading.join().unwrap();
    let lines: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("chatty: "))
        .collect();
    assert_eq!(lines.len(), 3001, "lost lines; sup said: {}", env.stderr());
    for (i, l) in lines[..3000].iter().enumerate() {
        assert!(
            l.starts_with(&format!("line-{i}-")),
            "out of order at {i}: {l}"
        );
    }
    assert_eq!(lines[3000], "DONE");
}

/// A script without `#!` runs with /bin/sh, as `execvp` (tini) and shells do.
#[test]
fn script_without_shebang_runs_with_sh() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("ep-noshebang");
    let script = env.dir.join("plain-script");
    fs::write(
        &script,
        format!("echo \"ran $1 $2\" > {}\nexit 4\n", env.p("out")),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = run_bounded(
        env.sup(&[], &[script.to_str().unwrap(), "one", "two words"]),
        WAIT,
    );
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        fs::read_to_string(env.dir.join("out")).unwrap(),
        "ran one two words\n"
    );
}

/// Job control under an interactive shell: Ctrl-Z stops the command and sup with it (the
/// shell says `Stopped` and gets the terminal back), `fg` hands the terminal back to the
/// command, which reads from it again; Ctrl-C then ends it (130).
#[test]
fn ctrl_z_and_fg_under_an_interactive_shell() {
    let env = Env::new("ep-jobs");
    let have = |prog: &str, arg: &str| {
        Command::new(prog)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("python3", "--version") || !have("bash", "--version") {
        eprintln!("skipped: python3 and bash are needed");
        return;
    }
    let sup = format!(
        "{SUP} --units {} --socket {} -- sh -c 'echo R$((1+1))Y; while read x; do echo GOT-$x; done'",
        env.p("units"),
        env.p("ctl.sock"),
    );
    let sup_cmd = format!("b{sup:?}");
    let py = format!(
        r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.environ['PS1'] = 'PROMPT> '
    os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])
out = b''
seen = 0
def wait_for(token, limit=15):
    # Waits for `token` in what came after the previous match.
    global out, seen
    deadline = time.time() + limit
    while time.time() < deadline:
        at = out.find(token, seen)
        if at >= 0:
            seen = at + len(token)
            return True
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            out += data
    return False
steps = [
    (b'PROMPT> ', {sup_cmd} + b'\n'),
    (b'R2Y', b'\x1a'),
    (b'Stopped', b'fg\n'),
    (b'while read', b'hello\n'),
    (b'GOT-hello', b'\x03'),
    (b'PROMPT> ', b'echo AFTER=$?\n'),
    (b'AFTER=', b'exit\n'),
]
ok = True
for token, send in steps:
    if not wait_for(token):
        ok = False
        sys.stdout.write('MISSING=%r\n' % token)
        break
    os.write(fd, send)
wait_for(b'130', 5)
try:
    os.kill(pid, 9)
except OSError:
    pass
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.write('\nOK=%d\n' % ok)
"#,
    );
    let (code, out, err) = run_bounded(
        {
            let mut c = Command::new("python3");
            c.arg("-c").arg(py);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "python pty driver failed: {err}");
    assert!(
        out.contains("OK=1"),
        "the session did not go as expected:\n{out}"
    );
    assert!(out.contains("AFTER=130"), "{out}");
}
