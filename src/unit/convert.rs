//! Raw top-level maps → `UnitSpec` / `SliceSpec`: defaults from the SPEC, and the checks
//! that involve several keys (namespaces needed by `hostname`, self-dependencies, …).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use super::limits::{
    clip, MAX_ARG_LEN, MAX_ENV_FILES, MAX_EXEC_TOTAL, MAX_HEALTH_CHECKS, MAX_IO_MAX, MAX_SOCKETS,
    MAX_WATCH_PATHS,
};
use super::nested::{default_log, RawRestart, RawStop};
use super::parse::key_position;
use super::raw::{RawSlice, RawUnit};
use super::spec::{
    Namespace, OnUnhealthy, Ready, RestartPolicy, RestartSpec, Rlimit, SliceSpec, SocketSpec,
    StopSpec, UnitName, UnitSpec, UnitType,
};

/// The file being converted, for error positions and relative paths.
pub struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub path: &'a Path,
    pub name: &'a UnitName,
}

impl Ctx<'_> {
    /// Records `key: message` at the key's position in the file.
    fn error(&self, errors: &mut Vec<String>, key: &str, message: impl AsRef<str>) {
        let (line, col) = key_position(self.text, key);
        errors.push(format!(
            "{}:{line}:{col}: {key}: {}",
            self.file,
            clip(message.as_ref())
        ));
    }
}

fn names(list: Option<super::shapes::OneOrMany<super::de::Name>>) -> Vec<UnitName> {
    let mut seen: HashSet<UnitName> = HashSet::new();
    let mut out: Vec<UnitName> = Vec::new();
    for super::de::Name(n) in list.map(|l| l.0).unwrap_or_default() {
        if seen.insert(n.clone()) {
            out.push(n);
        }
    }
    out
}

/// Bytes `execve` needs for these strings: each with its NUL and its pointer.
fn exec_bytes<'a>(strings: impl Iterator<Item = &'a str>) -> usize {
    strings
        .map(|s| s.len() + 1 + std::mem::size_of::<usize>())
        .sum()
}

/// Every command of the unit, with the unit's `env`, must fit in `execve`'s limits.
fn check_exec_sizes(ctx: &Ctx, spec: &UnitSpec, errors: &mut Vec<String>) {
    let entries: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (entry, name) in entries.iter().zip(spec.env.keys()) {
        if entry.len() > MAX_ARG_LEN {
            ctx.error(
                errors,
                "env",
                format!(
                    "{name:?} is too long ({} bytes as NAME=VALUE; at most {MAX_ARG_LEN})",
                    entry.len()
                ),
            );
        }
    }
    let env = exec_bytes(entries.iter().map(String::as_str));
    let mut commands: Vec<(&str, &Vec<String>)> = vec![("exec", &spec.exec)];
    if let Some(argv) = &spec.stop.exec {
        commands.push(("stop", argv));
    }
    if let Ready::Exec(argv) = &spec.ready {
        commands.push(("ready", argv));
    }
    for check in &spec.health {
        if let super::spec::HealthKind::Exec(argv) = &check.kind {
            commands.push(("health", argv));
        }
    }
    for (key, argv) in commands {
        let total = exec_bytes(argv.iter().map(String::as_str)) + env;
        if total > MAX_EXEC_TOTAL {
            ctx.error(
                errors,
                key,
                format!(
                    "the command and env need {total} bytes for execve (strings, NULs and pointers); at most {MAX_EXEC_TOTAL}"
                ),
            );
        }
    }
}

