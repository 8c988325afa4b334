//! The documented maximums: every bounded key rejected just above its maximum with its
//! position, accepted at it; the size cap, nesting, tags, aliases and NUL characters.

use super::errors::check;
use super::{parse, unit};
use crate::unit::limits::{MAX_ARG_LEN, MAX_DURATION, MAX_ERRORS, MAX_FILE_SIZE, MAX_SIZE};

#[test]
fn durations_at_and_above_the_maximum() {
    let too_large = "is too large (at most 8760h (365 days))";
    // The reproducer: a delay that used to overflow the restart jitter.
    check(
        "exec: x\nrestart: {policy: always, delay: \"18446744073709549568\"}\n",
        &[(
            2,
            34,
            &format!("restart.delay: duration \"18446744073709549568\" {too_large}"),
        )],
    );
    let cases = [
        ("start_timeout: 8761h", 1, 16, "start_timeout: duration"),
        ("watchdog: 525601m", 1, 11, "watchdog: duration"),
        ("stop: {timeout: 31536001}", 1, 17, "stop.timeout: duration"),
        (
            "restart: {max_delay: 8761h}",
            1,
            22,
            "restart.max_delay: duration",
        ),
        (
            "restart: {reset_after: 8761h}",
            1,
            24,
            "restart.reset_after: duration",
        ),
        (
            "restart: {limit: {interval: 8761h}}",
            1,
            29,
            "restart.limit.interval: duration",
        ),
        (
            "health: [{tcp: \"h:1\", interval: 8761h}]",
            1,
            33,
            "health[0].interval: duration",
        ),
        (
            "health: [{tcp: \"h:1\", timeout: 8761h}]",
            1,
            32,
            "health[0].timeout: duration",
        ),
        (
            "health: [{tcp: \"h:1\", start_period: 9e9}]",
            1,
            37,
            "invalid duration",
        ),
        (
            "watch: {paths: /x, debounce: 8761h}",
            1,
            30,
            "watch.debounce: duration",
        ),
    ];
    for (key, line, col, needle) in cases {
        check(&format!("exec: x\n{key}\n"), &[(line + 1, col, needle)]);
    }
    let u = unit(
        "exec: x\nstart_timeout: 8760h\nstop: {timeout: 31536000}\nrestart: {delay: 8760h, max_delay: 8760h}\n",
    );
    assert_eq!(
        (u.start_timeout, u.stop.timeout),
        (MAX_DURATION, MAX_DURATION)
    );
    assert_eq!(u.restart.delay, MAX_DURATION);
}

#[test]
fn sizes_cpu_and_counts_at_and_above_the_maximum() {
    let cases = [
        (
            "resources: {memory_max: 1025T}",
            25,
            "resources.memory_max: size \"1025T\" is too large (at most 1024T)",
        ),
        (
            "resources: {memory_high: 1125899906842625}",
            26,
            "is too large (at most 1024T)",
        ),
        ("resources: {memory_swap_max: 2000T}", 30, "is too large"),
        (
            "resources: {io_max: [{device: /dev/sda, rbps: 1025T}]}",
            47,
            "is too large",
        ),
        (
            "resources: {io_max: [{device: /dev/sda, riops: 1125899906842625}]}",
            48,
            "out of range (1 to 1125899906842624)",
        ),
        (
            "log: {max_size: 1025T}",
            17,
            "log.max_size: size \"1025T\" is too large",
        ),
        (
            "health: [{memory_above: 1025T}]",
            25,
            "health[0].memory_above: size \"1025T\" is too large",
        ),
        (
            "resources: {cpu_max: \"819201%\"}",
            22,
            "cpu amount \"819201%\" is too large (at most 8192 cores, \"819200%\")",
        ),
        (
            "health: [{cpu_above: \"8193\"}]",
            22,
            "is too large (at most 8192 cores",
        ),
        (
            "resources: {pids_max: 4194305}",
            23,
            "resources.pids_max: 4194305 is out of range (1 to 4194304)",
        ),
        (
            "restart: {limit: {burst: 10001}}",
            26,
            "restart.limit.burst: 10001 is out of range (1 to 10000)",
        ),
        (
            "instances: 10001",
            12,
            "instances: 10001 is out of range (1 to 10000)",
        ),
        (
            "health: [{tcp: \"h:1\", retries: 10001}]",
            32,
            "out of range (1 to 10000)",
        ),
        (
            "log: {keep: 1001}",
            13,
            "log.keep: 1001 is out of range (0 to 1000)",
        ),
    ];
    for (key, col, needle) in cases {
        check(&format!("exec: x\n{key}\n"), &[(2, col, needle)]);
    }
    let u = unit("exec: x\nresources: {memory_max: 1024T, cpu_max: \"819200%\", pids_max: 4194304}\nrestart: {limit: {burst: 10000}}\n");
    assert_eq!(u.resources.memory_max, Some(MAX_SIZE));
    assert_eq!(u.resources.pids_max, Some(4_194_304));
    assert_eq!(u.restart.limit_burst, 10_000);
}

