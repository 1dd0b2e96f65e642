//! Snapshots service.

use super::status::OrStatus;
use berth_proto::v1::{
    snapshots_server, ListSnapshotsRequest, ListSnapshotsResponse, SnapshotInfo,
};
use tonic::{Request, Response, Status};

use super::namespace;
use berth_engine::engine::Engine;
use berth_engine::system::content::SnapshotView;

pub struct Snapshots {
    engine: Engine,
}

impl Snapshots {
    pub fn new(engine: Engine) -> Self {
        Snapshots { engine }
    }
}

fn snapshot(s: SnapshotView) -> SnapshotInfo {
    SnapshotInfo {
        name: s.name,
        parent: s.parent.unwrap_or_default(),
        kind: s.kind,
        created_at: s.created_at,
        size: s.size as i64,
        inodes: s.inodes as i64,
        labels: s.labels.into_iter().collect(),
    }
}

#[tonic::async_trait]
impl snapshots_server::Snapshots for Snapshots {
    async fn list(
        &self,
        req: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let ns = namespace(&req)?;
        let list = self.engine.snapshot_list(&ns).await.or_status()?;
        Ok(Response::new(ListSnapshotsResponse {
            snapshotter: list.snapshotter,
            snapshots: list.snapshots.into_iter().map(snapshot).collect(),
        }))
    }
}
