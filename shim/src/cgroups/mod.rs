//! A container's cgroup: create it with limits, move the init process in,
//! read pids and stats, see an OOM kill, freeze/thaw, kill everything in it,
//! and remove it. Works on cgroup v1 (plain or hybrid, as on the project's
//! VMs) and on pure cgroup v2, chosen at run time by [`detect`].
//!
//! cgroups-rs finds the v1 mount points and creates the directories (with
//! cpuset.cpus/mems copied from the parent on v1, and controllers enabled in
//! every parent's cgroup.subtree_control on v2). Limits, stats, freeze and
//! kill are plain cgroupfs files written here, so every error names the
//! cgroup and the file, and optional files (memory.memsw.*, memory.swap.max,
//! cgroup.kill) are checked before they are used.

mod detect;
mod error;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use detect::{detect, detect_at, Layout, CGROUP_ROOT};
pub use error::CgroupError;

/// Resource limits, in Docker's terms. `None` leaves the kernel default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// `-m/--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`: memory plus swap, bytes, like docker; -1 is unlimited.
    pub memory_swap: Option<i64>,
    /// CFS quota in microseconds per period (`--cpus` × period); -1 is unlimited.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (100000 by default in the kernel).
    pub cpu_period: Option<u64>,
    /// `--cpu-shares` (v1 scale, 2..=262144; mapped to cpu.weight on v2).
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`, e.g. "0-1" or "0,2".
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`; -1 (or 0, as docker) is unlimited.
    pub pids_limit: Option<i64>,
}

/// A snapshot of a cgroup's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Memory in use, bytes (memory.usage_in_bytes / memory.current).
    pub memory_usage: u64,
    /// The memory limit, bytes; `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// CPU time used by all tasks, nanoseconds.
    pub cpu_usage_ns: u64,
    /// Number of tasks (pids.current).
    pub pids_current: u64,
}

/// Where a cgroup lives, per layout.
#[derive(Debug, Clone)]
enum Dirs {
    V1(v1::Dirs),
    V2(PathBuf),
}

/// One container's cgroup, at `<parent>/<name>` in every v1 controller or in
/// the unified tree on v2.
#[derive(Debug)]
pub struct Cgroup {
    path: String,
    layout: Layout,
    dirs: Dirs,
    warnings: Vec<String>,
}

