//! Images: names pointing at manifests in the content store, unpacked into
//! snapshots. This module owns the image records; `load`, `save` and
//! `import` move images in and out through archives.

pub mod api;
pub mod change;
pub mod import;
pub mod lease;
pub mod load;
pub mod manifest;
pub mod media;
pub mod save;
pub mod stream;
pub mod unpack;

use std::collections::BTreeSet;

use crate::content::Digest;
use std::sync::Arc;

use crate::core::{Core, OnCore};
use crate::error::{ManagerError, Result};
use crate::reference::Reference;
use crate::store::{
    now, schema, Batch, ContentRecord, Descriptor, ImageRecord, LayerRecord, SnapshotRecord,
};
use lease::Lease;

/// An image about to be recorded: its content, its layers, and its names.
pub struct NewImage {
    pub target: Descriptor,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<LayerRecord>,
    pub created: Option<String>,
    /// Full normalized names; empty for an untagged image.
    pub names: Vec<Reference>,
    /// Other blobs the target needs: an index's manifests, configs and
    /// layers for other platforms that are present (`pull --all-platforms`).
    pub extra: Vec<Descriptor>,
}

/// The familiar form of an image record's name.
pub fn familiar_name(rec: &ImageRecord) -> Option<String> {
    if rec.is_dangling() {
        return None;
    }
    Reference::parse(&rec.name).ok().map(|r| r.familiar())
}

/// The images service, cheap to clone: image records over the core's
/// content store and snapshotter.
#[derive(Clone)]
pub struct Images {
    core: Arc<Core>,
}

impl OnCore for Images {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Images {
    pub(crate) fn new(core: Arc<Core>) -> Images {
        Images { core }
    }
}

impl Images {
    /// Every image record of a namespace, newest first.
    pub fn list_images(&self, ns: &str, filter: Option<&str>) -> Result<Vec<ImageRecord>> {
        let mut all: Vec<ImageRecord> = self.store().scan(&schema::images_prefix(ns))?;
        if let Some(f) = filter.filter(|f| !f.is_empty()) {
            let want = Reference::parse(f)?;
            all.retain(|img| match Reference::parse(&img.name) {
                Ok(r) => {
                    r.repository() == want.repository()
                        && want.tag().is_none_or(|t| r.tag() == Some(t))
                }
                Err(_) => false,
            });
        }
        all.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
        Ok(all)
    }

