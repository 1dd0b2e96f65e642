//! The container's filesystem, built by the init in its own mount
//! namespace: mounts made private, the rootfs bound onto itself, the spec's
//! mounts in order (with the container's own cgroup tree at
//! /sys/fs/cgroup), /dev, pivot_root; then masked and read-only paths and a
//! read-only root. Every mount point is found with [`secure_join`], so an
//! image's symlinks cannot send a mount outside its rootfs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::devices::{self, Device};
use super::mounts::{flag_names, MountEntry, MountKind};
use super::securejoin::secure_join;
use super::sys::Syscall;
use super::StepError;

/// Flags a remount must keep when they are locked (a user namespace cannot
/// clear them).
const LOCKABLE: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME);

/// How the host's cgroups look, read in the parent, for the cgroup mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// Pure cgroup v2 (unified) host.
    pub v2: bool,
    /// The container joins an existing cgroup namespace: mount fresh
    /// cgroupfs instances (their root is that namespace's). Otherwise the
    /// container's own cgroup directories (`path`) are bound from the host,
    /// which needs neither the namespace nor the init inside the cgroup yet:
    /// the parent moves the init into its cgroup while it mounts, and the
    /// init unshares its cgroup namespace afterwards (the same view as a
    /// fresh mount from inside that namespace).
    pub joined_namespace: bool,
    /// The container's cgroup, relative to each hierarchy's root.
    pub path: String,
    /// v1 hierarchies: directory under /sys/fs/cgroup and the mount's
    /// controller options ("cpu", "cpu,cpuacct", "name=systemd").
    pub v1: Vec<V1Hierarchy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Name under /sys/fs/cgroup ("cpu,cpuacct").
    pub dir: String,
    /// Where the host has it mounted.
    pub mount_point: PathBuf,
    /// Controllers (and name=) to mount it with.
    pub options: String,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The v1 hierarchies mounted directly under /sys/fs/cgroup, from the
/// text of /proc/self/mountinfo.
pub fn v1_hierarchies(mountinfo: &str) -> Vec<V1Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = match left.split(' ').nth(4) {
            Some(p) => p,
            None => continue,
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let Some(dir) = mount_point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        if dir.is_empty() || dir.contains('/') {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let options: Vec<&str> = super_opts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
            .collect();
        if options.is_empty() {
            continue;
        }
        out.push(V1Hierarchy {
            dir: dir.to_owned(),
            mount_point: PathBuf::from(mount_point),
            options: options.join(","),
        });
    }
    out
}

/// Everything before pivot_root.
pub struct Rootfs<'a> {
    pub sys: &'a dyn Syscall,
    /// The rootfs, absolute, as seen before pivot_root.
    pub root: &'a Path,
    /// Set on "/" first: MS_PRIVATE or MS_SLAVE, with MS_REC.
    pub propagation: MsFlags,
    pub mounts: &'a [MountEntry],
    pub cgroups: &'a CgroupMounts,
    pub devices: &'a [Device],
    /// The process's cwd, created when missing (as runc and docker do).
    pub cwd: &'a Path,
}