impl Cgroup {
    /// Create the cgroup at `path` (relative to the cgroup root, e.g.
    /// "berth/abc") and apply `limits`. If a limit cannot be applied the new
    /// directories are removed again, so nothing is left behind.
    pub fn create(path: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let path = clean_path(path)?;
        let layout = detect();
        let hier: Box<dyn cgroups_rs::fs::Hierarchy> = if layout.is_v2() {
            Box::new(cgroups_rs::fs::hierarchies::V2::new())
        } else {
            Box::new(cgroups_rs::fs::hierarchies::V1::new())
        };
        let cg = cgroups_rs::fs::Cgroup::new(hier, &path).map_err(|e| CgroupError::Create {
            cgroup: path.clone(),
            message: error_chain(&e),
        })?;
        let dirs = if layout.is_v2() {
            Dirs::V2(Path::new(CGROUP_ROOT).join(&path))
        } else {
            Dirs::V1(v1::Dirs::from_cgroup(&cg))
        };
        let mut cgroup = Cgroup {
            path,
            layout,
            dirs,
            warnings: Vec::new(),
        };
        if let Err(e) = cgroup.apply(limits) {
            let _ = cgroup.remove_dirs();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// Open an existing cgroup (after a shim restart). Fails with
    /// [`CgroupError::NotFound`] when it is not there.
    pub fn load(path: &str) -> Result<Cgroup, CgroupError> {
        let path = clean_path(path)?;
        let layout = detect();
        let dirs = if layout.is_v2() {
            let dir = Path::new(CGROUP_ROOT).join(&path);
            if !dir.is_dir() {
                return Err(CgroupError::NotFound {
                    cgroup: path,
                    file: dir,
                });
            }
            Dirs::V2(dir)
        } else {
            let hier = cgroups_rs::fs::hierarchies::V1::new();
            let cg = cgroups_rs::fs::Cgroup::load(Box::new(hier), &path);
            let dirs = v1::Dirs::from_cgroup(&cg);
            match dirs.existing_probe() {
                Ok(()) => Dirs::V1(dirs),
                Err(file) => return Err(CgroupError::NotFound { cgroup: path, file }),
            }
        };
        Ok(Cgroup {
            path,
            layout,
            dirs,
            warnings: Vec::new(),
        })
    }

    /// The cgroup's path relative to the cgroup root.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The layout this cgroup was created or loaded under.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Limits that could not be applied and were skipped, in words (e.g.
    /// swap accounting off, so `--memory-swap` has no effect).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Apply limits to this cgroup (also used to update a running one).
    pub fn apply(&mut self, limits: &Limits) -> Result<(), CgroupError> {
        check_limits(&self.path, limits)?;
        match &self.dirs {
            Dirs::V1(d) => v1::apply(&self.path, d, limits, &mut self.warnings),
            Dirs::V2(d) => v2::apply(&self.path, d, limits, &mut self.warnings),
        }
    }

    /// Move a process (all its threads) into the cgroup.
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        if pid <= 0 {
            return Err(CgroupError::invalid(
                &self.path,
                format!("invalid pid {pid}"),
            ));
        }
        match &self.dirs {
            Dirs::V1(d) => v1::add_task(&self.path, d, pid),
            Dirs::V2(d) => write_file(&self.path, d, "cgroup.procs", &pid.to_string()),
        }
    }

    /// The processes in the cgroup, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => v1::pids(&self.path, d),
            Dirs::V2(d) => read_procs(&self.path, d),
        }
    }

    /// Memory usage and limit, CPU time, task count.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => v1::stats(&self.path, d),
            Dirs::V2(d) => v2::stats(&self.path, d),
        }
    }

    /// Whether the kernel's OOM killer has killed a task in this cgroup.
    /// On v1 this needs the `oom_kill` counter of memory.oom_control
    /// (kernel 4.13 or later).
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => v1::oom_killed(&self.path, d),
            Dirs::V2(d) => v2::oom_killed(&self.path, d),
        }
    }

    /// Freeze every task (pause); returns once the kernel reports frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => v1::set_frozen(&self.path, d, true),
            Dirs::V2(d) => v2::set_frozen(&self.path, d, true),
        }
    }

    /// Thaw every task (resume).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => v1::set_frozen(&self.path, d, false),
            Dirs::V2(d) => v2::set_frozen(&self.path, d, false),
        }
    }

    /// SIGKILL every task. v2 uses cgroup.kill when the kernel has it (5.14+);
    /// otherwise the cgroup is frozen so nothing can fork, every pid is
    /// killed, and it is thawed so the kills are delivered.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        if let Dirs::V2(d) = &self.dirs {
            if d.join("cgroup.kill").exists() {
                return write_file(&self.path, d, "cgroup.kill", "1");
            }
        }
        let frozen = self.freeze().is_ok();
        let result = self.pids().and_then(|pids| {
            for pid in pids {
                kill_pid(&self.path, pid)?;
            }
            Ok(())
        });
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Remove the cgroup's directories, retrying briefly while killed tasks
    /// exit. A cgroup that is already gone is fine.
    pub fn delete(self) -> Result<(), CgroupError> {
        self.remove_dirs()
    }

    fn remove_dirs(&self) -> Result<(), CgroupError> {
        match &self.dirs {
            Dirs::V1(d) => {
                let mut first_err = None;
                for dir in d.all() {
                    if let Err(e) = remove_dir(&self.path, dir) {
                        first_err.get_or_insert(e);
                    }
                }
                first_err.map_or(Ok(()), Err)
            }
            Dirs::V2(d) => remove_dir(&self.path, d),
        }
    }
}

/// Refuse absolute-looking, empty or escaping paths; strip stray slashes.
fn clean_path(path: &str) -> Result<String, CgroupError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(CgroupError::invalid(path, "empty cgroup path"));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(CgroupError::invalid(
            path,
            "cgroup path must not contain '.' or '..'",
        ));
    }
    Ok(parts.join("/"))
}

/// Reject limits the kernel would refuse with a less helpful message.
fn check_limits(cgroup: &str, l: &Limits) -> Result<(), CgroupError> {
    if let Some(m) = l.memory {
        if m <= 0 && m != -1 {
            return Err(CgroupError::invalid(
                cgroup,
                format!("invalid memory limit {m}: must be positive or -1"),
            ));
        }
    }
    if let Some(s) = l.memory_swap {
        if s != -1 && s != 0 {
            match l.memory {
                Some(m) if m > 0 && s < m => {
                    return Err(CgroupError::invalid(
                        cgroup,
                        format!(
                            "memory+swap limit {s} is smaller than the memory limit {m}; \
                             --memory-swap must be at least --memory"
                        ),
                    ))
                }
                Some(m) if m > 0 => {}
                _ => {
                    return Err(CgroupError::invalid(
                        cgroup,
                        "a memory+swap limit needs a memory limit (--memory) too",
                    ))
                }
            }
        }
    }
    if let Some(p) = l.cpu_period {
        if !(1000..=1_000_000).contains(&p) {
            return Err(CgroupError::invalid(
                cgroup,
                format!("invalid CPU period {p}: must be between 1000 and 1000000 microseconds"),
            ));
        }
    }
    if let Some(q) = l.cpu_quota {
        if q != -1 && q < 1000 {
            return Err(CgroupError::invalid(
                cgroup,
                format!("invalid CPU quota {q}: must be at least 1000 microseconds, or -1"),
            ));
        }
    }
    Ok(())
}

