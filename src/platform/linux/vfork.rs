//! Starting a unit's process the way posix_spawn does: `clone(CLONE_VM | CLONE_VFORK)`,
//! so no page tables are copied and sup resumes once the child has executed.
//!
//! With hundreds of units sup holds thousands of fds (pipes, log files, cgroup counters),
//! and a child that copies the whole fd table and then closes it at exec makes every spawn
//! cost O(units). So the child also shares the table (CLONE_FILES) and immediately keeps a
//! private copy of only the low fds (`close_range(first, ~0, CLOSE_RANGE_UNSHARE)`); the
//! fds it needs are first put into a block of low "slots" that sup reserves at start-up
//! and keeps open on /dev/null between spawns.
//!
//! Not waiting for the exec (a fork, so sup overlaps its work with the child's exec on
//! another core) was built and measured (branch async-spawn, 2026-11-27; 2 cores, 500
//! units, v1 cgroups) and loses: every fork write-protects sup's whole heap, so sup takes
//! ~66 more page faults per unit (776 -> 33,600 minor faults), sup's CPU goes 185 -> 375
//! ms, the start of 500 units 390 -> 545 ms (medians of 10, alternated), and a single
//! restart 1.2 -> 2-3 ms, since the child's exec must also tear down its copy of sup's
//! address space. The vfork wait it saves (~0.4 ms per unit) is smaller than what the
//! fork costs.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::OnceLock;

use super::spawn::{child_main, ChildSetup};

/// Stack of the child; it only runs `child_main` up to `execve`.
const STACK: usize = 256 * 1024;
/// How many slots: report pipe, stdin, stdout, stderr, the readiness fd and one
/// `cgroup.procs` per cgroup v1 hierarchy fit, and a few listening sockets (with more,
/// the spawn copies the whole fd table).
const SLOTS: usize = 32;

/// Low fd numbers held open (on /dev/null) for the fds a child needs.
#[derive(Debug)]
struct Slots {
    placeholder: RawFd,
    slots: Vec<RawFd>,
    /// The child keeps fds below this.
    keep_below: RawFd,
}

static RESERVED: OnceLock<Option<Slots>> = OnceLock::new();

