//! Reading the image's /etc/passwd and /etc/group out of a container's
//! freshly prepared rootfs snapshot, so `create` resolves `-u` (and fails
//! on an unknown user) before anything runs. The snapshot is mounted in a
//! private directory for the read and unmounted right after; a file that is
//! a symlink, or that a symlinked parent would reach, counts as missing:
//! image paths are never followed on the host.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use berth_snapshotter::safe_path::safe_join;
use berth_snapshotter::{mount_all, unmount, Mount};
use tracing::warn;

use crate::error::{IoContext, ManagerError, Result};

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
    // A plain directory (the native snapshotter) needs no mount.
    if let [m] = mounts {
        if m.fstype == "bind" {
            let root = Path::new(&m.source);
            return Ok((
                read_file(root, "etc/passwd")?,
                read_file(root, "etc/group")?,
            ));
        }
    }
    fs::create_dir_all(tmp).ctx(|| format!("create {}", tmp.display()))?;
    if let Err(e) = mount_all(mounts, tmp) {
        let _ = fs::remove_dir(tmp);
        return Err(e.into());
    }
    let _m = Mounted(tmp);
    Ok((read_file(tmp, "etc/passwd")?, read_file(tmp, "etc/group")?))
}

/// Reads `root/rel` without following symlinks; "" when it is missing, a
/// symlink, or not a regular file.
pub fn read_file(root: &Path, rel: &str) -> Result<String> {
    let Ok(path) = safe_join(root, Path::new(rel)) else {
        return Ok(String::new());
    };
    let f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ELOOP)
                || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Ok(String::new())
        }
        Err(e) => return Err(ManagerError::io(format!("open the image's /{rel}"), e)),
    };
    if !f.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Ok(String::new());
    }
    let mut buf = Vec::new();
    f.take(MAX_SIZE)
        .read_to_end(&mut buf)
        .ctx(|| format!("read the image's /{rel}"))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_files_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/group")).unwrap();
        assert_eq!(
            read_file(root, "etc/passwd").unwrap(),
            "root:x:0:0::/root:/bin/sh\n"
        );
        // A symlink is not followed (it would read the host's file).
        assert_eq!(read_file(root, "etc/group").unwrap(), "");
        assert_eq!(read_file(root, "etc/shadow").unwrap(), "");

        // A symlinked /etc is refused too.
        let d2 = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", d2.path().join("etc")).unwrap();
        assert_eq!(read_file(d2.path(), "etc/passwd").unwrap(), "");

        // The native snapshotter's bind mount is read in place.
        let m = Mount {
            fstype: "bind".into(),
            source: root.display().to_string(),
            options: vec!["rbind".into(), "rw".into()],
        };
        let (p, g) = read(&[m], &root.join("unused")).unwrap();
        assert!(p.starts_with("root:"));
        assert_eq!(g, "");
        assert!(!root.join("unused").exists());
    }
}
