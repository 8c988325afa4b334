//! supctl: the control client of sup — parses the command line, talks to the control socket
//! (protocol v1, `sup::ctl::proto`) and prints tables or JSON.
//!
//! Exit codes (SPEC section 6):
//! - 0 success;
//! - 1 the operation failed: a `failed` or `permission-denied` reply, an `OpResult` with
//!   `ok: false`, `health` answering not healthy, a dropped stream, an unreadable reply,
//!   `check` finding problems, `status UNIT...` naming a unit that is `failed` or
//!   `invalid` (as `systemctl is-failed`);
//! - 2 usage error (clap) or a `bad-request` reply;
//! - 3 a `no-such-unit` reply;
//! - 4 cannot reach sup: no socket, connection refused, permission denied or timeout on
//!   connect, or the connection failing / closing before a reply.
//!
//! The same on Windows, over the named pipe `\\.\pipe\sup` (`platform::transport`).

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use sup::ctl::client::{parse_reply, Client, ClientError, Response};
use sup::ctl::proto::{
    ErrorCode, Event, ExitInfo, Reply, Request, SliceStatus, StreamItem, PROTOCOL_VERSION,
};

const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NO_UNIT: u8 = 3;
const EXIT_UNREACHABLE: u8 = 4;

/// Bound on connecting only; requests themselves wait as long as the operation takes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(name = "supctl", version, about = "Control a running sup supervisor")]
pub struct Cli {
    /// Control socket of sup [default: /run/sup/control.sock for root,
    /// $XDG_RUNTIME_DIR/sup/control.sock otherwise; on Windows the named pipe \\.\pipe\sup]
    #[arg(long, env = "SUP_SOCKET", value_name = "PATH", global = true)]
    socket: Option<PathBuf>,
    /// Print JSON (one document, or one object per line for streams)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Debug)]
struct OpArgs {
    /// Return at once instead of waiting for the outcome
    #[arg(long)]
    no_block: bool,
    /// Unit names (as in `supctl status`; an instance is NAME@N)
    #[arg(value_name = "UNIT", required = true)]
    units: Vec<String>,
}

#[derive(Args, Debug)]
struct RestartArgs {
    /// A pool's instances one at a time, each once the one before is ready again; stops
    /// at the first that fails
    #[arg(long)]
    rolling: bool,
    #[command(flatten)]
    op: OpArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show the state of all units, or of the named ones (with their memory, CPU and
    /// process count)
    Status {
        /// Show memory, CPU and process count also when listing all units (sup reads
        /// three cgroup counters per unit for them)
        #[arg(short = 'r', long)]
        resources: bool,
        /// Only these units (exit 3 if one does not exist, 1 if one is failed or invalid)
        #[arg(value_name = "UNIT")]
        units: Vec<String>,
    },
    /// Print a unit's effective configuration as a unit file (YAML), every default filled
    /// in; for transient units too
    Cat {
        /// The unit to show
        #[arg(value_name = "UNIT")]
        unit: String,
    },
    /// Start units and wait until they are running (oneshots: done) or failed
    Start(OpArgs),
    /// Stop units and wait until they are stopped
    Stop(OpArgs),
    /// Restart units and wait for the outcome (a pool: all its instances, or with
    /// --rolling one at a time)
    Restart(RestartArgs),
    /// Set the number of instances of a pool (pinned), or hand it back to its `scale`
    /// key with `auto`; waits until new instances run and removed ones stopped
    Scale {
        #[arg(value_name = "UNIT")]
        unit: String,
        /// A number of instances, or auto
        #[arg(value_name = "N|auto")]
        count: String,
        /// Return at once instead of waiting for the outcome
        #[arg(long)]
        no_block: bool,
    },
    /// Send a signal to every process of a unit
    Kill {
        /// Signal name or number [default: SIGTERM]
        #[arg(short = 's', long, value_name = "SIGNAL")]
        signal: Option<String>,
        /// The unit to signal
        #[arg(value_name = "UNIT")]
        unit: String,
    },
    /// Show the last lines of a unit's output; of several units, merged by time (each line
    /// then names its unit)
    Logs {
        /// How many lines
        #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 50)]
        lines: usize,
        /// Keep printing new lines as they come
        #[arg(short = 'f', long)]
        follow: bool,
        /// The units whose output to show
        #[arg(value_name = "UNIT", required = true)]
        units: Vec<String>,
    },
    /// Stream lifecycle, health and OOM events
    Events,
    /// Exit 0 if the units (without UNIT: every enabled unit) are running, ready and not
    /// unhealthy (oneshots: done), 1 otherwise, naming those that are not
    Health {
        /// The units to check [default: every enabled unit]
        #[arg(value_name = "UNIT")]
        units: Vec<String>,
    },
    /// Validate unit files locally (no sup needed), like `sup check`
    Check {
        /// Unit directory
        #[arg(value_name = "DIR", env = "SUP_UNITS", default_value = "/etc/sup.d")]
        dir: PathBuf,
    },
    /// Convert systemd .service files to sup unit files (no sup needed); warn
    /// (FILE:LINE) for every directive not imported
    Import(sup::import::ImportArgs),
    /// Re-read the unit directory: start new units, stop removed ones, restart changed
    /// ones, apply changed limits in place; say what was done (exit 1 if a file is invalid)
    Reload {
        /// Only say what would be done
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a command as a transient unit (no file): print its name, or with --wait stream
    /// its output and exit with its status
    Run {
        /// The unit's name [default: run-N]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// A unit key, as in a unit file (dotted keys nest): -p resources.memory_max=64M
        #[arg(short = 'p', long = "property", value_name = "KEY=VALUE")]
        props: Vec<String>,
        /// Stream its output and exit with its status (code, 128+signal, 124 on timeout)
        #[arg(long)]
        wait: bool,
        /// Stop it after this long (250ms, 10s, 2m; a bare number is seconds); reason timeout
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// simple (default) or oneshot
        #[arg(long = "type", value_name = "TYPE")]
        unit_type: Option<String>,
        /// The command and its arguments
        #[arg(value_name = "CMD", required = true, last = true)]
        argv: Vec<String>,
    },
    /// Re-execute sup's program (the one now on disk) keeping every unit running
    Reexec,
    /// Drop ended transient units from status
    Forget {
        /// Every ended transient unit
        #[arg(long)]
        ended: bool,
        /// Ended transient units to drop
        #[arg(value_name = "UNIT", required_unless_present = "ended")]
        units: Vec<String>,
    },
    /// Freeze a unit
    Pause {
        /// The unit to freeze
        #[arg(value_name = "UNIT")]
        unit: String,
    },
    /// Thaw a paused unit
    Resume {
        /// The unit to thaw
        #[arg(value_name = "UNIT")]
        unit: String,
    },
    /// Print metrics in the Prometheus text format
    Metrics,
    /// Stop everything and make sup exit (as PID 1: power off)
    Shutdown,
    /// Stop everything and power off
    Poweroff,
    /// Stop everything and reboot
    Reboot,
    /// Stop everything and halt
    Halt,
}

fn main() -> ExitCode {
    // Parse errors exit 2, --help / --version exit 0 (clap's behaviour).
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

fn run(cli: Cli) -> u8 {
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(sup::ctl::default_socket_path);
    let json = cli.json;
    let (req, kind) = match cli.command {
        Cmd::Check { dir } => return check(&dir, json),
        Cmd::Import(a) => return a.run(),
        cmd => build_request(cmd),
    };
    match execute(&socket, &req, kind, json) {
        Ok(code) => code,
        Err(e) => {
            if e.is_unreachable() {
                fail(&e.to_string(), EXIT_UNREACHABLE)
            } else {
                fail(&e.to_string(), EXIT_FAILED)
            }
        }
    }
}

/// How to present the reply of a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The unit table; `resources`: with its MEMORY, CPU and PIDS columns.
    Status {
        resources: bool,
    },
    Op,
    Logs,
    /// `cat`: the configuration as a unit file (YAML; `--json`: the reply's object).
    Cat,
    Events,
    Health,
    Reload,
    /// `run`; with `--wait`, the output and the end follow the reply.
    Run {
        wait: bool,
    },
    Forget,
    /// metrics, shutdown, …: print whatever the reply carries.
    Generic,
}

fn build_request(cmd: Cmd) -> (Request, Kind) {
    let with_units = |name: &str, units: Vec<String>| {
        let mut r = Request::new(name);
        r.units = units;
        r
    };
    let op = |name: &str, a: OpArgs| {
        let mut r = with_units(name, a.units);
        r.no_block = a.no_block;
        (r, Kind::Op)
    };
    match cmd {
        Cmd::Status { resources, units } => {
            // Named units are few: their counters are cheap to read.
            let resources = resources || !units.is_empty();
            (with_units("status", units), Kind::Status { resources })
        }
        Cmd::Start(a) => op("start", a),
        Cmd::Stop(a) => op("stop", a),
        Cmd::Restart(a) => {
            let (mut r, kind) = op("restart", a.op);
            r.rolling = a.rolling;
            (r, kind)
        }
        Cmd::Scale {
            unit,
            count,
            no_block,
        } => {
            let mut r = with_units("scale", vec![unit]);
            r.count = Some(count);
            r.no_block = no_block;
            (r, Kind::Op)
        }
        Cmd::Kill { signal, unit } => {
            let mut r = with_units("kill", vec![unit]);
            r.signal = signal;
            (r, Kind::Op)
        }
        Cmd::Cat { unit } => (with_units("cat", vec![unit]), Kind::Cat),
        Cmd::Logs {
            lines,
            follow,
            units,
        } => {
            let mut r = with_units("logs", units);
            r.lines = Some(lines);
            r.follow = follow;
            (r, Kind::Logs)
        }
        Cmd::Events => (Request::new("events"), Kind::Events),
        Cmd::Health { units } => (with_units("health", units), Kind::Health),
        Cmd::Pause { unit } => (with_units("pause", vec![unit]), Kind::Op),
        Cmd::Resume { unit } => (with_units("resume", vec![unit]), Kind::Op),
        Cmd::Reload { dry_run } => {
            let mut r = Request::new("reload");
            r.dry_run = dry_run;
            (r, Kind::Reload)
        }
        Cmd::Run {
            name,
            props,
            wait,
            timeout,
            unit_type,
            argv,
        } => {
            let mut r = Request::new("run");
            r.name = name;
            r.props = props;
            r.wait = wait;
            r.unit_type = unit_type;
            r.argv = argv;
            if let Some(t) = timeout {
                match sup::unit::values::parse_duration(&t) {
                    Ok(d) => r.timeout_ms = Some(d.as_millis().clamp(1, u64::MAX as u128) as u64),
                    Err(e) => usage_exit(&format!("--timeout: {e}")),
                }
            }
            (r, Kind::Run { wait })
        }
        Cmd::Forget { ended, units } => {
            let mut r = with_units("forget", units);
            r.ended = ended;
            (r, Kind::Forget)
        }
        Cmd::Metrics => (Request::new("metrics"), Kind::Generic),
        Cmd::Reexec => (Request::new("reexec"), Kind::Generic),
        Cmd::Shutdown => (Request::new("shutdown"), Kind::Generic),
        Cmd::Poweroff => (Request::new("poweroff"), Kind::Generic),
        Cmd::Reboot => (Request::new("reboot"), Kind::Generic),
        Cmd::Halt => (Request::new("halt"), Kind::Generic),
        Cmd::Check { .. } => unreachable!("check is handled locally"),
        Cmd::Import(_) => unreachable!("import is handled locally"),
    }
}

fn execute(socket: &Path, req: &Request, kind: Kind, json: bool) -> Result<u8, ClientError> {
    let mut client = Client::connect(socket, Some(CONNECT_TIMEOUT))?;
    if let Kind::Status { resources } = kind {
        let named = !req.units.is_empty();
        if json {
            client.send(req)?;
            return status(&client.read_reply_line()?, json, resources, false, named)
                .map(Option::unwrap_or_default);
        }
        // The table asks only for its columns, so sup reads fewer counters.
        let mut table_req = req.clone();
        let fields = TABLE_FIELDS
            .iter()
            .chain(if resources { &RESOURCE_FIELDS[..] } else { &[] });
        table_req.fields = Some(fields.map(|f| f.to_string()).collect());
        client.send(&table_req)?;
        if let Some(code) = status(&client.read_reply_line()?, json, resources, true, named)? {
            return Ok(code);
        }
        // A sup from before `fields` rejects the request: ask again without.
        let mut client = Client::connect(socket, Some(CONNECT_TIMEOUT))?;
        client.send(req)?;
        return status(&client.read_reply_line()?, json, resources, false, named)
            .map(Option::unwrap_or_default);
    }
    if kind == Kind::Logs && req.units.len() > 1 {
        return merged_logs(socket, req, json);
    }
    if kind == Kind::Logs {
        // Printed as they are parsed: a reply of any number of lines in bounded memory.
        client.send(req)?;
        let Response { reply, json: raw } =
            client.read_reply_lines(&mut |line| print_log_line(line, json))?;
        if !reply.ok {
            return Ok(report_error(&reply, &raw, kind, json));
        }
        return if req.follow {
            follow(&mut client, kind, json)
        } else {
            Ok(EXIT_OK)
        };
    }
    if kind == Kind::Cat {
        client.send(req)?;
        return cat(&client.read_reply_line()?, json);
    }
    let Response { reply, json: raw } = client.call(req)?;

    if kind == Kind::Reload {
        if let Some(report) = &reply.reload {
            if json {
                out(&raw.to_string());
            } else {
                print_reload(report);
            }
        }
        return Ok(if reply.ok {
            EXIT_OK
        } else {
            report_error(&reply, &raw, Kind::Events, false)
        });
    }
    if !reply.ok {
        return Ok(report_error(&reply, &raw, kind, json));
    }
    let code = match kind {
        Kind::Status { .. } => unreachable!("status is handled above"),
        Kind::Op | Kind::Generic => {
            if json {
                out(&raw.to_string());
            } else {
                // One write (`metrics` is thousands of lines).
                if let Some(lines) = reply.lines.as_ref().filter(|l| !l.is_empty()) {
                    out(&lines.join("\n"));
                }
            }
            if let (Some(s), false) = (reply.scale.as_deref(), json) {
                let pinned = if s.pinned {
                    " (pinned)"
                } else {
                    " (autoscale)"
                };
                out(&format!(
                    "{}: {} -> {} instances{pinned}",
                    s.unit, s.from, s.to
                ));
            }
            report_results(&reply, !json && kind == Kind::Generic)
        }
        Kind::Health => {
            let healthy = reply.healthy.unwrap_or(false);
            if json {
                out(&raw.to_string());
            } else {
                match reply.not_healthy.as_deref() {
                    Some(units) if !healthy => out(&format!("not healthy: {}", units.join(", "))),
                    _ => out(if healthy { "healthy" } else { "not healthy" }),
                }
            }
            if healthy {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Kind::Logs => unreachable!("logs is handled above"),
        Kind::Cat => unreachable!("cat is handled above"),
        Kind::Reload => unreachable!("reload is handled above"),
        Kind::Events => follow(&mut client, kind, json)?,
        Kind::Run { wait: true } => run_wait(&mut client, json)?,
        // The unit started (run), the units dropped (forget): one name a line.
        Kind::Run { wait: false } | Kind::Forget => {
            if json {
                out(&raw.to_string());
            } else {
                for r in reply.results.iter().flatten() {
                    out(&r.unit);
                }
            }
            EXIT_OK
        }
    };
    Ok(code)
}

/// `logs` of several units: each unit's last lines (one connection each), merged by the
/// timestamp that starts each line (`2026-11-27T13:00:00.123456Z `), then with `--follow`
/// the new lines of all of them as they come. Each line names its unit after its
/// timestamp (`TIME UNIT: text`; `--json`: `{"unit", "line"}`). A line without a timestamp
/// (`log.timestamps: false`, or a line too long to carry one) stays with the line before
/// it in its unit (the one after it when it comes first); a unit without any timestamp
/// comes before the others. `-n N`: the last N lines of the merge.
fn merged_logs(socket: &Path, req: &Request, json: bool) -> Result<u8, ClientError> {
    let mut tails: Vec<Vec<String>> = Vec::new();
    let mut clients = Vec::new();
    for unit in &req.units {
        let mut one = req.clone();
        one.units = vec![unit.clone()];
        let mut client = Client::connect(socket, Some(CONNECT_TIMEOUT))?;
        client.send(&one)?;
        let mut lines = Vec::new();
        let Response { reply, json: raw } = client.read_reply_lines(&mut |line| {
            lines.push(line.to_string());
        })?;
        if !reply.ok {
            return Ok(report_error(&reply, &raw, Kind::Logs, json));
        }
        tails.push(lines);
        clients.push(client);
    }
    let merged = merge_by_time(&tails);
    let skip = merged.len().saturating_sub(req.lines.unwrap_or(50));
    for &(unit, line) in &merged[skip..] {
        print_unit_line(&req.units[unit], &tails[unit][line], json);
    }
    if !req.follow {
        return Ok(EXIT_OK);
    }
    // New lines are printed as each unit's stream delivers them: in time order as far as
    // they arrive in it.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Option<String>, String>)>();
    for (unit, mut client) in clients.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || loop {
            let item = match client.read_item() {
                Ok(Some(msg)) => match msg.item {
                    StreamItem::Line(line) => Ok(Some(line)),
                    StreamItem::Dropped(why) => Err(format!("sup ended the stream: {why}")),
                    _ => continue,
                },
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            };
            let end = !matches!(item, Ok(Some(_)));
            if tx.send((unit, item)).is_err() || end {
                return;
            }
        });
    }
    drop(tx);
    let mut open = req.units.len();
    while open > 0 {
        let Ok((unit, item)) = rx.recv() else { break };
        match item {
            Ok(Some(line)) => print_unit_line(&req.units[unit], &line, json),
            Ok(None) => open -= 1,
            Err(e) => return Ok(fail(&e, EXIT_FAILED)),
        }
    }
    Ok(EXIT_OK)
}

/// The RFC 3339 UTC timestamp sup writes at the start of a log line, if it has one.
fn line_time(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let pattern = b"dddd-dd-ddTdd:dd:dd.ddddddZ ";
    if b.len() < pattern.len() {
        return None;
    }
    let ok = pattern.iter().zip(b).all(|(&p, &c)| match p {
        b'd' => c.is_ascii_digit(),
        _ => c == p,
    });
    ok.then(|| &line[..pattern.len() - 1])
}

/// The order of the merged lines: (unit, line) pairs. Each unit's lines keep their order;
/// between units the earliest time goes first (ties: the unit named first). A line
/// without a time takes the time of the line before it in its unit, or of the first line
/// after it with one; a unit without any time sorts first.
fn merge_by_time(tails: &[Vec<String>]) -> Vec<(usize, usize)> {
    let times: Vec<Vec<&str>> = tails
        .iter()
        .map(|lines| {
            let first = lines.iter().find_map(|l| line_time(l)).unwrap_or("");
            let mut last = first;
            lines
                .iter()
                .map(|l| {
                    if let Some(t) = line_time(l) {
                        last = t;
                    }
                    last
                })
                .collect()
        })
        .collect();
    let mut next = vec![0usize; tails.len()];
    let mut order = Vec::with_capacity(tails.iter().map(Vec::len).sum());
    loop {
        let pick = (0..tails.len())
            .filter(|&u| next[u] < tails[u].len())
            .min_by_key(|&u| (times[u][next[u]], u));
        let Some(u) = pick else { break };
        order.push((u, next[u]));
        next[u] += 1;
    }
    order
}

/// A line of a merged log: `TIME UNIT: text` (or `UNIT: line` without a time).
fn print_unit_line(unit: &str, line: &str, json: bool) {
    if json {
        out(&json!({ "unit": unit, "line": line }).to_string());
    } else if let Some(t) = line_time(line) {
        out(&format!("{t} {unit}: {}", &line[t.len() + 1..]));
    } else {
        out(&format!("{unit}: {line}"));
    }
}

/// Prints the reply to `cat`: the configuration as a unit file, or with `--json` the
/// reply's `config` object. Parsed from the reply line itself, so the keys keep sup's
/// order (the order of the key reference).
fn cat(line: &[u8], json: bool) -> Result<u8, ClientError> {
    let resp = parse_reply(line)?;
    if !resp.reply.ok {
        return Ok(report_error(&resp.reply, &resp.json, Kind::Cat, json));
    }
    #[derive(Deserialize)]
    struct CatReply {
        config: Option<sup::ctl::proto::UnitConfig>,
    }
    let reply: CatReply =
        serde_json::from_slice(line).map_err(|source| ClientError::BadReply { source })?;
    let Some(config) = reply.config else {
        return Ok(fail("sup sent no configuration", EXIT_FAILED));
    };
    if json {
        match serde_json::to_string(&config) {
            Ok(text) => out(&text),
            Err(e) => return Ok(fail(&format!("cannot print: {e}"), EXIT_FAILED)),
        }
    } else {
        out(sup::unit::render::config_yaml(&config).trim_end());
    }
    Ok(EXIT_OK)
}

/// Prints stream items until sup closes the connection.
fn follow(client: &mut Client, kind: Kind, json: bool) -> Result<u8, ClientError> {
    while let Some(msg) = client.read_item()? {
        match msg.item {
            StreamItem::Line(line) if kind == Kind::Logs => print_log_line(&line, json),
            StreamItem::Event(event) if kind == Kind::Events => {
                if json {
                    let obj = msg.json.get("event").cloned().unwrap_or(msg.json);
                    out(&obj.to_string());
                } else {
                    out(&format_event(&event));
                }
            }
            StreamItem::Dropped(why) => {
                return Ok(fail(&format!("sup ended the stream: {why}"), EXIT_FAILED))
            }
            // An item of another stream kind: not ours to print.
            _ => {}
        }
    }
    Ok(EXIT_OK)
}

/// `run --wait` after the reply: the unit's output lines, then its end, which gives the
/// exit code: the unit's exit code, 128+N for signal N, 124 when stopped at its deadline
/// (as timeout(1)), 127 when the command was not found, 126 when it could not be started
/// otherwise, 1 for any other end without an exit status.
fn run_wait(client: &mut Client, json: bool) -> Result<u8, ClientError> {
    while let Some(msg) = client.read_item()? {
        match msg.item {
            StreamItem::Line(line) => print_log_line(&line, json),
            StreamItem::RunEnd(end) => {
                if json {
                    let obj = msg.json.get("run_end").cloned().unwrap_or(msg.json);
                    out(&obj.to_string());
                }
                return Ok(run_exit_code(&end));
            }
            StreamItem::Dropped(why) => {
                return Ok(fail(&format!("sup ended the stream: {why}"), EXIT_FAILED))
            }
            StreamItem::Event(_) => {}
        }
    }
    Ok(fail(
        "sup closed the connection before the unit ended",
        EXIT_FAILED,
    ))
}

fn run_exit_code(end: &sup::ctl::proto::RunEnd) -> u8 {
    let why = || {
        let mut s = format!("{}: {}", end.unit, end.state);
        if let Some(r) = &end.reason {
            s.push_str(&format!(" ({r})"));
        }
        if let Some(m) = &end.message {
            s.push_str(&format!(": {m}"));
        }
        s
    };
    // Stopped at the --timeout deadline (a start_timeout is a failure, state failed).
    if end.reason.as_deref() == Some("timeout") && end.state == "stopped" {
        eprintln!("supctl: {}", why());
        return 124;
    }
    match &end.exit {
        Some(ExitInfo::Code(c)) => (*c & 0xff) as u8,
        Some(ExitInfo::Signal(name)) => {
            let n = (1..=64)
                .find(|&n| sup::proc::signal_name(n) == *name)
                .unwrap_or(0);
            128u8.wrapping_add(n as u8)
        }
        Some(ExitInfo::Ntstatus(_)) => EXIT_FAILED,
        None => {
            eprintln!("supctl: {}", why());
            match end.reason.as_deref() {
                Some("exec")
                    if end
                        .message
                        .as_deref()
                        // The command itself was not found (not its working_dir, …).
                        .is_some_and(|m| m.starts_with("exec ") && m.contains("No such file")) =>
                {
                    127
                }
                Some("exec") => 126,
                _ => EXIT_FAILED,
            }
        }
    }
}

/// The reload report as a table: `added NAME`, …, `N unchanged` (`would add NAME`, …
/// with `--dry-run`).
fn print_reload(r: &sup::ctl::proto::ReloadReport) {
    let verbs: [(&str, &str, &Vec<String>); 4] = [
        ("added", "would add", &r.added),
        ("removed", "would remove", &r.removed),
        ("restarted", "would restart", &r.restarted),
        ("updated", "would update", &r.updated),
    ];
    for (done, would, names) in verbs {
        for name in names {
            out(&format!(
                "{:<14} {name}",
                if r.dry_run { would } else { done }
            ));
        }
    }
    for f in &r.invalid {
        out(&format!("{:<14} {}", "invalid", f.unit));
        for line in f.message.lines() {
            out(&format!("    {line}"));
        }
    }
    out(&format!("{} unchanged", r.unchanged));
}

fn print_log_line(line: &str, json: bool) {
    if json {
        out(&json!({ "line": line }).to_string());
    } else {
        out(line);
    }
}

/// A reply with `ok: false`: print its message, map its code to an exit code.
fn report_error(reply: &Reply, raw: &Value, kind: Kind, json: bool) -> u8 {
    if json && kind != Kind::Logs && kind != Kind::Events {
        out(&raw.to_string());
    }
    // A failed operation may still carry per-unit results worth showing.
    report_results(reply, false);
    match &reply.error {
        Some(err) => {
            let code = match err.code {
                ErrorCode::BadRequest => EXIT_USAGE,
                ErrorCode::NoSuchUnit => EXIT_NO_UNIT,
                ErrorCode::PermissionDenied | ErrorCode::Failed => EXIT_FAILED,
                // A limit of sup's control socket: like a full accept backlog.
                ErrorCode::Busy => EXIT_UNREACHABLE,
            };
            fail(&err.message, code)
        }
        None => fail("request failed (no error detail from sup)", EXIT_FAILED),
    }
}

/// Reports `OpResult`s with `ok: false` on stderr; `verbose` also lists the good ones on
/// stdout (reload says what it did). Returns 1 if any failed.
fn report_results(reply: &Reply, verbose: bool) -> u8 {
    let mut code = EXIT_OK;
    for r in reply.results.iter().flatten() {
        let detail = r
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        if r.ok {
            if verbose {
                out(&format!("{}: {}{detail}", r.unit, r.state));
            }
        } else {
            code = EXIT_FAILED;
            eprintln!("supctl: {}: {}{detail}", r.unit, r.state);
        }
    }
    code
}

/// `check [DIR]`: local validation with the same loader sup uses.
fn check(dir: &Path, json: bool) -> u8 {
    match sup::unit::check_dir(dir) {
        Err(e) => fail(&format!("cannot read {}: {e}", dir.display()), EXIT_FAILED),
        Ok(problems) => {
            if json {
                let ok = !problems.iter().any(|p| !sup::unit::is_warning(p));
                out(&json!({ "ok": ok, "problems": problems }).to_string());
            } else {
                for p in &problems {
                    out(p);
                }
            }
            if problems.iter().all(|p| sup::unit::is_warning(p)) {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
    }
}

/// A string of a reply, borrowed from the reply line unless it had escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the status table shows of a `UNIT_STATUS` (other fields are skipped).
#[derive(Deserialize)]
struct UnitRow<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(borrow, default)]
    reason: Option<Text<'a>>,
    #[serde(borrow, default)]
    message: Option<Text<'a>>,
    #[serde(default)]
    pid: Option<u32>,
    restarts: u32,
    #[serde(borrow)]
    health: Text<'a>,
    #[serde(borrow)]
    since: Text<'a>,
    #[serde(default)]
    memory_bytes: Option<u64>,
    #[serde(default)]
    cpu_usec: Option<u64>,
    #[serde(default)]
    pids: Option<u64>,
    #[serde(borrow, default)]
    status_text: Option<Text<'a>>,
    #[serde(borrow, default)]
    log_error: Option<Text<'a>>,
    #[serde(default)]
    exit: Option<ExitInfo>,
    #[serde(default)]
    transient: Option<bool>,
}

/// A `status` reply for the table: the units go into the table as they are parsed.
#[derive(Deserialize)]
struct StatusTable {
    v: u32,
    ok: bool,
    #[serde(default)]
    units: Option<Table>,
    #[serde(default)]
    slices: Option<Vec<SliceStatus>>,
}

/// A `status` reply for `--json`: `units` and `slices` are printed as sup sent them.
#[derive(Deserialize)]
struct StatusJson<'a> {
    v: u32,
    ok: bool,
    #[serde(borrow, default)]
    units: Option<&'a RawValue>,
    #[serde(borrow, default)]
    slices: Option<&'a RawValue>,
}

/// The `UNIT_STATUS` fields the table shows (the `fields` of its request).
const TABLE_FIELDS: [&str; 12] = [
    "name",
    "state",
    "reason",
    "message",
    "pid",
    "restarts",
    "health",
    "since",
    "status_text",
    "log_error",
    "exit",
    "transient",
];

/// The counters of the table's resource columns. Each costs sup a cgroup file read per
/// unit (3–4 µs of kernel time on cgroup v1), so the table of all units leaves them out
/// unless asked: with 500 units they would be most of the round trip.
const RESOURCE_FIELDS: [&str; 3] = ["memory_bytes", "cpu_usec", "pids"];

/// Prints a `status` reply line: the table, or with `--json` `{"units": [...]}` plus
/// `"slices"` when sup sent them, and returns the exit code. The reply is parsed only as
/// far as the output needs (hundreds of units make it large); an error reply goes the
/// general way. `resources`: the table shows its MEMORY, CPU and PIDS columns. With
/// `may_retry` a `bad-request` is not reported but gives `None`. `named`: the request
/// named its units, so a failed or invalid one among them exits 1 (as
/// `systemctl is-failed`; a unit that does not exist: 3, from sup's `no-such-unit`).
fn status(
    line: &[u8],
    json: bool,
    resources: bool,
    may_retry: bool,
    named: bool,
) -> Result<Option<u8>, ClientError> {
    fn parse<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, ClientError> {
        serde_json::from_slice(line).map_err(|source| ClientError::BadReply { source })
    }
    // Ok(None) to go on printing; Ok(Some(None)) to retry; Ok(Some(Some(code))) when done.
    let check = |v: u32, ok: bool| -> Result<Option<Option<u8>>, ClientError> {
        if v != PROTOCOL_VERSION {
            return Err(ClientError::Version { got: v });
        }
        if ok {
            return Ok(None);
        }
        let resp = parse_reply(line)?;
        if may_retry && resp.reply.error.as_ref().map(|e| e.code) == Some(ErrorCode::BadRequest) {
            return Ok(Some(None));
        }
        Ok(Some(Some(report_error(
            &resp.reply,
            &resp.json,
            Kind::Status { resources: false },
            json,
        ))))
    };
    let failed;
    if json {
        let doc: StatusJson = parse(line)?;
        if let Some(code) = check(doc.v, doc.ok)? {
            return Ok(code);
        }
        let units = doc.units.map_or("[]", RawValue::get);
        #[derive(Deserialize)]
        struct State<'a> {
            #[serde(borrow)]
            state: Text<'a>,
        }
        let states: Vec<State> = parse(units.as_bytes())?;
        failed = states.iter().any(|u| is_failed(u.state.as_str()));
        match doc.slices {
            Some(slices) => out(&format!(
                "{{\"units\":{units},\"slices\":{}}}",
                slices.get()
            )),
            None => out(&format!("{{\"units\":{units}}}")),
        }
    } else {
        let doc: StatusTable = parse(line)?;
        if let Some(code) = check(doc.v, doc.ok)? {
            return Ok(code);
        }
        let table = doc.units.unwrap_or_default();
        table.print(resources);
        failed = table.failed;
        print_slices(doc.slices.as_deref().unwrap_or_default());
    }
    Ok(Some(if named && failed {
        EXIT_FAILED
    } else {
        EXIT_OK
    }))
}

/// The states `status UNIT...` exits 1 for: the unit gave up (`failed`) or its file was
/// rejected (`invalid`).
fn is_failed(state: &str) -> bool {
    matches!(state, "failed" | "invalid")
}

/// The unit table, filled row by row while the reply is parsed (a status of hundreds of
/// units keeps no list of rows): every cell in one arena, `ends` where each ends.
struct Table {
    arena: String,
    ends: Vec<[usize; COLUMNS]>,
    widths: [usize; COLUMNS],
    /// Lines under a row (a status text, a failed unit's message), each starting with
    /// a newline: (row, text).
    notes: Vec<(usize, String)>,
    /// Whether a unit is failed or invalid ([`is_failed`]).
    failed: bool,
}

const COLUMNS: usize = 10;

const TABLE_HEADER: [&str; COLUMNS] = [
    "UNIT", "STATE", "REASON", "PID", "RESTARTS", "HEALTH", "MEMORY", "CPU", "PIDS", "SINCE",
];

/// The columns of [`TABLE_HEADER`] shown only with resources.
const RESOURCE_COLUMNS: std::ops::Range<usize> = 6..9;

impl Default for Table {
    fn default() -> Table {
        Table {
            arena: String::new(),
            ends: Vec::new(),
            widths: TABLE_HEADER.map(str::len),
            notes: Vec::new(),
            failed: false,
        }
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
        struct Rows;
        impl<'de> serde::de::Visitor<'de> for Rows {
            type Value = Table;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of unit statuses")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Table, A::Error> {
                let mut table = Table::default();
                table.arena.reserve(seq.size_hint().unwrap_or(64) * 80);
                while let Some(row) = seq.next_element::<UnitRow<'de>>()? {
                    table.push(&row);
                }
                Ok(table)
            }
        }
        d.deserialize_seq(Rows)
    }
}

