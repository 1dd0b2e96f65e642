//! cgroup v1 (plain or hybrid): one directory per controller hierarchy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cgroups_rs::fs::Controllers;

use super::{
    pids_max_value, read_file, read_key, read_procs, read_u64, wait_until, write_file, CgroupError,
    Stats,
};

/// The cgroup's directory in each mounted v1 hierarchy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dirs {
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    cpuset: Option<PathBuf>,
    pids: Option<PathBuf>,
    freezer: Option<PathBuf>,
    all: Vec<PathBuf>,
}

impl Dirs {
    pub(crate) fn from_cgroup(cg: &cgroups_rs::fs::Cgroup) -> Dirs {
        let mut d = Dirs::default();
        for sub in cg.subsystems() {
            let c = sub.to_controller();
            let p = c.path().to_path_buf();
            match c.control_type() {
                Controllers::Mem => d.memory = Some(p.clone()),
                Controllers::Cpu => d.cpu = Some(p.clone()),
                Controllers::CpuAcct => d.cpuacct = Some(p.clone()),
                Controllers::CpuSet => d.cpuset = Some(p.clone()),
                Controllers::Pids => d.pids = Some(p.clone()),
                Controllers::Freezer => d.freezer = Some(p.clone()),
                _ => {}
            }
            if !d.all.contains(&p) {
                d.all.push(p);
            }
        }
        d
    }

    pub(crate) fn all(&self) -> &[PathBuf] {
        &self.all
    }

    /// Ok when the cgroup exists (its memory, or else first, directory);
    /// otherwise the path that was looked for.
    pub(crate) fn existing_probe(&self) -> Result<(), PathBuf> {
        let probe = self
            .memory
            .clone()
            .or_else(|| self.all.first().cloned())
            .unwrap_or_else(|| PathBuf::from(super::CGROUP_ROOT));
        if probe.is_dir() && !self.all.is_empty() {
            Ok(())
        } else {
            Err(probe)
        }
    }
}

fn need<'a>(cgroup: &str, dir: &'a Option<PathBuf>, what: &str) -> Result<&'a Path, CgroupError> {
    dir.as_deref().ok_or_else(|| {
        CgroupError::invalid(
            cgroup,
            format!("the {what} controller is not mounted (no v1 hierarchy for it)"),
        )
    })
}

