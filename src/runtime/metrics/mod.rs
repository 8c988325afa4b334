//! `supctl metrics` and `GET /metrics`: the runtime's figures in the Prometheus text
//! format. Per unit: state (one-hot), restarts, ready, health (one-hot), the group's
//! CPU, memory, memory peak, IO, pids and OOM kills where the platform accounts them,
//! the last exit; for sup itself: open fds, resident memory, CPU time, loop turns,
//! events and log bytes. The counters of sup's own are plain integers bumped by the
//! loop; the rest is read when a scrape asks (one read per group counter).
//!
//! The HTTP endpoint (`--metrics-listen`) is in `http`.

mod http;

use std::net::SocketAddr;

use super::Runtime;
use crate::ctl::prom::{Exposition, Kind, Value};
use crate::ctl::proto::LinesReplyWriter;
use crate::engine::{signal_name, State};
use crate::platform::groups::{GroupStats, StatsWanted};
use crate::platform::Backend;
use crate::proc::Exit;
use crate::runtime::checks::Health;

const STATES: [State; 11] = [
    State::Inactive,
    State::Waiting,
    State::Starting,
    State::Running,
    State::Stopping,
    State::Stopped,
    State::Done,
    State::Failed,
    State::Backoff,
    State::Paused,
    State::Invalid,
];
const HEALTHS: [Health; 3] = [Health::Unknown, Health::Healthy, Health::Unhealthy];

/// Counters of sup's own work, and the HTTP endpoint.
#[derive(Default)]
pub(super) struct Metrics {
    /// Turns of the event loop (returns from the poll).
    pub(super) turns: u64,
    /// Events published (what `supctl events` streams).
    pub(super) events: u64,
    /// Bytes of unit output read from units' pipes and handed to their logs.
    pub(super) log_bytes: u64,
    http: Option<http::Server>,
}

/// What one unit shows, read once per scrape.
struct Row<'a> {
    name: &'a str,
    state: State,
    restarts: u32,
    ready: bool,
    health: Health,
    exit: Option<Exit>,
    stats: GroupStats,
}

impl<P: Backend> Runtime<P> {
    /// Starts serving `GET /metrics` on `addr` (`--metrics-listen`).
    pub(super) fn listen_metrics(&mut self, addr: SocketAddr) -> Result<(), String> {
        let server = http::Server::bind(addr, self.poll.registry())
            .map_err(|e| format!("--metrics-listen {addr}: cannot listen: {e}"))?;
        log::info!("serving metrics on http://{}/metrics", server.local_addr());
        self.metrics.http = Some(server);
        Ok(())
    }

    /// The exposition, as text.
    pub(super) fn render_metrics(&self) -> Vec<u8> {
        let rows: Vec<Row<'_>> = self
            .engine
            .units_with_ids()
            .map(|(i, u)| Row {
                name: u.name.as_str(),
                state: u.state,
                restarts: u.restarts,
                ready: u.ready(),
                health: self.probes.unit(i).current_health(),
                exit: u.exit,
                stats: self
                    .platform
                    .group_stats(i, StatsWanted::ALL)
                    .unwrap_or_default(),
            })
            .collect();
        // About 1.2 KiB per unit (the one-hot state and health take most of it).
        let mut e = Exposition::with_capacity(rows.len() * 1280 + 4096);
        unit_families(&mut e, &rows);
        self.pool_families(&mut e);
        self.own_families(&mut e, rows.len());
        e.into_bytes()
    }

    /// Pools: instances that exist and the count they are to have (written only when
    /// there are pools). The instances' own figures are in the unit families.
    fn pool_families(&self, e: &mut Exposition) {
        if self.pools.map.is_empty() {
            return;
        }
        let pools: Vec<(&str, usize, u32, usize)> = self
            .pools
            .map
            .iter()
            .map(|(name, p)| {
                let members = self.pool_members(name).unwrap_or_default();
                let ready = members
                    .iter()
                    .filter(|&&m| self.engine.unit(m).ready())
                    .count();
                (name.as_str(), members.len(), p.count, ready)
            })
            .collect();
        e.family(
            "sup_pool_instances",
            Kind::Gauge,
            "Instances the pool has now (NAME@1 …).",
        );
        for (name, have, _, _) in &pools {
            e.sample(&[("unit", name)], *have as u64);
        }
        e.family(
            "sup_pool_target_instances",
            Kind::Gauge,
            "Instances the pool is to have (its file, supctl scale, or its autoscaler).",
        );
        for (name, _, target, _) in &pools {
            e.sample(&[("unit", name)], u64::from(*target));
        }
        e.family(
            "sup_pool_ready_instances",
            Kind::Gauge,
            "Instances of the pool that are ready.",
        );
        for (name, _, _, ready) in &pools {
            e.sample(&[("unit", name)], *ready as u64);
        }
    }

