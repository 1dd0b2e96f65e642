pub mod endpoint;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod ports;
pub mod record;
pub mod service;
pub mod view;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::engine::Engine;
use crate::error::{ManagerError, Result};

pub use endpoint::{Mode, Netns, Prepared};
pub use record::NetworkRecord;
pub use service::{Attached, NewNetwork};
pub use view::{
    ConfigFromView, EndpointView, IpamConfigView, IpamView, LabelFilter, NetworkDetails,
    NetworkFilter, NetworkInspect, NetworkPruneFilter, NetworkTerm,
};

/// berthd's live network state (what the store cannot hold).
pub struct NetState {
    /// The host's netlink connection, made on first use (engine tests
    /// that never use a bridge never open one).
    netlink: tokio::sync::OnceCell<link::Netlink>,
    pub(crate) firewall: firewall::Firewall,
    /// Serializes firewall updates and hosts-file rewrites.
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// Host ports held for running containers, by `<ns>/<id>`.
    ports: Mutex<HashMap<String, Vec<ports::Reserved>>>,
}

impl NetState {
    pub fn new(firewall_table: &str) -> NetState {
        NetState {
            netlink: tokio::sync::OnceCell::new(),
            firewall: firewall::Firewall::new(firewall_table),
            lock: tokio::sync::Mutex::new(()),
            ports: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn hold_ports(&self, ns: &str, id: &str, held: Vec<ports::Reserved>) {
        let mut m = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(ipam::owner(ns, id)).or_default().extend(held);
    }

    pub(crate) fn drop_ports(&self, ns: &str, id: &str) {
        let mut m = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&ipam::owner(ns, id));
    }
}

impl Engine {
    /// The host's netlink connection.
    pub(crate) async fn netlink(&self) -> Result<&link::Netlink> {
        self.network_state()
            .netlink
            .get_or_try_init(|| async { Ok::<_, ManagerError>(link::Netlink::new().await?) })
            .await
    }
}
