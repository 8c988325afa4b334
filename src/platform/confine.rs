//! What confines one process beyond credentials and limits: the cgroup it joins before
//! running anything, its namespaces and its capabilities. Resolved by the runtime,
//! carried out by the platform's spawn.

use std::path::PathBuf;

use crate::limits::Namespace;

/// A file a new process writes `0` to, to join a cgroup: `rel` below the open directory
/// `dir` (sup's base in one hierarchy, held open by the platform's cgroup layer for sup's
/// whole life: a short path walk instead of the full one), or `path` when `dir` is
/// `None`. `path` is the full name, for messages.
#[cfg(unix)]
#[derive(Clone, Debug, PartialEq)]
pub struct JoinFile {
    pub dir: Option<i32>,
    pub rel: PathBuf,
    pub path: PathBuf,
}

/// What puts a new process in its unit's resource group before it runs
/// (`ResourceGroups::Placement`): the join files on Linux, the job on Windows.
#[cfg(unix)]
pub type Placement = Vec<JoinFile>;
#[cfg(windows)]
pub type Placement = std::sync::Arc<crate::platform::windows::Job>;

#[derive(Clone, Debug, Default)]
#[cfg_attr(unix, derive(PartialEq))]
pub struct Confinement {
    /// Files (v2 `cgroup.procs`, v1 `tasks`; one per joined hierarchy) the process
    /// joins by as its first step.
    #[cfg(unix)]
    pub cgroup_join: Vec<JoinFile>,
    /// The job the process is assigned to while suspended, before it runs.
    #[cfg(windows)]
    pub job: Option<Placement>,
    pub namespaces: Vec<Namespace>,
    pub hostname: Option<String>,
    pub root: Option<PathBuf>,
    pub private_tmp: bool,
    /// Capability names without `CAP_`; `None` leaves them unchanged.
    pub capabilities: Option<Vec<String>>,
}

impl Confinement {
    /// Puts the process in its resource group.
    pub fn place(&mut self, placement: Placement) {
        #[cfg(unix)]
        {
            self.cgroup_join = placement;
        }
        #[cfg(windows)]
        {
            self.job = Some(placement);
        }
    }

    pub fn has(&self, ns: Namespace) -> bool {
        self.namespaces.contains(&ns)
    }
}