    /// Resolves a name, name:tag, name@digest, image ID or unique ID prefix
    /// to an image record, and says whether it matched by ID.
    pub fn resolve_image(&self, ns: &str, s: &str) -> Result<(ImageRecord, bool)> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ManagerError::InvalidArgument(
                "invalid reference format: empty image reference".into(),
            ));
        }
        let id_prefix = s.strip_prefix("sha256:").unwrap_or(s);
        let looks_like_id = !id_prefix.is_empty()
            && id_prefix.len() <= 64
            && id_prefix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !s.starts_with("sha256:") {
            match Reference::parse(s) {
                Ok(r) => {
                    let name = r.with_default_tag().to_string();
                    if let Some(rec) = self
                        .store()
                        .get::<ImageRecord>(&schema::image_key(ns, &name))?
                    {
                        return Ok((rec, false));
                    }
                }
                Err(e) if !looks_like_id => return Err(e.into()),
                Err(_) => {}
            }
        }
        if looks_like_id {
            let mut found: Vec<ImageRecord> = Vec::new();
            let mut ids = BTreeSet::new();
            for rec in self
                .store()
                .scan::<ImageRecord>(&schema::images_prefix(ns))?
            {
                if rec.id()[7..].starts_with(id_prefix) {
                    ids.insert(rec.id().to_string());
                    found.push(rec);
                }
            }
            if ids.len() > 1 {
                return Err(ManagerError::InvalidArgument(format!(
                    "image ID prefix {s:?} is ambiguous: it matches {} images",
                    ids.len()
                )));
            }
            // Prefer a named record over the dangling one.
            found.sort_by_key(|r| r.is_dangling());
            if let Some(rec) = found.into_iter().next() {
                return Ok((rec, true));
            }
        }
        Err(ManagerError::NoSuchImage(s.to_string()))
    }

    /// Every record of an image ID in a namespace.
    pub(crate) fn records_of(&self, ns: &str, id: &str) -> Result<Vec<ImageRecord>> {
        Ok(self
            .store()
            .scan::<ImageRecord>(&schema::images_prefix(ns))?
            .into_iter()
            .filter(|r| r.id() == id)
            .collect())
    }

    /// Gives an image another name.
    pub(crate) fn tag_image(&self, ns: &str, source: &str, target: &str) -> Result<ImageRecord> {
        let (src, _) = self.resolve_image(ns, source)?;
        let target = Reference::parse(target)?;
        if target.digest().is_some() {
            return Err(ManagerError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let target = target.with_default_tag();
        let mut rec = src.clone();
        rec.name = target.to_string();
        rec.created_at = now();
        rec.updated_at = rec.created_at.clone();
        let mut b = Batch::default();
        let replaced: Vec<ImageRecord> = self
            .store()
            .get::<ImageRecord>(&schema::image_key(ns, &rec.name))?
            .into_iter()
            .collect();
        self.keep_dangling(ns, &rec.name, rec.id(), &mut b)?;
        b.put(&schema::image_key(ns, &rec.name), &rec)?;
        let dangling = rec.id().to_string();
        if dangling != rec.name {
            b.delete(&schema::image_key(ns, &dangling));
        }
        self.store().apply(b)?;
        self.release_replaced(ns, &replaced)?;
        Ok(rec)
    }

    /// Removes an image name (docker rmi); returns (untagged, deleted).
    pub fn remove_image(
        &self,
        ns: &str,
        reference: &str,
        force: bool,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let (rec, by_id) = self.resolve_image(ns, reference)?;
        let id = rec.id().to_string();
        let all = self.records_of(ns, &id)?;
        let doomed: Vec<ImageRecord> = if by_id {
            let named = all.iter().filter(|r| !r.is_dangling()).count();
            if named > 1 && !force {
                return Err(ManagerError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    &id[7..19]
                )));
            }
            all.clone()
        } else {
            vec![rec.clone()]
        };
        let last = doomed.len() == all.len();
        if last && !force {
            if let Some(c) = self.container_using(ns, &id)? {
                return Err(ManagerError::Conflict(format!(
                    "conflict: unable to remove image {} - container {} is using it (use -f to force)",
                    familiar_name(&rec).unwrap_or_else(|| id[7..19].to_string()),
                    c
                )));
            }
        }
        let mut b = Batch::default();
        let mut untagged = Vec::new();
        for r in &doomed {
            b.delete(&schema::image_key(ns, &r.name));
            if let Some(n) = familiar_name(r) {
                untagged.push(n);
            }
        }
        self.store().apply(b)?;
        let mut deleted = Vec::new();
        if last {
            deleted.push(id.clone());
            let blobs: Vec<String> = rec.blobs().map(str::to_string).collect();
            let snaps: Vec<String> = rec.layers.iter().map(|l| l.chain_id.clone()).collect();
            self.core().release(ns, &blobs, &snaps)?;
        }
        Ok((untagged, deleted))
    }

    /// When `name` moves from another image to `new_id`, the other image
    /// keeps a nameless record if that was its last name (docker's
    /// `<none>` image), so it is neither lost nor silently deleted.
    fn keep_dangling(&self, ns: &str, name: &str, new_id: &str, b: &mut Batch) -> Result<()> {
        let Some(old) = self
            .store()
            .get::<ImageRecord>(&schema::image_key(ns, name))?
        else {
            return Ok(());
        };
        if old.id() == new_id || self.records_of(ns, old.id())?.len() > 1 {
            return Ok(());
        }
        let mut dangling = old.clone();
        dangling.name = old.id().to_string();
        dangling.updated_at = now();
        b.put(&schema::image_key(ns, &dangling.name), &dangling)
    }

    fn container_using(&self, ns: &str, id: &str) -> Result<Option<String>> {
        for c in self
            .store()
            .scan::<serde_json::Value>(&schema::containers_prefix(ns))?
        {
            if c.get("image_id").and_then(|v| v.as_str()) == Some(id) {
                let cid = c.get("id").and_then(|v| v.as_str()).unwrap_or("?");
                return Ok(Some(cid.chars().take(12).collect()));
            }
        }
        Ok(None)
    }

    /// Reads a small blob the namespace holds.
    pub fn read_json_blob(&self, digest: &str) -> Result<Vec<u8>> {
        self.content().read_blob(&Digest::parse(digest)?)
    }

    /// Records images and everything they reference in one batch: content
    /// records, snapshot records, image records (replacing names that
    /// pointed elsewhere, and the nameless record of an image now named).
    pub(crate) fn commit_images(
        &self,
        ns: &str,
        lease: Lease<'_>,
        images: Vec<NewImage>,
    ) -> Result<Vec<ImageRecord>> {
        self.store().ensure_namespace(ns)?;
        let sn = self.snapshotter_name().to_string();
        let t = now();
        let mut b = Batch::default();
        let mut out = Vec::new();
        let mut replaced = Vec::new();
        for img in images {
            Self::put_content_records(self.store(), ns, &img, &t, &mut b)?;
            Self::put_snapshot_records(ns, &sn, &img.layers, &t, &mut b)?;
            for name in self.record_names(ns, &img, &mut b)? {
                if let Some(old) = self
                    .store()
                    .get::<ImageRecord>(&schema::image_key(ns, &name))?
                {
                    replaced.push(old);
                }
                self.keep_dangling(ns, &name, &img.config.digest, &mut b)?;
                let rec = Self::image_record(name, &img, &sn, &t);
                b.put(&schema::image_key(ns, &rec.name), &rec)?;
                out.push(rec);
            }
        }
        self.store().apply(b)?;
        lease.finish();
        self.release_replaced(ns, &replaced)?;
        Ok(out)
    }

    /// A content record for every blob of `img`.
    fn put_content_records(
        store: &crate::store::Store,
        ns: &str,
        img: &NewImage,
        t: &str,
        b: &mut Batch,
    ) -> Result<()> {
        let mut blobs: Vec<&Descriptor> = vec![&img.target, &img.manifest, &img.config];
        blobs.extend(img.layers.iter().map(|l| &l.blob));
        blobs.extend(img.extra.iter());
        for d in blobs {
            let key = schema::content_key(ns, &d.digest);
            // An existing record keeps its time and labels (where
            // the blob came from, for cross-repository mounts).
            let (created_at, labels) = store
                .get::<ContentRecord>(&key)?
                .map(|r| (r.created_at, r.labels))
                .unwrap_or_else(|| (t.to_string(), Default::default()));
            b.put(
                &key,
                &ContentRecord {
                    digest: d.digest.clone(),
                    size: d.size,
                    created_at,
                    labels,
                },
            )?;
        }
        Ok(())
    }

    /// A snapshot record for every layer, each the parent of the next.
    fn put_snapshot_records(
        ns: &str,
        sn: &str,
        layers: &[LayerRecord],
        t: &str,
        b: &mut Batch,
    ) -> Result<()> {
        let mut parent: Option<String> = None;
        for l in layers {
            b.put(
                &schema::snapshot_key(ns, sn, &l.chain_id),
                &SnapshotRecord {
                    key: l.chain_id.clone(),
                    parent: parent.clone(),
                    created_at: t.to_string(),
                    labels: Default::default(),
                },
            )?;
            parent = Some(l.chain_id.clone());
        }
        Ok(())
    }

    /// The names to record `img` under. A named image drops its nameless
    /// record; an untagged one gets it unless a named record exists.
    fn record_names(&self, ns: &str, img: &NewImage, b: &mut Batch) -> Result<Vec<String>> {
        if !img.names.is_empty() {
            b.delete(&schema::image_key(ns, &img.config.digest));
            return Ok(img.names.iter().map(|r| r.to_string()).collect());
        }
        if self.records_of(ns, &img.config.digest)?.is_empty() {
            Ok(vec![img.config.digest.clone()])
        } else {
            Ok(vec![])
        }
    }

    fn image_record(name: String, img: &NewImage, sn: &str, t: &str) -> ImageRecord {
        ImageRecord {
            name,
            target: img.target.clone(),
            extra_blobs: img.extra.iter().map(|d| d.digest.clone()).collect(),
            manifest: img.manifest.clone(),
            config: img.config.clone(),
            layers: img.layers.clone(),
            snapshotter: sn.to_string(),
            created: img.created.clone(),
            created_at: t.to_string(),
            updated_at: t.to_string(),
            labels: Default::default(),
        }
    }

    /// Frees what records that were just overwritten referenced, unless
    /// something still uses it (a name re-pointed to another manifest of
    /// the same image, say, leaves the old manifest unreferenced).
    fn release_replaced(&self, ns: &str, replaced: &[ImageRecord]) -> Result<()> {
        for old in replaced {
            let blobs: Vec<String> = old.blobs().map(str::to_string).collect();
            let snaps: Vec<String> = old.layers.iter().map(|l| l.chain_id.clone()).collect();
            self.core().release(ns, &blobs, &snaps)?;
        }
        Ok(())
    }
}
