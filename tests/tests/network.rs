//! Networking end to end: the default bridge (addresses, routes, MACs),
//! user networks (names and aliases resolve, other networks are out of
//! reach, --internal has no way out, --ip), published ports (-p with and
//! without a host address or port, -P with EXPOSE, udp, a host port in use,
//! `berth port`, ps PORTS), --network none|host|container:NAME, --link, the
//! generated /etc/hosts, /etc/hostname and /etc/resolv.conf, the `network`
//! verbs, berthd killed and restarted, and 100 containers that must leave no
//! veth, rule or address behind.
//!
//! Each test has its own berthd with its own network slot (bridge
//! bte<N>, subnet 10.201.<N>.0/24, pool, nftables table: see
//! berth_tests::net). Traffic goes only to 127.0.0.1 and to the test's own
//! containers.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use berth_tests::fixture::busybox_image;
use berth_tests::net::{
    bridge_ports, free_tcp_port, free_udp_port, host_links, http_get, link_ipv4, nft_dnat_rules,
    udp_echo_image, udp_roundtrip, wait_http_get, Cidr,
};
use berth_tests::{check_fail, run, run_sh, wait_for_within, Daemon};
use serde_json::json;

/// docker's /etc/hosts before the container's own lines.
const HOSTS_HEADER: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// How long a test waits for a veth to go or a server in a container to
/// come up.
const NET_WAIT: Duration = Duration::from_secs(10);

/// `berth exec CONTAINER sh -c SCRIPT`: (exit code, stdout, stderr).
fn sh(d: &Daemon, container: &str, script: &str) -> (i32, String, String) {
    run(d, &["exec", container, "sh", "-c", script])
}

/// `berth exec CONTAINER sh -c SCRIPT`, which must succeed; its stdout.
fn sh_ok(d: &Daemon, container: &str, script: &str) -> String {
    let (code, out, err) = sh(d, container, script);
    assert_eq!(code, 0, "exec {container} {script:?}: {out}{err}");
    out
}

/// The container's address on `net` ("bridge" for the default network).
fn ip_on(d: &Daemon, container: &str, net: &str) -> Ipv4Addr {
    let c = d.inspect(container);
    let ip = &c["NetworkSettings"]["Networks"][net]["IPAddress"];
    ip.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        panic!(
            "{container} has no address on {net}: {}",
            c["NetworkSettings"]
        )
    })
}

/// A network's subnet and gateway from `network inspect`.
fn subnet_of(d: &Daemon, net: &str) -> (Cidr, Ipv4Addr) {
    let n = d.network_inspect(net);
    let cfg = &n["IPAM"]["Config"][0];
    let subnet = cfg["Subnet"]
        .as_str()
        .and_then(Cidr::parse)
        .unwrap_or_else(|| panic!("no subnet: {n}"));
    let gateway = cfg["Gateway"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no gateway: {n}"));
    (subnet, gateway)
}

/// The Linux bridge of a network.
fn bridge_of(d: &Daemon, net: &str) -> String {
    let n = d.network_inspect(net);
    n["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or_else(|| panic!("no bridge name: {n}"))
        .to_string()
}

/// The command line of a busybox httpd serving `text` as /index.html on
/// port 80 in the foreground.
fn httpd(text: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"),
    ]
}

/// Runs a detached httpd container serving `text`, named `name`, with
/// `extra` flags before the image.
fn run_httpd(d: &Daemon, name: &str, extra: &[&str], text: &str) -> String {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra);
    args.push("busybox");
    let cmd = httpd(text);
    args.extend(cmd.iter().map(String::as_str));
    d.run_d(&args)
}

/// A detached `sleep 1000` container named `name` with `extra` flags.
fn run_sleeper(d: &Daemon, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra);
    args.extend(["busybox", "sleep", "1000"]);
    d.run_d(&args)
}

/// Fetches `url` from inside `container` with busybox wget, retrying for up
/// to 5 s while the server comes up; (exit code, body).
fn wget_in(d: &Daemon, container: &str, url: &str) -> (i32, String) {
    let script = format!(
        "for i in $(seq 25); do timeout 2 wget -qO- {url} && exit 0; sleep 0.2; done; exit 1"
    );
    let (code, out, _) = sh(d, container, &script);
    (code, out)
}

/// One ping from `container` to `target` (a name or an address), waiting at
/// most `wait` seconds for the answer; (success, output).
fn ping(d: &Daemon, container: &str, target: &str, wait: u32) -> (bool, String) {
    let (code, out, err) = run(
        d,
        &[
            "exec",
            container,
            "ping",
            "-c",
            "1",
            "-W",
            &wait.to_string(),
            target,
        ],
    );
    (code == 0, format!("{out}{err}"))
}

/// Asserts `container` reaches `target`, and that the name resolved to
/// `expect` when given.
fn assert_ping(d: &Daemon, container: &str, target: &str, expect: Option<Ipv4Addr>) {
    let (ok, out) = ping(d, container, target, 2);
    assert!(ok, "{container} cannot ping {target}: {out}");
    if let Some(ip) = expect {
        assert!(
            out.contains(&format!("PING {target} ({ip})")),
            "{target} did not resolve to {ip}: {out}"
        );
    }
}

/// Asserts `container` does not reach `target` (1 s for the answer).
fn assert_no_ping(d: &Daemon, container: &str, target: &str) {
    let (ok, out) = ping(d, container, target, 1);
    assert!(!ok, "{container} reaches {target}, it must not: {out}");
}

/// Asserts `container` cannot resolve `name`.
fn assert_unresolved(d: &Daemon, container: &str, name: &str) {
    let (ok, out) = ping(d, container, name, 1);
    assert!(
        !ok && out.contains("bad address"),
        "{container} resolves {name}, it must not: {out}"
    );
}

/// The interface names of `ip -o link` output ("eth0@if12" → "eth0").
fn link_names(ip_o_link: &str) -> Vec<String> {
    ip_o_link
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The interfaces inside a running container.
fn links_in(d: &Daemon, container: &str) -> Vec<String> {
    link_names(&sh_ok(d, container, "ip -o link"))
}

/// The IPv4 address/prefix of `dev` inside a running container.
fn addr_in(d: &Daemon, container: &str, dev: &str) -> Vec<String> {
    sh_ok(d, container, &format!("ip -o -4 addr show {dev}"))
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.position(|x| x == "inet")?;
            w.next().map(str::to_string)
        })
        .collect()
}

/// docker's MAC for an address: 02:42 then its four bytes.
fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `berth port CONTAINER [PORT]`'s lines.
fn port_lines(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut all = vec!["port"];
    all.extend_from_slice(args);
    d.ok(&all).lines().map(str::to_string).collect()
}

