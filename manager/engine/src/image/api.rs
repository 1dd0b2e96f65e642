//! The images domain's public operations, for every front door: async
//! (blocking work runs on the blocking pool here, not in the door), with
//! typed requests and Docker-shaped views computed in the engine.

use crate::core::OnCore;
use crate::events::{Action, Event, Scope};
use std::collections::BTreeMap;
use std::io;

use futures::Stream;
use serde::{Serialize, Serializer};
use tracing::warn;

use super::import::{ImportOptions, Imported};
use super::load::LoadResult;
use super::stream::{ByteStream, ChannelReader, ChannelWriter};
use super::{familiar_name, import, load, save};
use crate::error::Result;
use crate::image::Images;
use crate::reference::Reference;
use crate::store::{Descriptor, ImageRecord, LayerRecord};

pub(crate) use crate::core::blocking;

/// An image record as the API shows it: a name and what it points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageView {
    /// Full normalized name, or "sha256:<id>" for an untagged image.
    pub name: String,
    pub target: Descriptor,
    pub created_at: String,
    pub updated_at: String,
    pub labels: BTreeMap<String, String>,
}

impl From<&ImageRecord> for ImageView {
    fn from(r: &ImageRecord) -> Self {
        ImageView {
            name: r.name.clone(),
            target: r.target.clone(),
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
            labels: r.labels.clone(),
        }
    }
}

/// One line of `docker images`: an image record with its repository, tag
/// and digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub image: ImageView,
    /// The image ID (config digest).
    pub id: String,
    /// Familiar repository, "<none>" for an untagged image.
    pub repository: String,
    /// Tag, "<none>" for an untagged image or a digest name.
    pub tag: String,
    /// Creation time from the image config ("" if it has none).
    pub created: String,
    /// Sum of the unpacked layer sizes.
    pub size: u64,
    pub repo_digests: Vec<String>,
}

/// `docker image inspect`: an image with every name of its ID, its
/// documents and its layers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageDetail {
    pub image: ImageView,
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub manifest: Descriptor,
    /// The manifest and config as stored (JSON; embedded as JSON when
    /// serialised).
    #[serde(serialize_with = "raw_json")]
    pub manifest_json: Vec<u8>,
    #[serde(serialize_with = "raw_json")]
    pub config_json: Vec<u8>,
    pub layers: Vec<LayerRecord>,
    pub size: u64,
    pub snapshotter: String,
    /// Whether every layer's snapshot is there.
    pub unpacked: bool,
}

fn raw_json<S: Serializer>(bytes: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
    v.serialize(s)
}

/// What `docker rmi` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemovedImage {
    /// Names removed, in familiar form.
    pub untagged: Vec<String>,
    /// Image IDs deleted (their last name went).
    pub deleted: Vec<String>,
}

/// The registry's name@digest for a named record.
fn repo_digest(r: &ImageRecord) -> Option<String> {
    if r.is_dangling() {
        return None;
    }
    Reference::parse(&r.name)
        .ok()
        .map(|n| format!("{}@{}", n.familiar_repository(), r.target.digest))
}

impl ImageSummary {
    pub(crate) fn of(r: &ImageRecord) -> ImageSummary {
        let (repository, tag) = match Reference::parse(&r.name) {
            Ok(n) if !r.is_dangling() => (
                n.familiar_repository(),
                n.tag().unwrap_or("<none>").to_string(),
            ),
            _ => ("<none>".to_string(), "<none>".to_string()),
        };
        ImageSummary {
            image: ImageView::from(r),
            id: r.id().to_string(),
            repository,
            tag,
            created: r.created.clone().unwrap_or_default(),
            size: r.size(),
            repo_digests: repo_digest(r).into_iter().collect(),
        }
    }
}

impl Images {
    /// The image detail of a resolved record (blocking).
    fn image_detail(&self, ns: &str, reference: &str) -> Result<ImageDetail> {
        let (rec, _) = self.resolve_image(ns, reference)?;
        let all = self.records_of(ns, rec.id())?;
        let manifest_json = self.read_json_blob(&rec.manifest.digest)?;
        let config_json = self.read_json_blob(&rec.config.digest)?;
        let unpacked = rec
            .layers
            .iter()
            .all(|l| self.snapshotter().stat(&l.chain_id).is_ok());
        Ok(ImageDetail {
            image: ImageView::from(&rec),
            id: rec.id().to_string(),
            repo_tags: all.iter().filter_map(familiar_name).collect(),
            repo_digests: all.iter().filter_map(repo_digest).collect(),
            manifest: rec.manifest.clone(),
            manifest_json,
            config_json,
            layers: rec.layers.clone(),
            size: rec.size(),
            snapshotter: rec.snapshotter.clone(),
            unpacked,
        })
    }

