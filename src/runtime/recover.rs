//! Crash recovery: before starting anything, sup stops what a sup that died on the same
//! control socket left running, so no unit runs twice.
//!
//! The rule (README, "Crash recovery"): sup owns the state file beside its socket. On
//! start it reads the previous record; if that sup is dead, every process still in its
//! cgroup subtree (or, on a host without cgroups, in its units' process groups) is a
//! leftover. Frozen (paused) cgroups are thawed, leftovers get SIGTERM, then SIGKILL
//! after `--grace`; units start once every leftover has exited (pidfds in the event
//! loop tell), and the dead sup's cgroups are removed. Leftovers are stopped, not
//! adopted: sup cannot wait for processes that are not its children nor learn their
//! exit status, and a unit restarted clean is one whose state sup knows.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::Runtime;
use crate::engine::{Input, Time};
use crate::platform::linux::{cgroup, recover};

/// Stopping a dead sup's leftovers.
pub(super) struct Recovery {
    /// Leftover processes still running, watched through their pidfds (signals go
    /// through the pidfd too, so a recycled pid is never hit).
    waiting: HashMap<Token, (i32, OwnedFd)>,
    /// Leftovers without a pidfd (a kernel before 5.3): checked in /proc.
    unwatched: Vec<i32>,
    /// The dead sup's units' process groups (hosts without cgroups).
    groups: Vec<i32>,
    /// Its cgroup directories: looked through again for processes forked meanwhile,
    /// removed at the end.
    dirs: Vec<PathBuf>,
    kill_at: Time,
    killed: bool,
}

/// The state file and what this sup last wrote to it.
pub(super) struct StateFile {
    path: PathBuf,
    record: recover::Record,
    /// Without cgroups the record lists the units' process groups: rewrite it when they
    /// change (once per turn of the loop).
    dirty: bool,
}

impl Runtime {
    /// Reads what the previous sup on this socket left, starts stopping it, and writes
    /// this sup's record. True when units must wait for the leftovers to end.
    pub(super) fn begin_recovery(&mut self) -> bool {
        if self.control.is_none() {
            // Another sup serves the socket (or there is none): the state file is not ours.
            return false;
        }
        let path = recover::state_path(&self.config.socket);
        let previous = recover::read(&path);
        let mut record = recover::own_record();
        if let Some(cg) = self.platform.cgroups.as_ref() {
            record.cgroups = cg.hierarchies.iter().map(|h| h.base.clone()).collect();
        }
        let state = StateFile {
            path,
            record,
            dirty: true,
        };
        self.state_file = Some(state);
        self.write_state();
        let Some(previous) = previous.filter(|p| !p.alive() && p.pid != std::process::id()) else {
            return false;
        };
        let mut left = recover::leftovers(&previous);
        // Never our own cgroups (a previous PID 1 of the same name).
        let ours: Vec<PathBuf> = self
            .state_file
            .as_ref()
            .map(|s| s.record.cgroups.clone())
            .unwrap_or_default();
        left.dirs.retain(|d| !ours.contains(d));
        if left.is_empty() {
            remove_dirs(&left.dirs);
            return false;
        }
        log::warn!(
            "a previous sup (pid {}) died without stopping its units: stopping {} leftover processes and {} process groups before starting anything",
            previous.pid,
            left.pids.len(),
            left.groups.len()
        );
        let kill_at = self.now().saturating_add(self.config.grace);
        let mut r = Recovery {
            waiting: HashMap::new(),
            unwatched: Vec::new(),
            groups: left.groups.clone(),
            dirs: left.dirs.clone(),
            kill_at,
            killed: false,
        };
        for &pgid in &r.groups {
            // SAFETY: kill takes plain integers; the group's leader was checked to be the
            // process the dead sup started (same start time).
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
        }
        self.watch_leftovers(&mut r, left.pids, libc::SIGTERM);
        // Group leaders were signalled with their group: only watch them.
        self.watch_leftovers(&mut r, left.groups, 0);
        self.recovery = Some(r);
        true
    }

    /// Opens pidfds for `pids` not watched yet, signals them through the pidfd, and
    /// watches them in the loop.
    fn watch_leftovers(&mut self, r: &mut Recovery, pids: Vec<i32>, signal: i32) {
        for pid in pids {
            if r.waiting.values().any(|(p, _)| *p == pid) || r.unwatched.contains(&pid) {
                continue;
            }
            match recover::pidfd_open(pid) {
                Ok(fd) => {
                    recover::pidfd_signal(&fd, signal);
                    let token = self.token();
                    let registered = self.poll.registry().register(
                        &mut SourceFd(&fd.as_raw_fd()),
                        token,
                        Interest::READABLE,
                    );
                    match registered {
                        Ok(()) => {
                            r.waiting.insert(token, (pid, fd));
                        }
                        Err(e) => {
                            log::debug!("cannot watch leftover {pid}: {e}");
                            r.unwatched.push(pid);
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    log::debug!("pidfd of leftover {pid}: {e}; checking /proc instead");
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, signal) };
                    r.unwatched.push(pid);
                }
            }
        }
    }

