//! Capability sets from `process.capabilities`, as kernel bit masks built
//! in the parent, applied in the init: the bounding set is dropped while it
//! is still root, the other sets are set after the user switch (which
//! PR_SET_KEEPCAPS survives). Plain capget/capset/prctl, no allocation.

use std::io;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// The five sets, one bit per capability number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    /// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
    pub last_cap: u32,
}

/// The kernel's number for a capability (linux/capability.h).
pub fn number(cap: Capability) -> u32 {
    use Capability::*;
    match cap {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

fn mask(set: &Option<Capabilities>) -> u64 {
    set.iter()
        .flatten()
        .fold(0, |m, c| m | (1u64 << number(*c)))
}

/// Kernel names by number, for messages.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Names of the capabilities in `bits`, for warnings.
fn names(bits: u64) -> String {
    (0..64usize)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| {
            NAMES
                .get(i)
                .map_or_else(|| format!("capability {i}"), |n| n.to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The spec's sets, limited to what this process can grant (`available`,
/// its own bounding set); anything asked for beyond it is left out with a
/// warning rather than failing the container.
pub fn plan(caps: &LinuxCapabilities, available: u64, last_cap: u32) -> (CapSets, Vec<String>) {
    let mut sets = CapSets {
        bounding: mask(caps.bounding()),
        effective: mask(caps.effective()),
        permitted: mask(caps.permitted()),
        inheritable: mask(caps.inheritable()),
        ambient: mask(caps.ambient()),
        last_cap,
    };
    let asked = sets.bounding | sets.effective | sets.permitted | sets.inheritable | sets.ambient;
    let missing = asked & !available;
    let mut warnings = Vec::new();
    if missing != 0 {
        warnings.push(format!(
            "{} not available to this runtime on this host: left out of the container",
            names(missing)
        ));
        for s in [
            &mut sets.bounding,
            &mut sets.effective,
            &mut sets.permitted,
            &mut sets.inheritable,
            &mut sets.ambient,
        ] {
            *s &= available;
        }
    }
    (sets, warnings)
}

/// The highest capability number the kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// This process's bounding set.
pub fn current_bounding(last_cap: u32) -> u64 {
    (0..=last_cap.min(63))
        .filter(|&i| {
            // SAFETY: PR_CAPBSET_READ only reads this process's state.
            unsafe { libc::prctl(libc::PR_CAPBSET_READ, i as libc::c_ulong, 0, 0, 0) == 1 }
        })
        .fold(0, |m, i| m | (1u64 << i))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// This process's effective set.
pub fn current_effective() -> io::Result<u64> {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData (the v3 layout) into our array.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// Drop every capability not in the bounding set (needs CAP_SETPCAP, so it
/// runs before the user switch).
pub fn drop_bounding(sets: &CapSets) -> io::Result<()> {
    for i in 0..=sets.last_cap.min(63) {
        if sets.bounding & (1 << i) == 0 {
            // SAFETY: PR_CAPBSET_DROP changes only this process's bounding set.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0, 0, 0) };
            if r != 0 {
                let e = io::Error::last_os_error();
                // A capability the kernel does not have is not in the set.
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Set the effective, permitted and inheritable sets, then the ambient set.
pub fn apply(sets: &CapSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        CapData {
            effective: lo(sets.effective),
            permitted: lo(sets.permitted),
            inheritable: lo(sets.inheritable),
        },
        CapData {
            effective: hi(sets.effective),
            permitted: hi(sets.permitted),
            inheritable: hi(sets.inheritable),
        },
    ];
    // SAFETY: capset reads the header and two CapData (the v3 layout).
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: PR_CAP_AMBIENT changes only this process's ambient set.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    for i in 0..=sets.last_cap.min(63) {
        if sets.ambient & (1 << i) != 0 {
            // SAFETY: as above.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    i as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn docker_default_set_is_a80425fb() {
        let names = [
            "CHOWN",
            "DAC_OVERRIDE",
            "FSETID",
            "FOWNER",
            "MKNOD",
            "NET_RAW",
            "SETGID",
            "SETUID",
            "SETFCAP",
            "SETPCAP",
            "NET_BIND_SERVICE",
            "SYS_CHROOT",
            "KILL",
            "AUDIT_WRITE",
        ];
        let set: Capabilities = names
            .iter()
            .map(|n| Capability::from_str(n).unwrap())
            .collect();
        let mut c = LinuxCapabilities::default();
        c.set_bounding(Some(set.clone()));
        c.set_effective(Some(set.clone()));
        c.set_permitted(Some(set));
        c.set_inheritable(None);
        c.set_ambient(None);
        let (sets, warnings) = plan(&c, u64::MAX, 40);
        assert_eq!(sets.effective, 0xa804_25fb);
        assert_eq!(sets.bounding, 0xa804_25fb);
        assert_eq!(sets.inheritable, 0);
        assert!(warnings.is_empty());
        for (i, n) in NAMES.iter().enumerate() {
            let c = Capability::from_str(n.trim_start_matches("CAP_")).unwrap();
            assert_eq!(number(c) as usize, i, "{n}");
        }

        // This VM has no CAP_SYS_RESOURCE: asking for it warns and drops it.
        let mut all = LinuxCapabilities::default();
        all.set_bounding(Some([Capability::SysResource, Capability::Chown].into()));
        let (sets, warnings) = plan(&all, !(1 << 24), 40);
        assert_eq!(sets.bounding, 1);
        assert!(warnings[0].contains("CAP_SYS_RESOURCE"), "{warnings:?}");
    }
}
