//! The engine: the shared core and the services with live state, wired
//! together, and the operations that compose them. Front doors (in berthd)
//! turn requests into calls on the engine and never touch the store: the
//! store, the snapshotter and the live state are private to this crate.

use std::sync::Arc;

#[cfg(feature = "test-support")]
use berth_snapshotter::Snapshotter;
use tracing::{debug, warn};

use crate::config::Config;
use crate::container::{ContainerAttachments, ContainerVolumeUsers, Containers};
use crate::core::{blocking, Core, OnCore};
use crate::error::Result;
use crate::events::Subscription;
use crate::image::Images;
use crate::network::Networks;
use crate::volume::Volumes;

pub use crate::core::PruneReport;

/// The engine, cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    images: Images,
    networks: Networks,
    volumes: Volumes,
    containers: Containers,
}

impl OnCore for Engine {
    fn core(&self) -> &Core {
        &self.inner.core
    }
}

impl Engine {
    /// Opens every service under the configured root.
    pub fn open(config: Config) -> Result<Engine> {
        let core = Arc::new(Core::open(config)?);
        let images = Images::new(core.clone());
        let attachments = Arc::new(ContainerAttachments::new(core.clone()));
        let networks = Networks::new(core.clone(), attachments);
        let users = Arc::new(ContainerVolumeUsers::new(core.clone()));
        let volumes = Volumes::new(core.clone(), users);
        let containers = Containers::new(
            core.clone(),
            images.clone(),
            networks.clone(),
            volumes.clone(),
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                core,
                images,
                networks,
                volumes,
                containers,
            }),
        })
    }

    /// Opens the engine on the blocking pool (sled and the snapshotter
    /// read the disk).
    #[tracing::instrument(name = "engine.open", skip_all, fields(root = %config.root.display()))]
    pub async fn open_async(config: Config) -> Result<Engine> {
        blocking(move || Engine::open(config)).await
    }

    /// Brings back what outlived the previous berthd, before any door
    /// opens: the `--init` binary, interrupted volume operations, the
    /// networks' bridges, the containers' shims, then the networks' and the
    /// volumes' leftovers.
    #[tracing::instrument(name = "engine.start", skip_all)]
    pub async fn start(&self) -> Result<()> {
        let state = self.config().state.clone();
        match tokio::task::spawn_blocking(move || crate::container::init::install(&state)).await {
            Ok(Ok(p)) => debug!(path = %p.display(), "installed berth-init"),
            Ok(Err(e)) => warn!(error = %e, "cannot install berth-init: --init will fail"),
            Err(e) => warn!(error = %e, "cannot install berth-init: --init will fail"),
        }
        self.volumes().recover_volumes().await?;
        self.networks().init_networks().await?;
        self.containers().recover_containers().await?;
        self.containers().reconcile_networks().await?;
        self.volumes().reconcile_volume_mounts().await
    }

    /// berthd is stopping: streams that follow containers end (the
    /// containers go on).
    pub fn begin_shutdown(&self) {
        self.containers().registry().begin_shutdown();
    }

    /// The last step of a shutdown: everything written reaches the disk.
    pub async fn close(&self) -> Result<()> {
        let engine = self.clone();
        blocking(move || engine.store().flush()).await
    }

    /// Subscribes to the daemon-wide bus.
    pub fn subscribe(&self) -> Subscription {
        self.inner.core.subscribe()
    }

    /// The images service.
    pub fn images(&self) -> &Images {
        &self.inner.images
    }

    /// The networks service.
    pub fn networks(&self) -> &Networks {
        &self.inner.networks
    }

    /// The volumes service.
    pub fn volumes(&self) -> &Volumes {
        &self.inner.volumes
    }

    /// The containers service.
    pub fn containers(&self) -> &Containers {
        &self.inner.containers
    }
}

/// What the engine's own integration tests look at beneath the API (the
/// snapshots an operation left, the configuration it ran with); compiled
/// only with the `test-support` feature, which only the engine's
/// dev-dependency on itself turns on.
#[cfg(feature = "test-support")]
impl Engine {
    pub fn test_snapshotter(&self) -> &dyn Snapshotter {
        self.snapshotter()
    }
    pub fn test_config(&self) -> &Config {
        self.config()
    }
    pub fn test_list_content(&self, ns: &str) -> Result<Vec<crate::store::ContentRecord>> {
        self.core().list_content(ns)
    }
    pub fn test_prune(&self) -> Result<PruneReport> {
        self.core().prune()
    }
    #[allow(clippy::type_complexity)]
    pub fn test_list_snapshots(
        &self,
        ns: &str,
    ) -> Result<
        Vec<(
            crate::store::SnapshotRecord,
            Option<berth_snapshotter::Info>,
            berth_snapshotter::Usage,
        )>,
    > {
        self.core().list_snapshots(ns)
    }
}