/// The PORTS column of `ps` for one container.
fn ps_ports(d: &Daemon, name: &str) -> String {
    let out = d.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Ports}}",
    ]);
    out.trim_end_matches('\n').to_string()
}

/// The dnat rules of the daemon's table that name host port `port`.
fn dnat_rules_for(d: &Daemon, port: u16) -> Vec<String> {
    nft_dnat_rules(&d.firewall_table())
        .into_iter()
        .filter(|r| r.contains(&format!("dport {port} ")))
        .collect()
}

#[test]
fn default_bridge_addresses_routes_and_reach() {
    let d = Daemon::with_busybox();
    // The default bridge network is the slot's bridge and subnet.
    let (subnet, gateway) = subnet_of(&d, "bridge");
    assert_eq!((subnet, gateway), (d.subnet(), d.gateway()));
    assert_eq!(bridge_of(&d, "bridge"), d.bridge());

    run_sleeper(&d, "alpha", &[]);
    run_httpd(&d, "web", &[], "hello-bridge");
    let alpha = ip_on(&d, "alpha", "bridge");
    let web = ip_on(&d, "web", "bridge");
    assert_ne!(alpha, web);
    for ip in [alpha, web] {
        assert!(d.subnet().contains(ip), "{ip} not in {}", d.subnet());
        assert!(ip != d.gateway() && ip != d.subnet().network() && ip != d.subnet().host(255));
    }
    assert_eq!(link_ipv4(&d.bridge()), [format!("{}/24", d.gateway())]);

    // What inspect says is what the container has.
    let ns = &d.inspect("alpha")["NetworkSettings"];
    assert_eq!(ns["IPAddress"], alpha.to_string(), "{ns}");
    assert_eq!(ns["IPPrefixLen"], 24, "{ns}");
    assert_eq!(ns["Gateway"], d.gateway().to_string(), "{ns}");
    assert_eq!(ns["MacAddress"], mac_for(alpha), "{ns}");
    let ep = &ns["Networks"]["bridge"];
    assert_eq!(ep["IPAddress"], alpha.to_string(), "{ns}");
    assert_eq!(ep["Gateway"], d.gateway().to_string(), "{ns}");
    assert_eq!(ep["MacAddress"], mac_for(alpha), "{ns}");
    assert_eq!(ep["IPPrefixLen"], 24, "{ns}");

    assert_eq!(links_in(&d, "alpha"), ["lo", "eth0"]);
    assert_eq!(addr_in(&d, "alpha", "eth0"), [format!("{alpha}/24")]);
    assert_eq!(
        sh_ok(&d, "alpha", "cat /sys/class/net/eth0/address").trim(),
        mac_for(alpha)
    );
    let routes = sh_ok(&d, "alpha", "ip route");
    assert!(
        routes
            .lines()
            .any(|l| l.trim() == format!("default via {} dev eth0", d.gateway())),
        "{routes}"
    );
    assert!(
        sh_ok(&d, "alpha", "ip -o link show lo").contains("UP"),
        "lo is down"
    );

    // One veth per container on the bridge, named veth<7 hex>.
    let ports = bridge_ports(&d.bridge());
    assert_eq!(ports.len(), 2, "{ports:?}");
    for p in &ports {
        assert!(
            p.len() == 11 && p.starts_with("veth") && p[4..].chars().all(|c| c.is_ascii_hexdigit()),
            "{p}"
        );
    }

    // Containers reach each other and the gateway by address; the default
    // bridge resolves no names (docker's: only --link does).
    assert_ping(&d, "alpha", &web.to_string(), None);
    assert_ping(&d, "alpha", &d.gateway().to_string(), None);
    assert_eq!(
        wget_in(&d, "alpha", &format!("http://{web}/index.html")),
        (0, "hello-bridge\n".to_string())
    );
    assert_unresolved(&d, "alpha", "web");
    // The host reaches a container by its address.
    assert_eq!(
        wait_http_get(SocketAddr::from((web, 80)), "/index.html"),
        "hello-bridge\n"
    );
    // Containers without published ports never touch the firewall's dnat.
    assert!(nft_dnat_rules(&d.firewall_table()).is_empty());

    // A stopped container has no address; started again it gets one back.
    d.ok(&["stop", "-t", "0", "alpha"]);
    let ns = &d.inspect("alpha")["NetworkSettings"];
    assert_eq!(ns["IPAddress"], "", "{ns}");
    wait_for_within("alpha's veth to go", NET_WAIT, || {
        bridge_ports(&d.bridge()).len() == 1
    });
    d.ok(&["start", "alpha"]);
    let again = ip_on(&d, "alpha", "bridge");
    assert!(d.subnet().contains(again) && again != web);
    assert_ping(&d, "alpha", &web.to_string(), None);

    d.ok(&["rm", "-f", "alpha", "web"]);
    d.assert_no_containers_left();
}

#[test]
fn user_network_names_and_aliases() {
    let d = Daemon::with_busybox();
    d.ok(&["network", "create", "front"]);
    run_httpd(
        &d,
        "web",
        &["--network", "front", "--network-alias", "www"],
        "hello-front",
    );
    d.run_d(&[
        "--name",
        "talk",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        "echo hi-from-talk | nc -l -p 7000",
    ]);
    run_sleeper(&d, "client", &["--network", "front"]);
    let web = ip_on(&d, "web", "front");
    let talk = ip_on(&d, "talk", "front");
    let (subnet, _) = subnet_of(&d, "front");
    assert!(subnet.contains(web) && subnet.contains(talk));
    let aliases = &d.inspect("web")["NetworkSettings"]["Networks"]["front"]["Aliases"];
    assert!(
        aliases
            .as_array()
            .is_some_and(|a| a.contains(&json!("www"))),
        "{aliases}"
    );

    // By name and by alias: ping, wget, nc.
    assert_ping(&d, "client", "web", Some(web));
    assert_ping(&d, "client", "www", Some(web));
    assert_eq!(
        wget_in(&d, "client", "http://web/index.html"),
        (0, "hello-front\n".to_string())
    );
    assert_eq!(
        wget_in(&d, "client", "http://www/index.html"),
        (0, "hello-front\n".to_string())
    );
    let got = sh_ok(
        &d,
        "client",
        "for i in $(seq 25); do nc talk 7000 </dev/null && exit 0; sleep 0.2; done; exit 1",
    );
    assert_eq!(got, "hi-from-talk\n");
    // And the other way round.
    assert_ping(&d, "web", "client", Some(ip_on(&d, "client", "front")));

    // A container started later is resolved by the running ones (their
    // hosts files are rewritten in place), and forgotten once it is gone.
    let inode = sh_ok(&d, "client", "stat -c %i /etc/hosts");
    run_sleeper(&d, "late", &["--network", "front"]);
    let late = ip_on(&d, "late", "front");
    assert_ping(&d, "client", "late", Some(late));
    assert_eq!(
        sh_ok(&d, "client", "stat -c %i /etc/hosts"),
        inode,
        "/etc/hosts was replaced, not rewritten in place"
    );
    d.ok(&["rm", "-f", "late"]);
    assert_unresolved(&d, "client", "late");

    d.ok(&["rm", "-f", "web", "talk", "client"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "front"]);
}

