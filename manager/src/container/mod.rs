//! Containers: records, names, the shim client and the lifecycle
//! operations the engine offers (create, start, stop, kill, remove, list,
//! inspect, logs, attach, wait, top, rename), plus the pure groundwork that
//! turns an image config and a user's options into an OCI spec.
//!
//! - [`record`]: the stored container record and where its files live.
//! - [`naming`]: ids, generated names, lookup by id, prefix or name.
//! - [`registry`]: per-container locks, live tasks and wake-ups.
//! - [`task`]: the shim client (start, dial, Task API calls).
//! - [`resources`]: docker's resource limits, validated.
//! - [`spec`]: the OCI runtime spec (config.json) built from the image
//!   config and the run options.
//!
//! Lifecycle operations are one file each (`create`, `start`, `stop`, ...):
//! state check → action → persist.

pub mod attach;
pub mod create;
pub mod init;
pub mod inspect;
pub mod list;
pub mod logfile;
pub mod logs;
pub mod monitor;
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
pub mod stop;
pub mod task;
pub mod top;
pub mod userdb;
pub mod wait;

pub use record::{ContainerRecord, State, Status};
pub use registry::{Exit, Registry};
pub use resources::{ResourceError, Resources};
pub use spec::{build_spec, resolve_user, BindMount, ResolvedUser, RunOptions, SpecError};
