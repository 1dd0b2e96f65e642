//! The bookkeeping both backends share: keys → records → `ROOT/snapshots/<id>/`, the lifecycle
//! rules of the `Snapshotter` trait, crash-safe ordering, and disk usage. A backend supplies
//! only what differs: how a new snapshot directory is filled and which mounts present it.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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
        private_dir(&snapshots)?;
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
        // PRIVATE_MODE needs no chmod after: the umask can only take more bits off.
        let made = fs::DirBuilder::new()
            .mode(PRIVATE_MODE)
            .create(&dir)
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

/// The mode of the snapshotter's root, its `snapshots/` and each snapshot's directory. They hold
/// unpacked images — device nodes and setuid-root files included — and containers' writable
/// layers: a directory other users could traverse would let any local user open those device
/// nodes or run those setuid files from the host (docker's CVE-2021-41091). Only the owner
/// (root) enters; overlay mounts look files up with the mounter's credentials, so containers'
/// non-root users need no access here.
pub(crate) const PRIVATE_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents) with [`PRIVATE_MODE`], or takes the group and other bits
/// off an existing one: a root made by an older version, or by hand, would stay open otherwise.
pub(crate) fn private_dir(dir: &Path) -> Result<(), SnapshotError> {
    let md = match fs::metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_MODE)
                .create(dir)
                .ctx(|| format!("create {}", dir.display()));
        }
        Err(e) => return Err(SnapshotError::io(format!("stat {}", dir.display()), e)),
    };
    let now = md.mode() & 0o7777;
    let new = now & PRIVATE_MODE;
    if new != now {
        fs::set_permissions(dir, fs::Permissions::from_mode(new))
            .ctx(|| format!("chmod {new:04o} {}", dir.display()))?;
        tracing::warn!(
            dir = %dir.display(),
            from = format!("{now:04o}"),
            to = format!("{new:04o}"),
            "tightened the mode of a snapshotter directory other users could enter"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn private_dir_creates_private_and_only_tightens() {
        let t = tempfile::tempdir().expect("tempdir");
        let deep = t.path().join("snapshots/overlayfs");
        private_dir(&deep).expect("create");
        assert_eq!(mode(&deep), PRIVATE_MODE);
        assert_eq!(mode(&t.path().join("snapshots")) & 0o077, 0);
        fs::set_permissions(&deep, fs::Permissions::from_mode(0o2755)).expect("chmod");
        private_dir(&deep).expect("tighten");
        assert_eq!(mode(&deep), 0o700);
        // A stricter mode stays.
        fs::set_permissions(&deep, fs::Permissions::from_mode(0o500)).expect("chmod");
        private_dir(&deep).expect("keep");
        assert_eq!(mode(&deep), 0o500);
    }

    /// Every backend: its root, `snapshots/` and each snapshot's directory are 0700, created so
    /// and tightened at open when an older version left them open.
    #[test]
    fn backends_keep_their_directories_private() {
        crate::testsuite::require_root();
        for backend in crate::BACKENDS {
            let t = tempfile::tempdir().expect("tempdir");
            let root = t.path().join("snapshots").join(backend);
            let sn = crate::open(backend, &root).expect("open");
            sn.prepare("a", None, Labels::new()).expect("prepare");
            let dirs: Vec<PathBuf> = fs::read_dir(root.join("snapshots"))
                .expect("list")
                .map(|e| e.expect("entry").path())
                .collect();
            assert_eq!(dirs.len(), 1, "{backend}: {dirs:?}");
            for d in [&root, &root.join("snapshots"), &dirs[0]] {
                assert_eq!(mode(d), PRIVATE_MODE, "{backend}: {}", d.display());
            }
            drop(sn);
            for d in [&root, &root.join("snapshots")] {
                fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
            }
            let sn = crate::open(backend, &root).expect("reopen");
            for d in [&root, &root.join("snapshots")] {
                assert_eq!(mode(d), PRIVATE_MODE, "{backend} reopened: {}", d.display());
            }
            sn.remove("a").expect("remove");
        }
    }
}