impl Table {
    fn push(&mut self, u: &UnitRow) {
        self.failed |= is_failed(u.state.as_str());
        let arena = &mut self.arena;
        let mut row = [0; COLUMNS];
        let mut start = arena.len();
        for (i, end) in row.iter_mut().enumerate() {
            match i {
                0 => arena.push_str(u.name.as_str()),
                1 => arena.push_str(u.state.as_str()),
                2 => arena.push_str(u.reason.as_ref().map_or("-", Text::as_str)),
                3 => push_opt(arena, u.pid),
                4 => push_opt(arena, Some(u.restarts)),
                5 => arena.push_str(u.health.as_str()),
                6 => match u.memory_bytes {
                    Some(n) => push_bytes(arena, n),
                    None => arena.push('-'),
                },
                7 => match u.cpu_usec {
                    Some(n) => push_cpu(arena, n),
                    None => arena.push('-'),
                },
                8 => push_opt(arena, u.pids),
                _ => push_short_time(arena, u.since.as_str()),
            }
            *end = arena.len();
            self.widths[i] = self.widths[i].max(arena[start..*end].chars().count());
            start = *end;
        }
        let mut note = String::new();
        if let Some(text) = &u.status_text {
            note.push_str("\n    status: ");
            note.push_str(text.as_str());
        }
        if let Some(text) = &u.log_error {
            note.push_str("\n    ");
            note.push_str(text.as_str());
        }
        if u.transient == Some(true) {
            note.push_str("\n    transient");
            if u.pid.is_none() {
                if let Some(exit) = &u.exit {
                    note.push_str(", ");
                    note.push_str(&format_exit(exit));
                }
            }
        }
        if let Some(msg) = &u.message {
            for line in msg.as_str().lines() {
                note.push_str("\n    ");
                note.push_str(line);
            }
        }
        if !note.is_empty() {
            self.notes.push((self.ends.len(), note));
        }
        self.ends.push(row);
    }

