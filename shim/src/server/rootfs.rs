//! The container's root filesystem at `<bundle>/rootfs`: the snapshotter's
//! mounts (overlay or bind) applied in order at Create, and every mount at
//! that path undone at Delete (or by `berth-shim delete` after a crash).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_proto::shim::v1::Mount;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Unmounting stops after this many stacked mounts (a loop guard).
const MAX_STACK: usize = 64;

/// A rootfs mount that failed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("cannot create the rootfs directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot mount {kind} {source_path} on {}: {errno}", target.display())]
    Mount {
        kind: String,
        source_path: String,
        target: PathBuf,
        errno: Errno,
    },
    #[error("cannot unmount {}: {errno}", target.display())]
    Unmount { target: PathBuf, errno: Errno },
}

/// fstab-style options split into mount flags and the filesystem's data.
fn options(opts: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in opts {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" | "defaults" => {}
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            _ => data.push(o.as_str()),
        }
    }
    (flags, data.join(","))
}

/// Applies `mounts` in order onto `target` (created if missing). On failure
/// what was mounted is undone.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), RootfsError> {
    fs::create_dir_all(target).map_err(|source| RootfsError::Dir {
        path: target.to_owned(),
        source,
    })?;
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), RootfsError> {
    let (mut flags, data) = options(&m.options);
    let fail = |errno| RootfsError::Mount {
        kind: m.r#type.clone(),
        source_path: m.source.clone(),
        target: target.to_owned(),
        errno,
    };
    if m.r#type == "bind" || flags.contains(MsFlags::MS_BIND) {
        flags |= MsFlags::MS_BIND;
        // A bind mount ignores MS_RDONLY until it is remounted.
        let first = flags & !MsFlags::MS_RDONLY;
        mount(
            Some(m.source.as_str()),
            target,
            None::<&str>,
            first,
            None::<&str>,
        )
        .map_err(fail)?;
        if flags.contains(MsFlags::MS_RDONLY) {
            let remount = flags | MsFlags::MS_REMOUNT;
            if let Err(e) = mount(None::<&str>, target, None::<&str>, remount, None::<&str>) {
                let _ = umount2(target, MntFlags::MNT_DETACH);
                return Err(fail(e));
            }
        }
        return Ok(());
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(
        Some(m.source.as_str()),
        target,
        Some(m.r#type.as_str()),
        flags,
        data,
    )
    .map_err(fail)
}

/// Unmounts everything stacked on `target`. Not mounted (or missing) is fine.
pub fn unmount_all(target: &Path) -> Result<(), RootfsError> {
    for _ in 0..MAX_STACK {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(errno) => {
                return Err(RootfsError::Unmount {
                    target: target.to_owned(),
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// Whether something is mounted exactly at `target` (from /proc/self/mountinfo).
pub fn is_mounted(target: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = target.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| unescape(p) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = |v: &[&str]| options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (f, d) = o(&["rbind", "ro"]);
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY);
        assert_eq!(d, "");
        let (f, d) = o(&["lowerdir=/a:/b", "upperdir=/u", "workdir=/w", "nodev"]);
        assert_eq!(f, MsFlags::MS_NODEV);
        assert_eq!(d, "lowerdir=/a:/b,upperdir=/u,workdir=/w");
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