#[test]
fn networks_are_isolated() {
    let d = Daemon::with_busybox();
    d.ok(&["network", "create", "red"]);
    d.ok(&["network", "create", "blue"]);
    run_httpd(&d, "r1", &["--network", "red"], "red-only");
    run_sleeper(&d, "r2", &["--network", "red"]);
    run_sleeper(&d, "b1", &["--network", "blue"]);
    run_sleeper(&d, "d1", &[]);
    let r1 = ip_on(&d, "r1", "red").to_string();
    let b1 = ip_on(&d, "b1", "blue").to_string();
    let d1 = ip_on(&d, "d1", "bridge").to_string();

    // Same network: reachable (the control).
    assert_ping(&d, "r2", &r1, None);
    assert_eq!(
        wget_in(&d, "r2", &format!("http://{r1}/index.html")),
        (0, "red-only\n".to_string())
    );
    // Another user network, the default bridge: not by address, not by
    // name, not over tcp.
    assert_no_ping(&d, "b1", &r1);
    assert_no_ping(&d, "d1", &r1);
    assert_no_ping(&d, "r1", &b1);
    assert_no_ping(&d, "r1", &d1);
    assert_no_ping(&d, "b1", &d1);
    assert_unresolved(&d, "b1", "r1");
    let (code, out, err) = sh(&d, "b1", &format!("timeout 3 nc -w 2 {r1} 80 </dev/null"));
    assert_ne!(code, 0, "blue reached red's httpd: {out}{err}");

    d.ok(&["rm", "-f", "r1", "r2", "b1", "d1"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "red", "blue"]);
}

#[test]
fn publish_tcp_port_serves_a_file() {
    let d = Daemon::with_busybox();
    let p = free_tcp_port();
    let q = free_tcp_port();
    let web = run_httpd(
        &d,
        "web",
        &["-p", &format!("127.0.0.1:{p}:80")],
        "hello-from-berth",
    );
    run_httpd(&d, "web2", &["-p", &format!("{q}:80")], "all-addresses");
    assert_eq!(
        wait_http_get(localhost(p), "/index.html"),
        "hello-from-berth\n"
    );
    assert_eq!(
        wait_http_get(localhost(q), "/index.html"),
        "all-addresses\n"
    );

    assert_eq!(
        port_lines(&d, &["web"]),
        [format!("80/tcp -> 127.0.0.1:{p}")]
    );
    assert_eq!(port_lines(&d, &["web", "80"]), [format!("127.0.0.1:{p}")]);
    assert_eq!(
        port_lines(&d, &["web", "80/tcp"]),
        [format!("127.0.0.1:{p}")]
    );
    assert_eq!(
        port_lines(&d, &["web2"]),
        [format!("80/tcp -> 0.0.0.0:{q}")]
    );
    let (code, err) = d.fail(&["port", "web", "81"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("No public port '81' published for web"),
        "{err}"
    );
    assert_eq!(ps_ports(&d, "web"), format!("127.0.0.1:{p}->80/tcp"));
    assert_eq!(ps_ports(&d, "web2"), format!("0.0.0.0:{q}->80/tcp"));
    let c = d.inspect("web");
    assert_eq!(
        c["HostConfig"]["PortBindings"],
        json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": p.to_string()}]})
    );
    assert_eq!(
        c["NetworkSettings"]["Ports"],
        json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": p.to_string()}]})
    );

    // berthd holds the host port while the container runs.
    let e = TcpListener::bind(localhost(p)).expect_err("the published port is free");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert_eq!(dnat_rules_for(&d, p).len(), 2, "prerouting + output");

    // Stopped: the port, its rules and the address are released...
    d.ok(&["stop", "-t", "0", "web"]);
    assert!(dnat_rules_for(&d, p).is_empty());
    assert!(http_get(localhost(p), "/", Duration::from_secs(2)).is_err());
    drop(TcpListener::bind(localhost(p)).expect("the port is released on stop"));
    // ...and taken again on start.
    d.ok(&["start", &web]);
    assert_eq!(
        wait_http_get(localhost(p), "/index.html"),
        "hello-from-berth\n"
    );
    assert_eq!(
        port_lines(&d, &["web"]),
        [format!("80/tcp -> 127.0.0.1:{p}")]
    );

    d.ok(&["rm", "-f", "web", "web2"]);
    d.assert_no_containers_left();
    drop(TcpListener::bind(localhost(p)).expect("the port is released on rm"));
}

#[test]
fn publish_random_host_port() {
    let d = Daemon::with_busybox();
    d.run_d(&[
            "--name",
            "rnd",
            "-p",
            "80",
            "-p",
            "127.0.0.1::8080",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo random > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 80 -h /www",
        ],
    );
    let lines = port_lines(&d, &["rnd"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let any = lines[0]
        .strip_prefix("80/tcp -> 0.0.0.0:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{lines:?}"));
    let lo = lines[1]
        .strip_prefix("8080/tcp -> 127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(any != 0 && lo != 0 && any != lo, "{lines:?}");
    assert_eq!(port_lines(&d, &["rnd", "80"]), [format!("0.0.0.0:{any}")]);
    assert_eq!(wait_http_get(localhost(any), "/index.html"), "random\n");
    assert_eq!(wait_http_get(localhost(lo), "/index.html"), "random\n");
    let ports = d.inspect("rnd")["NetworkSettings"]["Ports"].clone();
    assert_eq!(
        ports,
        json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": any.to_string()}],
            "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": lo.to_string()}],
        })
    );
    d.ok(&["rm", "-f", "rnd"]);
    d.assert_no_containers_left();
}