    /// Prints the table with one write (hundreds of units); `resources`: with the
    /// resource columns.
    fn print(&self, resources: bool) {
        let mut widths = self.widths;
        if !resources {
            // A hidden column: no width, no separator.
            widths[RESOURCE_COLUMNS].fill(HIDDEN);
        }
        let widths = &widths;
        let line_len: usize = widths.iter().filter(|&&w| w != HIDDEN).map(|w| w + 2).sum();
        let mut table = String::with_capacity((self.ends.len() + 1) * (line_len + 1));
        push_table_line(&mut table, &TABLE_HEADER, widths);
        let mut notes = self.notes.iter().peekable();
        let mut start = 0;
        for (n, row) in self.ends.iter().enumerate() {
            let cells = row.map(|end| {
                let cell = &self.arena[start..end];
                start = end;
                cell
            });
            table.push('\n');
            push_table_line(&mut table, &cells, widths);
            if let Some((_, note)) = notes.next_if(|(row, _)| *row == n) {
                table.push_str(note);
            }
        }
        out(&table);
    }
}

/// A number, or `-` for none.
fn push_opt<N: std::fmt::Display>(out: &mut String, n: Option<N>) {
    use std::fmt::Write;
    match n {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push('-'),
    }
}

/// Slices under the unit table: `SLICE  UNITS  MAX  MEMORY  CPU  CGROUP`.
fn print_slices(slices: &[SliceStatus]) {
    if slices.is_empty() {
        return;
    }
    out("");
    let rows: Vec<[String; 6]> = slices
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.units.to_string(),
                s.max_units.map_or("-".into(), |m| m.to_string()),
                s.memory_bytes.map_or("-".into(), human_bytes),
                s.cpu_usec.map_or("-".into(), human_cpu),
                s.cgroup.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["SLICE", "UNITS", "MAX", "MEMORY", "CPU", "CGROUP"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            l.push_str(&format!("{cell:<w$}  "));
        }
        l.trim_end().to_string()
    };
    out(&line(&header));
    for (row, s) in rows.iter().zip(slices) {
        out(&line(row));
        if let Some(m) = &s.message {
            out(&format!("    {m}"));
        }
    }
}

