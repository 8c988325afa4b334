//! Integration tests of `sockets` (socket activation) against the real `sup` and
//! `supctl`: the systemd protocol as a daemon sees it, sockets kept across restarts
//! (no connection refused or lost), a Unix socket, bind errors naming the socket, tcp6,
//! and a reload that changes the sockets. The units are small Python servers; every
//! wait is bounded and based on status, files or answers.

#[macro_use]
mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A server on the passed sockets: writes `LISTEN_FDS LISTEN_PID getpid LISTEN_FDNAMES`
/// to the file in argv[1], then answers each connection with `PID FD` once it has read
/// a line. SIGTERM is taken only between connections, so a stop never cuts one.
const SERVER: &str = r#"
import os, selectors, signal, socket, sys
n = int(os.environ["LISTEN_FDS"])
info = "%s %s %d %s\n" % (n, os.environ["LISTEN_PID"], os.getpid(), os.environ["LISTEN_FDNAMES"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(info)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def term(*_):
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
sel = selectors.DefaultSelector()
for i in range(n):
    sel.register(socket.socket(fileno=3 + i), selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            c, _ = key.fileobj.accept()
        except BlockingIOError:
            c = None
        if c is not None:
            c.settimeout(10)
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"%d %d\n" % (os.getpid(), key.fileobj.fileno()))
            c.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
"#;

fn write_server(sup: &Sup) -> String {
    let path = sup.path("server.py");
    std::fs::write(&path, SERVER).unwrap();
    path.display().to_string()
}

fn ask_unix(path: &Path) -> Result<String, String> {
    let s = UnixStream::connect(path).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    ask(s)
}

/// The info line the server wrote (waits for it): (fds, LISTEN_PID, its pid, names).
fn info(sup: &Sup, file: &str) -> (u32, u32, u32, String) {
    let path = sup.path(file);
    assert!(
        wait_until(|| path.exists(), WAIT),
        "the server never wrote {}; sup: {}",
        path.display(),
        sup.stderr_log()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].to_string(),
    )
}

fn pid_of(sup: &Sup, unit: &str) -> u32 {
    sup.status(unit)["pid"].as_u64().expect("a pid") as u32
}

#[test]
fn a_daemon_gets_its_sockets_by_the_systemd_protocol() {
    let mut sup = Sup::prepare("sock-proto");
    let server = write_server(&sup);
    let port = free_port();
    let unix = sup.path("app.sock");
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets:\n  - {{listen: \"tcp:127.0.0.1:{port}\", name: http, backlog: 16}}\n  - \"unix:{unix}\"\n",
            info = sup.p("info"),
            unix = unix.display()
        ),
    );
    sup.launch();
    sup.wait_state("web", "running");
    let (fds, listen_pid, pid, names) = info(&sup, "info");
    assert_eq!(fds, 2);
    assert_eq!(listen_pid, pid, "LISTEN_PID is the daemon's own pid");
    assert_eq!(listen_pid, pid_of(&sup, "web"), "and the unit's main pid");
    assert_eq!(
        names, "http:web",
        "named, the second by default after the unit"
    );
    // Both sockets answer, each on its fd.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
    assert_eq!(ask_unix(&unix).unwrap(), format!("{pid} 4"));
    let mode = std::fs::metadata(&unix).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "anyone who reaches the directory may connect");

    // A stop for good closes them: refused, and the socket file is gone.
    assert_eq!(sup.supctl(&["stop", "web"]).0, 0);
    assert!(TcpStream::connect(addr).is_err(), "tcp still listening");
    assert!(!unix.exists(), "the unix socket file is left behind");
    // A new start binds them again.
    std::fs::remove_file(sup.path("info")).unwrap();
    assert_eq!(sup.supctl(&["start", "web"]).0, 0);
    let (_, listen_pid, pid, _) = info(&sup, "info");
    assert_eq!(listen_pid, pid);
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
    assert_eq!(ask_unix(&unix).unwrap(), format!("{pid} 4"));
}

