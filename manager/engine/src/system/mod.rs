//! The system domain: what `berth info` shows, namespaces, garbage
//! collection and (in [`content`]) the content and snapshots the store
//! holds, as async operations with typed results.

pub mod content;
pub mod df;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::core::blocking;
use crate::core::OnCore;
use crate::engine::{Engine, PruneReport};
use crate::error::Result;
use crate::store::{schema, NamespaceRecord};

/// `berth info`: the daemon and the counts of one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    pub root: PathBuf,
    pub state: PathBuf,
    pub snapshotter: String,
    /// The effective configuration, as TOML.
    pub config_toml: String,
    pub images: u64,
    pub blobs: u64,
    pub containers: u64,
    pub namespaces: u64,
    /// The kernel's release.
    pub kernel: String,
    /// "v2", "hybrid" or "v1".
    pub cgroup_version: &'static str,
    pub version: &'static str,
}

/// berth's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// "v2" (unified), "hybrid" (v1 controllers with v2 beside) or "v1".
pub fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2"
    } else if std::path::Path::new("/sys/fs/cgroup/unified").exists() {
        "hybrid"
    } else {
        "v1"
    }
}

/// A namespace, as the doors show it.
pub type Namespace = NamespaceRecord;

impl Engine {
    /// What `berth info` shows, for namespace `ns`.
    #[tracing::instrument(name = "system.info", skip(self))]
    pub async fn system_info(&self, ns: &str) -> Result<SystemInfo> {
        let ns = ns.to_string();
        let e = self.clone();
        blocking(move || {
            let count = |p: String| e.store().count(&p).map(|n| n as u64);
            Ok(SystemInfo {
                root: e.config().root.clone(),
                state: e.config().state.clone(),
                snapshotter: e.snapshotter_name().to_string(),
                config_toml: e.config().to_toml(),
                images: count(schema::images_prefix(&ns))?,
                blobs: count(schema::content_prefix(&ns))?,
                containers: count(schema::containers_prefix(&ns))?,
                namespaces: e.core().namespaces()?.len() as u64,
                kernel: nix::sys::utsname::uname()
                    .map(|u| u.release().to_string_lossy().into_owned())
                    .unwrap_or_default(),
                cgroup_version: cgroup_version(),
                version: VERSION,
            })
        })
        .await
    }

    /// Garbage collection of every namespace.
    #[tracing::instrument(name = "system.prune", skip(self))]
    pub async fn prune_all(&self) -> Result<PruneReport> {
        let e = self.clone();
        blocking(move || e.core().prune()).await
    }

    /// Every namespace.
    pub async fn list_namespaces(&self) -> Result<Vec<Namespace>> {
        let e = self.clone();
        blocking(move || e.core().namespaces()).await
    }

    /// Creates a namespace; AlreadyExists if it exists.
    #[tracing::instrument(name = "namespace.create", skip(self, labels))]
    pub async fn add_namespace(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<Namespace> {
        let name = name.to_string();
        let e = self.clone();
        blocking(move || e.core().create_namespace(&name, labels)).await
    }

    /// Removes an empty namespace.
    #[tracing::instrument(name = "namespace.delete", skip(self))]
    pub async fn remove_namespace(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        let e = self.clone();
        blocking(move || e.core().delete_namespace(&name)).await
    }
}

/// Checks a namespace name a request carries.
pub fn validate_namespace(name: &str) -> Result<()> {
    crate::store::validate_namespace(name)
}