impl Rootfs<'_> {
    /// Make the mounts, /dev, then pivot_root into the rootfs.
    pub fn build(&self) -> Result<(), StepError> {
        let sys = self.sys;
        sys.mount(None, Path::new("/"), None, self.propagation, None)
            .map_err(StepError::with(|| {
                format!("make / {}", flag_names(self.propagation))
            }))?;
        sys.mount(
            Some(self.root),
            self.root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(StepError::with(|| {
            format!("bind rootfs {} onto itself", self.root.display())
        }))?;
        for m in self.mounts {
            self.mount(m)?;
        }
        if self.cwd != Path::new("/") {
            let what = || format!("create cwd {}", self.cwd.display());
            let cwd = secure_join(self.root, self.cwd).map_err(StepError::with(what))?;
            sys.mkdir_all(&cwd).map_err(StepError::with(what))?;
        }
        let dev_mounted = self
            .mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev") && m.kind != MountKind::Bind);
        if dev_mounted {
            devices::create(sys, self.root, self.devices)?;
            devices::symlinks(sys, self.root)?;
        }
        sys.pivot_root(self.root).map_err(StepError::with(|| {
            format!("pivot_root to {}", self.root.display())
        }))
    }

    fn mount(&self, m: &MountEntry) -> Result<(), StepError> {
        let sys = self.sys;
        let what = || format!("mount {}", m.destination.display());
        let dest = secure_join(self.root, &m.destination).map_err(StepError::with(what))?;
        match &m.kind {
            MountKind::Bind => self.bind(m, &dest)?,
            MountKind::Cgroup => self.cgroup(m, &dest)?,
            MountKind::Fs(fstype) => {
                sys.mkdir_all(&dest).map_err(StepError::with(what))?;
                let source = m.source.as_deref().unwrap_or(Path::new(fstype));
                let data = Some(m.options.data.as_str()).filter(|d| !d.is_empty());
                sys.mount(Some(source), &dest, Some(fstype), m.options.flags, data)
                    .map_err(StepError::with(|| {
                        format!(
                            "mount {fstype} on {} ({})",
                            m.destination.display(),
                            flag_names(m.options.flags)
                        )
                    }))?;
            }
        }
        if !m.options.propagation.is_empty() {
            sys.mount(None, &dest, None, m.options.propagation, None)
                .map_err(StepError::with(|| {
                    format!(
                        "make {} {}",
                        m.destination.display(),
                        flag_names(m.options.propagation)
                    )
                }))?;
        }
        Ok(())
    }

    fn bind(&self, m: &MountEntry, dest: &Path) -> Result<(), StepError> {
        let sys = self.sys;
        let source = m.source.as_deref().unwrap_or(Path::new(""));
        let what = || {
            format!(
                "bind mount {} to {}",
                source.display(),
                m.destination.display()
            )
        };
        let meta = fs::metadata(source).map_err(StepError::with(what))?;
        if meta.is_dir() {
            sys.mkdir_all(dest).map_err(StepError::with(what))?;
        } else {
            if let Some(parent) = dest.parent() {
                sys.mkdir_all(parent).map_err(StepError::with(what))?;
            }
            sys.create_file(dest).map_err(StepError::with(what))?;
        }
        let flags = m.options.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        sys.mount(Some(source), dest, None, flags, None)
            .map_err(StepError::with(what))?;
        let extra = m.options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount(sys, dest, extra).map_err(StepError::with(|| {
                format!("remount {} {}", m.destination.display(), flag_names(extra))
            }))?;
        }
        Ok(())
    }

    /// The container's own cgroup tree at /sys/fs/cgroup, as docker shows it.
    fn cgroup(&self, m: &MountEntry, dest: &Path) -> Result<(), StepError> {
        let sys = self.sys;
        let cg = self.cgroups;
        let ro = m.options.flags & MsFlags::MS_RDONLY;
        let base = (m.options.flags - MsFlags::MS_RDONLY)
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        let what = |p: &Path| {
            let p = p.to_owned();
            move || format!("mount cgroup on {}", p.display())
        };
        sys.mkdir_all(dest).map_err(StepError::with(what(dest)))?;
        if cg.v2 {
            return if cg.joined_namespace {
                sys.mount(
                    Some(Path::new("cgroup2")),
                    dest,
                    Some("cgroup2"),
                    base | ro,
                    None,
                )
                .map_err(StepError::with(what(dest)))
            } else {
                let host = Path::new("/sys/fs/cgroup").join(cg.path.trim_start_matches('/'));
                self.bind_ro(&host, dest, base | ro)
            };
        }
        sys.mount(
            Some(Path::new("tmpfs")),
            dest,
            Some("tmpfs"),
            base,
            Some("mode=755"),
        )
        .map_err(StepError::with(what(dest)))?;
        for h in &cg.v1 {
            let d = dest.join(&h.dir);
            sys.mkdir_all(&d).map_err(StepError::with(what(&d)))?;
            if cg.joined_namespace {
                sys.mount(
                    Some(Path::new("cgroup")),
                    &d,
                    Some("cgroup"),
                    base | ro,
                    Some(&h.options),
                )
                .map_err(StepError::with(what(&d)))?;
            } else {
                let host = h.mount_point.join(cg.path.trim_start_matches('/'));
                self.bind_ro(&host, &d, base | ro)?;
            }
            // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
            if h.dir.contains(',') {
                for name in h.dir.split(',') {
                    let link = dest.join(name);
                    sys.symlink(Path::new(&h.dir), &link)
                        .map_err(StepError::with(what(&link)))?;
                }
            }
        }
        if !ro.is_empty() {
            sys.mount(
                None,
                dest,
                None,
                MsFlags::MS_REMOUNT | base | ro,
                Some("mode=755"),
            )
            .map_err(StepError::with(|| {
                format!("remount {} read-only", m.destination.display())
            }))?;
        }
        Ok(())
    }

    fn bind_ro(&self, host: &Path, dest: &Path, flags: MsFlags) -> Result<(), StepError> {
        let what = || format!("bind {} to {}", host.display(), dest.display());
        self.sys
            .mount(Some(host), dest, None, MsFlags::MS_BIND, None)
            .map_err(StepError::with(what))?;
        remount(self.sys, dest, flags).map_err(StepError::with(what))
    }
}

/// Remount a bind mount with `flags`, keeping the flags the kernel locked
/// (retried only when the first attempt is refused).
pub fn remount(sys: &dyn Syscall, dest: &Path, flags: MsFlags) -> io::Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match sys.mount(None, dest, None, base | flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let locked = sys.mount_flags(dest)? & LOCKABLE;
            sys.mount(None, dest, None, base | flags | locked, None)
        }
        r => r,
    }
}

/// Hide `path`: /dev/null over a file, an empty read-only tmpfs over a
/// directory; a missing path is skipped. Runs after pivot_root.
pub fn mask_path(sys: &dyn Syscall, path: &Path) -> Result<(), StepError> {
    let what = || format!("mask {}", path.display());
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StepError::new(what(), e)),
        Ok(m) if m.is_dir() => sys
            .mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
            .map_err(StepError::with(what)),
        Ok(_) => sys
            .mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                MsFlags::MS_BIND,
                None,
            )
            .map_err(StepError::with(what)),
    }
}

/// Make `path` read-only (bind it onto itself, remount ro keeping its other
/// flags); a missing path is skipped. Runs after pivot_root.
pub fn readonly_path(sys: &dyn Syscall, path: &Path) -> Result<(), StepError> {
    let what = || format!("make {} read-only", path.display());
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StepError::new(what(), e)),
        Ok(_) => {}
    }
    sys.mount(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(StepError::with(what))?;
    let keep = sys.mount_flags(path).map_err(StepError::with(what))? & LOCKABLE;
    sys.mount(
        None,
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        None,
    )
    .map_err(StepError::with(what))
}

/// `root.readonly`: remount / read-only, keeping its other flags.
pub fn readonly_root(sys: &dyn Syscall) -> Result<(), StepError> {
    let what = || "remount / read-only".to_owned();
    let keep = sys
        .mount_flags(Path::new("/"))
        .map_err(StepError::with(what))?
        & LOCKABLE;
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        None,
    )
    .map_err(StepError::with(what))
}

#[cfg(test)]
#[path = "rootfs_tests.rs"]
mod tests;
