//! berth-snapshotter owns snapshots — the layered file systems that become image layers and
//! container root file systems — and the conversion between OCI layer tars and those layers
//! (apply and diff, with whiteouts). It offers one trait, [`Snapshotter`], with an overlayfs
//! backend and a native (full copy) backend, and persists its own metadata under the backend's
//! root. It knows nothing of images, registries, namespaces or gRPC: callers name snapshots with
//! opaque keys, and it hands back [`Mount`] descriptions rather than mounting container roots.

// unsafe is confined to the mount module (which today needs none: nix wraps the calls).
#![deny(unsafe_code)]

mod apply;
mod diff;
mod error;
mod fsmeta;
mod layer_stream;
mod layered;
mod metadata;
#[allow(unsafe_code)]
mod mount;
mod native;
mod overlay;
pub mod safe_path;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use apply::{apply_layer, ApplyStats};
pub use diff::write_diff;
pub use error::{ErrorKind, SnapshotError};
pub use mount::{mount_all, unmount, Mount};

/// Free-form labels attached to a snapshot (GC references, ownership, ...).
pub type Labels = BTreeMap<String, String>;

/// The state of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Writable; created by `prepare`; can be mounted and committed.
    Active,
    /// Read-only; created by `view`; can be mounted but never committed.
    View,
    /// Immutable; created by `commit`; can be a parent, cannot be mounted directly.
    Committed,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Active => "active",
            Kind::View => "view",
            Kind::Committed => "committed",
        })
    }
}

/// What `stat` and `walk` report about a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The key (active, view) or name (committed).
    pub name: String,
    /// The name of the committed parent, if any.
    pub parent: Option<String>,
    pub kind: Kind,
    pub labels: Labels,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Last change (commit), unix seconds.
    pub updated: i64,
}

/// Disk usage of a snapshot's own layer: for overlayfs the upper dir, for native the full copy.
/// Hard-linked files are counted once; `size` counts allocated blocks, like `du`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub size: u64,
    pub inodes: u64,
}

/// A store of layered file systems, in the model of containerd's `snapshots.Snapshotter`.
///
/// # Keys, names and parents
///
/// Every snapshot is identified by one string from a single namespace: the *key* of an active
/// snapshot or a view, or the *name* of a committed snapshot. Keys are opaque and may contain
/// any character (`"extract-1234 sha256:ab…"`, `"sha256:…"`); backends map them to numeric ids
/// for directories. Creating a snapshot under a string any snapshot already uses fails with
/// `AlreadyExists`, whatever that snapshot's kind.
///
/// A snapshot may have a *parent*, which must be a committed snapshot. The file system of a
/// snapshot is its parent's file system plus its own changes; parents therefore form chains
/// (base layer ← layer 2 ← …), and a committed snapshot can be the parent of many others.
///
/// # Lifecycle
///
/// - [`prepare`](Snapshotter::prepare) creates an **active** snapshot under `key` on top of
///   `parent` (or empty) and returns the mounts that present it writable. The caller mounts them,
///   changes the tree (e.g. applies a layer), and then either commits or removes it.
/// - [`view`](Snapshotter::view) creates a read-only **view** of `parent`. Changes made through
///   a view's mounts (if the backend cannot enforce read-only) are never kept; a view cannot be
///   committed and exists to be mounted and removed.
/// - [`commit`](Snapshotter::commit) turns the active snapshot `key` into the **committed**
///   snapshot `name`. The key ceases to exist; the content is fixed from then on, and `name` can
///   be used as a parent. The caller must unmount the active snapshot's mounts first.
/// - [`remove`](Snapshotter::remove) deletes a snapshot of any kind and its directories. A
///   committed snapshot that is still the parent of another snapshot cannot be removed
///   (`FailedPrecondition`); remove the children first.
///
/// The usual uses: unpacking an image is, per layer, `prepare("extract-<random> <chainID>",
/// parent)` → apply the layer into the mounts → `commit(chainID, key)`; a container root is
/// `prepare(container_id, top_layer)`; a read-only look at an image is `view`.
///
/// # Errors
///
/// `NotFound` for an unknown key or parent, `AlreadyExists` for a used key or name,
/// `FailedPrecondition` for a wrong state (parent not committed, committing a view, mounting a
/// committed snapshot, removing a parent), `InvalidArgument` for an empty key. Messages name the
/// key.
///
/// # Durability and concurrency
///
/// Metadata survives a restart. Directories are created before the metadata that points at
/// them and deleted after it is gone; opening a root deletes directories that no metadata
/// names, so a crash leaves neither dangling records nor leaked directories for long.
/// Implementations are thread safe.
pub trait Snapshotter: Send + Sync {
    /// The backend's name: "overlayfs" or "native".
    fn name(&self) -> &'static str;

    /// Information about the snapshot `key` (any kind).
    fn stat(&self, key: &str) -> Result<Info, SnapshotError>;

    /// Disk usage of the snapshot's own layer (any kind).
    fn usage(&self, key: &str) -> Result<Usage, SnapshotError>;

