//! The malformed-file corpus: every rejected file with its exact position and message
//! (document shape, keys, exec, scalar values, restart).

use super::errors;

/// Asserts the file is rejected with exactly these errors: `(line, col, text it contains)`.
#[track_caller]
pub(super) fn check(text: &str, expected: &[(usize, usize, &str)]) {
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
    check(
        "exec: x\nenv: {A: ok, B: \"a\\0b\"}\n",
        &[(
            2,
            17,
            "env.B: NUL character (\\0) is not allowed (no argument, path or environment value can hold one)",
        )],
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
