//! berth's native API: the types and tonic services generated from
//! `proto/berth/v1/*.proto`. This crate owns every generated type; berthd,
//! the shim and the CLI depend on it and never on each other. It holds no
//! logic beyond small helpers for the namespace header.
#![deny(unsafe_code)]

/// Generated code of package `berth.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("berth.v1");
}

/// Generated code of package `berth.shim.v1`: the internal task API between
/// berthd and each berth-shim.
pub mod shim {
    /// Version 1 of the shim task API.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("berth.shim.v1");
    }
}

/// The gRPC metadata key that carries the namespace of a request.
pub const NAMESPACE_HEADER: &str = "berth-namespace";

/// The namespace used when a request names none.
pub const DEFAULT_NAMESPACE: &str = "default";
