//! `berth save`: images as one tar that is both a docker-save archive
//! (manifest.json with Config, RepoTags, Layers) and an OCI image layout
//! (oci-layout, index.json, blobs/sha256/...), as docker 25+ writes it.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;

use super::media;
use crate::engine::Engine;
use crate::error::{IoContext, ManagerError, Result};
use crate::reference::Reference;
use crate::store::ImageRecord;

/// Writes the images named by `refs` to `out`. Every reference is resolved
/// before a byte is written, so a bad one fails the save cleanly.
pub fn save(engine: &Engine, ns: &str, refs: &[String], out: impl Write) -> Result<()> {
    if refs.is_empty() {
        return Err(ManagerError::InvalidArgument(
            "save needs at least one image".into(),
        ));
    }
    // (record, names to write for it)
    let mut images: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
    for r in refs {
        let (rec, by_id) = engine.resolve_image(ns, r)?;
        let names: Vec<Reference> = if by_id || rec.is_dangling() {
            vec![]
        } else {
            vec![Reference::parse(&rec.name)?]
        };
        match images.iter_mut().find(|(i, _)| i.id() == rec.id()) {
            Some((_, n)) => n.extend(names),
            None => images.push((rec, names)),
        }
    }
    let _guard = engine.op_guard();
    let mut tar = tar::Builder::new(out);
    let mut written = BTreeSet::new();
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0);
        h.set_mode(0o755);
        tar.append_data(&mut h, dir, std::io::empty())
            .ctx(|| "write archive".into())?;
    }
    let mut index_entries = Vec::new();
    let mut manifest_json = Vec::new();
    for (rec, names) in &images {
        for d in [&rec.manifest.digest, &rec.config.digest]
            .into_iter()
            .chain(rec.layers.iter().map(|l| &l.blob.digest))
        {
            if written.insert(d.clone()) {
                let dg = crate::content::Digest::parse(d)?;
                let f = engine.content().open_blob(&dg)?;
                let size = f.metadata().ctx(|| format!("stat blob {d}"))?.len();
                let mut h = header(tar::EntryType::Regular, size);
                tar.append_data(&mut h, format!("blobs/sha256/{}", dg.hex()), f)
                    .ctx(|| format!("write blob {d}"))?;
            }
        }
        let desc = |ann: serde_json::Value| {
            json!({
                "mediaType": rec.manifest.media_type,
                "digest": rec.manifest.digest,
                "size": rec.manifest.size,
                "annotations": ann,
            })
        };
        if names.is_empty() {
            index_entries.push(desc(json!({})));
        }
        for n in names {
            let mut ann = json!({ "io.containerd.image.name": n.to_string() });
            if let Some(t) = n.tag() {
                ann["org.opencontainers.image.ref.name"] = json!(t);
            }
            index_entries.push(desc(ann));
        }
        manifest_json.push(json!({
            "Config": format!("blobs/{}", rec.config.digest.replacen(':', "/", 1)),
            "RepoTags": names.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Layers": rec.layers.iter()
                .map(|l| format!("blobs/{}", l.blob.digest.replacen(':', "/", 1)))
                .collect::<Vec<_>>(),
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": index_entries,
    });
    let files = [
        ("index.json", index),
        ("manifest.json", json!(manifest_json)),
        ("oci-layout", json!({ "imageLayoutVersion": "1.0.0" })),
    ];
    for (name, value) in files {
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| ManagerError::Internal(format!("encode {name}: {e}")))?;
        let mut h = header(tar::EntryType::Regular, bytes.len() as u64);
        tar.append_data(&mut h, name, &bytes[..])
            .ctx(|| "write archive".into())?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .ctx(|| "finish archive".into())?;
    Ok(())
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
