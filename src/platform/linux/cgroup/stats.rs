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

/// How an IO counter file lists bytes per device.
#[derive(Clone, Copy, Debug)]
enum IoFormat {
    /// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device.
    V2,
    /// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N`, `MAJ:MIN Write N`, …,
    /// `Total N`.
    V1,
}

/// Bytes read and written, summed over the devices of an IO counter file.
fn io_sums(text: &str, format: IoFormat) -> (u64, u64) {
    let (mut read, mut written) = (0u64, 0u64);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let _device = fields.next();
        match format {
            IoFormat::V2 => {
                for f in fields {
                    let n = |key: &str| f.strip_prefix(key)?.parse::<u64>().ok();
                    if let Some(n) = n("rbytes=") {
                        read = read.saturating_add(n);
                    } else if let Some(n) = n("wbytes=") {
                        written = written.saturating_add(n);
                    }
                }
            }
            IoFormat::V1 => {
                let (Some(op), Some(n)) = (fields.next(), fields.next()) else {
                    continue;
                };
                let n = n.parse::<u64>().unwrap_or(0);
                match op {
                    "Read" => read = read.saturating_add(n),
                    "Write" => written = written.saturating_add(n),
                    _ => {}
                }
            }
        }
    }
    (read, written)
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

thread_local! {
    /// Counter files kept open now (all units), and how many may be: an eighth of the
    /// open-file limit, so that with thousands of units `status -r` cannot use up sup's
    /// descriptors (which its units' pipes and the control socket need). Beyond it a
    /// counter is opened, read and closed each time.
    static KEPT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static KEEP_AT_MOST: usize = keep_at_most();
}

fn keep_at_most() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `lim`, a valid out-pointer.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    usize::try_from(soft / 8).unwrap_or(usize::MAX)
}

impl Drop for Counter {
    fn drop(&mut self) {
        if self.file.get_mut().is_some() {
            KEPT.with(|k| k.set(k.get().saturating_sub(1)));
        }
    }
}

impl Counter {
    fn open(&self) -> Option<File> {
        match self.dir {
            Some(dir) => open_at(dir, &self.rel, libc::O_RDONLY).ok().map(File::from),
            None => File::open(&self.rel).ok(),
        }
    }

    /// `f` on the open file; a file that cannot be opened is tried again next time. It
    /// is kept open while fewer than [`KEEP_AT_MOST`] counter files are.
    fn with<R>(&self, f: impl FnOnce(&File) -> Option<R>) -> Option<R> {
        let mut slot = self.file.borrow_mut();
        if let Some(file) = slot.as_ref() {
            return f(file);
        }
        let file = self.open()?;
        let result = f(&file);
        if KEPT.with(|k| k.get()) < KEEP_AT_MOST.with(|m| *m) {
            KEPT.with(|k| k.set(k.get() + 1));
            *slot = Some(file);
        }
        result
    }

    /// Closes the file: the next read opens it anew.
    fn close(&self) {
        if self.file.borrow_mut().take().is_some() {
            KEPT.with(|k| k.set(k.get().saturating_sub(1)));
        }
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
    /// The memory peak (v2 `memory.peak`, kernel 5.19 and later; v1
    /// `memory.max_usage_in_bytes`), beside the memory counter: made at its first read
    /// (only metrics read it), so a unit's entry stays small.
    peak: std::cell::OnceCell<Option<Box<(Counter, Parse)>>>,
    /// Bytes read and written (v2 `io.stat`; v1 blkio, when the unit joins it); boxed,
    /// as above.
    io: Option<Box<(Counter, IoFormat)>>,
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
    read_counter(counter, *parse)
}

fn read_counter(counter: &Counter, parse: Parse) -> Option<u64> {
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

    /// The memory peak, where the kernel records it.
    pub fn memory_peak(&self) -> Option<u64> {
        let peak = self.peak.get_or_init(|| {
            let (memory, _) = self.memory.as_ref()?;
            let file = match memory.rel.file_name()?.to_str()? {
                "memory.current" => "memory.peak",
                _ => "memory.max_usage_in_bytes",
            };
            Some(Box::new((
                Counter {
                    dir: memory.dir,
                    rel: memory.rel.with_file_name(file),
                    file: RefCell::new(None),
                },
                Parse::Number,
            )))
        });
        let (counter, parse) = peak.as_deref()?;
        read_counter(counter, *parse)
    }

    /// Bytes read and written by the cgroup's processes, where the kernel counts them.
    pub fn io_bytes(&self) -> Option<(u64, u64)> {
        let (counter, format) = self.io.as_deref()?;
        counter.with(|file| {
            // A line per device: 16 KiB is well over a hundred devices.
            let mut buf = vec![0u8; 16 * 1024];
            let n = file.read_at(&mut buf, 0).ok()?;
            Some(io_sums(std::str::from_utf8(&buf[..n]).ok()?, *format))
        })
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
            ..Stats::default()
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
                peak: Default::default(),
                io: counter("io", "io.stat").map(|c| Box::new((c, IoFormat::V2))),
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
                peak: Default::default(),
                io: joins
                    .io
                    .then(|| counter("blkio", "blkio.throttle.io_service_bytes"))
                    .flatten()
                    .map(|c| Box::new((c, IoFormat::V1))),
                // Without the pids hierarchy: the freezer's process list.
                procs: (!joins.pids)
                    .then(|| counter("freezer", "cgroup.procs"))
                    .flatten(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_sums_over_devices() {
        let v2 = "8:0 rbytes=4096 wbytes=100 rios=1 wios=1 dbytes=0 dios=0\n\
                  8:16 rbytes=10 wbytes=5 rios=1 wios=1 dbytes=0 dios=0\n";
        assert_eq!(io_sums(v2, IoFormat::V2), (4106, 105));
        let v1 = "8:0 Read 4096\n8:0 Write 100\n8:0 Sync 0\n8:0 Async 4196\n8:0 Total 4196\n\
                  8:16 Read 10\n8:16 Write 5\nTotal 4211\n";
        assert_eq!(io_sums(v1, IoFormat::V1), (4106, 105));
        assert_eq!(io_sums("", IoFormat::V2), (0, 0));
    }

    #[test]
    fn counter_files_are_kept_open_only_up_to_the_budget() {
        let path = std::env::temp_dir().join(format!("sup-counter-{}", std::process::id()));
        std::fs::write(&path, "42\n").unwrap();
        let counter = || Counter {
            dir: None,
            rel: path.clone(),
            file: RefCell::new(None),
        };
        let read = |c: &Counter| {
            c.with(|f| {
                let mut buf = [0u8; 8];
                let n = f.read_at(&mut buf, 0).ok()?;
                std::str::from_utf8(&buf[..n])
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        let kept = || KEPT.with(|k| k.get());
        // Below the budget: kept open, and let go when dropped.
        let before = kept();
        let a = counter();
        assert_eq!(read(&a), Some(42));
        assert!(a.file.borrow().is_some());
        assert_eq!(kept(), before + 1);
        drop(a);
        assert_eq!(kept(), before);
        // At the budget: read all the same, not kept.
        KEPT.with(|k| k.set(KEEP_AT_MOST.with(|m| *m)));
        let b = counter();
        assert_eq!(read(&b), Some(42));
        assert!(b.file.borrow().is_none());
        KEPT.with(|k| k.set(before));
        let _ = std::fs::remove_file(&path);
    }
}
