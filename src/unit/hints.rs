//! Hints for mistakes that users of other tools make: systemd directive and Docker
//! Compose key names used as unit keys, keys of a block written at the top level, a
//! systemd unit file given as a sup unit, and indentation that breaks a block.

/// Where a key of another tool (systemd, Docker Compose), or of a sup block written at the
/// top level, goes in a sup unit. Compared without case.
const FOREIGN_KEYS: &[(&str, &str)] = &[
    // systemd
    ("execstart", "the command is exec: [PROGRAM, ARG...], or a string run by /bin/sh -c"),
    ("execstartpre", "sup has no separate pre-start command: run it first in exec, e.g. exec: \"pre && exec main\""),
    ("execstop", "use stop.exec: stop: {exec: [PROGRAM, ARG...]}"),
    ("execreload", "sup has no reload command: send a signal with `supctl kill -s HUP UNIT`"),
    ("restart", "use restart: never, on-failure or always"),
    ("restartsec", "use restart.delay: restart: {delay: 5s}"),
    ("user", "use user"),
    ("group", "use group"),
    ("environment", "use env: a map of NAME: value"),
    ("environmentfile", "use env_file"),
    ("workingdirectory", "use working_dir"),
    ("description", "use description"),
    ("type", "use type: simple or oneshot (Type=notify is ready: notify)"),
    ("requires", "use requires"),
    ("wants", "use wants"),
    ("after", "use after"),
    ("before", "use before"),
    ("conflicts", "use conflicts"),
    ("onfailure", "use on_failure"),
    ("timeoutstartsec", "use start_timeout"),
    ("timeoutstopsec", "use stop.timeout: stop: {timeout: 30s}"),
    ("killsignal", "use stop.signal: stop: {signal: SIGINT}"),
    ("umask", "use umask"),
    ("limitnofile", "use rlimits: {nofile: N}"),
    ("memorymax", "use resources.memory_max: resources: {memory_max: 512M}"),
    ("memorylimit", "use resources.memory_max: resources: {memory_max: 512M}"),
    ("memoryhigh", "use resources.memory_high"),
    ("cpuquota", "use resources.cpu_max: resources: {cpu_max: \"50%\"}"),
    ("cpuweight", "use resources.cpu_weight"),
    ("tasksmax", "use resources.pids_max"),
    ("ioweight", "use resources.io_weight"),
    ("nonewprivileges", "use no_new_privileges"),
    ("privatetmp", "use private_tmp: true with namespaces: [mount]"),
    ("privatenetwork", "use namespaces: [net]"),
    ("capabilityboundingset", "use capabilities: [NAME, ...]"),
    ("ambientcapabilities", "use capabilities: [NAME, ...]"),
    ("watchdogsec", "use watchdog"),
    ("wantedby", "sup starts a unit with enabled: true, the default; other units can list it in wants"),
    ("unit", "this looks like a systemd unit: convert it with `sup import FILE.service`"),
    ("service", "this looks like a systemd unit: convert it with `sup import FILE.service`"),
    ("install", "this looks like a systemd unit: convert it with `sup import FILE.service`"),
    // Docker Compose
    ("command", "sup runs exec: [PROGRAM, ARG...]"),
    ("entrypoint", "sup runs exec: [PROGRAM, ARG...]; there is no separate entrypoint"),
    ("image", "sup runs commands, not images: put the program in exec, or run the image with podman or docker in exec"),
    ("build", "sup runs commands, not images: put the program in exec"),
    ("container_name", "the unit's name is its file name (NAME.yaml)"),
    ("restart_policy", "use restart: never, on-failure or always (or a map with policy, delay, limit)"),
    ("depends_on", "use requires (or wants) and after"),
    ("healthcheck", "use health: a list of checks"),
    ("stop_signal", "use stop.signal"),
    ("stop_grace_period", "use stop.timeout"),
    ("mem_limit", "use resources.memory_max"),
    ("cpus", "use resources.cpu_max"),
    ("pids_limit", "use resources.pids_max"),
    ("ulimits", "use rlimits"),
    ("cap_add", "use capabilities: the full list the process keeps"),
    ("cap_drop", "use capabilities: the full list the process keeps"),
    ("deploy", "use instances for replicas and resources for limits"),
    ("replicas", "use instances"),
    ("tmpfs", "use private_tmp: true with namespaces: [mount]"),
    ("ports", "sup does not publish ports: the program listens itself (or use sockets)"),
    ("volumes", "sup does not mount volumes: the unit sees the host's files (root with namespaces: [mount] changes its root)"),
    ("services", "this looks like a Docker Compose file: sup has one unit per file, NAME.yaml with exec"),
    ("version", "this looks like a Docker Compose file: sup has one unit per file, NAME.yaml with exec"),
];

