//! The layout of berthd's metadata in sled, drawn in one place.
//!
//! ```text
//! meta.db (sled), default tree:
//!   schema                                  -> "1"  (the schema version)
//!   v1/namespaces/<ns>                      -> NamespaceRecord
//!   v1/ns/<ns>/images/<name>                -> ImageRecord
//!   v1/ns/<ns>/content/<digest>             -> ContentRecord
//!   v1/ns/<ns>/snapshots/<snapshotter>/<key>-> SnapshotRecord
//!   v1/ns/<ns>/containers/<id>              -> ContainerRecord (container::record)
//!   v1/networks/<id>                        -> NetworkRecord (network::record; daemon-wide)
//!   v1/ipam/<network id>/<8 hex of the IPv4> -> "<ns>/<container id>" (an address in use)
//!   v1/volumes/<name>                       -> VolumeRecord (volume::record; daemon-wide)
//! ```
//!
//! Values are JSON. Everything of one namespace shares the prefix
//! `v1/ns/<ns>/`, so "is the namespace empty" is one prefix scan. References
//! that garbage collection follows are typed fields of the records: an image
//! references its manifest, config and layer blobs and the snapshot chain of
//! its layers; a container its image (`image_id`) and its active snapshot
//! (`snapshot_key`, also recorded as a snapshot record of the namespace).
//!
//! Migrations: `Store::open` reads `schema`; a database without it is new and
//! gets the current version; a newer version than this build knows is refused.

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Key of the schema version.
pub const SCHEMA_KEY: &[u8] = b"schema";

/// Key of a namespace record.
pub fn namespace_key(ns: &str) -> String {
    format!("v1/namespaces/{ns}")
}
/// Prefix of every namespace record.
pub const NAMESPACES_PREFIX: &str = "v1/namespaces/";

/// Prefix of everything one namespace holds.
pub fn ns_prefix(ns: &str) -> String {
    format!("v1/ns/{ns}/")
}
/// Prefix of the image records of a namespace.
pub fn images_prefix(ns: &str) -> String {
    format!("v1/ns/{ns}/images/")
}
/// Key of an image record.
pub fn image_key(ns: &str, name: &str) -> String {
    format!("v1/ns/{ns}/images/{name}")
}
/// Prefix of the content records of a namespace.
pub fn content_prefix(ns: &str) -> String {
    format!("v1/ns/{ns}/content/")
}
/// Key of a content record.
pub fn content_key(ns: &str, digest: &str) -> String {
    format!("v1/ns/{ns}/content/{digest}")
}
/// Prefix of the snapshot records of a namespace in one snapshotter.
pub fn snapshots_prefix(ns: &str, snapshotter: &str) -> String {
    format!("v1/ns/{ns}/snapshots/{snapshotter}/")
}
/// Key of a snapshot record.
pub fn snapshot_key(ns: &str, snapshotter: &str, key: &str) -> String {
    format!("v1/ns/{ns}/snapshots/{snapshotter}/{key}")
}
/// Prefix of the container records of a namespace.
pub fn containers_prefix(ns: &str) -> String {
    format!("v1/ns/{ns}/containers/")
}
/// Key of a container record.
pub fn container_key(ns: &str, id: &str) -> String {
    format!("v1/ns/{ns}/containers/{id}")
}
/// Prefix of every network record.
pub const NETWORKS_PREFIX: &str = "v1/networks/";
/// Key of a network record.
pub fn network_key(id: &str) -> String {
    format!("v1/networks/{id}")
}
/// Prefix of the address allocations of a network.
pub fn ipam_prefix(network_id: &str) -> String {
    format!("v1/ipam/{network_id}/")
}
/// Key of one allocated address: its 32 bits in hex, so keys sort as
/// addresses do.
pub fn ipam_key(network_id: &str, ip: std::net::Ipv4Addr) -> String {
    format!("v1/ipam/{network_id}/{:08x}", u32::from(ip))
}
/// Prefix of every address allocation.
pub const IPAM_PREFIX: &str = "v1/ipam/";
/// Prefix of every volume record.
pub const VOLUMES_PREFIX: &str = "v1/volumes/";
/// Key of a volume record.
pub fn volume_key(name: &str) -> String {
    format!("v1/volumes/{name}")
}
