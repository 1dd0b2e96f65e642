//! A container's volumes: what the volumes service learns of containers
//! (read from their records, so it never imports the container model), and
//! the mount points create resolves — `--volumes-from` first, then `-v`
//! and `--mount` over them, then anonymous volumes (`-v /path`, the image's
//! VOLUMEs) where nothing is mounted yet, as docker orders them — the
//! volumes made for them, and the image's content copied up into new ones.

use std::path::Path;
use std::sync::Arc;

use tracing::warn;

use super::endpoint::attachments::all_containers;
use super::mounts::{parse_volume_flag, parse_volumes_from, MountPoint, MountType, VolumeFlag};
use super::record::{ContainerConfig, ContainerRecord, HostConfig};
use crate::container::Containers;
use crate::core::{blocking, Core, OnCore};
use crate::error::{ManagerError, Result};
use crate::volume::record::data_dir;
use crate::volume::{VolumeUser, VolumeUsers, LOCAL};

/// Every container's volumes, from the store.
pub struct ContainerVolumeUsers {
    core: Arc<Core>,
}

impl ContainerVolumeUsers {
    pub(crate) fn new(core: Arc<Core>) -> ContainerVolumeUsers {
        ContainerVolumeUsers { core }
    }
}

impl VolumeUsers for ContainerVolumeUsers {
    fn volume_users(&self) -> Result<Vec<VolumeUser>> {
        Ok(all_containers(&self.core)?
            .into_iter()
            .map(|(namespace, c)| VolumeUser {
                namespace,
                running: c.state.running(),
                volumes: c.volume_names(),
                id: c.id,
            })
            .collect())
    }
}

/// Adds `m`; at a destination already taken, `replace` decides between
/// taking its place and docker's "Duplicate mount point".
fn put(points: &mut Vec<MountPoint>, m: MountPoint, replace: bool) -> Result<()> {
    match points.iter().position(|p| p.destination == m.destination) {
        Some(i) if replace => points[i] = m,
        Some(_) => {
            return Err(ManagerError::InvalidArgument(format!(
                "Duplicate mount point: {}",
                m.destination
            )))
        }
        None => points.push(m),
    }
    Ok(())
}

impl Containers {
    /// The container's mount points, checked; nothing is made yet (the
    /// volumes' names and sources are filled in by [`Self::make_volumes`]).
    pub(crate) fn plan_mounts(
        &self,
        ns: &str,
        config: &ContainerConfig,
        host: &HostConfig,
    ) -> Result<Vec<MountPoint>> {
        let mut points = self.volumes_from(ns, &host.volumes_from)?;
        let first_own = points.len();
        let inherited: Vec<String> = points.iter().map(|p| p.destination.clone()).collect();
        for b in &host.binds {
            if let VolumeFlag::Mount(m) = parse_volume_flag(&b.to_string())? {
                let replace = inherited.contains(&m.destination);
                put(&mut points, m, replace)?;
            }
        }
        for m in &host.mounts {
            let replace = inherited.contains(&m.destination)
                && !points[first_own..]
                    .iter()
                    .any(|p| p.destination == m.destination);
            put(&mut points, m.clone(), replace)?;
        }
        for d in &config.volumes {
            if !points.iter().any(|p| p.destination == *d) {
                points.push(MountPoint {
                    kind: MountType::Volume,
                    destination: d.clone(),
                    rw: true,
                    copy_data: true,
                    anonymous: true,
                    ..Default::default()
                });
            }
        }
        if let Some(t) = host
            .tmpfs
            .keys()
            .find(|t| points.iter().any(|p| &p.destination == *t))
        {
            return Err(ManagerError::InvalidArgument(format!(
                "Duplicate mount point: {t}"
            )));
        }
        Ok(points)
    }

