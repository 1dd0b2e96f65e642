//! The core every service shares: the configuration, the metadata store,
//! the content store, the snapshotter, the garbage-collection lock and the
//! event bus. Services (images, distribution, networks, containers) take
//! what they need from it; nothing in it knows about a service above.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_snapshotter::{Kind, Snapshotter};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::content::{ContentStore, Digest};
use crate::error::{ManagerError, Result};
use crate::events::{Event, EventBus, Subscription};
use crate::store::{schema, ContentRecord, ImageRecord, NamespaceRecord, SnapshotRecord, Store};

/// The shared core of the engine.
pub struct Core {
    config: Config,
    store: Store,
    content: ContentStore,
    snapshotter: Box<dyn Snapshotter>,
    /// Operations that add content or snapshots hold it shared; garbage
    /// collection holds it exclusively, so it never sweeps what an
    /// operation is still adding.
    gc_lock: RwLock<()>,
    /// The daemon-wide event bus.
    events: EventBus,
}

/// Runs blocking engine work on the blocking pool: the one place an async
/// operation hands disk, hashing or sled work to a worker thread.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

/// A service's way into the core it holds: the same names as the core's
/// own, so an operation reads `self.store()` whichever service it is on.
pub(crate) trait OnCore {
    fn core(&self) -> &Core;

    fn config(&self) -> &Config {
        self.core().config()
    }
    fn store(&self) -> &Store {
        self.core().store()
    }
    fn content(&self) -> &ContentStore {
        self.core().content()
    }
    fn snapshotter(&self) -> &dyn Snapshotter {
        self.core().snapshotter()
    }
    fn snapshotter_name(&self) -> &str {
        self.core().snapshotter_name()
    }
    /// Publishes an event on the daemon-wide bus.
    fn publish(&self, event: Event) {
        self.core().publish(event);
    }
    /// Shared hold on the GC lock, for operations that add objects.
    fn op_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.core().op_guard()
    }
}

/// Counts of what garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub removed_blobs: Vec<String>,
    pub removed_snapshots: Vec<String>,
    pub reclaimed_bytes: u64,
}

impl Core {
    /// Opens the store, the content store and the snapshotter under the
    /// configured root.
    pub fn open(config: Config) -> Result<Core> {
        let root = config.root.clone();
        let store = Store::open(&root.join("meta.db"))?;
        let content = ContentStore::open(&root.join("content"))?;
        let sn_root = root.join("snapshots").join(&config.snapshotter);
        let snapshotter = berth_snapshotter::open(&config.snapshotter, &sn_root)?;
        crate::layout::private_dir(&root.join("tmp"))?;
        let core = Core {
            config,
            store,
            content,
            snapshotter,
            gc_lock: RwLock::new(()),
            events: EventBus::default(),
        };
        core.store
            .ensure_namespace(berth_proto::DEFAULT_NAMESPACE)?;
        core.remove_stale_extractions();
        Ok(core)
    }

    /// Publishes an event on the daemon-wide bus.
    pub fn publish(&self, event: Event) {
        self.events.publish(event);
    }

