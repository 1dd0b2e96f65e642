//! The networks service: predefined and user-defined networks, their
//! bridges and the firewall table that follows them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use tracing::{info, warn};

use super::firewall::{NetworkRules, PortRule, Ruleset};
use super::record::{NetworkRecord, BRIDGE, HOST, NONE};
use super::view::{Attached, NetworkDetails, NetworkFilter, NetworkPruneFilter};
use super::Networks;
use crate::core::blocking;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::events::{Action, Event, Scope};
use crate::store::{now, schema};

/// What `network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct NewNetwork {
    pub name: String,
    pub driver: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// docker's rule for network names.
fn validate_network_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ManagerError::InvalidArgument(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// What `network create` asks for that no state decides: the name, the
/// driver, not a predefined network's name.
fn check_new_network(req: &NewNetwork) -> Result<()> {
    validate_network_name(&req.name)?;
    if !(req.driver.is_empty() || req.driver == "bridge") {
        return Err(ManagerError::InvalidArgument(format!(
            "plugin \"{}\" not found: berth has the bridge driver only",
            req.driver
        )));
    }
    if [BRIDGE, HOST, NONE, "default"].contains(&req.name.as_str()) {
        return Err(ManagerError::Forbidden(format!(
            "{} is a pre-defined network and cannot be created",
            req.name
        )));
    }
    Ok(())
}

/// The gateway asked for (a host address of `subnet`), or its first host.
fn choose_gateway(asked: &str, subnet: &Ipv4Net) -> Result<Ipv4Addr> {
    if asked.is_empty() {
        return Ok(first_host(subnet));
    }
    let g: Ipv4Addr = asked
        .parse()
        .map_err(|_| ManagerError::InvalidArgument(format!("invalid gateway {asked:?}")))?;
    if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid gateway {g}: not a host address of subnet {subnet}"
        )));
    }
    Ok(g)
}

/// Parses a CIDR that must name its network address (docker's check).
fn parse_subnet(s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s.parse().map_err(|_| {
        ManagerError::InvalidArgument(format!(
            "invalid subnet {s:?}: expected an IPv4 CIDR such as 10.1.0.0/24"
        ))
    })?;
    if net.network() != net.addr() {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid network config: invalid subnet {s}: it should be {}",
            net.trunc()
        )));
    }
    if net.prefix_len() > 30 {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid subnet {s}: a network needs at least a /30"
        )));
    }
    Ok(net)
}

impl Networks {
    /// The networks `filter` keeps, by name (`network ls`).
    #[tracing::instrument(skip_all)]
    pub async fn list_networks(&self, filter: &NetworkFilter) -> Result<Vec<NetworkRecord>> {
        let networks = self.clone();
        let filter = filter.clone();
        blocking(move || {
            let used = networks.used_network_ids()?;
            let mut kept = Vec::new();
            for n in networks.records()? {
                if filter.matches(&n, used.contains(&n.id))? {
                    kept.push(n);
                }
            }
            Ok(kept)
        })
        .await
    }

    /// A network by name, id or unique id prefix, with the containers
    /// connected to it (`network inspect`).
    #[tracing::instrument(skip_all, fields(network = %key))]
    pub async fn inspect_network(&self, key: &str) -> Result<NetworkDetails> {
        let networks = self.clone();
        let key = key.to_string();
        blocking(move || {
            let network = networks.find_network(&key)?;
            let attached = networks.network_containers(&network)?;
            Ok(NetworkDetails { network, attached })
        })
        .await
    }