/// The width of a column the table leaves out.
const HIDDEN: usize = usize::MAX;

/// Appends one table line: cells padded to their column's width plus two spaces, the
/// last one unpadded, trailing blanks trimmed; columns of width [`HIDDEN`] left out.
fn push_table_line<S: AsRef<str>>(
    table: &mut String,
    cells: &[S; COLUMNS],
    widths: &[usize; COLUMNS],
) {
    let start = table.len();
    for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        if w == HIDDEN {
            continue;
        }
        let cell = cell.as_ref();
        table.push_str(cell);
        if i + 1 < cells.len() {
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            for _ in 0..pad {
                table.push(' ');
            }
        }
    }
    let end = start + table[start..].trim_end().len();
    table.truncate(end);
}

/// `12.3M` style, powers of 1024.
fn human_bytes(n: u64) -> String {
    let mut s = String::new();
    push_bytes(&mut s, n);
    s
}

/// [`human_bytes`] appended to `out`.
fn push_bytes(out: &mut String, n: u64) {
    use std::fmt::Write;
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        let _ = write!(out, "{n}B");
        return;
    }
    let mut i = 0;
    while i + 1 < UNITS.len() && n >> (10 * (i + 2)) > 0 {
        i += 1;
    }
    // n / 1024^(i+1) to one decimal: the quotient in tenths, rounded to nearest.
    match round_div(u128::from(n) * 10, 1 << (10 * (i + 1))) {
        Some(tenths) => {
            let _ = write!(out, "{}.{}{}", tenths / 10, tenths % 10, UNITS[i]);
        }
        // A tie: round as the float formatting always did.
        None => {
            let v = n as f64 / (1u64 << (10 * (i + 1))) as f64;
            let _ = write!(out, "{v:.1}{}", UNITS[i]);
        }
    }
}

