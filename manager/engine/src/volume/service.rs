//! create, list, inspect, remove and prune: each a check, then the change
//! in the order that keeps record and directory in agreement (see
//! [`VolumeState`]).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use tracing::info;

use super::record::{check_driver, check_options, data_dir, volume_dir};
use super::view::{VolumeFilter, VolumeInspect, VolumePruneFilter, VolumePruned};
use super::{validate_name, VolumeRecord, VolumeState, Volumes};
use crate::core::{blocking, OnCore};
use crate::error::{IoContext, ManagerError, Result};
use crate::store::{now, schema};

/// What `volume create` asks.
#[derive(Clone, Debug, Default)]
pub struct NewVolume {
    /// Empty gets a random 64-hex name (an anonymous volume).
    pub name: String,
    /// "" or "local".
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A random 64-hex volume name.
fn anonymous_name() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Volumes {
    /// Creates a volume (docker volume create); an existing one of the
    /// same name is returned as it is, as docker does.
    pub async fn create_volume(&self, req: NewVolume) -> Result<VolumeRecord> {
        let v = self.clone();
        blocking(move || {
            let anonymous = req.name.is_empty();
            let name = if anonymous {
                anonymous_name()
            } else {
                req.name.clone()
            };
            let labels = Some(req.labels);
            let options = Some(req.options);
            let rec = v.ensure_volume(&name, &req.driver, labels, options, anonymous)?;
            Ok(rec.0)
        })
        .await
    }

    /// The volume `name`, created (empty) when missing; whether it was
    /// created now. Containers' `-v NAME:/path` and anonymous volumes come
    /// here at create.
    pub(crate) fn ensure_volume(
        &self,
        name: &str,
        driver: &str,
        labels: Option<BTreeMap<String, String>>,
        options: Option<BTreeMap<String, String>>,
        anonymous: bool,
    ) -> Result<(VolumeRecord, bool)> {
        // An anonymous mount point (`-v /path`) comes without a name.
        let generated;
        let name = if name.is_empty() && anonymous {
            generated = anonymous_name();
            generated.as_str()
        } else {
            name
        };
        validate_name(name)?;
        let driver = check_driver(name, driver)?;
        check_options(name, options.as_ref().unwrap_or(&BTreeMap::new()))?;
        let _l = self.locked();
        if let Some(rec) = self.volume_record(name)? {
            if rec.state != VolumeState::Ready {
                return Err(ManagerError::Conflict(format!(
                    "create {name}: volume is being removed"
                )));
            }
            return Ok((rec, false));
        }
        let rec = VolumeRecord {
            name: name.to_string(),
            driver,
            labels,
            options,
            created_at: now(),
            anonymous,
            state: VolumeState::Creating,
        };
        self.make_volume(rec).map(|r| (r, true))
    }

    /// Record (Creating, durable) → directory → record (Ready).
    fn make_volume(&self, mut rec: VolumeRecord) -> Result<VolumeRecord> {
        let key = schema::volume_key(&rec.name);
        self.store().put(&key, &rec)?;
        self.store().flush()?;
        if let Err(e) = make_dirs(&volume_dir(self.config(), &rec.name)) {
            let _ = fs::remove_dir_all(volume_dir(self.config(), &rec.name));
            let _ = self.store().apply({
                let mut b = crate::store::Batch::default();
                b.delete(&key);
                b
            });
            return Err(e);
        }
        rec.state = VolumeState::Ready;
        self.store().put(&key, &rec)?;
        self.store().flush()?;
        info!(volume = %rec.name, anonymous = rec.anonymous, "created volume");
        Ok(rec)
    }

    /// One volume's record, in whatever state.
    pub(crate) fn volume_record(&self, name: &str) -> Result<Option<VolumeRecord>> {
        self.store().get(&schema::volume_key(name))
    }

    /// A ready volume, or docker's "no such volume".
    fn ready_volume(&self, op: &str, name: &str) -> Result<VolumeRecord> {
        match self.volume_record(name)? {
            Some(r) if r.state == VolumeState::Ready => Ok(r),
            _ => Err(ManagerError::NotFound(format!(
                "{op} {name}: no such volume"
            ))),
        }
    }

    /// Every ready volume the filter keeps, sorted by name.
    pub async fn list_volumes(&self, filter: VolumeFilter) -> Result<Vec<VolumeRecord>> {
        let v = self.clone();
        blocking(move || {
            let used = v.used_names()?;
            Ok(v.ready_volumes()?
                .into_iter()
                .filter(|r| filter.matches(r, used.contains(&r.name)))
                .collect())
        })
        .await
    }

    pub(super) fn ready_volumes(&self) -> Result<Vec<VolumeRecord>> {
        Ok(self
            .store()
            .scan::<VolumeRecord>(schema::VOLUMES_PREFIX)?
            .into_iter()
            .filter(|r| r.state == VolumeState::Ready)
            .collect())
    }

    /// The names of the volumes any container references.
    fn used_names(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(self
            .users
            .volume_users()?
            .into_iter()
            .flat_map(|u| u.volumes)
            .collect())
    }

    /// A record as docker's `volume inspect` shows it.
    pub fn view(&self, r: &VolumeRecord) -> VolumeInspect {
        VolumeInspect::of(r, &data_dir(self.config(), &r.name))
    }

    /// One volume as docker's `volume inspect` shows it.
    pub async fn inspect_volume(&self, name: &str) -> Result<VolumeInspect> {
        let v = self.clone();
        let name = name.to_string();
        blocking(move || {
            let rec = v.ready_volume("get", &name)?;
            Ok(VolumeInspect::of(&rec, &data_dir(v.config(), &name)))
        })
        .await
    }

    /// Removes a volume no container references (docker volume rm).
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        let v = self.clone();
        let name = name.to_string();
        blocking(move || {
            let _l = v.locked();
            let rec = v.ready_volume("get", &name)?;
            let users = v.users_of(&name)?;
            if !users.is_empty() {
                let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
                return Err(ManagerError::Conflict(format!(
                    "remove {name}: volume is in use - [{}]",
                    ids.join(", ")
                )));
            }
            v.destroy(rec).map(|_| ())
        })
        .await
    }