    /// Subscribes to the daemon-wide bus.
    pub fn subscribe(&self) -> Subscription {
        self.events.subscribe()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn content(&self) -> &ContentStore {
        &self.content
    }
    pub fn snapshotter(&self) -> &dyn Snapshotter {
        self.snapshotter.as_ref()
    }
    pub fn snapshotter_name(&self) -> &str {
        &self.config.snapshotter
    }

    /// Shared hold on the GC lock, for operations that add objects.
    pub fn op_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.gc_lock.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn gc_guard(&self) -> RwLockWriteGuard<'_, ()> {
        self.gc_lock.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Active "extract-" snapshots are unpacks a crash interrupted.
    fn remove_stale_extractions(&self) {
        let mut stale = Vec::new();
        let _ = self.snapshotter().walk(&mut |i| {
            if i.kind == Kind::Active && i.name.starts_with("extract-") {
                stale.push(i.name.clone());
            }
            Ok(())
        });
        for key in stale {
            match self.snapshotter().remove(&key) {
                Ok(()) => info!(key, "removed interrupted unpack"),
                Err(e) => warn!(key, error = %e, "cannot remove interrupted unpack"),
            }
        }
    }

    // ---- namespaces ----

    /// Every namespace.
    pub fn namespaces(&self) -> Result<Vec<NamespaceRecord>> {
        self.store().namespaces()
    }

    /// Creates a namespace; AlreadyExists if it exists.
    pub fn create_namespace(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<NamespaceRecord> {
        crate::store::validate_namespace(name)?;
        let key = schema::namespace_key(name);
        if self.store().contains(&key)? {
            return Err(ManagerError::AlreadyExists(format!(
                "namespace {name:?} already exists"
            )));
        }
        let rec = NamespaceRecord {
            name: name.to_string(),
            labels,
            created_at: crate::store::now(),
        };
        self.store().put(&key, &rec)?;
        Ok(rec)
    }

    /// Removes an empty namespace.
    pub fn delete_namespace(&self, name: &str) -> Result<()> {
        let key = schema::namespace_key(name);
        if !self.store().contains(&key)? {
            return Err(ManagerError::NotFound(format!(
                "namespace {name:?} not found"
            )));
        }
        let images = self.store().count(&schema::images_prefix(name))?;
        let containers = self.store().count(&schema::containers_prefix(name))?;
        let blobs = self.store().count(&schema::content_prefix(name))?;
        let snaps = self
            .store()
            .count(&format!("{}snapshots/", schema::ns_prefix(name)))?;
        let total = self.store().count(&schema::ns_prefix(name))?;
        if total > 0 {
            return Err(ManagerError::FailedPrecondition(format!(
                "namespace {name:?} is not empty: it holds {images} images, {containers} containers, {blobs} blobs and {snaps} snapshots"
            )));
        }
        let mut b = crate::store::Batch::default();
        b.delete(&key);
        self.store().apply(b)
    }

    // ---- releasing and collecting ----

    /// Removes the given blobs and snapshots unless some record still
    /// references them: content and snapshot records of `ns` that no image
    /// of `ns` references go, then files and snapshots no namespace holds.
    /// Used when an operation fails (its lease) and when an image goes.
    pub fn release(&self, ns: &str, blobs: &[String], snapshots: &[String]) -> Result<()> {
        let (used_blobs, used_snaps) = self.references(ns)?;
        let sn = self.snapshotter_name().to_string();
        let mut batch = crate::store::Batch::default();
        for d in blobs {
            if !used_blobs.contains(d) {
                batch.delete(&schema::content_key(ns, d));
            }
        }
        for s in snapshots {
            if !used_snaps.contains(s) {
                batch.delete(&schema::snapshot_key(ns, &sn, s));
            }
        }
        self.store().apply(batch)?;
        let namespaces: Vec<String> = self.namespaces()?.into_iter().map(|n| n.name).collect();
        for d in blobs {
            if !self.held_by_any(&namespaces, |n| schema::content_key(n, d))? {
                if let Ok(dg) = Digest::parse(d) {
                    debug!(digest = %d, "removing blob");
                    self.content().delete(&dg)?;
                }
            }
        }
        // Children before parents: the caller lists snapshots bottom-up.
        for s in snapshots.iter().rev() {
            if !self.held_by_any(&namespaces, |n| schema::snapshot_key(n, &sn, s))? {
                match self.snapshotter().remove(s) {
                    Ok(()) => debug!(snapshot = %s, "removed snapshot"),
                    Err(e) if e.kind() == berth_snapshotter::ErrorKind::NotFound => {}
                    // Still a parent of another image's layers: kept.
                    Err(e) if e.kind() == berth_snapshotter::ErrorKind::FailedPrecondition => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn held_by_any(&self, namespaces: &[String], key: impl Fn(&str) -> String) -> Result<bool> {
        for n in namespaces {
            if self.store().contains(&key(n))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The blobs and snapshots the images of a namespace reference.
    fn references(&self, ns: &str) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        let mut blobs = BTreeSet::new();
        let mut snaps = BTreeSet::new();
        for img in self
            .store()
            .scan::<ImageRecord>(&schema::images_prefix(ns))?
        {
            blobs.extend(img.blobs().map(str::to_string));
            if img.snapshotter == self.snapshotter_name() {
                snaps.extend(img.layers.iter().map(|l| l.chain_id.clone()));
            }
        }
        for c in self
            .store()
            .scan::<serde_json::Value>(&schema::containers_prefix(ns))?
        {
            if let Some(k) = c.get("snapshot_key").and_then(|v| v.as_str()) {
                snaps.insert(k.to_string());
            }
        }
        Ok((blobs, snaps))
    }

    /// Garbage collection: mark everything images (and containers) of every
    /// namespace reference, sweep the rest — records, blob files, snapshots.
    pub fn prune(&self) -> Result<PruneReport> {
        let _gc = self.gc_guard();
        let mut report = PruneReport::default();
        let (held_blobs, held_snaps) = self.drop_unreferenced_records()?;
        for (d, size) in self.content().walk()? {
            if !held_blobs.contains(d.as_str()) {
                self.content().delete(&d)?;
                report.reclaimed_bytes += size;
                report.removed_blobs.push(d.to_string());
            }
        }
        for name in self.unheld_snapshots(&held_snaps)? {
            let usage = self.snapshotter().usage(&name).map(|u| u.size).unwrap_or(0);
            match self.snapshotter().remove(&name) {
                Ok(()) => {
                    report.reclaimed_bytes += usage;
                    report.removed_snapshots.push(name);
                }
                Err(e) => warn!(snapshot = %name, error = %e, "cannot remove snapshot"),
            }
        }
        info!(
            blobs = report.removed_blobs.len(),
            snapshots = report.removed_snapshots.len(),
            bytes = report.reclaimed_bytes,
            "garbage collected"
        );
        Ok(report)
    }

    /// Deletes every namespace's content and snapshot records that nothing
    /// references; returns the blobs and snapshots still held by any.
    fn drop_unreferenced_records(&self) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        let sn = self.snapshotter_name().to_string();
        let mut held_blobs = BTreeSet::new();
        let mut held_snaps = BTreeSet::new();
        let mut batch = crate::store::Batch::default();
        for ns in self.namespaces()? {
            let ns = ns.name;
            let (blobs, snaps) = self.references(&ns)?;
            for d in self.store().keys(&schema::content_prefix(&ns))? {
                if !blobs.contains(&d) {
                    batch.delete(&schema::content_key(&ns, &d));
                }
            }
            for s in self.store().keys(&schema::snapshots_prefix(&ns, &sn))? {
                if !snaps.contains(&s) {
                    batch.delete(&schema::snapshot_key(&ns, &sn, &s));
                }
            }
            held_blobs.extend(blobs);
            held_snaps.extend(snaps);
        }
        self.store().apply(batch)?;
        Ok((held_blobs, held_snaps))
    }

    /// The snapshots that neither `held` nor an ancestor of one, deepest
    /// first so children go before their parents.
    fn unheld_snapshots(&self, held: &BTreeSet<String>) -> Result<Vec<String>> {
        let mut parents = BTreeMap::new();
        self.snapshotter().walk(&mut |i| {
            parents.insert(i.name.clone(), i.parent.clone());
            Ok(())
        })?;
        let ancestry = |name: &String| {
            let mut chain = Vec::new();
            let mut cur = Some(name.clone());
            while let Some(c) = cur {
                if chain.contains(&c) {
                    break;
                }
                cur = parents.get(&c).cloned().flatten();
                chain.push(c);
            }
            chain
        };
        let keep: BTreeSet<String> = held.iter().flat_map(ancestry).collect();
        let mut doomed: Vec<(usize, String)> = parents
            .keys()
            .filter(|n| !keep.contains(*n))
            .map(|n| (ancestry(n).len(), n.clone()))
            .collect();
        doomed.sort_by_key(|d| std::cmp::Reverse(d.0));
        Ok(doomed.into_iter().map(|(_, n)| n).collect())
    }

    // ---- content and snapshots of a namespace ----

    /// The content records of a namespace.
    pub fn list_content(&self, ns: &str) -> Result<Vec<ContentRecord>> {
        self.store().scan(&schema::content_prefix(ns))
    }

    /// One content record.
    pub fn content_info(&self, ns: &str, digest: &str) -> Result<ContentRecord> {
        Digest::parse(digest)?;
        self.store()
            .get(&schema::content_key(ns, digest))?
            .ok_or_else(|| ManagerError::NotFound(format!("content {digest} not found")))
    }

    /// Re-hashes each blob of a namespace.
    pub fn verify_content(&self, ns: &str) -> Result<Vec<(String, Result<(), String>)>> {
        let mut out = Vec::new();
        for rec in self.list_content(ns)? {
            let res = match Digest::parse(&rec.digest) {
                Ok(d) => self.content().verify(&d, Some(rec.size)),
                Err(e) => Err(e.to_string()),
            };
            out.push((rec.digest, res));
        }
        Ok(out)
    }

    /// The snapshot records of a namespace with the snapshotter's view.
    pub fn list_snapshots(
        &self,
        ns: &str,
    ) -> Result<
        Vec<(
            SnapshotRecord,
            Option<berth_snapshotter::Info>,
            berth_snapshotter::Usage,
        )>,
    > {
        let sn = self.snapshotter_name().to_string();
        let mut out = Vec::new();
        for rec in self
            .store()
            .scan::<SnapshotRecord>(&schema::snapshots_prefix(ns, &sn))?
        {
            let info = self.snapshotter().stat(&rec.key).ok();
            let usage = self.snapshotter().usage(&rec.key).unwrap_or_default();
            out.push((rec, info, usage));
        }
        Ok(out)
    }
}
