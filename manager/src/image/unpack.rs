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
use crate::engine::Engine;
use crate::error::{ManagerError, Result};
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
    engine: &Engine,
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
        let size = unpack_layer(engine, lease, parent, &chains[i], layer, &diff_ids[i])?;
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
    engine: &Engine,
    lease: &mut Lease<'_>,
    parent: Option<&str>,
    chain: &str,
    layer: &Descriptor,
    diff_id: &str,
) -> Result<u64> {
    let sn = engine.snapshotter();
    if let Ok(info) = sn.stat(chain) {
        return Ok(info
            .labels
            .get(LABEL_UNPACKED_SIZE)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| sn.usage(chain).map(|u| u.size).unwrap_or(0)));
    }
    let key = format!("extract-{:016x} {chain}", rand::thread_rng().gen::<u64>());
    let mounts = sn.prepare(&key, parent, Labels::new())?;
    let result = (|| {
        let blob = Digest::parse(&layer.digest)?;
        let file = engine.content().open_blob(&blob)?;
        let stats = apply_layer(&mounts, BufReader::with_capacity(1 << 20, file))?;
        if stats.diff_id != diff_id {
            return Err(ManagerError::DigestMismatch {
                what: format!("the uncompressed layer {} (diff ID)", layer.digest),
                expected: diff_id.to_string(),
                actual: stats.diff_id,
            });
        }
        let mut labels = Labels::new();
        labels.insert(LABEL_UNPACKED_SIZE.into(), stats.size.to_string());
        match sn.commit(chain, &key, labels) {
            Ok(()) => {}
            // Another operation committed the same chain meanwhile.
            Err(e) if e.kind() == SnapErrorKind::AlreadyExists => {
                let _ = sn.remove(&key);
            }
            Err(e) => return Err(e.into()),
        }
        debug!(chain, size = stats.size, "unpacked layer");
        Ok(stats.size)
    })();
    if result.is_err() {
        let _ = sn.remove(&key);
    } else {
        lease.new_snapshot(chain);
    }
    result
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