/// Keys of sup blocks, and the block they belong in.
const BLOCK_KEYS: &[(&str, &str)] = &[
    ("cpu_weight", "resources"),
    ("cpu_max", "resources"),
    ("memory_max", "resources"),
    ("memory_high", "resources"),
    ("memory_swap_max", "resources"),
    ("io_weight", "resources"),
    ("io_max", "resources"),
    ("pids_max", "resources"),
    ("policy", "restart"),
    ("delay", "restart"),
    ("max_delay", "restart"),
    ("reset_after", "restart"),
    ("limit", "restart"),
    ("signal", "stop"),
    ("timeout", "stop"),
    ("max_size", "log"),
    ("keep", "log"),
    ("timestamps", "log"),
    ("paths", "watch"),
    ("debounce", "watch"),
    ("nofile", "rlimits"),
    ("nproc", "rlimits"),
    ("core", "rlimits"),
];

/// A hint for an unknown top-level key (`what` is `unit key` or `slice key`).
pub fn key_hint(key: &str, what: &str, keys: &[&str]) -> Option<String> {
    if let Some((_, block)) = BLOCK_KEYS.iter().find(|(k, _)| *k == key) {
        if keys.contains(block) {
            return Some(format!(
                "{key} belongs in the {block} block: {block}: {{{key}: ...}}"
            ));
        }
    }
    if what != "unit key" {
        return None;
    }
    let lower = key.to_ascii_lowercase();
    FOREIGN_KEYS
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, hint)| hint.to_string())
}

/// Whether the text is a systemd unit file (a `[Unit]`, `[Service]` or `[Install]`
/// header line).
pub fn looks_like_systemd(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim();
            matches!(t, "[Unit]" | "[Service]" | "[Install]")
                || ["ExecStart=", "Description=", "Type="]
                    .iter()
                    .any(|k| t.starts_with(k))
        })
        .map(|i| i + 1)
}

/// The message for a systemd unit file read as a sup unit.
pub const SYSTEMD_FILE: &str =
    "this is a systemd unit file (INI), not a sup unit (YAML): convert it with `sup import FILE.service`";

/// For a YAML syntax error at `line` (1-based) that comes from indentation: which block
/// the line broke and how it is indented against it.
pub fn indentation_hint(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let bad = *lines.get(line.checked_sub(1)?)?;
    let lead: String = bad
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let enclosing = |upto: usize, indent: usize| -> Option<(usize, &str)> {
        (0..upto)
            .rev()
            .map(|i| (i, lines[i]))
            .filter(|(_, l)| is_content(l))
            .find(|(_, l)| indent_of(l) < indent)
    };
    if lead.contains('\t') {
        let block = enclosing(line - 1, lead.len())
            .and_then(|(i, l)| {
                key_of(l).map(|k| format!(" in the block of {k:?} (line {})", i + 1))
            })
            .unwrap_or_default();
        return Some(format!(
            "line {line} is indented with a tab{block}; YAML indents with spaces only"
        ));
    }
    let e = lead.len();
    let (p, parent) = enclosing(line - 1, e)?;
    let pkey = key_of(parent)?;
    let pline = p + 1;
    let has_value = !parent
        .trim_end()
        .trim_start_matches(['-', ' '])
        .ends_with(':');
    if has_value {
        // More indented than a key that has a value already.
        let block = enclosing(p, indent_of(parent))
            .and_then(|(i, l)| {
                key_of(l).map(|k| format!(" in the block of {k:?} (line {})", i + 1))
            })
            .unwrap_or_else(|| " at the top level".to_string());
        return Some(format!(
            "line {line} is indented more than {pkey:?} (line {pline}){block}, which has a value already and cannot hold a block: indent it as {pkey:?} is ({})",
            spaces(indent_of(parent))
        ));
    }
    // The first line of the parent's block sets its indentation.
    let first = (p + 1..line - 1)
        .map(|i| lines[i])
        .find(|l| is_content(l))?;
    let k = indent_of(first);
    if first.trim_start().starts_with("- ") && k == e && !bad.trim_start().starts_with('-') {
        return Some(format!(
            "line {line} breaks the list of {pkey:?} (line {pline}): its items start with \"- \" at {k} spaces; indent the line 2 more to add it to the item above"
        ));
    }
    if k != e {
        return Some(format!(
            "line {line} is indented {}, but the keys of {pkey:?} (line {pline}) are indented {k}",
            spaces(e)
        ));
    }
    None
}

fn spaces(n: usize) -> String {
    if n == 1 {
        "1 space".to_string()
    } else {
        format!("{n} spaces")
    }
}

fn is_content(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

/// The key a line starts (`key:` or `- key:`), if it does.
fn key_of(l: &str) -> Option<&str> {
    let t = l.trim_start().trim_start_matches("- ").trim_start();
    let (k, _) = t.split_once(':')?;
    let k = k.trim().trim_matches(['"', '\'']);
    (!k.is_empty() && !k.contains([' ', '{', '['])).then_some(k)
}
