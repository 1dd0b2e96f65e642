//! Reading /etc/passwd and /etc/group out of a container's root, to
//! resolve `-u`: at `create` from the freshly prepared rootfs snapshot
//! (mounted in a private directory for the read and unmounted right after),
//! so an unknown user fails before anything runs; at `exec` from the
//! running container's root.
//!
//! Both are read by descriptor inside that root ([`berth_inroot`]): the
//! image's or the running container's symlinks (a symlinked /etc, or a
//! /etc/passwd -> /x) resolve inside the root, as they do for the
//! container's own processes (docker and runc read them the same way), and
//! no rename racing the read can point it at a host file. What is not a
//! regular file there counts as missing.

use std::fs;
use std::path::Path;

use berth_inroot::RootDir;
use berth_snapshotter::{mount_all_nodev_nosuid, unmount, Mount};
use tracing::warn;

use crate::error::{IoContext, Result};

/// The largest user database read (a bigger one is not a real passwd file).
const MAX_SIZE: u64 = 4 << 20;

/// Unmounts and removes the temporary mount point.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if let Err(e) = unmount(self.0) {
            warn!(dir = %self.0.display(), error = %e, "cannot unmount a rootfs mounted to read its users");
        }
        let _ = fs::remove_dir(self.0);
    }
}

/// The contents of /etc/passwd and /etc/group ("" when absent) of the
/// rootfs `mounts` describe; `tmp` is a free path to mount them on.
pub fn read(mounts: &[Mount], tmp: &Path) -> Result<(String, String)> {
    with_rootfs(mounts, tmp, read_users)
}

/// Runs `f` on the rootfs `mounts` describe, opened as a [`RootDir`]:
/// mounted on `tmp` (nodev, nosuid) for the call and unmounted after.
pub fn with_rootfs<T>(
    mounts: &[Mount],
    tmp: &Path,
    f: impl FnOnce(&RootDir) -> Result<T>,
) -> Result<T> {
    // A plain directory (the native snapshotter) needs no mount.
    if let [m] = mounts {
        if m.fstype == "bind" {
            let root = Path::new(&m.source);
            let dir = RootDir::open(root).ctx(|| format!("open the rootfs {}", root.display()))?;
            return f(&dir);
        }
    }
    fs::create_dir_all(tmp).ctx(|| format!("create {}", tmp.display()))?;
    // nodev,nosuid: the image's device nodes and setuid files are inert in
    // berthd's own view of it.
    if let Err(e) = mount_all_nodev_nosuid(mounts, tmp) {
        let _ = fs::remove_dir(tmp);
        return Err(e.into());
    }
    let _m = Mounted(tmp);
    // Declared after the guard: its descriptor is closed before the unmount.
    let dir = RootDir::open(tmp).ctx(|| format!("open the rootfs mounted on {}", tmp.display()))?;
    f(&dir)
}

/// The contents of /etc/passwd and /etc/group ("" when absent) in `root`.
pub fn read_users(root: &RootDir) -> Result<(String, String)> {
    Ok((
        read_file(root, "etc/passwd")?,
        read_file(root, "etc/group")?,
    ))
}

/// Reads `rel` resolved inside `root`; "" when it is missing (a dangling
/// or looping symlink included) or not a regular file.
pub fn read_file(root: &RootDir, rel: &str) -> Result<String> {
    let bytes = root
        .read_regular(Path::new(rel), MAX_SIZE)
        .ctx(|| format!("read the container's /{rel}"))?;
    Ok(bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root(p: &Path) -> RootDir {
        RootDir::open(p).unwrap()
    }

    #[test]
    fn reads_files_inside_the_root_and_never_the_hosts() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir(r.join("etc")).unwrap();
        fs::write(r.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("/etc/hostname", r.join("etc/group")).unwrap();
        assert_eq!(
            read_file(&root(r), "etc/passwd").unwrap(),
            "root:x:0:0::/root:/bin/sh\n"
        );
        // The link is the root's /etc/hostname, not the host's: absent here...
        assert_eq!(read_file(&root(r), "etc/group").unwrap(), "");
        // ... and read once the image has one.
        fs::write(r.join("etc/hostname"), "staff:x:50:\n").unwrap();
        assert_eq!(read_file(&root(r), "etc/group").unwrap(), "staff:x:50:\n");
        assert_eq!(read_file(&root(r), "etc/shadow").unwrap(), "");
        // Not a regular file: missing.
        fs::create_dir(r.join("etc/dir")).unwrap();
        assert_eq!(read_file(&root(r), "etc/dir").unwrap(), "");

        // A /etc that points at a host directory, absolute, relative or
        // climbing with `..`, stays inside the root.
        let host = tempfile::tempdir().unwrap();
        fs::create_dir(host.path().join("etc")).unwrap();
        fs::write(
            host.path().join("etc/passwd"),
            "alice:x:4242:4242::/:/bin/sh\n",
        )
        .unwrap();
        let host_etc = host.path().join("etc");
        let host_str = host_etc.to_str().unwrap();
        for target in [
            host_str.to_string(),
            format!("/../../../../../../..{host_str}"),
            format!("{}{}", "../".repeat(20), host_str.trim_start_matches('/')),
        ] {
            let d2 = tempfile::tempdir().unwrap();
            symlink(&target, d2.path().join("etc")).unwrap();
            assert_eq!(
                read_file(&root(d2.path()), "etc/passwd").unwrap(),
                "",
                "{target}"
            );
            // The same path planted inside the root is what is read.
            let inside = d2.path().join(host_str.trim_start_matches('/'));
            fs::create_dir_all(&inside).unwrap();
            fs::write(inside.join("passwd"), "alice:x:1234:1234::/:/bin/sh\n").unwrap();
            assert_eq!(
                read_file(&root(d2.path()), "etc/passwd").unwrap(),
                "alice:x:1234:1234::/:/bin/sh\n",
                "{target}"
            );
        }

        // A /etc that is a link to /etc is a loop inside the root: missing.
        let d3 = tempfile::tempdir().unwrap();
        symlink("/etc", d3.path().join("etc")).unwrap();
        assert_eq!(read_file(&root(d3.path()), "etc/passwd").unwrap(), "");

        // The native snapshotter's bind mount is read in place.
        let m = Mount {
            fstype: "bind".into(),
            source: r.display().to_string(),
            options: vec!["rbind".into(), "rw".into()],
        };
        let (p, g) = read(&[m], &r.join("unused")).unwrap();
        assert!(p.starts_with("root:"));
        assert_eq!(g, "staff:x:50:\n");
        assert!(!r.join("unused").exists());
    }
}
