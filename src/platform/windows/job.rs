//! A unit's job object: creation with kill-on-close, its limits (`resources` keys),
//! assignment, termination of the whole tree, its process list and its accounting.

use std::io;
use std::mem::{size_of, size_of_val};
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, IsProcessInJob,
    JobObjectBasicAccountingInformation, JobObjectBasicProcessIdList,
    JobObjectCpuRateControlInformation, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, SetInformationJobObject, TerminateJobObject, JOBOBJECTINFOCLASS,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_BASIC_PROCESS_ID_LIST,
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_CPU_RATE_CONTROL_ENABLE, JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP,
    JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED, JOB_OBJECT_LIMIT, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
    JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_JOB_MEMORY,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::ProcessStatus::{
    K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX,
};
use windows_sys::Win32::System::Threading::{
    GetActiveProcessorCount, OpenProcess, ALL_PROCESSOR_GROUPS, PROCESS_QUERY_INFORMATION,
};

use super::cvt;
use super::limits::{cpu_rate, cpu_weight, JobError, JobLimits};

/// Limit flags every job carries: the tree dies with the last handle to the job (sup's),
/// and an unhandled exception ends the process instead of waiting on an error dialog.
const BASE_LIMITS: JOB_OBJECT_LIMIT =
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;

/// What a job has used. `memory_bytes` is `None` when no process's figures could be
/// read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accounting {
    /// User plus kernel time of all processes, exited ones included (Wine: 0).
    pub cpu_usec: u64,
    /// Processes in the job now.
    pub active_processes: u32,
    /// Processes ever in the job.
    pub total_processes: u32,
    /// Highest committed memory of the job as a whole (Wine: 0).
    pub peak_memory_bytes: u64,
    /// Committed (private) memory of the processes in the job now.
    pub memory_bytes: Option<u64>,
}

/// A job object; closing it (drop) kills every process still in it.
#[derive(Debug)]
pub struct Job {
    handle: OwnedHandle,
    /// Whether CPU rate control was set, so that clearing it is only asked then (Wine
    /// refuses the information class altogether).
    cpu_set: bool,
}

