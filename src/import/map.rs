//! The directives of a parsed `.service` file → sup unit keys. Every assignment is either
//! used (`Reader` marks it) or reported: what is left unused at the end becomes a warning
//! with the reason from `unmapped_reason`, so nothing is dropped without a word.

use super::command::{self, Command, Specifiers};
use super::emit::Y;
use super::ini::{shorten, Entry};
use super::names;
use super::values::{self, LimitKind};
use super::words;
use crate::unit::limits::MAX_BURST;

/// A warning (or the reason for refusing the file) at a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub line: usize,
    pub text: String,
}

/// The unit as sup keys, and comment lines for the top of the file.
pub struct Converted {
    pub name: String,
    pub keys: Vec<(String, Y)>,
    pub comments: Vec<String>,
}

/// sup's longest duration, in milliseconds (`unit::limits::MAX_DURATION`).
const MAX_MS: u64 = 365 * 24 * 3600 * 1000;

/// systemd's stop timeout when none is given (`DefaultTimeoutStopSec=`).
const SYSTEMD_STOP_TIMEOUT: &str = "90s";

/// The assignments of one file, each marked when a mapping has used it.
pub struct Reader<'a> {
    entries: &'a [Entry],
    used: Vec<bool>,
    pub notes: Vec<Note>,
}

impl<'a> Reader<'a> {
    pub fn new(entries: &'a [Entry]) -> Self {
        Reader {
            entries,
            used: vec![false; entries.len()],
            notes: Vec::new(),
        }
    }

    pub fn warn(&mut self, line: usize, text: String) {
        self.notes.push(Note { line, text });
    }

    /// Every assignment of `key` in `section`, in order, now marked used.
    fn all(&mut self, section: &str, key: &str) -> Vec<&'a Entry> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.section == section && e.key == key {
                self.used[i] = true;
                out.push(e);
            }
        }
        out
    }

    /// The value in force: the last assignment, `None` if absent or reset to empty.
    fn last(&mut self, section: &str, key: &str) -> Option<&'a Entry> {
        self.all(section, key).pop().filter(|e| !e.value.is_empty())
    }

    /// The assignments in force of a list directive: an empty one resets the list.
    fn accumulated(&mut self, section: &str, key: &str) -> Vec<&'a Entry> {
        let mut out = Vec::new();
        for e in self.all(section, key) {
            if e.value.is_empty() {
                out.clear();
            } else {
                out.push(e);
            }
        }
        out
    }

    /// The words of a list directive (quotes honoured), each with its line.
    fn words(&mut self, section: &str, key: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for e in self.accumulated(section, key) {
            match words::split(&e.value) {
                Ok(ws) => out.extend(ws.into_iter().map(|w| (w.text, e.line))),
                Err(why) => self.warn(e.line, format!("{key}=: {why}; not imported")),
            }
        }
        out
    }

    /// A boolean directive; a bad value is a warning.
    fn boolean(&mut self, section: &str, key: &str) -> Option<(bool, usize)> {
        let e = self.last(section, key)?;
        match values::boolean(&e.value) {
            Some(b) => Some((b, e.line)),
            None => {
                self.warn(
                    e.line,
                    format!("{key}={}: not a boolean; not imported", e.value),
                );
                None
            }
        }
    }

    /// Warnings for every assignment no mapping used.
    fn report_unused(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            if !self.used[i] {
                let text = format!(
                    "[{}] {}={}: {}",
                    e.section,
                    e.key,
                    short_value(&e.value),
                    unmapped_reason(&e.section, &e.key)
                );
                self.notes.push(Note { line: e.line, text });
            }
        }
    }
}

fn short_value(v: &str) -> String {
    if v.chars().count() > 60 {
        let cut: String = v.chars().take(60).collect();
        format!("{cut}…")
    } else {
        v.to_string()
    }
}