/// Reserves the slots; call early, while sup's own fds are few (later calls are no-ops).
pub fn reserve_low_fds() {
    RESERVED.get_or_init(|| {
        // SAFETY: opens /dev/null with a static path; the fd is kept for the process's life.
        let placeholder =
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if placeholder < 0 {
            return None;
        }
        let mut slots = Vec::with_capacity(SLOTS);
        for _ in 0..SLOTS {
            // SAFETY: duplicates our own fd onto the lowest free number >= 3.
            let fd = unsafe { libc::fcntl(placeholder, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return None;
            }
            slots.push(fd);
        }
        let keep_below = slots
            .iter()
            .copied()
            .max()
            .unwrap_or(placeholder)
            .max(placeholder)
            + 1;
        Some(Slots {
            placeholder,
            slots,
            keep_below,
        })
    });
}

/// The reserved /dev/null (read-only, close-on-exec, below the kept range): a child's
/// stdin needs no slot when it is this fd.
pub fn low_dev_null() -> Option<RawFd> {
    match RESERVED.get() {
        Some(Some(res)) => Some(res.placeholder),
        _ => None,
    }
}

extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `&ChildSetup` that `clone_vfork` passed to clone, alive for as
    // long as the parent stays suspended (CLONE_VFORK), i.e. until this child has
    // executed or exited; `child_main`'s contract holds as explained there.
    unsafe { child_main(&*(arg as *const ChildSetup<'_>)) }
}

thread_local! {
    /// The child's stack, reused by every spawn: a fresh 256 KiB allocation each time
    /// is an mmap, page faults and a munmap per start.
    static CHILD_STACK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn clone_vfork(setup: &ChildSetup<'_>, flags: libc::c_int) -> libc::pid_t {
    CHILD_STACK.with(|cell| {
        let mut fresh = Vec::new();
        // Never contended (one spawn at a time on this thread); a fresh stack otherwise.
        let mut guard = cell.try_borrow_mut();
        let stack: &mut Vec<u8> = match guard.as_deref_mut() {
            Ok(s) => s,
            Err(_) => &mut fresh,
        };
        if stack.capacity() < STACK {
            *stack = Vec::with_capacity(STACK);
        }
        // The stack grows down from its (16-byte aligned) top.
        let top = (stack.as_mut_ptr() as usize + STACK) & !15;
        // SAFETY: the child runs `entry` on `stack`, which outlives it: with CLONE_VFORK
        // clone returns only once the child has executed or exited, and `stack` (borrowed
        // for this whole closure) is neither used nor freed until then. The child writes
        // only its own stack (and errno, which the suspended parent does not read until
        // clone returns); with CLONE_FILES its first act is to unshare the fd table
        // (`keep_below`). sup is single-threaded, so no lock can be held by anyone else,
        // and `child_main` makes only async-signal-safe calls.
        unsafe {
            libc::clone(
                entry,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD | flags,
                setup as *const ChildSetup<'_> as *mut libc::c_void,
            )
        }
    })
}

/// Starts the child (no namespaces); returns its pid, or -1 with errno set.
pub(super) fn spawn(setup: &ChildSetup<'_>) -> libc::pid_t {
    reserve_low_fds();
    let Some(Some(res)) = RESERVED.get() else {
        return clone_vfork(setup, 0);
    };
    // Every fd the child uses that lies above the kept range goes into a slot.
    let mut used: Vec<RawFd> = Vec::new();
    let mut place = |fd: RawFd| -> Option<RawFd> {
        if fd < res.keep_below {
            return Some(fd);
        }
        let slot = *res.slots.get(used.len())?;
        // SAFETY: dup3 onto a slot we own (replacing its /dev/null placeholder), close-on-exec.
        if unsafe { libc::dup3(fd, slot, libc::O_CLOEXEC) } == -1 {
            return None;
        }
        used.push(slot);
        Some(slot)
    };
    let mapped = (|| {
        let report = place(setup.report)?;
        let stdin = place(setup.stdin)?;
        let stdout = match setup.stdout {
            Some(fd) => Some(place(fd)?),
            None => None,
        };
        let stderr = match setup.stderr {
            Some(fd) => Some(place(fd)?),
            None => None,
        };
        let pass_fd = match setup.pass_fd {
            Some((fd, n)) => Some((place(fd)?, n)),
            None => None,
        };
        let cgroup: Vec<RawFd> = setup
            .cgroup_fds
            .iter()
            .map(|&fd| place(fd))
            .collect::<Option<_>>()?;
        let listen: Vec<RawFd> = setup
            .listen_fds
            .iter()
            .map(|&fd| place(fd))
            .collect::<Option<_>>()?;
        Some((report, stdin, stdout, stderr, pass_fd, cgroup, listen))
    })();
    let pid = match &mapped {
        Some((report, stdin, stdout, stderr, pass_fd, cgroup, listen)) => {
            let child = ChildSetup {
                report: *report,
                stdin: *stdin,
                stdout: *stdout,
                stderr: *stderr,
                pass_fd: *pass_fd,
                cgroup_fds: cgroup,
                listen_fds: listen,
                keep_below: Some(res.keep_below),
                ..*setup
            };
            clone_vfork(&child, libc::CLONE_FILES)
        }
        // More fds than slots, or dup3 failed: the plain way (whole fd table copied).
        None => clone_vfork(setup, 0),
    };
    let errno = std::io::Error::last_os_error();
    for slot in used {
        // SAFETY: puts the placeholder back into our slot (closing sup's extra copy).
        unsafe { libc::dup3(res.placeholder, slot, libc::O_CLOEXEC) };
    }
    if pid == -1 {
        // Keep clone's errno for the caller.
        // SAFETY: writes this thread's errno.
        unsafe { *libc::__errno_location() = errno.raw_os_error().unwrap_or(0) };
    }
    pid
}
