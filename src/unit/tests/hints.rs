//! Hints for users of systemd and Docker Compose, keys of a block written at the top
//! level, and indentation that breaks a block: each with its position.

use super::errors::check;

#[test]
fn block_keys_at_the_top_level_name_their_block() {
    check(
        "exec: x\nmemory_max: 1G\n",
        &[(
            2,
            1,
            "unknown unit key \"memory_max\" (memory_max belongs in the resources block: resources: {memory_max: ...})",
        )],
    );
    for (key, block) in [
        ("cpu_max", "resources"),
        ("pids_max", "resources"),
        ("io_weight", "resources"),
        ("signal", "stop"),
        ("delay", "restart"),
        ("debounce", "watch"),
        ("nofile", "rlimits"),
    ] {
        check(
            &format!("exec: x\n{key}: 1\n"),
            &[(2, 1, &format!("belongs in the {block} block"))],
        );
    }
    // A slice file has resources too.
    check(
        "kind: slice\nmemory_max: 1G\n",
        &[(
            2,
            1,
            "unknown slice key \"memory_max\" (memory_max belongs in the resources block",
        )],
    );
}

#[test]
fn systemd_names_suggest_sup_keys() {
    for (key, needle) in [
        ("ExecStart", "the command is exec: [PROGRAM, ARG...]"),
        ("ExecStop", "use stop.exec"),
        ("Restart", "use restart: never, on-failure or always"),
        ("RestartSec", "use restart.delay"),
        ("User", "use user"),
        ("Group", "use group"),
        ("Environment", "use env: a map of NAME: value"),
        ("EnvironmentFile", "use env_file"),
        ("WorkingDirectory", "use working_dir"),
        ("MemoryMax", "use resources.memory_max"),
        ("TimeoutStopSec", "use stop.timeout"),
        ("LimitNOFILE", "use rlimits"),
        (
            "WantedBy",
            "sup starts a unit with enabled: true, the default",
        ),
    ] {
        check(
            &format!("exec: x\n{key}: v\n"),
            &[(2, 1, &format!("unknown unit key \"{key}\" ({needle}"))],
        );
    }
}

#[test]
fn docker_compose_names_suggest_sup_keys() {
    for (key, needle) in [
        ("command", "sup runs exec: [PROGRAM, ARG...]"),
        (
            "entrypoint",
            "sup runs exec: [PROGRAM, ARG...]; there is no separate entrypoint",
        ),
        ("environment", "use env"),
        ("restart_policy", "use restart"),
        ("image", "sup runs commands, not images"),
        ("depends_on", "use requires (or wants) and after"),
        ("healthcheck", "use health"),
        ("ports", "sup does not publish ports"),
        ("services", "this looks like a Docker Compose file"),
    ] {
        check(
            &format!("exec: x\n{key}: v\n"),
            &[(2, 1, &format!("unknown unit key \"{key}\" ({needle}"))],
        );
    }
    // Inside a block, only the block's own keys are suggested.
    check(
        "exec: x\nrestart:\n  RestartSec: 1\n",
        &[(3, 3, "restart: unknown key \"RestartSec\"")],
    );
}

#[test]
fn a_systemd_unit_file_is_recognised() {
    check(
        "[Unit]\nDescription=web\n\n[Service]\nExecStart=/usr/bin/web\n",
        &[(1, 1, "this is a systemd unit file (INI), not a sup unit (YAML): convert it with `sup import FILE.service`")],
    );
    check(
        "# a web server\nExecStart=/usr/bin/web\n",
        &[(2, 1, "convert it with `sup import FILE.service`")],
    );
}

#[test]
fn bad_indentation_names_the_block_it_broke() {
    // A key indented past a sibling that has a value.
    check(
        "exec: x\nrestart:\n  policy: always\n   delay: 1s\n",
        &[(
            4,
            9,
            "bad indentation: line 4 is indented more than \"policy\" (line 3) in the block of \"restart\" (line 2), which has a value already and cannot hold a block: indent it as \"policy\" is (2 spaces) (mapping values are not allowed",
        )],
    );
    // A key indented less than its block's keys.
    check(
        "exec: x\nresources:\n  memory_max: 1G\n cpu_max: 50%\n",
        &[(
            4,
            2,
            "bad indentation: line 4 is indented 1 space, but the keys of \"resources\" (line 2) are indented 2",
        )],
    );
    check(
        "exec: x\nrestart:\n    policy: always\n  delay: 1s\n",
        &[(
            4,
            3,
            "line 4 is indented 2 spaces, but the keys of \"restart\" (line 2) are indented 4",
        )],
    );
    // A top-level key indented under one that has a value.
    check(
        "exec: x\n  restart: always\n",
        &[(
            2,
            10,
            "line 2 is indented more than \"exec\" (line 1) at the top level, which has a value already",
        )],
    );
    check(
        "exec: x\nenv:\n  A: \"1\"\n    B: \"2\"\n",
        &[(4, 5, "in the block of \"env\" (line 2)")],
    );
    // A list broken by a line that is not an item.
    check(
        "exec: x\nhealth:\n  - exec: [a]\n  interval: 1s\n",
        &[(
            4,
            3,
            "line 4 breaks the list of \"health\" (line 2): its items start with \"- \" at 2 spaces",
        )],
    );
    // A tab.
    check(
        "exec: x\nresources:\n\tmemory_max: 1G\n",
        &[(
            3,
            1,
            "line 3 is indented with a tab in the block of \"resources\" (line 2); YAML indents with spaces only",
        )],
    );
}
