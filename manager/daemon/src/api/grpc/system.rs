//! System service.

use super::status::OrStatus;
use berth_proto::v1::{
    system_server, InfoRequest, InfoResponse, PruneRequest, PruneResponse, VersionRequest,
    VersionResponse,
};
use tonic::{Request, Response, Status};

use super::{blocking, namespace};
use berth_engine::engine::Engine;
use berth_engine::store::schema;

pub struct System {
    engine: Engine,
}

impl System {
    pub fn new(engine: Engine) -> Self {
        System { engine }
    }
}

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

#[tonic::async_trait]
impl system_server::System for System {
    async fn version(
        &self,
        _req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: "v1".to_string(),
            revision: option_env!("BERTH_REVISION").unwrap_or("").to_string(),
        }))
    }

    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let ns = namespace(&req)?;
        let e = &self.engine;
        let store = e.store();
        let count = |p: String| store.count(&p).map(|n| n as i64);
        Ok(Response::new(InfoResponse {
            root: e.config().root.display().to_string(),
            state: e.config().state.display().to_string(),
            snapshotter: e.snapshotter_name().to_string(),
            config_toml: e.config().to_toml(),
            images: count(schema::images_prefix(&ns)).or_status()?,
            blobs: count(schema::content_prefix(&ns)).or_status()?,
            namespaces: e.namespaces().or_status()?.len() as i64,
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            cgroup_version: cgroup_version().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            containers: count(schema::containers_prefix(&ns)).or_status()?,
        }))
    }

    async fn prune(&self, _req: Request<PruneRequest>) -> Result<Response<PruneResponse>, Status> {
        let engine = self.engine.clone();
        let r = blocking(move || engine.prune()).await?;
        Ok(Response::new(PruneResponse {
            removed_blobs: r.removed_blobs,
            removed_snapshots: r.removed_snapshots,
            reclaimed_bytes: r.reclaimed_bytes as i64,
        }))
    }
}
