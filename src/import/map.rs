//! The directives of a parsed `.service` file → sup unit keys: the unit as a whole
//! (`convert`), the environment and dependencies here; commands, restart and stop in
//! `exec`; resources, capabilities and rlimits in `limits`.

use super::command::Specifiers;
use super::emit::Y;
use super::exec::{main_exec, restart, stop};
use super::ini::{shorten, Entry};
use super::limits::{capabilities, resources, rlimits};
use super::names;
pub use super::reader::{Note, Reader};
use super::values;
use super::words;

/// The unit as sup keys, and comment lines for the top of the file.
pub struct Converted {
    pub name: String,
    pub keys: Vec<(String, Y)>,
    pub comments: Vec<String>,
}

/// sup's longest duration, in milliseconds (`unit::limits::MAX_DURATION`).
pub(super) const MAX_MS: u64 = 365 * 24 * 3600 * 1000;

/// systemd's stop timeout when none is given (`DefaultTimeoutStopSec=`).
pub(super) const SYSTEMD_STOP_TIMEOUT: &str = "90s";

/// Converts a parsed `.service` file. `Err` is why the file cannot be imported.
pub fn convert(r: &mut Reader, parts: &names::Parts) -> Result<Converted, Note> {
    let stem = parts.full.strip_suffix(".service").unwrap_or(&parts.full);
    let name = names::sup_name(stem).map_err(|text| Note { line: 1, text })?;
    let mut keys: Vec<(String, Y)> = Vec::new();
    let mut comments = Vec::new();
    let mut put = |k: &str, v: Y| keys.push((k.to_string(), v));

    let user = r.last("Service", "User").map(|e| (e.value.clone(), e.line));
    let group = r
        .last("Service", "Group")
        .map(|e| (e.value.clone(), e.line));
    let spec = Specifiers {
        full_name: parts.full.clone(),
        prefix: parts.prefix.clone(),
        instance: parts.instance.clone(),
        user: user.as_ref().map(|u| u.0.clone()),
        group: group.as_ref().map(|g| g.0.clone()),
    };
    if parts.instance.is_empty() && parts.full.contains("@.") {
        // A template: %i has no value; said once if used.
        let uses = r
            .entries
            .iter()
            .find(|e| e.value.contains("%i") || e.value.contains("%I"));
        if let Some(e) = uses {
            r.warn(e.line, "a template unit imported without an instance: %i and %I expand to nothing (import a copy named NAME@INSTANCE.service to give one)".to_string());
        }
    }
    let expand = |r: &mut Reader, line: usize, text: &str| {
        let mut found = Vec::new();
        let out = spec.expand(text, &mut |w| found.push(w));
        for w in found {
            r.warn(line, w);
        }
        out
    };

    // [Unit]
    if let Some(e) = r.last("Unit", "Description") {
        let d = expand(r, e.line, &e.value);
        put("description", Y::Str(d));
    }
    for e in r.all("Unit", "Documentation") {
        comments.push(format!("Documentation: {}", e.value));
    }

    // Type
    let type_entry = r.last("Service", "Type");
    let kind = type_entry.map_or("simple", |e| e.value.as_str());
    let type_line = type_entry.map_or(1, |e| e.line);
    let mut oneshot = false;
    let mut notify = false;
    match kind {
        "simple" | "exec" => {}
        "oneshot" => oneshot = true,
        "notify" => notify = true,
        "notify-reload" => {
            notify = true;
            r.warn(type_line, "Type=notify-reload: imported as ready: notify; sup has no reload action".to_string());
        }
        "forking" => {
            return Err(Note {
                line: type_line,
                text: "Type=forking cannot be imported: the daemon puts itself in the background and sup supervises the process it starts, which exits at once; run the daemon in the foreground (an option like -f, -n, -D or --foreground, or `daemon off;` for nginx), set Type=simple or Type=notify, and import again".to_string(),
            });
        }
        "dbus" => r.warn(type_line, "Type=dbus: imported as a simple service (ready once started); sup has no D-Bus readiness".to_string()),
        "idle" => r.warn(type_line, "Type=idle: imported as a simple service (sup does not delay it until other jobs are done)".to_string()),
        other => r.warn(type_line, format!("Type={other}: unknown type, imported as a simple service")),
    }
    if oneshot {
        put("type", Y::Str("oneshot".to_string()));
    }

    // [Install]
    let mut enabled = false;
    for key in ["WantedBy", "RequiredBy", "UpheldBy"] {
        for (word, line) in r.words("Install", key) {
            if word.ends_with(".target") {
                enabled = true;
            } else {
                r.warn(line, format!("{key}={word}: sup has no reverse dependencies; add this unit to the wants or requires of {word}'s sup unit"));
            }
        }
    }
    if !enabled {
        let line = r
            .entries
            .iter()
            .find(|e| e.section == "Install")
            .map_or(1, |e| e.line);
        r.warn(line, "no WantedBy= or RequiredBy= of a target: a static unit in systemd, imported with enabled: false (it starts as a dependency or by `supctl start`; set enabled: true to start it with sup)".to_string());
        put("enabled", Y::Bool(false));
    }

    // Commands
    let exec = main_exec(r, &spec, oneshot, !names::is_root(spec.user.as_deref()))?;
    put("exec", exec);
    if notify {
        put("ready", Y::Str("notify".to_string()));
    }

    // Process settings
    for (key, who) in [("user", &user), ("group", &group)] {
        if let Some((name, line)) = who {
            let name = expand(r, *line, name);
            if name.is_empty() {
                r.warn(
                    *line,
                    format!("{key}: empty once the specifiers are expanded; not imported"),
                );
            } else {
                put(key, Y::Str(name));
            }
        }
    }
    if let Some(e) = r.last("Service", "WorkingDirectory") {
        let mut dir = expand(r, e.line, &e.value);
        if let Some(rest) = dir.strip_prefix('-') {
            r.warn(e.line, "WorkingDirectory=-…: sup needs the directory to exist (the - prefix made it optional)".to_string());
            dir = rest.to_string();
        }
        if dir == "~" {
            if names::is_root(spec.user.as_deref()) {
                dir = "/root".to_string();
            } else {
                r.warn(
                    e.line,
                    "WorkingDirectory=~: the user's home is only known at run time; not imported"
                        .to_string(),
                );
                dir.clear();
            }
        }
        if dir.starts_with('/') {
            put("working_dir", Y::Str(dir));
        } else if !dir.is_empty() {
            r.warn(
                e.line,
                format!("WorkingDirectory={dir}: not an absolute path; not imported"),
            );
        }
    }
    if let Some(e) = r.last("Service", "UMask") {
        match crate::unit::values::parse_umask(&e.value) {
            Ok(m) => put("umask", Y::Str(format!("{m:04o}"))),
            Err(why) => r.warn(e.line, format!("UMask=: {why}; not imported")),
        }
    }
    let env = environment(r, &spec);
    if !env.is_empty() {
        put("env", Y::Map(env));
    }
    let files = env_files(r, &spec);
    if !files.is_empty() {
        put("env_file", Y::List(files));
    }

    // Restart, timeouts, stop
    if let Some(restart) = restart(r, oneshot) {
        put("restart", restart);
    }
    let timeout_sec = r.last("Service", "TimeoutSec");
    let start = r.last("Service", "TimeoutStartSec").or(timeout_sec);
    match start {
        Some(e) => {
            if let Some(d) = duration(r, e, true) {
                put("start_timeout", Y::Str(d));
            }
        }
        // systemd waits for a oneshot without limit unless told otherwise.
        None if oneshot => put(
            "start_timeout",
            Y::Str(values::duration_text(u64::MAX / 2, MAX_MS)),
        ),
        None => {}
    }
    let stop = stop(r, &spec, timeout_sec, oneshot);
    put("stop", Y::Map(stop));
    if let Some(e) = r.last("Service", "WatchdogSec") {
        if let Some(d) = duration(r, e, false) {
            if notify {
                put("watchdog", Y::Str(d));
            } else {
                r.warn(e.line, "WatchdogSec=: needs Type=notify (sup reads WATCHDOG=1 from the notify socket); not imported".to_string());
            }
        }
    }

    // Dependencies
    for (key, sup_key) in [
        ("Requires", "requires"),
        ("Wants", "wants"),
        ("After", "after"),
        ("Before", "before"),
        ("Conflicts", "conflicts"),
        ("OnFailure", "on_failure"),
        ("BindsTo", "requires"),
    ] {
        let list = dependencies(r, key, &spec, &name);
        if key == "BindsTo" && !list.is_empty() {
            let line = r.last("Unit", "BindsTo").map_or(1, |e| e.line);
            r.warn(line, "BindsTo=: imported as requires (sup also stops this unit when a required one stops or fails, but not when it merely becomes inactive)".to_string());
        }
        if list.is_empty() {
            continue;
        }
        match keys.iter_mut().find(|(k, _)| k == sup_key) {
            Some((_, Y::List(existing))) => {
                for n in list {
                    if !existing.contains(&n) {
                        existing.push(n);
                    }
                }
            }
            _ => keys.push((sup_key.to_string(), Y::List(list))),
        }
    }

    // Resources and isolation
    let res = resources(r);
    if !res.is_empty() {
        keys.push(("resources".to_string(), Y::Map(res)));
    }
    let mut namespaces = Vec::new();
    let private_tmp = r.boolean("Service", "PrivateTmp");
    if let Some((true, _)) = private_tmp {
        namespaces.push("mount".to_string());
    }
    if let Some((true, _)) = r.boolean("Service", "PrivateNetwork") {
        namespaces.push("net".to_string());
    }
    if !namespaces.is_empty() {
        keys.push(("namespaces".to_string(), Y::List(namespaces)));
    }
    if let Some((true, _)) = private_tmp {
        keys.push(("private_tmp".to_string(), Y::Bool(true)));
    }
    if let Some(caps) = capabilities(r, spec.user.as_deref()) {
        keys.push(("capabilities".to_string(), Y::List(caps)));
    }
    if let Some((b, _)) = r.boolean("Service", "NoNewPrivileges") {
        keys.push(("no_new_privileges".to_string(), Y::Bool(b)));
    }
    let limits = rlimits(r);
    if !limits.is_empty() {
        keys.push(("rlimits".to_string(), Y::Map(limits)));
    }
    standard_io(r);
    if let Some((true, line)) = r.boolean("Service", "IgnoreSIGPIPE") {
        r.warn(
            line,
            "IgnoreSIGPIPE=yes: sup starts processes with SIGPIPE at its default action"
                .to_string(),
        );
    }
    if let Some(e) = r.last("Unit", "DefaultDependencies") {
        if values::boolean(&e.value) == Some(true) {
            r.warn(e.line, "DefaultDependencies=yes: sup adds no implicit ordering (after sysinit.target, before shutdown.target)".to_string());
        }
    }
    if let Some(e) = r.last("Service", "KillMode") {
        if e.value != "mixed" {
            r.warn(e.line, format!("KillMode={}: sup sends stop.signal to the main process only, then SIGKILL to every process of the unit after stop.timeout (KillMode=mixed)", e.value));
        }
    }
    if let Some(e) = r.last("Service", "RemainAfterExit") {
        if !oneshot || values::boolean(&e.value) != Some(true) {
            r.warn(
                e.line,
                format!(
                    "RemainAfterExit={}: {}",
                    e.value, "a finished sup oneshot stays done; sup has no other form of it"
                ),
            );
        }
    }
    if let Some(e) = r.last("Service", "NotifyAccess") {
        if !matches!(e.value.as_str(), "main" | "all" | "exec") {
            r.warn(
                e.line,
                format!(
                    "NotifyAccess={}: sup accepts notifications from the unit's processes",
                    e.value
                ),
            );
        }
    }
    r.report_unused();
    Ok(Converted {
        name,
        keys,
        comments,
    })
}

