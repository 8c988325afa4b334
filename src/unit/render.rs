//! A unit's effective configuration written back as a unit file (`supctl cat`): every key
//! with its value, defaults filled in, in the syntax of unit files (durations like `10s`,
//! sizes like `64M`, signal names), so the text reads as the reference does and parses
//! back to the same spec. sup builds the map ([`unit_config`], sent as JSON); supctl
//! writes it as YAML ([`config_yaml`]), so sup carries no YAML writer.

use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::spec::*;
use crate::ctl::proto::UnitConfig;

/// What `cat` answers for `spec`.
pub fn unit_config(spec: &UnitSpec) -> UnitConfig {
    let path = spec.path.display().to_string();
    UnitConfig {
        unit: spec.name.to_string(),
        source: if path.starts_with("transient:") {
            "transient".into()
        } else {
            path
        },
        config: Value::Mapping(unit_map(spec)),
    }
}

/// The unit-file YAML of a `cat` reply, after a comment line naming where it came from.
pub fn config_yaml(c: &UnitConfig) -> String {
    let head = if c.source == "transient" {
        format!(
            "# {}: transient unit (supctl run), defaults filled in\n",
            c.unit
        )
    } else {
        format!(
            "# {}: effective configuration, defaults filled in\n",
            c.source
        )
    };
    let body = serde_yaml::to_string(&c.config)
        .unwrap_or_else(|e| format!("# cannot write the configuration: {e}\n"));
    head + &body
}

/// [`config_yaml`] of [`unit_config`].
pub fn unit_yaml(spec: &UnitSpec) -> String {
    config_yaml(&unit_config(spec))
}

/// The keys of a unit file, in the order of the key reference.
pub fn unit_map(s: &UnitSpec) -> Mapping {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    if let Some(d) = &s.description {
        put("description", d.as_str().into());
    }
    put("exec", strings(&s.exec));
    put(
        "type",
        match s.kind {
            UnitType::Simple => "simple",
            UnitType::Oneshot => "oneshot",
        }
        .into(),
    );
    put("enabled", s.enabled.into());
    if let Some(d) = &s.working_dir {
        put("working_dir", path(d));
    }
    put(
        "env",
        Value::Mapping(
            s.env
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
        ),
    );
    put(
        "env_file",
        Value::Sequence(s.env_file.iter().map(|p| path(p)).collect()),
    );
    if let Some(u) = &s.user {
        put("user", u.as_str().into());
    }
    if let Some(g) = &s.group {
        put("group", g.as_str().into());
    }
    if let Some(u) = s.umask {
        put("umask", format!("{u:04o}").into());
    }
    put("restart", restart(&s.restart));
    let mut stop = Mapping::new();
    stop.insert("signal".into(), signal(s.stop.signal));
    stop.insert("timeout".into(), duration(s.stop.timeout));
    if let Some(exec) = &s.stop.exec {
        stop.insert("exec".into(), strings(exec));
    }
    put("stop", Value::Mapping(stop));
    put("start_timeout", duration(s.start_timeout));
    if let Some(w) = s.watchdog {
        put("watchdog", duration(w));
    }
    for (key, names) in [
        ("requires", &s.requires),
        ("wants", &s.wants),
        ("after", &s.after),
        ("before", &s.before),
        ("conflicts", &s.conflicts),
    ] {
        put(key, unit_names(names));
    }
    put("ready", ready(&s.ready));
    put(
        "health",
        Value::Sequence(s.health.iter().map(health).collect()),
    );
    put(
        "on_unhealthy",
        match s.on_unhealthy {
            OnUnhealthy::Restart => "restart",
            OnUnhealthy::Stop => "stop",
            OnUnhealthy::Ignore => "ignore",
        }
        .into(),
    );
    put("on_failure", unit_names(&s.on_failure));
    put("resources", resources(&s.resources));
    if let Some(slice) = &s.slice {
        put("slice", slice.as_str().into());
    }
    put(
        "namespaces",
        Value::Sequence(s.namespaces.iter().map(|n| namespace(*n).into()).collect()),
    );
    if let Some(h) = &s.hostname {
        put("hostname", h.as_str().into());
    }
    if let Some(r) = &s.root {
        put("root", path(r));
    }
    put("private_tmp", s.private_tmp.into());
    if let Some(caps) = &s.capabilities {
        put("capabilities", strings(caps));
    }
    put("no_new_privileges", s.no_new_privileges.into());
    put(
        "rlimits",
        Value::Mapping(
            s.rlimits
                .iter()
                .map(|r| (r.resource.name().into(), rlimit(r)))
                .collect(),
        ),
    );
    put("log", log(&s.log));
    // The pool keys belong to the pool's file (`cat NAME`); an instance (`cat NAME@N`) is
    // one unit.
    if s.pooled && s.instance.is_none() {
        put("instances", u64::from(s.instances).into());
        if let Some(m) = s.min_ready {
            put("min_ready", u64::from(m).into());
        }
        if let Some(total) = &s.resources_total {
            put("resources_total", resources(total));
        }
        if let Some(sc) = &s.scale {
            let mut m = Mapping::new();
            let (metric, value): (&str, fn(f64) -> Value) = match sc.metric {
                crate::unit::ScaleMetric::Cpu => ("cpu", cpu),
                crate::unit::ScaleMetric::Memory => ("memory", |b| size(b as u64)),
            };
            m.insert("min".into(), u64::from(sc.min).into());
            m.insert("max".into(), u64::from(sc.max).into());
            m.insert("metric".into(), metric.into());
            m.insert("up_above".into(), value(sc.up_above));
            m.insert("down_below".into(), value(sc.down_below));
            m.insert("window".into(), duration(sc.window));
            m.insert("cooldown".into(), duration(sc.cooldown));
            put("scale", Value::Mapping(m));
        }
    }
    if let Some(w) = &s.watch {
        let mut watch = Mapping::new();
        watch.insert(
            "paths".into(),
            Value::Sequence(w.paths.iter().map(|p| path(p)).collect()),
        );
        watch.insert("debounce".into(), duration(w.debounce));
        put("watch", Value::Mapping(watch));
    }
    put(
        "sockets",
        Value::Sequence(
            s.sockets
                .iter()
                .map(|sock| {
                    let mut m = Mapping::new();
                    m.insert("listen".into(), sock.listen.to_string().into());
                    m.insert("name".into(), sock.name.as_str().into());
                    m.insert("backlog".into(), u64::from(sock.backlog).into());
                    Value::Mapping(m)
                })
                .collect(),
        ),
    );
    m
}

