//! Process groups and their usage on Linux, read from `/proc/PID/stat`; sup's own
//! usage from `/proc/self` and `getrusage`.

use super::LinuxPlatform;
use crate::platform::procinfo::{OwnUsage, ProcessInfo, Usage};
use crate::proc::Pid;

/// Memory (bytes, resident) and CPU time (µs, user + system) of every process in the
/// process group `pgid`, from `/proc`.
pub fn group_usage(pgid: u32) -> Option<Usage> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    // SAFETY: as above.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut found = false;
    let (mut mem, mut cpu) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(fields) = stat_fields(&stat) else {
            continue;
        };
        // Fields after `comm`: state(0) ppid(1) pgrp(2) … utime(11) stime(12) … rss(21).
        let get = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if get(2) != Some(u64::from(pgid)) {
            continue;
        }
        found = true;
        mem += get(21).unwrap_or(0) * page;
        cpu += (get(11).unwrap_or(0) + get(12).unwrap_or(0)) * 1_000_000 / ticks;
    }
    found.then_some(Usage {
        memory: mem,
        cpu_usec: cpu,
    })
}

/// The fields of `/proc/PID/stat` after the parenthesised command name.
pub fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_whitespace().collect())
}

/// The process group of `pid`, from `/proc`.
pub fn pgid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.get(2)?.parse().ok()
}

/// sup's own open fds (the entries of `/proc/self/fd`, less the one listing them), its
/// resident memory (`/proc/self/statm`) and CPU time (`getrusage`).
pub fn own_usage() -> OwnUsage {
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| (d.count() as u64).saturating_sub(1));
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let resident_bytes = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page);
    let cpu_usec = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .ok()
        .map(|u| {
            let us = |t: nix::sys::time::TimeVal| {
                (t.tv_sec().max(0) as u64) * 1_000_000 + t.tv_usec().max(0) as u64
            };
            us(u.user_time()) + us(u.system_time())
        });
    OwnUsage {
        open_fds,
        resident_bytes,
        cpu_usec,
    }
}

impl ProcessInfo for LinuxPlatform {
    fn group_of(&self, pid: Pid) -> Option<Pid> {
        pgid_of(pid.raw()).map(Pid::from_raw)
    }

    fn group_usage(&self, pgid: Pid) -> Option<Usage> {
        group_usage(pgid.raw())
    }

    fn own_usage(&self) -> OwnUsage {
        own_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_usage() {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() } as u32;
        let usage = group_usage(pgid).expect("our own group exists");
        assert!(usage.memory > 0);
        assert_eq!(pgid_of(std::process::id()), Some(pgid));
    }

    #[test]
    fn own_usage_is_known() {
        let u = own_usage();
        assert!(u.open_fds.is_some_and(|n| n >= 3), "{u:?}");
        assert!(u.resident_bytes.is_some_and(|n| n > 0), "{u:?}");
        assert!(u.cpu_usec.is_some(), "{u:?}");
    }

    #[test]
    fn stat_fields_after_a_name_with_parens() {
        let f = stat_fields("42 (a) b) S 7 40 40 0").unwrap();
        assert_eq!(f[..4], ["S", "7", "40", "40"]);
        assert_eq!(stat_fields("garbage"), None);
    }
}
