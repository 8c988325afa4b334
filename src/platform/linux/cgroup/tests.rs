//! The cgroup layer on fake trees in a temp dir: which v1 and v2 files get written.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::limits::Resources;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sup-cg-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn touch(p: &Path, content: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A mountinfo line: mount `id` of a `fstype` at `point` showing `mount_root`.
pub(super) fn mi_line(id: u32, point: &Path, mount_root: &str, fstype: &str, opts: &str) -> String {
    format!(
        "{id} 20 0:{id} {mount_root} {} rw,nosuid,nodev,noexec,relatime shared:{id} - {fstype} {fstype} rw,{opts}\n",
        point.display()
    )
}

/// A tmpfs on `root` and a v1 hierarchy per entry of `ctrls` (`cpu,cpuacct` co-mounts)
/// below it, each showing `mount_root`.
pub(super) fn v1_mountinfo(root: &Path, ctrls: &[&str], mount_root: &str) -> String {
    let mut text = format!(
        "22 1 0:21 / / rw,relatime - ext4 /dev/vda rw\n{}",
        mi_line(30, root, "/", "tmpfs", "mode=755")
    );
    for (i, c) in ctrls.iter().enumerate() {
        text += &mi_line(31 + i as u32, &root.join(c), mount_root, "cgroup", c);
    }
    text
}

/// A cgroup2 on `root` showing `mount_root`.
pub(super) fn v2_mountinfo(root: &Path, mount_root: &str) -> String {
    format!(
        "22 1 0:21 / / rw,relatime - ext4 /dev/vda rw\n{}",
        mi_line(30, root, mount_root, "cgroup2", "nsdelegate")
    )
}

fn res() -> Resources {
    Resources {
        cpu_weight: Some(200),
        cpu_max: Some(0.2),
        memory_max: Some(64 << 20),
        memory_high: Some(48 << 20),
        memory_swap_max: Some(0),
        io_weight: Some(50),
        io_max: Vec::new(),
        pids_max: Some(32),
    }
}

#[test]
fn parses_proc_self_cgroup() {
    let own = parse_proc_cgroup("4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n");
    assert_eq!(own.unified.as_deref(), Some("/user.slice"));
    assert_eq!(own.v1["memory"], "/a/b");
    assert_eq!(own.v1["cpuacct"], "/");
}

