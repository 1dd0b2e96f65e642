//! Daemon start-up: the root lock, the engine, the socket, the server, and a
//! clean shutdown on SIGTERM or SIGINT. Reads like a table of contents of
//! what berthd wires together.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Runs berthd until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<()> {
    config.create_dirs()?;
    config.cgroup_parent()?;
    let lock = RootLock::acquire(&config.root)?;
    let socket = config.socket_path()?;
    let engine = {
        let c = config.clone();
        tokio::task::spawn_blocking(move || Engine::open(c))
            .await
            .map_err(|e| ManagerError::Internal(format!("start-up task failed: {e}")))??
    };
    // The --init binary containers bind-mount (STATE/bin/berth-init).
    let state = config.state.clone();
    match tokio::task::spawn_blocking(move || berth_engine::container::init::install(&state)).await
    {
        Ok(Ok(p)) => tracing::debug!(path = %p.display(), "installed berth-init"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot install berth-init: --init will fail"),
        Err(e) => tracing::warn!(error = %e, "cannot install berth-init: --init will fail"),
    }
    // The networks' bridges, before containers that use them come back.
    engine.init_networks().await?;
    // Containers outlived the previous berthd: reconnect to their shims.
    engine.recover_containers().await?;
    engine.reconcile_networks().await?;
    let listener = bind_socket(&socket)?;
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
    let shutdown = async move {
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
        // Streams that follow containers end now; the containers go on.
        stopping.container_registry().begin_shutdown();
    };
    let served = crate::api::grpc::serve(engine.clone(), listener, shutdown).await;
    let _ = fs::remove_file(&socket);
    engine.store().flush()?;
    served.map_err(|e| ManagerError::Internal(format!("gRPC server: {e}")))?;
    info!("berthd stopped");
    Ok(())
}
