//! Accounting of one cgroup from files kept open: `supctl status` with hundreds of units
//! costs one `pread` per counter, not an open/stat/read/close each.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{keyed, Cgroups, Stats, Version};

/// How a counter file is read.
#[derive(Clone, Copy, Debug)]
enum Parse {
    Number,
    NanosToMicros,
    /// `key value` lines; the value of this key.
    Keyed(&'static str),
}

type Slot = Option<(File, Parse)>;

/// The open counter files of one cgroup (a missing controller leaves its slot empty).
#[derive(Debug, Default)]
pub struct StatFiles {
    memory: Slot,
    cpu: Slot,
    pids: Slot,
    oom: Slot,
}

fn read_slot(slot: &Slot) -> Option<u64> {
    let (file, parse) = slot.as_ref()?;
    match parse {
        // One number and a newline: 21 bytes at most.
        Parse::Number => number(file),
        Parse::NanosToMicros => number(file).map(|ns| ns / 1000),
        Parse::Keyed(key) => {
            let mut buf = [0u8; 2048];
            let n = file.read_at(&mut buf, 0).ok()?;
            keyed(std::str::from_utf8(&buf[..n]).ok()?, key)
        }
    }
}

/// A file holding one number.
fn number(file: &File) -> Option<u64> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

impl StatFiles {
    /// Processes in the cgroup, when the pids controller counts them.
    pub fn pids(&self) -> Option<u64> {
        read_slot(&self.pids)
    }

    pub fn read(&self) -> Stats {
        Stats {
            oom_kills: read_slot(&self.oom),
            ..self.read_usage()
        }
    }

    /// Memory, CPU and pids only (`oom_kills` left unknown).
    pub fn read_usage(&self) -> Stats {
        self.read_only(true, true, true, false)
    }

    /// The counters asked for (the others left unknown): one read each.
    pub fn read_only(&self, memory: bool, cpu: bool, pids: bool, oom: bool) -> Stats {
        let read = |wanted: bool, slot: &Slot| if wanted { read_slot(slot) } else { None };
        Stats {
            memory_bytes: read(memory, &self.memory),
            cpu_usec: read(cpu, &self.cpu),
            pids: read(pids, &self.pids),
            oom_kills: read(oom, &self.oom),
        }
    }
}

impl Cgroups {
    /// Opens the counter files of cgroup `path`.
    pub fn open_stats(&self, path: &str) -> StatFiles {
        let open = |ctrl: &str, file: &str, parse: Parse| -> Slot {
            let dir = match self.version {
                Version::V2 => self.hierarchies.first().map(|h| h.base.join(path)),
                Version::V1 => self.dir(ctrl, path),
            }?;
            File::open(dir.join(file)).ok().map(|f| (f, parse))
        };
        match self.version {
            Version::V2 => StatFiles {
                memory: open("memory", "memory.current", Parse::Number),
                cpu: open("cpu", "cpu.stat", Parse::Keyed("usage_usec")),
                pids: open("pids", "pids.current", Parse::Number),
                oom: open("memory", "memory.events", Parse::Keyed("oom_kill")),
            },
            Version::V1 => StatFiles {
                memory: open("memory", "memory.usage_in_bytes", Parse::Number),
                cpu: open("cpuacct", "cpuacct.usage", Parse::NanosToMicros),
                pids: open("pids", "pids.current", Parse::Number),
                oom: open("memory", "memory.oom_control", Parse::Keyed("oom_kill")),
            },
        }
    }
}
