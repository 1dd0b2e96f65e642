//! The hosts files berthd keeps for containers: --add-host lines, links,
//! the own address, and the peers on user-defined networks.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tracing::warn;

use super::{first_ip, hosts_path, write_file};
use crate::container::record::container_dir;
use crate::container::Containers;
use crate::container::{ContainerRecord, Endpoint};
use crate::core::OnCore;
use crate::error::Result;
use crate::network::files::{self, HostsEntry};

impl Containers {
    /// Rewrites the hosts file of every running container on the user-
    /// defined networks of `endpoints`. The caller holds the network lock.
    pub(crate) async fn refresh_hosts_locked(&self, endpoints: &[Endpoint]) {
        let Ok(user) = self.user_network_ids() else {
            return;
        };
        let touched: BTreeSet<&String> = endpoints
            .iter()
            .map(|e| &e.network_id)
            .filter(|id| user.contains(*id))
            .collect();
        if touched.is_empty() {
            return;
        }
        let Ok(all) = self.all_containers() else {
            return;
        };
        for (ns, c) in &all {
            let member = c
                .endpoints
                .iter()
                .any(|e| !e.ip.is_empty() && touched.contains(&e.network_id));
            if member {
                if let Err(e) = self.write_hosts(ns, c, &all, &user) {
                    warn!(id = %c.id, error = %e, "cannot update the hosts file");
                }
            }
        }
    }

    /// Ids of the user-defined networks.
    pub(crate) fn user_network_ids(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .networks
            .records()?
            .into_iter()
            .filter(|n| n.is_user_defined())
            .map(|n| n.id)
            .collect())
    }

    /// Writes a container's /etc/hosts from the records: its --add-host
    /// lines, its links, its own address and hostname, then every other
    /// running container of its namespace on a user-defined network it is
    /// on (name, aliases, short id) and its links there.
    pub(crate) fn write_hosts(
        &self,
        ns: &str,
        c: &ContainerRecord,
        all: &[(String, ContainerRecord)],
        user: &BTreeSet<String>,
    ) -> Result<()> {
        let peers: Vec<&ContainerRecord> = all
            .iter()
            .filter(|(n, p)| n == ns && p.id != c.id)
            .map(|(_, p)| p)
            .collect();
        // docker's order: --add-host lines, links, the container's own
        // address, then (berth's) the peers on user-defined networks.
        let mut entries = extra_host_entries(c);
        entries.extend(link_entries(c, &peers));
        entries.extend(own_entry(c));
        for e in c
            .endpoints
            .iter()
            .filter(|e| !e.ip.is_empty() && user.contains(&e.network_id))
        {
            entries.extend(peer_entries(e, &peers));
        }
        let path = hosts_path(&container_dir(self.config(), ns, &c.id));
        write_file(&path, &files::hosts_file(&entries))
    }
}

/// A peer by name or id.
fn find_peer<'a>(peers: &[&'a ContainerRecord], r: &str) -> Option<&'a ContainerRecord> {
    peers.iter().copied().find(|p| p.name == r || p.id == r)
}

/// The --add-host lines (host-gateway is the first network's gateway; left
/// out without one).
fn extra_host_entries(c: &ContainerRecord) -> Vec<HostsEntry> {
    let gateway: Option<Ipv4Addr> = c
        .endpoints
        .iter()
        .find(|e| !e.ip.is_empty())
        .and_then(|e| e.gateway.parse().ok());
    c.host_config
        .extra_hosts
        .iter()
        .filter_map(|h| h.entry(gateway))
        .collect()
}

/// --link targets that run: alias, name, short id.
fn link_entries(c: &ContainerRecord, peers: &[&ContainerRecord]) -> Vec<HostsEntry> {
    let mut entries = Vec::new();
    for l in &c.host_config.links {
        if let Some((t, ip)) = find_peer(peers, &l.name).and_then(|t| Some((t, first_ip(t)?))) {
            let mut names = vec![l.alias.clone()];
            if t.name != l.alias {
                names.push(t.name.clone());
            }
            names.push(t.short_id().to_string());
            entries.push(HostsEntry {
                ip: ip.to_string(),
                names,
            });
        }
    }
    entries
}

/// The container's own address and hostname (with its domain).
fn own_entry(c: &ContainerRecord) -> Option<HostsEntry> {
    let ep = c.endpoints.iter().find(|e| !e.ip.is_empty())?;
    let mut names = Vec::new();
    if !c.config.domainname.is_empty() {
        names.push(format!("{}.{}", c.hostname, c.config.domainname));
    }
    names.push(c.hostname.clone());
    Some(HostsEntry {
        ip: ep.ip.clone(),
        names,
    })
}

/// The peers on the network of endpoint `e` (name, aliases, short id),
/// then that endpoint's links.
fn peer_entries(e: &Endpoint, peers: &[&ContainerRecord]) -> Vec<HostsEntry> {
    let mut entries = Vec::new();
    for p in peers {
        for pe in p
            .endpoints
            .iter()
            .filter(|pe| pe.network_id == e.network_id && !pe.ip.is_empty())
        {
            let mut names = vec![p.name.clone()];
            for a in &pe.aliases {
                if !names.contains(a) {
                    names.push(a.clone());
                }
            }
            names.push(p.short_id().to_string());
            entries.push(HostsEntry {
                ip: pe.ip.clone(),
                names,
            });
        }
    }
    for l in &e.links {
        if let Some(pe) = find_peer(peers, &l.name).and_then(|p| {
            p.endpoints
                .iter()
                .find(|pe| pe.network_id == e.network_id && !pe.ip.is_empty())
        }) {
            entries.push(HostsEntry {
                ip: pe.ip.clone(),
                names: vec![l.alias.clone()],
            });
        }
    }
    entries
}