/// Builds the unit; problems are appended to `errors` (keys in `skipped` were already
/// reported as bad and are not checked again). `None` when the unit is unusable.
pub fn unit(
    ctx: &Ctx,
    raw: RawUnit,
    skipped: &HashSet<String>,
    errors: &mut Vec<String>,
) -> Option<UnitSpec> {
    let kind = raw.unit_type.map_or(UnitType::Simple, |t| t.0);
    let exec = match raw.exec {
        Some(argv) => argv.0,
        None => {
            let typo = errors
                .iter()
                .any(|e| e.contains("(did you mean \"exec\"?)"));
            if !skipped.contains("exec") && !typo {
                errors.push(format!("{}:1:1: missing required key \"exec\"", ctx.file));
            }
            Vec::new()
        }
    };

    let restart_raw = raw.restart.unwrap_or_default();
    let restart = restart_spec(ctx, kind, restart_raw, errors);
    let stop = stop_spec(raw.stop.unwrap_or_default());

    let start_timeout = raw.start_timeout.map_or(Duration::from_secs(90), |d| d.0);
    if start_timeout.is_zero() {
        ctx.error(errors, "start_timeout", "must be greater than 0");
    }

    let watchdog = raw.watchdog.map(|d| d.0);
    if watchdog.is_some_and(|d| d.is_zero()) {
        ctx.error(errors, "watchdog", "must be greater than 0");
    }

    let deps = [
        ("requires", names(raw.requires)),
        ("wants", names(raw.wants)),
        ("after", names(raw.after)),
        ("before", names(raw.before)),
        ("conflicts", names(raw.conflicts)),
        ("on_failure", names(raw.on_failure)),
    ];
    for (key, list) in &deps {
        if list.contains(ctx.name) {
            ctx.error(
                errors,
                key,
                format!("unit {:?} cannot list itself", ctx.name.as_str()),
            );
        }
    }
    let both = |a: usize, b: usize| deps[a].1.iter().find(|n| deps[b].1.contains(n)).cloned();
    if let Some(n) = both(0, 4) {
        ctx.error(
            errors,
            "conflicts",
            format!("{:?} is also in requires", n.as_str()),
        );
    }
    if let Some(n) = both(2, 3) {
        ctx.error(
            errors,
            "before",
            format!("{:?} is also in after (an ordering cycle)", n.as_str()),
        );
    }
    let [requires, wants, after, before, conflicts, on_failure] = deps.map(|(_, list)| list);

    let ready = raw.ready.map_or(Ready::Started, |r| r.0);
    if kind == UnitType::Oneshot && ready != Ready::Started {
        ctx.error(
            errors,
            "ready",
            "a oneshot is ready when it exits successfully; remove ready",
        );
    }

    let mut namespaces: Vec<Namespace> = Vec::new();
    let mut repeated: Vec<Namespace> = Vec::new();
    for ns in raw.namespaces.map(|l| l.0).unwrap_or_default() {
        if !namespaces.contains(&ns.0) {
            namespaces.push(ns.0);
        } else if !repeated.contains(&ns.0) {
            repeated.push(ns.0);
            let word = format!("{:?}", ns.0).to_lowercase();
            ctx.error(errors, "namespaces", format!("{word:?} is listed twice"));
        }
    }
    let needs = |key: &str, ns: Namespace, word: &str, errors: &mut Vec<String>| {
        if !skipped.contains("namespaces") && !namespaces.contains(&ns) {
            ctx.error(
                errors,
                key,
                format!("needs the {word} namespace (add {word} to namespaces)"),
            );
        }
    };
    let hostname = raw.hostname.map(|h| h.0);
    if hostname.is_some() {
        needs("hostname", Namespace::Uts, "uts", errors);
    }
    let root = raw.root.map(|r| r.0);
    if root.is_some() {
        needs("root", Namespace::Mount, "mount", errors);
    }
    let private_tmp = raw.private_tmp.unwrap_or(false);
    if private_tmp {
        needs("private_tmp", Namespace::Mount, "mount", errors);
    }

    let capabilities = raw.capabilities.map(|caps| {
        let mut out: Vec<String> = Vec::new();
        for super::de::Capability(c) in caps.0 {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    });

    let dir = ctx.path.parent().unwrap_or(Path::new(""));
    let env_file = raw.env_file.map(|l| l.0).unwrap_or_default();
    let env_file = env_file.into_iter().map(|p| dir.join(p.0)).collect();
    let env: BTreeMap<String, String> = raw
        .env
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(k, v)| (k.0, v.0))
        .collect();

    let rlimits = raw
        .rlimits
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(name, value)| Rlimit {
            resource: name.0,
            soft: value.0 .0,
            hard: value.0 .1,
        })
        .collect();

    let spec = UnitSpec {
        name: ctx.name.clone(),
        path: ctx.path.to_path_buf(),
        description: raw.description.map(|d| d.0),
        exec,
        kind,
        enabled: raw.enabled.unwrap_or(true),
        working_dir: raw.working_dir.map(|p| p.0),
        env,
        env_file,
        user: raw.user.map(|u| u.0),
        group: raw.group.map(|g| g.0),
        umask: raw.umask.map(|u| u.0),
        restart,
        stop,
        start_timeout,
        watchdog,
        requires,
        wants,
        after,
        before,
        conflicts,
        ready,
        health: raw
            .health
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.0)
            .collect(),
        on_unhealthy: raw.on_unhealthy.map_or(OnUnhealthy::Restart, |o| o.0),
        on_failure,
        resources: raw.resources.map(|r| r.0).unwrap_or_default(),
        slice: raw.slice.map(|s| s.0),
        namespaces,
        hostname,
        root,
        private_tmp,
        capabilities,
        no_new_privileges: raw.no_new_privileges.unwrap_or(false),
        rlimits,
        log: raw.log.map_or_else(default_log, |l| l.0),
        instances: match (&raw.instances, &raw.scale) {
            (Some(i), _) => i.u32(),
            (None, Some(s)) => s.0.min,
            (None, None) => 1,
        },
        pooled: raw.instances.is_some() || raw.scale.is_some(),
        instance: None,
        min_ready: raw.min_ready.map(|m| m.u32()),
        resources_total: raw.resources_total.map(|r| Box::new(r.0)),
        scale: raw.scale.map(|s| Box::new(s.0)),
        watch: raw.watch.map(|w| w.0),
        sockets: raw
            .sockets
            .unwrap_or_default()
            .into_iter()
            .map(|s| SocketSpec {
                listen: s.listen,
                name: s.name.unwrap_or_else(|| ctx.name.to_string()),
                backlog: s.backlog,
            })
            .collect(),
    };
    check_sockets(ctx, &spec, errors);
    check_pool(ctx, &spec, errors);
    check_exec_sizes(ctx, &spec, errors);
    let counts = [
        ("health", spec.health.len(), MAX_HEALTH_CHECKS, "checks"),
        ("env_file", spec.env_file.len(), MAX_ENV_FILES, "files"),
        (
            "resources",
            spec.resources.io_max.len(),
            MAX_IO_MAX,
            "io_max entries",
        ),
        (
            "watch",
            spec.watch.as_ref().map_or(0, |w| w.paths.len()),
            MAX_WATCH_PATHS,
            "paths",
        ),
        ("sockets", spec.sockets.len(), MAX_SOCKETS, "sockets"),
    ];
    for (key, count, max, what) in counts {
        if count > max {
            ctx.error(errors, key, format!("{count} {what}; at most {max}"));
        }
    }
    errors.is_empty().then_some(spec)
}

