//! Networking for the end-to-end tests.
//!
//! Every test berthd takes a network *slot*: a number N (0..250) held by an
//! exclusive flock on `/run/berth-e2e-slots/N` for the daemon's whole life,
//! so daemons of parallel tests (threads of one test binary, or several test
//! binaries at once) never share a bridge, a subnet or an nftables table.
//! The slot decides the keys of the daemon's config:
//!
//! | key                     | slot N                                       |
//! |-------------------------|----------------------------------------------|
//! | `bridge`                | `bte{N}`                                     |
//! | `bridge_subnet`         | `10.201.{N}.0/24`                            |
//! | `default_address_pools` | `10.{210+N/16}.{(N%16)*16}.0/20`, /24 each   |
//! | `firewall_table`        | `berth-e2e-{N}` (family inet)                |
//!
//! When the daemon is dropped its bridges (the default one and those of its
//! user networks: every bridge with an address in the slot's ranges) and its
//! table are deleted, and the slot file says "clean". A slot whose file says
//! anything else was left by a test process that died: it is cleaned when it
//! is taken, so a crash never poisons later runs.
//!
//! Also here: the leak checks [`crate::Daemon::assert_no_containers_left`]
//! runs (ports on the daemon's bridges, dnat rules in its table, addresses
//! still allocated), loopback TCP/UDP clients, and the static UDP echo
//! program the UDP tests put into an image.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;

use crate::fixture;
use crate::Daemon;

/// How many slots there are (N in 0..SLOTS).
pub const SLOTS: u16 = 250;

/// Where the slot lock files live.
pub const SLOT_DIR: &str = "/run/berth-e2e-slots";

/// What a slot file holds once its daemon's network state was removed.
const CLEAN: &str = "clean\n";

/// An IPv4 network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses "a.b.c.d/p"; the address is kept as written (a host address
    /// with its prefix, as `ip addr` shows it, parses too).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 32).then_some(())?;
        Some(Cidr {
            addr: a.parse().ok()?,
            prefix,
        })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The network's own address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// The n-th address of the network (1 is the usual gateway).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + n)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// A network slot, held (flock) until dropped.
pub struct Slot {
    n: u16,
    lock: Flock<File>,
}

impl Slot {
    /// Takes the first free slot, waiting (up to 5 minutes) while all are
    /// busy. A slot left dirty by a process that died is cleaned first.
    pub fn acquire() -> Slot {
        std::fs::create_dir_all(SLOT_DIR)
            .unwrap_or_else(|e| panic!("create {SLOT_DIR}: {e} (the e2e tests run as root)"));
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            for n in 0..SLOTS {
                let path = Path::new(SLOT_DIR).join(n.to_string());
                // std opens with O_CLOEXEC: berthd and the containers never
                // inherit the lock.
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => {
                        let mut slot = Slot { n, lock };
                        slot.take();
                        return slot;
                    }
                    Err((_, Errno::EWOULDBLOCK)) => continue,
                    Err((_, e)) => panic!("flock {}: {e}", path.display()),
                }
            }
            assert!(
                Instant::now() < deadline,
                "all {SLOTS} network slots in {SLOT_DIR} stayed busy for 5 minutes"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cleans what a dead holder left, then marks the slot in use.
    fn take(&mut self) {
        let mut text = String::new();
        let _ = self.lock.read_to_string(&mut text);
        if text != CLEAN {
            self.cleanup();
        }
        self.mark(&format!("in use by pid {}\n", std::process::id()));
    }

    fn mark(&mut self, text: &str) {
        let f: &mut File = &mut self.lock;
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = f.write_all(text.as_bytes());
    }

    /// Deletes the slot's bridges and nftables table, then marks the slot
    /// clean. Called once the daemon is stopped and its containers are dead.
    pub fn release(&mut self) {
        if self.cleanup() {
            self.mark(CLEAN);
        }
    }

    /// The slot's number.
    pub fn number(&self) -> u16 {
        self.n
    }

    /// The default bridge's name.
    pub fn bridge(&self) -> String {
        format!("bte{}", self.n)
    }

    /// The default bridge network's subnet.
    pub fn subnet(&self) -> Cidr {
        Cidr {
            addr: Ipv4Addr::new(10, 201, self.n as u8, 0),
            prefix: 24,
        }
    }

    /// The default bridge's address (the containers' gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet().host(1)
    }

