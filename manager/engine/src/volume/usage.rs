//! What each volume takes on disk and how many containers reference it
//! (`system df`'s Local Volumes).

use std::collections::BTreeMap;

use super::record::data_dir;
use super::service::dir_size;
use super::{VolumeRecord, Volumes};
use crate::core::{blocking, OnCore};
use crate::error::Result;

/// One ready volume, its users and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSize {
    pub record: VolumeRecord,
    /// Containers (of every namespace, running or not) that reference it.
    pub links: u64,
    /// Bytes of the regular files of its data, each inode once.
    pub size: u64,
}

impl Volumes {
    /// Every ready volume with its links and size, sorted by name.
    pub async fn volume_sizes(&self) -> Result<Vec<VolumeSize>> {
        let v = self.clone();
        blocking(move || {
            let mut links: BTreeMap<String, u64> = BTreeMap::new();
            for u in v.users.volume_users()? {
                for name in u.volumes {
                    *links.entry(name).or_default() += 1;
                }
            }
            Ok(v.ready_volumes()?
                .into_iter()
                .map(|record| VolumeSize {
                    links: links.get(&record.name).copied().unwrap_or(0),
                    size: dir_size(&data_dir(v.config(), &record.name)),
                    record,
                })
                .collect())
        })
        .await
    }
}