#[test]
fn v2_layout_files_and_limits() {
    let root = tmp("v2");
    touch(&root.join("cgroup.controllers"), "cpu io memory pids");
    touch(&root.join("cgroup.subtree_control"), "");
    let mi = v2_mountinfo(&root, "/");
    assert_eq!(detect(&root, &parse_mountinfo(&mi)), Some(Version::V2));
    let own = parse_proc_cgroup("0::/\n");
    let mut cg = Cgroups::plan(&root, &mi, &own, "sup").unwrap();
    // A plain directory tree does not propagate controllers: pretend it did.
    touch(&root.join("sup/cgroup.controllers"), "cpu io memory pids");
    touch(
        &root.join("sup/cgroup.subtree_control"),
        "cpu io memory pids",
    );
    cg.setup(4242).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("sup/supervisor/cgroup.procs")).unwrap(),
        "4242"
    );
    assert!(cg.has("memory") && cg.has("pids"));
    cg.create("web.slice/app", Joins::ALL).unwrap();
    let dir = root.join("sup/web.slice/app");
    for f in [
        "cpu.weight",
        "cpu.max",
        "memory.max",
        "memory.high",
        "memory.swap.max",
        "io.weight",
        "pids.max",
    ] {
        touch(&dir.join(f), "");
    }
    cg.apply("web.slice/app", &res(), "resources").unwrap();
    let r = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(r("cpu.weight"), "200");
    assert_eq!(r("cpu.max"), "20000 100000");
    assert_eq!(r("memory.max"), (64u64 << 20).to_string());
    assert_eq!(r("memory.high"), (48u64 << 20).to_string());
    assert_eq!(r("memory.swap.max"), "0");
    assert_eq!(r("io.weight"), "default 50");
    assert_eq!(r("pids.max"), "32");
    let join = cg.join_files("web.slice/app", Joins::default());
    assert_eq!(join.len(), 1);
    assert_eq!(join[0].path, dir.join("cgroup.procs"));
    // Relative to the base dir, which setup opened.
    assert_eq!(join[0].rel, Path::new("web.slice/app/cgroup.procs"));
    assert!(join[0].dir.is_some());
    assert_eq!(cg.display("web.slice/app"), "/sup/web.slice/app");
    touch(
        &dir.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n",
    );
    touch(&dir.join("memory.current"), "1234\n");
    touch(&dir.join("cpu.stat"), "usage_usec 99\nuser_usec 1\n");
    touch(&dir.join("pids.current"), "3\n");
    let st = cg.stats("web.slice/app");
    assert_eq!(
        st,
        Stats {
            memory_bytes: Some(1234),
            cpu_usec: Some(99),
            pids: Some(3),
            oom_kills: Some(2),
            ..Stats::default()
        }
    );
    cg.freeze("web.slice/app", true).unwrap();
    assert_eq!(r("cgroup.freeze"), "1");
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn v2_missing_file_names_key_and_file() {
    let root = tmp("v2miss");
    touch(&root.join("cgroup.controllers"), "cpu memory pids");
    let own = parse_proc_cgroup("0::/\n");
    let mut cg = Cgroups::plan(&root, &v2_mountinfo(&root, "/"), &own, "sup").unwrap();
    touch(&root.join("sup/cgroup.subtree_control"), "cpu memory pids");
    cg.setup(1).unwrap();
    cg.create("app", Joins::ALL).unwrap();
    let r = Resources {
        memory_swap_max: Some(0),
        ..Resources::default()
    };
    let err = cg.apply("app", &r, "resources").unwrap_err().to_string();
    assert!(err.starts_with("resources.memory_swap_max: "), "{err}");
    assert!(err.contains("memory.swap.max missing"), "{err}");
    let r = Resources {
        io_weight: Some(10),
        ..Resources::default()
    };
    let err = cg.apply("app", &r, "resources").unwrap_err().to_string();
    assert!(err.contains("io controller is not enabled"), "{err}");
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn v1_layout_files_and_limits() {
    let root = tmp("v1");
    for c in V1_CONTROLLERS {
        touch(&root.join(c).join("cgroup.procs"), "");
    }
    let mi = v1_mountinfo(&root, V1_CONTROLLERS, "/");
    assert_eq!(detect(&root, &parse_mountinfo(&mi)), Some(Version::V1));
    let own = parse_proc_cgroup("4:memory:/outer\n1:cpu:/\n");
    let mut cg = Cgroups::plan(&root, &mi, &own, "sup-7").unwrap();
    cg.setup(7).unwrap();
    assert_eq!(cg.hierarchies.len(), V1_CONTROLLERS.len());
    assert_eq!(
        cg.dir("memory", "app").unwrap(),
        root.join("memory/outer/sup-7/app")
    );
    cg.create("app", Joins::ALL).unwrap();
    for (c, f) in [
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("blkio", "blkio.weight"),
        ("pids", "pids.max"),
    ] {
        touch(&cg.dir(c, "app").unwrap().join(f), "");
    }
    cg.apply("app", &res(), "resources").unwrap();
    let r = |c: &str, f: &str| fs::read_to_string(cg.dir(c, "app").unwrap().join(f)).unwrap();
    assert_eq!(r("cpu", "cpu.shares"), "2048");
    assert_eq!(r("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(r("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(
        r("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        r("memory", "memory.soft_limit_in_bytes"),
        (48u64 << 20).to_string()
    );
    assert_eq!(
        r("memory", "memory.memsw.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(r("blkio", "blkio.weight"), "250");
    assert_eq!(r("pids", "pids.max"), "32");
    assert_eq!(cg.join_files("app", Joins::ALL).len(), V1_CONTROLLERS.len());
    // v1 joins through `tasks` (one thread: no global threadgroup lock).
    assert!(cg
        .join_files("app", Joins::ALL)
        .iter()
        .all(|f| f.path.ends_with("app/tasks")));
    // Without cpu, io or pids keys a unit stays out of those three trees.
    let plain = cg.join_files("plain", Joins::default());
    assert_eq!(plain.len(), V1_CONTROLLERS.len() - 3, "{plain:?}");
    for c in ["cpu", "blkio", "pids"] {
        assert!(
            plain.iter().all(|p| !p.path.starts_with(root.join(c))),
            "{plain:?}"
        );
    }
    cg.create("plain", Joins::default()).unwrap();
    assert!(!root.join("cpu/outer/sup-7/plain").exists());
    assert!(!root.join("pids/outer/sup-7/plain").exists());
    assert!(cg.dir("freezer", "plain").unwrap().is_dir());
    // Its process count then comes from the freezer's cgroup.procs.
    touch(
        &cg.dir("freezer", "plain").unwrap().join("cgroup.procs"),
        "12\n13\n14\n",
    );
    assert_eq!(cg.open_stats("plain", Joins::default()).pids(), Some(3));
    // A list longer than one read buffer (2048 bytes) is read to its end.
    let many: String = (0..600).map(|i| format!("{}\n", 1_000_000 + i)).collect();
    touch(
        &cg.dir("freezer", "plain").unwrap().join("cgroup.procs"),
        &many,
    );
    assert_eq!(cg.open_stats("plain", Joins::default()).pids(), Some(600));
    // The memory peak is read beside the memory counter, made at its first read.
    touch(
        &cg.dir("memory", "plain")
            .unwrap()
            .join("memory.usage_in_bytes"),
        "4096\n",
    );
    touch(
        &cg.dir("memory", "plain")
            .unwrap()
            .join("memory.max_usage_in_bytes"),
        "8192\n",
    );
    let stats = cg.open_stats("plain", Joins::default());
    assert_eq!(stats.memory_peak(), Some(8192));
    assert_eq!(stats.memory_peak(), Some(8192));
    let only_cpu = Joins::of([&Resources {
        cpu_weight: Some(50),
        ..Resources::default()
    }]);
    assert_eq!(
        only_cpu,
        Joins {
            cpu: true,
            ..Joins::default()
        }
    );
    assert_eq!(
        cg.join_files("plain", only_cpu).len(),
        V1_CONTROLLERS.len() - 2
    );
    let pids = Joins::of([
        &Resources::default(),
        &Resources {
            pids_max: Some(5),
            ..Resources::default()
        },
    ]);
    assert!(pids.pids && !pids.cpu && !pids.io);
    assert_eq!(cg.display("app"), "/outer/sup-7/app");
    touch(
        &cg.dir("memory", "app").unwrap().join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    assert_eq!(cg.stats("app").oom_kills, Some(1));
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn v1_missing_memsw_says_swap_accounting_off() {
    let root = tmp("v1memsw");
    touch(&root.join("memory/cgroup.procs"), "");
    let own = parse_proc_cgroup("4:memory:/\n");
    let mi = v1_mountinfo(&root, &["memory"], "/");
    let mut cg = Cgroups::plan(&root, &mi, &own, "sup").unwrap();
    cg.setup(1).unwrap();
    cg.create("app", Joins::ALL).unwrap();
    let r = Resources {
        memory_max: Some(1 << 20),
        memory_swap_max: Some(0),
        ..Resources::default()
    };
    touch(
        &cg.dir("memory", "app")
            .unwrap()
            .join("memory.limit_in_bytes"),
        "",
    );
    let err = cg.apply("app", &r, "resources").unwrap_err().to_string();
    assert_eq!(
        err,
        "resources.memory_swap_max: memory.memsw.limit_in_bytes missing (swap accounting off)"
    );
    let r = Resources {
        pids_max: Some(1),
        ..Resources::default()
    };
    let err = cg.apply("app", &r, "resources").unwrap_err().to_string();
    assert!(err.contains("pids controller is not mounted"), "{err}");
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn value_conversions() {
    assert_eq!(v2::cpu_max_value(1.5), "150000 100000");
    assert_eq!(v2::cpu_max_value(0.001), "1000 100000");
    let io = crate::limits::IoMax {
        device: "/dev/sda".into(),
        rbps: Some(1 << 20),
        wiops: Some(100),
        ..Default::default()
    };
    assert_eq!(v2::io_max_line(8, 0, &io), "8:0 rbps=1048576 wiops=100");
    assert_eq!(v1::shares(100), 1024);
    assert_eq!(v1::shares(1), 10);
    assert_eq!(v1::blkio_weight(100), 500);
    assert_eq!(v1::blkio_weight(1), 10);
    assert_eq!(v1::blkio_weight(10000), 1000);
    assert!(device_numbers(Path::new("/dev/null"))
        .unwrap_err()
        .contains("not a block device"));
    assert_eq!(keyed("a 1\noom_kill 7\n", "oom_kill"), Some(7));
    assert_eq!(keyed("oom_kill_disable 0\n", "oom_kill"), None);
}

#[test]
fn stale_subtrees_of_dead_sups_are_removed() {
    let root = tmp("stale");
    touch(&root.join("pids/cgroup.procs"), "");
    // pid 999999999 cannot exist; our own pid does.
    fs::create_dir_all(root.join("pids/sup-999999999/app")).unwrap();
    let mine = format!("sup-{}", std::process::id());
    fs::create_dir_all(root.join("pids").join(&mine)).unwrap();
    fs::create_dir_all(root.join("pids/sup/old-unit")).unwrap();
    // Dead sups with a process left: kept. pids.current says so for the whole subtree
    // (and then the same name is kept in the other hierarchies); elsewhere a walk finds it.
    touch(&root.join("memory/cgroup.procs"), "");
    touch(&root.join("pids/sup-999999998/pids.current"), "1\n");
    touch(&root.join("memory/sup-999999998/app/cgroup.procs"), "");
    touch(
        &root.join("memory/sup-999999997/a/b/cgroup.procs"),
        "4242\n",
    );
    let cg = Cgroups::plan(
        &root,
        &v1_mountinfo(&root, &["memory", "pids"], "/"),
        &parse_proc_cgroup("2:memory:/\n1:pids:/\n"),
        "sup",
    )
    .unwrap();
    cg.remove_own_stale();
    cg.remove_dead_sups();
    assert!(!root.join("pids/sup-999999999").exists());
    assert!(root.join("pids/sup-999999998").exists());
    assert!(root.join("memory/sup-999999998/app").exists());
    assert!(root.join("memory/sup-999999997/a/b").exists());
    assert!(root.join("pids").join(&mine).exists());
    assert!(!root.join("pids/sup/old-unit").exists());
    let _ = fs::remove_dir_all(&root);
}
