//! The engine: the shared core and the services with live state, wired
//! together, and the operations that compose them. Front doors (in berthd)
//! turn requests into calls on the engine and never touch the store: the
//! store, the snapshotter and the live state are private to this crate.

use std::sync::{Arc, RwLockReadGuard};

use berth_snapshotter::Snapshotter;
use tracing::{debug, warn};

use crate::config::Config;
use crate::container::Registry;
use crate::content::ContentStore;
use crate::core::Core;
use crate::error::Result;
use crate::events::{Event, Subscription};
use crate::store::Store;

pub use crate::core::PruneReport;

/// Runs blocking engine work on the blocking pool: the one place an async
/// operation hands disk, hashing or sled work to a worker thread.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

/// The engine, cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    /// Live container state: locks, shim connections, wake-ups.
    containers: Registry,
    /// Live network state: netlink, firewall, held host ports.
    network: crate::network::NetState,
}

impl Engine {
    /// Opens every service under the configured root.
    pub fn open(config: Config) -> Result<Engine> {
        let firewall_table = config.firewall_table.clone();
        let core = Core::open(config)?;
        Ok(Engine {
            inner: Arc::new(Inner {
                core: Arc::new(core),
                containers: Registry::default(),
                network: crate::network::NetState::new(&firewall_table),
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
    /// opens: the `--init` binary, the networks' bridges, the containers'
    /// shims, then the networks' leftovers.
    #[tracing::instrument(name = "engine.start", skip_all)]
    pub async fn start(&self) -> Result<()> {
        let state = self.config().state.clone();
        match tokio::task::spawn_blocking(move || crate::container::init::install(&state)).await {
            Ok(Ok(p)) => debug!(path = %p.display(), "installed berth-init"),
            Ok(Err(e)) => warn!(error = %e, "cannot install berth-init: --init will fail"),
            Err(e) => warn!(error = %e, "cannot install berth-init: --init will fail"),
        }
        self.init_networks().await?;
        self.recover_containers().await?;
        self.reconcile_networks().await
    }

    /// berthd is stopping: streams that follow containers end (the
    /// containers go on).
    pub fn begin_shutdown(&self) {
        self.inner.containers.begin_shutdown();
    }

    /// The last step of a shutdown: everything written reaches the disk.
    pub async fn close(&self) -> Result<()> {
        let engine = self.clone();
        blocking(move || engine.store().flush()).await
    }

    /// Publishes an event on the daemon-wide bus.
    pub fn publish(&self, event: Event) {
        self.inner.core.publish(event);
    }

    /// Subscribes to the daemon-wide bus.
    pub fn subscribe(&self) -> Subscription {
        self.inner.core.subscribe()
    }

    /// The shared core.
    #[allow(dead_code)]
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }
    pub(crate) fn config(&self) -> &Config {
        self.inner.core.config()
    }
    pub(crate) fn store(&self) -> &Store {
        self.inner.core.store()
    }
    pub(crate) fn content(&self) -> &ContentStore {
        self.inner.core.content()
    }
    pub(crate) fn snapshotter(&self) -> &dyn Snapshotter {
        self.inner.core.snapshotter()
    }
    pub(crate) fn snapshotter_name(&self) -> &str {
        self.inner.core.snapshotter_name()
    }
    pub(crate) fn container_registry(&self) -> &Registry {
        &self.inner.containers
    }
    pub(crate) fn network_state(&self) -> &crate::network::NetState {
        &self.inner.network
    }
    pub(crate) fn op_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.inner.core.op_guard()
    }

    // Delegations to the core while the services move onto it.
    pub(crate) fn namespaces(&self) -> Result<Vec<crate::store::NamespaceRecord>> {
        self.inner.core.namespaces()
    }
    pub(crate) fn create_namespace(
        &self,
        name: &str,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<crate::store::NamespaceRecord> {
        self.inner.core.create_namespace(name, labels)
    }
    pub(crate) fn delete_namespace(&self, name: &str) -> Result<()> {
        self.inner.core.delete_namespace(name)
    }
    pub(crate) fn release(&self, ns: &str, blobs: &[String], snapshots: &[String]) -> Result<()> {
        self.inner.core.release(ns, blobs, snapshots)
    }
    pub(crate) fn prune(&self) -> Result<PruneReport> {
        self.inner.core.prune()
    }
    pub(crate) fn list_content(&self, ns: &str) -> Result<Vec<crate::store::ContentRecord>> {
        self.inner.core.list_content(ns)
    }
    pub(crate) fn content_info(
        &self,
        ns: &str,
        digest: &str,
    ) -> Result<crate::store::ContentRecord> {
        self.inner.core.content_info(ns, digest)
    }
    pub(crate) fn verify_content(&self, ns: &str) -> Result<Vec<(String, Result<(), String>)>> {
        self.inner.core.verify_content(ns)
    }
    #[allow(clippy::type_complexity)]
    pub(crate) fn list_snapshots(
        &self,
        ns: &str,
    ) -> Result<
        Vec<(
            crate::store::SnapshotRecord,
            Option<berth_snapshotter::Info>,
            berth_snapshotter::Usage,
        )>,
    > {
        self.inner.core.list_snapshots(ns)
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
        self.list_content(ns)
    }
    pub fn test_prune(&self) -> Result<PruneReport> {
        self.prune()
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
        self.list_snapshots(ns)
    }
}
