//! A container's networking through its life, one job a file:
//! - [`plan`]: the mode checked at create, the endpoints, hostname and
//!   /etc files settled;
//! - [`prepare`]: addresses, host ports, the /etc files and link
//!   variables taken before a start's task is created;
//! - [`attach`]: veths made in its namespace before it starts;
//! - [`release`]: everything given back when the run ends;
//! - [`hosts`]: the hosts files of the containers on user-defined networks;
//! - [`connect`]: docker network connect and disconnect;
//! - [`attachments`]: what the networks service learns of containers;
//! - [`reconcile`]: the network put right after a restart.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::container::Containers;
use crate::container::{ContainerRecord, Endpoint};
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::network::files;
use crate::network::link::{mac_for, VethSpec};
use crate::network::record::NetworkRecord;

pub mod attach;
pub mod attachments;
pub mod connect;
pub mod hosts;
pub mod plan;
pub mod prepare;
pub mod reconcile;
pub mod release;

/// `--network`, parsed (the record's type).
pub use crate::container::record::NetworkMode as Mode;
pub use attachments::ContainerAttachments;
pub use plan::Planned;
pub use prepare::{Netns, Prepared};

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

/// The network namespace of a running container, for netlink work in it.
fn netns_of(rec: &ContainerRecord) -> Result<std::os::fd::OwnedFd> {
    crate::network::netns::open(rec.state.pid)
        .map_err(|e| ManagerError::io(format!("open the network namespace of {}", rec.name), e))
}

/// "NAME[:ALIAS]" → (name, alias).
pub fn parse_link(s: &str) -> Result<(String, String)> {
    let l: crate::container::record::Link = s.parse()?;
    Ok((l.name, l.alias))
}

impl Containers {
    /// A container of the namespace by name, id or id prefix.
    fn container_by_ref(&self, ns: &str, r: &str) -> Result<ContainerRecord> {
        self.lookup_container(ns, r)
    }

    /// A network by id.
    fn network_by_id(&self, id: &str) -> Result<NetworkRecord> {
        self.store()
            .get(&crate::store::schema::network_key(id))?
            .ok_or_else(|| ManagerError::NotFound(format!("network {id} not found")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        // "" and "default" are the default bridge.
        assert_eq!(Mode::parse("").network(), Some("bridge"));
        assert_eq!(Mode::parse("default").network(), Some("bridge"));
        assert_eq!(Mode::parse("host"), Mode::Host);
        assert_eq!(Mode::parse("none"), Mode::None);
        assert_eq!(Mode::parse("container:web"), Mode::Container("web".into()));
        assert_eq!(Mode::parse("mynet"), Mode::Bridge("mynet".into()));
        assert_eq!(Mode::parse("mynet").network(), Some("mynet"));
        // As given, for inspect and the record's JSON.
        for m in [
            "",
            "default",
            "bridge",
            "host",
            "none",
            "container:web",
            "mynet",
        ] {
            assert_eq!(Mode::parse(m).to_string(), m);
        }
        assert_eq!(Mode::parse("").docker_name(), "bridge");
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
}