#[test]
fn restarts_refuse_and_lose_no_connection() {
    let mut sup = Sup::prepare("sock-restart");
    let server = write_server(&sup);
    let port = free_port();
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {server}, {info}]\nrestart: {{policy: always, limit: {{burst: 100}}}}\nsockets: [\"tcp:127.0.0.1:{port}\"]\n",
            info = sup.p("info")
        ),
    );
    sup.launch();
    sup.wait_state("web", "running");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let first = ask_tcp(addr).expect("first request");

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match ask_tcp(addr) {
                        Ok(line) => ok.push(line),
                        Err(e) => failed.push(e),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let mut pids = vec![pid_of(&sup, "web")];
    for _ in 0..5 {
        let (code, out, err) = sup.supctl(&["restart", "web"]);
        assert_eq!(code, 0, "restart: {out}{err}");
        let pid = pid_of(&sup, "web");
        assert!(!pids.contains(&pid), "a new process after the restart");
        pids.push(pid);
        // Let the clients reach the new process before the next restart.
        let answered_by = |p: u32| ask_tcp(addr).is_ok_and(|l| l.starts_with(&format!("{p} ")));
        assert!(
            wait_until(|| answered_by(pid), WAIT),
            "the new process never answered"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (ok, failed) = c.join().unwrap();
        assert!(
            failed.is_empty(),
            "failed requests during restarts: {failed:?}"
        );
        answered += ok.len();
        seen.extend(
            ok.iter()
                .filter_map(|l| l.split(' ').next().map(str::to_string)),
        );
    }
    eprintln!(
        "{answered} requests answered across 5 restarts by {} processes (first: {first})",
        seen.len()
    );
    assert!(seen.len() >= 3, "the clients saw only {seen:?}");

    // A crash keeps them too: a connection made while the unit waits to restart is
    // queued and answered by the next process.
    let before = pid_of(&sup, "web");
    let (code, out, err) = sup.supctl(&["kill", "-s", "KILL", "web"]);
    assert_eq!(code, 0, "kill: {out}{err}");
    sup.wait_for("web", |s| s["pid"].as_u64() != Some(before.into()), WAIT);
    let line = ask_tcp(addr).expect("a connection during the crash restart");
    let after: u32 = line.split(' ').next().unwrap().parse().unwrap();
    assert_ne!(after, before, "answered by the restarted process");
}

#[test]
fn an_address_in_use_fails_the_unit_naming_the_socket() {
    let mut sup = Sup::prepare("sock-inuse");
    let server = write_server(&sup);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let file = sup.path("file");
    std::fs::write(&file, "not a socket").unwrap();
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [{{listen: \"tcp:127.0.0.1:{port}\", name: http}}]\n",
            info = sup.p("info")
        ),
    );
    sup.write_unit(
        "onfile",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [\"unix:{}\"]\n",
            file.display(),
            info = sup.p("info2")
        ),
    );
    sup.write_unit(
        "nodir",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [\"unix:{}/none/x.sock\"]\n",
            sup.dir.display(),
            info = sup.p("info3")
        ),
    );
    sup.launch();
    let s = sup.wait_state("web", "failed");
    let msg = s["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!(
            "sockets: http (tcp:127.0.0.1:{port}): bind: Address already in use"
        )),
        "{s}"
    );
    let s = sup.wait_state("onfile", "failed");
    let msg = s["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("sockets: onfile (unix:") && msg.contains("not a socket"),
        "{s}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "not a socket",
        "left alone"
    );
    let s = sup.wait_state("nodir", "failed");
    let msg = s["message"].as_str().unwrap_or_default();
    assert!(msg.contains("No such file or directory"), "{s}");
    assert!(
        !sup.path("info").exists(),
        "the unit ran without its socket"
    );
    // Once the address is free, a start works.
    drop(taken);
    assert_eq!(sup.supctl(&["start", "web"]).0, 0);
    let (_, listen_pid, pid, names) = info(&sup, "info");
    assert_eq!((listen_pid, names.as_str()), (pid, "http"));
}

#[test]
fn tcp6_where_the_host_has_ipv6() {
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIP tcp6: this host cannot bind [::1] (no IPv6)");
        return;
    };
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut sup = Sup::prepare("sock-tcp6");
    let server = write_server(&sup);
    sup.write_unit(
        "web6",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [\"tcp6:[::1]:{port}\"]\n",
            info = sup.p("info")
        ),
    );
    sup.launch();
    sup.wait_state("web6", "running");
    let (_, listen_pid, pid, _) = info(&sup, "info");
    assert_eq!(listen_pid, pid);
    let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
}

#[test]
fn a_reload_that_changes_the_sockets_moves_them() {
    let mut sup = Sup::prepare("sock-reload");
    let server = write_server(&sup);
    let (a, b) = (free_port(), free_port());
    let info_path = sup.p("info");
    let unit = |port: u16| {
        format!(
            "exec: [python3, {server}, {info_path}]\nsockets: [{{listen: \"tcp:127.0.0.1:{port}\", name: web}}]\n"
        )
    };
    sup.write_unit("web", &unit(a));
    sup.launch();
    sup.wait_state("web", "running");
    let old = info(&sup, "info").2;
    let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
    assert_eq!(ask_tcp(addr(a)).unwrap(), format!("{old} 3"));
    std::fs::remove_file(sup.path("info")).unwrap();
    sup.write_unit("web", &unit(b));
    let (code, out, err) = sup.supctl(&["reload"]);
    assert_eq!(code, 0, "reload: {out}{err}");
    let new = info(&sup, "info").2;
    assert_ne!(new, old, "restarted");
    assert_eq!(ask_tcp(addr(b)).unwrap(), format!("{new} 3"));
    assert!(
        TcpStream::connect(addr(a)).is_err(),
        "the old address still listens"
    );
}

