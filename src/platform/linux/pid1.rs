//! What only an init process does: mount the pseudo-filesystems, set the hostname, give
//! itself a console, tell a machine from a container, sweep every leftover process, and
//! end the machine with `reboot(2)`. Also the process-tree helpers that entrypoint mode
//! uses to find what a main command left behind (the `machine::Leftovers` of Linux).

use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The inode of the initial pid namespace (`PROC_PID_INIT_INO` in the kernel's
/// `include/linux/proc_ns.h`, fixed since Linux 3.8).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

pub use crate::platform::machine::Action;
use crate::platform::machine::{Leftovers, Pid1};
use crate::proc::Pid;

/// One filesystem an init makes sure of: (target, fstype, source, flags, data).
struct Want {
    target: &'static str,
    fstype: &'static str,
    flags: libc::c_ulong,
    data: &'static str,
}

const NOSUID: libc::c_ulong = libc::MS_NOSUID;
const NODEV: libc::c_ulong = libc::MS_NODEV;
const NOEXEC: libc::c_ulong = libc::MS_NOEXEC;

/// In mount order (a parent before what is mounted under it).
const WANTED: &[Want] = &[
    Want {
        target: "/proc",
        fstype: "proc",
        flags: NOSUID | NODEV | NOEXEC,
        data: "",
    },
    Want {
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID | NODEV | NOEXEC,
        data: "",
    },
    Want {
        target: "/dev",
        fstype: "devtmpfs",
        flags: NOSUID,
        data: "mode=0755",
    },
    Want {
        target: "/dev/pts",
        fstype: "devpts",
        flags: NOSUID | NOEXEC,
        data: "gid=5,mode=0620,ptmxmode=0666",
    },
    Want {
        target: "/dev/shm",
        fstype: "tmpfs",
        flags: NOSUID | NODEV,
        data: "mode=1777",
    },
    Want {
        target: "/run",
        fstype: "tmpfs",
        flags: NOSUID | NODEV,
        data: "mode=0755",
    },
    Want {
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: NOSUID | NODEV | NOEXEC,
        data: "nsdelegate",
    },
];

/// Mount points listed in a `/proc/self/mountinfo` text (field 5, octal escapes decoded).
pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .collect()
}

/// Decodes the `\040`-style octal escapes of mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cvt(ret: libc::c_int) -> std::io::Result<()> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn mount(fstype: &str, target: &str, flags: libc::c_ulong, data: &str) -> std::io::Result<()> {
    let fs = CString::new(fstype)?;
    let tgt = CString::new(target)?;
    let dat = CString::new(data)?;
    // SAFETY: every pointer is a NUL-terminated CString alive for the whole call; the
    // source is the fstype name, as for every pseudo-filesystem.
    cvt(unsafe {
        libc::mount(
            fs.as_ptr(),
            tgt.as_ptr(),
            fs.as_ptr(),
            flags,
            dat.as_ptr().cast(),
        )
    })
}

/// Mounts what is missing of /proc, /sys, /dev, /dev/pts, /dev/shm, /run and
/// /sys/fs/cgroup (cgroup2). Returns one line per action or problem, for the log.
pub fn mount_essentials() -> Vec<String> {
    let mut notes = Vec::new();
    for want in WANTED {
        // Re-read each time: /proc itself may have just been mounted.
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| mount_points(&t))
            .unwrap_or_default();
        if mounted.iter().any(|m| m == want.target) {
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(want.target) {
            notes.push(format!("cannot create {}: {e}", want.target));
            continue;
        }
        match mount(want.fstype, want.target, want.flags, want.data) {
            Ok(()) => notes.push(format!("mounted {} on {}", want.fstype, want.target)),
            // cgroup2 without nsdelegate support (old kernels): try once more without it.
            Err(_)
                if want.fstype == "cgroup2"
                    && mount("cgroup2", want.target, want.flags, "").is_ok() =>
            {
                notes.push(format!("mounted cgroup2 on {}", want.target))
            }
            Err(e) => notes.push(format!(
                "cannot mount {} on {}: {e}",
                want.fstype, want.target
            )),
        }
    }
    notes
}

/// Makes sure fds 0, 1 and 2 are open (on /dev/console when the kernel gave none).
pub fn ensure_console() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the fd table; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        let path = c"/dev/console";
        let flags = if fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_WRONLY
        };
        // SAFETY: `path` is a NUL-terminated literal; open returns a new fd or -1.
        let new = unsafe { libc::open(path.as_ptr(), flags | libc::O_NOCTTY) };
        if new >= 0 && new != fd {
            // SAFETY: both fds are ours; dup2 onto a closed slot, then drop the copy.
            unsafe {
                libc::dup2(new, fd);
                libc::close(new);
            }
        }
    }
}

/// Sets the hostname from the first non-empty line of `/etc/hostname`, if any.
pub fn set_hostname_from(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    match nix::unistd::sethostname(name) {
        Ok(()) => Some(format!("hostname set to {name}")),
        Err(e) => Some(format!("cannot set hostname {name}: {e}")),
    }
}

/// Whether this process runs in the initial pid namespace, i.e. sup as PID 1 is the
/// machine's init, not a container's. First the namespace inode (`/proc/self/ns/pid` is
/// `PROC_PID_INIT_INO` only in the initial namespace); when /proc cannot tell,
/// `reboot(2)` semantics: disabling Ctrl-Alt-Del succeeds only for the machine's init (in
/// a child pid namespace it fails with EINVAL, without CAP_SYS_BOOT with EPERM). Either
/// way, as the machine's init, Ctrl-Alt-Del then arrives as SIGINT.
pub fn is_machine_init() -> bool {
    // SAFETY: reboot with CAD_OFF only changes what Ctrl-Alt-Del does; no memory passed.
    let cad_off = unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_CAD_OFF) } == 0;
    match std::fs::metadata("/proc/self/ns/pid") {
        Ok(m) => m.ino() == PROC_PID_INIT_INO,
        Err(_) => cad_off,
    }
}

