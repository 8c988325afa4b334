//! Planning sup's subtree from fake `/proc/self/mountinfo` and `/proc/self/cgroup` texts:
//! v2, v1 (co-mounted controllers), hybrid, a container's bind mount of its own cgroup,
//! and an own cgroup outside the mount. Pure: nothing is created.

use std::path::{Path, PathBuf};

use super::tests::{mi_line, v1_mountinfo, v2_mountinfo};
use super::*;
use crate::limits::Resources;

const ROOT: &str = "/sys/fs/cgroup";

fn root() -> PathBuf {
    PathBuf::from(ROOT)
}

fn plan(mountinfo: &str, proc_cgroup: &str, name: &str) -> Result<Cgroups> {
    Cgroups::plan(&root(), mountinfo, &parse_proc_cgroup(proc_cgroup), name)
}

#[test]
fn mountinfo_fields_escapes_and_visibility() {
    let text =
        format!(
        "{}{}{}{}",
        // Optional fields before the separator, a space escaped in the mount point.
        "40 30 0:35 /a\\040b /mnt/my\\040cg rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw\n",
        mi_line(41, Path::new("/sys/fs/cgroup/memory"), "/", "cgroup", "memory"),
        // Stacked on the same point later: hides mount 41.
        mi_line(42, Path::new("/sys/fs/cgroup/memory"), "/x", "cgroup", "memory"),
        "43 20 0:40 / /proc rw - proc proc rw\n",
    );
    let mounts = parse_mountinfo(&text);
    assert_eq!(
        mounts,
        vec![
            CgroupMount {
                point: "/mnt/my cg".into(),
                root: "/a b".into(),
                v2: true,
                options: vec!["rw".into()],
            },
            CgroupMount {
                point: "/sys/fs/cgroup/memory".into(),
                root: "/x".into(),
                v2: false,
                options: vec!["rw".into(), "memory".into()],
            },
        ]
    );
    // A fresh tmpfs on /sys/fs/cgroup after the hierarchies hides all of them.
    let hidden = v1_mountinfo(&root(), &["memory", "pids"], "/")
        + &mi_line(99, &root(), "/", "tmpfs", "mode=755");
    assert!(parse_mountinfo(&hidden).is_empty());
    assert!(matches!(
        plan(&hidden, "4:memory:/\n", "sup"),
        Err(CgroupError::NoHierarchy { .. })
    ));
}

#[test]
fn v2_whole_hierarchy_and_container_bind_mount() {
    let cg = plan(&v2_mountinfo(&root(), "/"), "0::/user.slice/x\n", "sup-9").unwrap();
    assert_eq!(cg.version, Version::V2);
    assert_eq!(
        cg.hierarchies[0].base,
        Path::new("/sys/fs/cgroup/user.slice/x/sup-9")
    );
    assert_eq!(cg.display("web"), "/user.slice/x/sup-9/web");
    // runc with the host's cgroup namespace: the container's cgroup is what is mounted.
    let ctr = "/machine.slice/libpod-abc.scope";
    let cg = plan(
        &v2_mountinfo(&root(), ctr),
        &format!("0::{ctr}\n"),
        "sup-1-ff",
    )
    .unwrap();
    assert_eq!(cg.hierarchies[0].base, Path::new("/sys/fs/cgroup/sup-1-ff"));
    assert_eq!(cg.hierarchies[0].mount, root());
    assert_eq!(cg.display("web"), format!("{ctr}/sup-1-ff/web"));
    // Outside the mounted cgroup: no hierarchy at all on v2, and the error says why.
    let err = plan(&v2_mountinfo(&root(), ctr), "0::/elsewhere\n", "sup")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("no usable cgroup hierarchy: the cgroup2 hierarchy mounted at /sys/fs/cgroup shows cgroup {ctr} (its root in /proc/self/mountinfo), and sup's own cgroup /elsewhere is not below it")
    );
}

#[test]
fn v1_co_mounted_controllers_share_a_hierarchy() {
    let mi = v1_mountinfo(
        &root(),
        &[
            "cpu,cpuacct",
            "memory",
            "pids",
            "blkio",
            "freezer",
            "devices",
        ],
        "/",
    );
    let own = "7:cpu,cpuacct:/c\n4:memory:/m\n3:pids:/\n2:blkio:/\n1:freezer:/f\n";
    let cg = plan(&mi, own, "sup-3").unwrap();
    assert_eq!(cg.version, Version::V1);
    assert_eq!(cg.hierarchies.len(), 5, "{:?}", cg.hierarchies);
    assert_eq!(cg.hierarchies[0].controllers, ["cpu", "cpuacct"]);
    assert_eq!(
        cg.hierarchies[0].mount,
        Path::new("/sys/fs/cgroup/cpu,cpuacct")
    );
    assert_eq!(cg.dir("cpu", "a"), cg.dir("cpuacct", "a"));
    assert_eq!(
        cg.dir("cpuacct", "a").unwrap(),
        Path::new("/sys/fs/cgroup/cpu,cpuacct/c/sup-3/a")
    );
    assert_eq!(
        cg.dir("freezer", "a").unwrap(),
        Path::new("/sys/fs/cgroup/freezer/f/sup-3/a")
    );
    assert_eq!(cg.display("a"), "/m/sup-3/a");
    assert!(cg.unusable.is_empty());
}

