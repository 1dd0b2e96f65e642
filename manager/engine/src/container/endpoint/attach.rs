//! After the task was created (its init waits in its namespaces): the
//! veths, the firewall for published ports, the hosts files of the
//! networks it joined.

use tracing::debug;

use super::veth_spec;
use crate::container::Containers;
use crate::error::{ManagerError, Result};
use crate::network::netns;

impl Containers {
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
        let fd = netns::open(pid)
            .map_err(|e| ManagerError::io(format!("open the network namespace of pid {pid}"), e))?;
        let netlink = self.networks.netlink().await?;
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
                .map_err(ManagerError::on_network(&net.name))?;
            debug!(id, network = %net.name, ip = %ep.ip, elapsed = ?started.elapsed(), "attached");
        }
        let _g = self.networks.state().lock.lock().await;
        if !rec.ports.is_empty() {
            self.networks.apply_firewall_locked().await?;
        }
        self.refresh_hosts_locked(&rec.endpoints).await;
        Ok(())
    }
}
