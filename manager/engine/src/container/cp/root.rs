//! The container's filesystem as `cp` sees it: its rootfs with its host
//! mounts (binds, volumes: [`ContainerRecord::host_mounts`]) at their
//! destinations, mounted for the copy on a private directory under
//! ROOT/tmp and unmounted when the copy ends, on every path (a guard).
//!
//! docker's view, not the container's own: /proc, /sys, /dev and tmpfs
//! mounts are not in it. A stopped container's rootfs is its snapshot's
//! mounts; a running one's is a bind of the rootfs the shim mounted at
//! its bundle (the same overlay, so a copy in is seen by the container at
//! once; mounting its overlay a second time would be refused while the
//! upper dir is in use). The caller holds the container's op lock, so no
//! start or stop runs while the mount exists.
//!
//! Mount points inside the rootfs are resolved in it by descriptor
//! ([`berth_inroot`]): a container's symlink at a bind's destination
//! leads, as for its own mounts, somewhere inside its root, never to the
//! host. Every mount is nodev,nosuid: berthd's own view of a container.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_inroot::{proc_path, RootDir};
use berth_snapshotter::{mount_all_nodev_nosuid, Mount};
use nix::mount::{MntFlags, MsFlags};
use rustix::fs::{AtFlags, StatxFlags};
use tracing::warn;

use crate::container::record::{ContainerRecord, HostMount};
use crate::error::{IoContext, ManagerError, Result};

/// The mounted filesystem of one container, unmounted on drop.
pub struct CopyRoot {
    // Declared first: its descriptor is closed before the unmount.
    dir: RootDir,
    /// The rootfs's mount (statx mount id): a path on it is on the rootfs,
    /// not in one of the host mounts.
    rootfs_mount: u64,
    /// `--read-only`: docker refuses copies onto the rootfs.
    pub read_only_rootfs: bool,
    _mounted: Mounted,
}

/// Unmounts the whole tree on the temporary directory and removes it.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        // MNT_DETACH takes the host mounts below with it, and never fails
        // as busy (no descriptor into it is left open by then anyway).
        if let Err(e) = nix::mount::umount2(&self.0, MntFlags::MNT_DETACH) {
            if e != nix::Error::EINVAL {
                warn!(dir = %self.0.display(), error = %e, "cannot unmount a container root mounted for cp");
            }
        }
        if let Err(e) = fs::remove_dir(&self.0) {
            warn!(dir = %self.0.display(), error = %e, "cannot remove a cp mount point");
        }
    }
}

/// Where the rootfs comes from.
pub enum Rootfs {
    /// A stopped container: its snapshot's mounts.
    Snapshot(Vec<Mount>),
    /// A running container: the rootfs its shim mounted in its bundle.
    Bundle(PathBuf),
}

impl CopyRoot {
    /// Mounts `rootfs` and the record's host mounts on a new directory in
    /// `tmp` (ROOT/tmp).
    pub fn mount(tmp: &Path, rec: &ContainerRecord, rootfs: Rootfs) -> Result<CopyRoot> {
        let mounts = match rootfs {
            Rootfs::Snapshot(m) => m,
            Rootfs::Bundle(dir) => vec![bundle_bind(&dir)?],
        };
        let target = tmp.join(format!(
            "cp-{}-{:016x}",
            rec.short_id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(tmp).ctx(|| format!("create {}", tmp.display()))?;
        fs::create_dir(&target).ctx(|| format!("create {}", target.display()))?;
        if let Err(e) = mount_all_nodev_nosuid(&mounts, &target) {
            let _ = fs::remove_dir(&target);
            return Err(e.into());
        }
        let mounted = Mounted(target.clone());
        let dir = RootDir::open(&target)
            .ctx(|| format!("open the container root mounted on {}", target.display()))?;
        for m in rec.host_mounts() {
            bind(&dir, &m)?;
        }
        Ok(CopyRoot {
            rootfs_mount: mount_id(&dir)?,
            dir,
            read_only_rootfs: rec.host_config.read_only,
            _mounted: mounted,
        })
    }

    pub fn dir(&self) -> &RootDir {
        &self.dir
    }

    /// docker's refusal of a copy into `dest` (a directory resolved in
    /// this root): onto a `--read-only` rootfs, or into a read-only mount.
    pub fn check_writable(&self, dest: &OwnedFd) -> Result<()> {
        if mount_id(dest)? == self.rootfs_mount {
            if self.read_only_rootfs {
                return Err(ManagerError::FailedPrecondition(
                    "container rootfs is marked read-only".into(),
                ));
            }
            return Ok(());
        }
        let vfs = rustix::fs::fstatvfs(dest)
            .map_err(std::io::Error::from)
            .ctx(|| "statvfs the copy's destination".into())?;
        if vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            return Err(ManagerError::FailedPrecondition(
                "mounted volume is marked read-only".into(),
            ));
        }
        Ok(())
    }
}

/// The bind of a running container's rootfs, once it is known to be a
/// mount point (the shim's): an empty directory is no container's view.
fn bundle_bind(rootfs: &Path) -> Result<Mount> {
    let open = |p: &Path| RootDir::open(p).ctx(|| format!("open {}", p.display()));
    let bundle = rootfs.parent().unwrap_or(Path::new("/"));
    if mount_id(&open(rootfs)?)? == mount_id(&open(bundle)?)? {
        return Err(ManagerError::FailedPrecondition(format!(
            "the rootfs of the running container is not mounted at {}",
            rootfs.display()
        )));
    }
    Ok(Mount {
        fstype: "bind".into(),
        source: rootfs.to_string_lossy().into_owned(),
        options: vec!["bind".into()],
    })
}

/// The mount a descriptor's object is on.
fn mount_id(fd: &impl AsFd) -> Result<u64> {
    let st = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
        .map_err(std::io::Error::from)
        .ctx(|| "statx a path of the container".into())?;
    Ok(st.stx_mnt_id)
}

/// Binds a host mount at its destination inside `root` (made as a
/// directory, or an empty file for a file's bind, when missing), then
/// applies ro, nodev and nosuid to the new mount: resolved again, since
/// the descriptor taken before the bind names what the bind covers.
fn bind(root: &RootDir, m: &HostMount) -> Result<()> {
    let dest = Path::new(&m.destination);
    let fail = |e: std::io::Error| {
        ManagerError::io(
            format!("mount {} on {} for cp", m.source.display(), m.destination),
            e,
        )
    };
    let point = mount_point(root, dest, m.source.is_dir()).map_err(fail)?;
    nix::mount::mount(
        Some(&m.source),
        &proc_path(point.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail(e.into()))?;
    let mounted = root.resolve(dest).map_err(fail)?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    if m.read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    nix::mount::mount(
        None::<&str>,
        &proc_path(mounted.as_fd()),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| fail(e.into()))
}

/// The mount point of a bind inside the root, made when missing.
fn mount_point(root: &RootDir, dest: &Path, dir: bool) -> std::io::Result<OwnedFd> {
    if dir {
        return berth_inroot::mkdir_all(root.as_fd(), dest, 0o755);
    }
    match root.resolve(dest) {
        Err(e) if berth_inroot::is_missing(&e) => {
            let (parent, name) = berth_inroot::parent_of(root.as_fd(), dest)?;
            let flags = rustix::fs::OFlags::CREATE
                | rustix::fs::OFlags::WRONLY
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::NOFOLLOW;
            drop(rustix::fs::openat(
                &parent,
                name,
                flags,
                rustix::fs::Mode::from_raw_mode(0o644),
            )?);
            root.resolve(dest)
        }
        r => r,
    }
}
