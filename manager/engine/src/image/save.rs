//! `berth save`: chosen as one tar that is both a docker-save archive
//! (manifest.json with Config, RepoTags, Layers) and an OCI image layout
//! (oci-layout, index.json, blobs/sha256/...), as docker 25+ writes it.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;

use super::manifest::Manifest;
use super::media;
use crate::content::ContentStore;
use crate::core::OnCore;
use crate::error::{IoContext, ManagerError, Result};
use crate::image::Images;
use crate::reference::Reference;
use crate::store::{Descriptor, ImageRecord};

/// Writes the chosen named by `refs` to `out`. Every reference is resolved
/// before a byte is written, so a bad one fails the save cleanly.
pub fn save(images: &Images, ns: &str, refs: &[String], out: impl Write) -> Result<()> {
    if refs.is_empty() {
        return Err(ManagerError::InvalidArgument(
            "save needs at least one image".into(),
        ));
    }
    let chosen = resolve_images(images, ns, refs)?;
    let _guard = images.op_guard();
    let mut archive = Archive::new(out)?;
    let mut index_entries = Vec::new();
    let mut manifest_json = Vec::new();
    for (rec, names) in &chosen {
        let manifest = oci_manifest(images, rec)?;
        let manifest_desc = archive.image_blobs(images.content(), rec, manifest)?;
        index_entries.extend(index_entries_for(&manifest_desc, names));
        manifest_json.push(docker_manifest_entry(rec, names));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": index_entries,
    });
    archive.finish([
        ("index.json", index),
        ("manifest.json", json!(manifest_json)),
        ("oci-layout", json!({ "imageLayoutVersion": "1.0.0" })),
    ])
}

/// Each image once, with every name it was asked for by (none when it was
/// asked for by ID or has no name).
fn resolve_images(
    images: &Images,
    ns: &str,
    refs: &[String],
) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
    let mut chosen: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
    for r in refs {
        let (rec, by_id) = images.resolve_image(ns, r)?;
        let names: Vec<Reference> = if by_id || rec.is_dangling() {
            vec![]
        } else {
            vec![Reference::parse(&rec.name)?]
        };
        match chosen.iter_mut().find(|(i, _)| i.id() == rec.id()) {
            Some((_, n)) => n.extend(names),
            None => chosen.push((rec, names)),
        }
    }
    Ok(chosen)
}

/// The archive being written; a blob shared by several chosen goes in once.
struct Archive<W: Write> {
    tar: tar::Builder<W>,
    written: BTreeSet<String>,
}

impl<W: Write> Archive<W> {
    /// Starts the archive with the blobs/ directories.
    fn new(out: W) -> Result<Self> {
        let mut tar = tar::Builder::new(out);
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(tar::EntryType::Directory, 0);
            h.set_mode(0o755);
            tar.append_data(&mut h, dir, std::io::empty())
                .ctx(|| "write archive".into())?;
        }
        Ok(Archive {
            tar,
            written: BTreeSet::new(),
        })
    }

    /// Writes an image's manifest (the OCI form `manifest` when there is
    /// one, else the stored one), config and layers; returns the manifest
    /// written.
    fn image_blobs(
        &mut self,
        content: &ContentStore,
        rec: &ImageRecord,
        manifest: Option<(Descriptor, Vec<u8>)>,
    ) -> Result<Descriptor> {
        if let Some((desc, bytes)) = &manifest {
            if self.written.insert(desc.digest.clone()) {
                let mut h = header(tar::EntryType::Regular, bytes.len() as u64);
                self.tar
                    .append_data(
                        &mut h,
                        format!("blobs/{}", desc.digest.replacen(':', "/", 1)),
                        &bytes[..],
                    )
                    .ctx(|| "write archive".into())?;
            }
        }
        let manifest_desc = manifest
            .map(|(d, _)| d)
            .unwrap_or_else(|| rec.manifest.clone());
        let stored = (manifest_desc.digest == rec.manifest.digest).then_some(&rec.manifest.digest);
        for d in stored
            .into_iter()
            .chain([&rec.config.digest])
            .chain(rec.layers.iter().map(|l| &l.blob.digest))
        {
            self.stored_blob(content, d)?;
        }
        Ok(manifest_desc)
    }

    /// Copies a blob from the content store, unless it is in already.
    fn stored_blob(&mut self, content: &ContentStore, d: &str) -> Result<()> {
        if !self.written.insert(d.to_string()) {
            return Ok(());
        }
        let dg = crate::content::Digest::parse(d)?;
        let f = content.open_blob(&dg)?;
        let size = f.metadata().ctx(|| format!("stat blob {d}"))?.len();
        let mut h = header(tar::EntryType::Regular, size);
        self.tar
            .append_data(&mut h, format!("blobs/sha256/{}", dg.hex()), f)
            .ctx(|| format!("write blob {d}"))
    }

    /// Writes the top-level JSON files and closes the archive.
    fn finish(
        mut self,
        files: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
    ) -> Result<()> {
        for (name, value) in files {
            let bytes = serde_json::to_vec(&value).map_err(|source| ManagerError::Encode {
                what: name.to_string(),
                source,
            })?;
            let mut h = header(tar::EntryType::Regular, bytes.len() as u64);
            self.tar
                .append_data(&mut h, name, &bytes[..])
                .ctx(|| "write archive".into())?;
        }
        self.tar
            .into_inner()
            .and_then(|mut w| w.flush())
            .ctx(|| "finish archive".into())?;
        Ok(())
    }
}

