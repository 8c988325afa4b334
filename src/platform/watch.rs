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
//! - `file_events()` turns a readiness of the source into [`FileEvent`]s; it never blocks
//!   and drains what is there (mio is edge-triggered). A backend that lost events (a
//!   queue overflow) reports a change of every watched unit. A watch that cannot follow
//!   the tree any more (a new directory over the limit) is a `Failed`.
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
    fn file_events(&mut self) -> Vec<FileEvent>;
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
    fn paths_are_normalized_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c/")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(normalize(Path::new("/")), PathBuf::from("/"));
    }
}
