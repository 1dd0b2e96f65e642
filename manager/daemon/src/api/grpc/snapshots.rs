//! Snapshots service.

use berth_proto::v1::{
    snapshots_server, ListSnapshotsRequest, ListSnapshotsResponse, SnapshotInfo,
};
use tonic::{Request, Response, Status};

use super::{blocking, namespace};
use berth_engine::engine::Engine;

pub struct Snapshots {
    engine: Engine,
}

impl Snapshots {
    pub fn new(engine: Engine) -> Self {
        Snapshots { engine }
    }
}

#[tonic::async_trait]
impl snapshots_server::Snapshots for Snapshots {
    async fn list(
        &self,
        req: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let ns = namespace(&req)?;
        let engine = self.engine.clone();
        let list = blocking(move || engine.list_snapshots(&ns)).await?;
        let snapshots = list
            .into_iter()
            .map(|(rec, info, usage)| SnapshotInfo {
                name: rec.key,
                parent: rec.parent.unwrap_or_default(),
                kind: info
                    .as_ref()
                    .map(|i| i.kind.to_string())
                    .unwrap_or_else(|| "missing".into()),
                created_at: rec.created_at,
                size: usage.size as i64,
                inodes: usage.inodes as i64,
                labels: info
                    .map(|i| i.labels.into_iter().collect())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(ListSnapshotsResponse {
            snapshotter: self.engine.snapshotter_name().to_string(),
            snapshots,
        }))
    }
}