/// A `*Sec=` value in sup's form; `infinity` and (for timeouts) 0 become sup's maximum.
pub(super) fn duration(r: &mut Reader, e: &Entry, zero_is_infinity: bool) -> Option<String> {
    match values::timespan_us(&e.value, 1_000_000) {
        Ok(None) => Some(values::duration_text(u64::MAX / 2, MAX_MS)),
        Ok(Some(0)) if zero_is_infinity => Some(values::duration_text(u64::MAX / 2, MAX_MS)),
        Ok(Some(us)) => {
            if us / 1000 > MAX_MS {
                r.warn(
                    e.line,
                    format!(
                        "{}={}: longer than sup's maximum, 8760h; capped",
                        e.key, e.value
                    ),
                );
            }
            Some(values::duration_text(us, MAX_MS))
        }
        Err(why) => {
            r.warn(e.line, format!("{}=: {why}; not imported", e.key));
            None
        }
    }
}

/// `Environment=`: `KEY=VALUE` words, accumulated, an empty assignment resetting them.
fn environment(r: &mut Reader, spec: &Specifiers) -> Vec<(String, Y)> {
    let mut env: Vec<(String, Y)> = Vec::new();
    for e in r.all("Service", "Environment") {
        if e.value.is_empty() {
            env.clear();
            continue;
        }
        let ws = match words::split(&e.value) {
            Ok(ws) => ws,
            Err(why) => {
                r.warn(e.line, format!("Environment=: {why}; not imported"));
                continue;
            }
        };
        for w in ws {
            let mut found = Vec::new();
            let text = spec.expand_word(&w, &mut |x| found.push(x)).text;
            for x in found {
                r.warn(e.line, format!("Environment=: {x}"));
            }
            match text.split_once('=') {
                Some((k, v)) if valid_env_name(k) => {
                    env.retain(|(name, _)| name != k);
                    env.push((k.to_string(), Y::Str(v.to_string())));
                }
                _ => r.warn(
                    e.line,
                    format!(
                        "Environment=: {} is not NAME=VALUE with a valid name; not imported",
                        shorten(&text)
                    ),
                ),
            }
        }
    }
    env
}

