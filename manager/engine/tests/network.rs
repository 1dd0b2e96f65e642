//! The network module against the kernel: bridges, veths, routes,
//! namespaces and nftables tables of each test's own (berth_tests::net's
//! fixtures), all removed by guards. They need root (CAP_NET_ADMIN,
//! CAP_SYS_ADMIN) and `nft`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use berth_engine::network::link::{mac_for, Netlink, VethSpec};
use berth_engine::network::netns;
use berth_tests::net::{
    rand_hex, require_net_admin, serve, tcp_fetch, test_bridge, test_subnet, LinkGuard, TestNetns,
};
use ipnet::Ipv4Net;

/// A bare namespace of the test's own, with a descriptor of it.
struct Ns {
    fd: OwnedFd,
    netns: TestNetns,
}

impl Ns {
    fn new() -> Ns {
        let netns = TestNetns::bare();
        Ns {
            fd: netns.open(),
            netns,
        }
    }
}

impl AsFd for Ns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn dup(ns: &Ns) -> OwnedFd {
    ns.fd.try_clone().expect("dup netns fd")
}

/// `ip -j ARGS` inside `ns`.
fn ip_json(ns: &Ns, args: &[&str]) -> serde_json::Value {
    ns.netns.ip_json(args)
}

/// A TCP listener inside `ns` on 0.0.0.0 that answers up to `count`
/// connections with `reply` (see [`serve`]); returns its port.
fn serve_in(ns: &Ns, reply: &'static str, count: usize) -> u16 {
    let listener = netns::in_netns(dup(ns), || TcpListener::bind("0.0.0.0:0"))
        .expect("in_netns")
        .expect("bind inside");
    serve(listener, reply, count)
}

/// [`serve_in`] for one "pong".
fn serve_pong_in(ns: &Ns) -> u16 {
    serve_in(ns, "pong", 1)
}

fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    tcp_fetch(addr, Duration::from_secs(3))
}

/// A fresh test /24 (see [`test_subnet`]).
fn subnet() -> Ipv4Net {
    let c = test_subnet();
    Ipv4Net::new(c.network(), c.prefix).expect("/24")
}

/// `nth` host address of `net` (1 = the gateway).
fn host(net: Ipv4Net, nth: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + nth)
}

/// An eth0 on `bridge` at the `nth` address of `net`, routed through the
/// first.
fn spec(bridge: &str, net: Ipv4Net, nth: u32) -> VethSpec {
    let address = host(net, nth);
    VethSpec {
        host_name: format!("veth{}", rand_hex(7)),
        bridge: bridge.to_string(),
        ifname: "eth0".to_string(),
        mac: mac_for(address),
        address,
        prefix: net.prefix_len(),
        gateway: Some(host(net, 1)),
        mtu: None,
    }
}

/// A test bridge made and up on a fresh /24 (its gateway the first
/// address): its name, the guard that deletes it, the subnet.
async fn bridge_up(nl: &Netlink) -> (String, LinkGuard, Ipv4Net) {
    let (br, guard) = test_bridge();
    let net = subnet();
    nl.ensure_bridge(&br, host(net, 1), 24)
        .await
        .expect("ensure_bridge");
    (br, guard, net)
}

mod link {
    use std::process::Command;

    use berth_engine::network::link::LinkError;
    use berth_engine::ErrorKind;
    use berth_tests::net::ip_json_ok;
    use serde_json::Value;

    use super::*;

    fn mac_str(mac: [u8; 6]) -> String {
        mac.map(|b| format!("{b:02x}")).join(":")
    }

