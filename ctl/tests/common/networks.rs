//! The fake Networks service: `app`, `bridge`, `host` and `none`; `nope` is
//! not there, `taken` is, `bridge` and `busy` cannot go.

use berth_proto::v1::networks_server::Networks;
use berth_proto::v1::*;
use tonic::{Request, Response, Status};

use super::fake::Fake;

pub const NET_ID: &str = "f00df00df00df00df00df00df00df00df00df00df00df00df00df00df00df00d";

fn not_found(name: &str) -> Status {
    Status::not_found(format!("network {name} not found"))
}

fn network(id: char, name: &str, driver: &str) -> Network {
    Network {
        id: id.to_string().repeat(64),
        name: name.into(),
        driver: driver.into(),
        created: "2024-05-01T10:00:00Z".into(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Networks for Fake {
    async fn create(
        &self,
        req: Request<CreateNetworkRequest>,
    ) -> Result<Response<CreateNetworkResponse>, Status> {
        self.note(&req, format!("create {}", req.get_ref().name));
        let req = req.into_inner();
        if req.name == "taken" {
            return Err(Status::already_exists(
                "network with name taken already exists",
            ));
        }
        self.state.lock().unwrap().network_creates.push(req);
        Ok(Response::new(CreateNetworkResponse { id: NET_ID.into() }))
    }

    async fn list(
        &self,
        req: Request<ListNetworksRequest>,
    ) -> Result<Response<ListNetworksResponse>, Status> {
        self.note(&req, "list".into());
        self.state.lock().unwrap().network_filters = req.into_inner().filters;
        let mut app = network('c', "app", "bridge");
        app.labels.insert("team".into(), "web".into());
        Ok(Response::new(ListNetworksResponse {
            networks: vec![
                app,
                network('b', "bridge", "bridge"),
                network('d', "host", "host"),
                network('a', "none", "null"),
            ],
        }))
    }

    async fn inspect(
        &self,
        req: Request<InspectNetworkRequest>,
    ) -> Result<Response<InspectNetworkResponse>, Status> {
        let id = req.get_ref().id.clone();
        self.note(&req, format!("inspect {id}"));
        if id != "app" {
            return Err(not_found(&id));
        }
        let json = format!(
            r#"{{"Name":"app","Id":"{NET_ID}","Scope":"local","Driver":"bridge","IPAM":{{"Driver":"default","Config":[{{"Subnet":"10.78.0.0/24","Gateway":"10.78.0.1"}}]}},"Containers":{{}}}}"#
        );
        Ok(Response::new(InspectNetworkResponse {
            network: Some(network('c', "app", "bridge")),
            json,
        }))
    }

    async fn remove(
        &self,
        req: Request<RemoveNetworkRequest>,
    ) -> Result<Response<RemoveNetworkResponse>, Status> {
        let id = req.get_ref().id.clone();
        self.note(&req, format!("remove {id}"));
        match id.as_str() {
            "nope" => Err(not_found(&id)),
            "bridge" => Err(Status::permission_denied(
                "bridge is a pre-defined network and cannot be removed",
            )),
            "busy" => Err(Status::permission_denied(
                "error while removing network: network busy has active endpoints",
            )),
            _ => Ok(Response::new(RemoveNetworkResponse {})),
        }
    }

    async fn connect_container(
        &self,
        req: Request<ConnectNetworkRequest>,
    ) -> Result<Response<ConnectNetworkResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("connect {} {}", r.network, r.container));
        if r.network == "nope" {
            return Err(not_found(&r.network));
        }
        self.state.lock().unwrap().connects.push(r);
        Ok(Response::new(ConnectNetworkResponse {}))
    }

    async fn disconnect_container(
        &self,
        req: Request<DisconnectNetworkRequest>,
    ) -> Result<Response<DisconnectNetworkResponse>, Status> {
        let r = req.get_ref().clone();
        self.note(&req, format!("disconnect {} {}", r.network, r.container));
        self.state.lock().unwrap().disconnects.push(r);
        Ok(Response::new(DisconnectNetworkResponse {}))
    }

    async fn prune(
        &self,
        req: Request<PruneNetworksRequest>,
    ) -> Result<Response<PruneNetworksResponse>, Status> {
        self.note(&req, "prune".into());
        self.state.lock().unwrap().network_filters = req.into_inner().filters;
        Ok(Response::new(PruneNetworksResponse {
            deleted: vec!["app".into(), "old".into()],
        }))
    }
}