    /// Every network record, by name.
    pub fn records(&self) -> Result<Vec<NetworkRecord>> {
        let mut v: Vec<NetworkRecord> = self.store().scan(schema::NETWORKS_PREFIX)?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// A network by name, full id or unique id prefix.
    pub(crate) fn find_network(&self, key: &str) -> Result<NetworkRecord> {
        let all = self.records()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let by_prefix: Vec<&NetworkRecord> = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ManagerError::NotFound(format!("network {key} not found"))),
            _ => Err(ManagerError::InvalidArgument(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                by_prefix.len()
            ))),
        }
    }

    /// The containers connected to a network (running or not).
    pub(crate) fn network_containers(&self, net: &NetworkRecord) -> Result<Vec<Attached>> {
        let mut v = Vec::new();
        for a in self.attachments()? {
            if let Some(ep) = a.endpoints.iter().find(|e| e.network_id == net.id) {
                v.push(Attached {
                    namespace: a.namespace.clone(),
                    container_id: a.id.clone(),
                    container_name: a.name.clone(),
                    running: a.running,
                    endpoint: ep.clone(),
                });
            }
        }
        Ok(v)
    }

    /// Ids of the networks some container (running or not) is connected to.
    pub(crate) fn used_network_ids(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .attachments()?
            .into_iter()
            .flat_map(|a| a.endpoints.into_iter().map(|e| e.network_id))
            .collect())
    }

    /// At start-up, before containers are recovered: the predefined
    /// networks' records, every bridge network's bridge, the sysctls.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn init_networks(&self) -> Result<()> {
        let cfg = self.config();
        let subnet = parse_subnet(&cfg.bridge_subnet)
            .map_err(|e| ManagerError::InvalidArgument(format!("config bridge_subnet: {e}")))?;
        let gateway = first_host(&subnet);
        let existing = self.records()?;
        let find = |name: &str| {
            existing
                .iter()
                .find(|n| n.predefined && n.name == name)
                .cloned()
        };
        let mut bridge = find(BRIDGE).unwrap_or_else(|| NetworkRecord {
            id: new_id(),
            name: BRIDGE.into(),
            driver: "bridge".into(),
            created: now(),
            predefined: true,
            ..Default::default()
        });
        if bridge.subnet != subnet.to_string() || bridge.bridge != cfg.bridge {
            if !bridge.bridge.is_empty() && bridge.bridge != cfg.bridge {
                // The config names another bridge: the old one goes.
                let _ = self.netlink().await?.delete_link(&bridge.bridge).await;
            }
            bridge.subnet = subnet.to_string();
            bridge.gateway = gateway.to_string();
            bridge.bridge = cfg.bridge.clone();
        }
        self.store()
            .put(&schema::network_key(&bridge.id), &bridge)?;
        for (name, driver) in [(HOST, "host"), (NONE, "null")] {
            if find(name).is_none() {
                let rec = NetworkRecord {
                    id: new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: now(),
                    predefined: true,
                    ..Default::default()
                };
                self.store().put(&schema::network_key(&rec.id), &rec)?;
            }
        }
        for net in self.records()?.iter().filter(|n| n.is_bridge()) {
            self.check_no_route_overlap(&net.net()?, &net.bridge)
                .await?;
            self.ensure_bridge(net).await?;
        }
        Ok(())
    }

    async fn ensure_bridge(&self, net: &NetworkRecord) -> Result<()> {
        let subnet = net.net()?;
        self.netlink()
            .await?
            .ensure_bridge(&net.bridge, net.gateway_ip()?, subnet.prefix_len())
            .await
            .map_err(ManagerError::on_network(&net.name))?;
        if !net.internal {
            if let Err(e) = super::link::set_sysctl("net/ipv4/ip_forward", "1") {
                warn!(error = %e, "cannot enable net.ipv4.ip_forward: containers get no outbound traffic");
            }
        }
        Ok(())
    }

    /// Refuses a subnet that a host route already covers (other than
    /// through `own_bridge`).
    async fn check_no_route_overlap(&self, subnet: &Ipv4Net, own_bridge: &str) -> Result<()> {
        let routes = self
            .netlink()
            .await?
            .overlapping_routes(*subnet, &[own_bridge])
            .await?;
        if let Some((dst, dev)) = routes.first() {
            return Err(ManagerError::FailedPrecondition(format!(
                "subnet {subnet} overlaps the host's route to {dst} on {dev}: choose another subnet"
            )));
        }
        Ok(())
    }

    /// Creates a user-defined bridge network.
    #[tracing::instrument(skip_all, fields(network = %req.name))]
    pub async fn create_network(&self, req: NewNetwork) -> Result<NetworkRecord> {
        check_new_network(&req)?;
        let _g = self.state().lock.lock().await;
        let existing = self.records()?;
        if existing.iter().any(|n| n.name == req.name) {
            return Err(ManagerError::AlreadyExists(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let subnet = self.choose_subnet(&req.subnet, &existing).await?;
        let gateway = choose_gateway(&req.gateway, &subnet)?;
        let id = new_id();
        let rec = NetworkRecord {
            bridge: format!("br-{}", &id[..12]),
            id,
            name: req.name,
            driver: "bridge".into(),
            created: now(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal: req.internal,
            labels: req.labels,
            predefined: false,
        };
        self.commit_network(&rec).await?;
        info!(network = %rec.name, subnet = %rec.subnet, bridge = %rec.bridge, "created network");
        self.publish(network_event(Action::Create, &rec));
        Ok(rec)
    }

    /// The subnet asked for (which must overlap no network and no host
    /// route), or the first free one of the pools.
    async fn choose_subnet(&self, asked: &str, existing: &[NetworkRecord]) -> Result<Ipv4Net> {
        if asked.is_empty() {
            return self.pick_subnet(existing).await;
        }
        let s = parse_subnet(asked)?;
        if let Some(o) = existing
            .iter()
            .filter(|n| n.is_bridge())
            .find(|n| n.net().is_ok_and(|o| overlaps(&o, &s)))
        {
            return Err(ManagerError::FailedPrecondition(format!(
                "invalid pool request: Pool overlaps with other one on this address space: {s} and network {} ({})",
                o.name, o.subnet
            )));
        }
        self.check_no_route_overlap(&s, "").await?;
        Ok(s)
    }

    /// Makes the network's bridge, records it and applies the firewall; a
    /// failed firewall takes the record and the bridge back.
    async fn commit_network(&self, rec: &NetworkRecord) -> Result<()> {
        self.ensure_bridge(rec).await?;
        self.store().put(&schema::network_key(&rec.id), rec)?;
        if let Err(e) = self.apply_firewall_locked().await {
            let _ = self.store().apply({
                let mut b = crate::store::Batch::default();
                b.delete(&schema::network_key(&rec.id));
                b
            });
            let _ = self.netlink().await?.delete_link(&rec.bridge).await;
            return Err(e);
        }
        Ok(())
    }

    /// The first subnet of the address pools that overlaps no network and
    /// no host route.
    async fn pick_subnet(&self, existing: &[NetworkRecord]) -> Result<Ipv4Net> {
        let taken: Vec<Ipv4Net> = existing.iter().filter_map(|n| n.net().ok()).collect();
        for pool in &self.config().default_address_pools {
            let base: Ipv4Net = pool.base.parse().map_err(|_| {
                ManagerError::InvalidArgument(format!(
                    "config default_address_pools: bad base {:?}",
                    pool.base
                ))
            })?;
            let Ok(subnets) = base.subnets(pool.size) else {
                return Err(ManagerError::InvalidArgument(format!(
                    "config default_address_pools: size {} does not fit {}",
                    pool.size, pool.base
                )));
            };
            for s in subnets {
                if taken.iter().any(|t| overlaps(t, &s)) {
                    continue;
                }
                if self.check_no_route_overlap(&s, "").await.is_ok() {
                    return Ok(s);
                }
            }
        }
        Err(ManagerError::FailedPrecondition(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
        ))
    }

    /// Removes a user-defined network (refused while a running container
    /// is connected, as docker refuses a network with active endpoints).
    #[tracing::instrument(skip_all, fields(network = %key))]
    pub async fn remove_network(&self, key: &str) -> Result<String> {
        let net = self.find_network(key)?;
        if net.predefined {
            return Err(ManagerError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        let _g = self.state().lock.lock().await;
        let active: Vec<String> = self
            .network_containers(&net)?
            .into_iter()
            .filter(|a| !a.endpoint.ip.is_empty() || a.running)
            .map(|a| a.container_name)
            .collect();
        if !active.is_empty() {
            return Err(ManagerError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                net.name,
                net.id,
                active.join(", ")
            )));
        }
        let mut b = crate::store::Batch::default();
        b.delete(&schema::network_key(&net.id));
        for k in self.store().keys(&schema::ipam_prefix(&net.id))? {
            b.delete(&format!("{}{k}", schema::ipam_prefix(&net.id)));
        }
        self.store().apply(b)?;
        self.apply_firewall_locked().await?;
        self.netlink()
            .await?
            .delete_link(&net.bridge)
            .await
            .map_err(ManagerError::on_network(&net.name))?;
        info!(network = %net.name, "removed network");
        self.publish(network_event(Action::Destroy, &net));
        Ok(net.name)
    }

    /// Removes every user-defined network no container refers to (and
    /// that has the filter's labels); the names of those removed.
    #[tracing::instrument(skip_all)]
    pub async fn prune_networks(&self, filter: &NetworkPruneFilter) -> Result<Vec<String>> {
        let used = self.used_network_ids()?;
        let mut deleted = Vec::new();
        for n in self.records()? {
            if n.predefined || used.contains(&n.id) || !filter.matches(&n) {
                continue;
            }
            match self.remove_network(&n.id).await {
                Ok(name) => deleted.push(name),
                Err(e) => warn!(network = %n.name, error = %e, "prune: cannot remove"),
            }
        }
        Ok(deleted)
    }

    /// The firewall table as the store says it should be: every bridge
    /// network's rules and every running container's published ports.
    pub(crate) fn desired_ruleset(&self) -> Result<Ruleset> {
        let mut rules = Ruleset::default();
        for n in self.records()?.into_iter().filter(|n| n.is_bridge()) {
            rules.networks.push(NetworkRules {
                bridge: n.bridge.clone(),
                subnet: n.net()?,
                internal: n.internal,
            });
        }
        for c in self.attachments()? {
            let Some(ip) = c
                .endpoints
                .iter()
                .find_map(|e| e.ip.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            for p in &c.ports {
                rules.ports.push(PortRule {
                    host_ip: p.bind_ip(),
                    host_port: p.host_port,
                    proto: p.protocol,
                    container_ip: ip,
                    container_port: p.container_port,
                });
            }
        }
        Ok(rules)
    }

    /// Replaces the firewall table with the desired one; the caller holds
    /// the network lock.
    pub(crate) async fn apply_firewall_locked(&self) -> Result<()> {
        let rules = self.desired_ruleset()?;
        Ok(self.state().firewall.apply(&rules).await?)
    }
}

/// The subnet's first host address (the default gateway).
fn first_host(net: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A network event with docker's "name" and "type" attributes; networks
/// are daemon-wide, so its namespace is empty.
fn network_event(action: Action, net: &NetworkRecord) -> Event {
    Event::new("", Scope::Network, action, &net.id)
        .with("name", net.name.clone())
        .with("type", net.driver.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_subnets() {
        assert!(validate_network_name("my-net_1.x").is_ok());
        assert!(validate_network_name("-x").is_err());
        assert!(validate_network_name("a b").is_err());
        assert!(validate_network_name("").is_err());
        assert_eq!(
            parse_subnet("10.1.0.0/24").unwrap().to_string(),
            "10.1.0.0/24"
        );
        let e = parse_subnet("10.1.0.1/24").unwrap_err().to_string();
        assert!(e.contains("it should be 10.1.0.0/24"), "{e}");
        assert!(parse_subnet("10.1.0.0/31").is_err());
        assert!(parse_subnet("nope").is_err());
        let predefined = NewNetwork {
            name: "bridge".into(),
            ..Default::default()
        };
        // docker's 403: a predefined network's name is not refused as bad
        // input but as an operation not permitted.
        assert_eq!(
            check_new_network(&predefined).unwrap_err().kind(),
            crate::ErrorKind::Forbidden
        );
        assert_eq!(
            first_host(&"10.1.0.0/24".parse().unwrap()),
            Ipv4Addr::new(10, 1, 0, 1)
        );
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.1.0.0/24".parse().unwrap();
        let c: Ipv4Net = "10.2.0.0/24".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a) && !overlaps(&b, &c));
    }
}