impl Job {
    /// An anonymous job with kill-on-close and die-on-unhandled-exception.
    pub fn new() -> Result<Job, JobError> {
        // SAFETY: null security attributes and name are allowed (default security,
        // anonymous job).
        let raw = unsafe { CreateJobObjectW(ptr::null(), ptr::null()) };
        if raw.is_null() {
            return Err(JobError::Os {
                what: "create a job object",
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a new handle that nothing else owns.
        let handle = unsafe { OwnedHandle::from_raw_handle(raw) };
        let job = Job {
            handle,
            cpu_set: false,
        };
        job.set_extended(BASE_LIMITS, 0, 0)
            .map_err(|source| JobError::Os {
                what: "set kill-on-close on the job object",
                source,
            })?;
        Ok(job)
    }

    pub(super) fn as_raw(&self) -> HANDLE {
        self.handle.as_raw_handle()
    }

    fn set_info<T>(&self, class: JOBOBJECTINFOCLASS, info: &T) -> io::Result<()> {
        // SAFETY: `info` is a live `T`, the structure `class` takes, of the size given.
        cvt(unsafe {
            SetInformationJobObject(
                self.as_raw(),
                class,
                ptr::from_ref(info).cast(),
                size_of::<T>() as u32,
            )
        })
    }

    fn query_info<T: Default>(&self, class: JOBOBJECTINFOCLASS) -> io::Result<T> {
        let mut info = T::default();
        // SAFETY: `info` is a writable `T`, the structure `class` returns, of the size
        // given; the returned length is optional.
        cvt(unsafe {
            QueryInformationJobObject(
                self.as_raw(),
                class,
                ptr::from_mut(&mut info).cast(),
                size_of::<T>() as u32,
                ptr::null_mut(),
            )
        })?;
        Ok(info)
    }

    fn set_extended(
        &self,
        flags: JOB_OBJECT_LIMIT,
        memory: usize,
        processes: u32,
    ) -> io::Result<()> {
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        info.BasicLimitInformation.LimitFlags = flags;
        info.BasicLimitInformation.ActiveProcessLimit = processes;
        info.JobMemoryLimit = memory;
        self.set_info(JobObjectExtendedLimitInformation, &info)
    }

    /// Sets the job's limits to `limits` (a limit absent there is lifted), one key at a
    /// time so that a refusal names its key. Kill-on-close stays.
    pub fn set_limits(&mut self, limits: &JobLimits) -> Result<(), JobError> {
        if limits.cpu_max.is_some() && limits.cpu_weight.is_some() {
            return Err(JobError::CpuConflict);
        }
        let memory = match limits.memory_max {
            Some(m) => Some(usize::try_from(m).map_err(|_| JobError::OutOfRange {
                key: "memory_max",
                value: m.to_string(),
                why: "more than the address space",
            })?),
            None => None,
        };
        let processes = match limits.pids_max {
            Some(0) => {
                return Err(JobError::OutOfRange {
                    key: "pids_max",
                    value: "0".into(),
                    why: "a job needs room for its main process",
                })
            }
            Some(p) => Some(u32::try_from(p).map_err(|_| JobError::OutOfRange {
                key: "pids_max",
                value: p.to_string(),
                why: "at most 4294967295 processes",
            })?),
            None => None,
        };
        let mut flags = BASE_LIMITS;
        if let Some(m) = memory {
            flags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
            self.set_extended(flags, m, 0)
                .map_err(|source| JobError::Refused {
                    key: "memory_max",
                    what: "memory limit",
                    source,
                })?;
        }
        if let Some(p) = processes {
            flags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
            self.set_extended(flags, memory.unwrap_or(0), p)
                .map_err(|source| JobError::Refused {
                    key: "pids_max",
                    what: "active-process limit",
                    source,
                })?;
        }
        if memory.is_none() && processes.is_none() {
            self.set_extended(flags, 0, 0)
                .map_err(|source| JobError::Os {
                    what: "lift the job's memory and process limits",
                    source,
                })?;
        }
        self.set_cpu(limits)
    }

    fn set_cpu(&mut self, limits: &JobLimits) -> Result<(), JobError> {
        let mut info = JOBOBJECT_CPU_RATE_CONTROL_INFORMATION::default();
        let (key, what) = if let Some(cores) = limits.cpu_max {
            // SAFETY: GetActiveProcessorCount has no preconditions.
            let cpus = unsafe { GetActiveProcessorCount(ALL_PROCESSOR_GROUPS) };
            info.ControlFlags =
                JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
            info.Anonymous.CpuRate = cpu_rate(cores, cpus);
            ("cpu_max", "CPU rate control (hard cap)")
        } else if let Some(w) = limits.cpu_weight {
            info.ControlFlags =
                JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED;
            info.Anonymous.Weight = cpu_weight(w);
            ("cpu_weight", "CPU rate control (weight)")
        } else if self.cpu_set {
            // ControlFlags 0: rate control off.
            ("cpu_max", "CPU rate control (lifting it)")
        } else {
            return Ok(());
        };
        self.set_info(JobObjectCpuRateControlInformation, &info)
            .map_err(|source| JobError::Refused { key, what, source })?;
        self.cpu_set = info.ControlFlags != 0;
        Ok(())
    }

    /// Puts `process` in the job (a process created suspended, before it runs).
    pub fn assign(&self, process: BorrowedHandle<'_>) -> io::Result<()> {
        // SAFETY: both handles are open for the call (owned by `self`, borrowed).
        cvt(unsafe { AssignProcessToJobObject(self.as_raw(), process.as_raw_handle()) })
    }

    /// Whether `process` is in this job.
    pub fn contains(&self, process: BorrowedHandle<'_>) -> io::Result<bool> {
        let mut result = 0;
        // SAFETY: both handles are open for the call; `result` is a writable BOOL.
        cvt(unsafe { IsProcessInJob(process.as_raw_handle(), self.as_raw(), &mut result) })?;
        Ok(result != 0)
    }

    /// Ends every process of the job, each with exit code `code`.
    pub fn terminate(&self, code: u32) -> io::Result<()> {
        // SAFETY: the job handle is open (owned by `self`).
        cvt(unsafe { TerminateJobObject(self.as_raw(), code) })
    }

    /// The ids of the processes in the job now.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        self.pids_from(64)
    }

    /// `pids`, asking first for room for `room` ids (grown as the job needs).
    pub(super) fn pids_from(&self, mut room: usize) -> io::Result<Vec<u32>> {
        // The list is two u32 counts then `usize` ids: a `usize` buffer aligns them.
        let header = size_of::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() - size_of::<usize>();
        debug_assert_eq!(header, size_of::<usize>());
        loop {
            room = room.max(1);
            let mut buf = vec![0usize; 1 + room];
            // SAFETY: `buf` is writable for `size_of_val(&buf)` bytes and aligned for
            // JOBOBJECT_BASIC_PROCESS_ID_LIST, whose header is one `usize`.
            let r = cvt(unsafe {
                QueryInformationJobObject(
                    self.as_raw(),
                    JobObjectBasicProcessIdList,
                    buf.as_mut_ptr().cast(),
                    size_of_val(buf.as_slice()) as u32,
                    ptr::null_mut(),
                )
            });
            // SAFETY: the buffer starts with the list's header (zeroed if the call
            // wrote nothing), aligned as above.
            let list = unsafe { &*buf.as_ptr().cast::<JOBOBJECT_BASIC_PROCESS_ID_LIST>() };
            let assigned = list.NumberOfAssignedProcesses as usize;
            let listed = (list.NumberOfProcessIdsInList as usize).min(room);
            match r {
                Err(e) if e.raw_os_error() != Some(ERROR_MORE_DATA as i32) => return Err(e),
                _ if assigned > listed => room = assigned + 8,
                Err(_) => room *= 2,
                Ok(()) => return Ok(buf[1..=listed].iter().map(|&p| p as u32).collect()),
            }
        }
    }

    /// CPU time, process counts and memory of the job.
    pub fn accounting(&self) -> io::Result<Accounting> {
        let b: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION =
            self.query_info(JobObjectBasicAccountingInformation)?;
        let ext: JOBOBJECT_EXTENDED_LIMIT_INFORMATION =
            self.query_info(JobObjectExtendedLimitInformation)?;
        // 100 ns units.
        let cpu = (b.TotalUserTime.max(0) as u64 + b.TotalKernelTime.max(0) as u64) / 10;
        Ok(Accounting {
            cpu_usec: cpu,
            active_processes: b.ActiveProcesses,
            total_processes: b.TotalProcesses,
            peak_memory_bytes: ext.PeakJobMemoryUsed as u64,
            memory_bytes: self.private_bytes()?,
        })
    }

    /// The sum of the private bytes of the job's processes; `None` if none could be read
    /// while the job had processes.
    fn private_bytes(&self) -> io::Result<Option<u64>> {
        let pids = self.pids()?;
        let mut total = 0u64;
        let mut read = 0usize;
        for pid in &pids {
            // SAFETY: OpenProcess has no memory preconditions; a null result is checked.
            let raw = unsafe { OpenProcess(PROCESS_QUERY_INFORMATION, 0, *pid) };
            if raw.is_null() {
                continue; // exited since the list was taken
            }
            // SAFETY: `raw` is a new handle that nothing else owns.
            let process = unsafe { OwnedHandle::from_raw_handle(raw) };
            // The id may have been reused by a process outside the job.
            if !self.contains(process.as_handle()).unwrap_or(false) {
                continue;
            }
            let mut counters = PROCESS_MEMORY_COUNTERS_EX::default();
            // SAFETY: `counters` is a writable PROCESS_MEMORY_COUNTERS_EX, the size
            // given tells the call so; the process handle is open.
            let ok = unsafe {
                K32GetProcessMemoryInfo(
                    process.as_raw_handle(),
                    ptr::from_mut(&mut counters).cast::<PROCESS_MEMORY_COUNTERS>(),
                    size_of::<PROCESS_MEMORY_COUNTERS_EX>() as u32,
                )
            };
            if ok != 0 {
                total += counters.PrivateUsage as u64;
                read += 1;
            }
        }
        Ok((read > 0 || pids.is_empty()).then_some(total))
    }
}

impl AsHandle for Job {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.as_handle()
    }
}
