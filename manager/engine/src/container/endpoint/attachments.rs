//! The networks service's view of the containers: read from their
//! records, so the networks never import the container model.

use std::sync::Arc;

use crate::container::{ContainerRecord, Containers};
use crate::core::{Core, OnCore};
use crate::error::Result;
use crate::network::{Attachment, Attachments};
use crate::store::schema;

/// Every container's endpoints and published ports, from the store.
pub struct ContainerAttachments {
    core: Arc<Core>,
}

impl ContainerAttachments {
    pub(crate) fn new(core: Arc<Core>) -> ContainerAttachments {
        ContainerAttachments { core }
    }
}

impl OnCore for ContainerAttachments {
    fn core(&self) -> &Core {
        &self.core
    }
}

impl Attachments for ContainerAttachments {
    fn attachments(&self) -> Result<Vec<Attachment>> {
        Ok(all_containers(self.core())?
            .into_iter()
            .map(|(namespace, c)| Attachment {
                namespace,
                running: c.state.running(),
                id: c.id,
                name: c.name,
                endpoints: c.endpoints,
                ports: c.ports,
            })
            .collect())
    }
}

/// Every container of every namespace.
pub(crate) fn all_containers(core: &Core) -> Result<Vec<(String, ContainerRecord)>> {
    let mut v = Vec::new();
    for ns in core.store().namespaces()? {
        for c in core
            .store()
            .scan::<ContainerRecord>(&schema::containers_prefix(&ns.name))?
        {
            v.push((ns.name.clone(), c));
        }
    }
    Ok(v)
}

impl Containers {
    /// Every container of every namespace.
    pub(crate) fn all_containers(&self) -> Result<Vec<(String, ContainerRecord)>> {
        all_containers(self.core())
    }
}
