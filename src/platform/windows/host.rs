//! The Windows backend as the runtime sees it ([`super::super::Platform`]): processes
//! started suspended inside a job object, output through overlapped named pipes, job
//! notifications and console control events woken into the loop through a
//! `mio::Waker`, exits collected from the processes' handles.
//!
//! A process started without a unit's job (an exec probe, `stop.exec`, a unit before
//! the resource groups hand one over) gets a job of its own, so that every process sup
//! starts is in a kill-on-close job: nothing sup started outlives it, even a crash.
//! Stop requests become CTRL_BREAK to the process group (each process is started as
//! the leader of a new group); a kill terminates the job, so the whole tree ends.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use mio::windows::NamedPipe;
use mio::{Registry, Token, Waker};
use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT,
    CTRL_SHUTDOWN_EVENT,
};

use super::{send_ctrl_break, spawn, Job, JobEvent, JobEvents, JobMessage, Process, SpawnRequest};
use crate::platform::groups::ResourceGroups;
use crate::platform::{Asks, Child, OsEvent, OutputPipe, Platform, SpawnSpec};
use crate::proc::{sig, Exit, Pid, Stop, UnitId};

/// The read end of a unit's stdout or stderr. The writer closing it reads as the end
/// of the stream (mio reports a broken pipe).
#[derive(Debug)]
pub struct PipeOut(NamedPipe);

impl io::Read for PipeOut {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
            other => other,
        }
    }
}

impl mio::event::Source for PipeOut {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.0.deregister(registry)
    }
}

impl OutputPipe for PipeOut {}

/// A process sup started and has not reaped yet.
#[derive(Debug)]
struct Tracked {
    process: Process,
    /// The job it was started in: its unit's, or its own (see the module doc).
    job: Arc<Job>,
}

/// The completion key of jobs made for one process (units' jobs use the unit's index).
const OWN_JOB_KEY: usize = usize::MAX - 1;

/// Console control events, from the handler thread Windows starts for each.
struct CtrlEvents {
    tx: Mutex<Sender<i32>>,
    waker: Arc<Waker>,
}

static CTRL: OnceLock<CtrlEvents> = OnceLock::new();

/// Runs on a thread of the system's: hands the event to the loop. Every event is
/// handled (TRUE), so none ends sup behind the loop's back; the loop stops the units.
unsafe extern "system" fn on_ctrl(kind: u32) -> BOOL {
    let signo = match kind {
        CTRL_C_EVENT => sig::INT,
        CTRL_BREAK_EVENT | CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => sig::TERM,
        _ => return 0,
    };
    if let Some(ctrl) = CTRL.get() {
        if let Ok(tx) = ctrl.tx.lock() {
            let _ = tx.send(signo);
        }
        let _ = ctrl.waker.wake();
    }
    1
}

#[derive(Debug, Default)]
pub struct WindowsPlatform {
    /// The units' jobs and their notifications (`ResourceGroups`).
    pub groups: super::groups::WindowsGroups,
    procs: HashMap<u32, Tracked>,
    jobs: Option<(JobEvents, Receiver<JobEvent>)>,
    ctrl: Option<Receiver<i32>>,
}

impl WindowsPlatform {
    pub fn new() -> WindowsPlatform {
        WindowsPlatform::default()
    }

    /// The completion port all jobs report to, once `watch_events` set it up.
    pub(super) fn job_port(&self) -> Option<&JobEvents> {
        self.jobs.as_ref().map(|(events, _)| events)
    }

    /// The job a process of sup's runs in.
    fn job_of(&self, pid: u32) -> Option<&Job> {
        self.procs.get(&pid).map(|t| &*t.job)
    }
}

