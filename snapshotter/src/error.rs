//! The crate's one error type. Every variant names the object it is about (snapshot key,
//! layer entry, path) so the message can be shown to a user as is.

use std::io;
use std::path::PathBuf;

/// The kinds of failure are the workspace's one list (berth-errdefs).
pub use berth_errdefs::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot (of any kind) has this key or name.
    #[error("snapshot {key:?} not found")]
    NotFound { key: String },

    /// The key or name is already used by a snapshot of some kind.
    #[error("snapshot {key:?} already exists")]
    AlreadyExists { key: String },

    /// The snapshot exists but is in the wrong state for the operation.
    #[error("snapshot {key:?}: {reason}")]
    FailedPrecondition { key: String, reason: String },

    /// A caller-supplied argument makes no sense (empty key, unknown backend, ...).
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },

    /// A layer entry was refused; `reason` says why (escapes the root, bad type, ...).
    #[error("layer entry {entry:?} {reason}")]
    InvalidLayer { entry: String, reason: String },

    /// The layer stream ended before the tar end-of-archive marker.
    #[error("layer stream is truncated: {detail}")]
    Truncated { detail: String },

    /// The layer stream is not a readable (optionally compressed) tar archive.
    #[error("layer stream is corrupt: {detail}")]
    CorruptLayer { detail: String },

    /// The backend cannot work on this host (e.g. overlayfs is not usable).
    #[error("snapshotter {backend} is not usable at {root}: {reason}")]
    Unsupported {
        backend: &'static str,
        root: PathBuf,
        reason: String,
    },

    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// mount(2) or umount(2) failed.
    #[error("{op} {target}: {source}")]
    Mount {
        op: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },

    /// The metadata database failed.
    #[error("snapshot metadata: {context}: {source}")]
    Metadata {
        context: String,
        #[source]
        source: sled::Error,
    },

    /// A metadata record could not be decoded; the database is damaged.
    #[error("snapshot metadata record {key:?} is corrupt: {reason}")]
    CorruptMetadata { key: String, reason: String },
}

impl SnapshotError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound { .. } => ErrorKind::NotFound,
            SnapshotError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            SnapshotError::FailedPrecondition { .. } | SnapshotError::Unsupported { .. } => {
                ErrorKind::FailedPrecondition
            }
            SnapshotError::InvalidArgument { .. }
            | SnapshotError::InvalidLayer { .. }
            | SnapshotError::Truncated { .. }
            | SnapshotError::CorruptLayer { .. } => ErrorKind::InvalidArgument,
            SnapshotError::Io { .. }
            | SnapshotError::Mount { .. }
            | SnapshotError::Metadata { .. }
            | SnapshotError::CorruptMetadata { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        SnapshotError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn precondition(key: &str, reason: impl Into<String>) -> Self {
        SnapshotError::FailedPrecondition {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(key: &str) -> Self {
        SnapshotError::NotFound {
            key: key.to_owned(),
        }
    }
}

/// Attaches a context sentence to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, SnapshotError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, SnapshotError> {
        self.map_err(|source| SnapshotError::io(context(), source))
    }
}
