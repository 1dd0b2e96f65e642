//! The container's filesystem, built by the init in its own mount
//! namespace: mounts made private, the rootfs bound onto itself, the spec's
//! mounts in order (with the container's own cgroup tree at
//! /sys/fs/cgroup), /dev, pivot_root; then masked and read-only paths and a
//! read-only root. Every mount point is resolved inside the rootfs and
//! mounted through its descriptor ([`Syscall::resolve`]), so an image's
//! symlinks cannot send a mount, a directory or a device node outside it.
//! As runc does, an image whose /proc, /sys or /dev is a symlink is refused:
//! the kernel filesystems and their masks must land on the real directories.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::devices::{self, Device};
use super::mounts::{flag_names, MountEntry, MountKind};
use super::sys::{Create, InRoot, Syscall};
use super::StepError;

/// Where the kernel's filesystems go: an image may not make these symlinks.
const KERNEL_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

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
        // Opened after the bind, so the handle is the mount pivot_root takes.
        let root = sys.open_root(self.root).map_err(StepError::with(|| {
            format!("open rootfs {}", self.root.display())
        }))?;
        self.refuse_symlinked_kernel_dirs(&root)?;
        for m in self.mounts {
            self.mount(&root, m)?;
        }
        if self.cwd != Path::new("/") {
            sys.resolve(&root, self.cwd, Create::Dir)
                .map_err(StepError::with(|| {
                    format!("create cwd {}", self.cwd.display())
                }))?;
        }
        let dev_mounted = self
            .mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev") && m.kind != MountKind::Bind);
        if dev_mounted {
            devices::create(sys, &root, self.devices)?;
            devices::symlinks(sys, &root)?;
        }
        sys.pivot_root(self.root).map_err(StepError::with(|| {
            format!("pivot_root to {}", self.root.display())
        }))
    }

    /// runc's rule: /proc, /sys and /dev are real directories (or missing),
    /// never symlinks, and so is the mount point of any proc or sysfs mount.
    fn refuse_symlinked_kernel_dirs(&self, root: &InRoot) -> Result<(), StepError> {
        let kernel_fs = self.mounts.iter().filter_map(|m| match &m.kind {
            MountKind::Fs(t) if t == "proc" || t == "sysfs" => Some(m.destination.as_path()),
            _ => None,
        });
        for dir in KERNEL_DIRS.iter().map(Path::new).chain(kernel_fs) {
            let link = self.sys.is_symlink(root, dir).map_err(StepError::with(|| {
                format!("check {} in the rootfs", dir.display())
            }))?;
            if link {
                return Err(symlinked(dir));
            }
        }
        Ok(())
    }

    fn mount(&self, root: &InRoot, m: &MountEntry) -> Result<(), StepError> {
        let sys = self.sys;
        let what = || format!("mount {}", m.destination.display());
        match &m.kind {
            MountKind::Bind => self.bind(root, m)?,
            MountKind::Cgroup => self.cgroup(root, m)?,
            MountKind::Fs(fstype) => {
                let dest = sys
                    .resolve(root, &m.destination, Create::Dir)
                    .map_err(StepError::with(what))?;
                let source = m.source.as_deref().unwrap_or(Path::new(fstype));
                let data = Some(m.options.data.as_str()).filter(|d| !d.is_empty());
                sys.mount(
                    Some(source),
                    &dest.path(),
                    Some(fstype),
                    m.options.flags,
                    data,
                )
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
            // Resolved again: the handle from before the mount names what
            // the mount now covers.
            let dest = sys
                .resolve(root, &m.destination, Create::Nothing)
                .map_err(StepError::with(what))?;
            sys.mount(None, &dest.path(), None, m.options.propagation, None)
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

    fn bind(&self, root: &InRoot, m: &MountEntry) -> Result<(), StepError> {
        let sys = self.sys;
        let source = m.source.as_deref().unwrap_or(Path::new(""));
        let what = || {
            format!(
                "bind mount {} to {}",
                source.display(),
                m.destination.display()
            )
        };
        // The source is the host's (a volume, the container's hosts file):
        // berth chose it, so its path is trusted.
        let meta = fs::metadata(source).map_err(StepError::with(what))?;
        let create = if meta.is_dir() {
            Create::Dir
        } else {
            Create::File
        };
        let dest = sys
            .resolve(root, &m.destination, create)
            .map_err(StepError::with(what))?;
        let flags = m.options.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        sys.mount(Some(source), &dest.path(), None, flags, None)
            .map_err(StepError::with(what))?;
        let extra = m.options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            let dest = sys
                .resolve(root, &m.destination, Create::Nothing)
                .map_err(StepError::with(what))?;
            remount(sys, &dest.path(), extra).map_err(StepError::with(|| {
                format!("remount {} {}", m.destination.display(), flag_names(extra))
            }))?;
        }
        Ok(())
    }

    /// The container's own cgroup tree at /sys/fs/cgroup, as docker shows it.
    fn cgroup(&self, root: &InRoot, m: &MountEntry) -> Result<(), StepError> {
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
        let top = m.destination.as_path();
        let dest = sys
            .resolve(root, top, Create::Dir)
            .map_err(StepError::with(what(top)))?;
        if cg.v2 {
            return if cg.joined_namespace {
                sys.mount(
                    Some(Path::new("cgroup2")),
                    &dest.path(),
                    Some("cgroup2"),
                    base | ro,
                    None,
                )
                .map_err(StepError::with(what(top)))
            } else {
                let host = Path::new("/sys/fs/cgroup").join(cg.path.trim_start_matches('/'));
                self.bind_ro(root, &host, top, base | ro)
            };
        }
        sys.mount(
            Some(Path::new("tmpfs")),
            &dest.path(),
            Some("tmpfs"),
            base,
            Some("mode=755"),
        )
        .map_err(StepError::with(what(top)))?;
        // Everything below is made in the tmpfs just mounted: resolved anew.
        let tmpfs = sys
            .resolve(root, top, Create::Nothing)
            .map_err(StepError::with(what(top)))?;
        for h in &cg.v1 {
            let d = top.join(&h.dir);
            let dir = sys
                .resolve(root, &d, Create::Dir)
                .map_err(StepError::with(what(&d)))?;
            if cg.joined_namespace {
                sys.mount(
                    Some(Path::new("cgroup")),
                    &dir.path(),
                    Some("cgroup"),
                    base | ro,
                    Some(&h.options),
                )
                .map_err(StepError::with(what(&d)))?;
            } else {
                let host = h.mount_point.join(cg.path.trim_start_matches('/'));
                self.bind_ro(root, &host, &d, base | ro)?;
            }
            // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
            if h.dir.contains(',') {
                for name in h.dir.split(',') {
                    sys.symlink_at(Path::new(&h.dir), &tmpfs, name.as_ref())
                        .map_err(StepError::with(what(&top.join(name))))?;
                }
            }
        }
        if !ro.is_empty() {
            sys.mount(
                None,
                &tmpfs.path(),
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

    /// Bind the host's `host` onto `dest` (a container path, made already)
    /// and remount it with `flags`.
    fn bind_ro(
        &self,
        root: &InRoot,
        host: &Path,
        dest: &Path,
        flags: MsFlags,
    ) -> Result<(), StepError> {
        let sys = self.sys;
        let what = || format!("bind {} to {}", host.display(), dest.display());
        let target = sys
            .resolve(root, dest, Create::Nothing)
            .map_err(StepError::with(what))?;
        sys.mount(Some(host), &target.path(), None, MsFlags::MS_BIND, None)
            .map_err(StepError::with(what))?;
        let target = sys
            .resolve(root, dest, Create::Nothing)
            .map_err(StepError::with(what))?;
        remount(sys, &target.path(), flags).map_err(StepError::with(what))
    }
}

/// The refusal of an image whose `dir` is a symlink.
fn symlinked(dir: &Path) -> StepError {
    StepError::new(
        format!("mount {}", dir.display()),
        io::Error::other(format!(
            "the image's {} is a symlink: refused (it must be a directory)",
            dir.display()
        )),
    )
}

/// The same rule for an external runtime, checked before it is called:
/// runc resolves its mount points inside the rootfs, but what it then
/// makes under /dev (its ptmx and fd links) would follow an image's
/// symlinked /dev, so berth does not hand it such an image.
pub fn check_kernel_dirs(rootfs: &Path) -> Result<(), StepError> {
    let what = || format!("open rootfs {}", rootfs.display());
    let root = berth_inroot::RootDir::open(rootfs).map_err(StepError::with(what))?;
    for dir in KERNEL_DIRS.iter().map(Path::new) {
        let link = berth_inroot::is_symlink(std::os::fd::AsFd::as_fd(&root), dir).map_err(
            StepError::with(|| format!("check {} in the rootfs", dir.display())),
        )?;
        if link {
            return Err(symlinked(dir));
        }
    }
    Ok(())
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
/// directory; a missing path is skipped. Runs after pivot_root, with `root`
/// the container's `/`.
pub fn mask_path(sys: &dyn Syscall, root: &InRoot, path: &Path) -> Result<(), StepError> {
    let what = || format!("mask {}", path.display());
    let target = match sys.resolve(root, path, Create::Nothing) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r.map_err(StepError::with(what))?,
    };
    if sys.is_dir(&target).map_err(StepError::with(what))? {
        sys.mount(
            Some(Path::new("tmpfs")),
            &target.path(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
        .map_err(StepError::with(what))
    } else {
        sys.mount(
            Some(Path::new("/dev/null")),
            &target.path(),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(StepError::with(what))
    }
}

/// Make `path` read-only (bind it onto itself, remount ro keeping its other
/// flags); a missing path is skipped. Runs after pivot_root, with `root`
/// the container's `/`.
pub fn readonly_path(sys: &dyn Syscall, root: &InRoot, path: &Path) -> Result<(), StepError> {
    let what = || format!("make {} read-only", path.display());
    let target = match sys.resolve(root, path, Create::Nothing) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r.map_err(StepError::with(what))?,
    };
    let t = target.path();
    sys.mount(Some(&t), &t, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
        .map_err(StepError::with(|| {
            format!("bind {} onto itself", path.display())
        }))?;
    // The bind now covers the handle's object: the remount goes to it.
    let bound = sys
        .resolve(root, path, Create::Nothing)
        .map_err(StepError::with(what))?;
    let bound = bound.path();
    let keep = sys.mount_flags(&bound).map_err(StepError::with(|| {
        format!("read {}'s mount flags", path.display())
    }))? & LOCKABLE;
    sys.mount(
        None,
        &bound,
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
