//! Network records: what `network create` made, daemon-wide.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use std::fmt;
use std::str::FromStr;

use super::firewall::Proto;
use crate::error::{ManagerError, Result};
use crate::serde_str::{opt_ipv4, serde_as_string};

/// The predefined networks' names.
pub const BRIDGE: &str = "bridge";
pub const HOST: &str = "host";
pub const NONE: &str = "none";

/// One network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkRecord {
    /// 64 hex.
    pub id: String,
    pub name: String,
    /// "bridge", "host" or "null" (docker's driver names).
    pub driver: String,
    /// RFC 3339.
    pub created: String,
    /// CIDR; empty for host and none.
    pub subnet: String,
    /// The bridge's address.
    pub gateway: String,
    pub internal: bool,
    /// The Linux bridge; empty for host and none.
    pub bridge: String,
    pub labels: BTreeMap<String, String>,
    /// Made by berthd (bridge, host, none): cannot be removed.
    pub predefined: bool,
}

impl NetworkRecord {
    /// Whether containers on it get a veth on a bridge.
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The default bridge network (no name resolution but links).
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.name == BRIDGE
    }

    /// A user-defined bridge network (names and aliases resolve).
    pub fn is_user_defined(&self) -> bool {
        !self.predefined
    }

    /// The subnet, parsed.
    pub fn net(&self) -> Result<Ipv4Net> {
        self.subnet.parse().map_err(|e| {
            ManagerError::Internal(format!(
                "network {}: bad subnet {:?}: {e}",
                self.name, self.subnet
            ))
        })
    }

    /// The gateway, parsed.
    pub fn gateway_ip(&self) -> Result<Ipv4Addr> {
        self.gateway.parse().map_err(|e| {
            ManagerError::Internal(format!(
                "network {}: bad gateway {:?}: {e}",
                self.name, self.gateway
            ))
        })
    }

    /// The first 12 hex of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// `--link NAME[:ALIAS]`: another container and the name it has here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub alias: String,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.alias)
    }
}

impl FromStr for Link {
    type Err = ManagerError;
    fn from_str(s: &str) -> Result<Link> {
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
        Ok(Link {
            name: name.to_string(),
            alias: alias.to_string(),
        })
    }
}

serde_as_string!(Link);

/// The container's place on one network: what was asked (kept across
/// runs) and, while it runs, what it got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub network_id: String,
    /// The network's name when the endpoint was made (display only).
    pub network_name: String,
    /// --ip: a fixed address; `None` ("" in the JSON) picks one.
    #[serde(with = "opt_ipv4")]
    pub ipv4_requested: Option<Ipv4Addr>,
    /// --network-alias / connect --alias.
    pub aliases: Vec<String>,
    /// --link on a user-defined network: more names, docker's
    /// "NAME:ALIAS" form.
    pub links: Vec<Link>,
    /// While running: the address, its prefix length, the gateway, the
    /// MAC, the interface inside, the host end of the veth, and an id.
    pub ip: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac: String,
    pub ifname: String,
    pub host_veth: String,
    pub endpoint_id: String,
}

/// A published port while the container runs: where it is on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishedPort {
    /// The address it was bound on (0.0.0.0 for every address).
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Proto,
}

impl Default for PublishedPort {
    fn default() -> Self {
        PublishedPort {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 0,
            container_port: 0,
            protocol: Proto::Tcp,
        }
    }
}

impl PublishedPort {
    /// The address to bind, `None` for every address.
    pub fn bind_ip(&self) -> Option<Ipv4Addr> {
        Some(self.host_ip).filter(|ip| !ip.is_unspecified())
    }
}
