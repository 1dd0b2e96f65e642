//! The bookkeeping both backends share: keys → records → `ROOT/snapshots/<id>/`, the lifecycle
//! rules of the `Snapshotter` trait, crash-safe ordering, and disk usage. A backend supplies
//! only what differs: how a new snapshot directory is filled and which mounts present it.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::IoContext;
use crate::metadata::{MetaStore, Record};
use crate::{Info, Kind, Labels, Mount, SnapshotError, Usage};

/// What a backend does differently. `dir` is `ROOT/snapshots/<id>`; `parents` are the parent
/// snapshots' directories, nearest first.
pub(crate) trait Driver: Send + Sync {
    const NAME: &'static str;
    /// Fills the freshly created, empty `dir` of a new active snapshot or view.
    fn create(&self, dir: &Path, kind: Kind, parents: &[PathBuf]) -> Result<(), SnapshotError>;
    /// The mounts presenting an active snapshot or view.
    fn mounts(&self, dir: &Path, kind: Kind, parents: &[PathBuf]) -> Vec<Mount>;
}

pub(crate) struct Layered<D> {
    root: PathBuf,
    snapshots: PathBuf,
    driver: D,
    // The mutex guards the metadata store: every check-then-act runs under it.
    store: Mutex<MetaStore>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The directory holding a snapshot's file system (upper dir / full copy).
pub(crate) fn fs_dir(dir: &Path) -> PathBuf {
    dir.join("fs")
}

impl<D: Driver> Layered<D> {
    pub fn open(root: &Path, driver: D) -> Result<Self, SnapshotError> {
        let snapshots = root.join("snapshots");
        fs::create_dir_all(&snapshots).ctx(|| format!("create {}", snapshots.display()))?;
        let store = MetaStore::open(root)?;
        let this = Layered {
            root: root.to_path_buf(),
            snapshots,
            driver,
            store: Mutex::new(store),
        };
        this.remove_orphans()?;
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, MetaStore> {
        // A panic while holding the lock cannot leave the sled store half-written.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.snapshots.join(id.to_string())
    }

    /// Deletes snapshot directories no record names: left by a crash between creating a
    /// directory and recording it, or between deleting a record and its directory.
    fn remove_orphans(&self) -> Result<(), SnapshotError> {
        let store = self.lock();
        let ids: HashSet<String> = store
            .all()?
            .into_iter()
            .map(|(_, r)| r.id.to_string())
            .collect();
        let entries =
            fs::read_dir(&self.snapshots).ctx(|| format!("list {}", self.snapshots.display()))?;
        for entry in entries {
            let entry = entry.ctx(|| format!("list {}", self.snapshots.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !ids.contains(&name) {
                tracing::info!(dir = %entry.path().display(), "removing orphaned snapshot directory");
                remove_path(&entry.path())?;
            }
        }
        Ok(())
    }

    fn get(store: &MetaStore, key: &str) -> Result<Record, SnapshotError> {
        store.get(key)?.ok_or_else(|| SnapshotError::not_found(key))
    }

    /// The directories of `parent` and its ancestors, nearest first.
    fn chain(
        &self,
        store: &MetaStore,
        parent: Option<&str>,
    ) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut dirs = Vec::new();
        let mut next = parent.map(str::to_owned);
        while let Some(name) = next {
            let rec = store
                .get(&name)?
                .ok_or_else(|| SnapshotError::CorruptMetadata {
                    key: name.clone(),
                    reason: "a snapshot's parent is missing".into(),
                })?;
            dirs.push(self.dir(rec.id));
            next = rec.parent;
            if dirs.len() > 10_000 {
                return Err(SnapshotError::CorruptMetadata {
                    key: name,
                    reason: "parent chain loops".into(),
                });
            }
        }
        Ok(dirs)
    }

    fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        if key.is_empty() {
            return Err(SnapshotError::InvalidArgument {
                reason: "snapshot key must not be empty".into(),
            });
        }
        let store = self.lock();
        if store.get(key)?.is_some() {
            return Err(SnapshotError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        if let Some(p) = parent {
            let prec = store
                .get(p)?
                .ok_or_else(|| SnapshotError::NotFound { key: p.to_owned() })?;
            if prec.kind != Kind::Committed {
                return Err(SnapshotError::precondition(
                    p,
                    format!(
                        "cannot be the parent of {key:?}: it is {}, not committed",
                        prec.kind
                    ),
                ));
            }
        }
        let parents = self.chain(&store, parent)?;
        let id = store.next_id()?;
        let dir = self.dir(id);
        // Directory first, record second: a crash in between leaves an orphan that the next
        // open deletes, never a record without its directory.
        let made = fs::create_dir(&dir)
            .ctx(|| format!("create snapshot directory {}", dir.display()))
            .and_then(|()| self.driver.create(&dir, kind, &parents));
        if let Err(e) = made {
            let _ = remove_path(&dir);
            return Err(e);
        }
        let t = now();
        let rec = Record {
            id,
            kind,
            parent: parent.map(str::to_owned),
            labels,
            created: t,
            updated: t,
        };
        if let Err(e) = store.insert(key, &rec) {
            let _ = remove_path(&dir);
            return Err(e);
        }
        Ok(self.driver.mounts(&dir, kind, &parents))
    }
}

impl<D: Driver> crate::Snapshotter for Layered<D> {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        let store = self.lock();
        Ok(Self::get(&store, key)?.info(key))
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let dir = {
            let store = self.lock();
            self.dir(Self::get(&store, key)?.id)
        };
        disk_usage(&fs_dir(&dir))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let store = self.lock();
        let rec = Self::get(&store, key)?;
        if rec.kind == Kind::Committed {
            return Err(SnapshotError::precondition(
                key,
                "is committed and has no mounts; create a view of it instead",
            ));
        }
        let parents = self.chain(&store, rec.parent.as_deref())?;
        Ok(self.driver.mounts(&self.dir(rec.id), rec.kind, &parents))
    }

    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        self.create(Kind::Active, key, parent, labels)
    }

    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        self.create(Kind::View, key, parent, labels)
    }

