//! The file-watch seam: telling the runtime when a file under a unit's `watch` paths is
//! created, changed, moved or deleted.
//!
//! Contract (every backend):
//! - `watch_files(registry, token, unit, paths)` starts watching `paths` for `unit`
//!   (directories recursively, including directories created later; a path that does not
//!   exist yet from its nearest existing parent, moving down when it appears). The
//!   backend's event source is registered under `token` the first time. An `Err` names
//!   the path and the cause; then nothing is watched for the unit. A unit holds at most
//!   [`MAX_WATCHES_PER_UNIT`] watches (directories).
//! - `unwatch_files(unit)` ends every watch of the unit; unknown units are no error.
//! - `file_events()` turns a readiness of the source into [`FileEvents`]; it never blocks.
//!   It reads a bounded amount: `more` says that events are left, and the runtime calls
//!   again before it sleeps (mio is edge-triggered: no new readiness would come for
//!   them). Of each unit's changes it keeps the last ([`coalesce`]), so memory is bounded
//!   by the number of units. A backend that lost events (a queue overflow) reports a
//!   change of every watched unit. A watch that cannot follow the tree any more (a new
//!   directory over the limit) is a `Failed`.
//! - Watches cost nothing while nothing changes: no polling, no timers.
//! - A backend without file watches refuses units asking for them through
//!   `Platform::unsupported` (key `watch`) and returns `Unsupported` here.
//!
//! Debounce and what a change does are the runtime's business, not the backend's.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use mio::{Registry, Token};

use crate::proc::UnitId;

/// Watches (directories, or a file and its directory) one unit may hold.
pub const MAX_WATCHES_PER_UNIT: usize = 8192;

/// What a file watch reported.
#[derive(Debug)]
pub enum FileEvent {
    /// Something under one of the unit's paths changed; `path` names it (a watched path
    /// itself after a queue overflow, when the backend cannot tell).
    Changed { unit: UnitId, path: PathBuf },
    /// The unit's watch cannot follow its paths any more; the backend dropped it.
    Failed { unit: UnitId, error: WatchError },
}

/// What one `file_events` call found.
#[derive(Debug, Default)]
pub struct FileEvents {
    /// At most one `Changed` per unit (its last), and the failures.
    pub events: Vec<FileEvent>,
    /// Events are left unread: call again before sleeping.
    pub more: bool,
}

/// Keeps only the last `Changed` of each unit (failures all stay), in their order.
pub fn coalesce(events: &mut Vec<FileEvent>) {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<FileEvent> = Vec::with_capacity(events.len());
    for ev in events.drain(..).rev() {
        match &ev {
            FileEvent::Changed { unit, .. } if !seen.insert(*unit) => {}
            _ => kept.push(ev),
        }
    }
    kept.reverse();
    *events = kept;
}

/// Why a path cannot be watched; every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("watch: not available on {platform}")]
    Unsupported { platform: &'static str },
    #[error("watch {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "watch {}: more than {limit} directories to watch (the limit per unit)",
        path.display()
    )]
    TooMany { path: PathBuf, limit: usize },
    #[error(
        "watch {}: the system's limit of watches is reached (fs.inotify.max_user_watches)",
        path.display()
    )]
    SystemLimit { path: PathBuf },
}

pub trait FileWatch {
    fn watch_files(
        &mut self,
        registry: &Registry,
        token: Token,
        unit: UnitId,
        paths: &[PathBuf],
    ) -> Result<(), WatchError>;
    fn unwatch_files(&mut self, unit: UnitId);
    fn file_events(&mut self) -> FileEvents;
}

/// What a path is on disk (symlinks followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// Exists and is not a directory.
    Other,
    Missing,
}

/// How a watched path is followed, given what is on disk now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A directory: it and every directory below it.
    Tree,
    /// Not a directory: its parent directory (entries named `name`) and the file itself.
    File { parent: PathBuf, name: OsString },
    /// Does not exist: the nearest existing directory above it, `anchor`, for the entry
    /// `next` on the way down to it; when that entry appears or changes, plan again.
    Absent { anchor: PathBuf, next: OsString },
}