    /// The IPv4 addresses of a link, from `ip -j addr show dev NAME`.
    fn addrs(v: &Value) -> Vec<String> {
        v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["family"] == "inet")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]))
            .collect()
    }

    fn is_up(v: &Value) -> bool {
        v[0]["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attach_veth_puts_a_namespace_on_the_bridge() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let gateway = host(net, 1);

        let shown = ip_json_ok(&["addr", "show", "dev", &br]);
        assert_eq!(addrs(&shown), [format!("{gateway}/24")]);
        assert_eq!(shown[0]["address"], mac_str(mac_for(gateway)));
        assert!(is_up(&shown), "{shown}");
        let localnet =
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"))
                .expect("route_localnet");
        assert_eq!(localnet.trim(), "1");

        let ns = Ns::new();
        let spec = spec(&br, net, 2);
        let _veth_guard = LinkGuard(spec.host_name.clone());
        nl.attach_veth(ns.as_fd(), &spec)
            .await
            .expect("attach_veth");

        assert_eq!(
            nl.bridge_ports(&br).await.expect("ports"),
            std::slice::from_ref(&spec.host_name)
        );
        let host_end = ip_json_ok(&["link", "show", "dev", &spec.host_name]);
        assert!(is_up(&host_end), "{host_end}");
        assert_eq!(host_end[0]["master"], br.as_str());

        let eth0 = ip_json(&ns, &["addr", "show", "dev", "eth0"]);
        assert_eq!(addrs(&eth0), [format!("{}/24", spec.address)]);
        assert_eq!(eth0[0]["address"], mac_str(spec.mac));
        assert!(is_up(&eth0), "{eth0}");
        assert!(
            is_up(&ip_json(&ns, &["link", "show", "dev", "lo"])),
            "lo is down"
        );
        let routes = ip_json(&ns, &["route", "show", "default"]);
        assert_eq!(routes.as_array().map(Vec::len), Some(1), "{routes}");
        assert_eq!(routes[0]["gateway"], gateway.to_string());
        assert_eq!(routes[0]["dev"], "eth0");

        // Traffic: host → container across the bridge, and the container →
        // its gateway.
        let port = serve_pong_in(&ns);
        let addr = SocketAddr::from((spec.address, port));
        let answer = tokio::task::spawn_blocking(move || fetch(addr))
            .await
            .expect("join")
            .expect("connect from the host to the container");
        assert_eq!(answer, "pong");
        let listener = std::net::TcpListener::bind((gateway, 0)).expect("bind on the gateway");
        let gw_addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = std::io::Write::write_all(&mut s, b"ping");
            }
        });
        let answer = netns::in_netns_async(dup(&ns), move || fetch(gw_addr))
            .await
            .expect("in_netns")
            .expect("connect from the container to its gateway");
        assert_eq!(answer, "ping");

        nl.remove_in_netns(ns.as_fd(), "eth0")
            .await
            .expect("remove_in_netns");
        assert!(!nl.link_exists(&spec.host_name).await.expect("exists"));
        assert!(nl.bridge_ports(&br).await.expect("ports").is_empty());
        nl.remove_in_netns(ns.as_fd(), "eth0")
            .await
            .expect("removing an absent interface is Ok");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_attach_leaves_nothing_behind() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let ns = Ns::new();

        // A gateway outside the subnet: the route is refused after the pair
        // exists, so attach_veth must delete it.
        let mut bad = spec(&br, net, 2);
        bad.gateway = Some(Ipv4Addr::new(192, 0, 2, 254));
        let _guard = LinkGuard(bad.host_name.clone());
        let err = nl
            .attach_veth(ns.as_fd(), &bad)
            .await
            .expect_err("bad gateway");
        let msg = err.to_string();
        assert!(
            msg.starts_with("adding the default route via 192.0.2.254 on eth0"),
            "{msg}"
        );
        assert_eq!(err.errno(), Some(libc::ENETUNREACH), "{msg}");
        assert!(!nl.link_exists(&bad.host_name).await.expect("exists"));
        assert!(nl.bridge_ports(&br).await.expect("ports").is_empty());
        let inside = ip_json(&ns, &["link", "show"]);
        let names: Vec<&str> = inside
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["ifname"].as_str())
            .collect();
        assert_eq!(names, ["lo"]);

        // No such bridge: nothing is made.
        let mut lost = spec(&br, net, 3);
        lost.bridge = format!("btst{}", rand_hex(6));
        let err = nl
            .attach_veth(ns.as_fd(), &lost)
            .await
            .expect_err("no bridge");
        assert!(
            matches!(err, LinkError::NotFound(ref b) if *b == lost.bridge),
            "{err}"
        );
        assert!(!nl.link_exists(&lost.host_name).await.expect("exists"));

        // A host name already taken: EEXIST, and the other link survives.
        let taken = spec(&br, net, 4);
        let _dummy = LinkGuard(taken.host_name.clone());
        let peer = format!("btst{}", rand_hex(6));
        let status = Command::new("ip")
            .args([
                "link",
                "add",
                &taken.host_name,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ])
            .status()
            .expect("ip link add");
        assert!(status.success());
        let err = nl
            .attach_veth(ns.as_fd(), &taken)
            .await
            .expect_err("name taken");
        assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
        assert!(err.to_string().contains(&taken.host_name), "{err}");
        assert!(nl.link_exists(&taken.host_name).await.expect("exists"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ensure_bridge_is_idempotent_and_repairs_the_bridge() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let gateway = host(net, 1);
        nl.ensure_bridge(&br, gateway, 24).await.expect("again");
        let shown = ip_json_ok(&["addr", "show", "dev", &br]);
        assert_eq!(addrs(&shown), [format!("{gateway}/24")]);

        // Someone changed it: another address, another MAC, down.
        let stray = format!("{}/24", host(net, 77));
        for args in [
            vec!["addr", "add", &stray, "dev", &br],
            vec!["link", "set", &br, "address", "02:00:00:00:00:01"],
            vec!["link", "set", &br, "down"],
        ] {
            assert!(Command::new("ip")
                .args(&args)
                .status()
                .expect("ip")
                .success());
        }
        nl.ensure_bridge(&br, gateway, 24).await.expect("repair");
        let shown = ip_json_ok(&["addr", "show", "dev", &br]);
        assert_eq!(addrs(&shown), [format!("{gateway}/24")]);
        assert_eq!(shown[0]["address"], mac_str(mac_for(gateway)));
        assert!(is_up(&shown), "{shown}");

        // Another subnet replaces the address.
        let net2 = subnet();
        let gateway2 = host(net2, 1);
        nl.ensure_bridge(&br, gateway2, 24)
            .await
            .expect("new subnet");
        let shown = ip_json_ok(&["addr", "show", "dev", &br]);
        assert_eq!(addrs(&shown), [format!("{gateway2}/24")]);
        assert_eq!(shown[0]["address"], mac_str(mac_for(gateway2)));

        // Not a bridge: refused, left alone.
        let dummy = format!("btst{}", rand_hex(6));
        let peer = format!("btst{}", rand_hex(6));
        let _dummy_guard = LinkGuard(dummy.clone());
        assert!(Command::new("ip")
            .args(["link", "add", &dummy, "type", "veth", "peer", "name", &peer])
            .status()
            .expect("ip")
            .success());
        let err = nl
            .ensure_bridge(&dummy, gateway, 24)
            .await
            .expect_err("a veth");
        assert!(matches!(err, LinkError::NotABridge { .. }), "{err}");
        assert!(nl.link_exists(&dummy).await.expect("exists"));
        assert_eq!(
            err.to_string(),
            format!("{dummy} exists and is not a bridge (it is a veth link)")
        );
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn links_that_do_not_exist() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let name = format!("btst{}", rand_hex(6));
        assert!(!nl.link_exists(&name).await.expect("exists"));
        nl.delete_link(&name)
            .await
            .expect("deleting an absent link is Ok");
        assert!(nl.bridge_ports(&name).await.expect("ports").is_empty());
        assert!(nl.link_exists("lo").await.expect("lo"));
        assert!(matches!(
            nl.link_exists("no/such").await,
            Err(LinkError::InvalidName(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_routes_see_the_bridge_subnet() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let ours = (net, br.clone());

        let wider = Ipv4Net::new(net.network(), 16).expect("/16").trunc();
        let inside = Ipv4Net::new(host(net, 16), 28).expect("/28");
        for probe in [net, wider, inside] {
            let found = nl.overlapping_routes(probe, &[]).await.expect("routes");
            assert!(found.contains(&ours), "{probe}: {found:?}");
            let found = nl.overlapping_routes(probe, &[&br]).await.expect("routes");
            assert!(
                !found.iter().any(|(_, dev)| *dev == br),
                "{probe}: {found:?}"
            );
        }
        let elsewhere = Ipv4Net::new(Ipv4Addr::new(10, 253, 0, 0), 24).expect("/24");
        let found = nl.overlapping_routes(elsewhere, &[]).await.expect("routes");
        assert!(!found.iter().any(|(_, dev)| *dev == br), "{found:?}");
        nl.delete_link(&br).await.expect("delete bridge");
        assert!(!nl.link_exists(&br).await.expect("exists"));
        let found = nl.overlapping_routes(net, &[]).await.expect("routes");
        assert!(!found.contains(&ours), "{found:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_attaches_on_one_bridge() {
        require_net_admin();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let endpoints: Vec<(Ns, VethSpec)> = (0..8)
            .map(|i| (Ns::new(), spec(&br, net, 10 + i)))
            .collect();
        let _guards: Vec<LinkGuard> = endpoints
            .iter()
            .map(|(_, s)| LinkGuard(s.host_name.clone()))
            .collect();
        let attaches = endpoints
            .iter()
            .map(|(ns, s)| nl.attach_veth(ns.as_fd(), s));
        for r in futures::future::join_all(attaches).await {
            r.expect("attach_veth");
        }
        let mut ports = nl.bridge_ports(&br).await.expect("ports");
        ports.sort();
        let mut want: Vec<String> = endpoints.iter().map(|(_, s)| s.host_name.clone()).collect();
        want.sort();
        assert_eq!(ports, want);
        for (ns, s) in &endpoints {
            let port = serve_pong_in(ns);
            let addr = SocketAddr::from((s.address, port));
            let answer = tokio::task::spawn_blocking(move || fetch(addr))
                .await
                .expect("join")
                .expect("connect");
            assert_eq!(answer, "pong", "{}", s.address);
        }
    }
}

mod firewall {
    use berth_engine::network::firewall::builders::{net, port};
    use berth_engine::network::firewall::{Firewall, NetworkRules, PortRule, Proto, Ruleset};
    use berth_tests::net::{nft_list_json, nft_list_text, nft_rule_counts, require_nft, TestTable};

    use super::*;

    /// A firewall on a table of the test's own, deleted with the guard.
    fn test_table() -> (Firewall, TestTable) {
        let t = TestTable::new();
        (Firewall::new(t.name()), t)
    }

    #[tokio::test]
    async fn apply_replaces_the_table_and_remove_deletes_it() {
        require_nft();
        let (fw, _guard) = test_table();
        let table = fw.table().to_string();

        let full = Ruleset {
            networks: vec![
                net("btst-fw-a", "10.251.1.0/24", false),
                net("btst-fw-b", "10.251.2.0/24", true),
            ],
            ports: vec![
                port(None, 18080, Proto::Tcp, [10, 251, 1, 2], 80),
                port(Some([127, 0, 0, 1]), 18053, Proto::Udp, [10, 251, 1, 3], 53),
            ],
        };
        fw.apply(&full).await.expect("apply");
        let listing = nft_list_json(&table).expect("the table exists");
        let want: std::collections::BTreeMap<String, usize> = [
            ("raw_prerouting", 1),
            ("prerouting", 2),
            ("output", 2),
            ("postrouting", 1 + 2 + 2),
            ("forward", 2 + 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(nft_rule_counts(&listing), want);
        let text = nft_list_text(&table);
        for needle in [
            "iifname { \"btst-fw-a\", \"btst-fw-b\" } ip daddr 127.0.0.0/8 counter packets 0 bytes 0 drop",
            "meta nfproto ipv4 fib daddr type local tcp dport 18080 dnat ip to 10.251.1.2:80",
            "ip daddr 127.0.0.1 fib daddr type local udp dport 18053 dnat ip to 10.251.1.3:53",
            "ip saddr 10.251.1.0/24 oifname != \"btst-fw-a\" masquerade",
            "oifname \"btst-fw-a\" ip saddr 127.0.0.0/8 masquerade",
            "oifname \"btst-fw-b\" ip saddr 10.251.2.0/24 ct status dnat masquerade",
            "iifname \"btst-fw-a\" oifname \"btst-fw-b\" drop",
            "iifname \"btst-fw-b\" oifname != \"btst-fw-b\" drop",
            "oifname \"btst-fw-b\" iifname != \"btst-fw-b\" drop",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(
            !text.contains("ip saddr 10.251.2.0/24 oifname"),
            "internal network masqueraded:\n{text}"
        );

        // Fewer rules: the table holds exactly them, nothing of before.
        let less = Ruleset {
            networks: vec![net("btst-fw-a", "10.251.1.0/24", false)],
            ports: vec![],
        };
        fw.apply(&less).await.expect("re-apply");
        let listing = nft_list_json(&table).expect("the table exists");
        let want: std::collections::BTreeMap<String, usize> = [
            ("raw_prerouting", 1),
            ("prerouting", 0),
            ("output", 0),
            ("postrouting", 3),
            ("forward", 0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(nft_rule_counts(&listing), want);
        let text = nft_list_text(&table);
        assert!(!text.contains("dnat ip to"), "{text}");
        // The guard follows the bridges: a single one is no set.
        assert!(
            text.contains(
                "iifname \"btst-fw-a\" ip daddr 127.0.0.0/8 counter packets 0 bytes 0 drop"
            ),
            "{text}"
        );
        assert!(!text.contains("btst-fw-b"), "{text}");

        fw.remove().await.expect("remove");
        assert!(
            nft_list_json(&table).is_none(),
            "table still there after remove"
        );
        fw.remove().await.expect("removing an absent table is Ok");
    }

    #[tokio::test]
    async fn apply_creates_a_missing_table() {
        require_nft();
        let (fw, _guard) = test_table();
        assert!(nft_list_json(fw.table()).is_none());
        fw.apply(&Ruleset::default()).await.expect("apply");
        let listing = nft_list_json(fw.table()).expect("the table exists");
        assert_eq!(nft_rule_counts(&listing).values().sum::<usize>(), 0);
        assert_eq!(nft_rule_counts(&listing).len(), 5);
    }

    #[tokio::test]
    async fn nft_errors_carry_its_message_and_change_nothing() {
        require_nft();
        let (fw, _guard) = test_table();
        fw.apply(&Ruleset {
            networks: vec![net("btst-fw-c", "10.251.3.0/24", false)],
            ports: vec![],
        })
        .await
        .expect("apply");
        let before = nft_list_text(fw.table());
        // An interface name longer than IFNAMSIZ: nft refuses the whole
        // transaction.
        let bad = Ruleset {
            networks: vec![net(
                "an-interface-name-far-too-long",
                "10.251.4.0/24",
                false,
            )],
            ports: vec![],
        };
        let err = fw.apply(&bad).await.expect_err("nft refuses");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "nft failed to replace table inet {}: ",
                fw.table()
            )),
            "{msg}"
        );
        assert!(
            msg.len() > "nft failed to replace table inet : ".len() + fw.table().len(),
            "{msg}"
        );
        assert_eq!(
            nft_list_text(fw.table()),
            before,
            "a failed apply changed the table"
        );
    }

    // --- traffic through the rules, to namespaces of our own -----------

    /// A namespace attached to `bridge` at the `nth` address of `net`.
    async fn endpoint(
        nl: &Netlink,
        bridge: &str,
        net: Ipv4Net,
        nth: u32,
    ) -> (Ns, Ipv4Addr, LinkGuard) {
        let ns = Ns::new();
        let spec = spec(bridge, net, nth);
        let address = spec.address;
        let guard = LinkGuard(spec.host_name.clone());
        nl.attach_veth(ns.as_fd(), &spec)
            .await
            .expect("attach_veth");
        (ns, address, guard)
    }

    /// Forwarding between interfaces, as berthd turns it on for any
    /// non-internal network.
    fn forwarding_on() {
        berth_engine::network::link::set_sysctl("net/ipv4/ip_forward", "1").expect("ip_forward");
    }

    async fn host_fetch(addr: SocketAddr) -> std::io::Result<String> {
        tokio::task::spawn_blocking(move || fetch(addr))
            .await
            .expect("join")
    }

    async fn fetch_from(ns: &Ns, addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
        netns::in_netns_async(dup(ns), move || tcp_fetch(addr, timeout))
            .await
            .expect("in_netns")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn published_ports_reach_the_container() {
        require_nft();
        forwarding_on();
        let nl = Netlink::new().await.expect("netlink");
        let (br, _br_guard, net) = bridge_up(&nl).await;
        let gateway = host(net, 1);
        let (ns_a, _, _ga) = endpoint(&nl, &br, net, 2).await;
        let (ns_b, ip_b, _gb) = endpoint(&nl, &br, net, 3).await;
        let port_b = serve_in(&ns_b, "pong", 4);

        // Host ports held as berthd holds them, so nothing else takes them.
        let any = std::net::TcpListener::bind("0.0.0.0:0").expect("reserve");
        let lo = std::net::TcpListener::bind("127.0.0.1:0").expect("reserve");
        let any_port = any.local_addr().expect("addr").port();
        let lo_port = lo.local_addr().expect("addr").port();

        let (fw, _table) = test_table();
        fw.apply(&Ruleset {
            networks: vec![NetworkRules {
                bridge: br.clone(),
                subnet: net,
                internal: false,
            }],
            ports: vec![
                PortRule {
                    host_ip: None,
                    host_port: any_port,
                    proto: Proto::Tcp,
                    container_ip: ip_b,
                    container_port: port_b,
                },
                PortRule {
                    host_ip: Some(Ipv4Addr::LOCALHOST),
                    host_port: lo_port,
                    proto: Proto::Tcp,
                    container_ip: ip_b,
                    container_port: port_b,
                },
            ],
        })
        .await
        .expect("apply");

        // From the host, on loopback (output dnat, route_localnet,
        // masquerade of 127.0.0.0/8) and on a host address.
        let reply = host_fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, any_port))).await;
        assert_eq!(reply.expect("127.0.0.1:port"), "pong");
        let reply = host_fetch(SocketAddr::from((gateway, any_port))).await;
        assert_eq!(reply.expect("gateway:port"), "pong");
        let reply = host_fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, lo_port))).await;
        assert_eq!(reply.expect("127.0.0.1:port bound to 127.0.0.1"), "pong");

        // From a neighbour on the same bridge through the host's address:
        // prerouting dnat, and the hairpin masquerade brings the answer back
        // the same way.
        let reply = fetch_from(
            &ns_a,
            SocketAddr::from((gateway, any_port)),
            Duration::from_secs(3),
        )
        .await;
        assert_eq!(reply.expect("hairpin"), "pong");

        // A binding to 127.0.0.1 is not published on other addresses.
        drop(lo);
        let reply = host_fetch(SocketAddr::from((gateway, lo_port))).await;
        assert!(reply.is_err(), "{reply:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn networks_cannot_reach_each_other() {
        require_nft();
        forwarding_on();
        let nl = Netlink::new().await.expect("netlink");
        let (br_a, _ga) = test_bridge();
        let (br_b, _gb) = test_bridge();
        let net_a = subnet();
        let net_b = subnet();
        nl.ensure_bridge(&br_a, host(net_a, 1), 24)
            .await
            .expect("bridge a");
        nl.ensure_bridge(&br_b, host(net_b, 1), 24)
            .await
            .expect("bridge b");
        let (ns_a, _, _ea) = endpoint(&nl, &br_a, net_a, 2).await;
        let (ns_b, ip_b, _eb) = endpoint(&nl, &br_b, net_b, 2).await;
        let port = serve_in(&ns_b, "pong", 2);
        let target = SocketAddr::from((ip_b, port));

        // Without the table the host routes between the two bridges...
        let reply = fetch_from(&ns_a, target, Duration::from_secs(3)).await;
        assert_eq!(reply.expect("routed between bridges"), "pong");

        // ...with it, they are isolated.
        let (fw, _table) = test_table();
        let networks = vec![
            NetworkRules {
                bridge: br_a.clone(),
                subnet: net_a,
                internal: false,
            },
            NetworkRules {
                bridge: br_b.clone(),
                subnet: net_b,
                internal: false,
            },
        ];
        fw.apply(&Ruleset {
            networks: networks.clone(),
            ports: vec![],
        })
        .await
        .expect("apply");
        let reply = fetch_from(&ns_a, target, Duration::from_millis(500)).await;
        assert!(reply.is_err(), "isolation let through {reply:?}");

        // Removing the table restores routing.
        fw.remove().await.expect("remove");
        let reply = fetch_from(&ns_a, target, Duration::from_secs(3)).await;
        assert_eq!(reply.expect("routed again"), "pong");
    }
}

mod namespaces {
    use super::*;

    fn inode(path: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).expect("stat").ino()
    }

    #[test]
    fn in_netns_runs_inside_the_namespace() {
        require_net_admin();
        let ns = Ns::new();
        let want = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&ns.fd)
            ))
            .expect("stat ns fd")
            .ino()
        };
        let host = inode("/proc/thread-self/ns/net");
        assert_ne!(want, host);
        let dup = ns.as_fd().try_clone_to_owned().expect("dup");
        let seen = netns::in_netns(dup, || inode("/proc/thread-self/ns/net")).expect("in_netns");
        assert_eq!(seen, want);
        // The caller's thread never moved.
        assert_eq!(inode("/proc/thread-self/ns/net"), host);
    }

    #[tokio::test]
    async fn in_netns_async_sees_only_lo() {
        require_net_admin();
        // /proc/thread-self/net shows the thread's namespace (sysfs would
        // show the one it was mounted in).
        let ns = Ns::new();
        let dev = netns::in_netns_async(dup(&ns), || {
            std::fs::read_to_string("/proc/thread-self/net/dev")
        })
        .await
        .expect("in_netns_async")
        .expect("read net/dev");
        let names: Vec<&str> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(names, ["lo"]);
    }
}
