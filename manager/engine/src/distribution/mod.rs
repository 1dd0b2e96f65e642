//! Distribution: images to and from registries (pull, push), credentials
//! checked against them (login), and their search. The HTTP side is
//! oci-client (the ORAS project's OCI distribution client: auth challenges,
//! bearer tokens with scopes, ranges, mounts); this module decides where
//! requests go (`hosts`), what they mean for the content store and the
//! snapshots (`pull`, `push`), and how failures read (`errors`).

pub mod api;
pub mod errors;
pub mod hosts;
pub mod login;
pub mod progress;
pub mod pull;
pub mod push;
pub mod tail;

use oci_client::secrets::RegistryAuth;

use crate::error::{ManagerError, Result};

/// Credentials for a registry, as a front door received them.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum RegistryCredentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// A username and a password (or a personal access token).
    Basic { username: String, password: String },
    /// A bearer token for the registry itself.
    Token(String),
}

impl RegistryCredentials {
    /// Credentials from the fields docker's auth configuration has (and the
    /// native API's): a registry token wins over a username and password;
    /// identity tokens (OAuth refresh tokens) are refused; nothing at all
    /// is anonymous.
    pub fn from_fields(
        username: &str,
        password: &str,
        identity_token: &str,
        registry_token: &str,
    ) -> Result<RegistryCredentials> {
        if !registry_token.is_empty() {
            return Ok(RegistryCredentials::Token(registry_token.to_string()));
        }
        if !identity_token.is_empty() {
            return Err(ManagerError::Unimplemented(
                "identity tokens (OAuth refresh tokens) are not supported; log in with a username and password".into(),
            ));
        }
        if username.is_empty() && password.is_empty() {
            return Ok(RegistryCredentials::Anonymous);
        }
        Ok(RegistryCredentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// Whether any credentials are given.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, RegistryCredentials::Anonymous)
    }

    /// The same credentials as oci-client's.
    pub(crate) fn to_oci(&self) -> RegistryAuth {
        match self {
            RegistryCredentials::Anonymous => RegistryAuth::Anonymous,
            RegistryCredentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            RegistryCredentials::Token(t) => RegistryAuth::Bearer(t.clone()),
        }
    }
}

/// Never prints a secret.
impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryCredentials::Anonymous => f.write_str("Anonymous"),
            RegistryCredentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            RegistryCredentials::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_fields() {
        assert_eq!(
            RegistryCredentials::from_fields("", "", "", "").unwrap(),
            RegistryCredentials::Anonymous
        );
        assert_eq!(
            RegistryCredentials::from_fields("u", "p", "", "t").unwrap(),
            RegistryCredentials::Token("t".into())
        );
        let e = RegistryCredentials::from_fields("u", "p", "i", "").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unimplemented);
        let b = RegistryCredentials::from_fields("u", "p", "", "").unwrap();
        assert!(!format!("{b:?}").contains("\"p\""));
        assert!(matches!(b.to_oci(), RegistryAuth::Basic(u, p) if u == "u" && p == "p"));
    }
}
