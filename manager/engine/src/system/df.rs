//! `system df`: what the images, containers and volumes of a namespace take
//! on disk, and how much of it nothing uses, as docker's /system/df
//! reports it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::container::list::ListOptions;
use crate::container::summary::ContainerSummary;
use crate::core::blocking;
use crate::engine::Engine;
use crate::error::Result;
use crate::image::api::ImageSummary;

/// docker's disk usage: every image (by ID), container and volume, and
/// the size of all distinct layers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    /// The distinct layers of every image, each counted once.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
    /// Every container, with its sizes measured.
    pub containers: Vec<ContainerSummary>,
    pub volumes: Vec<VolumeUsage>,
}

/// One image (one ID, all its names) and what of it other images share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageUsage {
    /// Its first tagged name's summary (else its first name's).
    pub summary: ImageSummary,
    /// Every tagged name, familiar ("busybox:latest").
    pub repo_tags: Vec<String>,
    /// Bytes of its layers that another image (another ID) also has.
    pub shared_size: u64,
    /// Containers made from it (by ID).
    pub containers: u64,
}

/// A volume's size and how many containers reference it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeUsage {
    pub name: String,
    pub links: u64,
    pub size: u64,
}

impl Engine {
    /// The disk usage of namespace `ns`.
    #[tracing::instrument(name = "system.df", skip(self))]
    pub async fn disk_usage(&self, ns: &str) -> Result<DiskUsage> {
        let containers = self
            .containers()
            .list_containers(
                ns,
                ListOptions {
                    all: true,
                    size: true,
                    filters: Vec::new(),
                },
            )
            .await?;
        let (images, ns) = (self.images().clone(), ns.to_string());
        let records = blocking(move || images.list_images(&ns, None)).await?;
        let (layers_size, images) = image_usage(&records, &containers);
        let volumes = self
            .volumes()
            .volume_sizes()
            .await?
            .into_iter()
            .map(|v| VolumeUsage {
                name: v.record.name,
                links: v.links,
                size: v.size,
            })
            .collect();
        Ok(DiskUsage {
            layers_size,
            images,
            containers,
            volumes,
        })
    }
}

/// The images by ID, with what they share and how many containers use
/// them, and the size of all their distinct layers.
fn image_usage(
    records: &[crate::store::ImageRecord],
    containers: &[ContainerSummary],
) -> (u64, Vec<ImageUsage>) {
    let mut used_by: BTreeMap<&str, u64> = BTreeMap::new();
    for c in containers {
        *used_by.entry(c.image_id.as_str()).or_default() += 1;
    }
    let (layers_size, shared) = layer_sizes(records.iter().flat_map(|r| {
        r.layers
            .iter()
            .map(|l| (r.id(), l.chain_id.as_str(), l.unpacked_size))
    }));
    let mut images: Vec<ImageUsage> = Vec::new();
    for r in records {
        let summary = ImageSummary::of(r);
        let tagged = summary.tag != "<none>";
        let tag = format!("{}:{}", summary.repository, summary.tag);
        if let Some(u) = images.iter_mut().find(|u| u.summary.id == summary.id) {
            if tagged {
                if u.repo_tags.is_empty() {
                    u.summary = summary;
                }
                u.repo_tags.push(tag);
            }
            continue;
        }
        images.push(ImageUsage {
            shared_size: shared.get(r.id()).copied().unwrap_or(0),
            containers: used_by.get(r.id()).copied().unwrap_or(0),
            repo_tags: if tagged { vec![tag] } else { Vec::new() },
            summary,
        });
    }
    (layers_size, images)
}

/// From (image ID, layer chain ID, layer size) of every image's layers: the
/// size of every distinct layer together, and per image ID the bytes of its
/// layers that an image of another ID also has.
fn layer_sizes<'a>(
    layers: impl IntoIterator<Item = (&'a str, &'a str, u64)>,
) -> (u64, BTreeMap<String, u64>) {
    let mut holders: BTreeMap<&str, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for (id, chain, size) in layers {
        let e = holders.entry(chain).or_default();
        e.0 = size;
        e.1.insert(id);
    }
    let total = holders.values().map(|(size, _)| size).sum();
    let mut shared: BTreeMap<String, u64> = BTreeMap::new();
    for (size, ids) in holders.values().filter(|(_, ids)| ids.len() > 1) {
        for id in ids {
            *shared.entry(id.to_string()).or_default() += size;
        }
    }
    (total, shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn shared_layers_count_once_and_are_shared_by_other_ids_only() {
        // Two names of image a, one of b sharing its base, c alone.
        let (total, shared) = layer_sizes([
            ("sha256:a", "base", 100),
            ("sha256:a", "a1", 10),
            ("sha256:a", "base", 100),
            ("sha256:a", "a1", 10),
            ("sha256:b", "base", 100),
            ("sha256:b", "b1", 5),
            ("sha256:c", "c1", 7),
        ]);
        assert_eq!(total, 100 + 10 + 5 + 7);
        assert_eq!(shared.get("sha256:a"), Some(&100));
        assert_eq!(shared.get("sha256:b"), Some(&100));
        assert_eq!(shared.get("sha256:c"), None);
    }
}
