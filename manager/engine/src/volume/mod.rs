//! The volumes service: docker's local volumes, their records (daemon-wide,
//! `v1/volumes/<name>`) and their data under `ROOT/volumes/<name>/_data`,
//! and the local driver's mounts (`-o type=..,device=..,o=..`), made when a
//! container that uses the volume starts and unmade when no running
//! container uses it. Containers sit above it: which ones reference a
//! volume it asks through [`VolumeUsers`], which the containers service
//! gives it at open (as the networks ask their `Attachments`).

pub mod copy;
pub mod mount;
pub mod record;
pub mod recover;
pub mod service;
pub mod usage;
pub mod view;

use std::sync::{Arc, Mutex};

use crate::core::{Core, OnCore};
use crate::error::Result;

pub use record::{validate_name, VolumeRecord, VolumeState, LOCAL};
pub use service::NewVolume;
pub use view::{VolumeFilter, VolumeInspect, VolumePruneFilter, VolumePruned};

/// A container as the volumes see it: which volumes it references.
#[derive(Clone, Debug, Default)]
pub struct VolumeUser {
    pub namespace: String,
    pub id: String,
    pub running: bool,
    /// The names of the volumes it mounts.
    pub volumes: Vec<String>,
}

/// What the volumes service asks of the containers above it.
pub trait VolumeUsers: Send + Sync {
    /// Every container of every namespace, running or not.
    fn volume_users(&self) -> Result<Vec<VolumeUser>>;
}

/// The volumes service, cheap to clone.
#[derive(Clone)]
pub struct Volumes {
    core: Arc<Core>,
    users: Arc<dyn VolumeUsers>,
    /// Serializes what changes records and directories (create, remove,
    /// prune, mount, unmount), so a check and the change it allows are one
    /// step for other volume operations.
    lock: Arc<Mutex<()>>,
}

impl OnCore for Volumes {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Volumes {
    pub(crate) fn new(core: Arc<Core>, users: Arc<dyn VolumeUsers>) -> Volumes {
        Volumes {
            core,
            users,
            lock: Arc::new(Mutex::new(())),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The containers referencing `name`: (namespace, id, running).
    fn users_of(&self, name: &str) -> Result<Vec<VolumeUser>> {
        Ok(self
            .users
            .volume_users()?
            .into_iter()
            .filter(|u| u.volumes.iter().any(|v| v == name))
            .collect())
    }
}
