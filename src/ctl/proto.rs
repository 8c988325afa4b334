//! Control protocol v1: newline-delimited JSON over a Unix stream socket.
//!
//! The client sends one `Request` per line; the server answers each with one `Reply` line.
//! `events` and `logs` with `follow` keep the connection open after the reply and send
//! one `StreamItem` per line until either side closes.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;
/// A request line longer than this is rejected and the connection closed.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// One request. Unknown fields are rejected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Protocol version; must be 1.
    pub v: u32,
    /// `status`, `start`, `stop`, `restart`, `kill`, `logs`, `events`, `health`, …
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    /// start/stop/restart: reply at once instead of waiting for the outcome.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_block: bool,
    /// kill: signal name or number (default SIGTERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// logs: how many last lines (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<usize>,
    /// logs: keep streaming new lines.
    #[serde(default, skip_serializing_if = "is_false")]
    pub follow: bool,
    /// status: only these `UNIT_STATUS` fields (omitted = all). Counters not asked for
    /// are not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// reload: only say what would be done.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// run: the command (argv) of the transient unit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// run: unit keys as `KEY=VALUE` (`-p`), VALUE in unit-file syntax.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub props: Vec<String>,
    /// run: the unit's name (default `run-N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// run: `simple` (default) or `oneshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_type: Option<String>,
    /// run: stream the unit's output, then a `run_end` item when it ends.
    #[serde(default, skip_serializing_if = "is_false")]
    pub wait: bool,
    /// run: stop the unit this many milliseconds after it starts (reason `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// forget: every ended transient unit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ended: bool,
    /// scale: the number of instances, or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// restart: one instance of a pool at a time, each waiting for its replacement.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rolling: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
    pub fn new(cmd: &str) -> Request {
        Request {
            v: PROTOCOL_VERSION,
            cmd: cmd.to_string(),
            ..Request::default()
        }
    }

    /// Whether the command only reads (any peer that can connect may send it).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.cmd.as_str(),
            "status" | "logs" | "events" | "health" | "metrics"
        )
    }
}

/// What sup checks of a request line before acting on it: JSON of the [`Request`] shape
/// (unknown fields rejected) and this protocol version. The `Err` is the reply to send.
pub fn parse_request(line: &[u8]) -> Result<Request, Reply> {
    let req: Request = serde_json::from_slice(line)
        .map_err(|e| Reply::error(ErrorCode::BadRequest, format!("malformed request: {e}")))?;
    if req.v != PROTOCOL_VERSION {
        return Err(Reply::error(
            ErrorCode::BadRequest,
            format!(
                "unsupported protocol version {} (this sup speaks {PROTOCOL_VERSION})",
                req.v
            ),
        ));
    }
    Ok(req)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Malformed JSON, unknown command, bad field value, oversized request.
    BadRequest,
    /// A named unit does not exist.
    NoSuchUnit,
    /// The peer may only read.
    PermissionDenied,
    /// The operation was carried out and failed (a unit failed to start, …).
    Failed,
    /// A limit of the control socket is reached (connections, streams): try again later.
    Busy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
}

/// Exit status of a unit's last main process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitInfo {
    Code(i32),
    /// Signal name, e.g. `SIGKILL`.
    Signal(String),
    /// Windows: the NTSTATUS the process ended with, e.g.
    /// `0xC0000005 (STATUS_ACCESS_VIOLATION)`.
    Ntstatus(String),
}

/// `UNIT_STATUS` of SPEC section 6.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub name: String,
    pub description: Option<String>,
    /// inactive, waiting, starting, running, stopping, stopped, done, failed, backoff,
    /// paused, invalid
    pub state: String,
    /// exit-code, signal, oom, start-limit, timeout, dependency, unhealthy, exec, or null.
    pub reason: Option<String>,
    /// Human detail: an exec error, the invalid-file message, a cycle, …
    #[serde(default)]
    pub message: Option<String>,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub ready: bool,
    /// unknown, healthy, unhealthy
    pub health: String,
    pub exit: Option<ExitInfo>,
    /// RFC 3339 time of the last state change.
    pub since: String,
    pub cgroup: Option<String>,
    pub memory_bytes: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub pids: Option<u64>,
    pub oom_kills: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<String>>,
    /// The latest `STATUS=` text a notify unit sent (omitted when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// While the unit's log file takes no lines: `log: ERROR, N bytes dropped`
    /// (omitted when all is well).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// A transient unit (`supctl run`): `true` (omitted for units from files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
}

