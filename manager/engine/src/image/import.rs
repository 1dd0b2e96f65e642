//! `berth import`: a root filesystem tarball becomes a one-layer image, its
//! config shaped by Dockerfile-style `--change` instructions.

use std::io::{self, BufReader, Read};

use rand::Rng;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::lease::Lease;
use super::media::{self, Compression};
use super::{change, unpack, NewImage};
use crate::content::{Committed, ContentStore, Digest};
use crate::core::OnCore;
use crate::error::{IoContext, ManagerError, Result};
use crate::image::Images;
use crate::reference::Reference;
use crate::store::{now, Descriptor};

/// What to import and how to describe it.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    pub reference: Option<String>,
    pub changes: Vec<String>,
    pub message: String,
    pub platform: Option<String>,
}

/// The imported image: its ID and its name, if any (familiar form).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    pub id: String,
    pub name: Option<String>,
}

/// Imports a rootfs tarball (plain, gzip or zstd) from `input`.
pub fn import(
    images: &Images,
    ns: &str,
    opts: &ImportOptions,
    input: impl Read,
) -> Result<Imported> {
    // Everything the user typed is checked before any data is taken in.
    let name = import_name(opts.reference.as_deref())?;
    let platform = parse_platform(opts.platform.as_deref())?;
    let mut runtime = oci_spec::image::Config::default();
    change::apply_changes(&mut runtime, &opts.changes)?;

    let mut lease = Lease::new(images, ns);
    let blob = take_in(images.content(), input)?;
    lease.add_blob(&blob);

    let (compression, diff_id) = hash_uncompressed(images, &blob.digest)?;
    let layer = Descriptor {
        media_type: compression.oci_layer_type().to_string(),
        digest: blob.digest.to_string(),
        size: blob.size,
        annotations: Default::default(),
    };
    let layers = unpack::unpack(
        images,
        &mut lease,
        std::slice::from_ref(&layer),
        std::slice::from_ref(&diff_id),
    )?;

    let created = now();
    let config = image_config(opts, platform, &runtime, &diff_id, &created);
    let (config_desc, manifest_desc) = store_documents(&mut lease, &blob, &config, layer)?;
    let id = config_desc.digest.clone();
    images.commit_images(
        ns,
        lease,
        vec![NewImage {
            target: manifest_desc.clone(),
            manifest: manifest_desc,
            config: config_desc,
            layers,
            created: Some(created),
            names: name.iter().cloned().collect(),
            extra: Vec::new(),
        }],
    )?;
    Ok(Imported {
        id,
        name: name.map(|n| n.familiar()),
    })
}

/// The name to give the image, tagged `latest` when no tag is given; a
/// digest cannot name what is about to be created.
fn import_name(reference: Option<&str>) -> Result<Option<Reference>> {
    let Some(r) = reference.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let r = Reference::parse(r)?;
    if r.digest().is_some() {
        return Err(ManagerError::InvalidArgument(format!(
            "cannot import to a digest reference: {r}"
        )));
    }
    Ok(Some(r.with_default_tag()))
}

/// Copies the import stream into the content store as one blob, as sent
/// (it is decompressed only to hash and unpack it).
fn take_in(content: &ContentStore, input: impl Read) -> Result<Committed> {
    let mut w = content.writer(&format!("import-{:016x}", rand::thread_rng().gen::<u64>()))?;
    let n = io::copy(&mut BufReader::with_capacity(1 << 20, input), &mut w)
        .ctx(|| "read the import stream".into())?;
    if n == 0 {
        return Err(ManagerError::InvalidArchive(
            "the import stream is empty".into(),
        ));
    }
    w.commit(None, None)
}

/// The image config: the platform, the runtime config the changes shaped,
/// the one layer, and a history entry carrying the message.
fn image_config(
    opts: &ImportOptions,
    (os, arch, variant): (String, String, Option<String>),
    runtime: &oci_spec::image::Config,
    diff_id: &str,
    created: &str,
) -> serde_json::Value {
    let comment = if opts.message.is_empty() {
        "Imported from -".to_string()
    } else {
        opts.message.clone()
    };
    let mut config = json!({
        "created": created,
        "architecture": arch,
        "os": os,
        "config": runtime,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "comment": comment }],
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    config
}

/// Stores the config and a manifest for it and `layer` under the lease;
/// returns their descriptors (config, manifest).
fn store_documents(
    lease: &mut Lease<'_>,
    blob: &Committed,
    config: &serde_json::Value,
    layer: Descriptor,
) -> Result<(Descriptor, Descriptor)> {
    let config_desc = lease.store_json(
        &format!("import-config-{}", blob.digest),
        media::OCI_CONFIG,
        config,
    )?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer],
    });
    let manifest_desc = lease.store_json(
        &format!("import-manifest-{}", blob.digest),
        media::OCI_MANIFEST,
        &manifest,
    )?;
    Ok((config_desc, manifest_desc))
}

/// The compression of a blob and the digest of its uncompressed bytes.
fn hash_uncompressed(images: &Images, d: &Digest) -> Result<(Compression, String)> {
    let mut f = BufReader::with_capacity(1 << 20, images.content().open_blob(d)?);
    let head = io::BufRead::fill_buf(&mut f).ctx(|| format!("read {d}"))?;
    if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        return Err(ManagerError::InvalidArchive(
            "bzip2 and xz archives are not supported: use a plain, gzip or zstd tar".into(),
        ));
    }
    let comp = Compression::detect(head);
    let mut reader: Box<dyn Read> = match comp {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(f).ctx(|| "zstd".into())?),
        Compression::None => Box::new(f),
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            ManagerError::InvalidArchive(format!("truncated or corrupt tarball: {e}"))
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok((comp, format!("sha256:{}", hex::encode(h.finalize()))))
}

fn parse_platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let (hos, harch, hvar) = media::host_platform();
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok((hos.into(), harch.into(), hvar.map(str::to_string)));
    };
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => {
            Ok((os.to_string(), arch.to_string(), None))
        }
        [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
            Ok((os.to_string(), arch.to_string(), Some(v.to_string())))
        }
        _ => Err(ManagerError::InvalidArgument(format!(
            "invalid platform {p:?}: want os/arch[/variant], e.g. linux/amd64"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(
            parse_platform(Some("linux/arm64/v8")).unwrap(),
            ("linux".into(), "arm64".into(), Some("v8".into()))
        );
        assert!(parse_platform(Some("linux")).is_err());
        assert!(parse_platform(None).is_ok());
    }
}