#[test]
fn publish_all_exposed_ports() {
    let d = Daemon::with_busybox();
    d.load_image(
        busybox_image("exposer:latest")
            .with("ExposedPorts", json!({"80/tcp": {}, "8080/tcp": {}}))
            .with(
                "Cmd",
                json!([
                    "sh",
                    "-c",
                    "mkdir -p /www && echo exposed > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 80 -h /www"
                ]),
            ),
    );
    d.run_d(&["--name", "ex", "-P", "--expose", "9000/udp", "exposer"]);
    let mut got: Vec<(String, u16)> = port_lines(&d, &["ex"])
        .iter()
        .map(|l| {
            let (port, host) = l
                .split_once(" -> 0.0.0.0:")
                .unwrap_or_else(|| panic!("{l}"));
            (
                port.to_string(),
                host.parse().unwrap_or_else(|_| panic!("{l}")),
            )
        })
        .collect();
    got.sort();
    let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["80/tcp", "8080/tcp", "9000/udp"]);
    let hosts: BTreeSet<u16> = got.iter().map(|(_, h)| *h).collect();
    assert_eq!(hosts.len(), 3, "{got:?}");
    assert_eq!(
        wait_http_get(localhost(got[0].1), "/index.html"),
        "exposed\n"
    );
    assert_eq!(
        wait_http_get(localhost(got[1].1), "/index.html"),
        "exposed\n"
    );
    let c = d.inspect("ex");
    assert_eq!(
        c["Config"]["ExposedPorts"],
        json!({"80/tcp": {}, "8080/tcp": {}, "9000/udp": {}})
    );
    assert_eq!(c["HostConfig"]["PublishAllPorts"], true);
    let ps = ps_ports(&d, "ex");
    assert!(
        ps.contains(&format!("0.0.0.0:{}->80/tcp", got[0].1)),
        "{ps}"
    );

    // Exposed but not published: listed, not reachable.
    run_sleeper(&d, "quiet", &["--expose", "7000"]);
    assert_eq!(d.ok(&["port", "quiet"]), "");
    let (code, err) = d.fail(&["port", "quiet", "7000"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("No public port '7000' published for quiet"),
        "{err}"
    );
    assert_eq!(ps_ports(&d, "quiet"), "7000/tcp");
    assert_eq!(
        d.inspect("quiet")["NetworkSettings"]["Ports"],
        json!({"7000/tcp": null})
    );

    d.ok(&["rm", "-f", "ex", "quiet"]);
    d.assert_no_containers_left();
}

#[test]
fn udp_echo_through_published_port() {
    let d = Daemon::with_busybox();
    d.load_image(udp_echo_image("udpecho:latest"));
    // One number, free for tcp and udp: both protocols get it.
    let p = loop {
        let p = free_udp_port();
        if TcpListener::bind(localhost(p)).is_ok() {
            break p;
        }
    };
    d.run_d(&[
            "--name",
            "echo",
            "-p",
            &format!("127.0.0.1:{p}:5353/udp"),
            "-p",
            &format!("127.0.0.1:{p}:80/tcp"),
            "udpecho",
            "sh",
            "-c",
            "mkdir -p /www && echo tcp-too > /www/index.html && httpd -p 80 -h /www && exec udp-echo 5353",
        ],
    );
    wait_for_within("udp-echo to be ready", NET_WAIT, || {
        d.ok(&["logs", "echo"]).contains("ready on udp port 5353")
    });
    let got = udp_roundtrip(localhost(p), b"ping-berth-udp", 5).expect("no udp echo");
    assert_eq!(got, b"ping-berth-udp");
    // A datagram larger than the veth's MTU comes back whole.
    let big: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(udp_roundtrip(localhost(p), &big, 5).expect("no echo"), big);
    assert_eq!(wait_http_get(localhost(p), "/index.html"), "tcp-too\n");

    let mut lines = port_lines(&d, &["echo"]);
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("5353/udp -> 127.0.0.1:{p}"),
            format!("80/tcp -> 127.0.0.1:{p}")
        ]
    );
    assert_eq!(
        port_lines(&d, &["echo", "5353/udp"]),
        [format!("127.0.0.1:{p}")]
    );
    // The udp port is held too.
    assert!(UdpSocket::bind(localhost(p)).is_err());

    d.ok(&["rm", "-f", "echo"]);
    d.assert_no_containers_left();
    drop(UdpSocket::bind(localhost(p)).expect("the udp port is released"));
}

