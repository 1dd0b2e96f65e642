//! The local driver's mounts: a volume created with `-o type=..,device=..`
//! has its device (a tmpfs, a block device, a bind of a host directory with
//! `type=none,o=bind`) mounted on its `_data` while a container that uses
//! it runs, and unmounted when the last such container stops, as docker's
//! local driver does. Containers bind `_data` into themselves, so they see
//! the mount.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tracing::{info, warn};

use super::record::data_dir;
use super::Volumes;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::mountinfo::mounts_under;

/// Whether something is mounted exactly on `path`.
fn is_mounted(path: &Path) -> bool {
    let p = path.display().to_string();
    mounts_under(path).contains(&p)
}

/// Unmounts whatever is mounted on `data` (every layer), if anything.
pub fn unmount_data(data: &Path) -> Result<()> {
    while is_mounted(data) {
        umount2(data, MntFlags::MNT_DETACH)
            .map_err(|e| ManagerError::io(format!("unmount {}", data.display()), e.into()))?;
    }
    Ok(())
}

impl Volumes {
    /// Before a container that uses them starts: each named volume with a
    /// driver mount gets it, unless it is mounted already.
    pub(crate) fn mount_volumes(&self, names: &[String]) -> Result<()> {
        let _l = self.locked();
        for name in names {
            let Some(rec) = self.volume_record(name)? else {
                continue;
            };
            let Some(m) = rec.local_mount() else { continue };
            let data = data_dir(self.config(), name);
            if is_mounted(&data) {
                continue;
            }
            let (flags, opts) = m.flags_and_data();
            let fstype = (!m.fstype.is_empty() && m.fstype != "none").then_some(m.fstype.as_str());
            let data_opt = (!opts.is_empty()).then_some(opts.as_str());
            mount(Some(m.device.as_str()), &data, fstype, flags, data_opt).map_err(|e| {
                ManagerError::FailedPrecondition(format!(
                    "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {:#x}, data: {}: {}",
                    data.display(), m.device, data.display(), flags.bits(), opts, e.desc()
                ))
            })?;
            // A bind with `ro` needs a remount to take the flag.
            if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
                let _ = mount(
                    None::<&str>,
                    &data,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                );
            }
            info!(volume = %name, "mounted volume");
        }
        Ok(())
    }

    /// After container `id` stopped: each of its volumes with a driver
    /// mount that no other running container uses is unmounted.
    pub(crate) fn release_volumes(&self, ns: &str, id: &str, names: &[String]) {
        let _l = self.locked();
        let users = match self.users.volume_users() {
            Ok(u) => u,
            Err(e) => {
                warn!(error = %e, "cannot list the containers using volumes");
                return;
            }
        };
        for name in names {
            let in_use = users
                .iter()
                .filter(|u| !(u.namespace == ns && u.id == id))
                .any(|u| u.running && u.volumes.iter().any(|v| v == name));
            let mounted =
                matches!(self.volume_record(name), Ok(Some(r)) if r.local_mount().is_some());
            if in_use || !mounted {
                continue;
            }
            match unmount_data(&data_dir(self.config(), name)) {
                Ok(()) => info!(volume = %name, "unmounted volume"),
                Err(e) => warn!(volume = %name, error = %e, "cannot unmount volume"),
            }
        }
    }
}
