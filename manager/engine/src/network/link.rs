//! Links, addresses and routes over rtnetlink: the bridges and the veth pairs
//! that put containers on them.
//!
//! A container's end of a veth pair is created directly inside its network
//! namespace (`IFLA_NET_NS_FD` on the peer) under its final name (`eth0`), so
//! it never exists on the host and names never clash with host links. What
//! must be set up inside (address, default route, `lo`) goes through a netlink
//! socket opened inside the namespace ([`netns::in_netns_async`]), which stays
//! bound to it; its connection is driven on the caller's runtime and closed
//! when the work is done.
//!
//! Deleting a veth costs ~25 ms in the kernel (`synchronize_net`), and the
//! kernel deletes a pair by itself when the container's namespace dies, so
//! nothing here deletes one on a hot path.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::netns;
use berth_errdefs::ErrorKind;

/// Failures of link, address and route operations; each names the interface
/// and carries the kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("entering the container's network namespace: {0}")]
    Netns(#[source] io::Error),
    /// The kernel refused a request; `source` is its errno.
    #[error("{action}: {source}")]
    Kernel {
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("link {0} not found")]
    NotFound(String),
    #[error("{name} exists and is not a bridge (it is a {kind} link)")]
    NotABridge { name: String, kind: String },
    #[error("invalid interface name {0:?}: 1 to 15 characters, no '/', ':' or whitespace")]
    InvalidName(String),
    #[error("{0}")]
    Sysctl(#[source] io::Error),
}

impl LinkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LinkError::NotFound(_) => ErrorKind::NotFound,
            LinkError::NotABridge { .. } => ErrorKind::FailedPrecondition,
            LinkError::InvalidName(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }

    /// The kernel's errno, when the kernel refused a request (EEXIST for a
    /// name already taken, ...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

type Result<T, E = LinkError> = std::result::Result<T, E>;

/// One endpoint: a veth pair between `bridge` and a container's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethSpec {
    /// The host end, e.g. "veth1a2b3c4" (the caller picks it).
    pub host_name: String,
    /// The bridge the host end is attached to.
    pub bridge: String,
    /// The container end's name inside its namespace, e.g. "eth0".
    pub ifname: String,
    /// The container end's MAC address ([`mac_for`] its address).
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Default route inside, when `Some`.
    pub gateway: Option<Ipv4Addr>,
    /// MTU of both ends; the kernel's default (1500) when `None`.
    pub mtu: Option<u32>,
}