/// `1.25s` style.
fn human_cpu(usec: u64) -> String {
    let mut s = String::new();
    push_cpu(&mut s, usec);
    s
}

/// [`human_cpu`] appended to `out`.
fn push_cpu(out: &mut String, usec: u64) {
    use std::fmt::Write;
    match round_div(u128::from(usec), 10_000) {
        Some(hundredths) => {
            let _ = write!(out, "{}.{:02}s", hundredths / 100, hundredths % 100);
        }
        // A tie: round as the float formatting always did.
        None => {
            let _ = write!(out, "{:.2}s", usec as f64 / 1_000_000.0);
        }
    }
}

/// `n / d` rounded to the nearest integer; `None` for an exact tie.
fn round_div(n: u128, d: u128) -> Option<u128> {
    let (q, r) = (n / d, n % d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => Some(q),
        std::cmp::Ordering::Greater => Some(q + 1),
        std::cmp::Ordering::Equal => None,
    }
}

/// Drops fractional seconds from an RFC 3339 time: `2024-05-01T10:00:00.123Z` →
/// `2024-05-01T10:00:00Z`.
#[cfg(test)]
fn short_time(t: &str) -> String {
    let mut s = String::new();
    push_short_time(&mut s, t);
    s
}

/// [`short_time`] appended to `out`.
fn push_short_time(out: &mut String, t: &str) {
    match t.find('.') {
        Some(dot) if t[..dot].contains('T') => {
            let rest = &t[dot + 1..];
            let frac = rest.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(&t[..dot]);
            out.push_str(&rest[frac..]);
        }
        _ => out.push_str(t),
    }
}

