//! The malformed-file corpus, continued: readiness, health, resources, isolation,
//! dependencies, log, watch and slices.

use super::errors::check;

#[test]
fn ready_and_health_errors() {
    check(
        "exec: x\nready: bogus\n",
        &[(
            2,
            8,
            "ready: invalid readiness \"bogus\" (expected started, notify",
        )],
    );
    check(
        "exec: x\nready: {fd: 2}\n",
        &[(2, 13, "ready.fd: 2 is out of range (3 to 65535)")],
    );
    check(
        "exec: x\nready: {fdd: 4}\n",
        &[(
            2,
            9,
            "ready: unknown readiness probe \"fdd\" (did you mean \"fd\"?)",
        )],
    );
    check(
        "exec: x\nready: {tcp: nope}\n",
        &[(
            2,
            14,
            "ready.tcp: invalid address \"nope\" (use \"HOST:PORT\"",
        )],
    );
    check(
        "exec: x\nready: {tcp: \"h:0\"}\n",
        &[(2, 14, "invalid address \"h:0\"")],
    );
    check(
        "exec: x\nready: {http: \"https://x\"}\n",
        &[(
            2,
            15,
            "ready.http: url \"https://x\": only http:// is supported",
        )],
    );
    check(
        "exec: x\nready: {http: \"x.com\"}\n",
        &[(2, 15, "ready.http: invalid url \"x.com\"")],
    );
    check(
        "exec: x\nready: {log: \"([\"}\n",
        &[(2, 14, "ready.log: invalid regular expression \"([\"")],
    );
    check(
        "exec: x\nready: {fd: 3, tcp: \"a:1\"}\n",
        &[(2, 8, "ready: only one readiness probe is allowed")],
    );
    check(
        "exec: x\nready: {}\n",
        &[(2, 8, "ready: empty readiness map")],
    );
    check(
        "exec: x\ntype: oneshot\nready: notify\n",
        &[(3, 1, "ready: a oneshot is ready when it exits")],
    );
    check(
        "exec: x\nhealth:\n  - tcp: localhost:80\n    exec: [a]\n",
        &[(
            3,
            5,
            "health[0]: health check has both \"tcp\" and \"exec\"",
        )],
    );
    check(
        "exec: x\nhealth:\n  - interval: 5s\n",
        &[(
            3,
            5,
            "health[0]: health check needs one of exec, tcp, http, log, memory_above or cpu_above",
        )],
    );
    check(
        "exec: x\nhealth:\n  - tcp: a:1\n  - tcp: b:1\n    retries: 0\n",
        &[(5, 14, "health[1].retries: 0 is out of range (1 to 10000)")],
    );
    check(
        "exec: x\nhealth:\n  - tcp: a:1\n    interval: 0s\n",
        &[(3, 5, "health[0]: interval must be greater than 0")],
    );
    check(
        "exec: x\nhealth:\n  - cpu_above: 0%\n",
        &[(
            3,
            16,
            "health[0].cpu_above: cpu amount \"0%\" must be greater than zero",
        )],
    );
    check(
        "exec: x\nhealth:\n  - memory_above: lots\n",
        &[(3, 19, "health[0].memory_above: invalid size \"lots\"")],
    );
    check(
        "exec: x\nhealth:\n  - log: x\n    severity: fatal\n",
        &[(
            4,
            15,
            "invalid severity \"fatal\" (expected critical or warning)",
        )],
    );
    check(
        "exec: x\nhealth: {tcp: \"a:1\"}\n",
        &[(2, 9, "health: expected a list, found a map")],
    );
}

#[test]
fn resources_errors() {
    check(
        "exec: x\nresources:\n  cpu_weight: 0\n",
        &[(
            3,
            15,
            "resources.cpu_weight: 0 is out of range (1 to 10000)",
        )],
    );
    check(
        "exec: x\nresources: {io_weight: 10001}\n",
        &[(2, 24, "resources.io_weight: 10001 is out of range")],
    );
    check(
        "exec: x\nresources: {memory_max: 12X}\n",
        &[(
            2,
            25,
            "resources.memory_max: invalid size \"12X\" (use a number of bytes or 512K",
        )],
    );
    check(
        "exec: x\nresources: {cpu_max: 0}\n",
        &[(
            2,
            22,
            "resources.cpu_max: cpu amount \"0\" must be greater than zero",
        )],
    );
    check(
        "exec: x\nresources: {cpu_max: lots}\n",
        &[(2, 22, "resources.cpu_max: invalid cpu amount \"lots\"")],
    );
    check(
        "exec: x\nresources: {pids_max: 0}\n",
        &[(
            2,
            23,
            "resources.pids_max: 0 is out of range (1 to 4194304)",
        )],
    );
    check(
        "exec: x\nresources: {pids_max: max}\n",
        &[(2, 23, "resources.pids_max: invalid integer \"max\"")],
    );
    check(
        "exec: x\nresources:\n  io_max:\n    - rbps: 1M\n",
        &[(4, 7, "resources.io_max[0]: missing required key \"device\"")],
    );
    check(
        "exec: x\nresources:\n  io_max:\n    - device: /dev/sda\n",
        &[(
            4,
            7,
            "io_max for \"/dev/sda\" needs at least one of rbps, wbps, riops, wiops",
        )],
    );
    check(
        "exec: x\nresources:\n  io_max:\n    - {device: sda, rbps: 1}\n",
        &[(
            4,
            16,
            "resources.io_max[0].device: path \"sda\" must be absolute",
        )],
    );
    check(
        "exec: x\nresources: 5\n",
        &[(
            2,
            12,
            "resources: expected a map of resource limits, found integer 5",
        )],
    );
}

