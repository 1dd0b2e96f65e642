//! At start-up, before any door opens: what a crash left half done is
//! finished or undone, so every record has its directory and every
//! directory its record. A `Creating` record is an interrupted create (its
//! directory, if any, holds nothing yet): both go. A `Removing` record is
//! an interrupted remove: it is finished. A `Ready` record whose directory
//! went missing gets an empty one back; a directory without a record (no
//! operation leaves one: records are written first and removed last) is
//! removed. After the containers are back, driver mounts no running
//! container uses are unmounted.

use std::fs;

use tracing::{info, warn};

use super::mount::unmount_data;
use super::record::{data_dir, volume_dir};
use super::{VolumeRecord, VolumeState, Volumes};
use crate::core::{blocking, OnCore};
use crate::error::{IoContext, Result};
use crate::store::schema;

impl Volumes {
    /// Makes records and directories agree (see the module's comment).
    pub async fn recover_volumes(&self) -> Result<()> {
        let v = self.clone();
        blocking(move || v.recover_blocking()).await
    }

    fn recover_blocking(&self) -> Result<()> {
        let _l = self.locked();
        let root = self.config().root.join("volumes");
        crate::layout::private_dir(&root)?;
        let records: Vec<VolumeRecord> = self.store().scan(schema::VOLUMES_PREFIX)?;
        for rec in &records {
            self.recover_one(rec)?;
        }
        let known: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.name.as_str()).collect();
        let entries = fs::read_dir(&root).ctx(|| format!("read {}", root.display()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !known.contains(name.as_str()) {
                warn!(volume = %name, "removing a volume directory without a record");
                unmount_data(&e.path().join("_data"))?;
                fs::remove_dir_all(e.path()).ctx(|| format!("remove {}", e.path().display()))?;
            }
        }
        Ok(())
    }

    fn recover_one(&self, rec: &VolumeRecord) -> Result<()> {
        match rec.state {
            VolumeState::Creating => {
                info!(volume = %rec.name, "undoing an interrupted volume create");
                self.finish_remove(&rec.name)?;
            }
            VolumeState::Removing => {
                info!(volume = %rec.name, "finishing an interrupted volume remove");
                self.finish_remove(&rec.name)?;
            }
            VolumeState::Ready => {
                let data = data_dir(self.config(), &rec.name);
                if !data.is_dir() {
                    warn!(volume = %rec.name, "the volume's directory was missing: made empty");
                    let _ = fs::remove_dir_all(volume_dir(self.config(), &rec.name));
                    super::service::make_dirs(&volume_dir(self.config(), &rec.name))?;
                }
            }
        }
        Ok(())
    }

    /// After the containers were recovered: driver mounts of volumes no
    /// running container uses are unmounted (their container ended while
    /// berthd was away).
    pub async fn reconcile_volume_mounts(&self) -> Result<()> {
        let v = self.clone();
        blocking(move || {
            let names: Vec<String> = v
                .store()
                .scan::<VolumeRecord>(schema::VOLUMES_PREFIX)?
                .into_iter()
                .filter(|r| r.local_mount().is_some())
                .map(|r| r.name)
                .collect();
            v.release_volumes("", "", &names);
            Ok(())
        })
        .await
    }
}