#[test]
fn lists_that_cost_at_run_time_are_bounded() {
    let items = |n: usize, item: &str| vec![item; n].join(", ");
    check(
        &format!("exec: x\nhealth: [{}]\n", items(101, "{tcp: \"h:1\"}")),
        &[(2, 1, "health: 101 checks; at most 100")],
    );
    check(
        &format!("exec: x\nenv_file: [{}]\n", items(65, "a.env")),
        &[(2, 1, "env_file: 65 files; at most 64")],
    );
    check(
        &format!("exec: x\nwatch: {{paths: [{}]}}\n", items(1001, "/etc")),
        &[(2, 1, "watch: 1001 paths; at most 1000")],
    );
    let io = items(65, "{device: /dev/sda, rbps: 1M}");
    check(
        &format!("exec: x\nresources: {{io_max: [{io}]}}\n"),
        &[(2, 1, "resources: 65 io_max entries; at most 64")],
    );
    check(
        &format!("kind: slice\nresources: {{io_max: [{io}]}}\n"),
        &[(2, 1, "resources: 65 io_max entries; at most 64")],
    );
    let u = unit(&format!(
        "exec: x\nhealth: [{}]\n",
        items(100, "{tcp: \"h:1\"}")
    ));
    assert_eq!(u.health.len(), 100);
}

#[test]
fn commands_must_fit_execve() {
    let long = "a".repeat(MAX_ARG_LEN + 1);
    check(
        &format!("exec: [x, {long}]\n"),
        &[(1, 11, "exec[1]: value is too long (131072 bytes; a program argument or environment entry is at most 131071)")],
    );
    check(
        &format!("exec: {long}\n"),
        &[(1, 7, "exec: value is too long")],
    );
    check(
        &format!("exec: x\nenv: {{A: {long}}}\n"),
        &[(2, 10, "env.A: value is too long")],
    );
    let name = "N".repeat(100);
    let value = "v".repeat(MAX_ARG_LEN - 50);
    check(
        &format!("exec: x\nenv: {{{name}: {value}}}\n"),
        &[(
            2,
            1,
            &format!("env: \"{name}\" is too long (131122 bytes as NAME=VALUE; at most 131071)"),
        )],
    );
    // Many short arguments: each costs its NUL and an 8-byte pointer in execve.
    let many = vec!["a"; 110_000].join(",");
    check(
        &format!("exec: [{many}]\n"),
        &[(1, 1, "exec: the command and env need 1100000 bytes")],
    );
    let many = vec!["a"; 105_000].join(",");
    check(
        &format!("exec: x\nstop: {{exec: [{many}]}}\n"),
        &[(2, 1, "stop: the command and env need 1050000 bytes for execve (strings, NULs and pointers); at most 1048576")],
    );
    let u = unit(&format!("exec: [{}]\n", vec!["a"; 100_000].join(",")));
    assert_eq!(u.exec.len(), 100_000);
}

