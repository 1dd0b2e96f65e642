//! A container's networking through its life: the mode checked at create,
//! addresses, ports and files taken before its task is created, veths
//! made in its namespace before it starts, and everything given back when
//! the run ends.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use super::files::{self, HostsEntry};
use super::link::{mac_for, VethSpec};
use super::ports::Proto;
use super::record::{NetworkRecord, BRIDGE, HOST, NONE};
use super::{ipam, netns};
use crate::container::record::container_dir;
use crate::container::{ContainerConfig, ContainerRecord, Endpoint, HostConfig, PublishedPort};
use crate::engine::Engine;
use crate::error::{ManagerError, Result};

/// `--network`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The default bridge or a user-defined network (by name or id).
    Bridge(String),
    Host,
    None,
    /// Another container's network namespace.
    Container(String),
}

impl Mode {
    pub fn parse(s: &str) -> Mode {
        match s {
            "" | "default" | BRIDGE => Mode::Bridge(BRIDGE.into()),
            HOST => Mode::Host,
            NONE => Mode::None,
            s => match s.strip_prefix("container:") {
                Some(c) => Mode::Container(c.to_string()),
                None => Mode::Bridge(s.to_string()),
            },
        }
    }
}

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

/// The files berthd keeps for a container's /etc.
pub fn hosts_path(dir: &Path) -> PathBuf {
    dir.join("hosts")
}
pub fn hostname_path(dir: &Path) -> PathBuf {
    dir.join("hostname")
}
pub fn resolv_path(dir: &Path) -> PathBuf {
    dir.join("resolv.conf")
}

const HOST_HOSTS: &str = "/etc/hosts";
const HOST_RESOLV: &str = "/etc/resolv.conf";

fn conflict(what: &str) -> ManagerError {
    ManagerError::InvalidArgument(format!("conflicting options: {what}"))
}

/// The exposed ports: the image's, the user's and every -p container port,
/// normalized, sorted as docker sorts them, without repeats.
pub fn exposed_ports(
    image: &[String],
    cfg: &ContainerConfig,
    hc: &HostConfig,
) -> Result<Vec<String>> {
    let mut set = BTreeSet::new();
    for p in image.iter().chain(cfg.exposed_ports.iter()) {
        set.insert(
            files::parse_port_proto(p).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?,
        );
    }
    for b in &hc.port_bindings {
        let proto: Proto = b.protocol.parse().map_err(|_| {
            ManagerError::InvalidArgument(format!("invalid protocol {:?}", b.protocol))
        })?;
        set.insert((b.container_port, proto));
    }
    Ok(set
        .into_iter()
        .map(|(p, proto)| format!("{p}/{}", proto.as_str()))
        .collect())
}

/// "NAME[:ALIAS]" → (name, alias).
pub fn parse_link(s: &str) -> Result<(String, String)> {
    let (name, alias) = match s.split_once(':') {
        Some((n, a)) => (n, a),
        None => (s, s),
    };
    let name = name.trim_start_matches('/');
    let alias = alias.trim_start_matches('/');
    if name.is_empty()
        || alias.is_empty()
        || alias.contains('/')
        || alias.contains(char::is_whitespace)
    {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid link {s:?}: expected NAME[:ALIAS]"
        )));
    }
    Ok((name.to_string(), alias.to_string()))
}

