//! Daemon start-up: the root lock, the engine, the socket, the server, and a
//! clean shutdown on SIGTERM or SIGINT. Reads like a table of contents of
//! what berthd wires together.

use std::fs::{self, File};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;
use tracing::info;

use berth_engine::config::Config;
use berth_engine::engine::Engine;
use berth_engine::error::{IoContext, ManagerError, Result};

/// Holds the root exclusively for the daemon's lifetime.
pub struct RootLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl RootLock {
    /// Takes ROOT/berthd.lock, or fails saying another berthd holds it.
    pub fn acquire(root: &Path) -> Result<RootLock> {
        let path = root.join("berthd.lock");
        let f = File::create(&path).ctx(|| format!("create {}", path.display()))?;
        let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| {
            ManagerError::FailedPrecondition(format!(
                "another berthd is running with root {} (lock {} is held)",
                root.display(),
                path.display()
            ))
        })?;
        Ok(RootLock { _lock: lock, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds the API socket with mode 0660, replacing a stale socket file.
pub fn bind_socket(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ManagerError::FailedPrecondition(format!(
                "socket {} is in use by another process",
                path.display()
            )));
        }
        fs::remove_file(path).ctx(|| format!("remove stale socket {}", path.display()))?;
    }
    let l = UnixListener::bind(path).ctx(|| format!("bind {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .ctx(|| format!("chmod {}", path.display()))?;
    Ok(l)
}

/// A front door being served: it runs until the shutdown signal fires,
/// then finishes its open requests and returns.
pub type Door = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Resolves on SIGTERM or SIGINT.
async fn signalled() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
    }
}

/// Runs berthd until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<()> {
    // The root and state directories with the modes of the layout table.
    berth_engine::layout::prepare(&config)?;
    config.cgroup_parent()?;
    let lock = RootLock::acquire(&config.root)?;
    let socket = config.socket_path()?;
    let engine = Engine::open_async(config.clone()).await?;
    // What outlived the previous berthd comes back before any door opens.
    engine.start().await?;

    // Every door shares one shutdown: a watch that flips once.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let doors: Vec<Door> = vec![grpc_door(&engine, &socket, stopped())?];
    info!(
        root = %config.root.display(),
        state = %config.state.display(),
        socket = %socket.display(),
        snapshotter = %config.snapshotter,
        cgroup_parent = %config.cgroup_parent,
        lock = %lock.path().display(),
        "berthd ready"
    );
    let stopping = engine.clone();
    tokio::spawn(async move {
        signalled().await;
        // Streams that follow containers end now; the containers go on.
        stopping.begin_shutdown();
        stop_tx.send_replace(true);
    });
    let served = futures::future::join_all(doors).await;
    engine.close().await?;
    served.into_iter().collect::<Result<Vec<()>>>()?;
    info!("berthd stopped");
    Ok(())
}

/// The native gRPC door on its unix socket.
fn grpc_door(
    engine: &Engine,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Door> {
    let listener = bind_socket(socket)?;
    let engine = engine.clone();
    let socket = socket.to_path_buf();
    Ok(Box::pin(async move {
        let served = crate::api::grpc::serve(engine, listener, shutdown).await;
        let _ = fs::remove_file(&socket);
        served.map_err(|e| ManagerError::Internal(format!("gRPC server: {e}")))
    }))
}
