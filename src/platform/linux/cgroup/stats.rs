//! Accounting of one cgroup from files kept open: `supctl status` with hundreds of units
//! costs one `pread` per counter, not an open/stat/read/close each.

use std::cell::RefCell;
use std::fs::File;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{keyed, open_at, Cgroups, Joins, Stats, Version};

/// How a counter file is read.
#[derive(Clone, Copy, Debug)]
enum Parse {
    Number,
    NanosToMicros,
    /// `key value` lines; the value of this key.
    Keyed(&'static str),
}

/// A counter file, opened at its first read and kept open. Starting a unit opens none:
/// four opens per unit (each a kernfs lookup and a new inode) were a seventh of sup's
/// CPU when starting 500 units, and most counters are read only by `supctl status -r`.
#[derive(Debug)]
struct Counter {
    /// The hierarchy's base dir, open for the life of the [`Cgroups`] (as in
    /// `JoinFile`); `None`: `rel` is the full path.
    dir: Option<RawFd>,
    rel: PathBuf,
    file: RefCell<Option<File>>,
}

impl Counter {
    fn open(&self) -> Option<File> {
        match self.dir {
            Some(dir) => open_at(dir, &self.rel, libc::O_RDONLY).ok().map(File::from),
            None => File::open(&self.rel).ok(),
        }
    }

    /// `f` on the open file; a file that cannot be opened is tried again next time.
    fn with<R>(&self, f: impl FnOnce(&File) -> Option<R>) -> Option<R> {
        let mut slot = self.file.borrow_mut();
        if slot.is_none() {
            *slot = self.open();
        }
        f(slot.as_ref()?)
    }

    /// Closes the file: the next read opens it anew.
    fn close(&self) {
        *self.file.borrow_mut() = None;
    }
}

type Slot = Option<(Counter, Parse)>;

/// The counter files of one cgroup (a missing controller leaves its slot empty).
#[derive(Debug, Default)]
pub struct StatFiles {
    memory: Slot,
    cpu: Slot,
    pids: Slot,
    oom: Slot,
    /// Without a pids counter: a `cgroup.procs` to count lines of. The kernel's seq_file
    /// for it keeps its position when a read at offset 0 returned nothing: later reads
    /// at 0 then stay empty even once the cgroup has processes. So after an empty read
    /// the file is opened anew.
    procs: Option<Counter>,
}

/// The lines of a kept-open `cgroup.procs`.
fn count_procs(procs: &Counter) -> Option<u64> {
    let (lines, at) = procs.with(|file| {
        let mut buf = [0u8; 2048];
        let (mut lines, mut at) = (0u64, 0u64);
        loop {
            let n = file.read_at(&mut buf, at).ok()?;
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
        Some((lines, at))
    })?;
    if at == 0 {
        procs.close();
    }
    Some(lines)
}

fn read_slot(slot: &Slot) -> Option<u64> {
    let (counter, parse) = slot.as_ref()?;
    counter.with(|file| match parse {
        // One number and a newline: 21 bytes at most.
        Parse::Number => number(file),
        Parse::NanosToMicros => number(file).map(|ns| ns / 1000),
        Parse::Keyed(key) => {
            let mut buf = [0u8; 2048];
            let n = file.read_at(&mut buf, 0).ok()?;
            keyed(std::str::from_utf8(&buf[..n]).ok()?, key)
        }
    })
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
            Some(p) => count_procs(p),
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
    /// The counter files of cgroup `path` (living in the hierarchies of `joins`), to be
    /// opened when first read: no system call here.
    pub fn open_stats(&self, path: &str, joins: Joins) -> StatFiles {
        let counter = |ctrl: &str, file: &str| -> Option<Counter> {
            let i = self.hierarchy_of(ctrl)?;
            let rel = std::path::Path::new(path).join(file);
            let (dir, rel) = match &self.base_fds[i] {
                Some(fd) => (Some(std::os::fd::AsRawFd::as_raw_fd(fd)), rel),
                None => (None, self.hierarchies[i].base.join(rel)),
            };
            Some(Counter {
                dir,
                rel,
                file: RefCell::new(None),
            })
        };
        let slot = |ctrl: &str, file: &str, parse: Parse| -> Slot {
            counter(ctrl, file).map(|c| (c, parse))
        };
        match self.version {
            Version::V2 => StatFiles {
                memory: slot("memory", "memory.current", Parse::Number),
                cpu: slot("cpu", "cpu.stat", Parse::Keyed("usage_usec")),
                pids: slot("pids", "pids.current", Parse::Number),
                oom: slot("memory", "memory.events", Parse::Keyed("oom_kill")),
                procs: None,
            },
            Version::V1 => StatFiles {
                memory: slot("memory", "memory.usage_in_bytes", Parse::Number),
                cpu: slot("cpuacct", "cpuacct.usage", Parse::NanosToMicros),
                pids: joins
                    .pids
                    .then(|| slot("pids", "pids.current", Parse::Number))
                    .flatten(),
                oom: slot("memory", "memory.oom_control", Parse::Keyed("oom_kill")),
                // Without the pids hierarchy: the freezer's process list.
                procs: (!joins.pids)
                    .then(|| counter("freezer", "cgroup.procs"))
                    .flatten(),
            },
        }
    }
}
