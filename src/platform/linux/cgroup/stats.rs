//! Accounting of one cgroup from files kept open: `supctl status` with hundreds of units
//! costs one `pread` per counter, not an open/stat/read/close each.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{keyed, Cgroups, Joins, Stats, Version};

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
    /// Without a pids counter: a `cgroup.procs` to count lines of.
    procs: Option<Procs>,
}

/// A kept-open `cgroup.procs`. The kernel's seq_file for it keeps its position when a
/// read at offset 0 returned nothing: later reads at 0 then stay empty even once the
/// cgroup has processes. So after an empty read the file is opened anew.
#[derive(Debug)]
struct Procs {
    file: RefCell<File>,
    path: PathBuf,
}

impl Procs {
    fn count(&self) -> Option<u64> {
        let mut buf = [0u8; 2048];
        let (mut lines, mut at) = (0u64, 0u64);
        loop {
            let n = self.file.borrow().read_at(&mut buf, at).ok()?;
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            at += n as u64;
            // seq_file fills a read up to its size unless the list has ended (its page
            // buffer is larger than ours), so a short read is the end: no read for EOF.
            if n < buf.len() {
                break;
            }
        }
        if at == 0 {
            if let Ok(f) = File::open(&self.path) {
                *self.file.borrow_mut() = f;
            }
        }
        Some(lines)
    }
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
    /// Processes in the cgroup (pids controller counter, else `cgroup.procs` lines).
    pub fn pids(&self) -> Option<u64> {
        match &self.procs {
            Some(p) => p.count(),
            None => read_slot(&self.pids),
        }
    }

    /// The OOM kill count alone.
    pub fn oom_kills(&self) -> Option<u64> {
        read_slot(&self.oom)
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
            pids: if pids { self.pids() } else { None },
            oom_kills: read(oom, &self.oom),
        }
    }
}

impl Cgroups {
    /// Opens the counter files of cgroup `path` (living in the hierarchies of `joins`).
    pub fn open_stats(&self, path: &str, joins: Joins) -> StatFiles {
        let open = |ctrl: &str, file: &str, parse: Parse| -> Slot {
            self.open_file(ctrl, path, file).ok().map(|f| (f, parse))
        };
        match self.version {
            Version::V2 => StatFiles {
                memory: open("memory", "memory.current", Parse::Number),
                cpu: open("cpu", "cpu.stat", Parse::Keyed("usage_usec")),
                pids: open("pids", "pids.current", Parse::Number),
                oom: open("memory", "memory.events", Parse::Keyed("oom_kill")),
                procs: None,
            },
            Version::V1 => StatFiles {
                memory: open("memory", "memory.usage_in_bytes", Parse::Number),
                cpu: open("cpuacct", "cpuacct.usage", Parse::NanosToMicros),
                pids: joins
                    .pids
                    .then(|| open("pids", "pids.current", Parse::Number))
                    .flatten(),
                oom: open("memory", "memory.oom_control", Parse::Keyed("oom_kill")),
                // Without the pids hierarchy: the freezer's process list.
                procs: (!joins.pids)
                    .then(|| self.dir("freezer", path))
                    .flatten()
                    .and_then(|d| {
                        let file = self.open_file("freezer", path, "cgroup.procs").ok()?;
                        Some(Procs {
                            file: RefCell::new(file),
                            path: d.join("cgroup.procs"),
                        })
                    }),
            },
        }
    }
}
