//! The malformed-file corpus: every rejected file with its exact position and message.

use super::errors;

/// Asserts the file is rejected with exactly these errors: `(line, col, text it contains)`.
#[track_caller]
fn check(text: &str, expected: &[(usize, usize, &str)]) {
    let got = errors(text);
    assert_eq!(got.len(), expected.len(), "errors for {text:?}: {got:#?}");
    for (error, (line, col, needle)) in got.iter().zip(expected) {
        let prefix = format!("t.yaml:{line}:{col}: ");
        assert!(
            error.starts_with(&prefix),
            "{error:?} should start with {prefix:?}"
        );
        assert!(
            error.contains(needle),
            "{error:?} should contain {needle:?}"
        );
        assert_eq!(
            error.to_lowercase()[..prefix.len() + 1],
            error[..prefix.len() + 1]
        );
    }
}

#[test]
fn document_shape() {
    check("", &[(1, 1, "empty file")]);
    check("# only a comment\n", &[(1, 1, "empty file")]);
    check(
        "# c\n- a\n- b\n",
        &[(2, 1, "expected a map of keys, found a list")],
    );
    check(
        "just words\n",
        &[(1, 1, "expected a map of keys, found a string")],
    );
    check(
        "exec: x\n  bad: indent\n",
        &[(2, 6, "mapping values are not allowed")],
    );
    check("exec: [a, b\n", &[(2, 1, "did not find expected")]);
    check(
        "exec: x\n---\nexec: y\n",
        &[(1, 1, "more than one document")],
    );
}

#[test]
fn unknown_and_duplicate_keys() {
    check(
        "exce: x\n",
        &[(1, 1, "unknown unit key \"exce\" (did you mean \"exec\"?)")],
    );
    check("exec: x\nfoo: 1\n", &[(2, 1, "unknown unit key \"foo\"")]);
    check("exec: x\nexec: y\n", &[(2, 1, "duplicate key \"exec\"")]);
    check(
        "exec: x\nmax_units: 2\n",
        &[(2, 1, "max_units belongs in a slice file")],
    );
    check(
        "exec: x\nrestart:\n  dealy: 1s\n",
        &[(
            3,
            3,
            "restart: unknown key \"dealy\" (did you mean \"delay\"?)",
        )],
    );
    check(
        "exec: x\nstop: {sig: INT}\n",
        &[(2, 8, "stop: unknown key \"sig\"")],
    );
    check(
        "exec: x\nenv:\n  A: 1\n  A: 2\n",
        &[(4, 3, "env: duplicate variable \"A\"")],
    );
    check(
        "exec: x\nrlimits: {nofile: 1, NOFILE: 2}\n",
        &[(2, 22, "duplicate rlimit \"NOFILE\"")],
    );
    check(
        "exec: x\nhealth:\n  - tcp: a:1\n    tcp: b:2\n",
        &[(4, 5, "health[0]: duplicate key \"tcp\"")],
    );
    check(
        "exec: x\nhealth:\n  - tpc: a:1\n",
        &[(
            3,
            5,
            "unknown health check key \"tpc\" (did you mean \"tcp\"?)",
        )],
    );
    check(
        "exec: x\nresources: {cpu_wieght: 5}\n",
        &[(
            2,
            13,
            "resources: unknown key \"cpu_wieght\" (did you mean \"cpu_weight\"?)",
        )],
    );
}

#[test]
fn several_problems_are_all_reported() {
    let text = "exec: x\nfoo: 1\nenabled: yes\ntype: forking\nrestart: {delay: 10x}\nhostname: h\n";
    check(
        text,
        &[
            (2, 1, "unknown unit key \"foo\""),
            (3, 10, "enabled: expected a boolean, found string \"yes\""),
            (
                4,
                7,
                "type: invalid type \"forking\" (expected simple or oneshot)",
            ),
            (
                5,
                18,
                "restart.delay: invalid duration \"10x\" (use 250ms, 10s, 2m, 1h",
            ),
            (6, 1, "hostname: needs the uts namespace"),
        ],
    );
}

#[test]
fn exec_errors() {
    check(
        "description: x\n",
        &[(1, 1, "missing required key \"exec\"")],
    );
    check(
        "exec: []\n",
        &[(1, 7, "exec: command list must not be empty")],
    );
    check(
        "exec: [\"\", a]\n",
        &[(1, 7, "exec: the program (first element) must not be empty")],
    );
    check(
        "exec: \"  \"\n",
        &[(1, 7, "exec: command must not be empty")],
    );
    check(
        "exec: {a: 1}\n",
        &[(
            1,
            7,
            "exec: expected a command string or a list of strings, found a map",
        )],
    );
    check(
        "exec:\n",
        &[(
            1,
            6,
            "exec: expected a command string or a list of strings, found an empty value",
        )],
    );
    check(
        "exec: x\nstop: {exec: []}\n",
        &[(2, 14, "stop.exec: command list must not be empty")],
    );
}