fn strings(v: &[String]) -> Value {
    Value::Sequence(v.iter().map(|s| s.as_str().into()).collect())
}

fn unit_names(v: &[UnitName]) -> Value {
    Value::Sequence(v.iter().map(|n| n.as_str().into()).collect())
}

fn path(p: &std::path::Path) -> Value {
    p.display().to_string().into()
}

/// `10s`, `60s`, `2m`, `1h`, `250ms` when exact (as the reference writes the defaults);
/// otherwise decimal seconds.
pub fn duration(d: Duration) -> Value {
    if d.subsec_nanos() % 1_000_000 != 0 {
        return format!("{}s", d.as_secs_f64()).into();
    }
    let ms = d.as_millis();
    let text = if ms == 0 {
        "0s".to_string()
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 && ms > 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    };
    text.into()
}

/// `64M` style when a whole number of K, M, G or T; otherwise bytes.
pub fn size(n: u64) -> Value {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n % (1u64 << shift) == 0 {
            return format!("{}{unit}", n >> shift).into();
        }
    }
    n.into()
}

fn signal(n: i32) -> Value {
    match super::values::signal_name(n) {
        Some(name) => format!("SIG{name}").into(),
        None => i64::from(n).into(),
    }
}

fn cpu(cores: f64) -> Value {
    format!("{cores}").into()
}

