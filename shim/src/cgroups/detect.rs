//! Which cgroup layout this machine runs, decided at run time.

use std::path::Path;

/// The cgroup root every path in this module is relative to.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How cgroups are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only v1 controller hierarchies under /sys/fs/cgroup/<controller>.
    V1,
    /// v1 controllers plus an (empty of controllers) v2 tree at
    /// /sys/fs/cgroup/unified, as systemd's "hybrid" mode. Limits go to v1.
    Hybrid,
    /// Pure cgroup v2: the unified tree is mounted at /sys/fs/cgroup.
    V2,
}

impl Layout {
    /// Whether limits, tasks and stats go through the v2 unified tree.
    pub fn is_v2(self) -> bool {
        self == Layout::V2
    }
}

/// The layout of this machine's /sys/fs/cgroup.
pub fn detect() -> Layout {
    detect_at(Path::new(CGROUP_ROOT))
}

/// The layout of a cgroup root. A v2 mount has `cgroup.controllers` at its
/// top; a v1 root is a tmpfs of per-controller mounts, hybrid when one of
/// them is the v2 tree at `unified`.
pub fn detect_at(root: &Path) -> Layout {
    if root.join("cgroup.controllers").is_file() {
        Layout::V2
    } else if root.join("unified").join("cgroup.controllers").is_file() {
        Layout::Hybrid
    } else {
        Layout::V1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "").unwrap();
    }

    #[test]
    fn pure_v2_tree() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "cgroup.controllers");
        touch(d.path(), "cgroup.procs");
        fs::create_dir(d.path().join("system.slice")).unwrap();
        assert_eq!(detect_at(d.path()), Layout::V2);
    }

    #[test]
    fn hybrid_tree() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "memory/memory.limit_in_bytes");
        touch(d.path(), "cpu/cpu.shares");
        touch(d.path(), "unified/cgroup.controllers");
        assert_eq!(detect_at(d.path()), Layout::Hybrid);
    }

    #[test]
    fn v1_tree() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "memory/memory.limit_in_bytes");
        touch(d.path(), "cpu,cpuacct/cpu.shares");
        touch(d.path(), "systemd/cgroup.procs");
        assert_eq!(detect_at(d.path()), Layout::V1);
    }

    #[test]
    fn missing_root_is_v1() {
        assert_eq!(detect_at(Path::new("/nonexistent/berth")), Layout::V1);
    }

    #[test]
    fn this_machine_is_detected() {
        // Whatever it is, detect() must agree with detect_at on the real root.
        assert_eq!(detect(), detect_at(Path::new(CGROUP_ROOT)));
    }
}
