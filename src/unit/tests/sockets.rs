//! `sockets`: the forms, the defaults and the errors (with their positions).

use super::errors::check;
use super::unit;
use crate::platform::listen::ListenAddr;
use crate::unit::spec::SocketSpec;

fn tcp(s: &str) -> ListenAddr {
    ListenAddr::Tcp(s.parse().unwrap())
}

#[test]
fn sockets_are_read_with_their_defaults() {
    let u = unit(
        "exec: x\nsockets:\n  - {listen: \"tcp:127.0.0.1:8080\", name: http, backlog: 16}\n  - \"tcp6:[::1]:8080\"\n  - {listen: \"unix:/run/app.sock\"}\n",
    );
    assert_eq!(
        u.sockets,
        [
            SocketSpec {
                listen: tcp("127.0.0.1:8080"),
                name: "http".into(),
                backlog: 16
            },
            SocketSpec {
                listen: tcp("[::1]:8080"),
                name: "t".into(),
                backlog: 1024
            },
            SocketSpec {
                listen: ListenAddr::Unix("/run/app.sock".into()),
                name: "t".into(),
                backlog: 1024
            },
        ]
    );
    assert!(unit("exec: x\n").sockets.is_empty());
    // The readiness fd may follow the sockets' fds.
    let u = unit("exec: x\nready: {fd: 4}\nsockets: [\"tcp:0.0.0.0:80\"]\n");
    assert_eq!(u.sockets.len(), 1);
}

#[test]
fn socket_errors_name_the_place() {
    check(
        "exec: x\nsockets: [\"tcp:localhost:80\"]\n",
        &[(
            2,
            11,
            "sockets[0]: invalid listen address \"tcp:localhost:80\"",
        )],
    );
    check(
        "exec: x\nsockets: [{listen: \"udp:1.2.3.4:5\"}]\n",
        &[(2, 20, "unknown kind")],
    );
    check(
        "exec: x\nsockets: [{listen: \"tcp6:1.2.3.4:5\"}]\n",
        &[(2, 20, "tcp6 takes an IPv6 address")],
    );
    check(
        "exec: x\nsockets: [{listen: \"unix:run/x\"}]\n",
        &[(2, 20, "the path must be absolute")],
    );
    check(
        "exec: x\nsockets: [{listen: \"tcp:1.2.3.4:5\", name: \"a:b\"}]\n",
        &[(2, 43, "invalid socket name \"a:b\"")],
    );
    check(
        "exec: x\nsockets: [{listen: \"tcp:1.2.3.4:5\", backlog: 0}]\n",
        &[(2, 46, "backlog: 0 is out of range (1 to 65535)")],
    );
    check(
        "exec: x\nsockets: [{name: a}]\n",
        &[(2, 11, "missing required key \"listen\"")],
    );
    check(
        "exec: x\nsockets: [{listen: \"tcp:1.2.3.4:5\", port: 1}]\n",
        &[(
            2,
            37,
            "unknown key \"port\" (expected listen, name or backlog)",
        )],
    );
    check(
        "exec: x\nsockets: \"tcp:1.2.3.4:5\"\n",
        &[(2, 10, "sockets")],
    );
    check(
        "exec: x\nsockets: [\"tcp:1.2.3.4:5\", {listen: \"tcp:1.2.3.4:5\", name: b}]\n",
        &[(2, 1, "sockets: tcp:1.2.3.4:5 is listed twice")],
    );
    check(
        "exec: x\nready: {fd: 3}\nsockets: [\"tcp:1.2.3.4:5\"]\n",
        &[(2, 1, "ready: fd 3 is taken by sockets (fds 3 to 3)")],
    );
    let many: Vec<String> = (1..=65).map(|p| format!("\"tcp:1.2.3.4:{p}\"")).collect();
    check(
        &format!("exec: x\nsockets: [{}]\n", many.join(", ")),
        &[(2, 1, "sockets: 65 sockets; at most 64")],
    );
}
