//! At create: the network options checked against the mode, and the
//! endpoints, the hostname and the /etc files' mounts settled.

use std::path::{Path, PathBuf};

use super::{hostname_path, hosts_path, resolv_path};
use crate::container::record::{container_dir, NetworkMode};
use crate::container::Containers;
use crate::container::{ContainerConfig, Endpoint, HostConfig};
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::network::files;

/// What create settles about the network.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub endpoints: Vec<Endpoint>,
    /// The hostname to use when the user gave none (host and container
    /// modes); None keeps the id's prefix.
    pub hostname: Option<String>,
    /// Bind mounts (source, destination) of the hosts, hostname and
    /// resolv.conf files.
    pub files: Vec<(PathBuf, String)>,
    pub warnings: Vec<String>,
}

impl Planned {
    /// Mounts the /etc files kept in `dir` (the container's own, or the
    /// one whose network it joins).
    fn etc_files_of(&mut self, dir: &Path) {
        self.files.push((hosts_path(dir), "/etc/hosts".into()));
        self.files
            .push((hostname_path(dir), "/etc/hostname".into()));
        self.files
            .push((resolv_path(dir), "/etc/resolv.conf".into()));
    }
}

fn conflict(what: &str) -> ManagerError {
    ManagerError::InvalidArgument(format!("conflicting options: {what}"))
}

impl Containers {
    /// Checks the network options at create and settles the endpoints,
    /// the hostname and the /etc files' mounts. (The flags themselves were
    /// parsed with the host config.)
    pub(crate) fn plan_network(
        &self,
        ns: &str,
        id: &str,
        cfg: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Planned> {
        // resolv.conf's options are checked now, not at the first start.
        files::resolv_conf("", &hc.dns, &hc.dns_search, &hc.dns_options)?;
        let mut plan = Planned::default();
        let dir = container_dir(self.config(), ns, id);
        match &hc.network_mode {
            NetworkMode::Host | NetworkMode::None => {
                plan_own_namespace(cfg, hc, &mut plan)?;
                plan.etc_files_of(&dir);
            }
            NetworkMode::Container(other) => {
                self.plan_joined(ns, id, other, cfg, hc, &mut plan)?;
            }
            NetworkMode::Bridge(_) => {
                let name = hc.network_mode.network().unwrap_or_default();
                self.plan_bridge(ns, name, hc, &mut plan)?;
                plan.etc_files_of(&dir);
            }
        }
        Ok(plan)
    }

    /// `container:` mode: nothing of the container's own network may be
    /// asked; it uses the other's hostname and /etc files.
    fn plan_joined(
        &self,
        ns: &str,
        id: &str,
        other: &str,
        cfg: &ContainerConfig,
        hc: &HostConfig,
        plan: &mut Planned,
    ) -> Result<()> {
        if !hc.port_bindings.is_empty() || hc.publish_all_ports {
            return Err(conflict(
                "port publishing and the container type network mode",
            ));
        }
        if !cfg.hostname.is_empty() {
            return Err(conflict("hostname and the network mode"));
        }
        if !hc.dns.is_empty() || !hc.dns_search.is_empty() || !hc.dns_options.is_empty() {
            return Err(conflict("dns and the network mode"));
        }
        if !hc.extra_hosts.is_empty() {
            return Err(conflict("custom host-to-IP mapping and the network mode"));
        }
        if !hc.links.is_empty() {
            return Err(conflict(
                "container cannot be linked when it joins another container's network",
            ));
        }
        let target = self.container_by_ref(ns, other)?;
        if target.id == id {
            return Err(ManagerError::InvalidArgument(
                "cannot join own network namespace".into(),
            ));
        }
        plan.hostname = Some(target.hostname.clone());
        plan.etc_files_of(&container_dir(self.config(), ns, &target.id));
        Ok(())
    }

    /// A bridge network: the endpoint, with its fixed address checked
    /// against the subnet and its links' targets looked up.
    fn plan_bridge(&self, ns: &str, name: &str, hc: &HostConfig, plan: &mut Planned) -> Result<()> {
        let net = self.networks.find_network(name)?;
        if !net.is_bridge() {
            return Err(ManagerError::InvalidArgument(format!(
                "network {} cannot be used this way",
                net.name
            )));
        }
        if net.is_default_bridge() {
            if hc.ipv4_address.is_some() {
                return Err(ManagerError::InvalidArgument(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !hc.network_aliases.is_empty() {
                return Err(ManagerError::InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks".into(),
                ));
            }
        }
        if let Some(ip) = hc.ipv4_address {
            if !net.net()?.contains(&ip) {
                return Err(ManagerError::InvalidArgument(format!(
                    "no configured subnet contains IP address {ip}: network {} is {}",
                    net.name, net.subnet
                )));
            }
        }
        for l in &hc.links {
            self.container_by_ref(ns, &l.name).map_err(|_| {
                ManagerError::InvalidArgument(format!("could not get container for {}", l.name))
            })?;
        }
        plan.endpoints.push(Endpoint {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            ipv4_requested: hc.ipv4_address,
            aliases: hc.network_aliases.clone(),
            links: if net.is_default_bridge() {
                Vec::new()
            } else {
                hc.links.clone()
            },
            ..Default::default()
        });
        Ok(())
    }
}

/// Host and none modes: no links, addresses or aliases; published ports
/// are dropped with a warning; host mode takes the host's hostname.
fn plan_own_namespace(cfg: &ContainerConfig, hc: &HostConfig, plan: &mut Planned) -> Result<()> {
    let host = hc.network_mode == NetworkMode::Host;
    if !hc.links.is_empty() {
        return Err(conflict("links are supported on bridge networks only"));
    }
    if hc.ipv4_address.is_some() || !hc.network_aliases.is_empty() {
        return Err(ManagerError::InvalidArgument(
            "user specified IP address and network-scoped aliases are supported on user defined networks only".into(),
        ));
    }
    if !hc.port_bindings.is_empty() || hc.publish_all_ports {
        plan.warnings.push(format!(
            "Published ports are discarded when using {} network mode",
            if host { "host" } else { "none" }
        ));
    }
    if host && cfg.hostname.is_empty() {
        plan.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string());
    }
    Ok(())
}
