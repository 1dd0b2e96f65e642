//! The `Mount` description a snapshotter hands out, and the calls that perform it.
//!
//! This is the only module allowed `unsafe`; today the `nix` wrappers make it unnecessary.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use crate::SnapshotError;

/// One mount(2) call: `fstype` is "bind" (source = a directory, options
/// `["rbind", "rw"|"ro"]`) or "overlay" (source "overlay", options
/// `["lowerdir=a:b", "upperdir=..", "workdir=.."]`, or only `lowerdir` for a read-only view).
///
/// Overlay options are passed to the kernel as one comma-joined data string, which is limited to
/// a page (4096 bytes); chains deeper than about 40 layers under a long root can exceed it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

impl Mount {
    /// Mounts this on `target` (which must exist).
    pub fn mount(&self, target: &Path) -> Result<(), SnapshotError> {
        let (flags, data) = parse_options(&self.options);
        let fail = |source| SnapshotError::Mount {
            op: format!("mount {} {}", self.fstype, self.source),
            target: target.to_path_buf(),
            source,
        };
        if self.fstype == "bind" || flags.contains(MsFlags::MS_BIND) {
            let bind = flags & (MsFlags::MS_BIND | MsFlags::MS_REC) | MsFlags::MS_BIND;
            nix::mount::mount(
                Some(self.source.as_str()),
                target,
                None::<&str>,
                bind,
                None::<&str>,
            )
            .map_err(fail)?;
            // A bind mount ignores every flag but MS_REC; the rest needs a remount.
            let rest = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
            if !rest.is_empty() {
                let remount = rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
                if let Err(e) =
                    nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
                {
                    let _ = unmount(target);
                    return Err(fail(e));
                }
            }
            return Ok(());
        }
        let data = data.join(",");
        nix::mount::mount(
            Some(self.source.as_str()),
            target,
            Some(self.fstype.as_str()),
            flags,
            Some(data.as_str()),
        )
        .map_err(fail)
    }

    /// True for an overlay mount that has an upper dir (i.e. a writable overlay).
    pub(crate) fn upperdir(&self) -> Option<&str> {
        if self.fstype != "overlay" {
            return None;
        }
        self.options
            .iter()
            .find_map(|o| o.strip_prefix("upperdir="))
    }

    /// The overlay's lower dirs, nearest first.
    pub(crate) fn lowerdirs(&self) -> Vec<&str> {
        self.options
            .iter()
            .filter_map(|o| o.strip_prefix("lowerdir="))
            .flat_map(|l| l.split(':'))
            .filter(|l| !l.is_empty())
            .collect()
    }

    pub(crate) fn is_readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Mounts every entry on `target` in order; on failure, undoes what was mounted.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = m.mount(target) {
            for _ in 0..i {
                let _ = unmount(target);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Unmounts `target`. A busy mount is detached lazily; a target that is not a mount point
/// (EINVAL) is not an error.
pub fn unmount(target: &Path) -> Result<(), SnapshotError> {
    let fail = |source| SnapshotError::Mount {
        op: "unmount".to_owned(),
        target: target.to_path_buf(),
        source,
    };
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::Error::EINVAL) => Ok(()),
        Err(nix::Error::EBUSY) => match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) => Ok(()),
            Err(e) => Err(fail(e)),
        },
        Err(e) => Err(fail(e)),
    }
}

/// Splits mount options into mount(2) flags and file-system data.
fn parse_options(options: &[String]) -> (MsFlags, Vec<&str>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "defaults" | "async" | "suid" | "dev" | "exec" => continue,
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) - clear;
    }
    (flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["ro", "lowerdir=/a:/b", "nosuid"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = parse_options(&opts);
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(data, vec!["lowerdir=/a:/b"]);
        let m = Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: opts,
        };
        assert_eq!(m.lowerdirs(), vec!["/a", "/b"]);
        assert!(m.upperdir().is_none());
        assert!(m.is_readonly());
    }
}