fn restart(r: &RestartSpec) -> Value {
    let mut m = Mapping::new();
    m.insert(
        "policy".into(),
        match r.policy {
            RestartPolicy::Never => "never",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
        .into(),
    );
    m.insert("delay".into(), duration(r.delay));
    m.insert("max_delay".into(), duration(r.max_delay));
    m.insert("reset_after".into(), duration(r.reset_after));
    let mut limit = Mapping::new();
    limit.insert("burst".into(), u64::from(r.limit_burst).into());
    limit.insert("interval".into(), duration(r.limit_interval));
    m.insert("limit".into(), Value::Mapping(limit));
    Value::Mapping(m)
}

fn one(key: &str, value: Value) -> Value {
    let mut m = Mapping::new();
    m.insert(key.into(), value);
    Value::Mapping(m)
}

fn ready(r: &Ready) -> Value {
    match r {
        Ready::Started => "started".into(),
        Ready::Notify => "notify".into(),
        Ready::Fd(n) => one("fd", i64::from(*n).into()),
        Ready::Tcp(a) => one("tcp", a.as_str().into()),
        Ready::Http(u) => one("http", u.as_str().into()),
        Ready::Log(re) => one("log", re.as_str().into()),
        Ready::Exec(argv) => one("exec", strings(argv)),
    }
}

fn health(h: &HealthCheck) -> Value {
    let (key, value) = match &h.kind {
        HealthKind::Exec(argv) => ("exec", strings(argv)),
        HealthKind::Tcp(a) => ("tcp", a.as_str().into()),
        HealthKind::Http(u) => ("http", u.as_str().into()),
        HealthKind::Log(re) => ("log", re.as_str().into()),
        HealthKind::MemoryAbove(n) => ("memory_above", size(*n)),
        HealthKind::CpuAbove(c) => ("cpu_above", cpu(*c)),
    };
    let mut m = Mapping::new();
    m.insert(key.into(), value);
    m.insert("interval".into(), duration(h.interval));
    m.insert("timeout".into(), duration(h.timeout));
    m.insert("retries".into(), u64::from(h.retries).into());
    m.insert("start_period".into(), duration(h.start_period));
    m.insert(
        "severity".into(),
        match h.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
        .into(),
    );
    Value::Mapping(m)
}

fn resources(r: &Resources) -> Value {
    let mut m = Mapping::new();
    if let Some(w) = r.cpu_weight {
        m.insert("cpu_weight".into(), u64::from(w).into());
    }
    if let Some(c) = r.cpu_max {
        m.insert("cpu_max".into(), cpu(c));
    }
    for (key, v) in [
        ("memory_max", r.memory_max),
        ("memory_high", r.memory_high),
        ("memory_swap_max", r.memory_swap_max),
    ] {
        if let Some(n) = v {
            m.insert(key.into(), size(n));
        }
    }
    if let Some(w) = r.io_weight {
        m.insert("io_weight".into(), u64::from(w).into());
    }
    if !r.io_max.is_empty() {
        let list = r
            .io_max
            .iter()
            .map(|io| {
                let mut d = Mapping::new();
                d.insert("device".into(), path(&io.device));
                for (key, v) in [("rbps", io.rbps), ("wbps", io.wbps)] {
                    if let Some(n) = v {
                        d.insert(key.into(), size(n));
                    }
                }
                for (key, v) in [("riops", io.riops), ("wiops", io.wiops)] {
                    if let Some(n) = v {
                        d.insert(key.into(), n.into());
                    }
                }
                Value::Mapping(d)
            })
            .collect();
        m.insert("io_max".into(), Value::Sequence(list));
    }
    if let Some(p) = r.pids_max {
        m.insert("pids_max".into(), p.into());
    }
    Value::Mapping(m)
}

fn namespace(n: Namespace) -> &'static str {
    match n {
        Namespace::Pid => "pid",
        Namespace::Mount => "mount",
        Namespace::Uts => "uts",
        Namespace::Ipc => "ipc",
        Namespace::Net => "net",
        Namespace::User => "user",
        Namespace::Cgroup => "cgroup",
    }
}

fn rlimit(r: &Rlimit) -> Value {
    let bound = |n: u64| {
        if n == u64::MAX {
            "infinity".to_string()
        } else {
            n.to_string()
        }
    };
    if r.soft == r.hard {
        if r.soft == u64::MAX {
            "infinity".into()
        } else {
            r.soft.into()
        }
    } else {
        format!("{}:{}", bound(r.soft), bound(r.hard)).into()
    }
}