fn format_exit(exit: &ExitInfo) -> String {
    match exit {
        ExitInfo::Code(c) => format!("exit={c}"),
        ExitInfo::Signal(s) => format!("signal={s}"),
        ExitInfo::Ntstatus(s) => format!("ntstatus={s}"),
    }
}

/// `TIME UNIT kind state (from → to) reason exit pid message`, absent parts left out.
fn format_event(e: &Event) -> String {
    let mut parts = vec![e.time.clone(), e.unit.clone(), e.kind.clone()];
    match (&e.from, &e.state) {
        (Some(from), Some(to)) => parts.push(format!("{from} → {to}")),
        (None, Some(to)) => parts.push(to.clone()),
        (Some(from), None) => parts.push(format!("{from} →")),
        (None, None) => {}
    }
    if let Some(r) = &e.reason {
        parts.push(format!("reason={r}"));
    }
    if let Some(x) = &e.exit {
        parts.push(format_exit(x));
    }
    if let Some(p) = e.pid {
        parts.push(format!("pid={p}"));
    }
    if let Some(m) = &e.message {
        parts.push(m.clone());
    }
    parts.join(" ")
}

/// Prints a line on stdout; a closed stdout (`supctl logs -f | head`) ends supctl quietly.
fn out(line: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OK.into());
        }
        eprintln!("supctl: cannot write output: {e}");
        std::process::exit(EXIT_FAILED.into());
    }
}