/// The fields of `UNIT_STATUS`, in the order they are sent.
pub const UNIT_STATUS_FIELDS: [&str; 20] = [
    "name",
    "description",
    "state",
    "reason",
    "message",
    "pid",
    "restarts",
    "ready",
    "health",
    "exit",
    "since",
    "cgroup",
    "memory_bytes",
    "cpu_usec",
    "pids",
    "oom_kills",
    "instances",
    "status_text",
    "log_error",
    "transient",
];

/// A set of `UNIT_STATUS` fields: bit `i` stands for `UNIT_STATUS_FIELDS[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields(u32);

impl Fields {
    pub const ALL: Fields = Fields((1 << UNIT_STATUS_FIELDS.len()) - 1);
    /// The counters read from the unit's cgroup.
    pub const MEMORY_BYTES: Fields = Fields(1 << 12);
    pub const CPU_USEC: Fields = Fields(1 << 13);
    pub const PIDS: Fields = Fields(1 << 14);
    pub const OOM_KILLS: Fields = Fields(1 << 15);

    /// Whether every field of `other` is in the set.
    pub fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }

    /// The named fields; names this version does not know are ignored (a newer client
    /// asking for a field gets the others).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Fields {
        let mut bits = 0;
        for name in names {
            if let Some(i) = UNIT_STATUS_FIELDS.iter().position(|f| *f == name.as_ref()) {
                bits |= 1 << i;
            }
        }
        Fields(bits)
    }

    /// The set a `status` request asks for: its `fields`, or all of them.
    pub fn requested(req: &Request) -> Fields {
        req.fields
            .as_deref()
            .map_or(Fields::ALL, Fields::from_names)
    }

    /// Whether `name` (one of `UNIT_STATUS_FIELDS`) is in the set.
    pub fn has(self, name: &str) -> bool {
        UNIT_STATUS_FIELDS
            .iter()
            .position(|f| *f == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// A `UNIT_STATUS` borrowed from the server's state, for writing `status` replies without
/// copying every string: with all fields it serializes to exactly the bytes of the
/// [`UnitStatus`] with the same values (same fields, same order; a test keeps the two in
/// step); fields outside `fields` are left out.
#[derive(Clone, Debug)]
pub struct UnitStatusRef<'a> {
    pub fields: Fields,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub state: &'a str,
    pub reason: Option<&'a str>,
    pub message: Option<&'a str>,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub ready: bool,
    pub health: &'a str,
    pub exit: Option<ExitInfo>,
    pub since: crate::output::Rfc3339,
    pub cgroup: Option<&'a str>,
    pub memory_bytes: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub pids: Option<u64>,
    pub oom_kills: Option<u64>,
    /// Left out when `None`, like `UnitStatus::instances`.
    pub instances: Option<&'a [String]>,
    /// Left out when `None`, like `UnitStatus::status_text`.
    pub status_text: Option<&'a str>,
    /// Left out when `None`, like `UnitStatus::log_error`.
    pub log_error: Option<&'a str>,
    /// Left out when `None`, like `UnitStatus::transient`.
    pub transient: Option<bool>,
}

impl Serialize for UnitStatusRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("UnitStatus", UNIT_STATUS_FIELDS.len())?;
        // field!(i, value): UNIT_STATUS_FIELDS[i] when in the set; `some` also leaves it
        // out when it is None.
        macro_rules! field {
            ($i:literal, some $value:expr) => {
                field!($i, $value, $value.is_some())
            };
            ($i:literal, $value:expr) => {
                field!($i, $value, true)
            };
            ($i:literal, $value:expr, $present:expr) => {
                if self.fields.0 & (1 << $i) != 0 && $present {
                    st.serialize_field(UNIT_STATUS_FIELDS[$i], $value)?;
                } else {
                    st.skip_field(UNIT_STATUS_FIELDS[$i])?;
                }
            };
        }
        field!(0, &self.name);
        field!(1, &self.description);
        field!(2, &self.state);
        field!(3, &self.reason);
        field!(4, &self.message);
        field!(5, &self.pid);
        field!(6, &self.restarts);
        field!(7, &self.ready);
        field!(8, &self.health);
        field!(9, &self.exit);
        field!(10, &self.since);
        field!(11, &self.cgroup);
        field!(12, &self.memory_bytes);
        field!(13, &self.cpu_usec);
        field!(14, &self.pids);
        field!(15, &self.oom_kills);
        field!(16, some & self.instances);
        field!(17, some & self.status_text);
        field!(18, some & self.log_error);
        field!(19, some & self.transient);
        st.end()
    }
}

