//! What confines one process beyond credentials and limits: the cgroup it joins before
//! running anything, its namespaces and its capabilities. Resolved by the runtime,
//! carried out by the platform's spawn.

use std::path::PathBuf;

use crate::unit::Namespace;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Confinement {
    /// Files (v2 `cgroup.procs`, v1 `tasks`; one per joined hierarchy) the process
    /// joins by as its first step.
    pub cgroup_join: Vec<PathBuf>,
    pub namespaces: Vec<Namespace>,
    pub hostname: Option<String>,
    pub root: Option<PathBuf>,
    pub private_tmp: bool,
    /// Capability names without `CAP_`; `None` leaves them unchanged.
    pub capabilities: Option<Vec<String>>,
}

impl Confinement {
    pub fn has(&self, ns: Namespace) -> bool {
        self.namespaces.contains(&ns)
    }
}
