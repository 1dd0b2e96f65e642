//! The built-in OCI runtime: turns a bundle's `config.json` into a container
//! init process (namespaces, cgroup, rootfs, user, capabilities, seccomp)
//! stopped before exec, lets it exec, signals it and cleans up after it.
//! It is a library with no gRPC in it; the shim server drives it through
//! the [`Runtime`] trait, which an external runtime binary also implements.
//!
//! How a container is made (create): the parent (the shim, single-threaded)
//! works out the init's plan from the spec and compiles seccomp, creates
//! the cgroup, and clones the init into new namespaces. It writes the id
//! maps of a new user namespace and says Go; the init builds the rootfs
//! (binding its cgroup directories by path) while the parent moves it into
//! the cgroup (the first move into a v1 cgroup waits ~12 ms for an RCU grace
//! period: overlapped, not added) and says Joined; the init then unshares
//! its cgroup namespace (so the cgroup it is in becomes its root), switches
//! user and reports Ready, stopped before exec. start says Start; the init loads seccomp and execs, or
//! reports why it could not (126/127). Parent and init talk over a
//! close-on-exec socketpair. With a terminal the init opens a pty in the
//! container's own devpts (so `tty` says /dev/pts/0), binds it onto
//! /dev/console and passes the master to the parent over that socketpair.
//!
//! How an exec joins a running container (exec: create and start in one):
//! the parent opens the init's namespaces, enters its pid namespace for the
//! clone only, clones the process, moves it into the container's cgroup
//! while it joins the other namespaces, and says Joined; the process then
//! applies its process spec with the init's own steps (`apply`: rlimits,
//! user, capabilities, no_new_privs, the container's seccomp filter, cwd)
//! and execs, or reports why it could not.

pub mod console;
pub mod external;
pub mod seccomp;

mod apply;
mod builtin;
mod capabilities;
mod devices;
mod exec;
mod init;
mod join;
mod mounts;
mod plan;
mod process;
mod rlimits;
mod rootfs;
pub mod sys;
mod user;

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{Process, Spec};

pub use external::external;

/// The container init's standard streams, as fds the runtime dups onto 0, 1, 2.
#[derive(Debug)]
pub struct Stdio {
    /// `None` gives the process /dev/null.
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A terminal's size in characters; 0 leaves the kernel's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleSize {
    pub width: u16,
    pub height: u16,
}

impl ConsoleSize {
    /// From the API's u32 fields (clamped).
    pub fn new(width: u32, height: u32) -> ConsoleSize {
        let c = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        ConsoleSize {
            width: c(width),
            height: c(height),
        }
    }

    /// Both dimensions given: worth setting.
    pub fn is_set(&self) -> bool {
        self.width > 0 && self.height > 0
    }
}

/// How a process gets its standard streams.
#[derive(Debug)]
pub enum Io {
    /// These fds (pipes) become its 0, 1, 2.
    Pipes(Stdio),
    /// A new pseudo-terminal becomes its 0, 1, 2 and controlling terminal;
    /// the runtime returns the master ([`Created::console`], [`Spawned::console`]).
    Terminal(ConsoleSize),
}

/// What [`Runtime::create`] needs.
pub struct CreateOptions<'a> {
    /// The container id (for messages and the external runtime's state).
    pub id: &'a str,
    /// The bundle directory; `spec.root.path` is relative to it.
    pub bundle: &'a Path,
    pub spec: &'a Spec,
    pub io: Io,
    /// Where compiled seccomp programs are kept between shims (compiling
    /// docker's profile with libseccomp takes ~15 ms; reading it back, not).
    pub cache_dir: Option<&'a Path>,
}

/// A created (not yet started) container init.
#[derive(Debug)]
pub struct Created {
    /// The init's pid in the shim's pid namespace.
    pub pid: i32,
    /// Things asked for that were adjusted rather than refused (clamped rlimits,
    /// cgroup limits the kernel cannot apply).
    pub warnings: Vec<String>,
    /// The pty master, with [`Io::Terminal`].
    pub console: Option<OwnedFd>,
}

/// What [`Runtime::exec`] needs.
pub struct ExecOptions<'a> {
    /// The exec's id (names the external runtime's process file).
    pub exec_id: &'a str,
    pub bundle: &'a Path,
    /// The OCI process to run (its `terminal` is ignored: `io` decides).
    pub process: &'a Process,
    pub io: Io,
}

/// A process added to the running container.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid in the shim's pid namespace; the shim is its parent (or
    /// subreaper), so the reaper gets its exit.
    pub pid: i32,
    /// The pty master, with [`Io::Terminal`].
    pub console: Option<OwnedFd>,
}

/// A container runtime: the built-in one or an external binary.
pub trait Runtime {
    /// Creates the init process (namespaces, cgroup joined, rootfs ready, stopped before exec).
    fn create(&mut self, opts: CreateOptions<'_>) -> Result<Created, RuntimeError>;
    /// Lets it exec; returns RuntimeError::Exec { code: 126|127, message } when exec fails.
    fn start(&mut self) -> Result<(), RuntimeError>;
    /// Signals the init (or everything in the container's cgroup when all).
    fn kill(&mut self, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Cleans up after the init exited (external runtime: `runc delete --force`; built-in:
    /// removes the cgroup). Idempotent.
    fn delete(&mut self) -> Result<(), RuntimeError>;
    /// Runs another process in the started, running container: its
    /// namespaces, cgroup, rootfs and seccomp filter, with `process`'s
    /// user, capabilities, rlimits, no_new_privs, env and cwd. Returns once
    /// it has exec'd; RuntimeError::Exec { code: 126|127 } when it could not.
    fn exec(&mut self, opts: ExecOptions<'_>) -> Result<Spawned, RuntimeError>;
}

/// Why the runtime could not create, start, signal or delete a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The process command could not be executed; `code` is docker's exit code
    /// for it (127 not found, 126 not executable).
    #[error("{message}")]
    Exec { code: i32, message: String },
    /// The spec asks for something invalid or missing.
    #[error("invalid OCI spec: {0}")]
    Spec(String),
    /// A step of creating the container failed (the message names the step and path).
    #[error("container init: {0}")]
    Create(String),
    /// A system call made by the runtime itself failed.
    #[error("{call}: {source}")]
    Sys {
        call: String,
        #[source]
        source: std::io::Error,
    },
    /// The container's cgroup.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// The seccomp profile.
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    /// The call does not fit the container's state (start before create...).
    #[error("{0}")]
    State(String),
    /// Not available in this build or with this runtime.
    #[error("{0}")]
    Unsupported(String),
}

/// A failed step of building the container, naming the step and the path
/// (what `create` reports).
#[derive(Debug)]
pub(crate) struct StepError {
    what: String,
    source: io::Error,
}

impl StepError {
    pub(crate) fn new(what: impl Into<String>, source: io::Error) -> Self {
        StepError {
            what: what.into(),
            source,
        }
    }

    /// For `map_err`: wrap an io::Error with a lazily built step name.
    pub(crate) fn with<F: FnOnce() -> String>(what: F) -> impl FnOnce(io::Error) -> StepError {
        move |source| StepError {
            what: what(),
            source,
        }
    }
}

impl std::fmt::Display for StepError {
    /// Errnos in Go's words ("no such file or directory"), as runc prints them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source.raw_os_error() {
            Some(n) => write!(f, "{}: {}", self.what, exec::errno_text(Errno::from_raw(n))),
            None => write!(f, "{}: {}", self.what, self.source),
        }
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The built-in runtime.
pub fn builtin() -> Box<dyn Runtime> {
    Box::new(builtin::Builtin::default())
}