#[test]
fn value_errors_point_at_the_value() {
    check(
        "exec: x\nrestart:\n  policy: on-failure\n  delay: 10x\n",
        &[(4, 10, "restart.delay: invalid duration \"10x\"")],
    );
    check(
        "exec: x\nstart_timeout: 5 min\n",
        &[(2, 16, "start_timeout: invalid duration \"5 min\"")],
    );
    check(
        "exec: x\nstart_timeout: 0\n",
        &[(2, 1, "start_timeout: must be greater than 0")],
    );
    check(
        "exec: x\nenabled:\n",
        &[(2, 9, "enabled: expected a boolean, found an empty value")],
    );
    check(
        "exec: x\nprivate_tmp: [x]\n",
        &[(2, 14, "private_tmp: expected a boolean, found a list")],
    );
    check(
        "exec: x\numask: 0999\n",
        &[(
            2,
            8,
            "umask: invalid umask \"0999\" (use an octal string like \"0022\")",
        )],
    );
    check(
        "exec: x\numask: \"01777\"\n",
        &[(2, 8, "umask \"01777\" is out of range")],
    );
    check(
        "exec: x\nstop: {signal: SIGFOO}\n",
        &[(
            2,
            16,
            "stop.signal: unknown signal \"SIGFOO\" (use a name like SIGTERM",
        )],
    );
    check(
        "exec: x\nstop: {signal: 99}\n",
        &[(
            2,
            16,
            "stop.signal: signal number 99 is out of range (1 to 64)",
        )],
    );
    check(
        "exec: x\nstop: {timeout: -1s}\n",
        &[(2, 17, "stop.timeout: invalid duration \"-1s\"")],
    );
    check(
        "exec: x\ninstances: 0\n",
        &[(2, 12, "instances: 0 is out of range (1 to 10000)")],
    );
    check(
        "exec: x\ninstances: -1\n",
        &[(2, 12, "instances: -1 is out of range")],
    );
    check(
        "exec: x\ninstances: two\n",
        &[(2, 12, "instances: invalid integer \"two\"")],
    );
    check(
        "exec: x\nuser: \"a b\"\n",
        &[(2, 7, "user: invalid user or group \"a b\"")],
    );
    check(
        "exec: x\nworking_dir: srv\n",
        &[(2, 14, "working_dir: path \"srv\" must be absolute")],
    );
    check(
        "exec: x\nenv: {\"A=B\": 1}\n",
        &[(2, 7, "env: invalid environment variable name \"A=B\"")],
    );
    check(
        "exec: x\nenv: {A: [1]}\n",
        &[(2, 10, "env.A: expected a string, found a list")],
    );
    check("exec: x\non_unhealthy: panic\n", &[(2, 15, "on_unhealthy: invalid on_unhealthy action \"panic\" (expected restart, stop or ignore)")]);
    check(
        "kind: service\nexec: x\n",
        &[(
            1,
            7,
            "kind: invalid kind \"service\" (expected unit or slice)",
        )],
    );
}

#[test]
fn restart_errors() {
    check(
        "exec: x\nrestart: sometimes\n",
        &[(
            2,
            10,
            "restart: invalid restart policy \"sometimes\" (expected never, on-failure or always)",
        )],
    );
    check(
        "exec: x\nrestart:\n  delay: 1m\n",
        &[(3, 3, "restart: delay (60s) is longer than max_delay (30s)")],
    );
    check(
        "exec: x\nrestart: {limit: {burst: 0}}\n",
        &[(2, 26, "restart.limit.burst: 0 is out of range (1 to")],
    );
    check(
        "exec: x\ntype: oneshot\nrestart: always\n",
        &[(
            3,
            1,
            "restart: policy \"always\" is not allowed for a oneshot",
        )],
    );
    check(
        "exec: x\nrestart: [always]\n",
        &[(
            2,
            10,
            "restart: expected a restart policy or a map, found a list",
        )],
    );
}

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
        &[(2, 9, "health: expected a sequence, found a map")],
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
        &[(2, 23, "resources.pids_max: 0 is out of range (at least 1)")],
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