/// `path` without `.` components and with `..` applied lexically (watched paths are
/// absolute; a path cannot climb above `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// How to follow `path` (normalized, absolute), asking `probe` what is on disk.
pub fn plan(path: &Path, mut probe: impl FnMut(&Path) -> Kind) -> Plan {
    match probe(path) {
        Kind::Dir => return Plan::Tree,
        Kind::Other => {
            if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
                return Plan::File {
                    parent: parent.to_path_buf(),
                    name: name.to_os_string(),
                };
            }
            // `/` is always a directory; a probe that says otherwise is followed as one.
            return Plan::Tree;
        }
        Kind::Missing => {}
    }
    // Climb to the nearest ancestor that exists; a file there (not a directory) is
    // followed from its own directory, as the entry that must become one.
    let mut below = path;
    let mut at = path.parent();
    while let Some(dir) = at {
        match probe(dir) {
            Kind::Dir => {
                return Plan::Absent {
                    anchor: dir.to_path_buf(),
                    next: below.file_name().unwrap_or_default().to_os_string(),
                }
            }
            Kind::Other => {
                if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
                    return Plan::Absent {
                        anchor: parent.to_path_buf(),
                        next: name.to_os_string(),
                    };
                }
            }
            Kind::Missing => {}
        }
        below = dir;
        at = dir.parent();
    }
    Plan::Absent {
        anchor: PathBuf::from("/"),
        next: below.file_name().unwrap_or_default().to_os_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe over a fixed set of directories and files.
    fn disk<'a>(dirs: &'a [&str], files: &'a [&str]) -> impl Fn(&Path) -> Kind + 'a {
        move |p: &Path| {
            let p = p.to_str().expect("utf-8");
            if p == "/" || dirs.contains(&p) {
                Kind::Dir
            } else if files.contains(&p) {
                Kind::Other
            } else {
                Kind::Missing
            }
        }
    }

    #[test]
    fn a_directory_is_a_tree_and_a_file_is_followed_from_its_directory() {
        let probe = disk(&["/etc", "/etc/app"], &["/etc/app/conf.yaml"]);
        assert_eq!(plan(Path::new("/etc/app"), &probe), Plan::Tree);
        assert_eq!(
            plan(Path::new("/etc/app/conf.yaml"), &probe),
            Plan::File {
                parent: "/etc/app".into(),
                name: "conf.yaml".into()
            }
        );
        assert_eq!(plan(Path::new("/"), &probe), Plan::Tree);
    }

    #[test]
    fn a_missing_path_is_followed_from_its_nearest_existing_directory() {
        let probe = disk(&["/srv"], &[]);
        assert_eq!(
            plan(Path::new("/srv/app/conf/x.yaml"), &probe),
            Plan::Absent {
                anchor: "/srv".into(),
                next: "app".into()
            }
        );
        assert_eq!(
            plan(Path::new("/srv/app"), &probe),
            Plan::Absent {
                anchor: "/srv".into(),
                next: "app".into()
            }
        );
        assert_eq!(
            plan(Path::new("/nowhere/at/all"), &probe),
            Plan::Absent {
                anchor: "/".into(),
                next: "nowhere".into()
            }
        );
    }

    #[test]
    fn a_file_in_the_way_is_followed_as_the_entry_that_must_become_a_directory() {
        let probe = disk(&["/srv"], &["/srv/app"]);
        assert_eq!(
            plan(Path::new("/srv/app/conf/x"), &probe),
            Plan::Absent {
                anchor: "/srv".into(),
                next: "app".into()
            }
        );
    }

    #[test]
    fn only_the_last_change_of_each_unit_is_kept() {
        let (a, b) = (UnitId::from_index(0), UnitId::from_index(1));
        let changed = |unit, path: &str| FileEvent::Changed {
            unit,
            path: path.into(),
        };
        let mut events = vec![
            changed(a, "/a/1"),
            changed(b, "/b/1"),
            FileEvent::Failed {
                unit: a,
                error: WatchError::TooMany {
                    path: "/a".into(),
                    limit: 1,
                },
            },
            changed(a, "/a/2"),
        ];
        coalesce(&mut events);
        let shown: Vec<String> = events
            .iter()
            .map(|e| match e {
                FileEvent::Changed { path, .. } => path.display().to_string(),
                FileEvent::Failed { .. } => "failed".into(),
            })
            .collect();
        assert_eq!(shown, ["/b/1", "failed", "/a/2"]);
    }

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c/")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(normalize(Path::new("/")), PathBuf::from("/"));
    }
}
