//! Network records: what `network create` made, daemon-wide.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{ManagerError, Result};

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
