//! Networks service.

use berth_proto::v1::{
    networks_server, ConnectNetworkRequest, ConnectNetworkResponse, CreateNetworkRequest,
    CreateNetworkResponse, DisconnectNetworkRequest, DisconnectNetworkResponse,
    InspectNetworkRequest, InspectNetworkResponse, ListNetworksRequest, ListNetworksResponse,
    Network, NetworkEndpoint, PruneNetworksRequest, PruneNetworksResponse, RemoveNetworkRequest,
    RemoveNetworkResponse,
};
use tonic::{Request, Response, Status};

use super::namespace;
use super::status::OrStatus;
use berth_engine::engine::Engine;
use berth_engine::network::{
    Attached, NetworkFilter, NetworkPruneFilter, NetworkRecord, NewNetwork,
};

pub struct Networks {
    engine: Engine,
}

impl Networks {
    pub fn new(engine: Engine) -> Self {
        Networks { engine }
    }
}

fn endpoint(a: &Attached) -> NetworkEndpoint {
    NetworkEndpoint {
        container_id: a.container_id.clone(),
        container_name: a.container_name.clone(),
        namespace: a.namespace.clone(),
        ipv4_address: if a.endpoint.ip.is_empty() {
            String::new()
        } else {
            format!("{}/{}", a.endpoint.ip, a.endpoint.prefix)
        },
        mac_address: a.endpoint.mac.clone(),
        interface: a.endpoint.ifname.clone(),
        aliases: a.endpoint.aliases.clone(),
    }
}

fn to_proto(n: &NetworkRecord, attached: &[Attached]) -> Network {
    Network {
        id: n.id.clone(),
        name: n.name.clone(),
        driver: n.driver.clone(),
        created: n.created.clone(),
        subnet: n.subnet.clone(),
        gateway: n.gateway.clone(),
        internal: n.internal,
        bridge: n.bridge.clone(),
        labels: n.labels.clone().into_iter().collect(),
        containers: attached.iter().map(endpoint).collect(),
        predefined: n.predefined,
    }
}

#[tonic::async_trait]
impl networks_server::Networks for Networks {
    async fn create(
        &self,
        req: Request<CreateNetworkRequest>,
    ) -> Result<Response<CreateNetworkResponse>, Status> {
        let r = req.into_inner();
        let rec = self
            .engine
            .networks()
            .create_network(NewNetwork {
                name: r.name,
                driver: r.driver,
                subnet: r.subnet,
                gateway: r.gateway,
                internal: r.internal,
                labels: r.labels.into_iter().collect(),
            })
            .await
            .or_status()?;
        Ok(Response::new(CreateNetworkResponse { id: rec.id }))
    }

    async fn list(
        &self,
        req: Request<ListNetworksRequest>,
    ) -> Result<Response<ListNetworksResponse>, Status> {
        let filter = NetworkFilter::parse(&req.into_inner().filters).or_status()?;
        let networks = self
            .engine
            .networks()
            .list_networks(&filter)
            .await
            .or_status()?;
        Ok(Response::new(ListNetworksResponse {
            networks: networks.iter().map(|n| to_proto(n, &[])).collect(),
        }))
    }

    async fn inspect(
        &self,
        req: Request<InspectNetworkRequest>,
    ) -> Result<Response<InspectNetworkResponse>, Status> {
        let d = self
            .engine
            .networks()
            .inspect_network(&req.into_inner().id)
            .await
            .or_status()?;
        let json = serde_json::to_string_pretty(&d.inspect())
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(InspectNetworkResponse {
            network: Some(to_proto(&d.network, &d.attached)),
            json,
        }))
    }

    async fn remove(
        &self,
        req: Request<RemoveNetworkRequest>,
    ) -> Result<Response<RemoveNetworkResponse>, Status> {
        self.engine
            .networks()
            .remove_network(&req.into_inner().id)
            .await
            .or_status()?;
        Ok(Response::new(RemoveNetworkResponse {}))
    }

    async fn connect_container(
        &self,
        req: Request<ConnectNetworkRequest>,
    ) -> Result<Response<ConnectNetworkResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .connect_network(&ns, &r.network, &r.container, &r.ipv4_address, r.aliases)
            .await
            .or_status()?;
        Ok(Response::new(ConnectNetworkResponse {}))
    }

    async fn disconnect_container(
        &self,
        req: Request<DisconnectNetworkRequest>,
    ) -> Result<Response<DisconnectNetworkResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .containers()
            .disconnect_network(&ns, &r.network, &r.container, r.force)
            .await
            .or_status()?;
        Ok(Response::new(DisconnectNetworkResponse {}))
    }

    async fn prune(
        &self,
        req: Request<PruneNetworksRequest>,
    ) -> Result<Response<PruneNetworksResponse>, Status> {
        let filter = NetworkPruneFilter::parse(&req.into_inner().filters).or_status()?;
        let deleted = self
            .engine
            .networks()
            .prune_networks(&filter)
            .await
            .or_status()?;
        Ok(Response::new(PruneNetworksResponse { deleted }))
    }
}