/// Why a directive is not imported.
fn unmapped_reason(section: &str, key: &str) -> String {
    let known: &[(&str, &str)] = &[
        ("ExecReload", "sup has no reload action; send the unit a signal with `supctl kill -s HUP UNIT`"),
        ("ExecStartPost", "sup has no command after start; use a readiness probe or a unit ordered after this one"),
        ("ExecStopPost", "sup has no command after stop; use on_failure or a oneshot unit"),
        ("ExecCondition", "sup has no start condition; not imported"),
        ("PIDFile", "sup supervises the process it starts and never reads PID files"),
        ("KillMode", "sup sends stop.signal to the main process, then SIGKILL to every process of the unit after stop.timeout (KillMode=mixed); other modes have no equivalent"),
        ("RestartPreventExitStatus", "sup has no exit statuses that prevent restarting"),
        ("RestartForceExitStatus", "sup has no exit statuses that force restarting"),
        ("SuccessExitStatus", "sup counts only exit code 0 as success"),
        ("RemainAfterExit", "a finished sup oneshot stays done (RemainAfterExit=yes); =no has no equivalent"),
        ("Alias", "sup units have one name (their file name)"),
        ("Also", "sup has no install step"),
        ("DefaultInstance", "sup has no template units"),
        ("DynamicUser", "sup has no dynamic users; set user to an existing account"),
        ("SupplementaryGroups", "sup sets the user's own supplementary groups only"),
        ("Nice", "sup has no nice setting; wrap the command in `nice -n N`"),
        ("OOMScoreAdjust", "sup has no OOM score setting"),
        ("Slice", "a systemd slice is not a sup slice: write a slice file (kind: slice) and set slice"),
        ("SyslogIdentifier", "sup logs a unit's output to its own log file"),
        ("IgnoreSIGPIPE", "sup starts processes with SIGPIPE at its default action (IgnoreSIGPIPE=no)"),
        ("SendSIGKILL", "sup always ends a stop with SIGKILL to the unit's remaining processes"),
        ("RestartSteps", "sup doubles the restart delay per failure up to restart.max_delay"),
        ("DefaultDependencies", "sup adds no implicit dependencies (the effect of DefaultDependencies=no)"),
        ("BusName", "sup has no D-Bus readiness; the unit is ready once started"),
        ("NotifyAccess", "sup accepts notifications from the unit's processes (NotifyAccess=all)"),
    ];
    if let Some((_, why)) = known.iter().find(|(k, _)| *k == key) {
        return format!("not imported: {why}");
    }
    if key.starts_with("X-") || section.starts_with("X-") {
        return "not imported: an extension directive (X-), which systemd ignores too".to_string();
    }
    if !["Unit", "Service", "Install"].contains(&section) {
        return format!("not imported: sup has no [{section}] section");
    }
    if key.starts_with("Condition") || key.starts_with("Assert") {
        return "not imported: sup has no start conditions; the unit always starts".to_string();
    }
    if key.starts_with("Protect")
        || key.starts_with("Private")
        || key.starts_with("Restrict")
        || key.starts_with("System")
        || key.ends_with("Paths")
        || key.ends_with("Directory")
        || key.ends_with("DirectoryMode")
        || key.starts_with("Lock")
        || key.starts_with("Memory")
        || key.starts_with("IP")
    {
        return "not imported: sup has no equivalent of this sandboxing or resource setting"
            .to_string();
    }
    "not imported: no sup equivalent".to_string()
}

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
    let exec = main_exec(r, &spec, oneshot, user.is_some())?;
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
    let stop = stop(r, &spec, timeout_sec);
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
        let list = dependencies(r, key, &spec);
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
fn duration(r: &mut Reader, e: &Entry, zero_is_infinity: bool) -> Option<String> {
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

/// Parses every `KEY=` command line in force; a bad one is a warning.
fn commands(r: &mut Reader, key: &str, spec: &Specifiers) -> Vec<(Command, usize)> {
    let mut out = Vec::new();
    for e in r.accumulated("Service", key) {
        let mut found = Vec::new();
        let parsed = command::parse(&e.value, spec, &mut |w| found.push(w));
        for w in found {
            r.warn(e.line, format!("{key}=: {w}"));
        }
        match parsed {
            Ok(cs) => out.extend(cs.into_iter().map(|c| (c, e.line))),
            Err(why) => r.warn(
                e.line,
                format!("{key}={}: {why}; not imported", shorten(&e.value)),
            ),
        }
    }
    out
}

/// Warnings for the prefixes sup cannot honour.
fn prefix_warnings(r: &mut Reader, key: &str, c: &Command, line: usize) {
    if let Some(argv0) = &c.argv0 {
        r.warn(
            line,
            format!(
                "{key}=@…: argv[0] {argv0:?} is not kept (sup passes the program path as argv[0])"
            ),
        );
    }
    if let Some(p) = c.privileged {
        r.warn(line, format!("{key}={p}…: sup runs every command of a unit with the unit's user, capabilities and namespaces"));
    }
}

/// `exec`: ExecStart (with ExecStartPre and the runtime directories before it, and
/// variables left to `/bin/sh`). `Err` refuses the file.
fn main_exec(r: &mut Reader, spec: &Specifiers, oneshot: bool, has_user: bool) -> Result<Y, Note> {
    let starts_raw = r.accumulated("Service", "ExecStart");
    let first_line = starts_raw.first().map_or(1, |e| e.line);
    let mut main = Vec::new();
    for e in &starts_raw {
        let mut found = Vec::new();
        let parsed = command::parse(&e.value, spec, &mut |w| found.push(w));
        for w in found {
            r.warn(e.line, format!("ExecStart=: {w}"));
        }
        match parsed {
            Ok(cs) => main.extend(cs.into_iter().map(|c| (c, e.line))),
            Err(why) => {
                return Err(Note {
                    line: e.line,
                    text: format!("ExecStart={}: {why}", shorten(&e.value)),
                })
            }
        }
    }
    if main.is_empty() {
        return Err(Note {
            line: first_line,
            text: "no ExecStart=: nothing to run (sup needs a command)".to_string(),
        });
    }
    if main.len() > 1 && !oneshot {
        return Err(Note {
            line: main[1].1,
            text: "more than one ExecStart= command: only Type=oneshot may have several (systemd refuses this unit too)".to_string(),
        });
    }
    let pre = commands(r, "ExecStartPre", spec);
    let mut setup = Vec::new();
    for (key, base) in [
        ("RuntimeDirectory", "/run"),
        ("StateDirectory", "/var/lib"),
        ("CacheDirectory", "/var/cache"),
        ("LogsDirectory", "/var/log"),
        ("ConfigurationDirectory", "/etc"),
    ] {
        let mode_key = format!("{key}Mode");
        let mode = r.last("Service", &mode_key).map(|e| e.value.clone());
        let dirs = r.words("Service", key);
        for (dir, line) in dirs {
            let dir = spec.expand(&dir, &mut |_| {});
            let dir = dir.split(':').next().unwrap_or_default().to_string();
            if dir.is_empty() || dir.starts_with('/') || dir.split('/').any(|p| p == "..") {
                r.warn(
                    line,
                    format!("{key}={dir}: not a relative path; not imported"),
                );
                continue;
            }
            if has_user {
                r.warn(line, format!("{key}={dir}: sup does not create {base}/{dir} for the unit's user; create it (owned by that user) before starting, e.g. with a oneshot unit this one requires"));
                continue;
            }
            let mode = mode.as_deref().unwrap_or("0755");
            if crate::unit::values::parse_umask(mode).is_err() {
                r.warn(
                    line,
                    format!("{mode_key}={mode}: not an octal mode; using 0755"),
                );
            }
            let mode = if crate::unit::values::parse_umask(mode).is_ok() {
                mode
            } else {
                "0755"
            };
            setup.push(format!(
                "mkdir -p -m {} {}",
                command::shell_quote(mode),
                command::shell_quote(&format!("{base}/{dir}"))
            ));
        }
    }
    for (c, line) in &pre {
        prefix_warnings(r, "ExecStartPre", c, *line);
    }
    for (c, line) in &main {
        prefix_warnings(r, "ExecStart", c, *line);
    }
    let last = main.len() - 1;
    if !oneshot && main[last].0.ignore_failure {
        r.warn(main[last].1, "ExecStart=-…: sup counts a failing exit of a service as a failure (the - prefix has no equivalent for a service)".to_string());
    }
    let needs_shell = !pre.is_empty()
        || !setup.is_empty()
        || main.len() > 1
        || main
            .iter()
            .any(|(c, _)| !c.variables().is_empty() || (oneshot && c.ignore_failure));
    if !needs_shell {
        let argv = main[0].0.plain_argv().unwrap_or_default();
        return Ok(Y::List(argv));
    }
    let guarded = |c: &Command| {
        if c.ignore_failure {
            format!("{{ {} || true; }}", c.shell())
        } else {
            c.shell()
        }
    };
    let mut steps = setup;
    steps.extend(pre.iter().map(|(c, _)| guarded(c)));
    for (i, (c, _)) in main.iter().enumerate() {
        if i == last && !(oneshot && c.ignore_failure) {
            // exec: the daemon itself is the unit's main process (signals, notify).
            steps.push(format!("exec {}", c.shell()));
        } else {
            steps.push(guarded(c));
        }
    }
    Ok(Y::Str(steps.join(" && ")))
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

/// `Restart=`, `RestartSec=`, `RestartMaxDelaySec=`, `StartLimit*=`.
fn restart(r: &mut Reader, oneshot: bool) -> Option<Y> {
    let mut policy = None;
    if let Some(e) = r.last("Service", "Restart") {
        let (p, note) = match e.value.as_str() {
            "no" => ("never", None),
            "always" => ("always", None),
            "on-failure" => ("on-failure", None),
            "on-abnormal" | "on-abort" | "on-watchdog" => (
                "on-failure",
                Some("imported as on-failure, which also restarts after a non-zero exit code"),
            ),
            "on-success" => (
                "never",
                Some("sup cannot restart only after a clean exit; imported as never"),
            ),
            _ => ("never", Some("unknown value; imported as never")),
        };
        if let Some(n) = note {
            r.warn(e.line, format!("Restart={}: {n}", e.value));
        }
        policy = Some(p);
    }
    let mut map: Vec<(String, Y)> = Vec::new();
    let delay = r.last("Service", "RestartSec").and_then(|e| {
        let d = values::timespan_us(&e.value, 1_000_000);
        match d {
            Ok(Some(us)) => Some(us),
            _ => {
                r.warn(
                    e.line,
                    format!(
                        "RestartSec={}: not a finite time span; not imported",
                        e.value
                    ),
                );
                None
            }
        }
    });
    let max_delay =
        r.last("Service", "RestartMaxDelaySec").and_then(|e| {
            match values::timespan_us(&e.value, 1_000_000) {
                Ok(Some(us)) => Some(us),
                _ => {
                    r.warn(
                        e.line,
                        format!(
                            "RestartMaxDelaySec={}: not a finite time span; not imported",
                            e.value
                        ),
                    );
                    None
                }
            }
        });
    let burst = ["Unit", "Service"]
        .iter()
        .filter_map(|s| r.last(s, "StartLimitBurst"))
        .max_by_key(|e| e.line);
    let interval = [
        ("Unit", "StartLimitIntervalSec"),
        ("Service", "StartLimitInterval"),
        ("Unit", "StartLimitInterval"),
        ("Service", "StartLimitIntervalSec"),
    ]
    .iter()
    .filter_map(|(s, k)| r.last(s, k))
    .max_by_key(|e| e.line);
    if policy.is_none() && !oneshot {
        // systemd's default is Restart=no; sup's default for a service is on-failure.
        policy = Some("never");
    }
    if let Some(p) = policy {
        map.push(("policy".to_string(), Y::Str(p.to_string())));
    }
    let sup_max_delay_us = 30_000_000;
    if let Some(us) = delay {
        map.push((
            "delay".to_string(),
            Y::Str(values::duration_text(us, MAX_MS)),
        ));
        if max_delay.is_none() && us > sup_max_delay_us {
            map.push((
                "max_delay".to_string(),
                Y::Str(values::duration_text(us, MAX_MS)),
            ));
        }
    }
    if let Some(us) = max_delay {
        let us = us.max(delay.unwrap_or(0));
        map.push((
            "max_delay".to_string(),
            Y::Str(values::duration_text(us, MAX_MS)),
        ));
    }
    if burst.is_some() || interval.is_some() {
        // One given: the other is systemd's default (5 in 10s).
        let mut b = 5u64;
        if let Some(e) = burst {
            match e.value.parse::<u64>() {
                Ok(n) if n >= 1 => b = n.min(MAX_BURST),
                _ => r.warn(
                    e.line,
                    format!(
                        "StartLimitBurst={}: not a positive number; using 5",
                        e.value
                    ),
                ),
            }
        }
        let mut i_us = 10_000_000u64;
        if let Some(e) = interval {
            match values::timespan_us(&e.value, 1_000_000) {
                Ok(Some(0)) | Ok(None) => {
                    // No rate limit in systemd: sup always has one, so the loosest.
                    b = MAX_BURST;
                    i_us = 1_000_000;
                    r.warn(e.line, format!("{}={}: systemd's \"no limit\"; sup always limits restarts, imported as {MAX_BURST} starts in 1s", e.key, e.value));
                }
                Ok(Some(us)) => i_us = us.max(1000),
                Err(why) => r.warn(e.line, format!("{}=: {why}; using 10s", e.key)),
            }
        }
        map.push((
            "limit".to_string(),
            Y::Map(vec![
                ("burst".to_string(), Y::Int(b)),
                (
                    "interval".to_string(),
                    Y::Str(values::duration_text(i_us, MAX_MS)),
                ),
            ]),
        ));
    }
    match map.len() {
        0 => None,
        1 if map[0].0 == "policy" => Some(map.remove(0).1),
        _ => Some(Y::Map(map)),
    }
}

/// `stop`: ExecStop, KillSignal, TimeoutStopSec (systemd's 90s when not given).
fn stop(r: &mut Reader, spec: &Specifiers, timeout_sec: Option<&Entry>) -> Vec<(String, Y)> {
    let mut map = Vec::new();
    let mut signal = None;
    if let Some(e) = r.last("Service", "KillSignal") {
        match crate::unit::values::parse_signal(&e.value) {
            Ok(_) => signal = Some(e.value.clone()),
            Err(why) => r.warn(e.line, format!("KillSignal=: {why}; not imported")),
        }
    }
    let stops = commands(r, "ExecStop", spec);
    let mut exec: Option<Y> = None;
    if stops.len() == 1 {
        if let Some(sig) = kill_mainpid(&stops[0].0) {
            // `kill -SIG $MAINPID` is what sup's stop.signal does.
            if signal.is_none() {
                signal = Some(sig);
            } else {
                r.warn(stops[0].1, "ExecStop=kill … $MAINPID: sup sends stop.signal to the main process itself; KillSignal= is used".to_string());
            }
        } else {
            exec = Some(stop_exec(r, &stops));
        }
    } else if !stops.is_empty() {
        exec = Some(stop_exec(r, &stops));
    }
    if let Some(s) = signal {
        map.push(("signal".to_string(), Y::Str(s)));
    }
    let timeout = r.last("Service", "TimeoutStopSec").or(timeout_sec);
    match timeout {
        Some(e) => {
            if let Some(d) = duration(r, e, true) {
                map.push(("timeout".to_string(), Y::Str(d)));
            }
        }
        None => map.push((
            "timeout".to_string(),
            Y::Str(SYSTEMD_STOP_TIMEOUT.to_string()),
        )),
    }
    if let Some(x) = exec {
        map.push(("exec".to_string(), x));
    }
    map
}

fn stop_exec(r: &mut Reader, stops: &[(Command, usize)]) -> Y {
    for (c, line) in stops {
        prefix_warnings(r, "ExecStop", c, *line);
        if c.variables().contains(&"MAINPID") {
            r.warn(*line, "ExecStop=: sup does not set $MAINPID for the stop command (it sends stop.signal to the main process after it)".to_string());
        }
    }
    if stops.len() == 1 {
        if let Some(argv) = stops[0].0.plain_argv() {
            return Y::List(argv);
        }
    }
    let script: Vec<String> = stops.iter().map(|(c, _)| c.shell()).collect();
    Y::List(vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        script.join("; "),
    ])
}

/// The signal of `kill [-s] -SIG $MAINPID` (or `kill $MAINPID`: TERM).
fn kill_mainpid(c: &Command) -> Option<String> {
    use super::command::{Arg, Piece};
    let lit = |a: &Arg| match a {
        Arg::Pieces(p) if p.len() == 1 => match &p[0] {
            Piece::Lit(s) => Some(s.clone()),
            Piece::Var(_) => None,
        },
        _ => None,
    };
    let is_mainpid = |a: &Arg| match a {
        Arg::Split(v) => v == "MAINPID",
        Arg::Pieces(p) => p == &[Piece::Var("MAINPID".to_string())],
    };
    let prog = lit(c.args.first()?)?;
    if prog.rsplit('/').next() != Some("kill") || !is_mainpid(c.args.last()?) {
        return None;
    }
    let middle: Vec<String> = c.args[1..c.args.len() - 1]
        .iter()
        .map(lit)
        .collect::<Option<_>>()?;
    let sig = match middle.as_slice() {
        [] => "TERM".to_string(),
        [flag, s] if flag == "-s" => s.clone(),
        [s] if s.starts_with('-') => s[1..].to_string(),
        _ => return None,
    };
    crate::unit::values::parse_signal(&sig).ok().map(|_| sig)
}

/// Dependency names: services become sup names, other unit types are dropped with a
/// warning.
fn dependencies(r: &mut Reader, key: &str, spec: &Specifiers) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (word, line) in r.words("Unit", key) {
        let word = spec.expand(&word, &mut |_| {});
        match names::dependency(&word) {
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

/// `resources`: MemoryMax (MemoryLimit), MemoryHigh, MemorySwapMax, CPUQuota, CPUWeight,
/// TasksMax, IOWeight.
fn resources(r: &mut Reader) -> Vec<(String, Y)> {
    let mut out: Vec<(String, Y)> = Vec::new();
    let memory_max = r
        .last("Service", "MemoryMax")
        .or_else(|| r.last("Service", "MemoryLimit"));
    let _ = r.all("Service", "MemoryLimit");
    for (entry, key) in [
        (memory_max, "memory_max"),
        (r.last("Service", "MemoryHigh"), "memory_high"),
        (r.last("Service", "MemorySwapMax"), "memory_swap_max"),
    ] {
        let Some(e) = entry else { continue };
        if e.value.ends_with('%') {
            r.warn(
                e.line,
                format!(
                    "{}={}: a share of the machine's memory; sup needs a size; not imported",
                    e.key, e.value
                ),
            );
            continue;
        }
        match values::size(&e.value) {
            Ok(None) => {}
            Ok(Some(bytes)) => match crate::unit::values::parse_size(&values::size_text(bytes)) {
                Ok(_) => out.push((key.to_string(), Y::Str(values::size_text(bytes)))),
                Err(why) => r.warn(e.line, format!("{}=: {why}; not imported", e.key)),
            },
            Err(why) => r.warn(e.line, format!("{}=: {why}; not imported", e.key)),
        }
    }
    if let Some(e) = r.last("Service", "CPUQuota") {
        match crate::unit::values::parse_cpu(&e.value) {
            Ok(_) if e.value.ends_with('%') => {
                out.push(("cpu_max".to_string(), Y::Str(e.value.clone())))
            }
            Ok(_) | Err(_) => r.warn(
                e.line,
                format!(
                    "CPUQuota={}: not a percentage sup accepts; not imported",
                    e.value
                ),
            ),
        }
    }
    for (key, sup_key, max) in [
        ("CPUWeight", "cpu_weight", 10_000u64),
        ("IOWeight", "io_weight", 10_000),
        ("TasksMax", "pids_max", crate::unit::limits::MAX_PIDS),
    ] {
        let Some(e) = r.last("Service", key) else {
            continue;
        };
        if e.value == "infinity" && key == "TasksMax" {
            continue;
        }
        match e.value.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => out.push((sup_key.to_string(), Y::Int(n))),
            _ => r.warn(
                e.line,
                format!(
                    "{key}={}: sup needs a number from 1 to {max}; not imported",
                    e.value
                ),
            ),
        }
    }
    let io = io_max(r);
    if !io.is_empty() {
        out.push(("io_max".to_string(), Y::Maps(io)));
    }
    out
}

/// `IO{Read,Write}{Bandwidth,IOPS}Max=DEVICE VALUE` → `resources.io_max`, one entry per
/// device. systemd reads these sizes with 1000-based suffixes.
fn io_max(r: &mut Reader) -> Vec<Vec<(String, Y)>> {
    let mut devices: Vec<(String, Vec<(String, Y)>)> = Vec::new();
    for (key, field) in [
        ("IOReadBandwidthMax", "rbps"),
        ("IOWriteBandwidthMax", "wbps"),
        ("IOReadIOPSMax", "riops"),
        ("IOWriteIOPSMax", "wiops"),
    ] {
        for e in r.accumulated("Service", key) {
            let Some((device, value)) = e.value.rsplit_once([' ', '\t']) else {
                r.warn(
                    e.line,
                    format!("{key}={}: expected DEVICE VALUE; not imported", e.value),
                );
                continue;
            };
            let device = device.trim();
            if !device.starts_with("/dev/") {
                r.warn(e.line, format!("{key}={}: sup needs a block device (/dev/...), not a file on it; not imported", e.value));
                continue;
            }
            let value = value.trim();
            if value == "infinity" {
                continue;
            }
            let Some(n) =
                decimal_size(value).filter(|n| *n >= 1 && *n <= crate::unit::limits::MAX_SIZE)
            else {
                r.warn(
                    e.line,
                    format!("{key}={}: invalid value {value:?}; not imported", e.value),
                );
                continue;
            };
            let entry = match devices.iter_mut().find(|(d, _)| d == device) {
                Some(entry) => entry,
                None => {
                    devices.push((device.to_string(), Vec::new()));
                    devices.last_mut().expect("just pushed")
                }
            };
            entry.1.retain(|(k, _)| k != field);
            entry.1.push((field.to_string(), Y::Int(n)));
        }
    }
    devices
        .into_iter()
        .map(|(device, mut fields)| {
            fields.insert(0, ("device".to_string(), Y::Str(device)));
            fields
        })
        .collect()
}

/// A number with an optional 1000-based suffix `K M G T`.
fn decimal_size(s: &str) -> Option<u64> {
    let (number, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'G' => (&s[..s.len() - 1], 1e9),
        'T' => (&s[..s.len() - 1], 1e12),
        _ => (s, 1.0),
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = number.parse().ok()?;
    let v = v * mult;
    (v.is_finite() && v < u64::MAX as f64).then(|| v.round() as u64)
}

/// `CapabilityBoundingSet=` and `AmbientCapabilities=` → `capabilities`, the set the
/// process keeps: the ambient set for a user other than root, the bounding set for root.
fn capabilities(r: &mut Reader, user: Option<&str>) -> Option<Vec<String>> {
    let all: Vec<String> = crate::unit::values::CAPABILITIES
        .iter()
        .map(|c| c.to_string())
        .collect();
    let read = |r: &mut Reader, key: &str| -> Option<(Vec<String>, usize)> {
        let entries = r.all("Service", key);
        let line = entries.last()?.line;
        let mut set: Option<Vec<String>> = None;
        for e in entries {
            let (invert, list) = match e.value.strip_prefix('~') {
                Some(rest) => (true, rest),
                None => (false, e.value.as_str()),
            };
            if list.trim().is_empty() && !invert {
                set = Some(Vec::new());
                continue;
            }
            let mut named = Vec::new();
            for w in list.split_whitespace() {
                match crate::unit::values::parse_capability(w) {
                    Ok(c) => named.push(c),
                    Err(why) => r.warn(e.line, format!("{key}=: {why}; skipped")),
                }
            }
            let current = set.take();
            set = Some(if invert {
                let base = current.unwrap_or_else(|| all.clone());
                base.into_iter().filter(|c| !named.contains(c)).collect()
            } else {
                let mut base = current.unwrap_or_default();
                for c in named {
                    if !base.contains(&c) {
                        base.push(c);
                    }
                }
                base
            });
        }
        set.map(|s| (s, line))
    };
    let bounding = read(r, "CapabilityBoundingSet");
    let ambient = read(r, "AmbientCapabilities");
    let root = names::is_root(user);
    let keep = |set: Vec<String>| -> Vec<String> {
        // In the kernel's order, as a reader expects.
        all.iter().filter(|c| set.contains(c)).cloned().collect()
    };
    if root {
        if let Some((_, line)) = &ambient {
            r.warn(*line, "AmbientCapabilities= for root: root keeps its capabilities in sup unless CapabilityBoundingSet= limits them; not imported".to_string());
        }
        bounding.map(|(set, _)| keep(set))
    } else {
        match ambient {
            Some((set, line)) => {
                let set = match bounding {
                    Some((b, _)) => {
                        let dropped: Vec<&String> = set.iter().filter(|c| !b.contains(c)).collect();
                        if !dropped.is_empty() {
                            r.warn(line, format!("AmbientCapabilities=: {dropped:?} are outside CapabilityBoundingSet= and dropped"));
                        }
                        set.into_iter().filter(|c| b.contains(c)).collect()
                    }
                    None => set,
                };
                Some(keep(set))
            }
            // A user other than root has no capabilities in sup unless given: the same
            // as the bounding set alone does in systemd.
            None => None,
        }
    }
}

/// `Limit*=` → `rlimits`.
fn rlimits(r: &mut Reader) -> Vec<(String, Y)> {
    let table: &[(&str, &str, LimitKind)] = &[
        ("LimitCPU", "cpu", LimitKind::Seconds),
        ("LimitFSIZE", "fsize", LimitKind::Bytes),
        ("LimitDATA", "data", LimitKind::Bytes),
        ("LimitSTACK", "stack", LimitKind::Bytes),
        ("LimitCORE", "core", LimitKind::Bytes),
        ("LimitRSS", "rss", LimitKind::Bytes),
        ("LimitNOFILE", "nofile", LimitKind::Number),
        ("LimitAS", "as", LimitKind::Bytes),
        ("LimitNPROC", "nproc", LimitKind::Number),
        ("LimitMEMLOCK", "memlock", LimitKind::Bytes),
        ("LimitLOCKS", "locks", LimitKind::Number),
        ("LimitSIGPENDING", "sigpending", LimitKind::Number),
        ("LimitMSGQUEUE", "msgqueue", LimitKind::Bytes),
        ("LimitNICE", "nice", LimitKind::Nice),
        ("LimitRTPRIO", "rtprio", LimitKind::Number),
        ("LimitRTTIME", "rttime", LimitKind::Micros),
    ];
    let mut out = Vec::new();
    for (key, name, kind) in table {
        let Some(e) = r.last("Service", key) else {
            continue;
        };
        match values::rlimit(&e.value, *kind) {
            Ok(v) => match v.parse::<u64>() {
                Ok(n) => out.push((name.to_string(), Y::Int(n))),
                Err(_) => out.push((name.to_string(), Y::Str(v))),
            },
            Err(why) => r.warn(e.line, format!("{key}=: {why}; not imported")),
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
