//! sup under the cgroup mounts a container runtime makes, reproduced on this host without
//! one (root only, cgroup v1 host): each controller's mount showing the container's own
//! cgroup (podman/runc `--privileged` with the host's cgroup namespace), and a read-only
//! `/sys/fs/cgroup` (a plain container). Each layout is made in a private mount
//! namespace (`unshare -m`) so the host's mounts stay as they are.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use common::*;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The v1 controllers sup uses.
const CONTROLLERS: [&str; 6] = ["cpu", "cpuacct", "memory", "pids", "blkio", "freezer"];

/// Whether `unshare -m` works here (root, mount namespaces allowed).
fn mount_ns_available() -> bool {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

macro_rules! require_v1_and_mount_ns {
    () => {
        require_root!();
        if !Path::new(CGROUP_ROOT).join("memory/cgroup.procs").exists() {
            eprintln!("skipped: needs cgroup v1 controllers under {CGROUP_ROOT}");
            return;
        }
        if !mount_ns_available() {
            eprintln!("skipped: unshare -m does not work here");
            return;
        }
    };
}

/// This process's cgroup path per v1 controller (`/proc/PID/cgroup`).
fn proc_cgroups(pid: u32) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
            Some((ctrls.to_string(), path.to_string()))
        })
        .flat_map(|(ctrls, path)| {
            ctrls
                .split(',')
                .map(|c| (c.to_string(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn cgroup_of(pid: u32, ctrl: &str) -> Option<String> {
    proc_cgroups(pid)
        .into_iter()
        .find(|(c, _)| c == ctrl)
        .map(|(_, p)| p)
}

fn join_cg(base: &str, rel: &str) -> String {
    format!("{}/{rel}", base.trim_end_matches('/'))
}

/// The container's cgroup `X` in every hierarchy sup uses: made below this process's
/// own cgroup; on drop, whatever is left in it is killed and it is removed.
struct ContainerCgroup {
    /// (controller, mount point, X's cgroup path, X's dir as seen from the host).
    dirs: Vec<(String, PathBuf, String, PathBuf)>,
}

impl ContainerCgroup {
    fn new() -> ContainerCgroup {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ctr-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut dirs: Vec<(String, PathBuf, String, PathBuf)> = Vec::new();
        for ctrl in CONTROLLERS {
            let mount = Path::new(CGROUP_ROOT).join(ctrl);
            if !mount.join("cgroup.procs").exists() {
                continue;
            }
            // Co-mounted controllers (cpu -> cpu,cpuacct) are one hierarchy: one X.
            let canon = fs::canonicalize(&mount).unwrap();
            if dirs.iter().any(|(_, m, _, _)| *m == canon) {
                continue;
            }
            let own = cgroup_of(std::process::id(), ctrl).unwrap_or_else(|| "/".into());
            let cg = join_cg(&own, &name);
            let host = canon.join(cg.trim_start_matches('/'));
            fs::create_dir(&host).unwrap_or_else(|e| panic!("mkdir {}: {e}", host.display()));
            dirs.push((ctrl.to_string(), canon, cg, host));
        }
        ContainerCgroup { dirs }
    }

    /// X's cgroup path in the hierarchy carrying `ctrl`.
    fn cgroup(&self, ctrl: &str) -> &str {
        let canon = fs::canonicalize(Path::new(CGROUP_ROOT).join(ctrl)).unwrap();
        &self.dirs.iter().find(|(_, m, _, _)| *m == canon).unwrap().2
    }

    /// The shell lines that move the shell into X and mount X over each hierarchy.
    fn enter_script(&self) -> String {
        let mut s = String::from("set -e\n");
        for (_, _, _, host) in &self.dirs {
            s += &format!("echo $$ > '{}/cgroup.procs'\n", host.display());
        }
        for (_, mount, _, host) in &self.dirs {
            s += &format!("mount --bind '{}' '{}'\n", host.display(), mount.display());
        }
        s
    }
}

fn pids_below(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            pids_below(&e.path(), out);
        }
    }
}

fn remove_below(dir: &Path) -> bool {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_below(&e.path());
        }
    }
    fs::remove_dir(dir).is_ok() || !dir.exists()
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        for (_, _, _, host) in &self.dirs {
            let mut pids = Vec::new();
            pids_below(host, &mut pids);
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        // Killed processes leave their cgroups once reaped: bounded retries.
        let gone = wait_until(
            || self.dirs.iter().all(|(_, _, _, host)| remove_below(host)),
            WAIT,
        );
        if !gone {
            eprintln!("warning: test cgroups left behind: {:?}", self.dirs);
        }
    }
}

/// sup's pid, status and exit for one test; sup is SIGKILLed on drop if still running.
struct RunningSup {
    child: Child,
    socket: PathBuf,
    stderr: PathBuf,
}

impl RunningSup {
    fn status(&self, unit: &str) -> Option<Value> {
        let (code, out, _) = supctl_at(&self.socket, &["--json", "status", unit]);
        // 1: the unit is failed or invalid (its status is printed all the same).
        let doc: Value = serde_json::from_str(&out)
            .ok()
            .filter(|_| code == 0 || code == 1)?;
        Some(doc["units"][0].clone())
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for RunningSup {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The container layout of podman/runc `--privileged` with the host's cgroup namespace:
/// every hierarchy's mount shows the container's cgroup X, and /proc/self/cgroup names
/// X's full path. sup's units must land in X/sup-PID/UNIT (not X/X/sup-PID/UNIT), and
/// status must show the path the unit's /proc/PID/cgroup shows.
#[test]
fn unit_cgroup_below_a_bind_mounted_container_cgroup() {
    require_v1_and_mount_ns!();
    let dir = unique_dir("cgmnt");
    let units = dir.join("units");
    fs::create_dir(&units).unwrap();
    fs::write(
        units.join("web.yaml"),
        "exec: [sleep, '1000']\nresources: {memory_max: 64M, pids_max: 50, cpu_max: \"50%\"}\n",
    )
    .unwrap();
    let ctr = ContainerCgroup::new();
    let socket = dir.join("ctl.sock");
    let script = format!("{}exec \"$@\"\n", ctr.enter_script());
    let stderr = dir.join("sup.stderr");
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(SUP)
        .arg("--units")
        .arg(&units)
        .arg("--socket")
        .arg(&socket)
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .args(["--log-level", "debug"])
        .env_remove("SUP_CGROUP_ROOT")
        .env_remove("SUP_CGROUP")
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("sup.stdout")).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut sup = RunningSup {
        child,
        socket,
        stderr,
    };
    // `unshare` and `sh` exec: the child's pid is sup's.
    let sup_pid = sup.child.id();
    let up = wait_until(
        || UnixStream::connect(&sup.socket).is_ok() || !matches!(sup.child.try_wait(), Ok(None)),
        WAIT,
    );
    assert!(up, "sup did not come up:\n{}", sup.log());
    let web = match wait_until(
        || sup.status("web").is_some_and(|s| s["state"] == "running"),
        WAIT,
    ) {
        true => sup.status("web").unwrap(),
        false => panic!("web not running: {:?}\n{}", sup.status("web"), sup.log()),
    };
    let pid = web["pid"].as_u64().unwrap() as u32;
    let shown = web["cgroup"].as_str().unwrap().to_string();
    let name = format!("sup-{sup_pid}");

    // Status shows what the unit's /proc/PID/cgroup shows for the memory hierarchy.
    assert_eq!(
        cgroup_of(pid, "memory").as_deref(),
        Some(shown.as_str()),
        "{}",
        sup.log()
    );
    assert_eq!(shown, join_cg(&join_cg(ctr.cgroup("memory"), &name), "web"));
    // Every hierarchy the unit joins (cpu and pids for its keys, cpuacct, memory and
    // freezer always) holds it in X/sup-PID/web.
    for ctrl in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        let want = join_cg(&join_cg(ctr.cgroup(ctrl), &name), "web");
        assert_eq!(cgroup_of(pid, ctrl), Some(want), "{ctrl}");
    }
    // From the host: the real directory holds the pid and the limits; no doubled path.
    let host_mem = Path::new(CGROUP_ROOT)
        .join("memory")
        .join(shown.trim_start_matches('/'));
    let procs = fs::read_to_string(host_mem.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{procs}"
    );
    assert_eq!(
        fs::read_to_string(host_mem.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        (64u64 << 20).to_string()
    );
    let host_pids = Path::new(CGROUP_ROOT)
        .join("pids")
        .join(cgroup_of(pid, "pids").unwrap().trim_start_matches('/'));
    assert_eq!(
        fs::read_to_string(host_pids.join("pids.max"))
            .unwrap()
            .trim(),
        "50"
    );
    for (ctrl, mount, cg, host) in &ctr.dirs {
        let doubled = host.join(cg.trim_start_matches('/'));
        assert!(!doubled.exists(), "{ctrl}: {} exists", doubled.display());
        assert!(
            host.join(&name).is_dir(),
            "{ctrl}: no sup dir in {}",
            mount.display()
        );
    }

    // sup's own stop takes its subtree with it.
    kill(Pid::from_raw(sup_pid as i32), Signal::SIGTERM).unwrap();
    assert!(
        wait_until(|| !matches!(sup.child.try_wait(), Ok(None)), WAIT),
        "sup did not exit on SIGTERM:\n{}",
        sup.log()
    );
    for (ctrl, _, _, host) in &ctr.dirs {
        assert!(!host.join(&name).exists(), "{ctrl}: sup's subtree left");
    }
    drop(sup);
    drop(ctr);
    let _ = fs::remove_dir_all(&dir);
}

/// `sup -- CMD` under `unshare -m` with every cgroup mount remounted read-only (what a
/// container without a writable cgroup sees).
fn entrypoint_with_read_only_cgroups(dir: &Path, cmd: &str) -> Output {
    let script = "set -e\n\
        for m in /sys/fs/cgroup /sys/fs/cgroup/*; do\n\
          if mountpoint -q \"$m\"; then mount -o remount,bind,ro \"$m\"; fi\n\
        done\n\
        exec \"$@\"\n";
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(SUP)
        .arg("--units")
        .arg(dir.join("units"))
        .arg("--socket")
        .arg(dir.join("ctl.sock"))
        .env("SUP_LOG_DIR", dir.join("logs"))
        .env_remove("SUP_LOG")
        .env_remove("SUP_CGROUP_ROOT")
        .env_remove("SUP_CGROUP")
        .args(["--", "sh", "-c", cmd]);
    run_bounded(c, Duration::from_secs(30))
}

/// Without a writable cgroup, `sup -- CMD` says nothing about cgroups unless a unit
/// needs one; then that unit is named, with the reason and how to give sup a cgroup.
#[test]
fn read_only_cgroups_are_mentioned_only_for_units_that_need_one() {
    require_v1_and_mount_ns!();
    let dir = unique_dir("cgro");
    let marker = dir.join("cmd-ran");
    let cmd = format!("touch '{}'", marker.display());

    // No unit directory at all.
    let (code, out, err) = entrypoint_with_read_only_cgroups(&dir, &cmd);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(!err.contains("cgroup"), "no units, yet: {err}");
    assert!(marker.exists());

    // A unit that needs no cgroup runs; still nothing said.
    let units = dir.join("units");
    fs::create_dir(&units).unwrap();
    fs::write(
        units.join("setup.yaml"),
        format!(
            "type: oneshot\nexec: [touch, '{}']\n",
            dir.join("setup-ran").display()
        ),
    )
    .unwrap();
    fs::remove_file(&marker).unwrap();
    let (code, _, err) = entrypoint_with_read_only_cgroups(&dir, &cmd);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("cgroup"),
        "a unit without resources, yet: {err}"
    );
    assert!(dir.join("setup-ran").exists() && marker.exists());

    // A unit with resources: named, with what is missing and how to fix it; it fails,
    // so CMD does not start.
    fs::write(
        units.join("limited.yaml"),
        "exec: [sleep, '1000']\nresources: {memory_max: 16M}\n",
    )
    .unwrap();
    fs::remove_file(&marker).unwrap();
    let (code, _, err) = entrypoint_with_read_only_cgroups(&dir, &cmd);
    assert_eq!(code, 1, "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("limited: will fail to start"))
        .unwrap_or_else(|| panic!("no warning naming the unit: {err}"));
    assert!(warning.contains("resources"), "{warning}");
    assert!(warning.contains("Read-only file system"), "{warning}");
    assert!(warning.contains("--cgroupns=private"), "{warning}");
    assert!(warning.contains("SUP_CGROUP_ROOT"), "{warning}");
    assert!(
        err.contains(
            "sup: unit limited failed: resources: cannot be enforced without a writable cgroup"
        ),
        "{err}"
    );
    assert!(
        !err.contains("setup:"),
        "the unit without resources named: {err}"
    );
    assert!(!marker.exists(), "CMD ran although a unit failed");
    let _ = fs::remove_dir_all(&dir);
}
