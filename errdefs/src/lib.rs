//! berth-errdefs: the one list of error kinds. Every crate's error type says
//! which kind each failure is (`fn kind(&self) -> ErrorKind`); a front door
//! maps kinds to its wire in one function (gRPC codes, HTTP statuses), so no
//! caller ever matches on an error's text. containerd's errdefs, as an enum.
#![forbid(unsafe_code)]

/// What kind of failure an error is, independent of any front door.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such object.
    NotFound,
    /// An object with that key or name exists.
    AlreadyExists,
    /// The request conflicts with the object's state: a name in use, an
    /// image a container uses (docker's 409).
    Conflict,
    /// Nothing to do: the object is already in the requested state
    /// (docker's 304, e.g. starting a running container).
    NotModified,
    /// Refused by policy rather than by state (docker's 403, e.g. removing
    /// a predefined network).
    Forbidden,
    /// The object is in the wrong state for the operation.
    FailedPrecondition,
    /// The request itself is wrong: bad input, a corrupt archive.
    InvalidArgument,
    /// Not built (yet): the message says what is missing.
    Unimplemented,
    /// A service berth depends on (a registry, a shim) cannot be reached.
    Unavailable,
    /// A registry refused the credentials, or wants some.
    Unauthenticated,
    /// Bytes that do not match their digest.
    DataLoss,
    /// A bug or a host failure.
    Internal,
}

impl ErrorKind {
    /// The kind's name, for logs and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotModified => "not modified",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::FailedPrecondition => "failed precondition",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Unimplemented => "unimplemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::DataLoss => "data loss",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