/// An rtnetlink connection to the host's network namespace, driven by a task
/// on the runtime it was made on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the connection and spawns its task on the current tokio runtime.
    pub async fn new() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// Creates `name` as a bridge unless it exists (an existing non-bridge link
    /// is an error), fixes its MAC (`mac_for(gateway)`: stable across
    /// restarts, and a bridge with a set MAC no longer takes its ports'),
    /// adds gateway/prefix unless present (and removes other IPv4 addresses),
    /// sets it up and writes route_localnet=1 for it (published ports reached
    /// on 127.0.0.1 are routed onto the bridge).
    pub async fn ensure_bridge(&self, name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
        check_ifname(name)?;
        let mac = mac_for(gateway);
        let link = self.bridge_link(name, mac).await?;
        self.bridge_up_with_mac(name, &link, mac).await?;
        self.bridge_address(name, link.header.index, gateway, prefix)
            .await?;
        set_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1").map_err(LinkError::Sysctl)
    }

    /// Bridge `name`, made (with `mac`) unless it exists; another kind of
    /// link by that name is an error.
    async fn bridge_link(&self, name: &str, mac: [u8; 6]) -> Result<LinkMessage> {
        let link = match get_link(&self.handle, name).await? {
            Some(link) => link,
            None => {
                let msg = LinkBridge::new(name).address(mac.to_vec()).build();
                match self.handle.link().add(msg).execute().await {
                    // EEXIST: made meanwhile by someone else; checked below.
                    Err(e) if errno(&e) != Some(libc::EEXIST) => {
                        return Err(kernel(format!("creating bridge {name}"), e))
                    }
                    _ => {}
                }
                get_link(&self.handle, name)
                    .await?
                    .ok_or_else(|| LinkError::NotFound(name.to_string()))?
            }
        };
        match link_kind(&link) {
            Some(InfoKind::Bridge) => Ok(link),
            other => Err(LinkError::NotABridge {
                name: name.to_string(),
                kind: other.map_or_else(|| "plain".to_string(), |k| k.to_string()),
            }),
        }
    }

    /// Sets the bridge up with `mac`, unless it already is.
    async fn bridge_up_with_mac(&self, name: &str, link: &LinkMessage, mac: [u8; 6]) -> Result<()> {
        let up = link.header.flags.contains(LinkFlags::Up);
        let same_mac = link
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Address(m) if m[..] == mac[..]));
        if up && same_mac {
            return Ok(());
        }
        let msg = LinkUnspec::new_with_index(link.header.index)
            .address(mac.to_vec())
            .up()
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| kernel(format!("setting bridge {name} up"), e))
    }

    /// Leaves `gateway/prefix` the bridge's only IPv4 address.
    async fn bridge_address(
        &self,
        name: &str,
        index: u32,
        gateway: Ipv4Addr,
        prefix: u8,
    ) -> Result<()> {
        let mut present = false;
        for addr in ipv4_addresses(&self.handle, index).await? {
            let local = address_of(&addr);
            if local == Some(gateway) && addr.header.prefix_len == prefix {
                present = true;
                continue;
            }
            let shown = format!("{}/{}", fmt_opt(local), addr.header.prefix_len);
            match self.handle.address().del(addr).execute().await {
                // EADDRNOTAVAIL: a secondary address that went with its primary.
                Err(e) if errno(&e) != Some(libc::EADDRNOTAVAIL) => {
                    return Err(kernel(format!("removing {shown} from bridge {name}"), e))
                }
                _ => {}
            }
        }
        if present {
            return Ok(());
        }
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(gateway), prefix)
            .execute()
            .await
        {
            Err(e) if errno(&e) != Some(libc::EEXIST) => Err(kernel(
                format!("adding {gateway}/{prefix} to bridge {name}"),
                e,
            )),
            _ => Ok(()),
        }
    }

    /// Deletes link `name` (a bridge, or a veth with its peer); absent is Ok.
    /// Slow (~25 ms for a veth): keep it off hot paths.
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        check_ifname(name)?;
        delete_by_name(&self.handle, name)
            .await
            .map_err(|e| kernel(format!("deleting link {name}"), e))
    }

    pub async fn link_exists(&self, name: &str) -> Result<bool> {
        check_ifname(name)?;
        Ok(get_link(&self.handle, name).await?.is_some())
    }

    /// Names of the links attached to `bridge` (its ports); none when the
    /// bridge does not exist.
    pub async fn bridge_ports(&self, bridge: &str) -> Result<Vec<String>> {
        check_ifname(bridge)?;
        let Some(br) = get_link(&self.handle, bridge).await? else {
            return Ok(Vec::new());
        };
        let index = br.header.index;
        let mut req = self.handle.link().get();
        // The kernel filters a link dump by IFLA_MASTER.
        req.message_mut()
            .attributes
            .push(LinkAttribute::Controller(index));
        let links: Vec<LinkMessage> = req
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel(format!("listing the ports of bridge {bridge}"), e))?;
        Ok(links
            .iter()
            .filter(|l| {
                l.attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::Controller(i) if *i == index))
            })
            .filter_map(link_name)
            .collect())
    }

    /// Creates the veth pair with the peer directly in `netns` (fd of
    /// /proc/PID/ns/net), attaches and ups the host end, configures the peer
    /// inside (MAC, address, up, route) and lo up. On any failure deletes what
    /// it made. A host name already taken fails with errno EEXIST
    /// ([`LinkError::errno`]) and touches nothing.
    pub async fn attach_veth(&self, netns: BorrowedFd<'_>, spec: &VethSpec) -> Result<()> {
        check_ifname(&spec.host_name)?;
        check_ifname(&spec.ifname)?;
        check_ifname(&spec.bridge)?;
        let bridge = get_link(&self.handle, &spec.bridge)
            .await?
            .ok_or_else(|| LinkError::NotFound(spec.bridge.clone()))?;

        // One RTM_NEWLINK makes both ends: the peer is registered in the
        // container's namespace, named and addressed; the host end up and
        // enslaved (the kernel applies IFLA_MASTER after creating it).
        let mut peer = LinkUnspec::new_with_name(&spec.ifname)
            .address(spec.mac.to_vec())
            .setns_by_fd(netns.as_raw_fd());
        let mut host = LinkVeth::new(&spec.host_name, &spec.ifname)
            .controller(bridge.header.index)
            .up();
        if let Some(mtu) = spec.mtu {
            peer = peer.mtu(mtu);
            host = host.mtu(mtu);
        }
        let msg = host
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            kernel(
                format!(
                    "creating veth {} (peer {} in the container's namespace) on bridge {}",
                    spec.host_name, spec.ifname, spec.bridge
                ),
                e,
            )
        })?;

        let inside = in_container(netns, |handle| configure_inside(handle, spec)).await;
        if let Err(e) = inside {
            if let Err(del) = self.delete_link(&spec.host_name).await {
                tracing::warn!(veth = %spec.host_name, error = %del, "removing a half-made veth pair");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Deletes interface `ifname` inside `netns` (its host peer goes with
    /// it); absent is Ok. Slow (~25 ms).
    pub async fn remove_in_netns(&self, netns: BorrowedFd<'_>, ifname: &str) -> Result<()> {
        check_ifname(ifname)?;
        in_container(netns, |handle| async move {
            delete_by_name(&handle, ifname)
                .await
                .map_err(|e| kernel(format!("deleting {ifname} in the container's namespace"), e))
        })
        .await
    }

    /// IPv4 routes of the host's main table overlapping `net`, other than
    /// through the interfaces in `except`: (destination, interface name; ""
    /// for a route with no interface). Default routes are not counted. For
    /// subnet collision checks, as docker's.
    pub async fn overlapping_routes(
        &self,
        net: Ipv4Net,
        except: &[&str],
    ) -> Result<Vec<(Ipv4Net, String)>> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel("listing IPv4 routes", e))?;
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel("listing links", e))?;
        let name_of = |index: u32| {
            links
                .iter()
                .find(|l| l.header.index == index)
                .and_then(link_name)
                .unwrap_or_default()
        };
        let mut found = Vec::new();
        for route in &routes {
            if route_table(route) != u32::from(RouteHeader::RT_TABLE_MAIN) {
                continue;
            }
            let len = route.header.destination_prefix_length;
            let Some(dst) = route.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(*a),
                _ => None,
            }) else {
                continue;
            };
            let Ok(dst) = Ipv4Net::new(dst, len) else {
                continue;
            };
            if len == 0 || !(dst.contains(&net.network()) || net.contains(&dst.network())) {
                continue;
            }
            let oif = route.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                RouteAttribute::MultiPath(hops) => hops.first().map(|h| h.interface_index),
                _ => None,
            });
            let name = oif.map(name_of).unwrap_or_default();
            if except.contains(&name.as_str()) {
                continue;
            }
            found.push((dst.trunc(), name));
        }
        Ok(found)
    }
}