/// The value for pids.max: "max" for unlimited (-1 or 0, as docker).
pub(crate) fn pids_max_value(limit: i64) -> String {
    if limit <= 0 {
        "max".to_owned()
    } else {
        limit.to_string()
    }
}

pub(crate) fn write_file(
    cgroup: &str,
    dir: &Path,
    file: &str,
    value: &str,
) -> Result<(), CgroupError> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(|e| CgroupError::io(cgroup, "write", p, e))
}

pub(crate) fn read_file(cgroup: &str, dir: &Path, file: &str) -> Result<String, CgroupError> {
    let p = dir.join(file);
    fs::read_to_string(&p).map_err(|e| CgroupError::io(cgroup, "read", p, e))
}

/// A file holding one unsigned number.
pub(crate) fn read_u64(cgroup: &str, dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let s = read_file(cgroup, dir, file)?;
    s.trim().parse().map_err(|_| CgroupError::Parse {
        cgroup: cgroup.to_owned(),
        file: dir.join(file),
        content: s,
    })
}

/// A "key value" line in a flat-keyed file (memory.events, cpu.stat, memory.oom_control).
pub(crate) fn read_key(
    cgroup: &str,
    dir: &Path,
    file: &str,
    key: &str,
) -> Result<Option<u64>, CgroupError> {
    let s = read_file(cgroup, dir, file)?;
    for line in s.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            return match it.next().map(str::parse) {
                Some(Ok(v)) => Ok(Some(v)),
                _ => Err(CgroupError::Parse {
                    cgroup: cgroup.to_owned(),
                    file: dir.join(file),
                    content: line.to_owned(),
                }),
            };
        }
    }
    Ok(None)
}

pub(crate) fn read_procs(cgroup: &str, dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let s = read_file(cgroup, dir, "cgroup.procs")?;
    let mut pids = Vec::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        pids.push(line.trim().parse().map_err(|_| CgroupError::Parse {
            cgroup: cgroup.to_owned(),
            file: dir.join("cgroup.procs"),
            content: line.to_owned(),
        })?);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn kill_pid(cgroup: &str, pid: i32) -> Result<(), CgroupError> {
    use nix::errno::Errno;
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(CgroupError::invalid(
            cgroup,
            format!("cannot send SIGKILL to pid {pid}: {e}"),
        )),
    }
}

/// rmdir, retrying for up to a second while the directory is busy (tasks
/// still exiting). Missing is success.
fn remove_dir(cgroup: &str, dir: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc_ebusy()) && Instant::now() < deadline => {
                sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(CgroupError::io(cgroup, "remove", dir, e)),
        }
    }
}

fn libc_ebusy() -> i32 {
    nix::errno::Errno::EBUSY as i32
}

/// Poll `check` until it is true or a timeout passes.
pub(crate) fn wait_until(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let deadline = Instant::now() + timeout;
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        sleep(Duration::from_millis(5));
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod value_tests {
    use super::*;

    #[test]
    fn pids_unlimited_is_max() {
        assert_eq!(pids_max_value(-1), "max");
        assert_eq!(pids_max_value(0), "max");
        assert_eq!(pids_max_value(20), "20");
    }

    #[test]
    fn paths_are_cleaned_and_escapes_refused() {
        assert_eq!(clean_path("/berth//abc/").unwrap(), "berth/abc");
        assert!(clean_path("berth/../etc").is_err());
        assert!(clean_path("").is_err());
        assert!(clean_path("/").is_err());
    }

    #[test]
    fn swap_without_memory_or_below_memory_is_refused() {
        let l = Limits {
            memory_swap: Some(1 << 20),
            ..Limits::default()
        };
        let e = check_limits("c", &l).unwrap_err().to_string();
        assert!(e.contains("needs a memory limit"), "{e}");
        let l = Limits {
            memory: Some(2 << 20),
            memory_swap: Some(1 << 20),
            ..Limits::default()
        };
        assert!(check_limits("c", &l).is_err());
        let l = Limits {
            memory: Some(1 << 20),
            memory_swap: Some(-1),
            ..Limits::default()
        };
        assert!(check_limits("c", &l).is_ok());
    }

    #[test]
    fn errors_name_cgroup_and_file() {
        let e = read_file("berth/x", Path::new("/nonexistent"), "memory.max").unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("berth/x") && s.contains("/nonexistent/memory.max"),
            "{s}"
        );
    }
}