    /// The pool user networks get their /24s from.
    pub fn pool(&self) -> Cidr {
        Cidr {
            addr: Ipv4Addr::new(10, (210 + self.n / 16) as u8, ((self.n % 16) * 16) as u8, 0),
            prefix: 20,
        }
    }

    /// The k-th /24 (0..8) of the pool counted from its top, for networks a
    /// test creates with `--subnet`: the daemon hands out the pool from its
    /// bottom, so the two do not meet unless a test creates 8 networks.
    pub fn spare_subnet(&self, k: u8) -> Cidr {
        assert!(k < 8, "spare_subnet({k}): 8 spare subnets per slot");
        let pool = self.pool();
        Cidr {
            addr: Ipv4Addr::from(u32::from(pool.network()) + ((15 - k as u32) << 8)),
            prefix: 24,
        }
    }

    /// The daemon's nftables table (family inet).
    pub fn table(&self) -> String {
        format!("berth-e2e-{}", self.n)
    }

    /// The config keys the slot gives a daemon, as TOML values.
    pub fn config_keys(&self) -> Vec<(&'static str, String)> {
        vec![
            ("bridge", format!("{:?}", self.bridge())),
            ("bridge_subnet", format!("\"{}\"", self.subnet())),
            (
                "default_address_pools",
                format!("[{{ base = \"{}\", size = 24 }}]", self.pool()),
            ),
            ("firewall_table", format!("{:?}", self.table())),
        ]
    }

    /// Deletes every bridge of the slot (the default one by name, user
    /// networks' by their address in the slot's ranges) and its table.
    /// Returns whether everything went.
    fn cleanup(&self) -> bool {
        let bridges = host_bridges();
        let mut doomed: Vec<String> = bridges
            .iter()
            .filter(|b| **b == self.bridge())
            .cloned()
            .collect();
        // User networks' bridges are br-<id>: only then is `ip` worth a run.
        if bridges.iter().any(|b| b.starts_with("br-")) {
            let (subnet, pool) = (self.subnet(), self.pool());
            for (name, addrs) in bridge_addresses() {
                let ours = addrs
                    .iter()
                    .any(|a| subnet.contains(*a) || pool.contains(*a));
                if ours && !doomed.contains(&name) {
                    doomed.push(name);
                }
            }
        }
        let mut ok = true;
        if !doomed.is_empty() {
            let script: String = doomed.iter().map(|b| format!("link del {b}\n")).collect();
            let out = run_with_stdin("ip", &["-force", "-batch", "-"], script.as_bytes());
            if !out.0 {
                eprintln!(
                    "network slot {}: deleting bridges {doomed:?} failed: {}",
                    self.n, out.1
                );
                ok = false;
            }
        }
        let out = Command::new("nft")
            .args(["delete", "table", "inet", &self.table()])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                if !err.contains("No such file or directory") {
                    eprintln!("network slot {}: nft delete table: {err}", self.n);
                    ok = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("network slot {}: run nft: {e}", self.n);
                ok = false;
            }
        }
        ok
    }
}

/// Runs a program with `input` on stdin; (success, stderr).
fn run_with_stdin(prog: &str, args: &[&str], input: &[u8]) -> (bool, String) {
    let child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("run {prog}: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    match child.wait_with_output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, format!("wait for {prog}: {e}")),
    }
}