/// docker's MAC for an address: 02:42 and the address's four bytes, so a
/// reused address keeps its MAC and peers' ARP caches stay right.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Writes `value` to /proc/sys/`path` (`path` as "net/ipv4/ip_forward").
pub fn set_sysctl(path: &str, value: &str) -> io::Result<()> {
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl path {path:?}"),
        ));
    }
    let full = format!("/proc/sys/{path}");
    std::fs::write(&full, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value} to {full}: {e}")))
}

/// The kernel's rules for a link name (dev_valid_name): at most 15 bytes, not
/// "." or "..", no '/', ':' or whitespace.
fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(LinkError::InvalidName(name.to_string()))
    }
}

/// Runs `work` with a netlink handle on a socket opened inside `netns`, the
/// socket's connection driven here alongside and closed when `work` ends.
async fn in_container<T, F, Fut>(netns: BorrowedFd<'_>, work: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let ns = netns.try_clone_to_owned().map_err(LinkError::Netns)?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| LinkError::Socket(io::Error::other(e.to_string())))?;
    let (conn, handle, _) = netns::in_netns_async(ns, move || {
        // The socket is registered with the caller's runtime from the
        // namespace's thread; it is driven there after the thread is gone.
        let _runtime = runtime.enter();
        rtnetlink::new_connection()
    })
    .await
    .map_err(LinkError::Netns)?
    .map_err(LinkError::Socket)?;
    tokio::select! {
        result = work(handle) => result,
        () = conn => Err(LinkError::Socket(io::Error::other(
            "the netlink connection in the container's namespace closed",
        ))),
    }
}

