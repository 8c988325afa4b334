//! Log files under faults: a FIFO where a log file is meant (never blocks sup), a
//! rotation that fails (the size limit holds), a full disk (only written bytes count,
//! the unit's status and an event say what is lost, logging resumes with space).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// A FIFO named as a unit's log file: sup refuses it (it would block in `open`), says
/// why, keeps the unit's lines on its own output and stays responsive.
#[test]
fn fifo_as_log_file_never_blocks_sup() {
    let mut sup = Sup::prepare("log-fifo");
    let fifo = sup.path("log.fifo");
    mkfifo(&fifo);
    sup.write_unit(
        "chatty",
        &format!(
            "log: {{file: {}}}\nexec: [\"sh\", \"-c\", \"echo via-console; exec sleep 1000\"]\n",
            fifo.display()
        ),
    );
    sup.write_unit("other", "exec: [\"sleep\", \"1000\"]\n");
    // A FIFO that has a reader: the non-blocking open succeeds, the type check refuses.
    let read_fifo = sup.path("read.fifo");
    mkfifo(&read_fifo);
    let _reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&read_fifo)
        .unwrap();
    sup.write_unit(
        "chatty2",
        &format!(
            "log: {{file: {}}}\nexec: [\"sh\", \"-c\", \"echo via-console-2; exec sleep 1000\"]\n",
            read_fifo.display()
        ),
    );
    sup.launch();
    sup.wait_state("chatty", "running");
    sup.wait_state("other", "running");
    assert!(
        wait_until(
            || {
                let log = sup.stderr_log();
                log.matches("not a regular file (a FIFO)").count() == 2
                    && log.contains("via-console\n")
                    && log.contains("via-console-2")
            },
            WAIT
        ),
        "{}",
        sup.stderr_log()
    );
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo_like());
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

/// A rotation that cannot happen (the rotated name is too long for the file system)
/// keeps the file at its limit and counts what is dropped; it used to reset the size
/// counter and let the file grow without bound.
#[test]
fn failed_rotation_keeps_the_size_limit() {
    let mut sup = Sup::prepare("log-rot");
    // 251 + ".log" = 255 bytes, the longest name; "<name>.1" is one too long.
    let name = format!("{}.log", "r".repeat(251));
    let path = sup.path(&name);
    sup.write_unit(
        "longname",
        &format!(
            "log: {{file: {}, max_size: 64K, keep: 2, timestamps: false}}\n\
             exec: [\"sh\", \"-c\", \"i=0; while [ $i -lt 4000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; exec sleep 1000\"]\n",
            path.display()
        ),
    );
    sup.launch();
    let st = sup.wait_for(
        "longname",
        |s| {
            s["log_error"]
                .as_str()
                .is_some_and(|e| e.contains("File name too long"))
        },
        WAIT,
    );
    // ~260 KB were written: at most 64K may be in the file, the rest is counted.
    let size = fs::metadata(&path).unwrap().len();
    assert!(size <= 64 << 10, "log grew past max_size: {size}");
    assert!(size > 0);
    let msg = st["log_error"].as_str().unwrap().to_string();
    assert!(msg.starts_with("log: File name too long, "), "{msg}");
    assert!(msg.ends_with(" bytes dropped"), "{msg}");
    let (code, out, _) = sup.supctl(&["status", "longname"]);
    assert_eq!(code, 0);
    assert!(out.contains("log: File name too long"), "{out}");
}

/// A full disk: only bytes that reached the file count toward rotation (no empty
/// rotated files push history out), the unit's status and an event say
/// `log: No space left on device, N bytes dropped`, and logging resumes once there is
/// space again. Root only (a small tmpfs).
#[test]
fn full_disk_drops_and_recovers() {
    require_root!();
    let mut sup = Sup::prepare("log-full");
    let mnt = sup.path("small");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs");
    let _unmount = Unmount(mnt.clone());
    // Fill all but ~100 KB.
    let filler = mnt.join("filler");
    fs::write(&filler, vec![b'x'; 400 << 10]).unwrap();
    let log = mnt.join("u.log");
    let flag = sup.path("more");
    let go = sup.path("go");
    sup.write_unit(
        "writer",
        &format!(
            "log: {{file: {}, max_size: 64K, keep: 3, timestamps: false}}\n\
             exec: [\"sh\", \"-c\", \"while [ ! -e {} ]; do sleep 0.02; done; i=0; while :; do echo line-$i-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy; i=$((i+1)); if [ $i -ge 3000 ]; then while [ ! -e {} ]; do sleep 0.02; done; echo after-space; exec sleep 1000; fi; done\"]\n",
            log.display(),
            go.display(),
            flag.display()
        ),
    );
    sup.launch();
    let mut events = sup.events();
    fs::write(&go, "").unwrap();
    let st = sup.wait_for(
        "writer",
        |s| {
            s["log_error"]
                .as_str()
                .is_some_and(|e| e.contains("No space left on device"))
        },
        Duration::from_secs(20),
    );
    let msg = st["log_error"].as_str().unwrap();
    assert!(msg.ends_with(" bytes dropped"), "{msg}");
    events.wait_until(
        |evs| {
            evs.iter().any(|e| {
                e["unit"] == "writer"
                    && e["kind"] == "log"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("No space left on device"))
            })
        },
        WAIT,
    );
    // Every file that exists holds real lines: nothing empty was rotated in.
    for entry in fs::read_dir(&mnt).unwrap() {
        let e = entry.unwrap();
        if e.file_name() == "filler" {
            continue;
        }
        let m = e.metadata().unwrap();
        assert!(
            m.size() > 0 || e.file_name() == "u.log",
            "{:?} is empty",
            e.file_name()
        );
    }
    // Space returns: the next lines are written and the problem clears.
    fs::remove_file(&filler).unwrap();
    fs::write(&flag, "").unwrap();
    sup.wait_for("writer", |s| s["log_error"].is_null(), WAIT);
    assert!(
        wait_until(
            || {
                (0..4).any(|n| {
                    let p = if n == 0 {
                        log.clone()
                    } else {
                        mnt.join(format!("u.log.{n}"))
                    };
                    fs::read_to_string(p).is_ok_and(|t| t.contains("after-space"))
                })
            },
            WAIT
        ),
        "logging did not resume"
    );
    events.wait_until(
        |evs| {
            evs.iter()
                .any(|e| e["kind"] == "log" && e["message"] == "log: writing again")
        },
        WAIT,
    );
    drop(sup);
}

/// Unmounts on drop (after sup, which holds the log file, is gone).
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A FIFO as `env_file`: the unit fails with a reason, sup does not block reading it.
#[test]
fn fifo_as_env_file_fails_the_unit_without_blocking() {
    let mut sup = Sup::prepare("envfifo");
    let fifo = sup.path("env.fifo");
    mkfifo(&fifo);
    sup.write_unit(
        "reader",
        &format!(
            "restart: never\nenv_file: {}\nexec: [\"sleep\", \"1000\"]\n",
            fifo.display()
        ),
    );
    sup.write_unit("other", "exec: [\"sleep\", \"1000\"]\n");
    sup.launch();
    sup.wait_state("other", "running");
    let st = sup.wait_state("reader", "failed");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("env.fifo") && msg.contains("not a regular file (a FIFO)"),
        "{st}"
    );
}