/// The pool keys go with a pool, and `instances` lies within `scale`'s range.
fn check_pool(ctx: &Ctx, spec: &UnitSpec, errors: &mut Vec<String>) {
    if !spec.pooled {
        for (key, set) in [
            ("min_ready", spec.min_ready.is_some()),
            ("resources_total", spec.resources_total.is_some()),
        ] {
            if set {
                ctx.error(
                    errors,
                    key,
                    "only for a unit with instances (add instances: N or scale)",
                );
            }
        }
        return;
    }
    if let Some(scale) = &spec.scale {
        if !(scale.min..=scale.max).contains(&spec.instances) {
            ctx.error(
                errors,
                "instances",
                format!(
                    "instances {} is outside scale's range {}..{}",
                    spec.instances, scale.min, scale.max
                ),
            );
        }
    }
}

/// A socket listed twice could not be bound twice; the readiness fd must not be one of
/// the sockets' fds (3, 4, …).
fn check_sockets(ctx: &Ctx, spec: &UnitSpec, errors: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for s in &spec.sockets {
        if !seen.insert(&s.listen) {
            ctx.error(errors, "sockets", format!("{} is listed twice", s.listen));
        }
    }
    if let Ready::Fd(n) = spec.ready {
        let last = 2 + spec.sockets.len() as i32;
        if (3..=last).contains(&n) {
            ctx.error(
                errors,
                "ready",
                format!("fd {n} is taken by sockets (fds 3 to {last}); use a higher one"),
            );
        }
    }
}

fn restart_spec(
    ctx: &Ctx,
    kind: UnitType,
    raw: RawRestart,
    errors: &mut Vec<String>,
) -> RestartSpec {
    let policy = raw.policy.unwrap_or(match kind {
        UnitType::Simple => RestartPolicy::OnFailure,
        UnitType::Oneshot => RestartPolicy::Never,
    });
    if kind == UnitType::Oneshot && policy == RestartPolicy::Always {
        ctx.error(
            errors,
            "restart",
            "policy \"always\" is not allowed for a oneshot (use on-failure or never)",
        );
    }
    RestartSpec {
        policy,
        delay: raw.delay,
        max_delay: raw.max_delay,
        reset_after: raw.reset_after,
        limit_burst: raw.limit_burst,
        limit_interval: raw.limit_interval,
    }
}

fn stop_spec(raw: RawStop) -> StopSpec {
    StopSpec {
        signal: raw.signal.map_or(crate::proc::sig::TERM, |s| s.0),
        timeout: raw.timeout.map_or(Duration::from_secs(10), |d| d.0),
        exec: raw.exec.map(|a| a.0),
    }
}

/// Builds the slice; like `unit`.
pub fn slice(
    ctx: &Ctx,
    raw: RawSlice,
    _skipped: &HashSet<String>,
    errors: &mut Vec<String>,
) -> Option<SliceSpec> {
    let parent = raw.slice.map(|s| s.0);
    if parent.as_ref() == Some(ctx.name) {
        ctx.error(
            errors,
            "slice",
            format!("slice {:?} cannot be its own parent", ctx.name.as_str()),
        );
    }
    let spec = SliceSpec {
        name: ctx.name.clone(),
        path: ctx.path.to_path_buf(),
        description: raw.description.map(|d| d.0),
        parent,
        resources: raw.resources.map(|r| r.0).unwrap_or_default(),
        max_units: raw.max_units.map(|m| m.u32()),
    };
    let io = spec.resources.io_max.len();
    if io > MAX_IO_MAX {
        ctx.error(
            errors,
            "resources",
            format!("{io} io_max entries; at most {MAX_IO_MAX}"),
        );
    }
    errors.is_empty().then_some(spec)
}
