//! Listening sockets of units (`sockets:`, socket activation). sup binds them as the
//! unit's main process is about to start and passes them to it (`SpawnSpec::listen_fds`);
//! they stay open while the unit restarts (a crash, `supctl restart`, a watch), so
//! connections wait in the backlog and none is refused. They are closed, and a Unix
//! socket's file removed, when the unit comes to rest (stopped, failed, done) or is
//! removed. sup never accepts on them: they are no event source of the loop.
//!
//! A reload that changes `sockets` restarts the unit; its next start keeps the sockets
//! whose address is still listed (a changed backlog is applied in place, a changed name
//! only renames it), closes those no longer listed and binds the new ones.

use std::collections::HashMap;
use std::rc::Rc;

use super::Runtime;
use crate::engine::State;
use crate::platform::listen::{ListenAddr, Listener};
use crate::platform::Backend;
use crate::proc::UnitId;
use crate::unit::spec::SocketSpec;

/// The sockets sup holds open, per unit, in the order of the unit's definition. The
/// instances of a pool share one socket per address (the same `Rc`): it closes when the
/// last of them lets it go.
#[derive(Debug, Default)]
pub(super) struct Sockets {
    open: HashMap<UnitId, Vec<(SocketSpec, Rc<Listener>)>>,
}

impl Sockets {
    /// The unit's open sockets as `(what it was opened as, the socket)`.
    pub(super) fn of(&self, unit: UnitId) -> &[(SocketSpec, Rc<Listener>)] {
        self.open.get(&unit).map_or(&[], Vec::as_slice)
    }

    /// Adopts sockets carried across a reexec.
    pub(super) fn adopt(&mut self, unit: UnitId, socks: Vec<(SocketSpec, Rc<Listener>)>) {
        self.open.insert(unit, socks);
    }

    pub(super) fn units(&self) -> impl Iterator<Item = UnitId> + '_ {
        self.open.keys().copied()
    }
}

#[cfg(test)]
#[path = "sockets_tests.rs"]
mod tests;

impl<P: Backend> Runtime<P> {
    /// Makes the unit's open sockets those of its definition and returns them as the
    /// spawn passes them: `(fd, name)` in order. The error names the socket that cannot
    /// be opened; the unit must not start without it.
    pub(super) fn open_sockets(&mut self, unit: UnitId) -> Result<Vec<(i32, String)>, String> {
        let wanted: Vec<SocketSpec> = self
            .engine
            .unit(unit)
            .spec
            .as_ref()
            .map(|s| s.sockets.clone())
            .unwrap_or_default();
        let mut have = self.sockets.open.remove(&unit).unwrap_or_default();
        // Those no longer listed go first: a new one may want the address back.
        have.retain(|(s, _)| wanted.iter().any(|w| w.listen == s.listen));
        let mut now = Vec::with_capacity(wanted.len());
        for w in wanted {
            let what = |e: String| format!("sockets: {} ({}): {e}", w.name, w.listen);
            let listener = match have.iter().position(|(s, _)| s.listen == w.listen) {
                Some(i) => {
                    let (old, l) = have.swap_remove(i);
                    if old.backlog != w.backlog {
                        l.set_backlog(w.backlog).map_err(what)?;
                    }
                    l
                }
                None => match self.pool_socket(unit, &w.listen) {
                    // Another instance of the pool holds it: the same socket.
                    Some(l) => l,
                    None => {
                        let l = Rc::new(Listener::open(&w.listen, w.backlog).map_err(what)?);
                        log::debug!(
                            "{}: listening on {} for it",
                            self.engine.unit(unit).name,
                            w.listen
                        );
                        l
                    }
                },
            };
            now.push((w, listener));
        }
        let fds = now.iter().map(|(s, l)| (l.raw(), s.name.clone())).collect();
        if !now.is_empty() {
            self.sockets.open.insert(unit, now);
        }
        Ok(fds)
    }

    /// The socket on `addr` another instance of the unit's pool holds open.
    fn pool_socket(&self, unit: UnitId, addr: &ListenAddr) -> Option<Rc<Listener>> {
        let name = &self.engine.unit(unit).name;
        if !name.as_str().contains('@') {
            return None;
        }
        let pool = name.template();
        self.sockets.open.iter().find_map(|(&other, socks)| {
            if other == unit || self.engine.unit(other).name.template() != pool {
                return None;
            }
            socks
                .iter()
                .find(|(s, _)| s.listen == *addr)
                .map(|(_, l)| Rc::clone(l))
        })
    }

    /// Closes the unit's sockets (a unit at rest, or one that is removed).
    pub(super) fn close_sockets(&mut self, unit: UnitId) {
        if let Some(socks) = self.sockets.open.remove(&unit) {
            let name = &self.engine.unit(unit).name;
            for (s, _) in &socks {
                log::debug!("{name}: closing {}", s.listen);
            }
        }
    }

    /// A unit that comes to rest holds no socket: connections are refused, not left
    /// waiting for a process that will not come. Its next start binds them again.
    pub(super) fn sockets_state_changed(&mut self, unit: UnitId, to: State) {
        if matches!(
            to,
            State::Inactive | State::Stopped | State::Failed | State::Done | State::Invalid
        ) {
            self.close_sockets(unit);
        }
    }
}