/// Appends the reply line to a `status` request (`{"v":1,"ok":true,"units":[...]` plus
/// `"slices"` when given, and the newline): the bytes `Reply` would serialize to, written
/// one unit at a time.
pub fn write_status_reply<'a>(
    out: &mut Vec<u8>,
    units: impl IntoIterator<Item = UnitStatusRef<'a>>,
    slices: Option<&[SliceStatus]>,
) {
    // Serializing these types into a Vec cannot fail (no maps with non-string keys, no
    // fallible Serialize impls, an infallible writer): the results are ignored.
    out.extend_from_slice(b"{\"v\":");
    let _ = serde_json::to_writer(&mut *out, &PROTOCOL_VERSION);
    out.extend_from_slice(b",\"ok\":true,\"units\":[");
    for (i, unit) in units.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, &unit);
    }
    out.push(b']');
    if let Some(slices) = slices {
        out.extend_from_slice(b",\"slices\":");
        let _ = serde_json::to_writer(&mut *out, slices);
    }
    out.extend_from_slice(b"}\n");
}

/// Writes the reply to `logs` piece by piece, so a reply of any length is never held
/// whole: [`begin`](Self::begin), then for each line [`start_line`](Self::start_line),
/// any number of [`line_bytes`](Self::line_bytes) and [`end_line`](Self::end_line), then
/// [`end`](Self::end). The bytes are those of `Reply { lines: Some(..), ..Reply::ok() }`
/// with each line decoded as lossy UTF-8 (a character split between two pieces is kept
/// whole).
#[derive(Debug, Default)]
pub struct LinesReplyWriter {
    first: bool,
    /// The start of a UTF-8 sequence cut off at the end of the last piece.
    carry: Vec<u8>,
}

impl LinesReplyWriter {
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        self.first = true;
        out.extend_from_slice(b"{\"v\":");
        out.extend_from_slice(PROTOCOL_VERSION.to_string().as_bytes());
        out.extend_from_slice(b",\"ok\":true,\"lines\":[");
    }

    pub fn start_line(&mut self, out: &mut Vec<u8>) {
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        self.carry.clear();
        out.push(b'"');
    }

    pub fn line_bytes(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.carry.is_empty() {
            self.carry = escape_lossy(out, bytes);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(bytes);
            self.carry = escape_lossy(out, &joined);
        }
    }

    pub fn end_line(&mut self, out: &mut Vec<u8>) {
        if !self.carry.is_empty() {
            // A sequence the line ended inside: one replacement character.
            self.carry.clear();
            escape_str(out, "\u{fffd}");
        }
        out.push(b'"');
    }

    pub fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}\n");
    }
}

/// Appends `bytes` JSON-escaped (without quotes), invalid UTF-8 replaced by U+FFFD as
/// `String::from_utf8_lossy` does; returns an incomplete sequence at the very end for the
/// caller to join with what follows.
fn escape_lossy(out: &mut Vec<u8>, mut bytes: &[u8]) -> Vec<u8> {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                escape_str(out, s);
                return Vec::new();
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // `valid_up_to` marks a valid prefix: this cannot fail.
                escape_str(out, std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        escape_str(out, "\u{fffd}");
                        bytes = &rest[n..];
                    }
                    None => return rest.to_vec(),
                }
            }
        }
    }
}

/// Appends `s` escaped as inside a JSON string, byte for byte as serde_json does.
fn escape_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A slice in `status` (SPEC §4): its cgroup, quota and aggregate usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceStatus {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parent: Option<String>,
    pub cgroup: Option<String>,
    pub max_units: Option<u32>,
    /// Live units in it (nested slices included).
    pub units: u32,
    pub memory_bytes: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub pids: Option<u64>,
    /// Why its cgroup could not be set up.
    #[serde(default)]
    pub message: Option<String>,
}