/// `config` (a berthd TOML config, maybe none) with `keys` added: the keys
/// go first, so they stay top-level even when the config has tables, and a
/// key the config already sets at its top level is left to it.
pub fn merge_config(config: Option<&str>, keys: &[(&str, String)]) -> String {
    let config = config.unwrap_or("");
    let top: Vec<&str> = config
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with('['))
        .collect();
    let set = |key: &str| {
        top.iter().any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    let mut out = String::new();
    for (k, v) in keys {
        if !set(k) {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out.push_str(config);
    out
}

/// The names of the host's links (/sys/class/net), sorted.
pub fn host_links() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The host's bridges.
pub fn host_bridges() -> Vec<String> {
    host_links()
        .into_iter()
        .filter(|n| Path::new("/sys/class/net").join(n).join("bridge").is_dir())
        .collect()
}

/// The links attached to `bridge` (empty when it does not exist).
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let mut ports: Vec<String> =
        std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
    ports.sort();
    ports
}

/// Every bridge of the host with its IPv4 addresses (`ip -j -4 addr`).
pub fn bridge_addresses() -> Vec<(String, Vec<Ipv4Addr>)> {
    ip_json(&["-4", "addr", "show", "type", "bridge"])
        .iter()
        .map(|l| {
            let addrs = l["addr_info"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i["local"].as_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            (l["ifname"].as_str().unwrap_or_default().to_string(), addrs)
        })
        .collect()
}

/// The IPv4 addresses of a host link with their prefix ("10.201.3.1/24").
pub fn link_ipv4(name: &str) -> Vec<String> {
    ip_json(&["-4", "addr", "show", "dev", name])
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| {
            Some(format!(
                "{}/{}",
                i["local"].as_str()?,
                i["prefixlen"].as_u64()?
            ))
        })
        .collect()
}

/// `ip -j ARGS` as JSON (an empty list when it fails).
fn ip_json(args: &[&str]) -> Vec<Value> {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The rule lines of nftables table `inet TABLE` as `nft list table`
/// prints them ("tcp dport 8080 dnat ip to 10.201.3.2:80"); None when the
/// table does not exist.
pub fn nft_rules(table: &str) -> Option<Vec<String>> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", table])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run nft: {e} (apt-get install nftables)"));
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && !l.ends_with('{')
                    && *l != "}"
                    && !l.starts_with("type ")
                    && !l.starts_with("policy ")
            })
            .map(str::to_string)
            .collect(),
    )
}

/// The dnat rules of table `inet TABLE` (those with a dnat statement, not
/// the masquerade rules that match `ct status dnat`).
pub fn nft_dnat_rules(table: &str) -> Vec<String> {
    nft_rules(table)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            let r = format!(" {r} ");
            r.contains(" dnat to ") || r.contains(" dnat ip to ")
        })
        .collect()
}

impl Daemon {
    /// The daemon's network slot.
    pub fn slot(&self) -> &Slot {
        &self.net
    }

    /// The default bridge's name (config `bridge`).
    pub fn bridge(&self) -> String {
        self.net.bridge()
    }

    /// The default bridge network's subnet (config `bridge_subnet`).
    pub fn subnet(&self) -> Cidr {
        self.net.subnet()
    }

    /// The default bridge's address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.net.gateway()
    }

    /// Where user networks get their subnets (config
    /// `default_address_pools`).
    pub fn pool(&self) -> Cidr {
        self.net.pool()
    }

    /// The daemon's nftables table (config `firewall_table`).
    pub fn firewall_table(&self) -> String {
        self.net.table()
    }

    /// `berth network inspect` of every network the daemon lists.
    pub fn networks(&self) -> Vec<Value> {
        let ids = self.ok(&["network", "ls", "-q", "--no-trunc"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["network", "inspect"];
        args.extend(ids);
        serde_json::from_str::<Vec<Value>>(&self.ok(&args)).expect("network inspect json")
    }

    /// What the daemon's containers left on the network side: ports on its
    /// bridges, dnat rules in its table, addresses still allocated.
    pub fn network_leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        let mut bridges = vec![self.bridge()];
        for n in self.networks() {
            let name = n["Name"].as_str().unwrap_or_default();
            if let Some(c) = n["Containers"].as_object().filter(|c| !c.is_empty()) {
                leaks.push(format!(
                    "network {name} still has addresses allocated: {}",
                    Value::Object(c.clone())
                ));
            }
            if let Some(b) = n["Options"]["com.docker.network.bridge.name"].as_str() {
                if !bridges.iter().any(|x| x == b) {
                    bridges.push(b.to_string());
                }
            }
        }
        for b in &bridges {
            let ports = bridge_ports(b);
            if !ports.is_empty() {
                leaks.push(format!("bridge {b} still has ports: {ports:?}"));
            }
        }
        for r in nft_dnat_rules(&self.firewall_table()) {
            leaks.push(format!("dnat rule left in {}: {r}", self.firewall_table()));
        }
        leaks
    }

    /// Asserts the daemon's containers left nothing on the network side,
    /// giving the kernel up to 5 s to delete the veths of dead namespaces.
    pub fn assert_no_network_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let leaks = self.network_leaks();
            if leaks.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "network state left: {leaks:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A TCP port on 127.0.0.1 nothing listens on (the kernel's pick, closed
/// again at once).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A UDP port on 127.0.0.1 nothing is bound to (ditto).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind udp 127.0.0.1:0")
        .port()
}