/// index.json entries for one image: one per name (containerd's and OCI's
/// name annotations), or one without a name.
fn index_entries_for(manifest_desc: &Descriptor, names: &[Reference]) -> Vec<serde_json::Value> {
    let desc = |ann: serde_json::Value| {
        json!({
            "mediaType": manifest_desc.media_type,
            "digest": manifest_desc.digest,
            "size": manifest_desc.size,
            "annotations": ann,
        })
    };
    let mut entries = Vec::new();
    if names.is_empty() {
        entries.push(desc(json!({})));
    }
    for n in names {
        let mut ann = json!({ "io.containerd.image.name": n.to_string() });
        if let Some(t) = n.tag() {
            ann["org.opencontainers.image.ref.name"] = json!(t);
        }
        entries.push(desc(ann));
    }
    entries
}

/// One image's entry in docker's manifest.json.
fn docker_manifest_entry(rec: &ImageRecord, names: &[Reference]) -> serde_json::Value {
    json!({
        "Config": format!("blobs/{}", rec.config.digest.replacen(':', "/", 1)),
        "RepoTags": names.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "Layers": rec.layers.iter()
            .map(|l| format!("blobs/{}", l.blob.digest.replacen(':', "/", 1)))
            .collect::<Vec<_>>(),
    })
}

/// OCI image layouts hold OCI manifests (skopeo and umoci accept nothing
/// else there), so a Docker v2 manifest is written in its OCI form: the
/// same config and layer blobs under OCI media types. None when the stored
/// manifest is already OCI.
fn oci_manifest(images: &Images, rec: &ImageRecord) -> Result<Option<(Descriptor, Vec<u8>)>> {
    if rec.manifest.media_type != media::DOCKER_MANIFEST {
        return Ok(None);
    }
    let bytes = images.read_json_blob(&rec.manifest.digest)?;
    let mut m = Manifest::parse(&bytes, &format!("manifest {}", rec.manifest.digest))?;
    m.media_type = Some(media::OCI_MANIFEST.into());
    m.config.media_type = media::OCI_CONFIG.into();
    for l in &mut m.layers {
        l.media_type = match l.media_type.as_str() {
            media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
            media::DOCKER_LAYER_ZSTD => media::OCI_LAYER_ZSTD,
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            }
            _ => media::OCI_LAYER,
        }
        .to_string();
    }
    let out = serde_json::to_vec(&m).map_err(|source| ManagerError::Encode {
        what: "manifest".into(),
        source,
    })?;
    let desc = Descriptor {
        media_type: media::OCI_MANIFEST.into(),
        digest: crate::content::Digest::of(&out).to_string(),
        size: out.len() as u64,
        annotations: Default::default(),
    };
    Ok(Some((desc, out)))
}

fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}