    /// Record (Removing, durable) → unmount → directory → record: the
    /// caller holds the lock and checked that nothing uses it. The bytes
    /// the data held.
    pub(crate) fn destroy(&self, mut rec: VolumeRecord) -> Result<u64> {
        let key = schema::volume_key(&rec.name);
        rec.state = VolumeState::Removing;
        self.store().put(&key, &rec)?;
        self.store().flush()?;
        self.finish_remove(&rec.name)
    }

    /// The second half of a remove (also what start-up finishes).
    pub(crate) fn finish_remove(&self, name: &str) -> Result<u64> {
        let dir = volume_dir(self.config(), name);
        super::mount::unmount_data(&data_dir(self.config(), name))?;
        let size = dir_size(&dir);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ManagerError::io(format!("remove {}", dir.display()), e))
            }
            _ => {}
        }
        let mut b = crate::store::Batch::default();
        b.delete(&schema::volume_key(name));
        self.store().apply(b)?;
        self.store().flush()?;
        info!(volume = name, "removed volume");
        Ok(size)
    }

    /// Removes the unused anonymous volumes the filter keeps (docker
    /// volume prune): their names and the space their data took.
    pub async fn prune_volumes(&self, filter: VolumePruneFilter) -> Result<VolumePruned> {
        let v = self.clone();
        blocking(move || {
            let _l = v.locked();
            let used = v.used_names()?;
            let mut pruned = VolumePruned::default();
            for rec in v.ready_volumes()? {
                if !rec.anonymous || used.contains(&rec.name) || !filter.matches(&rec) {
                    continue;
                }
                let name = rec.name.clone();
                pruned.reclaimed += v.destroy(rec)?;
                pruned.deleted.push(name);
            }
            Ok(pruned)
        })
        .await
    }

    /// Removes the given volumes that no container references: anonymous
    /// ones only (`rm -v`, `run --rm`: named ones are never touched), or
    /// any (a failed create undoing the volumes it made).
    pub(crate) fn remove_unused(&self, names: &[String], only_anonymous: bool) {
        let _l = self.locked();
        let used = match self.used_names() {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the volumes in use");
                return;
            }
        };
        for name in names.iter().filter(|n| !used.contains(*n)) {
            match self.volume_record(name) {
                Ok(Some(r))
                    if (r.anonymous || !only_anonymous) && r.state == VolumeState::Ready =>
                {
                    if let Err(e) = self.destroy(r) {
                        tracing::warn!(volume = %name, error = %e, "cannot remove volume");
                    }
                }
                _ => {}
            }
        }
    }
}

/// `ROOT/volumes/<name>` (0700: only root may pass) and its `_data`
/// (0755, as docker makes it: the container's users see its top).
pub(crate) fn make_dirs(dir: &Path) -> Result<()> {
    crate::layout::private_dir(dir.parent().unwrap_or(Path::new("/")))?;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .ctx(|| format!("create {}", dir.display()))?;
    let data = dir.join("_data");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&data)
        .ctx(|| format!("create {}", data.display()))?;
    fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .ctx(|| format!("chmod {}", data.display()))
}

/// The bytes of the regular files under `dir`, each inode once (docker's
/// "reclaimed space"). Never follows symlinks or crosses into mounts.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let dev = fs::symlink_metadata(dir).map(|m| m.dev()).unwrap_or(0);
    size_under(dir, dev, &mut seen)
}

fn size_under(dir: &Path, dev: u64, seen: &mut std::collections::HashSet<u64>) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.dev() != dev {
            continue;
        }
        if m.is_dir() {
            total += size_under(&e.path(), dev, seen);
        } else if m.is_file() && seen.insert(m.ino()) {
            total += m.len();
        }
    }
    total
}