/// One HTTP/1.0 GET; (status, body).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {resp:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no status in {head:?}")))?;
    Ok((status, body.to_string()))
}

/// GETs `path` from `addr` until it answers 200 (a server in a container
/// just started may not listen yet), for up to 10 s; returns the body.
pub fn wait_http_get(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = match http_get(addr, path, Duration::from_secs(2)) {
            Ok((200, body)) => return body,
            Ok((code, body)) => format!("status {code}: {body}"),
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "GET http://{addr}{path} failed for 10 s: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `payload` to `addr` from 127.0.0.1 and returns the first datagram
/// that comes back, trying `tries` times with a 1 s wait each (UDP may be
/// dropped).
pub fn udp_roundtrip(addr: SocketAddr, payload: &[u8], tries: u32) -> io::Result<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut last = io::Error::other("no try");
    let mut buf = vec![0u8; 65536];
    for _ in 0..tries {
        s.send_to(payload, addr)?;
        match s.recv_from(&mut buf) {
            Ok((n, _)) => return Ok(buf[..n].to_vec()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The source of the UDP echo program (tests/fixtures/udp_echo.rs).
const UDP_ECHO_SRC: &str = include_str!("../fixtures/udp_echo.rs");

/// The UDP echo program, statically linked so it runs in a busybox image:
/// compiled once per source version into the target directory
/// (`e2e-fixtures/udp-echo-<hash>`), under a lock so parallel tests build
/// it once.
pub fn udp_echo_binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("e2e-fixtures");
    std::fs::create_dir_all(&dir).expect("create target/e2e-fixtures");
    let hash = fixture::sha256(UDP_ECHO_SRC.as_bytes());
    let bin = dir.join(format!("udp-echo-{}", &hash[7..23]));
    if bin.exists() {
        return bin;
    }
    let lock = File::create(dir.join(".lock")).expect("e2e-fixtures lock file");
    let _lock = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock e2e-fixtures");
    if bin.exists() {
        return bin;
    }
    let src = dir.join(format!("udp_echo-{}.rs", std::process::id()));
    std::fs::write(&src, UDP_ECHO_SRC).expect("write udp_echo.rs");
    let tmp = dir.join(format!("udp-echo.tmp-{}", std::process::id()));
    let out = Command::new(rustc())
        .args([
            "--edition",
            "2021",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("run rustc: {e} (install Rust: rustup)"));
    let _ = std::fs::remove_file(&src);
    assert!(
        out.status.success(),
        "rustc udp_echo.rs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &bin).expect("install udp-echo");
    bin
}

/// rustc: $RUSTC, else the one in PATH, else cargo's.
fn rustc() -> PathBuf {
    if let Ok(r) = std::env::var("RUSTC") {
        return PathBuf::from(r);
    }
    let in_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("rustc").exists()))
        .unwrap_or(false);
    if in_path {
        return PathBuf::from("rustc");
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cargo")
        });
    cargo_home.join("bin/rustc")
}

/// The busybox image plus /usr/local/bin/udp-echo (CMD sh).
pub fn udp_echo_image(tag: &str) -> fixture::ImageSpec {
    let echo = std::fs::read(udp_echo_binary()).expect("read udp-echo");
    let layer = fixture::LayerBuilder::new()
        .dir("usr/local", 0o755)
        .dir("usr/local/bin", 0o755)
        .exec("usr/local/bin/udp-echo", &echo)
        .build();
    let mut spec = fixture::busybox_image(tag);
    spec.layers.push(layer);
    spec.created_by.push("COPY udp-echo /usr/local/bin/".into());
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.210.48.7/20").unwrap();
        assert_eq!(c.to_string(), "10.210.48.0/20");
        assert!(c.contains("10.210.63.255".parse().unwrap()));
        assert!(!c.contains("10.210.64.0".parse().unwrap()));
        assert_eq!(c.host(1), Ipv4Addr::new(10, 210, 48, 1));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0"), None);
    }

    #[test]
    fn slot_ranges_do_not_overlap() {
        let pools: Vec<Cidr> = (0..SLOTS)
            .map(|n| Cidr {
                addr: Ipv4Addr::new(10, (210 + n / 16) as u8, ((n % 16) * 16) as u8, 0),
                prefix: 20,
            })
            .collect();
        for (i, a) in pools.iter().enumerate() {
            for b in &pools[i + 1..] {
                assert!(
                    !a.contains(b.network()) && !b.contains(a.network()),
                    "{a} {b}"
                );
            }
            assert!(!Cidr::parse("10.201.0.0/16").unwrap().contains(a.network()));
        }
    }

    #[test]
    fn merge_config_adds_missing_top_level_keys_first() {
        let keys = vec![
            ("bridge", "\"bte3\"".to_string()),
            ("firewall_table", "\"berth-e2e-3\"".to_string()),
        ];
        assert_eq!(
            merge_config(None, &keys),
            "bridge = \"bte3\"\nfirewall_table = \"berth-e2e-3\"\n"
        );
        let cfg =
            "bridge = \"mine\"\nsnapshotter = \"native\"\n[runtimes]\nfirewall_table = \"x\"\n";
        assert_eq!(
            merge_config(Some(cfg), &keys),
            format!("firewall_table = \"berth-e2e-3\"\n{cfg}")
        );
        // A key name that only starts like ours is not ours.
        let cfg = "bridge_subnet = \"10.1.0.0/16\"\n";
        assert!(merge_config(Some(cfg), &keys).starts_with("bridge = \"bte3\"\n"));
    }
}

/// Runs `ip ARGS`, which must succeed.
fn ip_ok(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run ip: {e} (apt-get install iproute2)"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A network namespace of the test's own (`ip netns add`, so it has a
/// path under /run/netns to setns into), deleted when dropped. Drop every
/// socket made in it first: a socket holds its namespace alive, and with it
/// the links inside.
pub struct TestNetns {
    name: String,
}

impl TestNetns {
    /// A new namespace `btlo-<pid>-<8 hex>`, its `lo` up.
    pub fn create() -> TestNetns {
        let ns = TestNetns::bare();
        ip_ok(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// A new namespace as the kernel makes one: only `lo`, down.
    pub fn bare() -> TestNetns {
        let name = format!("btlo-{}-{:08x}", std::process::id(), rand::random::<u32>());
        ip_ok(&["netns", "add", &name]);
        TestNetns { name }
    }

    /// A descriptor of the namespace (for setns(2)); it keeps the namespace
    /// alive after the guard drops.
    pub fn open(&self) -> OwnedFd {
        let p = self.path();
        File::open(&p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
            .into()
    }

    /// `ip -j ARGS` inside the namespace, which must succeed.
    pub fn ip_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip_json_ok(&all)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where `ip netns` keeps it: open it to setns(2) into it.
    pub fn path(&self) -> PathBuf {
        netns_path(&self.name)
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The path of named network namespace `name`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// A veth pair from the host into a [`TestNetns`]: the host end a port of a
/// bridge, the namespace end `eth0`, up, with an address. Dropping it
/// deletes the pair (through its host end).
pub struct NetnsVeth {
    /// The host end's name (`btlo<7 hex>`).
    pub host: String,
    /// The namespace end's name.
    pub ifname: String,
    /// The namespace end's MAC, as the kernel gave it.
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
}

impl NetnsVeth {
    /// Makes the pair, enslaves the host end to `bridge`, gives `eth0` in
    /// `ns` `address/prefix`, and waits (up to 5 s) until the bridge port
    /// forwards, so a frame sent from the namespace reaches the bridge.
    pub fn attach(ns: &TestNetns, bridge: &str, address: Ipv4Addr, prefix: u8) -> NetnsVeth {
        let host = format!("btlo{:07x}", rand::random::<u32>() & 0x0fff_ffff);
        ip_ok(&[
            "link",
            "add",
            &host,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns.name(),
        ]);
        // The guard exists from here on: a failed step below still deletes
        // the pair.
        let mut veth = NetnsVeth {
            host,
            ifname: "eth0".to_string(),
            mac: [0; 6],
            address,
        };
        ip_ok(&["link", "set", &veth.host, "master", bridge, "up"]);
        let cidr = format!("{address}/{prefix}");
        ip_ok(&["-n", ns.name(), "addr", "add", &cidr, "dev", "eth0"]);
        ip_ok(&["-n", ns.name(), "link", "set", "eth0", "up"]);
        let link = ip_json(&["-n", ns.name(), "link", "show", "dev", "eth0"]);
        let mac = link
            .first()
            .and_then(|l| l["address"].as_str())
            .and_then(parse_mac)
            .unwrap_or_else(|| panic!("no MAC for eth0 in netns {}: {link:?}", ns.name()));
        veth.mac = mac;
        // 3 is BR_STATE_FORWARDING; without STP a port gets there once the
        // pair has carrier.
        let state = Path::new("/sys/class/net")
            .join(&veth.host)
            .join("brport/state");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let s = std::fs::read_to_string(&state).unwrap_or_default();
            if s.trim() == "3" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "bridge port {} of {bridge} not forwarding after 5 s (state {s:?})",
                veth.host
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        veth
    }
}

impl Drop for NetnsVeth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .stderr(Stdio::null())
            .status();
    }
}

/// "aa:bb:cc:dd:ee:ff" as bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// A host link's MAC (/sys/class/net/NAME/address).
pub fn link_mac(name: &str) -> [u8; 6] {
    let p = Path::new("/sys/class/net").join(name).join("address");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    parse_mac(&text).unwrap_or_else(|| panic!("{}: not a MAC: {text:?}", p.display()))
}

/// An Ethernet frame carrying one IPv4 UDP datagram, checksums and all, as
/// a raw sender on the wire would forge it.
pub fn udp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        panic!("udp_frame: IPv4 only ({src} → {dst})");
    };
    let udp_len = 8 + payload.len();
    let total = u16::try_from(20 + udp_len).expect("a datagram that fits one frame");
    let mut ip = [0u8; 20];
    ip[0] = 0x45; // version 4, 5 words of header
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&rand::random::<u16>().to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let sum = inet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(total - 20).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.ip().octets());
    pseudo[4..8].copy_from_slice(&dst.ip().octets());
    pseudo[9] = 17;
    pseudo[10..12].copy_from_slice(&(total - 20).to_be_bytes());
    let sum = match inet_checksum(&[&pseudo, &udp]) {
        // 0 means "no checksum" in UDP over IPv4: send its other form.
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());

    let mut frame = Vec::with_capacity(14 + total as usize);
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&[0x08, 0x00]); // IPv4
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&udp);
    frame
}

/// The Internet checksum (RFC 1071) of the concatenated `parts` (each but
/// the last of even length).
fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod frame_tests {
    use super::*;

    #[test]
    fn inet_checksum_of_a_known_header() {
        // The IPv4 header of RFC 1071's usual worked example, checksum
        // field zeroed: its checksum is 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(inet_checksum(&[&h]), 0xb861);
    }

    #[test]
    fn a_udp_frame_verifies_as_a_receiver_checks_it() {
        let src: SocketAddr = "10.201.3.250:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        let f = udp_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], src, dst, b"odd");
        assert_eq!(f.len(), 14 + 20 + 8 + 3);
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let (ip, udp) = f[14..].split_at(20);
        // A header with its checksum in sums to 0 (the complement of 0xffff).
        assert_eq!(inet_checksum(&[ip]), 0);
        assert_eq!(&ip[16..20], &[127, 0, 0, 1]);
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&ip[12..16]);
        pseudo[4..8].copy_from_slice(&ip[16..20]);
        pseudo[9] = 17;
        pseudo[10..12].copy_from_slice(&udp[4..6]);
        assert_eq!(inet_checksum(&[&pseudo, udp]), 0);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 5353);
        assert_eq!(&udp[8..], b"odd");
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:42:0a:c9:03:01\n"),
            Some([2, 0x42, 10, 0xc9, 3, 1])
        );
        assert_eq!(parse_mac("02:42:0a:c9:03"), None);
        assert_eq!(parse_mac("02:42:0a:c9:03:01:07"), None);
        assert_eq!(parse_mac("zz:42:0a:c9:03:01"), None);
    }
}

