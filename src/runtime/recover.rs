//! Crash recovery: before starting anything, sup stops what a sup that died on the same
//! control socket left running, so no unit runs twice.
//!
//! The rule (README, "Crash recovery"): sup owns the state file beside its socket. On
//! start it reads the previous record; if that sup is dead, every process still in its
//! groups (or, on a host without them, in its units' process groups) is a leftover.
//! Leftovers get SIGTERM, then SIGKILL after `--grace`; units start once every leftover
//! has exited (the platform watches them in the event loop), and the dead sup's groups
//! are removed. Leftovers are stopped, not adopted: sup cannot wait for processes that
//! are not its children nor learn their exit status, and a unit restarted clean is one
//! whose state sup knows. The mechanism (state file, finding and signalling leftovers)
//! is the platform's; the timing is here.

use mio::Token;

use super::Runtime;
use crate::engine::{Input, Time};
use crate::platform::groups::{Leftovers, Registrar, StateRecord};
use crate::platform::Backend;
use crate::proc::Pid;

/// Stopping a dead sup's leftovers.
pub(super) struct Recovery<L> {
    left: L,
    kill_at: Time,
    killed: bool,
}

/// The state file and whether it must be written again.
pub(super) struct StateFile<S> {
    state: S,
    /// Without groups the record lists the units' process groups: rewrite it when they
    /// change (once per turn of the loop).
    dirty: bool,
}

impl<P: Backend> Runtime<P> {
    /// Reads what the previous sup on this socket left, starts stopping it, and writes
    /// this sup's record. True when units must wait for the leftovers to end.
    pub(super) fn begin_recovery(&mut self) -> bool {
        if self.control.is_none() {
            // Another sup serves the socket (or there is none): the state file is not ours.
            return false;
        }
        let (state, left) = self.platform.open_state(&self.config.socket);
        self.state_file = Some(StateFile { state, dirty: true });
        self.write_state();
        let Some(mut left) = left else {
            return false;
        };
        let (pids, groups) = left.counts();
        log::warn!(
            "a previous sup (pid {}) died without stopping its units: stopping {pids} leftover processes and {groups} process groups before starting anything",
            left.previous_pid(),
        );
        let kill_at = self.now().saturating_add(self.config.grace);
        left.start(&mut Registrar {
            registry: self.poll.registry(),
            next_token: &mut self.next_token,
        });
        self.recovery = Some(Recovery {
            left,
            kill_at,
            killed: false,
        });
        true
    }

    /// Units wait for the leftovers of a previous sup to end.
    pub(super) fn recovering(&self) -> bool {
        self.recovery.is_some()
    }

    pub(super) fn recovery_owns(&self, token: Token) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.left.owns(token))
    }

    /// A leftover exited.
    pub(super) fn on_recovery_event(&mut self, token: Token) {
        if let Some(r) = self.recovery.as_mut() {
            r.left.exited(token, self.poll.registry());
        }
        self.recovery_step();
    }

    pub(super) fn recovery_deadline(&self) -> Option<Time> {
        let r = self.recovery.as_ref()?;
        Some(if r.killed && r.left.needs_polling() {
            // Processes that cannot be watched (old kernel): look again shortly.
            self.now()
                .saturating_add(std::time::Duration::from_millis(20))
        } else {
            r.kill_at
        })
    }

    /// After each exit of a leftover and at the deadline: look for processes forked
    /// into the old groups meanwhile; at the deadline SIGKILL everything left (again
    /// every second); once nothing is left, remove the old groups and start the units.
    pub(super) fn recovery_step(&mut self) {
        let now = self.now();
        let Some(mut r) = self.recovery.take() else {
            return;
        };
        if now >= r.kill_at {
            if !r.killed {
                log::warn!("leftovers of the previous sup did not stop on SIGTERM: SIGKILL");
            }
            r.killed = true;
            r.kill_at = now.saturating_add(std::time::Duration::from_secs(1));
            r.left.kill_all();
        }
        r.left.rescan(
            r.killed,
            &mut Registrar {
                registry: self.poll.registry(),
                next_token: &mut self.next_token,
            },
        );
        if !r.left.gone() {
            self.recovery = Some(r);
            return;
        }
        r.left.finish();
        if self.shutting_down {
            return;
        }
        log::info!("leftovers of the previous sup are gone: starting units");
        self.feed(Input::StartEnabled);
    }

    /// Rewrites the state file if the units' process groups changed (hosts without
    /// groups only; with groups the record never changes after start).
    pub(super) fn write_state(&mut self) {
        let Some(state) = self.state_file.as_mut() else {
            return;
        };
        if !state.dirty {
            return;
        }
        state.dirty = false;
        let groups: Vec<Pid> = if self.platform.has_groups() {
            Vec::new()
        } else {
            self.engine.units().filter_map(|u| u.pgid).collect()
        };
        state.state.write(&groups);
    }

    /// A unit's process group came or went (hosts without groups keep them on record).
    pub(super) fn state_changed(&mut self) {
        if !self.platform.has_groups() {
            if let Some(s) = self.state_file.as_mut() {
                s.dirty = true;
            }
        }
    }

    /// A clean exit: nothing is left to recover.
    pub(super) fn remove_state(&mut self) {
        if let Some(s) = self.state_file.take() {
            s.state.remove();
        }
    }
}
