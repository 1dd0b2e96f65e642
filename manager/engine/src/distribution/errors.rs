//! Registry failures as berthd errors a user can act on: unreachable
//! (naming the address), authentication, not found, corrupt content.

use std::error::Error as _;

use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};

use crate::error::ManagerError;

/// The registry at `host` could not be reached.
pub fn unreachable(host: &str, e: &reqwest::Error) -> ManagerError {
    ManagerError::Unavailable(format!("cannot reach registry {host}: {}", root_cause(e)))
}

/// The innermost cause of an error: "connection refused" rather than
/// "error sending request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let s = cur.to_string();
    // "Connection refused (os error 111)" → "connection refused".
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// What an operation on `what` (a reference or blob) at `host` failed with.
/// `with_credentials` tells a refused login from a missing one.
pub fn map(
    e: OciDistributionError,
    host: &str,
    what: &str,
    with_credentials: bool,
) -> ManagerError {
    use OciDistributionError as E;
    let op = Operation {
        host,
        what,
        with_credentials,
    };
    match e {
        E::RequestError(r) if r.is_connect() || r.is_timeout() => unreachable(host, &r),
        E::RequestError(r) => op.unavailable(root_cause(&r)),
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => op.unauthorized(),
        E::ImageManifestNotFoundError(_) => {
            ManagerError::NotFound(format!("manifest for {what} not found: manifest unknown"))
        }
        E::RegistryError { envelope, .. } => op.registry_error(&envelope),
        E::ServerError { code, message, .. } => op.server_error(code, &message),
        E::DigestError(d) => ManagerError::DataLoss(format!("{what} from {host}: {d}")),
        E::IoError(io) => {
            // A stream that broke mid-way arrives as an I/O error wrapping
            // reqwest's.
            let cause = io
                .source()
                .map(root_cause)
                .unwrap_or_else(|| io.to_string());
            op.unavailable(cause)
        }
        other => op.unavailable(other),
    }
}

/// The operation that failed, for the error's wording.
struct Operation<'a> {
    host: &'a str,
    what: &'a str,
    with_credentials: bool,
}

impl Operation<'_> {
    fn unavailable(&self, cause: impl std::fmt::Display) -> ManagerError {
        ManagerError::Unavailable(format!("registry {}: {}: {cause}", self.host, self.what))
    }

    fn not_found(&self, message: &str) -> ManagerError {
        ManagerError::NotFound(format!(
            "{} not found at {}: {message}",
            self.what, self.host
        ))
    }

    fn unauthorized(&self) -> ManagerError {
        let (host, what) = (self.host, self.what);
        if self.with_credentials {
            ManagerError::Unauthenticated(format!(
                "unauthorized: {host} refused the credentials for {what}: incorrect username or password, or no access"
            ))
        } else {
            ManagerError::Unauthenticated(format!(
                "unauthorized: {host} requires authentication for {what} (berth login {host})"
            ))
        }
    }

    /// The registry's error codes decide: refused, not found, or failing.
    fn registry_error(&self, envelope: &OciEnvelope) -> ManagerError {
        let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
        let msg = envelope
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        if codes
            .iter()
            .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
        {
            self.unauthorized()
        } else if codes.iter().any(|c| {
            matches!(
                c,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::NotFound
            )
        }) {
            self.not_found(&msg)
        } else {
            self.unavailable(msg)
        }
    }

    /// An HTTP error without a registry error body.
    fn server_error(&self, code: u16, message: &str) -> ManagerError {
        match code {
            404 => self.not_found(message),
            401 | 403 => self.unauthorized(),
            _ => self.unavailable(format!("HTTP {code}: {message}")),
        }
    }
}