impl Engine {
    /// Checks the network options at create and settles the endpoints,
    /// the hostname and the /etc files' mounts.
    pub(crate) fn plan_network(
        &self,
        ns: &str,
        id: &str,
        cfg: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Planned> {
        let mut plan = Planned::default();
        for b in &hc.port_bindings {
            if b.container_port == 0 {
                return Err(ManagerError::InvalidArgument(
                    "invalid container port 0".into(),
                ));
            }
            if !b.host_ip.is_empty() && b.host_ip.parse::<Ipv4Addr>().is_err() {
                return Err(ManagerError::InvalidArgument(format!(
                    "invalid host IP {:?} in a port binding: berth publishes on IPv4 addresses",
                    b.host_ip
                )));
            }
            b.protocol.parse::<Proto>().map_err(|_| {
                ManagerError::InvalidArgument(format!("invalid protocol {:?}", b.protocol))
            })?;
        }
        for h in &hc.extra_hosts {
            files::parse_extra_host(h).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        }
        // resolv.conf's options are checked now, not at the first start.
        files::resolv_conf("", &hc.dns, &hc.dns_search, &hc.dns_options)
            .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        let publishes = !hc.port_bindings.is_empty() || hc.publish_all_ports;
        let dir = container_dir(self.config(), ns, id);
        let own_files = |plan: &mut Planned| {
            plan.files.push((hosts_path(&dir), "/etc/hosts".into()));
            plan.files
                .push((hostname_path(&dir), "/etc/hostname".into()));
            plan.files
                .push((resolv_path(&dir), "/etc/resolv.conf".into()));
        };
        match Mode::parse(&hc.network_mode) {
            Mode::Host | Mode::None => {
                if !hc.links.is_empty() {
                    return Err(conflict("links are supported on bridge networks only"));
                }
                if !hc.ipv4_address.is_empty() || !hc.network_aliases.is_empty() {
                    return Err(ManagerError::InvalidArgument(
                        "user specified IP address and network-scoped aliases are supported on user defined networks only".into(),
                    ));
                }
                if publishes {
                    plan.warnings.push(format!(
                        "Published ports are discarded when using {} network mode",
                        if hc.network_mode == HOST {
                            "host"
                        } else {
                            "none"
                        }
                    ));
                }
                if hc.network_mode == HOST && cfg.hostname.is_empty() {
                    plan.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .ok()
                        .map(|h| h.trim().to_string());
                }
                own_files(&mut plan);
            }
            Mode::Container(other) => {
                if publishes {
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
                let target = self.container_by_ref(ns, &other)?;
                if target.id == id {
                    return Err(ManagerError::InvalidArgument(
                        "cannot join own network namespace".into(),
                    ));
                }
                plan.hostname = Some(target.hostname.clone());
                let tdir = container_dir(self.config(), ns, &target.id);
                plan.files.push((hosts_path(&tdir), "/etc/hosts".into()));
                plan.files
                    .push((hostname_path(&tdir), "/etc/hostname".into()));
                plan.files
                    .push((resolv_path(&tdir), "/etc/resolv.conf".into()));
            }
            Mode::Bridge(name) => {
                let net = self.find_network(&name)?;
                if !net.is_bridge() {
                    return Err(ManagerError::InvalidArgument(format!(
                        "network {} cannot be used this way",
                        net.name
                    )));
                }
                if net.is_default_bridge() {
                    if !hc.ipv4_address.is_empty() {
                        return Err(ManagerError::InvalidArgument(
                            "user specified IP address is supported on user defined networks only"
                                .into(),
                        ));
                    }
                    if !hc.network_aliases.is_empty() {
                        return Err(ManagerError::InvalidArgument(
                            "network-scoped alias is supported only for containers in user defined networks".into(),
                        ));
                    }
                }
                if !hc.ipv4_address.is_empty() {
                    let ip: Ipv4Addr = hc.ipv4_address.parse().map_err(|_| {
                        ManagerError::InvalidArgument(format!(
                            "invalid IPv4 address {:?}",
                            hc.ipv4_address
                        ))
                    })?;
                    if !net.net()?.contains(&ip) {
                        return Err(ManagerError::InvalidArgument(format!(
                            "no configured subnet contains IP address {ip}: network {} is {}",
                            net.name, net.subnet
                        )));
                    }
                }
                let mut links = Vec::new();
                for l in &hc.links {
                    let (target, alias) = parse_link(l)?;
                    self.container_by_ref(ns, &target).map_err(|_| {
                        ManagerError::InvalidArgument(format!(
                            "could not get container for {target}"
                        ))
                    })?;
                    links.push(format!("{target}:{alias}"));
                }
                plan.endpoints.push(Endpoint {
                    network_id: net.id.clone(),
                    network_name: net.name.clone(),
                    ipv4_requested: hc.ipv4_address.clone(),
                    aliases: hc.network_aliases.clone(),
                    links: if net.is_default_bridge() {
                        Vec::new()
                    } else {
                        links
                    },
                    ..Default::default()
                });
                own_files(&mut plan);
            }
        }
        Ok(plan)
    }

    /// A container of the namespace by name, id or id prefix.
    fn container_by_ref(&self, ns: &str, r: &str) -> Result<ContainerRecord> {
        self.lookup_container(ns, r)
    }

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
        let hc = &rec.host_config;
        let dir = container_dir(self.config(), ns, &rec.id);
        let resolv = |dns_base: &str| {
            files::resolv_conf(dns_base, &hc.dns, &hc.dns_search, &hc.dns_options)
                .map_err(|e| ManagerError::InvalidArgument(e.to_string()))
        };
        let host_resolv = std::fs::read_to_string(HOST_RESOLV).unwrap_or_default();
        let extra = |gateway: Option<Ipv4Addr>| -> Result<Vec<HostsEntry>> {
            hc.extra_hosts
                .iter()
                .map(|h| {
                    let mut e = files::parse_extra_host(h)
                        .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
                    if e.ip == "host-gateway" {
                        e.ip = gateway
                            .ok_or_else(|| {
                                ManagerError::InvalidArgument(
                                    "host-gateway needs a bridge network".into(),
                                )
                            })?
                            .to_string();
                    }
                    Ok(e)
                })
                .collect()
        };
        match Mode::parse(&hc.network_mode) {
            Mode::Container(other) => {
                let target = self.container_by_ref(ns, &other)?;
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
            Mode::Host => {
                let mut hosts = std::fs::read_to_string(HOST_HOSTS).unwrap_or_default();
                for e in extra(None)? {
                    hosts.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
                }
                write_file(&hosts_path(&dir), &hosts)?;
                write_file(&hostname_path(&dir), &format!("{}\n", rec.hostname))?;
                let resolv =
                    if hc.dns.is_empty() && hc.dns_search.is_empty() && hc.dns_options.is_empty() {
                        host_resolv
                    } else {
                        resolv(&host_resolv)?
                    };
                write_file(&resolv_path(&dir), &resolv)?;
                Ok(Prepared {
                    netns: Netns::Host,
                    env: Vec::new(),
                })
            }
            Mode::None => {
                write_file(&hosts_path(&dir), &files::hosts_file(&extra(None)?))?;
                write_file(&hostname_path(&dir), &format!("{}\n", rec.hostname))?;
                write_file(&resolv_path(&dir), &resolv(&host_resolv)?)?;
                Ok(Prepared {
                    netns: Netns::New,
                    env: Vec::new(),
                })
            }
            Mode::Bridge(_) => {
                let owner = ipam::owner(ns, &rec.id);
                let mut endpoints = rec.endpoints.clone();
                let mut first_gateway = None;
                for (i, ep) in endpoints.iter_mut().enumerate() {
                    let net = self.network_by_id(&ep.network_id).map_err(|_| {
                        ManagerError::NotFound(format!(
                            "network {} not found: it was removed; disconnect the container from it",
                            if ep.network_name.is_empty() { &ep.network_id } else { &ep.network_name }
                        ))
                    })?;
                    let requested = if ep.ipv4_requested.is_empty() {
                        None
                    } else {
                        Some(ep.ipv4_requested.parse::<Ipv4Addr>().map_err(|_| {
                            ManagerError::InvalidArgument(format!(
                                "invalid IPv4 address {:?}",
                                ep.ipv4_requested
                            ))
                        })?)
                    };
                    let ip = ipam::allocate(self.store(), &net, &owner, requested)?;
                    fill_endpoint(ep, &net, ip, i)?;
                    if first_gateway.is_none() {
                        first_gateway = Some(net.gateway_ip()?);
                    }
                    // Saved at once, so a failure below gives it back.
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
                // Links: the targets must run on the default bridge.
                let mut env = Vec::new();
                for l in &hc.links {
                    let (target, alias) = parse_link(l)?;
                    let t = self.container_by_ref(ns, &target).map_err(|_| {
                        ManagerError::InvalidArgument(format!(
                            "could not get container for {target}"
                        ))
                    })?;
                    let Some(tip) = t.state.running().then(|| first_ip(&t)).flatten() else {
                        return Err(ManagerError::FailedPrecondition(format!(
                            "Cannot link to a non running container: /{} AS /{}/{alias}",
                            t.name, rec.name
                        )));
                    };
                    let exposed: Vec<(u16, Proto)> = t
                        .config
                        .exposed_ports
                        .iter()
                        .filter_map(|p| files::parse_port_proto(p).ok())
                        .collect();
                    env.extend(files::link_env(
                        &alias,
                        &rec.name,
                        tip,
                        &exposed,
                        &t.config.env,
                    ));
                }
                // Checked before anything is written.
                extra(first_gateway)?;
                self.reserve_ports(ns, rec).await?;
                write_file(&hostname_path(&dir), &format!("{}\n", rec.hostname))?;
                write_file(&resolv_path(&dir), &resolv(&host_resolv)?)?;
                let all = self.all_containers()?;
                if let Some((_, me)) = all.iter().find(|(n, c)| n == ns && c.id == rec.id) {
                    self.write_hosts(ns, me, &all, &self.user_network_ids()?)?;
                }
                Ok(Prepared {
                    netns: Netns::New,
                    env,
                })
            }
        }
    }

    /// A network by id.
    fn network_by_id(&self, id: &str) -> Result<NetworkRecord> {
        self.store()
            .get(&crate::store::schema::network_key(id))?
            .ok_or_else(|| ManagerError::NotFound(format!("network {id} not found")))
    }

    /// Binds the host ports of -p and -P and records where they are.
    async fn reserve_ports(&self, ns: &str, rec: &ContainerRecord) -> Result<()> {
        let hc = &rec.host_config;
        let mut wanted: Vec<(Option<Ipv4Addr>, u16, u16, Proto)> = Vec::new();
        for b in &hc.port_bindings {
            let ip = b.host_ip.parse::<Ipv4Addr>().ok();
            let proto: Proto = b.protocol.parse().unwrap_or(Proto::Tcp);
            wanted.push((ip, b.host_port, b.container_port, proto));
        }
        if hc.publish_all_ports {
            for p in &rec.config.exposed_ports {
                let Ok((port, proto)) = files::parse_port_proto(p) else {
                    continue;
                };
                if !wanted.iter().any(|w| w.2 == port && w.3 == proto) {
                    wanted.push((None, 0, port, proto));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut held = Vec::new();
        let mut published = Vec::new();
        for (ip, host_port, container_port, proto) in wanted {
            let r = super::ports::reserve(ip, host_port, proto).map_err(|e| {
                ManagerError::FailedPrecondition(format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    rec.name, rec.id
                ))
            })?;
            published.push(PublishedPort {
                host_ip: ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                host_port: r.host_port,
                container_port,
                protocol: proto.as_str().to_string(),
            });
            held.push(r);
        }
        self.network_state().hold_ports(ns, &rec.id, held);
        self.update_container(ns, &rec.id, |r| {
            r.ports = published;
            Ok(())
        })?;
        Ok(())
    }

    /// After the task was created (its init waits in its namespaces): the
    /// veths, the firewall for published ports, the hosts files of the
    /// networks it joined.
    pub(crate) async fn network_attach(&self, ns: &str, id: &str, pid: u32) -> Result<()> {
        let rec = self
            .container_record(ns, id)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {id}")))?;
        if rec.endpoints.iter().all(|e| e.ip.is_empty()) {
            return Ok(());
        }
        let fd = netns::open(pid).map_err(|e| {
            ManagerError::Internal(format!("open the network namespace of pid {pid}: {e}"))
        })?;
        let netlink = self.netlink().await?;
        let mut route = true;
        for ep in rec.endpoints.iter().filter(|e| !e.ip.is_empty()) {
            let net = self.network_by_id(&ep.network_id)?;
            let spec = veth_spec(ep, &net, route && !net.internal)?;
            if !net.internal {
                route = false;
            }
            let started = std::time::Instant::now();
            netlink
                .attach_veth(std::os::fd::AsFd::as_fd(&fd), &spec)
                .await
                .map_err(|e| ManagerError::Internal(format!("network {}: {e}", net.name)))?;
            debug!(id, network = %net.name, ip = %ep.ip, elapsed = ?started.elapsed(), "attached");
        }
        let _g = self.network_state().lock.lock().await;
        if !rec.ports.is_empty() {
            self.apply_firewall_locked().await?;
        }
        self.refresh_hosts_locked(&rec.endpoints).await;
        Ok(())
    }

    /// Gives back what a run took: addresses, host ports, firewall rules,
    /// the veths (deleted in the background: the kernel takes ~25 ms per
    /// device, and the dead namespace's teardown removes them anyway), and
    /// its names in the peers' hosts files.
    pub(crate) async fn network_release(&self, ns: &str, id: &str) {
        self.network_state().drop_ports(ns, id);
        // Most teardowns (none, host, a container that never started) have
        // nothing to give back: no record rewrite for them.
        let held = self
            .container_record(ns, id)
            .ok()
            .flatten()
            .is_some_and(|r| !r.ports.is_empty() || r.endpoints.iter().any(|e| !e.ip.is_empty()));
        if !held {
            return;
        }
        let owner = ipam::owner(ns, id);
        let mut old = Vec::new();
        let mut had_ports = false;
        let _ = self.update_container(ns, id, |r| {
            old = r.endpoints.clone();
            had_ports = !r.ports.is_empty();
            r.ports.clear();
            for e in &mut r.endpoints {
                clear_runtime(e);
            }
            Ok(())
        });
        for e in old.iter().filter(|e| !e.ip.is_empty()) {
            if let Ok(ip) = e.ip.parse() {
                if let Err(err) = ipam::release(self.store(), &e.network_id, ip, &owner) {
                    warn!(id, error = %err, "cannot release address {ip}");
                }
            }
        }
        let veths: Vec<String> = old
            .iter()
            .map(|e| e.host_veth.clone())
            .filter(|v| !v.is_empty())
            .collect();
        if !veths.is_empty() {
            self.delete_links_later(veths);
        }
        if had_ports || old.iter().any(|e| !e.ip.is_empty()) {
            let _g = self.network_state().lock.lock().await;
            if had_ports {
                if let Err(e) = self.apply_firewall_locked().await {
                    warn!(id, error = %e, "cannot update the firewall");
                }
            }
            self.refresh_hosts_locked(&old).await;
        }
    }

    /// Deletes host links on a background task.
    pub(crate) fn delete_links_later(&self, links: Vec<String>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let Ok(nl) = engine.netlink().await else {
                return;
            };
            for l in links {
                if let Err(e) = nl.delete_link(&l).await {
                    debug!(link = %l, error = %e, "delete link");
                }
            }
        });
    }

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
    fn user_network_ids(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .networks()?
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
        let find = |r: &str| peers.iter().copied().find(|p| p.name == r || p.id == r);
        // docker's order: --add-host lines, links, the container's own
        // address, then (berth's) the peers on user-defined networks.
        let mut entries = Vec::new();
        let gateway = c
            .endpoints
            .iter()
            .find(|e| !e.ip.is_empty())
            .and_then(|e| e.gateway.parse().ok());
        for h in &c.host_config.extra_hosts {
            if let Ok(mut e) = files::parse_extra_host(h) {
                if e.ip == "host-gateway" {
                    let Some(g) = gateway else { continue };
                    e.ip = Ipv4Addr::to_string(&g);
                }
                entries.push(e);
            }
        }
        for l in &c.host_config.links {
            let Ok((target, alias)) = parse_link(l) else {
                continue;
            };
            if let Some((t, ip)) = find(&target).and_then(|t| Some((t, first_ip(t)?))) {
                let mut names = vec![alias.clone()];
                if t.name != alias {
                    names.push(t.name.clone());
                }
                names.push(t.short_id().to_string());
                entries.push(HostsEntry {
                    ip: ip.to_string(),
                    names,
                });
            }
        }
        if let Some(ep) = c.endpoints.iter().find(|e| !e.ip.is_empty()) {
            let mut names = Vec::new();
            if !c.config.domainname.is_empty() {
                names.push(format!("{}.{}", c.hostname, c.config.domainname));
            }
            names.push(c.hostname.clone());
            entries.push(HostsEntry {
                ip: ep.ip.clone(),
                names,
            });
        }
        for e in c
            .endpoints
            .iter()
            .filter(|e| !e.ip.is_empty() && user.contains(&e.network_id))
        {
            for p in &peers {
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
                let Some((target, alias)) = l.split_once(':') else {
                    continue;
                };
                if let Some(pe) = find(target).and_then(|p| {
                    p.endpoints
                        .iter()
                        .find(|pe| pe.network_id == e.network_id && !pe.ip.is_empty())
                }) {
                    entries.push(HostsEntry {
                        ip: pe.ip.clone(),
                        names: vec![alias.to_string()],
                    });
                }
            }
        }
        let path = hosts_path(&container_dir(self.config(), ns, &c.id));
        write_file(&path, &files::hosts_file(&entries))
    }
}

/// A container's first address.
fn first_ip(c: &ContainerRecord) -> Option<Ipv4Addr> {
    c.endpoints.iter().find_map(|e| e.ip.parse().ok())
}

/// Fills an endpoint's run-time fields for address `ip` as interface
/// number `index`.
fn fill_endpoint(ep: &mut Endpoint, net: &NetworkRecord, ip: Ipv4Addr, index: usize) -> Result<()> {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    let eid = hex::encode(b);
    ep.network_name = net.name.clone();
    ep.ip = ip.to_string();
    ep.prefix = net.net()?.prefix_len();
    ep.gateway = net.gateway.clone();
    ep.mac = format_mac(&mac_for(ip));
    ep.ifname = format!("eth{index}");
    ep.host_veth = format!("veth{}", &eid[..7]);
    ep.endpoint_id = eid;
    Ok(())
}

/// Clears what only a run has.
pub(crate) fn clear_runtime(e: &mut Endpoint) {
    e.ip.clear();
    e.prefix = 0;
    e.gateway.clear();
    e.mac.clear();
    e.ifname.clear();
    e.host_veth.clear();
    e.endpoint_id.clear();
}

pub(crate) fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn veth_spec(
    ep: &Endpoint,
    net: &NetworkRecord,
    default_route: bool,
) -> Result<VethSpec> {
    let address: Ipv4Addr = ep
        .ip
        .parse()
        .map_err(|_| ManagerError::Internal(format!("bad endpoint address {:?}", ep.ip)))?;
    Ok(VethSpec {
        host_name: ep.host_veth.clone(),
        bridge: net.bridge.clone(),
        ifname: ep.ifname.clone(),
        mac: mac_for(address),
        address,
        prefix: ep.prefix,
        gateway: if default_route {
            Some(net.gateway_ip()?)
        } else {
            None
        },
        mtu: None,
    })
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    files::write_in_place(path, contents)
        .map_err(|e| ManagerError::io(format!("write {}", path.display()), e))
}

impl Engine {
    /// docker network connect: a running container gets a new interface at
    /// once; a stopped one at its next start.
    pub async fn connect_network(
        &self,
        ns: &str,
        network: &str,
        container: &str,
        ipv4: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        let net = self.find_network(network)?;
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
        if !net.is_bridge() {
            return Err(ManagerError::FailedPrecondition(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if !matches!(Mode::parse(&rec.host_config.network_mode), Mode::Bridge(_)) {
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
        let requested = if ipv4.is_empty() {
            None
        } else {
            let ip: Ipv4Addr = ipv4.parse().map_err(|_| {
                ManagerError::InvalidArgument(format!("invalid IPv4 address {ipv4:?}"))
            })?;
            if !net.net()?.contains(&ip) {
                return Err(ManagerError::InvalidArgument(format!(
                    "no configured subnet contains IP address {ip}: network {} is {}",
                    net.name, net.subnet
                )));
            }
            Some(ip)
        };
        let mut ep = Endpoint {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            ipv4_requested: ipv4.to_string(),
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
        let used: BTreeSet<&str> = rec.endpoints.iter().map(|e| e.ifname.as_str()).collect();
        let index = (0..)
            .find(|i| !used.contains(format!("eth{i}").as_str()))
            .unwrap_or(0);
        let attached = async {
            fill_endpoint(&mut ep, &net, ip, index)?;
            let has_route = rec.endpoints.iter().any(|e| {
                !e.ip.is_empty() && self.network_by_id(&e.network_id).is_ok_and(|n| !n.internal)
            });
            let spec = veth_spec(&ep, &net, !has_route && !net.internal)?;
            let fd = netns::open(rec.state.pid).map_err(|e| {
                ManagerError::Internal(format!("open the network namespace of {}: {e}", rec.name))
            })?;
            self.netlink()
                .await?
                .attach_veth(std::os::fd::AsFd::as_fd(&fd), &spec)
                .await
                .map_err(|e| ManagerError::Internal(format!("network {}: {e}", net.name)))
        };
        if let Err(e) = attached.await {
            let _ = ipam::release(self.store(), &net.id, ip, &owner);
            return Err(e);
        }
        let saved = ep.clone();
        self.update_container(ns, id, |r| {
            r.endpoints.push(saved);
            Ok(())
        })?;
        let _g = self.network_state().lock.lock().await;
        self.refresh_hosts_locked(&[ep]).await;
        Ok(())
    }

    /// docker network disconnect.
    pub async fn disconnect_network(
        &self,
        ns: &str,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let net = self.find_network(network)?;
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
            let removed = async {
                let fd = netns::open(rec.state.pid).map_err(|e| {
                    ManagerError::Internal(format!(
                        "open the network namespace of {}: {e}",
                        rec.name
                    ))
                })?;
                self.netlink()
                    .await?
                    .remove_in_netns(std::os::fd::AsFd::as_fd(&fd), &ep.ifname)
                    .await
                    .map_err(|e| ManagerError::Internal(format!("network {}: {e}", net.name)))
            };
            if let Err(e) = removed.await {
                if !force {
                    return Err(e);
                }
                warn!(id, error = %e, "disconnect: cannot remove the interface");
            }
            if let Ok(ip) = ep.ip.parse() {
                ipam::release(self.store(), &net.id, ip, &ipam::owner(ns, id))?;
            }
        }
        let updated = self.update_container(ns, id, |r| {
            r.endpoints.retain(|e| e.network_id != net.id);
            Ok(())
        })?;
        let _g = self.network_state().lock.lock().await;
        if !updated.ports.is_empty() {
            self.apply_firewall_locked().await?;
        }
        self.refresh_hosts_locked(&[ep]).await;
        // Its own file loses that network's names too.
        if updated.state.running() {
            let all = self.all_containers()?;
            self.write_hosts(ns, &updated, &all, &self.user_network_ids()?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(""), Mode::Bridge("bridge".into()));
        assert_eq!(Mode::parse("default"), Mode::Bridge("bridge".into()));
        assert_eq!(Mode::parse("host"), Mode::Host);
        assert_eq!(Mode::parse("none"), Mode::None);
        assert_eq!(Mode::parse("container:web"), Mode::Container("web".into()));
        assert_eq!(Mode::parse("mynet"), Mode::Bridge("mynet".into()));
    }

    #[test]
    fn links() {
        assert_eq!(parse_link("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(
            parse_link("/db:/data").unwrap(),
            ("db".into(), "data".into())
        );
        assert!(parse_link(":x").is_err());
        assert!(parse_link("x:").is_err());
        assert!(parse_link("x:a b").is_err());
    }

    #[test]
    fn exposed_ports_merge_and_sort() {
        let cfg = ContainerConfig {
            exposed_ports: vec!["53/udp".into(), "8080".into()],
            ..Default::default()
        };
        let hc = HostConfig {
            port_bindings: vec![crate::container::PortBinding {
                container_port: 80,
                protocol: "tcp".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = exposed_ports(&["80/tcp".into(), "443/tcp".into()], &cfg, &hc).unwrap();
        assert_eq!(v, ["53/udp", "80/tcp", "443/tcp", "8080/tcp"]);
    }
}
