//! `rm`: refuse a running container unless forced (then kill it and wait
//! for its run to be cleaned up), then remove the record, the snapshot and
//! the container's directory. Nothing is left: the record goes first, so a
//! snapshot that cannot be removed now is unreferenced and garbage
//! collection takes it.

use std::sync::Arc;

use tracing::{info, warn};

use super::record::{container_dir, ContainerRecord};
use super::registry::Handle;
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::store::{schema, Batch};

impl Containers {
    /// Removes a container; `force` kills a running one first.
    pub async fn remove_container(&self, ns: &str, s: &str, force: bool) -> Result<()> {
        self.remove_container_volumes(ns, s, force, false).await
    }

    /// Removes a container; `force` kills a running one first, `volumes`
    /// removes its anonymous volumes no other container references
    /// (docker rm -v).
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn remove_container_volumes(
        &self,
        ns: &str,
        s: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        self.locked_op(ns, s, move |engine, ns, id, handle| async move {
            let rec = engine.container_record(&ns, &id).ok().flatten();
            engine
                .remove_locked(&ns, &id, &handle, force, volumes)
                .await?;
            engine.publish_container_rec(&ns, &id, crate::events::Action::Destroy, rec);
            Ok(())
        })
        .await
    }

    /// Removes the container; the caller holds its op lock.
    pub(crate) async fn remove_locked(
        &self,
        ns: &str,
        id: &str,
        handle: &Arc<Handle>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let rec = self
            .container_record(ns, id)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {id}")))?;
        if rec.state.running() {
            if !force {
                return Err(ManagerError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            match handle.task() {
                Some(task) => self.kill_and_wait(ns, id, handle, &task).await?,
                None => {
                    // Recorded running without a live task: clean up after
                    // whatever shim is left.
                    if let Some(t) = &rec.task {
                        let _ = self.reap_dead_shim(ns, id, &t.bundle, &t.address).await;
                    }
                    self.teardown(ns, id, None).await;
                }
            }
        } else if handle.task().is_some() {
            handle.wait_task_gone().await;
        } else if let Some(t) = &rec.task {
            // A task record without a live task (a start interrupted by a
            // crash that recovery could not finish).
            let _ = self.reap_dead_shim(ns, id, &t.bundle, &t.address).await;
            self.teardown(ns, id, None).await;
        }

        let mut b = Batch::default();
        b.delete(&schema::container_key(ns, id));
        b.delete(&schema::snapshot_key(
            ns,
            &rec.snapshotter,
            &rec.snapshot_key,
        ));
        self.store().apply(b)?;
        self.remove_files(ns, &rec).await;
        if volumes {
            self.remove_anonymous_volumes(&rec).await;
        }
        // "removed" waiters wake once everything is gone.
        handle.removed();
        self.registry().forget(ns, id);
        info!(namespace = ns, id, name = %rec.name, "removed container");
        Ok(())
    }

    /// `rm -v`, `run --rm`: the removed container's anonymous volumes
    /// that no other container references.
    async fn remove_anonymous_volumes(&self, rec: &ContainerRecord) {
        let names = rec.volume_names();
        if names.is_empty() {
            return;
        }
        let volumes = self.volumes.clone();
        let _ = crate::core::blocking(move || {
            volumes.remove_unused(&names, true);
            Ok(())
        })
        .await;
    }

    /// Removes a removed container's snapshot and directory; what cannot
    /// be removed is logged (garbage collection takes the snapshot later).
    async fn remove_files(&self, ns: &str, rec: &ContainerRecord) {
        let engine = self.clone();
        let dir = container_dir(self.config(), ns, &rec.id);
        let key = rec.snapshot_key.clone();
        let same_snapshotter = rec.snapshotter == self.snapshotter_name();
        let cleaned = tokio::task::spawn_blocking(move || {
            let _gc = engine.op_guard();
            if same_snapshotter {
                match engine.snapshotter().remove(&key) {
                    Ok(()) => {}
                    Err(e) if e.kind() == berth_snapshotter::ErrorKind::NotFound => {}
                    Err(e) => warn!(key, error = %e, "cannot remove the container's snapshot (garbage collection will)"),
                }
            }
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(dir = %dir.display(), error = %e, "cannot remove the container's directory");
                }
            }
        })
        .await;
        if let Err(e) = cleaned {
            warn!(error = %e, "cleanup task failed");
        }
    }
}