    /// The mounts of an active snapshot or a view, as returned by `prepare`/`view`.
    /// A committed snapshot has none (`FailedPrecondition`); view it instead.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates the active snapshot `key` on top of the committed `parent` (or empty).
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates the read-only view `key` of the committed `parent` (or of an empty tree).
    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// Turns the active snapshot `key` into the committed snapshot `name`; `labels` replace the
    /// active snapshot's labels. `key` disappears.
    fn commit(&self, name: &str, key: &str, labels: Labels) -> Result<(), SnapshotError>;

    /// Deletes the snapshot `key` (any kind) and its directories. Fails while it has children.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;

    /// Calls `f` for every snapshot, in key order. `f` may call back into the snapshotter.
    fn walk(
        &self,
        f: &mut dyn FnMut(&Info) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError>;

    /// The directory this snapshotter keeps everything in.
    fn root(&self) -> &Path;
}

/// The backends `open` knows.
pub const BACKENDS: &[&str] = &["overlayfs", "native"];

/// Opens (creating if needed) the snapshotter `backend` rooted at `root`.
pub fn open(backend: &str, root: &Path) -> Result<Box<dyn Snapshotter>, SnapshotError> {
    match backend {
        "overlayfs" => overlay::open(root),
        "native" => native::open(root),
        other => Err(SnapshotError::InvalidArgument {
            reason: format!(
                "unknown snapshotter {other:?}; valid snapshotters are: {}",
                BACKENDS.join(", ")
            ),
        }),
    }
}

/// Mounts `mounts` on `target` as [`mount_all`] does, with `nodev` and `nosuid` added to each:
/// for the mounts a daemon makes on the host to look into a snapshot (to read its users
/// database, to apply or diff through a mount). An image's device nodes and setuid-root files
/// are then inert through that mount, whoever reaches its mount point. Never for a container's
/// own root file system, whose devices and setuid files are the image's to use. On an `rbind`
/// the flags reach the top mount only; a snapshot's directory has no mounts below it.
pub fn mount_all_nodev_nosuid(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    let inert: Vec<Mount> = mounts.iter().map(with_nodev_nosuid).collect();
    mount_all(&inert, target)
}

fn with_nodev_nosuid(m: &Mount) -> Mount {
    let mut m = m.clone();
    // "dev" and "suid" only mean "no flag": drop them so the options read as what happens.
    m.options.retain(|o| o != "dev" && o != "suid");
    for flag in ["nodev", "nosuid"] {
        if !m.options.iter().any(|o| o == flag) {
            m.options.push(flag.to_owned());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodev_nosuid_is_added_once() {
        let m = Mount {
            fstype: "bind".into(),
            source: "/x".into(),
            options: vec!["rbind".into(), "ro".into(), "suid".into(), "nodev".into()],
        };
        assert_eq!(
            with_nodev_nosuid(&m).options,
            ["rbind", "ro", "nodev", "nosuid"]
        );
        let o = Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=/a:/b".into()],
        };
        assert_eq!(
            with_nodev_nosuid(&o).options,
            ["lowerdir=/a:/b", "nodev", "nosuid"]
        );
    }

    /// A device node of a snapshot opens through a plain mount and not through a nodev one.
    #[test]
    fn nodev_mounts_make_device_nodes_inert() {
        testsuite::require_root();
        let t = tempfile::tempdir().expect("tempdir");
        let sn = open("native", &t.path().join("sn")).expect("open native");
        let mounts = sn.prepare("a", None, Labels::new()).expect("prepare");
        let [m] = mounts.as_slice() else {
            panic!("native mounts: {mounts:?}");
        };
        let node = Path::new(&m.source).join("null");
        fsmeta::mknod(&node, nix::sys::stat::SFlag::S_IFCHR, 0o666, 1, 3).expect("mknod");
        let target = t.path().join("mnt");
        std::fs::create_dir(&target).expect("mkdir");
        for (inert, opens) in [(false, true), (true, false)] {
            if inert {
                mount_all_nodev_nosuid(&mounts, &target).expect("mount nodev");
            } else {
                mount_all(&mounts, &target).expect("mount");
            }
            let opened = std::fs::File::open(target.join("null"));
            unmount(&target).expect("unmount");
            match opened {
                Ok(_) => assert!(opens, "opened a device node through a nodev mount"),
                Err(e) => {
                    assert!(!opens, "cannot open through a plain mount: {e}");
                    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
                }
            }
        }
        sn.remove("a").expect("remove");
    }

    #[test]
    fn unknown_backend_lists_valid_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = open("zfs", dir.path()).err().expect("must fail");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let msg = err.to_string();
        assert!(msg.contains("zfs") && msg.contains("overlayfs") && msg.contains("native"));
    }

    #[test]
    fn kind_display() {
        assert_eq!(Kind::Active.to_string(), "active");
        assert_eq!(Kind::View.to_string(), "view");
        assert_eq!(Kind::Committed.to_string(), "committed");
    }
}
