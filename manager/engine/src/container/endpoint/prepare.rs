//! Before a start's task is created: addresses, host ports, the /etc
//! files and the link variables. Whatever it took is given back when it
//! fails.

use std::net::Ipv4Addr;
use std::path::Path;

use super::{fill_endpoint, first_ip, hostname_path, hosts_path, resolv_path, write_file};
use crate::container::record::{container_dir, NetworkMode};
use crate::container::Containers;
use crate::container::{ContainerRecord, HostConfig, PublishedPort};
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::network::files::{self, HostsEntry};
use crate::network::ipam;
use crate::network::ports::Proto;

const HOST_HOSTS: &str = "/etc/hosts";
const HOST_RESOLV: &str = "/etc/resolv.conf";

/// How the container's network namespace is set up in its OCI spec at a
/// start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Netns {
    /// A new one (bridge networks, none).
    New,
    /// The host's: no network namespace.
    Host,
    /// Joined by path (`container:` mode).
    Path(String),
}

/// What a start needs from the network before the task is created.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub netns: Netns,
    /// docker's link variables.
    pub env: Vec<String>,
}

/// The container's resolv.conf over `dns_base` (the host's).
fn resolv(hc: &HostConfig, dns_base: &str) -> Result<String> {
    Ok(files::resolv_conf(
        dns_base,
        &hc.dns,
        &hc.dns_search,
        &hc.dns_options,
    )?)
}

/// The --add-host lines; host-gateway needs a gateway.
fn extra_hosts(hc: &HostConfig, gateway: Option<Ipv4Addr>) -> Result<Vec<HostsEntry>> {
    hc.extra_hosts
        .iter()
        .map(|h| {
            h.entry(gateway).ok_or_else(|| {
                ManagerError::InvalidArgument("host-gateway needs a bridge network".into())
            })
        })
        .collect()
}

impl Containers {
    /// Before a start's task is created: addresses, host ports, the /etc
    /// files and the link variables. Whatever it took is given back when
    /// it fails.
    pub(crate) async fn network_prepare(
        &self,
        ns: &str,
        rec: &ContainerRecord,
    ) -> Result<Prepared> {
        match self.network_prepare_inner(ns, rec).await {
            Ok(p) => Ok(p),
            Err(e) => {
                self.network_release(ns, &rec.id).await;
                Err(e)
            }
        }
    }

    async fn network_prepare_inner(&self, ns: &str, rec: &ContainerRecord) -> Result<Prepared> {
        let dir = container_dir(self.config(), ns, &rec.id);
        let host_resolv = std::fs::read_to_string(HOST_RESOLV).unwrap_or_default();
        match &rec.host_config.network_mode {
            NetworkMode::Container(other) => self.prepare_joined(ns, other),
            NetworkMode::Host => prepare_host(rec, &dir, host_resolv),
            NetworkMode::None => prepare_none(rec, &dir, &host_resolv),
            NetworkMode::Bridge(_) => self.prepare_bridge(ns, rec, &dir, &host_resolv).await,
        }
    }

    /// `container:` mode: the other container's namespace, which must run.
    fn prepare_joined(&self, ns: &str, other: &str) -> Result<Prepared> {
        let target = self.container_by_ref(ns, other)?;
        if !target.state.running() || target.state.pid == 0 {
            return Err(ManagerError::FailedPrecondition(format!(
                "cannot join network of a non running container: {}",
                target.name
            )));
        }
        Ok(Prepared {
            netns: Netns::Path(format!("/proc/{}/ns/net", target.state.pid)),
            env: Vec::new(),
        })
    }

    /// Bridge networks: an address on each, the link variables, the host
    /// ports, then the /etc files.
    async fn prepare_bridge(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        dir: &Path,
        host_resolv: &str,
    ) -> Result<Prepared> {
        let hc = &rec.host_config;
        let first_gateway = self.allocate_endpoints(ns, rec)?;
        let env = self.link_env(ns, rec)?;
        // Checked before anything is written.
        extra_hosts(hc, first_gateway)?;
        self.reserve_ports(ns, rec).await?;
        write_file(&hostname_path(dir), &format!("{}\n", rec.hostname))?;
        write_file(&resolv_path(dir), &resolv(hc, host_resolv)?)?;
        let all = self.all_containers()?;
        if let Some((_, me)) = all.iter().find(|(n, c)| n == ns && c.id == rec.id) {
            self.write_hosts(ns, me, &all, &self.user_network_ids()?)?;
        }
        Ok(Prepared {
            netns: Netns::New,
            env,
        })
    }

