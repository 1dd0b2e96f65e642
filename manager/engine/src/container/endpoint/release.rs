//! When a run ends: addresses, host ports, firewall rules, veths and the
//! run's names in the peers' hosts files given back.

use tracing::{debug, warn};

use super::clear_runtime;
use crate::container::Containers;
use crate::core::OnCore;
use crate::network::ipam;

impl Containers {
    /// Gives back what a run took: addresses, host ports, firewall rules,
    /// the veths (deleted in the background: the kernel takes ~25 ms per
    /// device, and the dead namespace's teardown removes them anyway), and
    /// its names in the peers' hosts files.
    pub(crate) async fn network_release(&self, ns: &str, id: &str) {
        self.networks.state().drop_ports(ns, id);
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
            let _g = self.networks.state().lock.lock().await;
            if had_ports {
                if let Err(e) = self.networks.apply_firewall_locked().await {
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
            let Ok(nl) = engine.networks.netlink().await else {
                return;
            };
            for l in links {
                if let Err(e) = nl.delete_link(&l).await {
                    debug!(link = %l, error = %e, "delete link");
                }
            }
        });
    }
}
