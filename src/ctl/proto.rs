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
}

/// A `UNIT_STATUS` borrowed from the server's state, for writing `status` replies without
/// copying every string: serializes to exactly the bytes of the [`UnitStatus`] with the
/// same values (same fields, same order; a test keeps the two in step).
#[derive(Clone, Debug, Serialize)]
pub struct UnitStatusRef<'a> {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_text: Option<&'a str>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReply>,
    /// status
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<UnitStatus>>,
    /// status: the slices (when there are any). Boxed so `Reply` stays small (it is the
    /// error type of the control handlers).
    #[allow(clippy::box_collection)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<Box<Vec<SliceStatus>>>,
    /// start, stop, restart, kill
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<OpResult>>,
    /// logs: the last lines, oldest first, without trailing newlines
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    /// health
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
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
            error: Some(ErrorReply {
                code,
                message: message.into(),
            }),
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
            ..full(name)
        }
    }

    fn borrow<'a>(u: &'a UnitStatus, instances: &'a [String]) -> UnitStatusRef<'a> {
        UnitStatusRef {
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
            reply.units = Some(units.clone());
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
        let mut empty = Vec::new();
        write_status_reply(&mut empty, [], None);
        let mut reply = Reply::ok();
        reply.units = Some(Vec::new());
        assert_eq!(
            empty,
            [serde_json::to_vec(&reply).unwrap(), b"\n".to_vec()].concat()
        );
    }
}
