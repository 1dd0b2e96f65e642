//! berthd's error type. Every error says what failed and why, and exposes a
//! [`ErrorKind`] that each front door maps to its own status codes in one
//! place (see `server::status`).

use std::io;

use berth_snapshotter::SnapshotError;

use crate::container::resources::ResourceError;
use crate::container::seccomp::SeccompProfileError;
use crate::container::spec::SpecError;
use crate::container::task::TaskError;
use crate::image::change::ChangeError;
use crate::network::files::FilesError;
use crate::network::firewall::FirewallError;
use crate::network::link::LinkError;
use crate::network::ports::PortError;
use crate::reference::ReferenceError;

/// The kinds of failure are the workspace's one list (berth-errdefs),
/// shared with the snapshotter.
pub use berth_errdefs::ErrorKind;

/// Errors of berthd's services and engine.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotModified(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Unavailable(String),
    /// A registry refused the credentials, or wants some.
    #[error("{0}")]
    Unauthenticated(String),
    /// Bytes from a registry that do not match their digest.
    #[error("{0}")]
    DataLoss(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { media_type: String, what: String },
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A container's command could not be executed: docker's exit 126
    /// (not executable) or 127 (not found), which the CLI exits with.
    #[error("{message}")]
    StartFailed { message: String, exit_code: i32 },
    #[error("metadata store: {0}")]
    Store(#[from] sled::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// Links, addresses and routes (rtnetlink).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A link operation on a network's bridge, with the network's name.
    #[error("network {network}: {source}")]
    NetworkLink {
        network: String,
        #[source]
        source: LinkError,
    },
    /// The daemon's nftables table.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// User input for a container's network files (--dns, --add-host...).
    #[error(transparent)]
    Files(#[from] FilesError),
    /// A host port for a published port.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A docker seccomp profile (--security-opt seccomp=) that cannot be
    /// used.
    #[error(transparent)]
    Seccomp(#[from] SeccompProfileError),
    /// A task on the blocking pool or the runtime failed (panicked or was
    /// cancelled).
    #[error("worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// A document the engine wrote could not be encoded.
    #[error("encode {what}: {source}")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A transfer's concurrency limit was closed under a waiting job.
    #[error("transfer limit closed: {0}")]
    LimitClosed(#[from] tokio::sync::AcquireError),
    /// A stored or received document that does not decode.
    #[error("decode {what}: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A host port of `-p`/`-P` that cannot be held, in docker's words.
    #[error(
        "driver failed programming external connectivity on endpoint {endpoint} ({id}): {source}"
    )]
    PublishPort {
        endpoint: String,
        id: String,
        #[source]
        source: PortError,
    },
    /// The registry client could not be built. (Not `#[from]`: a registry's
    /// answers go through `distribution::errors::map`.)
    #[error("registry client: {0}")]
    RegistryClient(#[source] oci_client::errors::OciDistributionError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// A stored manifest's media type cannot be an HTTP header.
    #[error("manifest media type: {0}")]
    MediaTypeHeader(#[from] reqwest::header::InvalidHeaderValue),
}

impl ManagerError {
    /// The kind of this error, for the front doors' status mapping.
    pub fn kind(&self) -> ErrorKind {
        use ManagerError::*;
        match self {
            NoSuchImage(_) | NotFound(_) => ErrorKind::NotFound,
            AlreadyExists(_) => ErrorKind::AlreadyExists,
            Conflict(_) => ErrorKind::Conflict,
            NotModified(_) => ErrorKind::NotModified,
            Forbidden(_) => ErrorKind::Forbidden,
            FailedPrecondition(_) | DigestMismatch { .. } => ErrorKind::FailedPrecondition,
            InvalidArgument(_)
            | UnsupportedMediaType { .. }
            | InvalidArchive(_)
            | Reference(_)
            | Change(_)
            | Spec(_)
            | Resource(_) => ErrorKind::InvalidArgument,
            StartFailed { .. } => ErrorKind::FailedPrecondition,
            Task(e) => e.kind(),
            Unimplemented(_) => ErrorKind::Unimplemented,
            Unavailable(_) => ErrorKind::Unavailable,
            Unauthenticated(_) => ErrorKind::Unauthenticated,
            DataLoss(_) => ErrorKind::DataLoss,
            Snapshot(e) => e.kind(),
            Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
                ErrorKind::InvalidArgument
            }
            Store(_) | Io { .. } | Internal(_) => ErrorKind::Internal,
            Link(e) | NetworkLink { source: e, .. } => e.kind(),
            Firewall(e) => e.kind(),
            Files(e) => e.kind(),
            Port(e) => e.kind(),
            PublishPort { .. } => ErrorKind::FailedPrecondition,
            Seccomp(_) => ErrorKind::InvalidArgument,
            Worker(_)
            | LimitClosed(_)
            | Encode { .. }
            | Decode { .. }
            | RegistryClient(_)
            | HttpClient(_)
            | MediaTypeHeader(_) => ErrorKind::Internal,
        }
    }

    /// A netlink failure on the bridge or the veths of `network`, as a
    /// `map_err` argument.
    pub fn on_network(network: &str) -> impl FnOnce(LinkError) -> ManagerError + '_ {
        move |source| ManagerError::NetworkLink {
            network: network.to_string(),
            source,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        ManagerError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for berthd.
pub type Result<T, E = ManagerError> = std::result::Result<T, E>;

/// Adds context to I/O results.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ManagerError::io(context(), e))
    }
}
