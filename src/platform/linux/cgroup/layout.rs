//! Where sup's cgroup subtree goes: the cgroup mounts below the cgroup root (from
//! `/proc/self/mountinfo`), the cgroup sup runs in (from `/proc/self/cgroup`), and the
//! pure plan that joins the two.
//!
//! A cgroup mount need not show its hierarchy from the top: a container runtime that
//! shares the host's cgroup namespace bind-mounts the container's own cgroup
//! (`/sys/fs/cgroup/memory/<ctr>` of the host) at `/sys/fs/cgroup/memory`, and
//! mountinfo says so in the mount's root field (`/<ctr>`), while `/proc/self/cgroup`
//! still names the full path (`4:memory:/<ctr>`). sup's dir in a hierarchy is therefore
//! the mount point plus its own path with the mount's root taken off the front; a
//! hierarchy whose root sup's own cgroup is not below cannot be used.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::{CgroupError, Cgroups, Hierarchy, Result, Version, V1_CONTROLLERS, V2_CONTROLLERS};

/// What sup runs in according to `/proc/self/cgroup`: the v2 path and the v1 path of
/// each controller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnCgroup {
    pub unified: Option<String>,
    pub v1: BTreeMap<String, String>,
}

pub fn parse_proc_cgroup(text: &str) -> OwnCgroup {
    let mut own = OwnCgroup::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            own.unified = Some(path.to_string());
        } else {
            for c in ctrls.split(',') {
                own.v1.insert(c.to_string(), path.to_string());
            }
        }
    }
    own
}

/// One visible cgroup mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// The cgroup its mount point shows (the mount's root field): `/` for a whole
    /// hierarchy, a cgroup path for a bind mount of a sub-cgroup.
    pub root: String,
    /// cgroup2 (else a v1 hierarchy).
    pub v2: bool,
    /// The super options (v1: the controllers carried, e.g. `cpu`, `cpuacct`).
    pub options: Vec<String>,
}

impl CgroupMount {
    fn carries(&self, ctrl: &str) -> bool {
        !self.v2 && self.options.iter().any(|o| o == ctrl)
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash, ...).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// The cgroup mounts of mountinfo `text` that are visible: one mounted later on the
/// same point or on a dir above it (a mount stacked on top, or a fresh tmpfs on
/// `/sys/fs/cgroup`) hides it. mountinfo lists a namespace's mounts in the order they
/// were made, so the later one is the one on top.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    // Every mount point (a later mount of any type may hide a cgroup mount), and the
    // cgroup mounts with their position.
    let mut points: Vec<PathBuf> = Vec::new();
    let mut found: Vec<(usize, CgroupMount)> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(point), Some(fstype)) =
            (fields.get(3), fields.get(4), fields.get(sep + 1))
        else {
            continue;
        };
        let point = PathBuf::from(OsString::from_vec(unescape(point)));
        if matches!(*fstype, "cgroup" | "cgroup2") {
            let options = fields
                .get(sep + 3)
                .map(|o| o.split(',').map(String::from).collect())
                .unwrap_or_default();
            found.push((
                points.len(),
                CgroupMount {
                    point: point.clone(),
                    root: String::from_utf8_lossy(&unescape(root)).into_owned(),
                    v2: *fstype == "cgroup2",
                    options,
                },
            ));
        }
        points.push(point);
    }
    found
        .into_iter()
        .filter(|(i, m)| !points[i + 1..].iter().any(|p| m.point.starts_with(p)))
        .map(|(_, m)| m)
        .collect()
}

/// Which layout the cgroup root (normally `/sys/fs/cgroup`) has: v2 if a cgroup2 is
/// mounted on it, v1 if controller hierarchies sup uses are mounted directly below it.
pub fn detect(root: &Path, mounts: &[CgroupMount]) -> Option<Version> {
    if mounts.iter().any(|m| m.v2 && m.point == root) {
        Some(Version::V2)
    } else if mounts
        .iter()
        .any(|m| m.point.parent() == Some(root) && V1_CONTROLLERS.iter().any(|c| m.carries(c)))
    {
        Some(Version::V1)
    } else {
        None
    }
}

/// `own` relative to the cgroup `mount_root` (`/` for `own` itself), or `None` when it
/// is not below it. A `..` in either (a cgroup outside sup's cgroup namespace) is never
/// below.
fn below(own: &str, mount_root: &str) -> Option<String> {
    let dotdot = |p: &str| p.split('/').any(|c| c == "..");
    if dotdot(own) || dotdot(mount_root) || !own.starts_with('/') {
        return None;
    }
    let root = mount_root.trim_end_matches('/');
    let rest = own.strip_prefix(root)?;
    if rest.is_empty() {
        Some("/".into())
    } else if rest.starts_with('/') {
        Some(rest.into())
    } else {
        None
    }
}

