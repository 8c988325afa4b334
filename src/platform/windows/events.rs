//! Job notifications for the event loop: one I/O completion port that every unit's job
//! is associated with, and one thread blocked in `GetQueuedCompletionStatus` that sends
//! each message over a channel and wakes the loop's `mio::Waker`. (mio on Windows keeps
//! its own completion port to itself, so job messages cannot reach `Poll` directly.)

use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
use windows_sys::Win32::System::JobObjects::{
    JobObjectAssociateCompletionPortInformation, SetInformationJobObject,
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT,
};
use windows_sys::Win32::System::Threading::INFINITE;
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, PostQueuedCompletionStatus, OVERLAPPED,
};

use super::{cvt, Job};

// The JOB_OBJECT_MSG_* values (winnt.h); windows-sys has them only in its very large
// SystemServices module.
const MSG_END_OF_JOB_TIME: u32 = 1;
const MSG_END_OF_PROCESS_TIME: u32 = 2;
const MSG_ACTIVE_PROCESS_LIMIT: u32 = 3;
const MSG_ACTIVE_PROCESS_ZERO: u32 = 4;
const MSG_NEW_PROCESS: u32 = 6;
const MSG_EXIT_PROCESS: u32 = 7;
const MSG_ABNORMAL_EXIT_PROCESS: u32 = 8;
const MSG_PROCESS_MEMORY_LIMIT: u32 = 9;
const MSG_JOB_MEMORY_LIMIT: u32 = 10;

/// The completion key that tells the thread to stop; never a unit's key.
const STOP_KEY: usize = usize::MAX;

/// One job notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobMessage {
    /// A process entered the job (assigned, or started by one in it).
    NewProcess { pid: u32 },
    /// A process of the job exited (Wine: not after `TerminateJobObject`).
    ExitProcess { pid: u32 },
    /// A process of the job ended by an unhandled exception (a crash).
    AbnormalExitProcess { pid: u32 },
    /// The job has no process left.
    ActiveProcessZero,
    /// A process tried to commit more than the job's memory limit: OOM.
    JobMemoryLimit { pid: u32 },
    /// A process tried to exceed a per-process memory limit.
    ProcessMemoryLimit { pid: u32 },
    /// A process could not start: the job was at its active-process limit.
    ActiveProcessLimit,
    /// A CPU-time limit ran out (sup sets none).
    EndOfTime,
    /// Any other message, as received.
    Other { code: u32, value: usize },
}

impl JobMessage {
    /// The message for a completion packet of code `code` whose overlapped pointer
    /// carries `value` (the process id, for per-process messages).
    fn decode(code: u32, value: usize) -> JobMessage {
        let pid = value as u32;
        match code {
            MSG_NEW_PROCESS => JobMessage::NewProcess { pid },
            MSG_EXIT_PROCESS => JobMessage::ExitProcess { pid },
            MSG_ABNORMAL_EXIT_PROCESS => JobMessage::AbnormalExitProcess { pid },
            MSG_ACTIVE_PROCESS_ZERO => JobMessage::ActiveProcessZero,
            MSG_JOB_MEMORY_LIMIT => JobMessage::JobMemoryLimit { pid },
            MSG_PROCESS_MEMORY_LIMIT => JobMessage::ProcessMemoryLimit { pid },
            MSG_ACTIVE_PROCESS_LIMIT => JobMessage::ActiveProcessLimit,
            MSG_END_OF_JOB_TIME | MSG_END_OF_PROCESS_TIME => JobMessage::EndOfTime,
            code => JobMessage::Other { code, value },
        }
    }
}

/// A notification and the key of the job it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobEvent {
    pub key: usize,
    pub message: JobMessage,
}

/// The completion port and its thread; dropping it stops and joins the thread.
#[derive(Debug)]
pub struct JobEvents {
    port: Arc<OwnedHandle>,
    thread: Option<JoinHandle<()>>,
}

impl JobEvents {
    /// Starts the thread. Every event is sent on the returned channel, then `waker` is
    /// woken (one wake may cover several events: drain the channel on each).
    pub fn start(waker: Arc<mio::Waker>) -> io::Result<(JobEvents, Receiver<JobEvent>)> {
        // SAFETY: INVALID_HANDLE_VALUE with no existing port creates a new port; one
        // thread may run at once.
        let raw = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new handle that nothing else owns.
        let port = Arc::new(unsafe { OwnedHandle::from_raw_handle(raw) });
        let (tx, rx) = mpsc::channel();
        let thread_port = Arc::clone(&port);
        let thread = std::thread::Builder::new()
            .name("sup-job-events".into())
            .spawn(move || forward(&thread_port, &tx, &waker))?;
        Ok((
            JobEvents {
                port,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Associates `job` with the port: its messages arrive with `key`. Do it before a
    /// process is assigned, or its `NewProcess` is missed. `usize::MAX` is reserved.
    pub fn watch(&self, job: &Job, key: usize) -> io::Result<()> {
        if key == STOP_KEY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "job event key usize::MAX is reserved",
            ));
        }
        let info = JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
            CompletionKey: key as *mut std::ffi::c_void,
            CompletionPort: self.port.as_raw_handle(),
        };
        // SAFETY: `info` is a live JOBOBJECT_ASSOCIATE_COMPLETION_PORT of the size given;
        // the job and port handles are open.
        cvt(unsafe {
            SetInformationJobObject(
                job.as_raw(),
                JobObjectAssociateCompletionPortInformation,
                ptr::from_ref(&info).cast(),
                size_of::<JOBOBJECT_ASSOCIATE_COMPLETION_PORT>() as u32,
            )
        })
    }
}

impl Drop for JobEvents {
    fn drop(&mut self) {
        // SAFETY: the port is open (`self.port` holds it); a packet with a null
        // overlapped pointer carries no memory.
        let posted = unsafe {
            PostQueuedCompletionStatus(self.port.as_raw_handle(), 0, STOP_KEY, ptr::null())
        };
        if posted == 0 {
            log::error!(
                "job events: cannot stop the port thread: {}",
                io::Error::last_os_error()
            );
            return; // joining would hang; the thread dies with the process
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread: every packet to `tx` (until the stop key or a closed receiver), each
/// followed by a wake of the loop.
fn forward(port: &OwnedHandle, tx: &Sender<JobEvent>, waker: &mio::Waker) {
    loop {
        let mut code = 0u32;
        let mut key = 0usize;
        let mut overlapped: *mut OVERLAPPED = ptr::null_mut();
        // SAFETY: the port is open while this thread runs (an `Arc` of it is held); the
        // out-pointers are live locals. Job packets carry a process id in place of an
        // OVERLAPPED pointer, which is never dereferenced.
        let ok = unsafe {
            GetQueuedCompletionStatus(
                port.as_raw_handle(),
                &mut code,
                &mut key,
                &mut overlapped,
                INFINITE,
            )
        };
        if ok == 0 {
            log::error!(
                "job events: GetQueuedCompletionStatus failed: {}",
                io::Error::last_os_error()
            );
            return;
        }
        if key == STOP_KEY {
            return;
        }
        let message = JobMessage::decode(code, overlapped as usize);
        if tx.send(JobEvent { key, message }).is_err() {
            return;
        }
        if let Err(e) = waker.wake() {
            log::error!("job events: cannot wake the event loop: {e}");
        }
    }
}