/// The outcome for one unit of start/stop/restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    pub unit: String,
    pub ok: bool,
    /// The unit's state when the reply was sent.
    pub state: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// One reply line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    pub ok: bool,
    /// Boxed, as the rarer fields are, so `Reply` stays small (it is the error type of the
    /// control handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorReply>>,
    /// status. Boxed like `slices` (status replies are written by `write_status_reply`).
    #[allow(clippy::box_collection)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Box<Vec<UnitStatus>>>,
    /// status: the slices (when there are any). Boxed so `Reply` stays small (it is the
    /// error type of the control handlers).
    #[allow(clippy::box_collection)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<Box<Vec<SliceStatus>>>,
    /// start, stop, restart, kill; run (the transient unit, by name); forget (each unit
    /// dropped, state `forgotten`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<OpResult>>,
    /// logs: the last lines, oldest first, without trailing newlines
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    /// health
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// health: the units that are not healthy, each as `NAME (why)`. Boxed like `slices`.
    #[allow(clippy::box_collection)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_healthy: Option<Box<Vec<String>>>,
    /// reload: what was done (or, with `dry_run`, what would be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<Box<ReloadReport>>,
    /// scale: the pool's count before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Box<ScaleReport>>,
    /// cat: the unit's effective configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<UnitConfig>>,
}

/// What `scale` did: the pool's count before and after, and whether it is pinned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleReport {
    pub unit: String,
    pub from: u32,
    pub to: u32,
    pub pinned: bool,
}

/// A unit's effective configuration (`cat`): the keys of a unit file with every default
/// filled in, values as a unit file writes them (`10s`, `64M`, `SIGTERM`), in the order of
/// the key reference (`unit::render`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitConfig {
    pub unit: String,
    /// The unit file it was loaded from, or `transient` for a unit of `supctl run`.
    pub source: String,
    /// A map of unit keys (a JSON object; its key order is meaningful).
    pub config: serde_yaml::Value,
}

/// What `reload` did, by unit name (each list sorted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub dry_run: bool,
    /// New files: the units were added (and started when enabled).
    pub added: Vec<String>,
    /// Files gone: the units were stopped and removed.
    pub removed: Vec<String>,
    /// Changed files of live units: restarted with the new definition.
    pub restarted: Vec<String>,
    /// Changed files applied without a restart: only `resources` of a running unit
    /// (set on its cgroup or job in place), or any change of a unit not running.
    pub updated: Vec<String>,
    /// How many units were left untouched.
    pub unchanged: usize,
    /// Files that are invalid now (a running unit runs on as it was).
    pub invalid: Vec<InvalidFile>,
    /// sup's own work for the reload (reading and comparing the files, applying the
    /// changes; not the units' stops and starts that follow), in microseconds.
    #[serde(default)]
    pub took_us: u64,
}

/// One invalid file of a reload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvalidFile {
    pub unit: String,
    pub message: String,
}

/// The end of a transient unit run with `wait` (the last stream item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    pub unit: String,
    /// The state it ended in: done, stopped, failed.
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub exit: Option<ExitInfo>,
    #[serde(default)]
    pub message: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            v: PROTOCOL_VERSION,
            ok: true,
            ..Reply::default()
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply {
            v: PROTOCOL_VERSION,
            ok: false,
            error: Some(Box::new(ErrorReply {
                code,
                message: message.into(),
            })),
            ..Reply::default()
        }
    }
}

