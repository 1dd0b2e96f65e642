//! Starting the kernel's cgroup-migration grace period early.
//!
//! Moving a process between cgroups takes the kernel's
//! `cgroup_threadgroup_rwsem` for writing. When no migration happened in the
//! last grace period, taking it waits for a whole RCU grace period (~11 ms
//! on the test VMs, see bench/RESULTS.md): the first move of a container's
//! init into its cgroup paid that on every start, on the critical path.
//! Once one writer has waited, later writers within about one grace period
//! of it do not wait again (the kernel's rcu_sync stays in its "passed"
//! state until a grace period after the last writer leaves).
//!
//! So when a create, a start or an exec begins, berthd moves itself into
//! the cgroup it is already in (a migration that changes nothing) on a
//! blocking thread. That wait overlaps the rest of the create and the
//! shim's start-up instead of following them, and the shim's move of the
//! init, a few milliseconds later, finds the grace period already passed.
//! The kernel holds `cgroup_mutex` during that wait, so cgroup mkdirs wait
//! too: the earlier it starts, the more it saves, which is why the create
//! begins it, not only the start (a start within a grace period of the
//! create's finds it passed and costs nothing). When this fails (no
//! permission, no cgroupfs) nothing is lost but the head start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::debug;

/// One migration in flight at a time: concurrent starts share its grace
/// period anyway.
static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// Begin a no-op migration of berthd on the blocking pool and return at
/// once.
pub fn begin_grace_period() {
    if IN_FLIGHT.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::task::spawn_blocking(|| {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let pid = std::process::id().to_string();
        let done = procs_files(&cgroup, Path::new("/sys/fs/cgroup"))
            .into_iter()
            .find_map(|f| match std::fs::write(&f, &pid) {
                Ok(()) => Some(f),
                Err(e) => {
                    debug!(file = %f.display(), error = %e, "no-op cgroup migration refused");
                    None
                }
            });
        if done.is_none() {
            debug!("no cgroup.procs took a no-op migration");
        }
        IN_FLIGHT.store(false, Ordering::Release);
    });
}

/// The `cgroup.procs` files of the cgroups this process is in, from
/// /proc/self/cgroup, best candidates first: one v1 hierarchy (any will
/// do: the lock is global), then the unified tree (hybrid or pure v2).
fn procs_files(proc_self_cgroup: &str, root: &Path) -> Vec<PathBuf> {
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrl.is_empty() {
            v2.push(root.join("unified").join(rel).join("cgroup.procs"));
            v2.push(root.join(rel).join("cgroup.procs"));
        } else {
            let dir = ctrl.strip_prefix("name=").unwrap_or(ctrl);
            v1.push(root.join(dir).join(rel).join("cgroup.procs"));
        }
    }
    v1.into_iter()
        .chain(v2)
        .filter(|p| p.parent().is_some_and(Path::is_dir))
        .take(2)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hierarchies_come_before_the_unified_tree() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "cpu,cpuacct/user.slice",
            "systemd/user.slice",
            "unified/user.slice",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        let cg = "12:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n";
        assert_eq!(
            procs_files(cg, r),
            vec![
                r.join("cpu,cpuacct/user.slice/cgroup.procs"),
                r.join("systemd/user.slice/cgroup.procs"),
            ]
        );
    }

    #[test]
    fn pure_v2_uses_the_unified_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("system.slice/berthd.service")).unwrap();
        assert_eq!(
            procs_files("0::/system.slice/berthd.service\n", r),
            vec![r.join("system.slice/berthd.service/cgroup.procs")]
        );
        assert!(procs_files("garbage\n", r).is_empty());
    }
}
