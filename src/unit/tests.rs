//! Unit-file parser tests: defaults, every key, slices (here); the error corpus, the
//! value grammar and directory loading in `tests/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parse::{parse_file, Parsed};
use super::spec::*;

mod errors;
mod feature_errors;
mod hints;
mod limits;
mod loading;
mod robustness;
mod scan;
mod sockets;
mod values;
mod watchdog;

/// Parses `text` as `t.yaml` (unit name `t`).
fn parse(text: &str) -> Result<Parsed, Vec<String>> {
    let name = UnitName::new("t").expect("valid name");
    parse_file(Path::new("/units/t.yaml"), &name, text).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| e.replacen("/units/t.yaml", "t.yaml", 1))
            .collect()
    })
}

fn unit(text: &str) -> UnitSpec {
    match parse(text) {
        Ok(Parsed::Unit(u)) => *u,
        other => panic!("expected a unit, got {other:?}"),
    }
}

fn slice(text: &str) -> SliceSpec {
    match parse(text) {
        Ok(Parsed::Slice(s)) => s,
        other => panic!("expected a slice, got {other:?}"),
    }
}

/// The errors of a file that must be rejected.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Err(errors) => errors,
        Ok(p) => panic!("expected errors for {text:?}, got {p:?}"),
    }
}