    fn own_families(&self, e: &mut Exposition, units: usize) {
        let own = self.platform.own_usage();
        e.family(
            "sup_units",
            Kind::Gauge,
            "Units sup knows (invalid ones included).",
        );
        e.sample(&[], units as u64);
        if let Some(n) = own.open_fds {
            e.family(
                "process_open_fds",
                Kind::Gauge,
                "Open file descriptors of sup.",
            );
            e.sample(&[], n);
        }
        if let Some(n) = own.resident_bytes {
            e.family(
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory of sup, in bytes.",
            );
            e.sample(&[], n);
        }
        if let Some(us) = own.cpu_usec {
            e.family(
                "process_cpu_seconds_total",
                Kind::Counter,
                "CPU time (user and system) sup has used, in seconds.",
            );
            e.sample(&[], Value::Micros(us));
        }
        let started = self
            .wall_base
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        e.family(
            "process_start_time_seconds",
            Kind::Gauge,
            "When this sup's event loop was set up, in seconds since the Unix epoch.",
        );
        e.sample(&[], started);
        e.family(
            "sup_loop_turns_total",
            Kind::Counter,
            "Turns of sup's event loop (each one wait for events).",
        );
        e.sample(&[], self.metrics.turns);
        e.family(
            "sup_events_total",
            Kind::Counter,
            "Lifecycle, health and log events sup has published.",
        );
        e.sample(&[], self.metrics.events);
        e.family(
            "sup_log_bytes_total",
            Kind::Counter,
            "Bytes of unit output sup has read from units' stdout and stderr for their logs.",
        );
        e.sample(&[], self.metrics.log_bytes);
    }

    /// The reply to `metrics` over the control socket: `lines`, one per line of text.
    pub(super) fn metrics_reply(&self) -> Vec<u8> {
        let text = self.render_metrics();
        let mut out = Vec::with_capacity(text.len() + text.len() / 4 + 64);
        let mut w = LinesReplyWriter::default();
        w.begin(&mut out);
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            w.start_line(&mut out);
            w.line_bytes(&mut out, line);
            w.end_line(&mut out);
        }
        w.end(&mut out);
        out
    }
}