fn fail(message: &str, code: u8) -> u8 {
    eprintln!("supctl: {message}");
    code
}

/// A usage error found after parsing (a bad value): say it and exit 2, as clap does.
fn usage_exit(message: &str) -> ! {
    eprintln!("supctl: {message}");
    std::process::exit(i32::from(EXIT_USAGE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn requests() {
        let parse = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("supctl").chain(args.iter().copied())).unwrap();
            build_request(cli.command).0
        };
        let r = parse(&["start", "--no-block", "a", "b"]);
        assert_eq!((r.cmd.as_str(), r.no_block), ("start", true));
        assert_eq!(r.units, ["a", "b"]);
        let r = parse(&["kill", "-s", "HUP", "web"]);
        assert_eq!((r.cmd.as_str(), r.signal.as_deref()), ("kill", Some("HUP")));
        let r = parse(&["logs", "-n", "3", "-f", "web"]);
        assert_eq!((r.lines, r.follow), (Some(3), true));
        assert_eq!(parse(&["logs", "web"]).lines, Some(50));
        assert_eq!(parse(&["--json", "status"]).units, Vec::<String>::new());
        assert_eq!(parse(&["pause", "x"]).cmd, "pause");
        assert!(Cli::try_parse_from(["supctl", "start"]).is_err());
        assert!(Cli::try_parse_from(["supctl", "kill"]).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(12_900_000), "12.3M");
        assert_eq!(human_cpu(1_250_000), "1.25s");
        // The same text as the float formatting this replaced, ties included, wherever
        // the float was exact enough (below 2^53).
        let float_bytes = |n: u64| {
            const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
            if n < 1024 {
                return format!("{n}B");
            }
            let mut v = n as f64 / 1024.0;
            let mut i = 0;
            while v >= 1024.0 && i + 1 < UNITS.len() {
                v /= 1024.0;
                i += 1;
            }
            format!("{v:.1}{}", UNITS[i])
        };
        let float_cpu = |usec: u64| format!("{:.2}s", usec as f64 / 1_000_000.0);
        let mut n: u64 = 1;
        for step in 0..20_000u64 {
            for v in [
                n,
                n.wrapping_mul(1024),
                step,
                step * 5_000,
                step * 1_280,
                u64::MAX - step,
            ] {
                let v = v & ((1 << 53) - 1);
                assert_eq!(human_bytes(v), float_bytes(v), "{v}");
                assert_eq!(human_cpu(v), float_cpu(v), "{v}");
            }
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                >> (step % 50);
        }
        assert_eq!(
            short_time("2024-05-01T10:00:00.123+02:00"),
            "2024-05-01T10:00:00+02:00"
        );
        assert_eq!(short_time("2024-05-01T10:00:00Z"), "2024-05-01T10:00:00Z");
        let e = Event {
            time: "T".into(),
            unit: "web".into(),
            kind: "state".into(),
            state: Some("backoff".into()),
            from: Some("running".into()),
            reason: Some("exit-code".into()),
            exit: Some(ExitInfo::Code(3)),
            pid: None,
            message: None,
        };
        assert_eq!(
            format_event(&e),
            "T web state running → backoff reason=exit-code exit=3"
        );
    }
}