    /// Allocates each endpoint's address (saved at once, so a failure
    /// later gives it back); the first network's gateway.
    fn allocate_endpoints(&self, ns: &str, rec: &ContainerRecord) -> Result<Option<Ipv4Addr>> {
        let owner = ipam::owner(ns, &rec.id);
        let mut endpoints = rec.endpoints.clone();
        let mut first_gateway = None;
        for (i, ep) in endpoints.iter_mut().enumerate() {
            let net = self.network_by_id(&ep.network_id).map_err(|_| {
                ManagerError::NotFound(format!(
                    "network {} not found: it was removed; disconnect the container from it",
                    if ep.network_name.is_empty() {
                        &ep.network_id
                    } else {
                        &ep.network_name
                    }
                ))
            })?;
            let ip = ipam::allocate(self.store(), &net, &owner, ep.ipv4_requested)?;
            fill_endpoint(ep, &net, ip, i)?;
            if first_gateway.is_none() {
                first_gateway = Some(net.gateway_ip()?);
            }
            let saved = ep.clone();
            self.update_container(ns, &rec.id, |r| {
                if let Some(e) = r
                    .endpoints
                    .iter_mut()
                    .find(|e| e.network_id == saved.network_id)
                {
                    *e = saved;
                }
                Ok(())
            })?;
        }
        Ok(first_gateway)
    }

    /// docker's link variables; the targets must run on the default
    /// bridge.
    fn link_env(&self, ns: &str, rec: &ContainerRecord) -> Result<Vec<String>> {
        let mut env = Vec::new();
        for l in &rec.host_config.links {
            let t = self.container_by_ref(ns, &l.name).map_err(|_| {
                ManagerError::InvalidArgument(format!("could not get container for {}", l.name))
            })?;
            let Some(tip) = t.state.running().then(|| first_ip(&t)).flatten() else {
                return Err(ManagerError::FailedPrecondition(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    t.name, rec.name, l.alias
                )));
            };
            let exposed: Vec<(u16, Proto)> = t
                .config
                .exposed_ports
                .iter()
                .map(|p| (p.port, p.proto))
                .collect();
            env.extend(files::link_env(
                &l.alias,
                &rec.name,
                tip,
                &exposed,
                &t.config.env,
            ));
        }
        Ok(env)
    }

    /// Binds the host ports of -p and -P and records where they are.
    async fn reserve_ports(&self, ns: &str, rec: &ContainerRecord) -> Result<()> {
        let hc = &rec.host_config;
        let mut wanted: Vec<(Option<Ipv4Addr>, u16, u16, Proto)> = hc
            .port_bindings
            .iter()
            .map(|b| (b.host_ip, b.host_port, b.container_port, b.protocol))
            .collect();
        if hc.publish_all_ports {
            for p in &rec.config.exposed_ports {
                if !wanted.iter().any(|w| w.2 == p.port && w.3 == p.proto) {
                    wanted.push((None, 0, p.port, p.proto));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut held = Vec::new();
        let mut published = Vec::new();
        for (ip, host_port, container_port, proto) in wanted {
            let r = crate::network::ports::reserve(ip, host_port, proto).map_err(|source| {
                ManagerError::PublishPort {
                    endpoint: rec.name.clone(),
                    id: rec.id.clone(),
                    source,
                }
            })?;
            published.push(PublishedPort {
                host_ip: ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                host_port: r.host_port,
                container_port,
                protocol: proto,
            });
            held.push(r);
        }
        self.networks.state().hold_ports(ns, &rec.id, held);
        self.update_container(ns, &rec.id, |r| {
            r.ports = published;
            Ok(())
        })?;
        Ok(())
    }
}

/// Host mode: the host's hosts file (plus --add-host) and resolv.conf
/// (unless --dns options change it).
fn prepare_host(rec: &ContainerRecord, dir: &Path, host_resolv: String) -> Result<Prepared> {
    let hc = &rec.host_config;
    let mut hosts = std::fs::read_to_string(HOST_HOSTS).unwrap_or_default();
    for e in extra_hosts(hc, None)? {
        hosts.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    write_file(&hosts_path(dir), &hosts)?;
    write_file(&hostname_path(dir), &format!("{}\n", rec.hostname))?;
    let resolv = if hc.dns.is_empty() && hc.dns_search.is_empty() && hc.dns_options.is_empty() {
        host_resolv
    } else {
        resolv(hc, &host_resolv)?
    };
    write_file(&resolv_path(dir), &resolv)?;
    Ok(Prepared {
        netns: Netns::Host,
        env: Vec::new(),
    })
}

/// None mode: a new namespace with only loopback; berthd's /etc files.
fn prepare_none(rec: &ContainerRecord, dir: &Path, host_resolv: &str) -> Result<Prepared> {
    let hc = &rec.host_config;
    write_file(
        &hosts_path(dir),
        &files::hosts_file(&extra_hosts(hc, None)?),
    )?;
    write_file(&hostname_path(dir), &format!("{}\n", rec.hostname))?;
    write_file(&resolv_path(dir), &resolv(hc, host_resolv)?)?;
    Ok(Prepared {
        netns: Netns::New,
        env: Vec::new(),
    })
}