    /// The images of a namespace, newest first; `filter` (a repository, or
    /// repository:tag; empty for all) keeps the matching names.
    #[tracing::instrument(skip_all, fields(namespace = %ns, filter = %filter))]
    pub async fn image_list(&self, ns: &str, filter: &str) -> Result<Vec<ImageSummary>> {
        let (images, ns, filter) = (self.clone(), ns.to_string(), filter.to_string());
        blocking(move || {
            Ok(images
                .list_images(&ns, Some(&filter))?
                .iter()
                .map(ImageSummary::of)
                .collect())
        })
        .await
    }

    /// One image by name, name:tag, name@digest, ID or unique ID prefix.
    #[tracing::instrument(skip_all, fields(namespace = %ns, reference = %reference))]
    pub async fn image_inspect(&self, ns: &str, reference: &str) -> Result<ImageDetail> {
        let (images, ns, reference) = (self.clone(), ns.to_string(), reference.to_string());
        blocking(move || images.image_detail(&ns, &reference)).await
    }

    /// Gives the image `source` resolves to the name `target`.
    #[tracing::instrument(skip_all, fields(namespace = %ns, source = %source, target = %target))]
    pub async fn image_tag(&self, ns: &str, source: &str, target: &str) -> Result<ImageView> {
        let (images, ns) = (self.clone(), ns.to_string());
        let (source, target) = (source.to_string(), target.to_string());
        let ns2 = ns.clone();
        let view = blocking(move || Ok(ImageView::from(&images.tag_image(&ns, &source, &target)?)))
            .await?;
        self.publish(image_event(&ns2, Action::Tag, &view.name));
        Ok(view)
    }

    /// Removes an image name, or every name of an ID (`force` for an ID
    /// with several names, or an image a container uses).
    #[tracing::instrument(skip_all, fields(namespace = %ns, reference = %reference, force))]
    pub async fn image_remove(
        &self,
        ns: &str,
        reference: &str,
        force: bool,
    ) -> Result<RemovedImage> {
        let (images, ns, reference) = (self.clone(), ns.to_string(), reference.to_string());
        let ns2 = ns.clone();
        let removed = blocking(move || {
            let (untagged, deleted) = images.remove_image(&ns, &reference, force)?;
            Ok(RemovedImage { untagged, deleted })
        })
        .await?;
        for name in &removed.untagged {
            self.publish(image_event(&ns2, Action::Untag, name));
        }
        for id in &removed.deleted {
            self.publish(image_event(&ns2, Action::Delete, id));
        }
        Ok(removed)
    }

    /// Loads a docker-save archive or OCI layout tarball read from
    /// `archive` (its first error fails the load).
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn image_load<S>(&self, ns: &str, archive: S) -> Result<LoadResult>
    where
        S: Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    {
        let reader = ChannelReader::pump(archive);
        let (images, ns) = (self.clone(), ns.to_string());
        let ns2 = ns.clone();
        let loaded = blocking(move || load::load(&images, &ns, reader)).await?;
        for name in loaded.names.iter().chain(&loaded.ids) {
            self.publish(image_event(&ns2, Action::Load, name));
        }
        Ok(loaded)
    }

    /// Writes the images `refs` name as one archive. Every reference is
    /// resolved first, so a bad one is this call's error; a failure while
    /// writing ends the stream with it.
    #[tracing::instrument(skip_all, fields(namespace = %ns, images = ?refs))]
    pub async fn image_save(&self, ns: &str, refs: Vec<String>) -> Result<ByteStream> {
        let (images, ns) = (self.clone(), ns.to_string());
        let (images, ns, refs) = blocking(move || {
            for r in &refs {
                images.resolve_image(&ns, r)?;
            }
            Ok((images, ns, refs))
        })
        .await?;
        let (mut w, tx, stream) = ChannelWriter::new();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            if let Err(e) = save::save(&images, &ns, &refs, &mut w) {
                warn!(error = %e, "save failed");
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(stream)
    }

    /// Imports a root filesystem tarball read from `archive` as a
    /// one-layer image.
    #[tracing::instrument(skip_all, fields(namespace = %ns, reference = ?opts.reference))]
    pub async fn image_import<S>(
        &self,
        ns: &str,
        opts: ImportOptions,
        archive: S,
    ) -> Result<Imported>
    where
        S: Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    {
        let reader = ChannelReader::pump(archive);
        let (images, ns) = (self.clone(), ns.to_string());
        let ns2 = ns.clone();
        let imported = blocking(move || import::import(&images, &ns, &opts, reader)).await?;
        let name = imported.name.as_deref().unwrap_or(&imported.id);
        self.publish(image_event(&ns2, Action::Import, name));
        Ok(imported)
    }
}

/// An image event with docker's "name" attribute.
pub(crate) fn image_event(ns: &str, action: Action, name: &str) -> Event {
    Event::new(ns, Scope::Image, action, name).with("name", name)
}
