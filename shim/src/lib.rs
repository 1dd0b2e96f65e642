//! berth-shim: one process per container, started by berthd, that outlives
//! it. It will own the container's stdio and exit status and run the
//! built-in OCI runtime (namespaces, mounts, cgroups, capabilities,
//! seccomp). It must never import the manager; it speaks the Task API
//! defined in proto/. The runtime arrives with the containers issue; until
//! then this crate only reserves its place in the workspace.
#![deny(unsafe_code)]

pub mod cgroups;
pub mod io;
pub mod server;
// The runtime is where clone/mount/pivot_root live: the one place unsafe is allowed.
#[allow(unsafe_code)]
pub mod runtime;

/// What the shim can do in this build.
pub const CAPABILITIES: &[&str] = &[];
