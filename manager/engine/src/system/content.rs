//! The content and snapshots of a namespace, as the front doors show them:
//! async operations with typed views.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::blocking;
use crate::core::OnCore;
use crate::engine::Engine;
use crate::error::Result;
use crate::store::ContentRecord;

/// The re-hash of one blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlobCheck {
    pub digest: String,
    /// Why the blob is not what its digest says; None when it is.
    pub error: Option<String>,
}

/// One snapshot a namespace references, with the snapshotter's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotView {
    pub name: String,
    pub parent: Option<String>,
    /// "committed", "active", ...; "missing" when the snapshotter has none.
    pub kind: String,
    pub created_at: String,
    pub size: u64,
    pub inodes: u64,
    pub labels: BTreeMap<String, String>,
}

/// The snapshots of a namespace and the snapshotter they are in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotList {
    pub snapshotter: String,
    pub snapshots: Vec<SnapshotView>,
}

impl Engine {
    /// The blobs a namespace holds.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn content_list(&self, ns: &str) -> Result<Vec<ContentRecord>> {
        let (engine, ns) = (self.clone(), ns.to_string());
        blocking(move || engine.core().list_content(&ns)).await
    }

    /// One blob of a namespace.
    #[tracing::instrument(skip_all, fields(namespace = %ns, digest = %digest))]
    pub async fn content_inspect(&self, ns: &str, digest: &str) -> Result<ContentRecord> {
        let (engine, ns, digest) = (self.clone(), ns.to_string(), digest.to_string());
        blocking(move || engine.core().content_info(&ns, &digest)).await
    }

    /// Re-hashes every blob of a namespace.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn content_verify(&self, ns: &str) -> Result<Vec<BlobCheck>> {
        let (engine, ns) = (self.clone(), ns.to_string());
        let results = blocking(move || engine.core().verify_content(&ns)).await?;
        Ok(results
            .into_iter()
            .map(|(digest, r)| BlobCheck {
                digest,
                error: r.err(),
            })
            .collect())
    }

    /// The snapshots a namespace references.
    #[tracing::instrument(skip_all, fields(namespace = %ns))]
    pub async fn snapshot_list(&self, ns: &str) -> Result<SnapshotList> {
        let (engine, ns) = (self.clone(), ns.to_string());
        let list = blocking(move || engine.core().list_snapshots(&ns)).await?;
        let snapshots = list
            .into_iter()
            .map(|(rec, info, usage)| SnapshotView {
                name: rec.key,
                parent: rec.parent,
                kind: info
                    .as_ref()
                    .map(|i| i.kind.to_string())
                    .unwrap_or_else(|| "missing".into()),
                created_at: rec.created_at,
                size: usage.size,
                inodes: usage.inodes,
                labels: info
                    .map(|i| i.labels.into_iter().collect())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(SnapshotList {
            snapshotter: self.snapshotter_name().to_string(),
            snapshots,
        })
    }
}
