//! System service.

use super::status::OrStatus;
use berth_proto::v1::{
    system_server, DiskUsageRequest, DiskUsageResponse, ImageUsage as PImageUsage, InfoRequest,
    InfoResponse, PruneRequest, PruneResponse, VersionRequest, VersionResponse,
    VolumeUsage as PVolumeUsage,
};
use tonic::{Request, Response, Status};

use super::namespace;
use berth_engine::engine::Engine;

pub struct System {
    engine: Engine,
}

impl System {
    pub fn new(engine: Engine) -> Self {
        System { engine }
    }
}

#[tonic::async_trait]
impl system_server::System for System {
    async fn version(
        &self,
        _req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: berth_engine::system::VERSION.to_string(),
            api_version: "v1".to_string(),
            revision: option_env!("BERTH_REVISION").unwrap_or("").to_string(),
        }))
    }

    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let ns = namespace(&req)?;
        let i = self.engine.system_info(&ns).await.or_status()?;
        Ok(Response::new(InfoResponse {
            root: i.root.display().to_string(),
            state: i.state.display().to_string(),
            snapshotter: i.snapshotter,
            config_toml: i.config_toml,
            images: i.images as i64,
            blobs: i.blobs as i64,
            namespaces: i.namespaces as i64,
            kernel: i.kernel,
            cgroup_version: i.cgroup_version.to_string(),
            version: i.version.to_string(),
            containers: i.containers as i64,
        }))
    }

    async fn prune(&self, _req: Request<PruneRequest>) -> Result<Response<PruneResponse>, Status> {
        let r = self.engine.prune_all().await.or_status()?;
        Ok(Response::new(PruneResponse {
            removed_blobs: r.removed_blobs,
            removed_snapshots: r.removed_snapshots,
            reclaimed_bytes: r.reclaimed_bytes as i64,
        }))
    }

    async fn disk_usage(
        &self,
        req: Request<DiskUsageRequest>,
    ) -> Result<Response<DiskUsageResponse>, Status> {
        let ns = namespace(&req)?;
        let u = self.engine.disk_usage(&ns).await.or_status()?;
        Ok(Response::new(DiskUsageResponse {
            layers_size: u.layers_size as i64,
            images: u
                .images
                .into_iter()
                .map(|i| PImageUsage {
                    summary: Some(super::images::summary(i.summary)),
                    repo_tags: i.repo_tags,
                    shared_size: i.shared_size as i64,
                    containers: i.containers as i64,
                })
                .collect(),
            containers: u
                .containers
                .into_iter()
                .map(super::containers::container)
                .collect(),
            volumes: u
                .volumes
                .into_iter()
                .map(|v| PVolumeUsage {
                    name: v.name,
                    links: v.links as i64,
                    size: v.size as i64,
                })
                .collect(),
        }))
    }
}