/// `base` (a cgroup path like `/a/b`) joined with `rel` (like `web.slice/app`).
pub(super) fn cgroup_join(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    match rel.trim_matches('/') {
        "" if base.is_empty() => "/".into(),
        "" => base.into(),
        rel => format!("{base}/{rel}"),
    }
}

/// A mounted hierarchy sup cannot use: its mount shows a cgroup that sup's own is not in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unusable {
    pub controllers: Vec<String>,
    pub mount: PathBuf,
    /// The cgroup the mount shows (mountinfo's root field).
    pub mount_root: String,
    /// sup's own cgroup in that hierarchy (`/proc/self/cgroup`).
    pub own: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.controllers.is_empty() {
            "the cgroup2 hierarchy".to_string()
        } else {
            format!("the {} hierarchy", self.controllers.join(","))
        };
        write!(
            f,
            "{what} mounted at {} shows cgroup {} (its root in /proc/self/mountinfo), and sup's own cgroup {} is not below it",
            self.mount.display(),
            self.mount_root,
            self.own
        )
    }
}

impl Cgroups {
    /// Plans sup's subtree under the cgroup root `root` from the text of
    /// `/proc/self/mountinfo` and sup's own cgroup; touches nothing.
    pub fn plan(root: &Path, mountinfo: &str, own: &OwnCgroup, name: &str) -> Result<Cgroups> {
        let mounts = parse_mountinfo(mountinfo);
        let none = || CgroupError::NoHierarchy {
            root: root.to_path_buf(),
        };
        let version = detect(root, &mounts).ok_or_else(none)?;
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut unusable: Vec<Unusable> = Vec::new();
        let mut place =
            |m: &CgroupMount, own_path: &str, ctrls: Vec<String>| match below(own_path, &m.root) {
                Some(rel) => hierarchies.push(Hierarchy {
                    controllers: ctrls,
                    base: m.point.join(rel.trim_start_matches('/')).join(name),
                    mount: m.point.clone(),
                    cgroup: cgroup_join(own_path, name),
                }),
                None => unusable.push(Unusable {
                    controllers: if m.v2 { Vec::new() } else { ctrls },
                    mount: m.point.clone(),
                    mount_root: m.root.clone(),
                    own: own_path.to_string(),
                }),
            };
        match version {
            Version::V2 => {
                let m = mounts
                    .iter()
                    .find(|m| m.v2 && m.point == root)
                    .ok_or_else(none)?;
                let ctrls = V2_CONTROLLERS.iter().map(|s| s.to_string()).collect();
                place(m, own.unified.as_deref().unwrap_or("/"), ctrls);
            }
            Version::V1 => {
                // The first visible mount below the root carrying each controller;
                // co-mounted controllers (cpu,cpuacct) share its hierarchy.
                let mut groups: Vec<(&CgroupMount, Vec<String>)> = Vec::new();
                for ctrl in V1_CONTROLLERS {
                    let Some(m) = mounts
                        .iter()
                        .find(|m| m.point.parent() == Some(root) && m.carries(ctrl))
                    else {
                        continue;
                    };
                    match groups.iter_mut().find(|(g, _)| g.point == m.point) {
                        Some((_, ctrls)) => ctrls.push(ctrl.to_string()),
                        None => groups.push((m, vec![ctrl.to_string()])),
                    }
                }
                for (m, ctrls) in groups {
                    let own_path = own.v1.get(&ctrls[0]).map(String::as_str).unwrap_or("/");
                    place(m, own_path, ctrls);
                }
            }
        }
        if hierarchies.is_empty() {
            return Err(CgroupError::Unusable(unusable));
        }
        Ok(Cgroups {
            version,
            base_fds: hierarchies.iter().map(|_| None).collect(),
            hierarchies,
            unusable,
            name: name.to_string(),
            base_memory_limited: true,
        })
    }

    /// Why the hierarchy carrying `ctrl` is mounted but not usable, if it is.
    pub fn unusable_reason(&self, ctrl: &str) -> Option<String> {
        self.unusable
            .iter()
            .find(|u| u.controllers.iter().any(|c| c == ctrl))
            .map(Unusable::to_string)
    }
}