pub(crate) fn apply(
    cgroup: &str,
    d: &Dirs,
    l: &super::Limits,
    warnings: &mut Vec<String>,
) -> Result<(), CgroupError> {
    if l.memory.is_some() || l.memory_swap.is_some() {
        let mem = need(cgroup, &d.memory, "memory")?;
        let memsw = mem.join("memory.memsw.limit_in_bytes");
        let swap = match l.memory_swap {
            Some(s) if s != 0 => {
                if memsw.exists() {
                    Some(s)
                } else {
                    warnings.push(format!(
                        "cgroup {cgroup}: {} does not exist (swap accounting is off); \
                         the memory+swap limit is not applied",
                        memsw.display()
                    ));
                    None
                }
            }
            _ => None,
        };
        // memsw must stay >= memory: raise memsw first when it grows,
        // lower memory first when memsw shrinks. With a fresh cgroup both
        // are unlimited, so memory first is right.
        let current_memsw = if swap.is_some() {
            read_u64(cgroup, mem, "memory.memsw.limit_in_bytes").ok()
        } else {
            None
        };
        let swap_first = match (swap, current_memsw, l.memory) {
            (Some(s), Some(cur), Some(m)) => s == -1 || (s as u64 > cur && m as u64 > cur),
            _ => false,
        };
        if swap_first {
            if let Some(s) = swap {
                write_file(cgroup, mem, "memory.memsw.limit_in_bytes", &s.to_string())?;
            }
        }
        if let Some(m) = l.memory {
            write_file(cgroup, mem, "memory.limit_in_bytes", &m.to_string())?;
        }
        if !swap_first {
            if let Some(s) = swap {
                write_file(cgroup, mem, "memory.memsw.limit_in_bytes", &s.to_string())?;
            }
        }
    }
    if let Some(shares) = l.cpu_shares {
        let cpu = need(cgroup, &d.cpu, "cpu")?;
        write_file(cgroup, cpu, "cpu.shares", &shares.to_string())?;
    }
    if let Some(p) = l.cpu_period {
        let cpu = need(cgroup, &d.cpu, "cpu")?;
        write_file(cgroup, cpu, "cpu.cfs_period_us", &p.to_string())?;
    }
    if let Some(q) = l.cpu_quota {
        let cpu = need(cgroup, &d.cpu, "cpu")?;
        write_file(cgroup, cpu, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let Some(cpus) = &l.cpuset_cpus {
        let cs = need(cgroup, &d.cpuset, "cpuset")?;
        // cgroups-rs copied cpus/mems from the parent at creation; make
        // sure mems is not empty (a loaded cgroup), then narrow cpus.
        if read_file(cgroup, cs, "cpuset.mems")?.trim().is_empty() {
            if let Some(parent) = cs.parent() {
                let mems = read_file(cgroup, parent, "cpuset.mems")?;
                write_file(cgroup, cs, "cpuset.mems", mems.trim())?;
            }
        }
        write_file(cgroup, cs, "cpuset.cpus", cpus)?;
    }
    if let Some(p) = l.pids_limit {
        let pids = need(cgroup, &d.pids, "pids")?;
        write_file(cgroup, pids, "pids.max", &pids_max_value(p))?;
    }
    Ok(())
}

pub(crate) fn add_task(cgroup: &str, d: &Dirs, pid: i32) -> Result<(), CgroupError> {
    for dir in &d.all {
        write_file(cgroup, dir, "cgroup.procs", &pid.to_string())?;
    }
    Ok(())
}

/// Processes in any of the cgroup's hierarchies (they should agree).
pub(crate) fn pids(cgroup: &str, d: &Dirs) -> Result<Vec<i32>, CgroupError> {
    let mut out = Vec::new();
    for dir in &d.all {
        out.extend(read_procs(cgroup, dir)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub(crate) fn stats(cgroup: &str, d: &Dirs) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(mem) = &d.memory {
        s.memory_usage = read_u64(cgroup, mem, "memory.usage_in_bytes")?;
        let limit = read_u64(cgroup, mem, "memory.limit_in_bytes")?;
        // "Unlimited" reads as PAGE_COUNTER_MAX * page size, near i64::MAX.
        s.memory_limit = (limit < (i64::MAX as u64) / 2).then_some(limit);
    }
    if let Some(acct) = &d.cpuacct {
        s.cpu_usage_ns = read_u64(cgroup, acct, "cpuacct.usage")?;
    }
    if let Some(p) = &d.pids {
        s.pids_current = read_u64(cgroup, p, "pids.current")?;
    }
    Ok(s)
}

pub(crate) fn oom_killed(cgroup: &str, d: &Dirs) -> Result<bool, CgroupError> {
    let mem = need(cgroup, &d.memory, "memory")?;
    match read_key(cgroup, mem, "memory.oom_control", "oom_kill")? {
        Some(n) => Ok(n > 0),
        None => Err(CgroupError::invalid(
            cgroup,
            format!(
                "{} has no oom_kill counter (kernel older than 4.13)",
                mem.join("memory.oom_control").display()
            ),
        )),
    }
}

pub(crate) fn set_frozen(cgroup: &str, d: &Dirs, frozen: bool) -> Result<(), CgroupError> {
    let fz = need(cgroup, &d.freezer, "freezer")?;
    let want = if frozen { "FROZEN" } else { "THAWED" };
    write_file(cgroup, fz, "freezer.state", want)?;
    // Freezing can stay in FREEZING while a task is in an uninterruptible
    // sleep; writing FROZEN again retries.
    let done = wait_until(Duration::from_secs(2), || {
        let state = read_file(cgroup, fz, "freezer.state")?;
        if state.trim() == want {
            return Ok(true);
        }
        write_file(cgroup, fz, "freezer.state", want)?;
        Ok(false)
    })?;
    if done {
        Ok(())
    } else {
        if frozen {
            let _ = write_file(cgroup, fz, "freezer.state", "THAWED");
        }
        Err(CgroupError::invalid(
            cgroup,
            format!(
                "{} did not become {want} within 2 s",
                fz.join("freezer.state").display()
            ),
        ))
    }
}
