//! Containers: records, names, the shim client and the lifecycle
//! operations the engine offers, plus the pure groundwork that turns an
//! image config and a user's options into an OCI spec.
//!
//! Model and groundwork:
//! - [`record`]: the stored container record and where its files live.
//! - [`naming`]: ids, generated names, lookup by id, name or prefix.
//! - [`registry`]: per-container op locks, live tasks and wake-ups.
//! - [`resources`], [`signal`]: docker's limits and signal names, checked.
//! - [`spec`], [`seccomp`], [`init`], [`userdb`]: the OCI spec, docker's
//!   seccomp profiles, the `--init` binary, the image's users.
//! - Paths inside a container's root are opened by descriptor
//!   (`berth_inroot`), so its symlinks and renames never lead berthd to a
//!   host file.
//! - [`task`]: the shim client (start, dial, Task API calls).
//! - [`logfile`]: reading docker json-file logs (rotation included).
//! - [`stdio`], [`detach`]: clients joined to a process's stdio through the
//!   shim's Attach stream (bounded per-client queues), docker's detach keys.
//!
//! Operations, one file each (state check → action → persist): [`create`],
//! [`start`], [`stop`] (stop, kill, restart), [`remove`], [`list`],
//! [`inspect`] ([`summary`]: ps's rows), [`logs`], [`attach`], [`exec`], [`wait`], [`top`]; rename is in
//! [`naming`]. [`monitor`] ends runs (exit → record → clean up → wake →
//! auto-remove); [`recover`] reconnects to shims when berthd starts.
//!
//! Concurrency: start, stop, restart and remove of one container hold its
//! op lock and run detached from the request (a client that goes away does
//! not cut a start in half); the monitor never takes it, so an operation
//! waiting for an exit holds the lock while the exit is recorded.

pub mod attach;
pub mod cp;
pub mod create;
pub mod detach;
pub mod endpoint;
pub mod exec;
pub mod init;
pub mod inspect;
pub mod list;
pub mod logfile;
pub mod logs;
pub mod migration;
pub mod monitor;
pub mod mounts;
pub mod naming;
pub mod record;
pub mod recover;
pub mod registry;
pub mod remove;
pub mod resources;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod start;
pub mod stdio;
pub mod stop;
pub mod summary;
pub mod task;
pub mod top;
pub mod userdb;
pub mod view;
pub mod volumes;
pub mod wait;

pub use endpoint::ContainerAttachments;
pub use mounts::{MountPoint, MountType};
pub use record::{
    Bind, BindMode, ContainerConfig, ContainerRecord, Endpoint, ExtraHost, HostConfig, HostIp,
    Link, NetworkMode, PortBinding, PortProto, Proto, PublishedPort, State, Status,
};
pub use volumes::ContainerVolumeUsers;

use std::sync::Arc;

use crate::core::{Core, OnCore};
use crate::image::Images;
use crate::network::Networks;
use crate::volume::Volumes;

/// The containers service, cheap to clone: their records, the live
/// registry (locks, shim connections, wake-ups), and the images and
/// networks services it builds on.
#[derive(Clone)]
pub struct Containers {
    core: Arc<Core>,
    registry: Arc<Registry>,
    pub(crate) images: Images,
    pub(crate) networks: Networks,
    pub(crate) volumes: Volumes,
}

impl OnCore for Containers {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Containers {
    pub(crate) fn new(
        core: Arc<Core>,
        images: Images,
        networks: Networks,
        volumes: Volumes,
    ) -> Containers {
        Containers {
            core,
            registry: Arc::new(Registry::default()),
            images,
            networks,
            volumes,
        }
    }

    /// The live state of the containers.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}
pub use registry::{Exit, Registry};
pub use resources::{ResourceError, ResourceLimits, Resources};
pub use spec::{
    build_spec, resolve_user, BindMount, ResolvedUser, RunOptions, SpecError, TmpfsMount,
};
pub use summary::{ContainerSummary, PortSummary};
pub use view::{
    ConfigView, ContainerInspect, EmptyObject, EndpointNamesView, EndpointSettingsView,
    GraphDriverView, HostConfigView, JsonFileOptionsView, LogConfigView, MountView,
    NetworkSettingsView, PortHostView, RestartPolicyView, StateView,
};