/// Keys of `spec` this backend cannot honour, by name.
fn refused_keys(spec: &SpawnSpec) -> Vec<&'static str> {
    let c = &spec.confine;
    [
        ("user", spec.user.is_some()),
        ("group", spec.group.is_some()),
        ("umask", spec.umask.is_some()),
        ("rlimits", !spec.rlimits.is_empty()),
        ("no_new_privileges", spec.no_new_privileges),
        ("namespaces", !c.namespaces.is_empty()),
        ("hostname", c.hostname.is_some()),
        ("root", c.root.is_some()),
        ("private_tmp", c.private_tmp),
        ("capabilities", c.capabilities.is_some()),
        ("ready: fd", spec.pass_fd.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

fn not_on_windows(keys: &[&str]) -> String {
    format!("{}: not available on Windows", keys.join(", "))
}

impl Platform for WindowsPlatform {
    type Pipe = PipeOut;
    const SIGNALS: bool = false;

    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Child<PipeOut>, String> {
        let refused = refused_keys(spec);
        if !refused.is_empty() {
            return Err(not_on_windows(&refused));
        }
        let job = match &spec.confine.job {
            Some(job) => Arc::clone(job),
            None => {
                let job = Job::new().map_err(|e| e.to_string())?;
                if let Some((events, _)) = &self.jobs {
                    // Before the process is assigned, or its messages are missed.
                    events
                        .watch(&job, OWN_JOB_KEY)
                        .map_err(|e| format!("job notifications: {e}"))?;
                }
                Arc::new(job)
            }
        };
        let env: Vec<(OsString, OsString)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.to_os_string(), v.to_os_string()))
            .collect();
        let req = SpawnRequest {
            argv: &spec.argv,
            env: Some(&env),
            cwd: spec.working_dir.as_deref(),
            capture: spec.capture,
        };
        let mut process = spawn(&job, &req).map_err(|e| e.to_string())?;
        let pid = process.pid();
        let child = Child {
            pid: Pid::from_raw(pid),
            stdout: process.stdout.take().map(PipeOut),
            stderr: process.stderr.take().map(PipeOut),
        };
        self.procs.insert(pid, Tracked { process, job });
        Ok(child)
    }

    /// A kill ends the process's job (its whole tree); anything else asks it to stop
    /// with CTRL_BREAK to its group.
    fn signal(&mut self, pid: Pid, stop: Stop) {
        self.kill_unit(pid, stop);
    }

    fn kill_unit(&mut self, pgid: Pid, stop: Stop) {
        let pgid = pgid.raw();
        if stop == Stop::Kill {
            match self.job_of(pgid) {
                Some(job) => {
                    if let Err(e) = job.terminate(1) {
                        log::warn!("cannot terminate the job of process {pgid}: {e}");
                    }
                }
                None => {
                    if let Some(t) = self.procs.get(&pgid) {
                        let _ = t.process.terminate(1);
                    }
                }
            }
        } else if let Err(e) = send_ctrl_break(pgid) {
            log::debug!("CTRL_BREAK to process group {pgid}: {e}");
        }
    }

    /// Every tracked process that has ended, with its status. Windows does not
    /// guarantee job notifications, so each call looks at every process.
    fn reap(&mut self) -> Vec<(Pid, Exit)> {
        let ended: Vec<(u32, Exit)> = self
            .procs
            .iter()
            .filter_map(|(pid, t)| match t.process.exit_status() {
                Ok(Some(status)) => Some((*pid, status.exit())),
                _ => None,
            })
            .collect();
        for (pid, _) in &ended {
            self.procs.remove(pid);
        }
        ended
            .into_iter()
            .map(|(pid, exit)| (Pid::from_raw(pid), exit))
            .collect()
    }

    /// Every OS-specific key is Linux's for now (credentials, limits, namespaces,
    /// capabilities, readiness channels); resources are judged by the job object.
    fn unsupported(&self, asks: &Asks<'_>) -> Option<String> {
        if !asks.keys.is_empty() {
            return Some(not_on_windows(asks.keys));
        }
        self.group_missing(asks)
    }

    /// One waker for the loop: the job notification thread and the console control
    /// handler both wake it.
    fn watch_events(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let waker = Arc::new(Waker::new(registry, token)?);
        self.jobs = Some(JobEvents::start(Arc::clone(&waker))?);
        let (tx, rx) = mpsc::channel();
        let fresh = CTRL
            .set(CtrlEvents {
                tx: Mutex::new(tx),
                waker,
            })
            .is_ok();
        if fresh {
            // SAFETY: `on_ctrl` is a valid handler for the life of the process (a
            // plain function) and touches only the synchronised `CTRL`.
            super::cvt(unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) })?;
            self.ctrl = Some(rx);
        }
        Ok(())
    }

    fn events(&mut self) -> Vec<OsEvent> {
        let mut out = Vec::new();
        if let Some(rx) = &self.ctrl {
            out.extend(rx.try_iter().map(|signo| OsEvent::Signal {
                signo,
                sender: Pid::from_raw(0),
            }));
        }
        let mut ended = false;
        if let Some((_, rx)) = &self.jobs {
            for JobEvent { key, message } in rx.try_iter() {
                match message {
                    JobMessage::JobMemoryLimit { .. } if key != OWN_JOB_KEY => {
                        self.groups.memory_limit_hits.push(UnitId::from_index(key))
                    }
                    JobMessage::ExitProcess { .. }
                    | JobMessage::AbnormalExitProcess { .. }
                    | JobMessage::ActiveProcessZero => ended = true,
                    _ => {}
                }
            }
        }
        if ended {
            out.push(OsEvent::ChildEnded);
        }
        out
    }

    /// The console cannot be polled; writes to it block for a short while at most.
    fn watch_console(&mut self, _: &Registry, _: usize, _: Token) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn unwatch_console(&mut self, _: &Registry, _: usize) {}
}