#[test]
fn hybrid_uses_v1_and_ignores_the_unified_mount() {
    let mi = v1_mountinfo(&root(), &["cpu", "cpuacct", "memory"], "/")
        + &mi_line(50, &root().join("unified"), "/", "cgroup2", "nsdelegate")
        + &mi_line(
            51,
            &root().join("systemd"),
            "/",
            "cgroup",
            "xattr,name=systemd",
        );
    let mounts = parse_mountinfo(&mi);
    assert_eq!(detect(&root(), &mounts), Some(Version::V1));
    let cg = plan(&mi, "4:memory:/\n1:cpu:/\n0::/\n", "sup").unwrap();
    assert_eq!(cg.hierarchies.len(), 3);
    assert!(cg
        .hierarchies
        .iter()
        .all(|h| h.mount.parent() == Some(root().as_path()) && !h.mount.ends_with("unified")));
    // Hierarchies mounted elsewhere than directly below the root do not count.
    let elsewhere = mi_line(60, Path::new("/mnt/memory"), "/", "cgroup", "memory");
    assert_eq!(detect(&root(), &parse_mountinfo(&elsewhere)), None);
}

/// podman/runc `--privileged` with the host's cgroup namespace on v1: each controller
/// mount shows the container's cgroup; sup's dir is not that path twice.
#[test]
fn v1_container_bind_mount_is_not_doubled() {
    let ctr = "/libpod_parent/libpod-X";
    let ctrls = ["cpu", "cpuacct", "memory", "pids", "blkio", "freezer"];
    let mi = v1_mountinfo(&root(), &ctrls, ctr);
    let own: String = ctrls
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}:{c}:{ctr}\n", i + 1))
        .collect();
    let cg = plan(&mi, &own, "sup-1-N").unwrap();
    assert_eq!(
        cg.dir("memory", "web").unwrap(),
        Path::new("/sys/fs/cgroup/memory/sup-1-N/web")
    );
    assert_eq!(cg.display("web"), format!("{ctr}/sup-1-N/web"));
    // sup in a sub-cgroup of the mounted one.
    let own = own.replace(ctr, &format!("{ctr}/inner"));
    let cg = plan(&mi, &own, "sup").unwrap();
    assert_eq!(
        cg.dir("pids", "web").unwrap(),
        Path::new("/sys/fs/cgroup/pids/inner/sup/web")
    );
    assert_eq!(cg.display("web"), format!("{ctr}/inner/sup/web"));
}

#[test]
fn own_cgroup_outside_the_mount_makes_that_hierarchy_unusable() {
    // memory shows /a; sup is in /ab (a prefix of the text, not of the path).
    let mi = v1_mountinfo(&root(), &["pids"], "/")
        + &mi_line(40, &root().join("memory"), "/a", "cgroup", "memory");
    let cg = plan(&mi, "4:memory:/ab\n3:pids:/\n", "sup").unwrap();
    assert_eq!(cg.hierarchies.len(), 1);
    assert!(cg.has("pids") && !cg.has("memory"));
    let why = cg.unusable_reason("memory").unwrap();
    assert_eq!(
        why,
        "the memory hierarchy mounted at /sys/fs/cgroup/memory shows cgroup /a (its root in /proc/self/mountinfo), and sup's own cgroup /ab is not below it"
    );
    // A unit that needs it fails with that reason.
    let r = Resources {
        memory_max: Some(1 << 20),
        ..Resources::default()
    };
    let err = cg.apply("app", &r, "resources").unwrap_err().to_string();
    assert_eq!(
        err,
        format!("resources.memory_max: the memory controller cannot be used: {why}")
    );
    // Status shows the usable hierarchy's path.
    assert_eq!(cg.display("app"), "/sup/app");
    // A path outside sup's cgroup namespace (`/..`) is never below anything.
    let all = v1_mountinfo(&root(), &["memory"], "/");
    let err = plan(&all, "4:memory:/../x\n", "sup").unwrap_err();
    assert!(
        matches!(err, CgroupError::Unusable(ref u) if u.len() == 1),
        "{err}"
    );
    // Nothing mounted at all.
    let err = plan("22 1 0:21 / / rw - ext4 /dev/vda rw\n", "0::/\n", "sup").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no cgroup hierarchy mounted at /sys/fs/cgroup (by /proc/self/mountinfo)"
    );
}
