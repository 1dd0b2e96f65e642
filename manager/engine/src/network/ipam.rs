//! Address allocation: one store key per address in use
//! (`v1/ipam/<network>/<ip>` = `<ns>/<container id>`), taken with an atomic
//! insert, so two starts never get one address and a berthd restart never
//! hands one out twice. The network and broadcast addresses and the gateway
//! are never given out.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::record::NetworkRecord;
use crate::error::{ManagerError, Result};
use crate::store::{schema, Store};

/// Takes an address on `net` for `owner`: `requested` when given (an error
/// when it is outside the subnet, the gateway, or taken), else the lowest
/// free one.
pub fn allocate(
    store: &Store,
    net: &NetworkRecord,
    owner: &str,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let subnet = net.net()?;
    let gateway = net.gateway_ip()?;
    if let Some(ip) = requested {
        if !usable(&subnet, gateway, ip) {
            return Err(ManagerError::InvalidArgument(format!(
                "no configured subnet contains IP address {ip}: network {} is {subnet} (gateway {gateway})",
                net.name
            )));
        }
        if store.insert_new(&schema::ipam_key(&net.id, ip), &owner)? {
            return Ok(ip);
        }
        let holder: Option<String> = store.get(&schema::ipam_key(&net.id, ip))?;
        if holder.as_deref() == Some(owner) {
            return Ok(ip);
        }
        return Err(ManagerError::FailedPrecondition(format!(
            "Address already in use: {ip} on network {}",
            net.name
        )));
    }
    // Candidates in order; a lost race for one moves on to the next.
    let taken: Vec<u32> = store
        .keys(&schema::ipam_prefix(&net.id))?
        .iter()
        .filter_map(|k| u32::from_str_radix(k, 16).ok())
        .collect();
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast()).saturating_sub(1);
    let mut taken = taken.into_iter().peekable();
    let mut n = first;
    while n <= last {
        while taken.peek().is_some_and(|t| *t < n) {
            taken.next();
        }
        let ip = Ipv4Addr::from(n);
        if taken.peek() != Some(&n)
            && ip != gateway
            && store.insert_new(&schema::ipam_key(&net.id, ip), &owner)?
        {
            return Ok(ip);
        }
        n += 1;
    }
    Err(ManagerError::FailedPrecondition(format!(
        "no available IPv4 addresses on network {} ({subnet})",
        net.name
    )))
}

/// Whether `ip` may be given to a container on `subnet`.
fn usable(subnet: &Ipv4Net, gateway: Ipv4Addr, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast() && ip != gateway
}

/// Gives `ip` back, if `owner` holds it.
pub fn release(store: &Store, network_id: &str, ip: Ipv4Addr, owner: &str) -> Result<()> {
    store.remove_if(&schema::ipam_key(network_id, ip), &owner)?;
    Ok(())
}

/// Every allocation: (network id, address, owner).
pub fn all(store: &Store) -> Result<Vec<(String, Ipv4Addr, String)>> {
    Ok(store
        .scan_keyed::<String>(schema::IPAM_PREFIX)?
        .into_iter()
        .filter_map(|(k, owner)| {
            let (net, hex) = k.split_once('/')?;
            let ip = Ipv4Addr::from(u32::from_str_radix(hex, 16).ok()?);
            Some((net.to_string(), ip, owner))
        })
        .collect())
}

/// The owner string of a container's allocations.
pub fn owner(ns: &str, id: &str) -> String {
    format!("{ns}/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkRecord {
        NetworkRecord {
            id: "n1".into(),
            name: "t".into(),
            driver: "bridge".into(),
            subnet: "10.9.0.0/29".into(),
            gateway: "10.9.0.1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn allocates_lowest_free_skipping_gateway_and_never_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let n = net();
        let a = allocate(&store, &n, "ns/a", None).unwrap();
        let b = allocate(&store, &n, "ns/b", None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(b, Ipv4Addr::new(10, 9, 0, 3));
        release(&store, "n1", a, "ns/other").unwrap();
        assert_eq!(
            allocate(&store, &n, "ns/c", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 4),
            "a release by someone else frees nothing"
        );
        release(&store, "n1", a, "ns/a").unwrap();
        assert_eq!(allocate(&store, &n, "ns/d", None).unwrap(), a);
        // .5 and .6 are left; .7 is the broadcast address.
        allocate(&store, &n, "ns/e", None).unwrap();
        allocate(&store, &n, "ns/f", None).unwrap();
        let e = allocate(&store, &n, "ns/g", None).unwrap_err();
        assert!(e.to_string().contains("no available IPv4 addresses"), "{e}");
        assert_eq!(all(&store).unwrap().len(), 5);
    }

    #[test]
    fn requested_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let n = net();
        let ip = Ipv4Addr::new(10, 9, 0, 5);
        assert_eq!(allocate(&store, &n, "ns/a", Some(ip)).unwrap(), ip);
        assert_eq!(allocate(&store, &n, "ns/a", Some(ip)).unwrap(), ip);
        let e = allocate(&store, &n, "ns/b", Some(ip)).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        for bad in ["10.9.0.1", "10.9.0.0", "10.9.0.7", "10.9.1.2"] {
            let e = allocate(&store, &n, "ns/b", Some(bad.parse().unwrap())).unwrap_err();
            assert!(e.to_string().contains("no configured subnet"), "{bad}: {e}");
        }
    }
}
