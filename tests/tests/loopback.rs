//! The host's loopback is out of the containers' reach (issue 13; the
//! CVE-2020-8558 class). berthd sets route_localnet=1 on its bridges, so
//! that connections to ports published on 127.0.0.1 can be DNATed onto them;
//! that also makes the kernel accept a frame a neighbour on a bridge sends
//! to the bridge's MAC with IPv4 destination 127.0.0.1, and hand it to what
//! the host binds to loopback only. The daemon's table drops those in its
//! `raw_prerouting` chain (manager/src/network/firewall.rs).
//!
//! The test plays the neighbour with raw packets: network namespaces of its
//! own on the daemon's bridges (the default one and a user network's), and
//! from inside them an AF_PACKET socket sending forged Ethernet frames with
//! UDP to 127.0.0.1:PORT, where the test listens on 127.0.0.1 only. Traffic
//! goes only to 127.0.0.1 and to those namespaces.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::net::{
    host_links, link_mac, netns_path, nft_rules, udp_frame, Cidr, NetnsVeth, TestNetns,
};
use berth_tests::{output_ok, require_tool, Daemon};
use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType};
use serde_json::Value;

/// The chain of the daemon's table that holds the guard.
const CHAIN: &str = "raw_prerouting";

/// How long a datagram that got through would take, at most, to show up.
const WAIT: Duration = Duration::from_secs(2);

/// Frames per send: one lost frame must not make a control pass or fail.
const FRAMES: u64 = 3;

/// The guard rule as nft lists it: its handle, the input interfaces it
/// covers, the packets its counter saw.
#[derive(Debug)]
struct Guard {
    handle: u64,
    bridges: Vec<String>,
    packets: u64,
}

