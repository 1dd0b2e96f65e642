//! The shim's Task API server: the tonic service on the unix listener that
//! `berth-shim start` handed over, the task state machine behind it (the
//! init and its execs), the Attach streams, the SIGCHLD reaper, the rootfs
//! mounts and the exit file.
//!
//! Everything runs on one thread: a tokio current-thread runtime with a
//! `LocalSet`. The process must stay single-threaded because the runtime
//! forks and clones the container init from it; so no `spawn_blocking`,
//! no `tokio::fs`, and file writes are short synchronous calls.

mod attach;
pub mod cleanup;
pub mod error;
mod exec;
pub mod exit;
mod reaper;
pub mod rootfs;
mod service;
mod state;

use std::io;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::PathBuf;

use berth_proto::shim::v1::task_server::TaskServer;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;

pub use error::{ServerError, EXIT_CODE_METADATA};
pub use state::RUNTIME_FILE;

/// Which container this shim serves, from its command line.
#[derive(Debug, Clone)]
pub struct Ident {
    pub namespace: String,
    pub id: String,
    pub bundle: PathBuf,
    /// The socket, removed when the shim exits.
    pub address: Option<PathBuf>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot use the listener: {0}")]
    Listener(#[source] io::Error),
    #[error("cannot watch SIGCHLD: {0}")]
    Signal(#[source] io::Error),
    #[error("serving the Task API: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the Task API on `listener` until Shutdown exits the process.
pub fn serve(listener: StdUnixListener, ident: Ident) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener
            .set_nonblocking(true)
            .map_err(ServeError::Listener)?;
        let listener = UnixListener::from_std(listener).map_err(ServeError::Listener)?;
        // Registered before any child exists, so no exit is missed.
        let sigchld = signal(SignalKind::child()).map_err(ServeError::Signal)?;
        let (jobs, rx) = state::Jobs::new();
        tokio::task::spawn_local(state::run(state::State::new(ident, jobs.clone()), rx));
        tokio::task::spawn_local(reaper::reap(sigchld, jobs.clone()));
        tonic::transport::Server::builder()
            .add_service(TaskServer::new(service::Service::new(jobs)))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await?;
        Ok(())
    })
}