/// The inside of an endpoint: the peer up (it cannot be created up: a veth
/// opens only once its other end exists), lo up, then the address and the
/// default route.
async fn configure_inside(handle: Handle, spec: &VethSpec) -> Result<()> {
    let ifname = &spec.ifname;
    // Independent requests, queued together on the socket: one wait, not three.
    let up = async {
        handle
            .link()
            .change(LinkUnspec::new_with_name(ifname).up().build())
            .execute()
            .await
            .map_err(|e| {
                kernel(
                    format!("setting {ifname} up in the container's namespace"),
                    e,
                )
            })
    };
    let lo_up = async {
        handle
            .link()
            .change(LinkUnspec::new_with_name("lo").up().build())
            .execute()
            .await
            .map_err(|e| kernel("setting lo up in the container's namespace", e))
    };
    let index = async {
        get_link(&handle, ifname)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| LinkError::NotFound(ifname.clone()))
    };
    let ((), (), index) = futures::try_join!(up, lo_up, index)?;
    handle
        .address()
        .add(index, IpAddr::V4(spec.address), spec.prefix)
        .execute()
        .await
        .map_err(|e| {
            kernel(
                format!(
                    "adding {}/{} to {ifname} in the container's namespace",
                    spec.address, spec.prefix
                ),
                e,
            )
        })?;
    if let Some(gateway) = spec.gateway {
        // proto boot, as `ip route add` makes it (docker's route looks so).
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .protocol(RouteProtocol::Boot)
            .output_interface(index)
            .gateway(gateway)
            .build();
        handle.route().add(route).execute().await.map_err(|e| {
            kernel(
                format!("adding the default route via {gateway} on {ifname} in the container's namespace"),
                e,
            )
        })?;
    }
    Ok(())
}

async fn get_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    match handle
        .link()
        .get()
        .match_name(name)
        .execute()
        .try_next()
        .await
    {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(kernel(format!("looking up link {name}"), e)),
    }
}

/// RTM_DELLINK by name (one round trip); ENODEV is success.
async fn delete_by_name(handle: &Handle, name: &str) -> Result<(), rtnetlink::Error> {
    let msg = LinkUnspec::new_with_name(name).build();
    match handle.link().del_with_message(msg).execute().await {
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        other => other,
    }
}

async fn ipv4_addresses(handle: &Handle, index: u32) -> Result<Vec<AddressMessage>> {
    let mut req = handle.address().get().set_link_index_filter(index);
    req.message_mut().header.family = AddressFamily::Inet;
    let addrs: Vec<AddressMessage> = req
        .execute()
        .try_collect()
        .await
        .map_err(|e| kernel(format!("listing the addresses of link {index}"), e))?;
    Ok(addrs
        .into_iter()
        .filter(|a| a.header.family == AddressFamily::Inet)
        .collect())
}

fn address_of(addr: &AddressMessage) -> Option<Ipv4Addr> {
    let pick = |want_local: bool| {
        addr.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) if want_local => Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) if !want_local => Some(*ip),
            _ => None,
        })
    };
    pick(true).or_else(|| pick(false))
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_kind(link: &LinkMessage) -> Option<InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    })
}

fn route_table(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

fn fmt_opt(ip: Option<Ipv4Addr>) -> String {
    ip.map_or_else(|| "?".to_string(), |ip| ip.to_string())
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// The kernel's answer as an io::Error ("File exists (os error 17)"), so
/// messages read as `ip`'s do and callers can match the errno.
fn kernel(action: impl Into<String>, e: rtnetlink::Error) -> LinkError {
    let source = match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    };
    LinkError::Kernel {
        action: action.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac_str(mac: [u8; 6]) -> String {
        mac.map(|b| format!("{b:02x}")).join(":")
    }

    #[test]
    fn mac_for_is_dockers() {
        assert_eq!(
            mac_for(Ipv4Addr::new(172, 17, 0, 2)),
            [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]
        );
        assert_eq!(
            mac_str(mac_for(Ipv4Addr::new(10, 77, 0, 1))),
            "02:42:0a:4d:00:01"
        );
    }

    #[test]
    fn interface_names_follow_the_kernels_rules() {
        for ok in ["eth0", "berth0", "br-0123456789ab", "veth1a2b3c4", "a"] {
            assert!(check_ifname(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef"] {
            assert!(
                matches!(check_ifname(bad), Err(LinkError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sysctl_paths_stay_under_proc_sys() {
        for bad in ["../etc/passwd", "net/../../x", "/net/ipv4", "net//x", ""] {
            let err = set_sysctl(bad, "1").expect_err(bad);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