/// The rule of `inet TABLE raw_prerouting` that drops 127.0.0.0/8, if any.
fn guard(table: &str) -> Option<Guard> {
    let out = Command::new("nft")
        .args(["-j", "list", "chain", "inet", table, CHAIN])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run nft: {e} (apt-get install nftables)"));
    assert!(
        out.status.success(),
        "nft list chain inet {table} {CHAIN}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("nft's json");
    let rules = v["nftables"].as_array().expect("nftables array");
    rules.iter().filter_map(|o| o.get("rule")).find_map(|r| {
        let expr = r["expr"].as_array()?;
        let loopback = expr.iter().any(|e| {
            let m = &e["match"];
            m["left"]["payload"]["field"] == "daddr"
                && m["right"]["prefix"]["addr"] == "127.0.0.0"
                && m["right"]["prefix"]["len"] == 8
        });
        if !loopback || !expr.iter().any(|e| e.get("drop").is_some()) {
            return None;
        }
        let mut bridges: Vec<String> = expr
            .iter()
            .filter(|e| e["match"]["left"]["meta"]["key"] == "iifname")
            .flat_map(|e| match &e["match"]["right"] {
                Value::String(s) => vec![s.clone()],
                Value::Object(o) => o["set"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect();
        bridges.sort();
        let packets = expr.iter().find_map(|e| e["counter"]["packets"].as_u64())?;
        Some(Guard {
            handle: r["handle"].as_u64()?,
            bridges,
            packets,
        })
    })
}

/// The guard, which must be there.
fn must_guard(table: &str) -> Guard {
    guard(table).unwrap_or_else(|| {
        panic!(
            "no 127.0.0.0/8 drop rule in inet {table} {CHAIN}:\n{:#?}",
            nft_rules(table)
        )
    })
}

/// A forging neighbour: a namespace of the test's own on a bridge, and an
/// AF_PACKET socket on its eth0. Fields drop in order: the socket first
/// (it holds the namespace alive), then the pair, then the namespace.
struct Neighbour {
    sock: OwnedFd,
    veth: NetnsVeth,
    ns: TestNetns,
    bridge: String,
    bridge_mac: [u8; 6],
}

impl Neighbour {
    /// On `bridge` at the 250th address of `subnet`: the daemon hands
    /// addresses out from the bottom and runs no container here, so it is
    /// nobody's.
    fn attach(bridge: &str, subnet: Cidr) -> Neighbour {
        let ns = TestNetns::create();
        let veth = NetnsVeth::attach(&ns, bridge, subnet.host(250), subnet.prefix);
        let sock = packet_socket_in(&ns, &veth.ifname);
        Neighbour {
            sock,
            veth,
            ns,
            bridge: bridge.to_string(),
            bridge_mac: link_mac(bridge),
        }
    }

    /// Where the forged datagrams come from.
    fn source(&self) -> SocketAddr {
        SocketAddr::from((self.veth.address, 40000))
    }

    /// Sends FRAMES datagrams to `target` as frames to the bridge's MAC;
    /// their payloads, to recognise them by.
    fn forge(&self, target: SocketAddr, tag: &str) -> Vec<Vec<u8>> {
        (0..FRAMES)
            .map(|i| {
                let payload = format!("berth-loopback-probe {tag} {i}").into_bytes();
                let frame = udp_frame(
                    self.bridge_mac,
                    self.veth.mac,
                    self.source(),
                    target,
                    &payload,
                );
                let sent = nix::sys::socket::send(self.sock.as_raw_fd(), &frame, MsgFlags::empty())
                    .unwrap_or_else(|e| panic!("send a frame on eth0 of {}: {e}", self.ns.name()));
                assert_eq!(sent, frame.len(), "short send");
                payload
            })
            .collect()
    }
}

/// An AF_PACKET socket bound to `ifname` of `ns`. Made on a thread of its
/// own that setns(2)s into `ns`: a socket stays in the namespace it was
/// made in, and the test's other threads keep the host's.
fn packet_socket_in(ns: &TestNetns, ifname: &str) -> OwnedFd {
    let path = ns.path();
    let ifname = ifname.to_string();
    let made = std::thread::spawn(move || -> Result<OwnedFd, String> {
        let f = std::fs::File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        nix::sched::setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns: {e}"))?;
        let index = nix::net::if_::if_nametoindex(ifname.as_str())
            .map_err(|e| format!("if_nametoindex({ifname}): {e}"))?;
        // Protocol 0: the socket only sends, it is given no frame to read.
        let fd = nix::sys::socket::socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| format!("socket(AF_PACKET): {e}"))?;
        let addr = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: 0,
            sll_ifindex: i32::try_from(index).map_err(|e| e.to_string())?,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: `fd` is an open socket owned by this function; `addr` is
        // a fully initialised sockaddr_ll that lives across the call, and
        // the length passed is exactly its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!(
                "bind AF_PACKET to {ifname}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(fd)
    })
    .join()
    .expect("the setns thread panicked");
    made.unwrap_or_else(|e| panic!("packet socket in netns {}: {e}", ns.name()))
}

/// Every datagram `server` gets within WAIT: (payload, sender).
fn received(server: &UdpSocket) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        server.set_read_timeout(Some(left)).expect("read timeout");
        match server.recv_from(&mut buf) {
            Ok((n, from)) => got.push((buf[..n].to_vec(), from)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return got
            }
            Err(e) => panic!("recv on 127.0.0.1: {e}"),
        }
    }
}

/// Forges FRAMES datagrams from `n` to `target` and asserts none reaches
/// `server` and the guard's counter took exactly them: they got to the
/// host and this rule, not something else, dropped them.
fn assert_dropped(n: &Neighbour, table: &str, server: &UdpSocket, target: SocketAddr) {
    let before = must_guard(table).packets;
    n.forge(target, &n.bridge);
    let got = received(server);
    assert!(
        got.is_empty(),
        "forged frames from a neighbour on {} reached {target}: {got:?}",
        n.bridge
    );
    let after = must_guard(table).packets;
    assert_eq!(
        after - before,
        FRAMES,
        "the guard should have dropped the {FRAMES} frames from {} (counter {before} → {after})",
        n.bridge
    );
}

#[test]
fn neighbours_on_a_bridge_cannot_reach_the_hosts_loopback() {
    require_tool("ip", "iproute2");
    require_tool("nft", "nftables");
    let d = Daemon::start();
    let table = d.firewall_table();
    d.ok(&["network", "create", "lonet"]);
    let net = d.network_inspect("lonet");
    let user_bridge = net["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .expect("bridge name")
        .to_string();
    let user_subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .and_then(Cidr::parse)
        .expect("subnet");

    // One rule for every bridge of the daemon, the default one and the
    // user network's.
    let mut both = vec![d.bridge(), user_bridge.clone()];
    both.sort();
    assert_eq!(must_guard(&table).bridges, both);

    let server = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let target = server.local_addr().expect("local addr");
    let default = Neighbour::attach(&d.bridge(), d.subnet());
    let user = Neighbour::attach(&user_bridge, user_subnet);
    let made: Vec<(String, String)> = [&default, &user]
        .iter()
        .map(|n| (n.veth.host.clone(), n.ns.name().to_string()))
        .collect();
    for n in [&default, &user] {
        assert_dropped(n, &table, &server, target);
    }

    // The control: without the guard the same frames do reach 127.0.0.1
    // on this kernel (route_localnet lets them past the martian check), so
    // the silence above is the rule's doing and the test can fail.
    let g = must_guard(&table);
    output_ok(Command::new("nft").args([
        "delete",
        "rule",
        "inet",
        &table,
        CHAIN,
        "handle",
        &g.handle.to_string(),
    ]));
    assert!(guard(&table).is_none(), "the guard is still there");
    let sent = default.forge(target, "unguarded");
    let got = received(&server);
    for payload in &sent {
        assert!(
            got.iter()
                .any(|(p, from)| p == payload && *from == default.source()),
            "without the guard, {:?} from {} did not reach {target}: got {got:?}",
            String::from_utf8_lossy(payload),
            default.source()
        );
    }

    // berthd rebuilds its table whole: the next change (the user network
    // going) brings the guard back, now for the default bridge alone.
    drop(user);
    d.ok(&["network", "rm", "lonet"]);
    assert_eq!(must_guard(&table).bridges, [d.bridge()]);
    assert_dropped(&default, &table, &server, target);

    drop(default);
    // Nothing of the test's own network plumbing is left.
    let links = host_links();
    for (veth, ns) in &made {
        assert!(!links.contains(veth), "veth {veth} left");
        assert!(!netns_path(ns).exists(), "netns {ns} left");
    }
    d.assert_no_containers_left();
}