    /// `--volumes-from`: each container's mount points, ro/rw as asked.
    fn volumes_from(&self, ns: &str, specs: &[String]) -> Result<Vec<MountPoint>> {
        let mut points: Vec<MountPoint> = Vec::new();
        for spec in specs {
            let (name, rw) = parse_volumes_from(spec)?;
            let from = self.lookup_container(ns, &name)?;
            for mut m in from.mounts {
                if let Some(rw) = rw {
                    m.rw = rw;
                    m.mode = if rw { "rw" } else { "ro" }.into();
                }
                // Its volumes exist already: nothing is copied into them.
                m.anonymous = false;
                m.copy_data = false;
                put(&mut points, m, true)?;
            }
        }
        Ok(points)
    }

    /// Makes (or finds) each volume the mount points name, fills in their
    /// names and sources; the names of the volumes made now (for the
    /// caller to remove if the create fails later).
    pub(crate) fn make_volumes(&self, points: &mut [MountPoint]) -> Result<Vec<String>> {
        let mut created = Vec::new();
        for m in points.iter_mut().filter(|m| m.kind == MountType::Volume) {
            if !m.source.is_empty() {
                continue; // from --volumes-from: exists
            }
            let opt = |map: &std::collections::BTreeMap<String, String>| {
                (!map.is_empty()).then(|| map.clone())
            };
            let made = self.volumes.ensure_volume(
                &m.name,
                &m.driver,
                opt(&m.volume_labels),
                opt(&m.volume_options),
                m.anonymous,
            );
            let (rec, new) = match made {
                Ok(r) => r,
                Err(e) => {
                    self.volumes.remove_unused(&created, false);
                    return Err(e);
                }
            };
            if new {
                created.push(rec.name.clone());
            }
            m.name = rec.name.clone();
            m.driver = LOCAL.to_string();
            m.source = data_dir(self.config(), &rec.name).display().to_string();
            m.volume_labels.clear();
            m.volume_options.clear();
        }
        Ok(created)
    }

    /// Copy-up: each volume that asks for it and is still empty gets the
    /// image's content at its destination (read inside the prepared
    /// rootfs). Volumes with a driver mount are skipped: their data is the
    /// device's.
    pub(crate) fn copy_up_volumes(
        &self,
        id: &str,
        rootfs: &[berth_snapshotter::Mount],
        points: &[MountPoint],
    ) -> Result<()> {
        let todo: Vec<&MountPoint> = points
            .iter()
            .filter(|m| m.kind == MountType::Volume && m.copy_data)
            .filter(|m| {
                matches!(self.volumes.volume_record(&m.name), Ok(Some(r)) if r.local_mount().is_none())
            })
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let tmp = self.config().root.join("tmp").join(format!("copyup-{id}"));
        super::userdb::with_rootfs(rootfs, &tmp, |root| {
            for m in &todo {
                let rel = m.destination.trim_start_matches('/');
                let fd = match root.resolve(Path::new(rel)) {
                    Ok(fd) => fd,
                    Err(e) if berth_inroot::is_missing(&e) => continue,
                    Err(e) => {
                        warn!(destination = %m.destination, error = %e, "cannot open the image's directory to copy up");
                        continue;
                    }
                };
                crate::volume::copy::copy_up(&fd, Path::new(&m.source))?;
            }
            Ok(())
        })
    }
}

impl Containers {
    /// Before a run: the driver mounts of the container's volumes.
    pub(crate) async fn mount_volumes(&self, rec: &ContainerRecord) -> Result<()> {
        let names = rec.volume_names();
        if names.is_empty() {
            return Ok(());
        }
        let volumes = self.volumes.clone();
        blocking(move || volumes.mount_volumes(&names)).await
    }

    /// After a run: driver mounts no other running container uses go.
    pub(crate) async fn release_volumes(&self, ns: &str, id: &str) {
        let Ok(Some(rec)) = self.container_record(ns, id) else {
            return;
        };
        let names = rec.volume_names();
        if names.is_empty() {
            return;
        }
        let volumes = self.volumes.clone();
        let (ns, id) = (ns.to_string(), id.to_string());
        let _ = blocking(move || {
            volumes.release_volumes(&ns, &id, &names);
            Ok(())
        })
        .await;
    }
}
