//! The network put right after a restart, once containers are recovered.

use std::collections::BTreeSet;

use tracing::{info, warn};

use crate::container::Containers;
use crate::container::{ContainerRecord, Endpoint};
use crate::core::OnCore;
use crate::error::Result;
use crate::network::{ipam, ports};

impl Containers {
    /// After containers were recovered at start-up: what a crash or a
    /// reboot left is put right. Addresses, veths and host ports of
    /// containers that are not running are given back, allocations nobody
    /// holds are dropped, the host ports of running containers are bound
    /// again, the firewall table is rebuilt from the store, and the hosts
    /// files of user-defined networks are rewritten.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn reconcile_networks(&self) -> Result<()> {
        self.release_stopped_networks().await?;
        let all = self.all_containers()?;
        let veths = self.drop_stale_allocations(&all)?;
        self.hold_published_ports(&all);
        let _g = self.networks.state().lock.lock().await;
        self.networks.apply_firewall_locked().await?;
        self.remove_stale_veths(&veths).await?;
        let endpoints: Vec<Endpoint> = all.iter().flat_map(|(_, c)| c.endpoints.clone()).collect();
        self.refresh_hosts_locked(&endpoints).await;
        Ok(())
    }

    /// Gives back the addresses, veths and host ports of containers that
    /// are not running.
    async fn release_stopped_networks(&self) -> Result<()> {
        for (ns, c) in self.all_containers()? {
            let live = c.state.running() && c.task.is_some();
            if !live && (c.endpoints.iter().any(|e| !e.ip.is_empty()) || !c.ports.is_empty()) {
                info!(namespace = %ns, id = %c.id, "releasing the network of a stopped container");
                self.network_release(&ns, &c.id).await;
            }
        }
        Ok(())
    }

    /// Drops the address allocations no endpoint of `all` holds; returns
    /// the host ends of the veths the endpoints hold.
    fn drop_stale_allocations(
        &self,
        all: &[(String, ContainerRecord)],
    ) -> Result<BTreeSet<String>> {
        let mut held = BTreeSet::new();
        let mut veths = BTreeSet::new();
        for (ns, c) in all {
            for e in c.endpoints.iter().filter(|e| !e.ip.is_empty()) {
                held.insert((e.network_id.clone(), e.ip.clone(), ipam::owner(ns, &c.id)));
                veths.insert(e.host_veth.clone());
            }
        }
        for (net, ip, owner) in ipam::all(self.store())? {
            if !held.contains(&(net.clone(), ip.to_string(), owner.clone())) {
                info!(network = %net, %ip, %owner, "dropping a stale address allocation");
                ipam::release(self.store(), &net, ip, &owner)?;
            }
        }
        Ok(veths)
    }

    /// Binds the published host ports of `all` again (those still
    /// recorded are the running containers').
    fn hold_published_ports(&self, all: &[(String, ContainerRecord)]) {
        for (ns, c) in all {
            if c.ports.is_empty() {
                continue;
            }
            let mut reserved = Vec::new();
            for p in &c.ports {
                match ports::reserve(p.bind_ip(), p.host_port, p.protocol) {
                    Ok(r) => reserved.push(r),
                    Err(e) => {
                        warn!(id = %c.id, error = %e, "cannot hold published port {} again", p.host_port)
                    }
                }
            }
            self.networks.state().hold_ports(ns, &c.id, reserved);
        }
    }

    /// Deletes (later) the ports of bridge networks that are not in
    /// `veths`: the veths of containers that are gone.
    async fn remove_stale_veths(&self, veths: &BTreeSet<String>) -> Result<()> {
        let nl = self.networks.netlink().await?;
        let mut stale = Vec::new();
        for n in self.networks.records()?.iter().filter(|n| n.is_bridge()) {
            for port in nl.bridge_ports(&n.bridge).await.unwrap_or_default() {
                if !veths.contains(&port) {
                    stale.push(port);
                }
            }
        }
        if !stale.is_empty() {
            info!(
                count = stale.len(),
                "removing veths of containers that are gone"
            );
            self.delete_links_later(stale);
        }
        Ok(())
    }
}