    fn commit(&self, name: &str, key: &str, labels: Labels) -> Result<(), SnapshotError> {
        if name.is_empty() {
            return Err(SnapshotError::InvalidArgument {
                reason: format!("commit of {key:?}: snapshot name must not be empty"),
            });
        }
        let store = self.lock();
        let mut rec = Self::get(&store, key)?;
        if rec.kind != Kind::Active {
            return Err(SnapshotError::precondition(
                key,
                format!("cannot be committed: it is a {}, not active", rec.kind),
            ));
        }
        if store.get(name)?.is_some() {
            return Err(SnapshotError::AlreadyExists {
                key: name.to_owned(),
            });
        }
        rec.kind = Kind::Committed;
        rec.labels = labels;
        rec.updated = now();
        store.rename(key, name, &rec)
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let store = self.lock();
        let rec = Self::get(&store, key)?;
        let children: Vec<String> = store
            .all()?
            .into_iter()
            .filter(|(_, r)| r.parent.as_deref() == Some(key))
            .map(|(k, _)| k)
            .collect();
        if !children.is_empty() {
            return Err(SnapshotError::precondition(
                key,
                format!("cannot be removed: it is the parent of {children:?}"),
            ));
        }
        // Record first, directory second (see `create`).
        store.remove(key)?;
        let dir = self.dir(rec.id);
        if let Err(e) = remove_path(&dir) {
            tracing::warn!(key, error = %e, "snapshot removed but its directory was not; it will be deleted at the next open");
        }
        Ok(())
    }

    fn walk(
        &self,
        f: &mut dyn FnMut(&Info) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        // Collect first so that `f` may call back into the snapshotter without deadlocking.
        let infos: Vec<Info> = self.lock().all()?.iter().map(|(k, r)| r.info(k)).collect();
        for info in &infos {
            f(info)?;
        }
        Ok(())
    }

    fn root(&self) -> &Path {
        &self.root
    }
}

/// Deletes a file or a whole tree, never following symlinks; a missing path is fine.
pub(crate) fn remove_path(path: &Path) -> Result<(), SnapshotError> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    res.ctx(|| format!("remove {}", path.display()))
}

/// `du`-style usage of a tree: allocated bytes and inodes, hard links counted once.
pub(crate) fn disk_usage(root: &Path) -> Result<Usage, SnapshotError> {
    let mut seen = HashSet::new();
    let mut usage = Usage::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let md = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SnapshotError::io(format!("stat {}", path.display()), e)),
        };
        if seen.insert((md.dev(), md.ino())) {
            usage.inodes += 1;
            usage.size += md.blocks() * 512;
        }
        if md.is_dir() {
            for entry in fs::read_dir(&path).ctx(|| format!("list {}", path.display()))? {
                stack.push(entry.ctx(|| format!("list {}", path.display()))?.path());
            }
        }
    }
    Ok(usage)
}