#[test]
fn minimal_unit_has_spec_defaults() {
    let u = unit("exec: [sleep, \"10\"]\n");
    assert_eq!(u.name.as_str(), "t");
    assert_eq!(u.path, PathBuf::from("/units/t.yaml"));
    assert_eq!(u.exec, vec!["sleep", "10"]);
    assert_eq!(u.kind, UnitType::Simple);
    assert!(u.enabled);
    assert_eq!(u.description, None);
    assert_eq!(u.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(u.restart.delay, Duration::from_millis(100));
    assert_eq!(u.restart.max_delay, Duration::from_secs(30));
    assert_eq!(u.restart.reset_after, Duration::from_secs(60));
    assert_eq!(u.restart.limit_burst, 5);
    assert_eq!(u.restart.limit_interval, Duration::from_secs(60));
    assert_eq!(u.stop.signal, crate::proc::sig::TERM);
    assert_eq!(u.stop.timeout, Duration::from_secs(10));
    assert_eq!(u.stop.exec, None);
    assert_eq!(u.start_timeout, Duration::from_secs(90));
    assert_eq!(u.ready, Ready::Started);
    assert!(u.health.is_empty());
    assert_eq!(u.on_unhealthy, OnUnhealthy::Restart);
    assert!(u.resources.is_empty());
    assert!(u.requires.is_empty() && u.wants.is_empty() && u.after.is_empty());
    assert!(u.before.is_empty() && u.conflicts.is_empty() && u.on_failure.is_empty());
    assert!(u.namespaces.is_empty());
    assert_eq!(u.capabilities, None);
    assert!(!u.no_new_privileges && !u.private_tmp);
    assert!(u.rlimits.is_empty() && u.env.is_empty() && u.env_file.is_empty());
    assert_eq!(u.log.target, LogTarget::Default);
    assert_eq!(u.log.max_size, 10 * 1024 * 1024);
    assert_eq!(u.log.keep, 5);
    assert!(u.log.timestamps);
    assert_eq!(u.instances, 1);
    assert_eq!(u.watch, None);
    assert_eq!(
        (u.user, u.group, u.umask, u.slice),
        (None, None, None, None)
    );
}

#[test]
fn string_exec_runs_through_the_shell() {
    let u = unit("exec: echo hello && sleep 1\n");
    assert_eq!(u.exec, vec!["/bin/sh", "-c", "echo hello && sleep 1"]);
}

#[test]
fn oneshot_defaults_to_never_restart() {
    let u = unit("exec: /bin/true\ntype: oneshot\n");
    assert_eq!(u.kind, UnitType::Oneshot);
    assert_eq!(u.restart.policy, RestartPolicy::Never);
    let u = unit("exec: /bin/true\ntype: oneshot\nrestart: on-failure\n");
    assert_eq!(u.restart.policy, RestartPolicy::OnFailure);
}

#[test]
fn explicit_kind_unit_is_a_unit() {
    assert_eq!(unit("kind: unit\nexec: x\n").exec[2], "x");
}

pub(super) const EVERY_KEY: &str = r#"
kind: unit
description: "Web server"
exec: [/usr/bin/web, --port, 8080]
type: simple
enabled: false
working_dir: /srv/web
env:
  PORT: 8080
  DEBUG: true
  NAME: web-{{instance}}
env_file: [defaults.env, /etc/web.env]
user: www
group: 33
umask: "0027"
restart:
  policy: always
  delay: 250ms
  max_delay: 1m
  reset_after: 2m
  limit: {burst: 3, interval: 1h}
stop: {signal: INT, timeout: 1.5s, exec: [/usr/bin/web, --drain]}
start_timeout: 20s
requires: [db]
wants: [cache, metrics]
after: [db]
before: [proxy]
conflicts: [old-web]
ready: {http: "http://127.0.0.1:8080/health"}
health:
  - tcp: "127.0.0.1:8080"
  - exec: curl -f localhost
    interval: 30s
    timeout: 5s
    retries: 2
    start_period: 1m
  - memory_above: 1G
    severity: warning
  - cpu_above: "90%"
  - log: "panic|fatal"
  - http: http://localhost/
on_unhealthy: stop
on_failure: [alert]
resources:
  cpu_weight: 200
  cpu_max: "150%"
  memory_max: 512M
  memory_high: 400M
  memory_swap_max: 0
  io_weight: 50
  io_max:
    - {device: /dev/sda, rbps: 10M, wiops: 100}
  pids_max: 64
slice: web-tier
namespaces: [pid, mount, uts, ipc, net, user, cgroup]
hostname: web1
root: /srv/root
private_tmp: true
capabilities: [CAP_NET_BIND_SERVICE, net_raw]
no_new_privileges: true
rlimits: {nofile: 4096, core: 0, nproc: "100:200", memlock: infinity}
log: {file: /var/log/web.log, max_size: 1M, keep: 2, timestamps: false}
instances: 3
watch: {paths: [/srv/web/conf], debounce: 2s}
"#;

#[test]
fn every_key_is_parsed() {
    let u = unit(EVERY_KEY);
    let names = |v: &[UnitName]| v.iter().map(|n| n.as_str().to_string()).collect::<Vec<_>>();
    assert_eq!(u.description.as_deref(), Some("Web server"));
    assert_eq!(u.exec, vec!["/usr/bin/web", "--port", "8080"]);
    assert!(!u.enabled);
    assert_eq!(u.working_dir, Some(PathBuf::from("/srv/web")));
    assert_eq!(u.env["PORT"], "8080");
    assert_eq!(u.env["DEBUG"], "true");
    assert_eq!(u.env["NAME"], "web-{{instance}}");
    let env_files = vec![
        PathBuf::from("/units/defaults.env"),
        PathBuf::from("/etc/web.env"),
    ];
    assert_eq!(u.env_file, env_files);
    assert_eq!(
        (u.user.as_deref(), u.group.as_deref()),
        (Some("www"), Some("33"))
    );
    assert_eq!(u.umask, Some(0o027));
    let r = &u.restart;
    assert_eq!(r.policy, RestartPolicy::Always);
    assert_eq!(
        (r.delay, r.max_delay),
        (Duration::from_millis(250), Duration::from_secs(60))
    );
    assert_eq!(r.reset_after, Duration::from_secs(120));
    assert_eq!(
        (r.limit_burst, r.limit_interval),
        (3, Duration::from_secs(3600))
    );
    assert_eq!(u.stop.signal, crate::proc::sig::INT);
    assert_eq!(u.stop.timeout, Duration::from_millis(1500));
    assert_eq!(
        u.stop.exec,
        Some(vec!["/usr/bin/web".to_string(), "--drain".to_string()])
    );
    assert_eq!(u.start_timeout, Duration::from_secs(20));
    assert_eq!(names(&u.requires), ["db"]);
    assert_eq!(names(&u.wants), ["cache", "metrics"]);
    assert_eq!(
        (names(&u.after), names(&u.before)),
        (vec!["db".into()], vec!["proxy".into()])
    );
    assert_eq!(names(&u.conflicts), ["old-web"]);
    assert_eq!(names(&u.on_failure), ["alert"]);
    assert_eq!(u.ready, Ready::Http("http://127.0.0.1:8080/health".into()));
    assert_eq!(u.health.len(), 6);
    assert_eq!(u.health[0].kind, HealthKind::Tcp("127.0.0.1:8080".into()));
    assert_eq!(u.health[0].interval, Duration::from_secs(10));
    assert_eq!(u.health[0].timeout, Duration::from_secs(1));
    assert_eq!(
        (u.health[0].retries, u.health[0].start_period),
        (3, Duration::ZERO)
    );
    assert_eq!(u.health[0].severity, Severity::Critical);
    let h = &u.health[1];
    let sh = |s: &str| vec!["/bin/sh".to_string(), "-c".to_string(), s.to_string()];
    assert_eq!(h.kind, HealthKind::Exec(sh("curl -f localhost")));
    assert_eq!(
        (h.interval, h.timeout),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    assert_eq!((h.retries, h.start_period), (2, Duration::from_secs(60)));
    assert_eq!(u.health[2].kind, HealthKind::MemoryAbove(1 << 30));
    assert_eq!(u.health[2].severity, Severity::Warning);
    assert_eq!(u.health[3].kind, HealthKind::CpuAbove(0.9));
    assert_eq!(u.health[4].kind, HealthKind::Log("panic|fatal".into()));
    assert_eq!(
        u.health[5].kind,
        HealthKind::Http("http://localhost/".into())
    );
    assert_eq!(u.on_unhealthy, OnUnhealthy::Stop);
    let res = &u.resources;
    assert_eq!((res.cpu_weight, res.cpu_max), (Some(200), Some(1.5)));
    assert_eq!(
        (res.memory_max, res.memory_high),
        (Some(512 << 20), Some(400 << 20))
    );
    assert_eq!(
        (res.memory_swap_max, res.io_weight, res.pids_max),
        (Some(0), Some(50), Some(64))
    );
    let io = IoMax {
        device: "/dev/sda".into(),
        rbps: Some(10 << 20),
        wiops: Some(100),
        ..IoMax::default()
    };
    assert_eq!(res.io_max, vec![io]);
    assert_eq!(u.slice.as_ref().map(UnitName::as_str), Some("web-tier"));
    assert_eq!(u.namespaces.len(), 7);
    assert_eq!(u.hostname.as_deref(), Some("web1"));
    assert_eq!(u.root, Some(PathBuf::from("/srv/root")));
    assert!(u.private_tmp && u.no_new_privileges);
    let caps = vec!["NET_BIND_SERVICE".to_string(), "NET_RAW".to_string()];
    assert_eq!(u.capabilities, Some(caps));
    let rl = |name: &str, soft, hard| {
        let resource = super::values::parse_rlimit_name(name).expect("known rlimit");
        Rlimit {
            resource,
            soft,
            hard,
        }
    };
    let expected = vec![
        rl("nofile", 4096, 4096),
        rl("core", 0, 0),
        rl("nproc", 100, 200),
        rl("memlock", u64::MAX, u64::MAX),
    ];
    assert_eq!(u.rlimits, expected);
    assert_eq!(u.log.target, LogTarget::File("/var/log/web.log".into()));
    assert_eq!(
        (u.log.max_size, u.log.keep, u.log.timestamps),
        (1 << 20, 2, false)
    );
    assert_eq!(u.instances, 3);
    let watch = WatchSpec {
        paths: vec!["/srv/web/conf".into()],
        debounce: Duration::from_secs(2),
    };
    assert_eq!(u.watch, Some(watch));
}

#[test]
fn alternative_forms() {
    let u = unit("exec: x\nrequires: db\ncapabilities: [sys_admin]\nlog: inherit\nready: notify\n");
    assert_eq!(u.requires, vec![UnitName::new("db").expect("name")]);
    assert_eq!(u.capabilities, Some(vec!["SYS_ADMIN".to_string()]));
    assert_eq!(u.log.target, LogTarget::Inherit);
    assert_eq!(u.ready, Ready::Notify);
    let u =
        unit("exec: x\nlog: {file: false}\nready: {fd: 3}\nrestart: never\nstop: {signal: 15}\n");
    assert_eq!(u.log.target, LogTarget::Discard);
    assert_eq!(u.log.max_size, 10 << 20);
    assert_eq!(u.ready, Ready::Fd(3));
    assert_eq!(u.restart.policy, RestartPolicy::Never);
    assert_eq!(u.restart.delay, Duration::from_millis(100));
    assert_eq!(u.stop.signal, crate::proc::sig::TERM);
    let u =
        unit("exec: x\nready: {tcp: \"[::1]:80\"}\nenv_file: local.env\nwatch: {paths: /etc/x}\n");
    assert_eq!(u.ready, Ready::Tcp("[::1]:80".into()));
    assert_eq!(u.env_file, vec![PathBuf::from("/units/local.env")]);
    assert_eq!(
        u.watch.map(|w| w.debounce),
        Some(Duration::from_millis(500))
    );
    let u = unit("exec: x\nready: {log: \"^listening on\"}\numask: 022\nuser: 1000\n");
    assert_eq!(u.ready, Ready::Log("^listening on".into()));
    assert_eq!((u.umask, u.user.as_deref()), (Some(0o22), Some("1000")));
    let u = unit("exec: x\nready: {exec: [pg_isready]}\nrestart: {limit: {burst: 1}}\n");
    assert_eq!(u.ready, Ready::Exec(vec!["pg_isready".into()]));
    assert_eq!(
        (u.restart.limit_burst, u.restart.policy),
        (1, RestartPolicy::OnFailure)
    );
    let u = unit("{exec: [a, b], type: oneshot, namespaces: [uts], hostname: box}\n");
    assert_eq!(
        (u.kind, u.hostname.as_deref()),
        (UnitType::Oneshot, Some("box"))
    );
}

#[test]
fn duplicate_names_in_lists_are_merged() {
    let u = unit("exec: x\nwants: [a, b, a]\ncapabilities: [KILL, CAP_KILL]\n");
    assert_eq!(u.wants.len(), 2);
    assert_eq!(u.capabilities.map(|c| c.len()), Some(1));
}

#[test]
fn slice_files() {
    let s = slice("kind: slice\ndescription: batch jobs\n");
    assert_eq!(
        (s.name.as_str(), s.parent.clone(), s.max_units),
        ("t", None, None)
    );
    assert_eq!(s.description.as_deref(), Some("batch jobs"));
    assert!(s.resources.is_empty());
    assert_eq!(s.path, PathBuf::from("/units/t.yaml"));
    let s = slice(
        "kind: slice\nslice: parent\nmax_units: 4\nresources: {memory_max: 2G, cpu_max: 2}\n",
    );
    assert_eq!(s.parent.as_ref().map(UnitName::as_str), Some("parent"));
    assert_eq!(s.max_units, Some(4));
    assert_eq!(
        (s.resources.memory_max, s.resources.cpu_max),
        (Some(2 << 30), Some(2.0))
    );
    let s = slice("kind: \"slice\"\n");
    assert_eq!(s.name.as_str(), "t");
}