/// A lifecycle event, as streamed by `events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 with fractional seconds.
    pub time: String,
    pub unit: String,
    /// `state` (a state change), `exit` (the main process ended), `restart` (a restart
    /// was scheduled), `spawn` (a process was started), …
    pub kind: String,
    /// For `state`: the new state; the previous one in `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One line of a stream after the initial reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamItem {
    Event(Event),
    /// A log line (logs -f), without its trailing newline.
    Line(String),
    /// The server dropped this follower because it did not keep up; the stream ends.
    Dropped(String),
    /// `run --wait`: the transient unit ended; the stream ends.
    #[serde(rename = "run_end")]
    RunEnd(RunEnd),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn full(name: &str) -> UnitStatus {
        UnitStatus {
            name: name.into(),
            description: Some("front \"end\"\n\u{e9}".into()),
            state: "failed".into(),
            reason: Some("signal".into()),
            message: Some("exec /x: No such file".into()),
            pid: Some(42),
            restarts: 3,
            ready: true,
            health: "healthy".into(),
            exit: Some(ExitInfo::Signal("SIGKILL".into())),
            since: crate::output::rfc3339(
                UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            ),
            cgroup: Some("/sup/web".into()),
            memory_bytes: Some(12_900_000),
            cpu_usec: Some(1_250_000),
            pids: Some(3),
            oom_kills: Some(0),
            instances: Some(vec!["web@1".into(), "web@2".into()]),
            status_text: Some("serving".into()),
            log_error: Some("log: No space left on device, 12 bytes dropped".into()),
            transient: Some(true),
        }
    }

    fn bare(name: &str) -> UnitStatus {
        UnitStatus {
            description: None,
            reason: None,
            message: None,
            pid: None,
            exit: Some(ExitInfo::Code(3)),
            cgroup: None,
            memory_bytes: None,
            cpu_usec: None,
            pids: None,
            oom_kills: None,
            instances: None,
            status_text: None,
            log_error: None,
            transient: None,
            ..full(name)
        }
    }

    fn borrow<'a>(u: &'a UnitStatus, instances: &'a [String]) -> UnitStatusRef<'a> {
        UnitStatusRef {
            fields: Fields::ALL,
            name: &u.name,
            description: u.description.as_deref(),
            state: &u.state,
            reason: u.reason.as_deref(),
            message: u.message.as_deref(),
            pid: u.pid,
            restarts: u.restarts,
            ready: u.ready,
            health: &u.health,
            exit: u.exit.clone(),
            since: crate::output::Rfc3339(
                UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            ),
            cgroup: u.cgroup.as_deref(),
            memory_bytes: u.memory_bytes,
            cpu_usec: u.cpu_usec,
            pids: u.pids,
            oom_kills: u.oom_kills,
            instances: u.instances.as_ref().map(|_| instances),
            status_text: u.status_text.as_deref(),
            log_error: u.log_error.as_deref(),
            transient: u.transient,
        }
    }

    #[test]
    fn status_reply_writer_matches_reply() {
        let units = vec![full("web"), bare("db")];
        let names: Vec<String> = units[0].instances.clone().unwrap();
        let slices = vec![SliceStatus {
            name: "batch".into(),
            description: None,
            parent: Some("top".into()),
            cgroup: Some("/sup/top.slice/batch.slice".into()),
            max_units: Some(4),
            units: 1,
            memory_bytes: Some(1),
            cpu_usec: None,
            pids: Some(0),
            message: None,
        }];
        for with_slices in [false, true] {
            let mut reply = Reply::ok();
            reply.units = Some(Box::new(units.clone()));
            if with_slices {
                reply.slices = Some(Box::new(slices.clone()));
            }
            let mut want = serde_json::to_vec(&reply).unwrap();
            want.push(b'\n');
            let mut got = Vec::new();
            write_status_reply(
                &mut got,
                units.iter().map(|u| borrow(u, &names)),
                with_slices.then_some(slices.as_slice()),
            );
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
        // Only the fields asked for, in the same order; unknown names are ignored.
        let fields = Fields::from_names(&["status_text", "pid", "name", "memory_bytes", "bogus"]);
        let mut got = Vec::new();
        write_status_reply(
            &mut got,
            units.iter().map(|u| UnitStatusRef {
                fields,
                ..borrow(u, &names)
            }),
            None,
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "{\"v\":1,\"ok\":true,\"units\":[\
             {\"name\":\"web\",\"pid\":42,\"memory_bytes\":12900000,\"status_text\":\"serving\"},\
             {\"name\":\"db\",\"pid\":null,\"memory_bytes\":null}]}\n"
        );

        let mut empty = Vec::new();
        write_status_reply(&mut empty, [], None);
        let mut reply = Reply::ok();
        reply.units = Some(Box::new(Vec::new()));
        assert_eq!(
            empty,
            [serde_json::to_vec(&reply).unwrap(), b"\n".to_vec()].concat()
        );
    }

    /// A small deterministic generator (xorshift), for test inputs.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed | 1;
        move |m| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        }
    }

    #[test]
    fn lines_writer_matches_reply() {
        // Bytes that exercise escapes, multi-byte characters and invalid UTF-8.
        let alphabet: &[&[u8]] = &[
            b"a",
            b" ",
            b"\"",
            b"\\",
            b"\t",
            b"\r",
            b"\x01",
            b"\x1f",
            b"\x7f",
            b"/",
            "é".as_bytes(),
            "€".as_bytes(),
            "😀".as_bytes(),
            b"\xff",
            b"\xe2\x82",
            b"\xf0\x9f",
            b"\xc3",
        ];
        let mut next = rng(0x5eed);
        for _ in 0..2000 {
            let lines: Vec<Vec<u8>> = (0..next(4))
                .map(|_| {
                    (0..next(12))
                        .flat_map(|_| alphabet[next(alphabet.len() as u64) as usize].to_vec())
                        .collect()
                })
                .collect();
            let mut got = Vec::new();
            let mut w = LinesReplyWriter::default();
            w.begin(&mut got);
            for line in &lines {
                w.start_line(&mut got);
                // In random pieces, cutting characters apart.
                let mut rest = &line[..];
                while !rest.is_empty() {
                    let k = 1 + next(rest.len() as u64) as usize;
                    w.line_bytes(&mut got, &rest[..k]);
                    rest = &rest[k..];
                }
                w.end_line(&mut got);
            }
            w.end(&mut got);
            let mut reply = Reply::ok();
            reply.lines = Some(
                lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect(),
            );
            let mut want = serde_json::to_vec(&reply).unwrap();
            want.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{lines:?}"
            );
        }
        // Every control character, as serde_json writes it.
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut got = Vec::new();
        escape_str(&mut got, &all);
        let want = serde_json::to_vec(&all).unwrap();
        assert_eq!(got, want[1..want.len() - 1]);
    }

    #[test]
    fn request_checks() {
        let ok = parse_request(br#"{"v":1,"cmd":"kill","units":["web"],"signal":"HUP"}"#)
            .expect("valid request");
        assert_eq!(ok.cmd, "kill");
        assert!(!ok.is_read_only());
        assert!(Request::new("status").is_read_only() && Request::new("logs").is_read_only());
        let cases: [(&[u8], &str); 5] = [
            (b"not json", "malformed request: "),
            (br#"{"v":1}"#, "malformed request: missing field `cmd`"),
            (
                br#"{"v":1,"cmd":"status","x":1}"#,
                "malformed request: unknown field `x`",
            ),
            (
                br#"{"v":1,"cmd":"status"} {}"#,
                "malformed request: trailing characters",
            ),
            (
                br#"{"v":2,"cmd":"status"}"#,
                "unsupported protocol version 2 (this sup speaks 1)",
            ),
        ];
        for (line, start) in cases {
            let reply = parse_request(line).expect_err(start);
            assert!(!reply.ok && reply.v == PROTOCOL_VERSION);
            let error = reply.error.expect("an error");
            assert_eq!(error.code, ErrorCode::BadRequest);
            assert!(error.message.starts_with(start), "{:?}", error.message);
        }
    }

    #[test]
    fn field_sets() {
        let names: Vec<String> = UNIT_STATUS_FIELDS.iter().map(|f| f.to_string()).collect();
        assert_eq!(Fields::from_names(&names), Fields::ALL);
        for (set, name) in [
            (Fields::MEMORY_BYTES, "memory_bytes"),
            (Fields::CPU_USEC, "cpu_usec"),
            (Fields::PIDS, "pids"),
            (Fields::OOM_KILLS, "oom_kills"),
        ] {
            assert_eq!(Fields::from_names(&[name]), set);
            assert!(Fields::ALL.contains(set) && set.has(name));
            assert!(!Fields::from_names(&["name"]).contains(set));
        }
        let mut req = Request::new("status");
        assert_eq!(Fields::requested(&req), Fields::ALL);
        req.fields = Some(vec!["pids".into()]);
        assert_eq!(Fields::requested(&req), Fields::PIDS);
        // UnitStatus has exactly these fields, in this order.
        let text = serde_json::to_string(&full("x")).unwrap();
        let at: Vec<usize> = UNIT_STATUS_FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        let value = serde_json::to_value(full("x")).unwrap();
        assert_eq!(value.as_object().unwrap().len(), UNIT_STATUS_FIELDS.len());
    }

    #[test]
    fn exit_info_is_one_tagged_field() {
        let text = |e: ExitInfo| serde_json::to_string(&e).unwrap();
        assert_eq!(text(ExitInfo::Code(3)), r#"{"code":3}"#);
        assert_eq!(
            text(ExitInfo::Signal("SIGKILL".into())),
            r#"{"signal":"SIGKILL"}"#
        );
        let nt = ExitInfo::Ntstatus("0xC0000005 (STATUS_ACCESS_VIOLATION)".into());
        assert_eq!(
            text(nt.clone()),
            r#"{"ntstatus":"0xC0000005 (STATUS_ACCESS_VIOLATION)"}"#
        );
        assert_eq!(
            serde_json::from_str::<ExitInfo>(&text(nt.clone())).unwrap(),
            nt
        );
    }
}
