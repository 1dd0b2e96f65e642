//! The networks service: networks, their bridges, addresses and the
//! firewall table, and the live state the store cannot hold. Containers
//! sit above it: what it must know of them (their endpoints and published
//! ports) it asks through [`Attachments`], which the containers service
//! gives it.

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
use std::sync::{Arc, Mutex};

use crate::core::{Core, OnCore};
use crate::error::{ManagerError, Result};

pub use record::{Endpoint, Link, NetworkRecord, PublishedPort};
pub use service::NewNetwork;
pub use view::{
    Attached, ConfigFromView, EndpointView, IpamConfigView, IpamView, LabelFilter, NetworkDetails,
    NetworkFilter, NetworkInspect, NetworkPruneFilter, NetworkTerm,
};

/// A container as the networks see it: where it is connected and which
/// host ports it holds.
#[derive(Clone, Debug, Default)]
pub struct Attachment {
    pub namespace: String,
    pub id: String,
    pub name: String,
    pub running: bool,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PublishedPort>,
}

/// What the networks service asks of the containers above it.
pub trait Attachments: Send + Sync {
    /// Every container of every namespace, running or not.
    fn attachments(&self) -> Result<Vec<Attachment>>;
}

/// The networks service, cheap to clone.
#[derive(Clone)]
pub struct Networks {
    core: Arc<Core>,
    state: Arc<NetState>,
    attachments: Arc<dyn Attachments>,
}

impl OnCore for Networks {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Networks {
    pub(crate) fn new(core: Arc<Core>, attachments: Arc<dyn Attachments>) -> Networks {
        let state = Arc::new(NetState::new(&core.config().firewall_table));
        Networks {
            core,
            state,
            attachments,
        }
    }

    /// The live state: the firewall, the lock, the held host ports.
    pub(crate) fn state(&self) -> &NetState {
        &self.state
    }

    /// Every container's attachment, as the containers service says.
    pub(crate) fn attachments(&self) -> Result<Vec<Attachment>> {
        self.attachments.attachments()
    }

    /// The host's netlink connection.
    pub(crate) async fn netlink(&self) -> Result<&link::Netlink> {
        self.state
            .netlink
            .get_or_try_init(|| async { Ok::<_, ManagerError>(link::Netlink::new().await?) })
            .await
    }
}

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
