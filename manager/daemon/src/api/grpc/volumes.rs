//! Volumes service.

use berth_proto::v1::{
    volumes_server, CreateVolumeRequest, CreateVolumeResponse, InspectVolumeRequest,
    InspectVolumeResponse, ListVolumesRequest, ListVolumesResponse, PruneVolumesRequest,
    PruneVolumesResponse, RemoveVolumeRequest, RemoveVolumeResponse, Volume,
};
use tonic::{Request, Response, Status};

use super::status::OrStatus;
use berth_engine::engine::Engine;
use berth_engine::volume::{NewVolume, VolumeFilter, VolumeInspect, VolumePruneFilter};

pub struct Volumes {
    engine: Engine,
}

impl Volumes {
    pub fn new(engine: Engine) -> Self {
        Volumes { engine }
    }

    fn to_proto(&self, name: &str, v: &VolumeInspect, anonymous: bool) -> Volume {
        Volume {
            name: name.to_string(),
            driver: v.driver.clone(),
            mountpoint: v.mountpoint.clone(),
            created_at: v.created_at.clone(),
            labels: v.labels.clone().unwrap_or_default().into_iter().collect(),
            options: v.options.clone().unwrap_or_default().into_iter().collect(),
            scope: v.scope.clone(),
            anonymous,
        }
    }

    fn view(&self, r: &berth_engine::volume::VolumeRecord) -> Volume {
        let v = self.engine.volumes().view(r);
        self.to_proto(&r.name, &v, r.anonymous)
    }
}

#[tonic::async_trait]
impl volumes_server::Volumes for Volumes {
    async fn create(
        &self,
        req: Request<CreateVolumeRequest>,
    ) -> Result<Response<CreateVolumeResponse>, Status> {
        let r = req.into_inner();
        let rec = self
            .engine
            .volumes()
            .create_volume(NewVolume {
                name: r.name,
                driver: r.driver,
                options: r.options.into_iter().collect(),
                labels: r.labels.into_iter().collect(),
            })
            .await
            .or_status()?;
        Ok(Response::new(CreateVolumeResponse {
            volume: Some(self.view(&rec)),
        }))
    }

    async fn list(
        &self,
        req: Request<ListVolumesRequest>,
    ) -> Result<Response<ListVolumesResponse>, Status> {
        let filter = VolumeFilter::parse(&req.into_inner().filters).or_status()?;
        let volumes = self
            .engine
            .volumes()
            .list_volumes(filter)
            .await
            .or_status()?;
        Ok(Response::new(ListVolumesResponse {
            volumes: volumes.iter().map(|r| self.view(r)).collect(),
        }))
    }

    async fn inspect(
        &self,
        req: Request<InspectVolumeRequest>,
    ) -> Result<Response<InspectVolumeResponse>, Status> {
        let name = req.into_inner().name;
        let v = self
            .engine
            .volumes()
            .inspect_volume(&name)
            .await
            .or_status()?;
        let json = serde_json::to_string_pretty(&v).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(InspectVolumeResponse {
            volume: Some(self.to_proto(&v.name, &v, false)),
            json,
        }))
    }

    async fn remove(
        &self,
        req: Request<RemoveVolumeRequest>,
    ) -> Result<Response<RemoveVolumeResponse>, Status> {
        self.engine
            .volumes()
            .remove_volume(&req.into_inner().name)
            .await
            .or_status()?;
        Ok(Response::new(RemoveVolumeResponse {}))
    }

    async fn prune(
        &self,
        req: Request<PruneVolumesRequest>,
    ) -> Result<Response<PruneVolumesResponse>, Status> {
        let filter = VolumePruneFilter::parse(&req.into_inner().filters).or_status()?;
        let pruned = self
            .engine
            .volumes()
            .prune_volumes(filter)
            .await
            .or_status()?;
        Ok(Response::new(PruneVolumesResponse {
            deleted: pruned.deleted,
            space_reclaimed: pruned.reclaimed,
        }))
    }
}
