//! Commands (`ExecStart=`, `ExecStartPre=`, runtime directories, `ExecStop=`) and the
//! restart and stop settings → `exec`, `restart`, `stop`.

use super::command::{self, Command, Specifiers};
use super::emit::Y;
use super::ini::{shorten, Entry};
use super::map::{duration, MAX_MS, SYSTEMD_STOP_TIMEOUT};
use super::reader::{Note, Reader};
use super::values;
use crate::unit::limits::MAX_BURST;

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
pub(super) fn main_exec(
    r: &mut Reader,
    spec: &Specifiers,
    oneshot: bool,
    has_user: bool,
) -> Result<Y, Note> {
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

/// `Restart=`, `RestartSec=`, `RestartMaxDelaySec=`, `StartLimit*=`.
pub(super) fn restart(r: &mut Reader, oneshot: bool) -> Option<Y> {
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
pub(super) fn stop(
    r: &mut Reader,
    spec: &Specifiers,
    timeout_sec: Option<&Entry>,
    oneshot: bool,
) -> Vec<(String, Y)> {
    let mut map = Vec::new();
    let mut signal = None;
    if let Some(e) = r.last("Service", "KillSignal") {
        match crate::unit::values::parse_signal(&e.value) {
            Ok(_) => signal = Some(e.value.clone()),
            Err(why) => r.warn(e.line, format!("KillSignal=: {why}; not imported")),
        }
    }
    let stops = commands(r, "ExecStop", spec);
    if oneshot {
        if let Some((_, line)) = stops.first() {
            r.warn(*line, "ExecStop= of a oneshot: sup runs stop.exec only while the unit's process runs, not when a finished (done) oneshot is stopped".to_string());
        }
    }
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
