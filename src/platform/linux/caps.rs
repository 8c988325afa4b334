//! Capabilities of a unit: the list is resolved with the `caps` crate before fork; the
//! child then reduces bounding, permitted, effective, inheritable and ambient sets to it
//! with raw `prctl`/`capset` calls (async-signal-safe; the crate's own setters allocate).

use std::str::FromStr;

use caps::Capability;

/// Prepared before fork.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapsPrep {
    /// Bit n set = keep capability n.
    pub keep: u64,
    /// The highest capability number the kernel knows.
    pub last_cap: u32,
}

pub fn prepare(names: &[String]) -> Result<CapsPrep, String> {
    let mut keep = 0u64;
    for name in names {
        let cap = Capability::from_str(&format!("CAP_{name}"))
            .map_err(|e| format!("capabilities: {name}: {e}"))?;
        keep |= cap.bitmask();
    }
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .or_else(|| {
            caps::runtime::thread_all_supported()
                .iter()
                .map(|c| c.index() as u32)
                .max()
        })
        .unwrap_or(40);
    Ok(CapsPrep { keep, last_cap })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Drops every capability not kept from the bounding set (needs CAP_SETPCAP: call
/// before switching user).
///
/// # Safety
/// Async-signal-safe; only makes system calls with plain integers.
pub unsafe fn drop_bounding(p: &CapsPrep) -> bool {
    for cap in 0..=p.last_cap {
        if p.keep & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r == -1 {
                return false;
            }
        }
    }
    true
}

/// Sets permitted = effective = inheritable = kept, then ambient = kept (so a non-root
/// user keeps them across exec).
///
/// # Safety
/// Async-signal-safe; the pointers passed point to locals of this function.
pub unsafe fn set_sets(p: &CapsPrep) -> bool {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let lo = p.keep as u32;
    let hi = (p.keep >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: lo,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: hi,
        },
    ];
    // SAFETY: header and two data structs as capset(2) with version 3 expects; both
    // live until the call returns.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r == -1 {
        return false;
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        ) == -1
        {
            return false;
        }
        for cap in 0..=p.last_cap {
            if p.keep & (1u64 << cap) != 0
                && libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                ) == -1
            {
                return false;
            }
        }
    }
    true
}
