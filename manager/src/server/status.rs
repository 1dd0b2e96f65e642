//! The one place where berthd's errors become gRPC statuses.

use tonic::{Code, Status};

use crate::error::{ErrorKind, ManagerError};

/// Maps an error to the gRPC status its kind calls for.
pub fn to_status(e: ManagerError) -> Status {
    let code = match e.kind() {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
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

impl From<ManagerError> for Status {
    fn from(e: ManagerError) -> Status {
        to_status(e)
    }
}
