//! Distribution: images to and from registries (pull, push), credentials
//! checked against them (login), and their search. The HTTP side is
//! oci-client (the ORAS project's OCI distribution client: auth challenges,
//! bearer tokens with scopes, ranges, mounts); this module decides where
//! requests go (`hosts`), what they mean for the content store and the
//! snapshots (`pull`, `push`), and how failures read (`errors`).

pub mod errors;
pub mod hosts;
pub mod login;
pub mod progress;
pub mod pull;
pub mod push;
pub mod tail;

use oci_client::secrets::RegistryAuth;

use crate::error::{ManagerError, Result};

/// The proto's credentials as oci-client's.
pub fn auth_from_proto(a: Option<&berth_proto::v1::RegistryAuth>) -> Result<RegistryAuth> {
    let Some(a) = a else {
        return Ok(RegistryAuth::Anonymous);
    };
    if !a.registry_token.is_empty() {
        return Ok(RegistryAuth::Bearer(a.registry_token.clone()));
    }
    if !a.identity_token.is_empty() {
        return Err(ManagerError::Unimplemented(
            "identity tokens (OAuth refresh tokens) are not supported; log in with a username and password".into(),
        ));
    }
    if a.username.is_empty() && a.password.is_empty() {
        return Ok(RegistryAuth::Anonymous);
    }
    Ok(RegistryAuth::Basic(a.username.clone(), a.password.clone()))
}
