//! berth-shim: one process per container, started by berthd, that outlives
//! it. It serves the Task API (proto/berth/shim/v1) on its own socket
//! (`server`), owns the stdio of the container and of its execs (pipes,
//! ptys, the log file, attached clients: `io`) and their exit statuses,
//! and creates the container and its execs with the built-in OCI runtime
//! (`runtime`: namespaces, mounts, pivot_root, capabilities, seccomp,
//! rlimits, user) or an external OCI runtime binary such as runc, with its
//! cgroup managed by `cgroups` (v1, hybrid and v2). It must never import the
//! manager, and it stays single-threaded: no tokio::fs, no spawn_blocking,
//! because the runtime clones the container's init from this process.
#![deny(unsafe_code)]

pub mod cgroups;
pub mod io;
pub mod server;
// The runtime is where clone/mount/pivot_root live: the one place unsafe is allowed.
#[allow(unsafe_code)]
pub mod runtime;