fn log(l: &LogSpec) -> Value {
    if l.target == LogTarget::Inherit {
        return "inherit".into();
    }
    let mut m = Mapping::new();
    let file = match &l.target {
        LogTarget::File(p) => path(p),
        LogTarget::Discard => false.into(),
        // The default file, LOGDIR/NAME.log.
        _ => true.into(),
    };
    m.insert("file".into(), file);
    m.insert("max_size".into(), size(l.max_size));
    m.insert("keep".into(), u64::from(l.keep).into());
    m.insert("timestamps".into(), l.timestamps.into());
    Value::Mapping(m)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::unit::parse::{parse_file, Parsed};

    fn parse(text: &str) -> UnitSpec {
        let name = UnitName::new("web").unwrap();
        match parse_file(Path::new("/etc/sup.d/web.yaml"), &name, text) {
            Ok(Parsed::Unit(spec)) => *spec,
            other => panic!("{other:?}\n{text}"),
        }
    }

    /// Written back, a unit parses to the same spec: every key, defaults and all.
    #[test]
    fn round_trip() {
        for text in [
            "exec: sleep 10\n",
            "exec: [/bin/true]\ntype: oneshot\nenabled: false\n",
            r#"
description: "a: web server"
exec: [/usr/bin/server, --port, "8080", "yes", "null", "1e3"]
working_dir: /srv
env: {A: "1", B: "x y", C: "on"}
env_file: [/etc/default/web]
user: www-data
group: "33"
umask: "027"
restart: {policy: always, delay: 250ms, max_delay: 2m, reset_after: 1h, limit: {burst: 9, interval: 90s}}
stop: {signal: HUP, timeout: 1.5s, exec: [/bin/kill, "-s", QUIT]}
start_timeout: 0.0005s
watchdog: 30s
requires: [db]
wants: [cache]
after: [db, cache]
before: [proxy]
conflicts: [old]
ready: {tcp: "127.0.0.1:8080"}
health:
  - http: http://127.0.0.1:8080/health
    interval: 5s
    retries: 2
    severity: warning
  - memory_above: 1536M
  - cpu_above: "90%"
on_unhealthy: stop
on_failure: [alert]
resources: {cpu_weight: 200, cpu_max: "1.5", memory_max: 64M, memory_high: 1000, memory_swap_max: 0, io_weight: 50, pids_max: 100,
  io_max: [{device: /dev/sda, rbps: 10M, wiops: 100}]}
slice: apps
namespaces: [mount, uts, pid]
hostname: box
private_tmp: true
capabilities: [NET_BIND_SERVICE]
no_new_privileges: true
rlimits: {nofile: 4096, core: "0:infinity", nproc: infinity}
log: {file: /var/log/web.log, max_size: 1G, keep: 2, timestamps: false}
instances: 3
min_ready: 2
resources_total: {memory_max: 1G, pids_max: 50}
scale: {min: 2, max: 6, up_above: "75%", down_below: "0.2", window: 20s, cooldown: 40s}
watch: {paths: [/srv/conf], debounce: 2s}
sockets: [{listen: "tcp:127.0.0.1:8080", name: http, backlog: 64}, "unix:/run/web.sock"]
"#,
            "exec: [a]\nready: notify\nlog: inherit\ncapabilities: []\n",
            "exec: [a]\nready: {exec: [check, now]}\nlog: {file: false}\n",
            "exec: [a]\nready: {log: '^listening on \\d+$'}\n",
            "exec: [a]\nscale: {min: 1, max: 3, metric: memory, up_above: 512M, down_below: 100M}\n",
        ] {
            let spec = parse(text);
            let yaml = unit_yaml(&spec);
            // As it goes over the socket: JSON, the key order kept.
            let wire = serde_json::to_string(&unit_config(&spec)).unwrap();
            let back: UnitConfig = serde_json::from_str(&wire).unwrap();
            assert_eq!(config_yaml(&back), yaml);
            assert!(yaml.starts_with("# /etc/sup.d/web.yaml: "), "{yaml}");
            assert_eq!(parse(&yaml), spec, "written back:\n{yaml}");
        }
    }

    #[test]
    fn values_read_as_in_unit_files() {
        let spec = parse("exec: [a]\n");
        let yaml = unit_yaml(&spec);
        for line in [
            "type: simple",
            "enabled: true",
            "  policy: on-failure",
            "  delay: 100ms",
            "  max_delay: 30s",
            "  signal: SIGTERM",
            "start_timeout: 90s",
            "ready: started",
            "  max_size: 10M",
        ] {
            assert!(yaml.lines().any(|l| l == line), "no {line:?} in\n{yaml}");
        }
        // A unit that is no pool has no pool keys.
        assert!(!yaml.contains("instances"), "{yaml}");
        assert_eq!(duration(Duration::from_millis(1500)), Value::from("1500ms"));
        assert_eq!(duration(Duration::from_secs(60)), Value::from("60s"));
        assert_eq!(duration(Duration::from_secs(180)), Value::from("3m"));
        assert_eq!(duration(Duration::from_secs(7200)), Value::from("2h"));
        assert_eq!(size(3 << 30), Value::from("3G"));
        assert_eq!(size(1000), Value::from(1000u64));
    }
}
