//! The fake System service: a version, and no info, prune or df.

use berth_proto::v1::system_server::System;
use berth_proto::v1::*;
use tonic::{Request, Response, Status};

use super::fake::Fake;

#[tonic::async_trait]
impl System for Fake {
    async fn version(
        &self,
        req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        self.note(&req, "version".into());
        Ok(Response::new(VersionResponse {
            version: "9.9.9".into(),
            api_version: "v1".into(),
            revision: String::new(),
        }))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn prune(&self, _req: Request<PruneRequest>) -> Result<Response<PruneResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn disk_usage(
        &self,
        _req: Request<DiskUsageRequest>,
    ) -> Result<Response<DiskUsageResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}
