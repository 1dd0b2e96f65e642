//! The typed records kept in the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: String,
}

/// An OCI content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One unpacked layer of an image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// The blob as stored (compressed or not).
    pub blob: Descriptor,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Chain ID: the name of the committed snapshot.
    pub chain_id: String,
    /// Uncompressed size in bytes.
    pub unpacked_size: u64,
}

/// An image name and what it resolves to. The manifest, config and layers
/// are the references garbage collection follows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// Full normalized name, or "sha256:<id>" for an untagged image.
    pub name: String,
    /// What the name points at: a manifest, or an index.
    pub target: Descriptor,
    /// Other blobs the target needs (an index's manifests for other
    /// platforms that are present).
    #[serde(default)]
    pub extra_blobs: Vec<String>,
    /// The manifest for this host's platform.
    pub manifest: Descriptor,
    /// The image config; its digest is the image ID.
    pub config: Descriptor,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// The snapshotter the layers are unpacked in.
    pub snapshotter: String,
    /// Creation time from the image config.
    #[serde(default)]
    pub created: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl ImageRecord {
    /// The image ID (config digest).
    pub fn id(&self) -> &str {
        &self.config.digest
    }

    /// Whether this record is the nameless entry of an untagged image.
    pub fn is_dangling(&self) -> bool {
        self.name.starts_with("sha256:")
    }

    /// Every blob this image references.
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        [
            self.target.digest.as_str(),
            self.manifest.digest.as_str(),
            self.config.digest.as_str(),
        ]
        .into_iter()
        .chain(self.extra_blobs.iter().map(String::as_str))
        .chain(self.layers.iter().map(|l| l.blob.digest.as_str()))
    }

    /// Sum of the unpacked layer sizes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.unpacked_size).sum()
    }
}

/// A blob held by a namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContentRecord {
    pub digest: String,
    pub size: u64,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A snapshot a namespace references.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub key: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}