// --- kernel fixtures of the engine's network tests ----------------------
//
// Bridges, veths, subnets and nftables tables of a test's own, each removed
// by a guard, for tests that drive the kernel directly (the engine's link,
// firewall and netns tests) rather than through a daemon.

/// Asserts root: the kernel network tests need CAP_NET_ADMIN and
/// CAP_SYS_ADMIN.
pub fn require_net_admin() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "network tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run as root"
    );
}

/// Asserts root and an `nft` in PATH, for the firewall tests.
pub fn require_nft() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "firewall tests need root (CAP_NET_ADMIN for nftables): run as root"
    );
    let found = Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "firewall tests need nft: install the Debian package nftables"
    );
}

/// `n` (up to 16) random hex digits.
pub fn rand_hex(n: usize) -> String {
    let v: u64 = rand::random();
    format!("{v:016x}")[..n].to_string()
}

/// Deletes a host link (`ip link del`) when dropped, whatever happened.
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A new bridge name `btst<6 hex>`, the link deleted when the guard drops.
pub fn test_bridge() -> (String, LinkGuard) {
    let name = format!("btst{}", rand_hex(6));
    (name.clone(), LinkGuard(name))
}

/// A /24 in 10.252.0.0/16 that no other caller in this process got and no
/// route of the host (`ip -4 route show table all`, default routes aside)
/// overlaps.
pub fn test_subnet() -> Cidr {
    static TAKEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    for _ in 0..256 {
        let third: u8 = rand::random();
        let net = Cidr {
            addr: Ipv4Addr::new(10, 252, third, 0),
            prefix: 24,
        };
        let fresh = {
            let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = !taken.contains(&third);
            if fresh {
                taken.push(third);
            }
            fresh
        };
        if fresh && !host_routes().iter().any(|r| overlaps(r, &net)) {
            return net;
        }
    }
    panic!("no free /24 in 10.252.0.0/16");
}

