//! Networks service.

use berth_proto::v1::{
    networks_server, ConnectNetworkRequest, ConnectNetworkResponse, CreateNetworkRequest,
    CreateNetworkResponse, DisconnectNetworkRequest, DisconnectNetworkResponse,
    InspectNetworkRequest, InspectNetworkResponse, ListNetworksRequest, ListNetworksResponse,
    Network, NetworkEndpoint, PruneNetworksRequest, PruneNetworksResponse, RemoveNetworkRequest,
    RemoveNetworkResponse,
};
use serde_json::json;
use tonic::{Request, Response, Status};

use super::namespace;
use berth_engine::engine::Engine;
use berth_engine::error::ManagerError;
use berth_engine::network::{Attached, NetworkRecord, NewNetwork};

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
        container_id: a.container.id.clone(),
        container_name: a.container.name.clone(),
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

/// docker network inspect's object. Containers lists those with an address
/// (running), as docker lists active endpoints.
fn inspect_json(n: &NetworkRecord, attached: &[Attached]) -> serde_json::Value {
    let containers: serde_json::Map<String, serde_json::Value> = attached
        .iter()
        .filter(|a| !a.endpoint.ip.is_empty())
        .map(|a| {
            (
                a.container.id.clone(),
                json!({
                    "Name": a.container.name,
                    "EndpointID": a.endpoint.endpoint_id,
                    "MacAddress": a.endpoint.mac,
                    "IPv4Address": format!("{}/{}", a.endpoint.ip, a.endpoint.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    let config: Vec<serde_json::Value> = if n.subnet.is_empty() {
        Vec::new()
    } else {
        vec![json!({"Subnet": n.subnet, "Gateway": n.gateway})]
    };
    let mut options = serde_json::Map::new();
    if !n.bridge.is_empty() {
        options.insert(
            "com.docker.network.bridge.name".into(),
            n.bridge.clone().into(),
        );
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

/// docker's network ls filters.
fn matches(n: &NetworkRecord, filters: &[(String, String)], used: bool) -> Result<bool, Status> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "driver" => n.driver == *v,
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v),
            },
            "type" => match v.as_str() {
                "custom" => !n.predefined,
                "builtin" => n.predefined,
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "invalid filter: 'type'='{v}'"
                    )))
                }
            },
            "dangling" => match v.as_str() {
                "true" | "1" => !n.predefined && !used,
                "false" | "0" => n.predefined || used,
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "invalid filter: 'dangling'='{v}'"
                    )))
                }
            },
            other => {
                return Err(Status::invalid_argument(format!(
                    "invalid filter '{other}'"
                )))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_filters(f: &[String]) -> Result<Vec<(String, String)>, Status> {
    f.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "bad format of filter (expected name=value): {s}"
                    ))
                })
        })
        .collect()
}

fn status(e: ManagerError) -> Status {
    super::status::to_status(e)
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
            .create_network(NewNetwork {
                name: r.name,
                driver: r.driver,
                subnet: r.subnet,
                gateway: r.gateway,
                internal: r.internal,
                labels: r.labels.into_iter().collect(),
            })
            .await
            .map_err(status)?;
        Ok(Response::new(CreateNetworkResponse { id: rec.id }))
    }

    async fn list(
        &self,
        req: Request<ListNetworksRequest>,
    ) -> Result<Response<ListNetworksResponse>, Status> {
        let filters = parse_filters(&req.into_inner().filters)?;
        let used = self.engine.used_network_ids().map_err(status)?;
        let mut networks = Vec::new();
        for n in self.engine.networks().map_err(status)? {
            if matches(&n, &filters, used.contains(&n.id))? {
                networks.push(to_proto(&n, &[]));
            }
        }
        Ok(Response::new(ListNetworksResponse { networks }))
    }

    async fn inspect(
        &self,
        req: Request<InspectNetworkRequest>,
    ) -> Result<Response<InspectNetworkResponse>, Status> {
        let n = self
            .engine
            .find_network(&req.into_inner().id)
            .map_err(status)?;
        let attached = self.engine.network_containers(&n).map_err(status)?;
        let json = serde_json::to_string_pretty(&inspect_json(&n, &attached))
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(InspectNetworkResponse {
            network: Some(to_proto(&n, &attached)),
            json,
        }))
    }

    async fn remove(
        &self,
        req: Request<RemoveNetworkRequest>,
    ) -> Result<Response<RemoveNetworkResponse>, Status> {
        self.engine
            .remove_network(&req.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(RemoveNetworkResponse {}))
    }

    async fn connect_container(
        &self,
        req: Request<ConnectNetworkRequest>,
    ) -> Result<Response<ConnectNetworkResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .connect_network(&ns, &r.network, &r.container, &r.ipv4_address, r.aliases)
            .await
            .map_err(status)?;
        Ok(Response::new(ConnectNetworkResponse {}))
    }

    async fn disconnect_container(
        &self,
        req: Request<DisconnectNetworkRequest>,
    ) -> Result<Response<DisconnectNetworkResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        self.engine
            .disconnect_network(&ns, &r.network, &r.container, r.force)
            .await
            .map_err(status)?;
        Ok(Response::new(DisconnectNetworkResponse {}))
    }

    async fn prune(
        &self,
        req: Request<PruneNetworksRequest>,
    ) -> Result<Response<PruneNetworksResponse>, Status> {
        let filters = parse_filters(&req.into_inner().filters)?;
        if let Some((k, _)) = filters.iter().find(|(k, _)| k != "label") {
            return Err(Status::invalid_argument(format!("invalid filter '{k}'")));
        }
        let deleted = self.engine.prune_networks(&filters).await.map_err(status)?;
        Ok(Response::new(PruneNetworksResponse { deleted }))
    }
}