#[test]
fn host_port_in_use_is_a_clear_error() {
    let d = Daemon::with_busybox();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = taken.local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{p}:80");
    let (code, err) = d.fail(&[
        "run", "-d", "--name", "busy", "-p", &publish, "busybox", "sleep", "1000",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Bind for 127.0.0.1:{p} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(err.contains("busy"), "the error names the container: {err}");
    // docker's: the container stays, created, not running; nothing of its
    // network is left.
    assert_eq!(d.inspect("busy")["State"]["Running"], false);
    d.assert_no_containers_left();
    assert!(dnat_rules_for(&d, p).is_empty());

    // --rm: nothing at all is left.
    let (code, err) = d.fail(&["run", "--rm", "-p", &publish, "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("port is already allocated"), "{err}");
    let all = d.ok(&["ps", "-aq", "--no-trunc"]);
    assert_eq!(all.lines().count(), 1, "{all}");
    d.assert_no_containers_left();

    // Freed, the same container starts.
    drop(taken);
    d.ok(&["start", "busy"]);
    assert_eq!(
        port_lines(&d, &["busy"]),
        [format!("80/tcp -> 127.0.0.1:{p}")]
    );

    // Two containers cannot have one host port.
    let (code, err) = d.fail(&[
        "run", "-d", "--name", "second", "-p", &publish, "busybox", "sleep", "1000",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Bind for 127.0.0.1:{p} failed: port is already allocated"
        )),
        "{err}"
    );
    assert_eq!(dnat_rules_for(&d, p).len(), 2, "only busy's rules");

    d.ok(&["rm", "-f", "busy", "second"]);
    d.assert_no_containers_left();
}

#[test]
fn network_none_has_only_lo() {
    let d = Daemon::with_busybox();
    let (code, out, err) = run_sh(
        &d,
        &["--network", "none"],
        "ip -o link; echo ---; tail -n +2 /proc/net/route; echo ---; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo lo-ok",
    );
    assert_eq!(code, 0, "{err}");
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(link_names(parts[0]), ["lo"], "{out}");
    assert_eq!(parts[1], "", "routes: {out}");
    assert_eq!(parts[2], "lo-ok\n", "{out}");

    run_sleeper(&d, "alone", &["--network", "none"]);
    let ns = &d.inspect("alone")["NetworkSettings"];
    assert_eq!(ns["IPAddress"], "", "{ns}");
    assert!(ns["Networks"].get("none").is_some(), "{ns}");
    assert_eq!(d.inspect("alone")["HostConfig"]["NetworkMode"], "none");
    assert!(bridge_ports(&d.bridge()).is_empty());
    d.ok(&["rm", "-f", "alone"]);
    let (code, err) = d.fail(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("network nosuchnet not found"), "{err}");
    d.assert_no_containers_left();
}

#[test]
fn network_host_sees_the_host() {
    let d = Daemon::with_busybox();
    let before = host_links();
    let (code, out, err) = run_sh(
        &d,
        &["--network", "host"],
        "readlink /proc/self/ns/net; echo ---; ip -o link; echo ---; hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf",
    );
    let after = host_links();
    assert_eq!(code, 0, "{err}");
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts.len(), 5, "{out}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        parts[0].trim(),
        host_ns.to_string_lossy(),
        "not the host's netns"
    );
    // Other tests add and remove links meanwhile: the container sees every
    // link that was there before and after, and nothing that never was.
    let inside: BTreeSet<String> = link_names(parts[1]).into_iter().collect();
    let before: BTreeSet<String> = before.into_iter().collect();
    let after: BTreeSet<String> = after.into_iter().collect();
    for l in before.intersection(&after) {
        assert!(
            inside.contains(l),
            "{l} missing in the container: {inside:?}"
        );
    }
    for l in &inside {
        assert!(
            before.contains(l)
                || after.contains(l)
                || l.starts_with("veth")
                || l.starts_with("br-")
                || l.starts_with("bte"),
            "{l} is not a host link: {before:?}"
        );
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(parts[2].trim(), hostname.trim());
    assert_eq!(parts[3], std::fs::read_to_string("/etc/hosts").unwrap());
    assert_eq!(
        parts[4],
        std::fs::read_to_string("/etc/resolv.conf").unwrap()
    );

    run_sleeper(&d, "hosty", &["--network", "host"]);
    let c = d.inspect("hosty");
    assert_eq!(c["HostConfig"]["NetworkMode"], "host");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    assert!(c["NetworkSettings"]["Networks"].get("host").is_some());
    assert!(bridge_ports(&d.bridge()).is_empty());
    d.ok(&["rm", "-f", "hosty"]);
    d.assert_no_containers_left();
}

#[test]
fn links_resolve_alias_and_set_env() {
    let d = Daemon::with_busybox();
    run_sleeper(&d, "db", &["-e", "DB_PASSWORD=secret", "--expose", "5432"]);
    let db = ip_on(&d, "db", "bridge");
    run_sleeper(&d, "app", &["--link", "db:database"]);
    run_sleeper(&d, "app2", &["--link", "db"]);

    // The alias and the name resolve to db in app's /etc/hosts.
    let hosts = sh_ok(&d, "app", "cat /etc/hosts");
    let line = hosts
        .lines()
        .find(|l| l.starts_with(&format!("{db}\t")))
        .unwrap_or_else(|| panic!("no line for {db}: {hosts}"));
    let names: Vec<&str> = line.split_whitespace().skip(1).collect();
    assert!(
        names.contains(&"database") && names.contains(&"db"),
        "{line}"
    );
    assert_ping(&d, "app", "database", Some(db));
    assert_ping(&d, "app", "db", Some(db));
    assert_ping(&d, "app2", "db", Some(db));

    // docker's link variables, exactly: in the container's process and, as
    // docker does, in an exec's.
    let env = sh_ok(
        &d,
        "app",
        "tr '\\0' '\\n' </proc/1/environ | grep ^DATABASE_ | sort",
    );
    let mut want = vec![
        "DATABASE_ENV_DB_PASSWORD=secret".to_string(),
        "DATABASE_NAME=/app/database".to_string(),
        format!("DATABASE_PORT=tcp://{db}:5432"),
        format!("DATABASE_PORT_5432_TCP=tcp://{db}:5432"),
        format!("DATABASE_PORT_5432_TCP_ADDR={db}"),
        "DATABASE_PORT_5432_TCP_PORT=5432".to_string(),
        "DATABASE_PORT_5432_TCP_PROTO=tcp".to_string(),
    ];
    want.sort();
    assert_eq!(env.lines().collect::<Vec<_>>(), want);
    let env = sh_ok(&d, "app", "env | grep ^DATABASE_ | sort");
    assert_eq!(env.lines().collect::<Vec<_>>(), want, "exec's environment");
    let env2 = sh_ok(&d, "app2", "env | grep ^DB_ | sort");
    assert!(env2.contains("DB_NAME=/app2/db\n"), "{env2}");
    assert!(
        env2.contains(&format!("DB_PORT=tcp://{db}:5432\n")),
        "{env2}"
    );
    assert_eq!(
        d.inspect("app")["HostConfig"]["Links"],
        json!(["/db:/app/database"])
    );

    // A link to nothing: a clear error, nothing made.
    let (code, err) = d.fail(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuch"), "{err}");

    d.ok(&["rm", "-f", "app", "app2", "db"]);
    d.assert_all_removed();
}

/// The nameserver, search and options lines of a resolv.conf.
fn resolver_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn hosts_hostname_and_resolv_conf() {
    let d = Daemon::with_busybox();
    run_sleeper(
        &d,
        "files",
        &[
            "--hostname",
            "myhost",
            "--add-host",
            "extra.example:10.1.2.3",
            "--add-host",
            "gw.example:host-gateway",
            "--dns",
            "10.9.9.9",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
        ],
    );
    let ip = ip_on(&d, "files", "bridge");
    assert_eq!(sh_ok(&d, "files", "cat /etc/hostname"), "myhost\n");
    assert_eq!(sh_ok(&d, "files", "hostname"), "myhost\n");
    assert_eq!(
        sh_ok(&d, "files", "cat /etc/hosts"),
        format!(
            "{HOSTS_HEADER}10.1.2.3\textra.example\n{}\tgw.example\n{ip}\tmyhost\n",
            d.gateway()
        )
    );
    assert_eq!(
        resolver_lines(&sh_ok(&d, "files", "cat /etc/resolv.conf")),
        [
            "nameserver 10.9.9.9",
            "search example.com",
            "options ndots:2"
        ]
    );
    let c = d.inspect("files");
    assert_eq!(c["Config"]["Hostname"], "myhost");
    assert_eq!(c["HostConfig"]["Dns"], json!(["10.9.9.9"]));
    assert_eq!(c["HostConfig"]["DnsSearch"], json!(["example.com"]));
    assert_eq!(c["HostConfig"]["DnsOptions"], json!(["ndots:2"]));
    assert_eq!(
        c["HostConfig"]["ExtraHosts"],
        json!(["extra.example:10.1.2.3", "gw.example:host-gateway"])
    );

    // Defaults: the short id as hostname; the host's resolvers without
    // its loopback ones (unreachable from the container), docker's public
    // ones when none is left.
    let id = run_sleeper(&d, "plain", &[]);
    let ip = ip_on(&d, "plain", "bridge");
    let short = &id[..12];
    assert_eq!(
        sh_ok(&d, "plain", "cat /etc/hostname"),
        format!("{short}\n")
    );
    assert_eq!(
        sh_ok(&d, "plain", "cat /etc/hosts"),
        format!("{HOSTS_HEADER}{ip}\t{short}\n")
    );
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut want: Vec<String> = resolver_lines(&host)
        .into_iter()
        .filter(|l| {
            l.split_whitespace().next() == Some("nameserver")
                && !l.contains(" 127.")
                && !l.ends_with(" ::1")
        })
        .collect();
    if want.is_empty() {
        want = vec!["nameserver 8.8.8.8".into(), "nameserver 8.8.4.4".into()];
    }
    let got: Vec<String> = resolver_lines(&sh_ok(&d, "plain", "cat /etc/resolv.conf"))
        .into_iter()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(got, want);

    // Bad values: a clear error, nothing created.
    for bad in [
        vec!["--dns", "not-an-ip"],
        vec!["--add-host", "nocolon"],
        vec!["--add-host", "h:999.1.1.1"],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(bad.iter().copied());
        args.extend(["busybox", "true"]);
        let (code, err) = d.fail(&args);
        assert_eq!(code, 125, "{bad:?}: {err}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 2);

    d.ok(&["rm", "-f", "files", "plain"]);
    d.assert_no_containers_left();
}

#[test]
fn network_create_ls_inspect_rm() {
    let d = Daemon::with_busybox();
    let spare = d.slot().spare_subnet(0);
    let gw = spare.host(254);
    let id = d
        .ok(&[
            "network",
            "create",
            "--subnet",
            &spare.to_string(),
            "--gateway",
            &gw.to_string(),
            "--label",
            "team=a",
            "mynet",
        ])
        .trim()
        .to_string();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let n = d.network_inspect("mynet");
    assert_eq!(n["Name"], "mynet");
    assert_eq!(n["Id"], id);
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    assert_eq!(n["Internal"], false);
    assert_eq!(n["EnableIPv6"], false);
    assert_eq!(n["IPAM"]["Driver"], "default");
    assert_eq!(
        n["IPAM"]["Config"],
        json!([{"Subnet": spare.to_string(), "Gateway": gw.to_string()}])
    );
    assert_eq!(n["Labels"], json!({"team": "a"}));
    assert_eq!(n["Containers"], json!({}));
    let bridge = format!("br-{}", &id[..12]);
    assert_eq!(
        n["Options"]["com.docker.network.bridge.name"],
        bridge.as_str()
    );
    assert_eq!(link_ipv4(&bridge), [format!("{gw}/24")]);
    // inspect by id and by a prefix of it.
    assert_eq!(d.network_inspect(&id)["Name"], "mynet");
    assert_eq!(d.network_inspect(&id[..12])["Name"], "mynet");

    // Without --subnet: the first /24 of the pool.
    d.ok(&["network", "create", "auto"]);
    let (auto, auto_gw) = subnet_of(&d, "auto");
    assert_eq!(auto.to_string(), format!("{}/24", d.pool().network()));
    assert_eq!(auto_gw, auto.host(1));

    // ls: the default networks and ours.
    let ls = d.ok(&["network", "ls"]);
    let mut lines = ls.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"], "{ls}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("{name} not listed: {ls}"))
            .clone()
    };
    assert_eq!(row("mynet"), [&id[..12], "mynet", "bridge", "local"]);
    assert_eq!(row("bridge")[2..], ["bridge", "local"]);
    assert_eq!(row("host")[2..], ["host", "local"]);
    assert_eq!(row("none")[2..], ["null", "local"]);
    assert_eq!(row("auto")[2..], ["bridge", "local"]);
    let q = d.ok(&["network", "ls", "-q"]);
    assert!(q.lines().any(|l| l == &id[..12]), "{q}");
    assert!(q.lines().all(|l| l.len() == 12), "{q}");
    let q = d.ok(&["network", "ls", "-q", "--no-trunc"]);
    assert!(q.lines().any(|l| l == id), "{q}");

    // Refused: a second network of that name, an overlapping subnet, bad
    // values.
    let (code, err) = d.fail(&["network", "create", "mynet"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (_, err) = d.fail(&["network", "create", "--subnet", &spare.to_string(), "other"]);
    assert!(err.to_lowercase().contains("overlap"), "{err}");
    let (_, err) = d.fail(&["network", "create", "--subnet", "10.0.0.0/33", "bad1"]);
    assert!(err.contains("10.0.0.0/33"), "{err}");
    let (_, err) = d.fail(&[
        "network",
        "create",
        "--subnet",
        &d.slot().spare_subnet(1).to_string(),
        "--gateway",
        "10.0.0.1",
        "bad2",
    ]);
    assert!(err.contains("10.0.0.1"), "{err}");
    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !names
            .lines()
            .any(|n| ["other", "bad1", "bad2"].contains(&n)),
        "{names}"
    );

    // In use: rm refused; free: removed with its bridge.
    let member = run_sleeper(&d, "member", &["--network", "mynet"]);
    let ip = ip_on(&d, "member", "mynet");
    assert!(spare.contains(ip) && ip != gw);
    let n = d.network_inspect("mynet");
    let ep = &n["Containers"][&member];
    assert_eq!(ep["Name"], "member", "{n}");
    assert_eq!(ep["IPv4Address"], format!("{ip}/24"), "{n}");
    assert_eq!(ep["MacAddress"], mac_for(ip), "{n}");
    let (code, err) = d.fail(&["network", "rm", "mynet"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("active endpoints"), "{err}");
    let (code, err) = d.fail(&["network", "rm", "bridge"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pre-defined network"), "{err}");
    let (code, err) = d.fail(&["network", "rm", "nosuch"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nosuch"), "{err}");
    d.ok(&["rm", "-f", "member"]);
    assert_eq!(d.ok(&["network", "rm", "mynet"]), "mynet\n");
    assert!(!host_links().contains(&bridge), "{bridge} left");
    let (_, err) = d.fail(&["network", "inspect", "mynet"]);
    assert!(err.contains("network mynet not found"), "{err}");
    // Several at once: each one is done or reported.
    let out = d.berth(&["network", "rm", "auto", "nosuch"]);
    let (code, err) = check_fail(&["network", "rm"], &out);
    assert_eq!(code, 1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "auto\n");
    assert!(err.contains("nosuch"), "{err}");
    d.assert_no_containers_left();
}

#[test]
fn network_connect_and_disconnect() {
    let d = Daemon::with_busybox();
    d.ok(&["network", "create", "side"]);
    let (side, _) = subnet_of(&d, "side");
    run_sleeper(&d, "cee", &[]);
    run_sleeper(&d, "peer", &["--network", "side"]);
    assert_eq!(links_in(&d, "cee"), ["lo", "eth0"]);

    d.ok(&["network", "connect", "side", "cee"]);
    assert_eq!(links_in(&d, "cee"), ["lo", "eth0", "eth1"]);
    let ip = ip_on(&d, "cee", "side");
    assert!(side.contains(ip));
    assert_eq!(addr_in(&d, "cee", "eth1"), [format!("{ip}/24")]);
    let nets = d.inspect("cee")["NetworkSettings"]["Networks"].clone();
    let keys: BTreeSet<&String> = nets.as_object().unwrap().keys().collect();
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["bridge", "side"]);
    // Names follow, both ways.
    assert_ping(&d, "peer", "cee", Some(ip));
    assert_ping(&d, "cee", "peer", Some(ip_on(&d, "peer", "side")));
    assert_eq!(bridge_ports(&bridge_of(&d, "side")).len(), 2);
    let (code, err) = d.fail(&["network", "connect", "side", "cee"]);
    assert_ne!(code, 0, "{err}");

    d.ok(&["network", "disconnect", "side", "cee"]);
    assert_eq!(links_in(&d, "cee"), ["lo", "eth0"]);
    assert_unresolved(&d, "peer", "cee");
    assert!(d.network_inspect("side")["Containers"]
        .get(d.inspect("cee")["Id"].as_str().unwrap())
        .is_none());
    wait_for_within("cee's veth on side to go", NET_WAIT, || {
        bridge_ports(&bridge_of(&d, "side")).len() == 1
    });
    let (code, err) = d.fail(&["network", "disconnect", "side", "cee"]);
    assert_ne!(code, 0, "{err}");

    // Again, with a fixed address and an alias.
    let fixed = side.host(200).to_string();
    d.ok(&[
        "network", "connect", "--ip", &fixed, "--alias", "calias", "side", "cee",
    ]);
    assert_eq!(addr_in(&d, "cee", "eth1"), [format!("{fixed}/24")]);
    assert_ping(&d, "peer", "calias", Some(fixed.parse().unwrap()));

    // A created container connected before it starts gets both networks.
    d.ok(&["create", "--name", "later", "busybox", "sleep", "1000"]);
    d.ok(&["network", "connect", "side", "later"]);
    d.ok(&["start", "later"]);
    assert_eq!(links_in(&d, "later"), ["lo", "eth0", "eth1"]);
    assert_ping(&d, "peer", "later", Some(ip_on(&d, "later", "side")));

    d.ok(&["rm", "-f", "cee", "peer", "later"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "side"]);
}

#[test]
fn network_prune() {
    let d = Daemon::with_busybox();
    for n in ["n1", "n2", "n3"] {
        d.ok(&["network", "create", n]);
    }
    let bridges: Vec<String> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| bridge_of(&d, n))
        .collect();
    run_sleeper(&d, "user", &["--network", "n1"]);

    // Asked on a terminal and not confirmed: nothing goes. Without a
    // terminal to ask on: refused (berth's rule for every prune).
    let mut pty = d.pty(&["network", "prune"]);
    pty.expect("WARNING! This will remove all custom networks not used by at least one container.");
    pty.expect("Are you sure you want to continue? [y/N] ");
    pty.send("n\r");
    assert!(
        pty.wait(Duration::from_secs(10)).success(),
        "{}",
        pty.output()
    );
    let out = d.berth(&["network", "prune"]);
    let (code, err) = check_fail(&["network", "prune"], &out);
    assert_eq!(code, 125);
    assert!(err.contains("use -f"), "{err}");
    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    for n in ["n1", "n2", "n3"] {
        assert!(names.lines().any(|l| l == n), "{names}");
    }

    // docker's report, blank line included.
    let out = d.ok(&["network", "prune", "-f"]);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Deleted Networks:"), "{out}");
    assert_eq!(lines.last(), Some(&""), "{out}");
    lines.remove(0);
    lines.pop();
    lines.sort();
    assert_eq!(lines, ["n2", "n3"], "{out}");
    let names: BTreeSet<String> = d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        names.contains("n1") && names.contains("bridge"),
        "{names:?}"
    );
    assert!(!names.contains("n2") && !names.contains("n3"), "{names:?}");
    let links = host_links();
    assert!(links.contains(&bridges[0]));
    assert!(!links.contains(&bridges[1]) && !links.contains(&bridges[2]));
    // Nothing to prune: nothing printed.
    assert_eq!(d.ok(&["network", "prune", "-f"]), "");

    d.ok(&["rm", "-f", "user"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "n1"]);
}

#[test]
fn internal_network_has_no_way_out() {
    let d = Daemon::with_busybox();
    d.ok(&["network", "create", "--internal", "sealed"]);
    assert_eq!(d.network_inspect("sealed")["Internal"], true);
    run_sleeper(&d, "s1", &["--network", "sealed"]);
    run_sleeper(&d, "s2", &["--network", "sealed"]);
    run_httpd(&d, "outside", &[], "outside");
    let outside = ip_on(&d, "outside", "bridge").to_string();
    let s1 = ip_on(&d, "s1", "sealed");
    let (sealed, _) = subnet_of(&d, "sealed");

    // No default route: only the subnet's own.
    let routes = sh_ok(&d, "s1", "ip route");
    assert!(!routes.contains("default"), "{routes}");
    let dests: Vec<&str> = routes
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(dests, [sealed.to_string()], "{routes}");
    // Peers on the network, yes; anything else, no.
    assert_ping(&d, "s1", "s2", Some(ip_on(&d, "s2", "sealed")));
    assert_no_ping(&d, "s1", &outside);
    assert_no_ping(&d, "outside", &s1.to_string());
    let (code, out, err) = sh(
        &d,
        "s1",
        &format!("timeout 3 nc -w 2 {outside} 80 </dev/null"),
    );
    assert_ne!(code, 0, "sealed reached outside: {out}{err}");

    d.ok(&["rm", "-f", "s1", "s2", "outside"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "sealed"]);
}

#[test]
fn fixed_ip() {
    let d = Daemon::with_busybox();
    let subnet = d.slot().spare_subnet(0);
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet.to_string(),
        "fixnet",
    ]);
    let want = subnet.host(50);
    run_sleeper(
        &d,
        "fixed",
        &["--network", "fixnet", "--ip", &want.to_string()],
    );
    assert_eq!(ip_on(&d, "fixed", "fixnet"), want);
    assert_eq!(addr_in(&d, "fixed", "eth0"), [format!("{want}/24")]);

    // Taken, outside the subnet, the gateway, or on the default bridge:
    // refused.
    let (code, err) = d.fail(&[
        "run",
        "-d",
        "--name",
        "dup",
        "--network",
        "fixnet",
        "--ip",
        &want.to_string(),
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("already in use"), "{err}");
    for ip in [Ipv4Addr::new(192, 0, 2, 7), subnet.host(1)] {
        let (code, err) = d.fail(&[
            "run",
            "--rm",
            "--network",
            "fixnet",
            "--ip",
            &ip.to_string(),
            "busybox",
            "true",
        ]);
        assert_eq!(code, 125, "{ip}: {err}");
    }
    let (code, err) = d.fail(&[
        "run",
        "--rm",
        "--ip",
        &d.subnet().host(9).to_string(),
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("user defined networks"), "{err}");

    // Freed on removal: the next one gets it.
    d.ok(&["rm", "-f", "fixed"]);
    let _ = d.berth(&["rm", "-f", "dup"]);
    run_sleeper(
        &d,
        "again",
        &["--network", "fixnet", "--ip", &want.to_string()],
    );
    assert_eq!(ip_on(&d, "again", "fixnet"), want);
    d.ok(&["rm", "-f", "again"]);
    d.assert_no_containers_left();
    d.ok(&["network", "rm", "fixnet"]);
}

#[test]
fn container_network_mode_shares_the_namespace() {
    let d = Daemon::with_busybox();
    run_httpd(&d, "base", &[], "from-base");
    let ip = ip_on(&d, "base", "bridge");
    let script = "readlink /proc/self/ns/net; ip -o -4 addr show eth0";
    let base_view = sh_ok(&d, "base", script);
    let (code, out, err) = run_sh(
        &d,
        &["--network", "container:base"],
        &format!(
            "{script}; for i in $(seq 25); do timeout 2 wget -qO- http://127.0.0.1/index.html && exit 0; sleep 0.2; done; exit 1"
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{base_view}from-base\n"));
    assert!(base_view.contains(&format!("inet {ip}/24")), "{base_view}");
    // Joining adds no veth.
    run_sleeper(&d, "joined", &["--network", "container:base"]);
    assert_eq!(bridge_ports(&d.bridge()).len(), 1);
    assert_eq!(
        d.inspect("joined")["HostConfig"]["NetworkMode"],
        "container:base"
    );

    let (code, err) = d.fail(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuch"), "{err}");

    d.ok(&["rm", "-f", "joined", "base"]);
    d.assert_no_containers_left();
}

#[test]
fn berthd_killed_and_restarted_keeps_ports_and_names() {
    let mut d = Daemon::with_busybox();
    d.ok(&["network", "create", "app"]);
    let p = free_tcp_port();
    run_httpd(
        &d,
        "web",
        &["--network", "app", "-p", &format!("127.0.0.1:{p}:80")],
        "survives",
    );
    run_sleeper(&d, "client", &["--network", "app"]);
    d.run_d(&[
        "--name",
        "shorty",
        "--network",
        "app",
        "busybox",
        "sleep",
        "2",
    ]);
    assert_eq!(wait_http_get(localhost(p), "/index.html"), "survives\n");
    let web = ip_on(&d, "web", "app");
    let client = ip_on(&d, "client", "app");
    let shorty = d.inspect("shorty")["Id"].as_str().unwrap().to_string();
    let bridge = bridge_of(&d, "app");

    d.kill();
    // While berthd is down one container exits; the others keep serving.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(wait_http_get(localhost(p), "/index.html"), "survives\n");
    d.start_again();

    assert_eq!(wait_http_get(localhost(p), "/index.html"), "survives\n");
    assert_ping(&d, "client", "web", Some(web));
    assert_eq!(
        wget_in(&d, "client", "http://web/index.html"),
        (0, "survives\n".to_string())
    );
    assert_eq!(
        port_lines(&d, &["web"]),
        [format!("80/tcp -> 127.0.0.1:{p}")]
    );
    // The exited one gave its address and veth back.
    let st = &d.inspect("shorty")["State"];
    assert_eq!(st["Running"], false, "{st}");
    let n = d.network_inspect("app");
    assert!(n["Containers"].get(&shorty).is_none(), "{n}");
    wait_for_within("shorty's veth to go", NET_WAIT, || {
        bridge_ports(&bridge).len() == 2
    });
    // A new container gets an address nobody has, and names reach it.
    run_sleeper(&d, "late", &["--network", "app"]);
    let late = ip_on(&d, "late", "app");
    assert!(late != web && late != client, "{late} handed out twice");
    assert_ping(&d, "client", "late", Some(late));
    assert_ping(&d, "late", "web", Some(web));

    // A clean restart keeps it all too.
    d.restart();
    assert_eq!(wait_http_get(localhost(p), "/index.html"), "survives\n");
    assert_ping(&d, "late", "client", Some(client));

    d.ok(&["rm", "-f", "web", "client", "late", "shorty"]);
    d.assert_no_containers_left();
    assert!(http_get(localhost(p), "/", Duration::from_secs(2)).is_err());
    d.ok(&["network", "rm", "app"]);
    assert!(!host_links().contains(&bridge));
}

#[test]
fn hundred_containers_leave_nothing() {
    let d = Daemon::with_busybox();
    d.ok(&["network", "create", "hnet"]);
    let d = &d;
    let ids: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let args: &[&str] = match (w * 25 + i) % 4 {
                                0 => &[],
                                1 => &["-p", "127.0.0.1::80"],
                                2 => &["--network", "hnet"],
                                _ => &["--network", "hnet", "-p", "127.0.0.1::53/udp"],
                            };
                            let mut all = args.to_vec();
                            all.extend(["busybox", "sleep", "1000"]);
                            d.run_d(&all)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert_eq!(ids.len(), 100);

    // Every one has its own address, veth and rules.
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let all = d.ok_json(&args);
    let all = all.as_array().expect("inspect's array");
    let mut seen = BTreeSet::new();
    for c in all {
        for (net, ep) in c["NetworkSettings"]["Networks"].as_object().unwrap() {
            let ip = ep["IPAddress"].as_str().unwrap().to_string();
            assert!(!ip.is_empty(), "{net}: {c}");
            assert!(seen.insert(ip.clone()), "{ip} handed out twice");
        }
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(bridge_ports(&d.bridge()).len(), 50);
    assert_eq!(bridge_ports(&bridge_of(d, "hnet")).len(), 50);
    assert_eq!(nft_dnat_rules(&d.firewall_table()).len(), 100, "2 per port");

    std::thread::scope(|s| {
        for chunk in ids.chunks(25) {
            s.spawn(move || {
                let mut args = vec!["rm", "-f"];
                args.extend(chunk.iter().map(String::as_str));
                d.ok(&args);
            });
        }
    });
    d.assert_all_removed();
    d.ok(&["network", "rm", "hnet"]);
}