fn overlaps(a: &Cidr, b: &Cidr) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// The destinations of the host's IPv4 routes, every table, default
/// routes left out.
pub fn host_routes() -> Vec<Cidr> {
    ip_json(&["-4", "route", "show", "table", "all"])
        .iter()
        .filter_map(|r| r["dst"].as_str())
        .filter(|d| *d != "default")
        .filter_map(|d| {
            Cidr::parse(d).or_else(|| {
                Some(Cidr {
                    addr: d.parse().ok()?,
                    prefix: 32,
                })
            })
        })
        .collect()
}

/// `ip -j ARGS` on the host, which must succeed.
pub fn ip_json_ok(args: &[&str]) -> Value {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run ip: {e} (apt-get install iproute2)"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ip's json")
}

/// Answers up to `count` connections to `listener` with `reply` from a
/// thread, for 10 s at most (a listener made inside a namespace holds it
/// alive until then); returns its port.
pub fn serve(listener: TcpListener, reply: &'static str, count: usize) -> u16 {
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut served = 0;
        while served < count && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(reply.as_bytes());
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    port
}

/// Connects to `addr` (from the calling thread's namespace) within
/// `timeout` and reads what it says (3 s at most).
pub fn tcp_fetch(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// An nftables table name `berth-test-<8 hex>` of the test's own; the
/// table (family inet) is deleted when the guard drops.
pub struct TestTable(String);

impl TestTable {
    pub fn new() -> TestTable {
        TestTable(format!("berth-test-{:08x}", rand::random::<u32>()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Default for TestTable {
    fn default() -> Self {
        TestTable::new()
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// `nft -j list table inet TABLE`: None when the table does not exist.
pub fn nft_list_json(table: &str) -> Option<Value> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "inet", table])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run nft: {e} (apt-get install nftables)"));
    if !out.status.success() {
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("nft's json"))
}

/// `nft list table inet TABLE` as nft prints it (empty when the table does
/// not exist).
pub fn nft_list_text(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "inet", table])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run nft: {e} (apt-get install nftables)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number of rules per chain of an `nft -j list` listing (chains
/// without a rule too).
pub fn nft_rule_counts(listing: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for o in listing["nftables"].as_array().expect("array") {
        if let Some(c) = o.get("chain") {
            m.entry(c["name"].as_str().expect("name").to_string())
                .or_insert(0);
        }
        if let Some(r) = o.get("rule") {
            *m.entry(r["chain"].as_str().expect("chain").to_string())
                .or_insert(0) += 1;
        }
    }
    m
}