fn valid_env_name(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `EnvironmentFile=`: a `-` prefix (optional file) is kept when the file exists now and
/// dropped when it does not, with a warning either way: sup needs its env files to exist.
fn env_files(r: &mut Reader, spec: &Specifiers) -> Vec<String> {
    let mut out = Vec::new();
    for e in r.accumulated("Service", "EnvironmentFile") {
        let value = spec.expand(&e.value, &mut |_| {});
        let (optional, path) = match value.strip_prefix('-') {
            Some(p) => (true, p.to_string()),
            None => (false, value),
        };
        if !path.starts_with('/') {
            r.warn(
                e.line,
                format!("EnvironmentFile={path}: not an absolute path; not imported"),
            );
            continue;
        }
        if optional {
            if std::path::Path::new(&path).exists() {
                r.warn(e.line, format!("EnvironmentFile=-{path}: optional in systemd, but sup needs it to exist when the unit starts (it exists here, so it is kept)"));
            } else {
                r.warn(e.line, format!("EnvironmentFile=-{path}: optional and missing on this machine, so not imported (sup needs an env_file to exist; add it back when the file exists)"));
                continue;
            }
        }
        out.push(path);
    }
    out
}

/// Dependency names: services become sup names, other unit types are dropped with a
/// warning.
fn dependencies(r: &mut Reader, key: &str, spec: &Specifiers, own: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (word, line) in r.words("Unit", key) {
        let word = spec.expand(&word, &mut |_| {});
        match names::dependency(&word) {
            Ok(n) if n == own => r.warn(
                line,
                format!("{key}={word}: names this unit itself; dropped"),
            ),
            Ok(n) => {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            Err(kind) => r.warn(
                line,
                format!("{key}={word}: sup has no {kind} units; dropped"),
            ),
        }
    }
    out
}

/// `StandardInput/Output/Error=`: sup logs output to the unit's log file, which is what
/// `journal` and `inherit` come to; other targets are warnings.
fn standard_io(r: &mut Reader) {
    for (key, fine) in [
        (
            "StandardOutput",
            &[
                "journal",
                "inherit",
                "journal+console",
                "kmsg",
                "kmsg+console",
            ][..],
        ),
        (
            "StandardError",
            &[
                "journal",
                "inherit",
                "journal+console",
                "kmsg",
                "kmsg+console",
            ][..],
        ),
        ("StandardInput", &["null"][..]),
    ] {
        if let Some(e) = r.last("Service", key) {
            if !fine.contains(&e.value.as_str()) {
                r.warn(e.line, format!("{key}={}: sup gives a unit /dev/null as input and logs its output to the unit's log file (log: in sup); not imported", e.value));
            }
        }
    }
}

/// Orders the notes by line, for reading.
pub fn sort_notes(notes: &mut [Note]) {
    notes.sort_by_key(|n| n.line);
}