#[test]
fn nul_characters_are_refused_where_they_are_written() {
    let cases = [
        (
            "exec: \"a\\0b\"",
            1,
            7,
            "exec: NUL character (\\0) is not allowed",
        ),
        ("exec: [a, \"b\\x00\"]", 1, 11, "exec[1]: NUL character"),
        (
            "exec: x\nenv: {A: \"\\u0000\"}",
            2,
            10,
            "env.A: NUL character",
        ),
        ("exec: x\nenv: {\"A\\0\": x}", 2, 7, "env: NUL character"),
        (
            "exec: x\nworking_dir: \"/a\\0\"",
            2,
            14,
            "working_dir: NUL character",
        ),
        (
            "exec: x\nlog: {file: \"/a\\0\"}",
            2,
            13,
            "log.file: NUL character",
        ),
        ("exec: x\nuser: \"a\\0\"", 2, 7, "user: NUL character"),
        (
            "exec: x\nready: {exec: [\"\\0\"]}",
            2,
            16,
            "ready.exec[0]: NUL character",
        ),
        (
            "exec: x\nhealth: [{exec: \"a\\0\"}]",
            2,
            17,
            "health[0].exec: NUL character",
        ),
        (
            "exec: x\ndescription: \"\\0\"",
            2,
            14,
            "description: NUL character",
        ),
    ];
    for (text, line, col, needle) in cases {
        check(&format!("{text}\n"), &[(line, col, needle)]);
    }
    // A raw NUL byte is a control character, reported where it is.
    check(
        "exec: x\nenv: {A: a\0}\n",
        &[(2, 11, "control character U+0000 is not allowed")],
    );
}

#[test]
fn size_nesting_tags_and_aliases() {
    let mut big = String::from("exec: x\ndescription: >\n");
    while big.len() <= MAX_FILE_SIZE {
        big.push_str("  0123456789012345678901234567890123456789\n");
    }
    // Byte MAX_FILE_SIZE (0-based) is the first one over the limit.
    let before = &big[..MAX_FILE_SIZE];
    let line = before.matches('\n').count() + 1;
    let col = MAX_FILE_SIZE - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    check(
        &big,
        &[(
            line,
            col,
            "the file is larger than 1 MiB, the limit for a unit file",
        )],
    );
    check(
        &format!("exec: x\nenv: {}\n", "{a: ".repeat(40)),
        &[(2, 6 + 4 * 31, "collections are nested more than 32 deep")],
    );
    check(
        "exec: x\nenv: {A: !!python/object:os.system ls}\n",
        &[(2, 10, "tag \"!!python/object:os.system\" is not supported")],
    );
    check(
        "exec: &cmd [a, b]\nstop: {exec: *cmd}\n",
        &[(2, 14, "alias \"*cmd\" is not supported")],
    );
}

#[test]
fn huge_messages_are_clipped_and_counted() {
    let key = "k".repeat(1000);
    let errors = super::errors(&format!("exec: x\n{key}: 1\n"));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].len() < 500, "{} bytes", errors[0].len());
    assert!(
        errors[0].starts_with("t.yaml:2:1: unknown unit key \"kkk"),
        "{}",
        errors[0]
    );
    let mut text = String::from("exec: x\n");
    for i in 0..MAX_ERRORS + 10 {
        text.push_str(&format!("bad{i}: 1\n"));
    }
    let errors = super::errors(&text);
    assert_eq!(errors.len(), MAX_ERRORS + 1);
    let last = format!("t.yaml:{}:1: 10 more problems not shown", MAX_ERRORS + 2);
    assert_eq!(errors[MAX_ERRORS], last);
    // Nothing here takes long: each of these is parsed in linear time.
    let env: Vec<String> = (0..50_000).map(|i| format!("E{i}: 1")).collect();
    let text = format!("exec: x\nenv: {{{}}}\n", env.join(", "));
    assert!(text.len() < MAX_FILE_SIZE);
    assert!(parse(&text).is_ok());
}