/// Which init sup is, when it is PID 1.
pub fn pid1() -> Option<Pid1> {
    if std::process::id() != 1 {
        None
    } else if is_machine_init() {
        Some(Pid1::Machine)
    } else {
        Some(Pid1::Container)
    }
}

/// A machine init's setup: console, pseudo-filesystems, `PATH`, hostname. One line per
/// action or problem, for the log.
pub fn prepare_machine() -> Vec<String> {
    // Before and after mounting /dev: the initramfs may have no /dev/console.
    ensure_console();
    let mut notes = mount_essentials();
    ensure_console();
    if std::env::var_os("PATH").is_none() {
        std::env::set_var("PATH", crate::platform::env::DEFAULT_PATH);
    }
    notes.extend(set_hostname_from(Path::new("/etc/hostname")));
    notes
}

/// sup's own log goes to /dev/kmsg too (no log directory is writable).
pub fn kernel_log() -> &'static str {
    log_to_kmsg(true);
    "/dev/kmsg"
}

/// Children of `parent` (pids whose parent pid is `parent`), from /proc.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parse_ppid(&s))
                == Some(parent)
        })
        .collect()
}

/// The parent pid field of a `/proc/PID/stat` line (the command may contain `)`).
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether this process has any child left (exited or not), without reaping it.
pub fn has_children() -> bool {
    // SAFETY: a zeroed siginfo_t is a valid out-buffer for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves any child waitable.
    let r = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Sends `signal` to every process sup may signal except itself (`kill(-1)`): as PID 1,
/// every other process of the machine or the container.
pub fn kill_all(signal: i32) {
    // SAFETY: kill takes plain integers; -1 never includes the caller or PID 1.
    unsafe { libc::kill(-1, signal) };
}

impl Leftovers for super::LinuxPlatform {
    fn children(&self) -> Vec<Pid> {
        children_of(std::process::id())
            .into_iter()
            .filter(|&pid| pid != 0)
            .map(Pid::from_raw)
            .collect()
    }

    fn has_children(&self) -> bool {
        has_children()
    }

    fn kill_all(&mut self, signal: i32) {
        kill_all(signal)
    }
}

/// The last steps of a machine: sync, unmount (or remount read-only) everything, and
/// `reboot(2)`. Returns only if the kernel refused.
pub fn end_machine(action: Action) -> std::io::Error {
    // SAFETY: sync has no arguments and cannot fail.
    unsafe { libc::sync() };
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| mount_points(&t))
        .unwrap_or_default();
    for target in mounted.iter().rev() {
        let Ok(c) = CString::new(target.as_str()) else {
            continue;
        };
        // SAFETY: `c` is a NUL-terminated path alive for the call.
        if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
            continue;
        }
        let flags = libc::MS_REMOUNT | libc::MS_RDONLY;
        // SAFETY: as above; a remount needs no source, fstype or data.
        unsafe {
            libc::mount(
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            )
        };
    }
    // SAFETY: as above.
    unsafe { libc::sync() };
    let cmd = match action {
        Action::Poweroff => libc::LINUX_REBOOT_CMD_POWER_OFF,
        Action::Reboot => libc::LINUX_REBOOT_CMD_RESTART,
        Action::Halt => libc::LINUX_REBOOT_CMD_HALT,
    };
    // SAFETY: reboot takes an integer command; on success it does not return.
    unsafe { libc::reboot(cmd) };
    std::io::Error::last_os_error()
}

/// Never returns: reaps children forever. The last resort of PID 1 when the supervisor
/// could not run at all (exiting would panic the kernel).
pub fn reap_forever() -> ! {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; waitpid blocks until a child exits.
        if unsafe { libc::waitpid(-1, &mut status, 0) } == -1 {
            // SAFETY: pause only sleeps until a signal arrives.
            unsafe { libc::pause() };
        }
    }
}

/// Whether sup's own log also goes to /dev/kmsg (set when no log directory is writable).
static KMSG: AtomicBool = AtomicBool::new(false);

pub fn log_to_kmsg(on: bool) {
    KMSG.store(on, Ordering::Relaxed);
}

/// sup's own log target as PID 1: the console (stderr) and, when `log_to_kmsg` is on,
/// `/dev/kmsg` (one record per write, kernel-log level from sup's level word).
pub struct ConsoleKmsg;

impl Write for ConsoleKmsg {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        if KMSG.load(Ordering::Relaxed) {
            let text = String::from_utf8_lossy(buf);
            let prio = if text.contains(": error: ") {
                3
            } else if text.contains(": warn: ") {
                4
            } else {
                6
            };
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
                let _ = f.write_all(format!("<{prio}>{}", text.trim_end()).as_bytes());
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_points() {
        let text = concat!(
            "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n",
            "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "31 1 0:27 / /mnt/with\\040space rw - tmpfs tmpfs rw\n",
        );
        assert_eq!(
            mount_points(text),
            vec!["/proc", "/sys/fs/cgroup", "/mnt/with space"]
        );
    }

    #[test]
    fn ppid_with_parens_in_name() {
        assert_eq!(parse_ppid("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("garbage"), None);
    }
}
