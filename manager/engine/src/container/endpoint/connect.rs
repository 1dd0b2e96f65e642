//! docker network connect and disconnect.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tracing::warn;

use super::{fill_endpoint, netns_of, veth_spec};
use crate::container::record::NetworkMode;
use crate::container::Containers;
use crate::container::{ContainerRecord, Endpoint};
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::network::ipam;
use crate::network::record::NetworkRecord;

impl Containers {
    /// docker network connect: a running container gets a new interface at
    /// once; a stopped one at its next start.
    #[tracing::instrument(skip_all, fields(namespace = %ns, network = %network, container = %container))]
    pub async fn connect_network(
        &self,
        ns: &str,
        network: &str,
        container: &str,
        ipv4: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        let net = self.networks.find_network(network)?;
        let ipv4 = ipv4.to_string();
        self.locked_op(ns, container, move |engine, ns, id, _handle| async move {
            engine.connect_locked(&ns, &id, net, &ipv4, aliases).await
        })
        .await
    }

    async fn connect_locked(
        &self,
        ns: &str,
        id: &str,
        net: NetworkRecord,
        ipv4: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        let rec = self.lookup_container(ns, id)?;
        let requested = check_connect(&rec, &net, ipv4, &aliases)?;
        let mut ep = Endpoint {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            ipv4_requested: requested,
            aliases,
            ..Default::default()
        };
        let running = rec.state.running() && rec.state.pid > 0;
        if !running {
            self.update_container(ns, id, |r| {
                r.endpoints.push(ep);
                Ok(())
            })?;
            return Ok(());
        }
        let owner = ipam::owner(ns, id);
        let ip = ipam::allocate(self.store(), &net, &owner, requested)?;
        if let Err(e) = self.attach_now(&rec, &net, &mut ep, ip).await {
            let _ = ipam::release(self.store(), &net.id, ip, &owner);
            return Err(e);
        }
        let saved = ep.clone();
        self.update_container(ns, id, |r| {
            r.endpoints.push(saved);
            Ok(())
        })?;
        let _g = self.networks.state().lock.lock().await;
        self.refresh_hosts_locked(&[ep]).await;
        Ok(())
    }

    /// A running container's new interface, on the first free ethN; its
    /// default route only when no other network gives one.
    async fn attach_now(
        &self,
        rec: &ContainerRecord,
        net: &NetworkRecord,
        ep: &mut Endpoint,
        ip: Ipv4Addr,
    ) -> Result<()> {
        let used: BTreeSet<&str> = rec.endpoints.iter().map(|e| e.ifname.as_str()).collect();
        let index = (0..)
            .find(|i| !used.contains(format!("eth{i}").as_str()))
            .unwrap_or(0);
        fill_endpoint(ep, net, ip, index)?;
        let has_route = rec.endpoints.iter().any(|e| {
            !e.ip.is_empty() && self.network_by_id(&e.network_id).is_ok_and(|n| !n.internal)
        });
        let spec = veth_spec(ep, net, !has_route && !net.internal)?;
        let fd = netns_of(rec)?;
        self.networks
            .netlink()
            .await?
            .attach_veth(std::os::fd::AsFd::as_fd(&fd), &spec)
            .await
            .map_err(ManagerError::on_network(&net.name))
    }

    /// docker network disconnect.
    #[tracing::instrument(skip_all, fields(namespace = %ns, network = %network, container = %container))]
    pub async fn disconnect_network(
        &self,
        ns: &str,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let net = self.networks.find_network(network)?;
        self.locked_op(ns, container, move |engine, ns, id, _handle| async move {
            engine.disconnect_locked(&ns, &id, net, force).await
        })
        .await
    }

    async fn disconnect_locked(
        &self,
        ns: &str,
        id: &str,
        net: NetworkRecord,
        force: bool,
    ) -> Result<()> {
        let rec = self.lookup_container(ns, id)?;
        if !net.is_bridge() {
            return Err(ManagerError::FailedPrecondition(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let Some(ep) = rec
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id)
            .cloned()
        else {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} is not connected to network {}",
                rec.name, net.name
            )));
        };
        if !ep.ip.is_empty() && rec.state.pid > 0 {
            self.unplug(ns, &rec, &net, &ep, force).await?;
        }
        let updated = self.update_container(ns, id, |r| {
            r.endpoints.retain(|e| e.network_id != net.id);
            Ok(())
        })?;
        let _g = self.networks.state().lock.lock().await;
        if !updated.ports.is_empty() {
            self.networks.apply_firewall_locked().await?;
        }
        self.refresh_hosts_locked(&[ep]).await;
        // Its own file loses that network's names too.
        if updated.state.running() {
            let all = self.all_containers()?;
            self.write_hosts(ns, &updated, &all, &self.user_network_ids()?)?;
        }
        Ok(())
    }

    /// Takes a running container's interface on `net` out of its network
    /// namespace and releases its address; `force` goes on when the
    /// interface cannot be removed.
    async fn unplug(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        net: &NetworkRecord,
        ep: &Endpoint,
        force: bool,
    ) -> Result<()> {
        let removed = async {
            let fd = netns_of(rec)?;
            self.networks
                .netlink()
                .await?
                .remove_in_netns(std::os::fd::AsFd::as_fd(&fd), &ep.ifname)
                .await
                .map_err(ManagerError::on_network(&net.name))
        };
        if let Err(e) = removed.await {
            if !force {
                return Err(e);
            }
            warn!(id = %rec.id, error = %e, "disconnect: cannot remove the interface");
        }
        if let Ok(ip) = ep.ip.parse() {
            ipam::release(self.store(), &net.id, ip, &ipam::owner(ns, &rec.id))?;
        }
        Ok(())
    }
}

/// What connect refuses; the fixed address asked for, checked against the
/// network's subnet.
fn check_connect(
    rec: &ContainerRecord,
    net: &NetworkRecord,
    ipv4: &str,
    aliases: &[String],
) -> Result<Option<Ipv4Addr>> {
    if !net.is_bridge() {
        return Err(ManagerError::FailedPrecondition(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        ));
    }
    if !matches!(rec.host_config.network_mode, NetworkMode::Bridge(_)) {
        return Err(ManagerError::FailedPrecondition(
            "container sharing network namespace with another container or host cannot be connected to any other network".into(),
        ));
    }
    if rec.endpoints.iter().any(|e| e.network_id == net.id) {
        return Err(ManagerError::AlreadyExists(format!(
            "endpoint with name {} already exists in network {}",
            rec.name, net.name
        )));
    }
    if net.is_default_bridge() && (!ipv4.is_empty() || !aliases.is_empty()) {
        return Err(ManagerError::InvalidArgument(
            "user specified IP address and network-scoped aliases are supported on user defined networks only".into(),
        ));
    }
    if ipv4.is_empty() {
        return Ok(None);
    }
    let ip: Ipv4Addr = ipv4
        .parse()
        .map_err(|_| ManagerError::InvalidArgument(format!("invalid IPv4 address {ipv4:?}")))?;
    if !net.net()?.contains(&ip) {
        return Err(ManagerError::InvalidArgument(format!(
            "no configured subnet contains IP address {ip}: network {} is {}",
            net.name, net.subnet
        )));
    }
    Ok(Some(ip))
}
