//! The one place where berthd's errors become gRPC statuses.

use tonic::{Code, Status};

use berth_engine::error::{ErrorKind, ManagerError};

/// Maps an error to the gRPC status its kind calls for.
pub fn to_status(e: ManagerError) -> Status {
    let code = match e.kind() {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        // As containerd's errdefs: a conflict and "nothing to do" are
        // preconditions on gRPC; the Docker door tells them apart (409, 304).
        ErrorKind::Conflict | ErrorKind::NotModified => Code::FailedPrecondition,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::Unimplemented => Code::Unimplemented,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::DataLoss => Code::DataLoss,
        ErrorKind::Internal => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// `result.or_status()?` in a handler: the engine's error as its status.
pub trait OrStatus<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> OrStatus<T> for Result<T, ManagerError> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(to_status)
    }
}
