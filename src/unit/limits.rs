//! The documented maximums of unit files, in one place: file size, nesting, durations,
//! sizes, CPU amounts, counts and command lengths. README.md ("Limits") lists the same.
//!
//! Each bound keeps a value from ever overflowing what sup computes from it: the largest
//! duration added to a monotonic clock of any uptime, the largest size written to a
//! cgroup file, the largest command handed to `execve`.

use std::time::Duration;

/// A unit file is at most 1 MiB (SPEC).
pub const MAX_FILE_SIZE: usize = 1 << 20;

/// Collections (lists and maps, block or flow style) nest at most this deep. Real unit
/// files nest 5 levels at most; the bound keeps the YAML scanner linear (its cost grows
/// with the nesting depth at every token).
pub const MAX_DEPTH: usize = 32;

/// Every duration is at most 365 days (`8760h`).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// How `MAX_DURATION` is written in messages.
pub const MAX_DURATION_TEXT: &str = "8760h (365 days)";

/// Every size is at most 1 PiB (`1024T`).
pub const MAX_SIZE: u64 = 1 << 50;

/// How `MAX_SIZE` is written in messages.
pub const MAX_SIZE_TEXT: &str = "1024T";

/// A CPU amount is at most 8192 cores (`"819200%"`), Linux's largest CPU count.
pub const MAX_CPU: f64 = 8192.0;

/// `pids_max` is at most the kernel's `PID_MAX_LIMIT` (2^22): above it the cgroup
/// refuses the value.
pub const MAX_PIDS: u64 = 1 << 22;

/// `restart.limit.burst` is at most this many starts (each start within the interval is
/// remembered).
pub const MAX_BURST: u64 = 10_000;

/// `health` lists at most this many checks (each runs on its own schedule).
pub const MAX_HEALTH_CHECKS: usize = 100;

/// `watch.paths`, `env_file` and `resources.io_max` list at most this many items.
pub const MAX_WATCH_PATHS: usize = 1000;
pub const MAX_ENV_FILES: usize = 64;
pub const MAX_IO_MAX: usize = 64;

/// `sockets` lists at most this many (fds 3 to 66 of the unit).
pub const MAX_SOCKETS: usize = 64;

/// `instances`, `scale.min`/`scale.max` and `min_ready` are at most this many.
pub const MAX_INSTANCES: u32 = 10_000;

/// One argument or one `NAME=VALUE` environment entry is at most 128 KiB - 1 bytes: the
/// kernel's `MAX_ARG_STRLEN` (which counts the terminating NUL) refuses longer ones.
pub const MAX_ARG_LEN: usize = 128 * 1024 - 1;

/// A command's arguments plus the unit's `env` entries, each counted with its NUL, are
/// at most 1 MiB: `execve` refuses more than a quarter of the stack limit (2 MiB with the
/// usual 8 MiB stack) for arguments and environment together, and sup's own environment
/// and `env_file`s come on top.
pub const MAX_EXEC_TOTAL: usize = 1 << 20;

/// At most this many problems are reported per file; the rest are counted.
pub const MAX_ERRORS: usize = 50;

/// Longest message text kept for one problem; longer ones (a huge value quoted back) are
/// shortened in the middle.
pub const MAX_MESSAGE: usize = 400;

/// `message` shortened to `MAX_MESSAGE` characters, keeping its start and its end (where
/// hints like "(did you mean …?)" are).
pub fn clip(message: &str) -> String {
    let count = message.chars().count();
    if count <= MAX_MESSAGE {
        return message.to_string();
    }
    let head: String = message.chars().take(MAX_MESSAGE - 100).collect();
    let tail: String = message.chars().skip(count - 90).collect();
    format!("{head} … {tail}")
}
