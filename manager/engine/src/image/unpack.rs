//! Unpacking: each layer becomes a committed snapshot named by its chain ID.
//! For each layer: prepare("extract-<random> <chainID>", parent) → apply the
//! blob into those mounts → check its diff ID → commit(chainID). A chain
//! already committed is reused, so layers shared by images unpack once.

use std::io::BufReader;

use berth_snapshotter::{apply_layer, ErrorKind as SnapErrorKind, Labels};
use rand::Rng;
use sha2::{Digest as _, Sha256};
use tracing::debug;

use super::lease::Lease;
use crate::content::Digest;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::image::Images;
use crate::store::{Descriptor, LayerRecord};

/// Label on a committed layer snapshot: the uncompressed size of its layer.
const LABEL_UNPACKED_SIZE: &str = "berth.layer.unpacked-size";

/// The chain IDs of a list of diff IDs (OCI image spec, "ChainID").
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let mut h = Sha256::new();
                h.update(prev.as_bytes());
                h.update(b" ");
                h.update(d.as_bytes());
                format!("sha256:{}", hex::encode(h.finalize()))
            }
        };
        out.push(next);
    }
    out
}

/// Unpacks `layers` (with the config's diff IDs) and returns their records.
/// New snapshots are added to the lease, so a failure removes them.
pub fn unpack(
    images: &Images,
    lease: &mut Lease<'_>,
    layers: &[Descriptor],
    diff_ids: &[String],
) -> Result<Vec<LayerRecord>> {
    if layers.len() != diff_ids.len() {
        return Err(ManagerError::InvalidArchive(format!(
            "the manifest lists {} layers but the config has {} diff IDs",
            layers.len(),
            diff_ids.len()
        )));
    }
    let chains = chain_ids(diff_ids);
    let mut records = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let parent = if i == 0 {
            None
        } else {
            Some(chains[i - 1].as_str())
        };
        let size = unpack_layer(images, lease, parent, &chains[i], layer, &diff_ids[i])?;
        records.push(LayerRecord {
            blob: layer.clone(),
            diff_id: diff_ids[i].clone(),
            chain_id: chains[i].clone(),
            unpacked_size: size,
        });
    }
    Ok(records)
}

fn unpack_layer(
    images: &Images,
    lease: &mut Lease<'_>,
    parent: Option<&str>,
    chain: &str,
    layer: &Descriptor,
    diff_id: &str,
) -> Result<u64> {
    if let Some(size) = unpacked(images, chain) {
        return Ok(size);
    }
    let blob = Digest::parse(&layer.digest)?;
    let file = images.content().open_blob(&blob)?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let extracted = extract(images, parent, chain, reader, &layer.digest, diff_id)?;
    let size = extracted.commit()?;
    lease.new_snapshot(chain);
    Ok(size)
}

/// The unpacked size of the committed layer `chain`, if it is unpacked.
pub fn unpacked(images: &Images, chain: &str) -> Option<u64> {
    let sn = images.snapshotter();
    let info = sn.stat(chain).ok()?;
    Some(
        info.labels
            .get(LABEL_UNPACKED_SIZE)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| sn.usage(chain).map(|u| u.size).unwrap_or(0)),
    )
}

/// A layer applied to an active snapshot, not yet committed. Dropped
/// without `commit`, the snapshot is removed.
pub struct Extracted<'e> {
    images: &'e Images,
    key: String,
    chain: String,
    size: u64,
    committed: bool,
}

/// Applies the layer read from `reader` (the blob `layer_digest`, any
/// compression) on top of `parent` and checks its diff ID.
pub fn extract<'e>(
    images: &'e Images,
    parent: Option<&str>,
    chain: &str,
    reader: impl std::io::Read,
    layer_digest: &str,
    diff_id: &str,
) -> Result<Extracted<'e>> {
    let sn = images.snapshotter();
    let key = format!("extract-{:016x} {chain}", rand::thread_rng().gen::<u64>());
    let mounts = sn.prepare(&key, parent, Labels::new())?;
    let mut ex = Extracted {
        images,
        key,
        chain: chain.to_string(),
        size: 0,
        committed: false,
    };
    let stats = apply_layer(&mounts, reader)?;
    if stats.diff_id != diff_id {
        return Err(ManagerError::DigestMismatch {
            what: format!("the uncompressed layer {layer_digest} (diff ID)"),
            expected: diff_id.to_string(),
            actual: stats.diff_id,
        });
    }
    ex.size = stats.size;
    Ok(ex)
}

impl Extracted<'_> {
    /// Commits the snapshot under its chain ID; returns the unpacked size.
    pub fn commit(mut self) -> Result<u64> {
        let sn = self.images.snapshotter();
        let mut labels = Labels::new();
        labels.insert(LABEL_UNPACKED_SIZE.into(), self.size.to_string());
        match sn.commit(&self.chain, &self.key, labels) {
            Ok(()) => {}
            // Another operation committed the same chain meanwhile.
            Err(e) if e.kind() == SnapErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        self.committed = true;
        debug!(chain = %self.chain, size = self.size, "unpacked layer");
        Ok(self.size)
    }
}

impl Drop for Extracted<'_> {
    fn drop(&mut self) {
        let sn = self.images.snapshotter();
        if !self.committed || sn.stat(&self.key).is_ok() {
            let _ = sn.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = "sha256:aaaa".to_string();
        let b = "sha256:bbbb".to_string();
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        let mut h = Sha256::new();
        h.update(b"sha256:aaaa sha256:bbbb");
        assert_eq!(c[1], format!("sha256:{}", hex::encode(h.finalize())));
    }
}