#[test]
fn isolation_errors() {
    check(
        "exec: x\nnamespaces: [net, net]\n",
        &[(2, 1, "namespaces: \"net\" is listed twice")],
    );
    check("exec: x\nnamespaces: [nett]\n", &[(2, 14, "namespaces[0]: invalid namespace \"nett\" (expected pid, mount, uts, ipc, net, user or cgroup)")]);
    check(
        "exec: x\nhostname: web\n",
        &[(
            2,
            1,
            "hostname: needs the uts namespace (add uts to namespaces)",
        )],
    );
    check(
        "exec: x\nnamespaces: [uts]\nhostname: \"a b\"\n",
        &[(3, 11, "hostname: invalid hostname \"a b\"")],
    );
    check(
        "exec: x\nroot: /srv\nprivate_tmp: true\n",
        &[
            (2, 1, "root: needs the mount namespace"),
            (3, 1, "private_tmp: needs the mount namespace"),
        ],
    );
    check(
        "exec: x\nroot: srv\nnamespaces: [mount]\n",
        &[(2, 7, "root: path \"srv\" must be absolute")],
    );
    check(
        "exec: x\ncapabilities: [CAP_NET_RAW, FOO]\n",
        &[(2, 29, "capabilities[1]: unknown capability \"FOO\"")],
    );
    check(
        "exec: x\nrlimits: {bogus: 1}\n",
        &[(
            2,
            11,
            "rlimits: unknown rlimit \"bogus\" (expected one of as, core",
        )],
    );
    check(
        "exec: x\nrlimits: {nofile: \"200:100\"}\n",
        &[(
            2,
            19,
            "rlimits.nofile: rlimit \"200:100\": soft limit is above the hard limit",
        )],
    );
    check(
        "exec: x\nrlimits: {nofile: lots}\n",
        &[(2, 19, "rlimits.nofile: invalid rlimit value \"lots\"")],
    );
}

#[test]
fn dependency_errors() {
    check(
        "exec: x\nrequires: [t]\n",
        &[(2, 1, "requires: unit \"t\" cannot list itself")],
    );
    check(
        "exec: x\nafter: t\n",
        &[(2, 1, "after: unit \"t\" cannot list itself")],
    );
    check(
        "exec: x\nrequires: [\"bad name\"]\n",
        &[(
            2,
            12,
            "requires[0]: invalid unit name \"bad name\": character ' ' is not allowed",
        )],
    );
    check(
        "exec: x\nrequires: [db]\nconflicts: [db]\n",
        &[(3, 1, "conflicts: \"db\" is also in requires")],
    );
    check(
        "exec: x\nafter: [db]\nbefore: [db]\n",
        &[(3, 1, "before: \"db\" is also in after (an ordering cycle)")],
    );
    check(
        "exec: x\nslice: \"-x\"\n",
        &[(2, 8, "slice: invalid unit name \"-x\"")],
    );
    check(
        "{exec: x, requires: [t]}\n",
        &[(1, 11, "requires: unit \"t\" cannot list itself")],
    );
}

#[test]
fn log_and_watch_errors() {
    check(
        "exec: x\nlog: {file: rel.log}\n",
        &[(
            2,
            13,
            "log.file: log file \"rel.log\" must be an absolute path",
        )],
    );
    check(
        "exec: x\nlog: stdout\n",
        &[(
            2,
            6,
            "log: invalid log \"stdout\" (expected inherit or a map",
        )],
    );
    check(
        "exec: x\nlog: {max_size: 0}\n",
        &[(2, 6, "log: max_size must be greater than 0")],
    );
    check(
        "exec: x\nlog: {keep: many}\n",
        &[(2, 13, "log.keep: invalid integer \"many\"")],
    );
    check(
        "exec: x\nwatch: {paths: []}\n",
        &[(2, 8, "watch: paths must list at least one path")],
    );
    check(
        "exec: x\nwatch: {debounce: 1s}\n",
        &[(2, 8, "watch: missing required key \"paths\"")],
    );
    check(
        "exec: x\nwatch: {paths: [etc]}\n",
        &[(2, 17, "watch.paths[0]: path \"etc\" must be absolute")],
    );
}

#[test]
fn slice_errors() {
    check("kind: slice\nexec: x\n", &[(2, 1, "unknown slice key \"exec\" (expected kind, description, slice, resources or max_units)")]);
    check(
        "kind: slice\nmax_units: 0\n",
        &[(2, 12, "max_units: 0 is out of range (1 to 4294967295)")],
    );
    check(
        "kind: slice\nslice: t\n",
        &[(2, 1, "slice: slice \"t\" cannot be its own parent")],
    );
    check(
        "kind: slice\nresources: {cpu_weight: x}\n",
        &[(2, 25, "resources.cpu_weight: invalid integer \"x\"")],
    );
}
