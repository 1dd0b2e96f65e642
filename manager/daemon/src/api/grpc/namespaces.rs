//! Namespaces service.

use super::status::OrStatus;
use berth_proto::v1::{
    namespaces_server, CreateNamespaceRequest, DeleteNamespaceRequest, DeleteNamespaceResponse,
    ListNamespacesRequest, ListNamespacesResponse, Namespace,
};
use tonic::{Request, Response, Status};

use berth_engine::engine::Engine;
use berth_engine::system::Namespace as NamespaceRecord;

pub struct Namespaces {
    engine: Engine,
}

impl Namespaces {
    pub fn new(engine: Engine) -> Self {
        Namespaces { engine }
    }
}

fn to_proto(n: NamespaceRecord) -> Namespace {
    Namespace {
        name: n.name,
        labels: n.labels.into_iter().collect(),
        created_at: n.created_at,
    }
}

#[tonic::async_trait]
impl namespaces_server::Namespaces for Namespaces {
    async fn list(
        &self,
        _req: Request<ListNamespacesRequest>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let namespaces = self
            .engine
            .list_namespaces()
            .await
            .or_status()?
            .into_iter()
            .map(to_proto)
            .collect();
        Ok(Response::new(ListNamespacesResponse { namespaces }))
    }

    async fn create(
        &self,
        req: Request<CreateNamespaceRequest>,
    ) -> Result<Response<Namespace>, Status> {
        let r = req.into_inner();
        let rec = self
            .engine
            .add_namespace(&r.name, r.labels.into_iter().collect())
            .await
            .or_status()?;
        Ok(Response::new(to_proto(rec)))
    }

    async fn delete(
        &self,
        req: Request<DeleteNamespaceRequest>,
    ) -> Result<Response<DeleteNamespaceResponse>, Status> {
        self.engine
            .remove_namespace(&req.into_inner().name)
            .await
            .or_status()?;
        Ok(Response::new(DeleteNamespaceResponse {}))
    }
}