/// A family of one optional counter per unit, written only when some unit has it.
fn optional(
    e: &mut Exposition,
    rows: &[Row<'_>],
    name: &str,
    kind: Kind,
    help: &str,
    get: impl Fn(&GroupStats) -> Option<Value>,
) {
    if !rows.iter().any(|r| get(&r.stats).is_some()) {
        return;
    }
    e.family(name, kind, help);
    for r in rows {
        if let Some(v) = get(&r.stats) {
            e.sample(&[("unit", r.name)], v);
        }
    }
}

fn unit_families(e: &mut Exposition, rows: &[Row<'_>]) {
    e.family(
        "sup_unit_state",
        Kind::Gauge,
        "The unit's state: 1 for the state it is in, 0 for the others.",
    );
    for r in rows {
        for s in STATES {
            e.sample(&[("unit", r.name), ("state", s.as_str())], r.state == s);
        }
    }
    e.family(
        "sup_unit_restarts_total",
        Kind::Counter,
        "Restarts of the unit since sup started.",
    );
    for r in rows {
        e.sample(&[("unit", r.name)], u64::from(r.restarts));
    }
    e.family("sup_unit_ready", Kind::Gauge, "1 when the unit is ready.");
    for r in rows {
        e.sample(&[("unit", r.name)], r.ready);
    }
    e.family(
        "sup_unit_health",
        Kind::Gauge,
        "The unit's health: 1 for the current one (unknown, healthy, unhealthy), 0 for the others.",
    );
    for r in rows {
        for h in HEALTHS {
            e.sample(&[("unit", r.name), ("health", h.as_str())], r.health == h);
        }
    }
    let micros = |v: Option<u64>| v.map(Value::Micros);
    let int = |v: Option<u64>| v.map(Value::from);
    optional(
        e,
        rows,
        "sup_unit_cpu_seconds_total",
        Kind::Counter,
        "CPU time used by the unit's group (cgroup, job object), in seconds.",
        |s| micros(s.cpu_usec),
    );
    optional(
        e,
        rows,
        "sup_unit_memory_bytes",
        Kind::Gauge,
        "Memory used by the unit's group, in bytes.",
        |s| int(s.memory_bytes),
    );
    optional(
        e,
        rows,
        "sup_unit_memory_peak_bytes",
        Kind::Gauge,
        "The most memory the unit's group has used, in bytes (where the platform records it).",
        |s| int(s.memory_peak),
    );
    optional(
        e,
        rows,
        "sup_unit_io_read_bytes_total",
        Kind::Counter,
        "Bytes the unit's group has read from block devices (where the platform counts them).",
        |s| int(s.io_read_bytes),
    );
    optional(
        e,
        rows,
        "sup_unit_io_write_bytes_total",
        Kind::Counter,
        "Bytes the unit's group has written to block devices (where the platform counts them).",
        |s| int(s.io_write_bytes),
    );
    optional(
        e,
        rows,
        "sup_unit_pids",
        Kind::Gauge,
        "Processes in the unit's group.",
        |s| int(s.pids),
    );
    optional(
        e,
        rows,
        "sup_unit_oom_kills_total",
        Kind::Counter,
        "Processes of the unit's group killed for lack of memory.",
        |s| int(s.oom_kills),
    );
    if rows.iter().any(|r| matches!(r.exit, Some(Exit::Code(_)))) {
        e.family(
            "sup_unit_last_exit_code",
            Kind::Gauge,
            "Exit code of the unit's last main process, when it exited with one.",
        );
        for r in rows {
            if let Some(Exit::Code(c)) = r.exit {
                e.sample(&[("unit", r.name)], i64::from(c));
            }
        }
    }
    if rows.iter().any(|r| matches!(r.exit, Some(Exit::Signal(_)))) {
        e.family(
            "sup_unit_last_exit_signal",
            Kind::Gauge,
            "Number of the signal that ended the unit's last main process, when one did.",
        );
        for r in rows {
            if let Some(Exit::Signal(s)) = r.exit {
                let name = signal_name(s);
                e.sample(&[("unit", r.name), ("signal", name.as_str())], i64::from(s));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Input;
    use crate::proc::{Exit, UnitId};
    use crate::runtime::tests::runtime;

    #[test]
    fn exposition_of_the_fake_runtime() {
        let (mut rt, dir) =
            runtime(&[("web", "exec: [web]\nrestart: {policy: always, delay: 0s}\n")]);
        rt.feed(Input::StartEnabled);
        let pid = rt.engine.unit(UnitId::from_index(0)).pid.unwrap();
        rt.platform.exits.push((pid, Exit::Code(3)));
        rt.on_signals();
        crate::runtime::tests::run_timers(&mut rt);
        rt.metrics.turns = 7;
        let text = String::from_utf8(rt.render_metrics()).unwrap();
        for line in [
            "sup_unit_state{unit=\"web\",state=\"running\"} 1",
            "sup_unit_state{unit=\"web\",state=\"backoff\"} 0",
            "sup_unit_restarts_total{unit=\"web\"} 1",
            "sup_unit_ready{unit=\"web\"} 1",
            "sup_unit_health{unit=\"web\",health=\"unknown\"} 1",
            "sup_unit_last_exit_code{unit=\"web\"} 3",
            "sup_units 1",
            "sup_loop_turns_total 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // The fake platform has no groups and knows nothing of sup's own process: those
        // families are left out, not written empty.
        for absent in ["sup_unit_cpu_seconds_total", "process_open_fds", "signal"] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // Every family: HELP, TYPE, then its samples.
        let mut family = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with("# HELP ") {
                assert!(line.starts_with(family), "{line} after # TYPE {family}");
            }
        }
        // The control reply carries the same lines.
        let reply: serde_json::Value = serde_json::from_slice(&rt.metrics_reply()).unwrap();
        let lines = reply["lines"].as_array().unwrap();
        assert_eq!(lines.len(), text.lines().count());
        assert_eq!(reply["ok"], true);
        let _ = std::fs::remove_dir_all(dir);
    }
}