    /// Units wait for the leftovers of a previous sup to end.
    pub(super) fn recovering(&self) -> bool {
        self.recovery.is_some()
    }

    pub(super) fn recovery_owns(&self, token: Token) -> bool {
        self.recovery
            .as_ref()
            .is_some_and(|r| r.waiting.contains_key(&token))
    }

    /// A leftover exited.
    pub(super) fn on_recovery_event(&mut self, token: Token) {
        if let Some(r) = self.recovery.as_mut() {
            if let Some((_, fd)) = r.waiting.remove(&token) {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&fd.as_raw_fd()));
            }
        }
        self.recovery_step();
    }

    pub(super) fn recovery_deadline(&self) -> Option<Time> {
        let r = self.recovery.as_ref()?;
        Some(if r.killed && !r.unwatched.is_empty() {
            // Processes without a pidfd (old kernel): look again shortly.
            self.now()
                .saturating_add(std::time::Duration::from_millis(20))
        } else {
            r.kill_at
        })
    }

    /// After each exit of a leftover and at the deadline: look for processes forked
    /// into the old cgroups meanwhile; at the deadline SIGKILL everything left (again
    /// every second); once nothing is left, remove the old cgroups and start the units.
    pub(super) fn recovery_step(&mut self) {
        let now = self.now();
        let Some(mut r) = self.recovery.take() else {
            return;
        };
        let due = now >= r.kill_at;
        if due {
            if !r.killed {
                log::warn!("leftovers of the previous sup did not stop on SIGTERM: SIGKILL");
            }
            r.killed = true;
            r.kill_at = now.saturating_add(std::time::Duration::from_secs(1));
            for (_, fd) in r.waiting.values() {
                recover::pidfd_signal(fd, libc::SIGKILL);
            }
            for &pid in &r.unwatched {
                if recover::running(pid) {
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            for &pgid in &r.groups {
                if group_alive(pgid) {
                    // SAFETY: as above; the group still has members, so its id is theirs.
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                }
            }
        }
        let fresh = recover::pids_in(&r.dirs);
        let signal = if r.killed {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        self.watch_leftovers(&mut r, fresh, signal);
        r.unwatched.retain(|&p| recover::running(p));
        let done = r.waiting.is_empty()
            && r.unwatched.is_empty()
            && !r.groups.iter().any(|&g| group_alive(g));
        if !done {
            self.recovery = Some(r);
            return;
        }
        remove_dirs(&r.dirs);
        if self.shutting_down {
            return;
        }
        log::info!("leftovers of the previous sup are gone: starting units");
        self.feed(Input::StartEnabled);
    }

    /// Rewrites the state file if the units' process groups changed (hosts without
    /// cgroups only; with cgroups the record never changes after start).
    pub(super) fn write_state(&mut self) {
        let no_cgroups = self.platform.cgroups.is_none();
        let Some(state) = self.state_file.as_mut() else {
            return;
        };
        if !state.dirty {
            return;
        }
        state.dirty = false;
        if no_cgroups {
            // Start times are read once per group (a /proc read each), not per write.
            let known: HashMap<u32, u64> = state.record.groups.iter().copied().collect();
            state.record.groups = self
                .engine
                .units()
                .iter()
                .filter_map(|u| u.pgid)
                .filter_map(|g| {
                    Some((
                        g,
                        known.get(&g).copied().or_else(|| recover::start_time(g))?,
                    ))
                })
                .collect();
        }
        if let Err(e) = recover::write(&state.path, &state.record) {
            log::warn!("state file {}: {e}", state.path.display());
        }
    }

    /// A unit's process group came or went (hosts without cgroups keep them on record).
    pub(super) fn state_changed(&mut self) {
        if self.platform.cgroups.is_none() {
            if let Some(s) = self.state_file.as_mut() {
                s.dirty = true;
            }
        }
    }

    /// A clean exit: nothing is left to recover.
    pub(super) fn remove_state(&mut self) {
        if let Some(s) = self.state_file.take() {
            recover::remove(&s.path);
        }
    }
}

/// Whether the process group has a member that is not a zombie (zombies of the dead
/// sup's units are reaped by whoever inherited them, in their own time).
fn group_alive(pgid: i32) -> bool {
    recover::group_members_running(pgid)
}

fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        if cgroup::remove_tree(d) {
            log::info!("removed the previous sup's cgroup {}", d.display());
        } else {
            log::warn!(
                "cannot remove the previous sup's cgroup {} yet",
                d.display()
            );
        }
    }
}