#[test]
fn a_reexec_keeps_the_sockets() {
    let mut sup = Sup::prepare("sock-reexec");
    let server = write_server(&sup);
    let port = free_port();
    let unix = sup.path("r.sock");
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [\"tcp:127.0.0.1:{port}\", \"unix:{unix}\"]\n",
            info = sup.p("info"),
            unix = unix.display()
        ),
    );
    sup.launch();
    sup.wait_state("web", "running");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let pid = info(&sup, "info").2;
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let bound = ino(&unix);
    let (code, out, err) = sup.supctl(&["reexec"]);
    assert_eq!(code, 0, "reexec: {out} {err}\n{}", sup.stderr_log());
    assert!(unix.exists(), "the new image removed the socket file");
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
    // The new image holds the same sockets: a restart passes them on (a bind of its own
    // would find the address in use while the old process runs, or lose the queue).
    std::fs::remove_file(sup.path("info")).unwrap();
    assert_eq!(sup.supctl(&["restart", "web"]).0, 0);
    let (_, listen_pid, new, _) = info(&sup, "info");
    assert_eq!(listen_pid, new);
    assert_eq!(ask_tcp(addr).unwrap(), format!("{new} 3"));
    assert_eq!(ask_unix(&unix).unwrap(), format!("{new} 4"));
    assert_eq!(ino(&unix), bound, "the socket was bound again, not carried");
    // A stop after the reexec still closes them.
    assert_eq!(sup.supctl(&["stop", "web"]).0, 0);
    assert!(TcpStream::connect(addr).is_err());
    assert!(!unix.exists());
}

#[test]
fn forty_sockets_arrive_in_order_with_a_readiness_fd_after_them() {
    // More fds than the spawn's low slots: the child copies the whole fd table instead,
    // and the sockets still land on 3, 4, … in order, the readiness fd after them.
    let mut sup = Sup::prepare("sock-many");
    let server = write_server(&sup);
    let socks: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{{listen: \"unix:{}\", name: s{i}}}",
                sup.path(&format!("{i}.sock")).display()
            )
        })
        .collect();
    sup.write_unit(
        "many",
        &format!(
            "exec: [bash, -c, 'echo >&50; exec python3 {server} {info}']\nready: {{fd: 50}}\nsockets: [{}]\n",
            socks.join(", "),
            info = sup.p("info")
        ),
    );
    sup.launch();
    sup.wait_state("many", "running");
    let (fds, listen_pid, pid, names) = info(&sup, "info");
    assert_eq!((fds, listen_pid), (40, pid));
    let want: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    assert_eq!(names, want.join(":"));
    for i in [0, 17, 39] {
        let line = ask_unix(&sup.path(&format!("{i}.sock"))).unwrap();
        assert_eq!(line, format!("{pid} {}", 3 + i));
    }
}

#[test]
fn in_a_pid_namespace_listen_pid_is_the_daemons_own() {
    require_root!();
    let mut sup = Sup::prepare("sock-pidns");
    let server = write_server(&sup);
    let port = free_port();
    sup.write_unit(
        "ns",
        &format!(
            "exec: [python3, {server}, {info}]\nnamespaces: [pid]\nsockets: [\"tcp:127.0.0.1:{port}\"]\n",
            info = sup.p("info")
        ),
    );
    sup.launch();
    let s = sup.wait_for(
        "ns",
        |s| s["state"] == "running" || s["state"] == "failed",
        WAIT,
    );
    if s["state"] == "failed" {
        eprintln!("SKIP pid namespace: {s}");
        return;
    }
    let (_, listen_pid, pid, _) = info(&sup, "info");
    assert_eq!(listen_pid, pid, "the pid the daemon sees itself as");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
}

/// Context switches of process `pid` so far (voluntary and not).
fn switches(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn connections_to_a_units_sockets_never_wake_sup() {
    // sup holds the sockets but does not watch or accept on them: 300 requests served
    // by the unit cost sup nothing.
    let mut sup = Sup::prepare("sock-idle");
    let server = write_server(&sup);
    let port = free_port();
    let unix = sup.path("i.sock");
    sup.write_unit(
        "web",
        &format!(
            "exec: [python3, {server}, {info}]\nsockets: [\"tcp:127.0.0.1:{port}\", \"unix:{unix}\"]\n",
            info = sup.p("info"),
            unix = unix.display()
        ),
    );
    sup.launch();
    sup.wait_state("web", "running");
    let pid = info(&sup, "info").2;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(ask_tcp(addr).unwrap(), format!("{pid} 3"));
    // Three tries: the first may still see sup finish with the last supctl connection
    // (closed just before); a wakeup per connection would show in every one.
    let woken: Vec<u64> = (0..3)
        .map(|_| {
            let before = switches(sup.pid());
            for _ in 0..100 {
                ask_tcp(addr).unwrap();
                ask_unix(&unix).unwrap();
            }
            switches(sup.pid()) - before
        })
        .collect();
    assert!(
        woken.contains(&0),
        "sup woke up for its units' connections: {woken:?}"
    );
}
