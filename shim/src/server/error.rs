//! The server's one error type, and the one place its kinds become gRPC
//! status codes.

use std::path::PathBuf;

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use super::rootfs::RootfsError;
use crate::cgroups::CgroupError;
use crate::io::IoError;
use crate::runtime::RuntimeError;

/// The status metadata key that carries a failed exec's exit code (126, 127).
pub const EXIT_CODE_METADATA: &str = "berth-exit-code";

/// Why a Task API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No task (or exec) by that id in this shim.
    #[error("{0} not found")]
    NotFound(String),
    /// What exists: "task <id>", "exec <id>".
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The call does not fit the task's state.
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    /// config.json could not be read.
    #[error("cannot load the OCI spec {}: {message}", path.display())]
    Spec { path: PathBuf, message: String },
    /// A file the shim writes into the bundle.
    #[error("cannot write {}: {source}", path.display())]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("rootfs: {0}")]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

impl ServerError {
    fn code(&self) -> Code {
        match self {
            ServerError::NotFound(_) => Code::NotFound,
            ServerError::AlreadyExists(_) => Code::AlreadyExists,
            ServerError::State(_) => Code::FailedPrecondition,
            ServerError::Invalid(_) | ServerError::Spec { .. } => Code::InvalidArgument,
            ServerError::Unsupported(_) => Code::Unimplemented,
            ServerError::Runtime(e) => match e {
                RuntimeError::Exec { .. } | RuntimeError::State(_) => Code::FailedPrecondition,
                RuntimeError::Spec(_) | RuntimeError::Seccomp(_) => Code::InvalidArgument,
                RuntimeError::Unsupported(_) => Code::Unimplemented,
                RuntimeError::Cgroup(CgroupError::Invalid { .. }) => Code::InvalidArgument,
                _ => Code::Internal,
            },
            ServerError::Cgroup(CgroupError::Invalid { .. }) => Code::InvalidArgument,
            ServerError::Cgroup(CgroupError::NotFound { .. }) => Code::NotFound,
            ServerError::Bundle { .. }
            | ServerError::Rootfs(_)
            | ServerError::Io(_)
            | ServerError::Cgroup(_) => Code::Internal,
        }
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        let mut status = Status::new(e.code(), e.to_string());
        if let ServerError::Runtime(RuntimeError::Exec { code, .. }) = &e {
            if let Ok(v) = MetadataValue::try_from(code.to_string()) {
                status.metadata_mut().insert(EXIT_CODE_METADATA, v);
            }
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_carry_the_exit_code() {
        let s = Status::from(ServerError::Runtime(RuntimeError::Exec {
            code: 127,
            message: "exec: \"nosuch\": executable file not found in $PATH".into(),
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(
            s.message(),
            "exec: \"nosuch\": executable file not found in $PATH"
        );
        assert_eq!(s.metadata().get(EXIT_CODE_METADATA).unwrap(), "127");
    }

    #[test]
    fn kinds_map_to_codes() {
        assert_eq!(
            Status::from(ServerError::NotFound("task x".into())).code(),
            Code::NotFound
        );
        assert_eq!(
            Status::from(ServerError::State("running".into())).code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            Status::from(ServerError::Unsupported("no".into())).code(),
            Code::Unimplemented
        );
    }
}
