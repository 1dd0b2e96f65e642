//! cgroup v2: one directory in the unified tree.

use std::path::Path;
use std::time::Duration;

use super::{
    pids_max_value, read_file, read_key, read_u64, wait_until, write_file, CgroupError, Limits,
    Stats,
};

/// cpu.shares (v1, 2..=262144) to cpu.weight (v2, 1..=10000), as runc does.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Docker's --memory-swap is memory plus swap; v2's memory.swap.max is swap
/// alone. `None`: leave it alone.
pub(crate) fn swap_max_value(memory: Option<i64>, memory_swap: Option<i64>) -> Option<String> {
    match memory_swap {
        None | Some(0) => None,
        Some(-1) => Some("max".to_owned()),
        Some(s) => {
            let m = memory.unwrap_or(0).max(0);
            Some((s - m).max(0).to_string())
        }
    }
}

/// cpu.max: "$QUOTA $PERIOD", quota "max" when unlimited.
pub(crate) fn cpu_max_value(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let q = match quota {
        None if period.is_none() => return None,
        None | Some(-1) => "max".to_owned(),
        Some(q) if q < 0 => "max".to_owned(),
        Some(q) => q.to_string(),
    };
    Some(match period {
        Some(p) => format!("{q} {p}"),
        None => q,
    })
}

pub(crate) fn apply(
    cgroup: &str,
    d: &Path,
    l: &Limits,
    warnings: &mut Vec<String>,
) -> Result<(), CgroupError> {
    if let Some(m) = l.memory {
        let v = if m == -1 {
            "max".to_owned()
        } else {
            m.to_string()
        };
        write_file(cgroup, d, "memory.max", &v)?;
    }
    if let Some(v) = swap_max_value(l.memory, l.memory_swap) {
        if d.join("memory.swap.max").exists() {
            write_file(cgroup, d, "memory.swap.max", &v)?;
        } else {
            warnings.push(format!(
                "cgroup {cgroup}: {} does not exist (swap accounting is off); \
                 the memory+swap limit is not applied",
                d.join("memory.swap.max").display()
            ));
        }
    }
    if let Some(s) = l.cpu_shares {
        let w = shares_to_weight(s);
        if w != 0 {
            write_file(cgroup, d, "cpu.weight", &w.to_string())?;
        }
    }
    if let Some(v) = cpu_max_value(l.cpu_quota, l.cpu_period) {
        write_file(cgroup, d, "cpu.max", &v)?;
    }
    if let Some(cpus) = &l.cpuset_cpus {
        write_file(cgroup, d, "cpuset.cpus", cpus)?;
    }
    if let Some(p) = l.pids_limit {
        write_file(cgroup, d, "pids.max", &pids_max_value(p))?;
    }
    Ok(())
}

pub(crate) fn stats(cgroup: &str, d: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if d.join("memory.current").exists() {
        s.memory_usage = read_u64(cgroup, d, "memory.current")?;
        let max = read_file(cgroup, d, "memory.max")?;
        s.memory_limit = max.trim().parse().ok();
    }
    s.cpu_usage_ns = read_key(cgroup, d, "cpu.stat", "usage_usec")?.unwrap_or(0) * 1000;
    if d.join("pids.current").exists() {
        s.pids_current = read_u64(cgroup, d, "pids.current")?;
    }
    Ok(s)
}

pub(crate) fn oom_killed(cgroup: &str, d: &Path) -> Result<bool, CgroupError> {
    Ok(read_key(cgroup, d, "memory.events", "oom_kill")?.unwrap_or(0) > 0)
}

pub(crate) fn set_frozen(cgroup: &str, d: &Path, frozen: bool) -> Result<(), CgroupError> {
    let v = if frozen { "1" } else { "0" };
    write_file(cgroup, d, "cgroup.freeze", v)?;
    let want = if frozen { 1 } else { 0 };
    let done = wait_until(Duration::from_secs(2), || {
        Ok(read_key(cgroup, d, "cgroup.events", "frozen")? == Some(want))
    })?;
    if done {
        Ok(())
    } else {
        if frozen {
            let _ = write_file(cgroup, d, "cgroup.freeze", "0");
        }
        Err(CgroupError::invalid(
            cgroup,
            format!(
                "{} did not report frozen {want} within 2 s",
                d.join("cgroup.events").display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_formula_matches_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39); // docker default shares
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1); // clamped, no underflow
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn swap_is_total_minus_memory() {
        let mib = 1 << 20;
        assert_eq!(
            swap_max_value(Some(64 * mib), Some(128 * mib)),
            Some((64 * mib).to_string())
        );
        assert_eq!(
            swap_max_value(Some(64 * mib), Some(64 * mib)),
            Some("0".to_owned())
        );
        assert_eq!(
            swap_max_value(Some(64 * mib), Some(-1)),
            Some("max".to_owned())
        );
        assert_eq!(swap_max_value(Some(64 * mib), None), None);
        assert_eq!(swap_max_value(Some(64 * mib), Some(0)), None);
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(
            cpu_max_value(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(
            cpu_max_value(Some(-1), Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(
            cpu_max_value(None, Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(cpu_max_value(Some(20_000), None).as_deref(), Some("20000"));
        assert_eq!(cpu_max_value(None, None), None);
    }
}
