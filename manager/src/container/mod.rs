//! Containers: the pure groundwork that turns an image config and a user's
//! `run` options into what the shim needs. Nothing here touches the store, the
//! shim or the kernel; everything is unit-tested.
//!
//! - [`resources`]: docker's resource flags (`--memory`, `--memory-swap`,
//!   `--cpus`, `--cpu-shares`, `--cpuset-cpus`, `--pids-limit`) parsed once
//!   into typed values, with docker's semantics and error words.
//! - [`spec`]: the OCI runtime spec (config.json) built from the image config
//!   and the run options, as docker/containerd build it; user and group names
//!   resolved from the image's /etc/passwd and /etc/group.

pub mod resources;
pub mod spec;

pub use resources::{ResourceError, Resources};
pub use spec::{build_spec, resolve_user, BindMount, ResolvedUser, RunOptions, SpecError};
