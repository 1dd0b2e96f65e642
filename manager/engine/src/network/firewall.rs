//! The daemon's nftables table: NAT for published ports and outgoing traffic,
//! isolation between networks, and the host's loopback kept out of the
//! containers' reach.
//!
//! One `inet` table per daemon, rebuilt whole from the daemon's state and
//! swapped in one nft transaction (`add table; delete table; add table,
//! chains, rules`), so packets see either the old ruleset or the new one and a
//! table left over from a crash is replaced, never merged. The ruleset is
//! built from the typed libnftables-json schema of the `nftables` crate and
//! fed to `nft -j -f -`.
//!
//! The table, for each network N (bridge B, subnet S) and published port:
//!
//! ```text
//! chain raw_prerouting { type filter hook prerouting priority raw }
//!     iifname { every bridge } ip daddr 127.0.0.0/8 counter drop
//!                                                        (route_localnet: CVE-2020-8558)
//! chain prerouting  { type nat hook prerouting priority dstnat }
//! chain output      { type nat hook output priority dstnat }    (host → 127.0.0.1:port too)
//!     [ip daddr HOSTIP | meta nfproto ipv4] fib daddr type local
//!         meta l4proto tcp th dport HOSTPORT dnat ip to CIP:CPORT
//! chain postrouting { type nat hook postrouting priority srcnat }
//!     ip saddr S oifname != B masquerade                 (not internal: outgoing)
//!     oifname B ip saddr 127.0.0.0/8 masquerade          (127.0.0.1:port, route_localnet)
//!     oifname B ip saddr S ct status dnat masquerade     (hairpin: a container to its own port)
//! chain forward     { type filter hook forward priority filter }
//!     iifname B oifname { other bridges } drop           (networks are isolated)
//!     iifname B oifname != B drop                        (internal)
//!     oifname B iifname != B drop                        (internal)
//! ```
//!
//! Every bridge has route_localnet=1 (link.rs) so that a connection from the
//! host to 127.0.0.1:PORT can be DNATed onto it; that also lets the kernel
//! accept a packet a container addresses to 127.0.0.0/8 itself, so without
//! `raw_prerouting` any neighbour on a bridge reaches the services the host
//! binds to loopback only. Why that chain hooks where it does is told at
//! [`loopback_guard`].

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Counter, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use tokio::io::AsyncWriteExt;

use berth_errdefs::ErrorKind;

/// A transport protocol of a published or exposed port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Proto, String> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(format!("unknown protocol {s:?}")),
        }
    }
}

crate::serde_str::serde_as_string!(Proto);

/// A network's share of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// No way out: no masquerade, no traffic in or out of the bridge.
    pub internal: bool,
}

/// A published port: HOSTIP:HOSTPORT/proto on the host → CIP:CPORT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRule {
    /// `None` (or 0.0.0.0): every local address of the host.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub proto: Proto,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Everything the table holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("nft not found in PATH, /usr/sbin or /sbin: install the Debian package nftables")]
    NftMissing,
    #[error("running {nft}: {source}")]
    Spawn {
        nft: String,
        #[source]
        source: io::Error,
    },
    /// nft refused the transaction; `stderr` is its message.
    #[error("nft failed to {action} table inet {table}: {stderr}")]
    Nft {
        action: &'static str,
        table: String,
        stderr: String,
    },
}

impl FirewallError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            FirewallError::NftMissing => ErrorKind::FailedPrecondition,
            _ => ErrorKind::Internal,
        }
    }
}

/// The daemon's table (family inet).
#[derive(Clone, Debug)]
pub struct Firewall {
    table: String,
}

impl Firewall {
    pub fn new(table: &str) -> Firewall {
        Firewall {
            table: table.to_string(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Replaces the table with exactly `rules`, atomically (one nft
    /// transaction).
    pub async fn apply(&self, rules: &Ruleset) -> Result<(), FirewallError> {
        let doc = render(&self.table, rules);
        self.run("replace", &doc).await
    }

    /// Deletes the table (absent is Ok).
    pub async fn remove(&self) -> Result<(), FirewallError> {
        let mut batch = Batch::new();
        // `add` first: deleting a table that does not exist is an error.
        batch.add(NfListObject::Table(table(&self.table)));
        batch.delete(NfListObject::Table(table(&self.table)));
        self.run("delete", &batch.to_nftables()).await
    }

    async fn run(&self, action: &'static str, doc: &Nftables<'_>) -> Result<(), FirewallError> {
        let nft = find_nft().ok_or(FirewallError::NftMissing)?;
        let json = serde_json::to_vec(doc).map_err(|e| FirewallError::Spawn {
            nft: nft.display().to_string(),
            source: io::Error::other(e),
        })?;
        let spawn_err = |source| FirewallError::Spawn {
            nft: nft.display().to_string(),
            source,
        };
        let mut child = tokio::process::Command::new(&nft)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&json).await.map_err(spawn_err)?;
            // Dropped here: nft reads to EOF before it commits.
        }
        let out = child.wait_with_output().await.map_err(spawn_err)?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(FirewallError::Nft {
            action,
            table: self.table.clone(),
            stderr: if stderr.is_empty() {
                out.status.to_string()
            } else {
                stderr
            },
        })
    }
}

/// nft from PATH, else the sbin directories a daemon's PATH may lack.
fn find_nft() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nft"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

const RAW_PREROUTING: &str = "raw_prerouting";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const POSTROUTING: &str = "postrouting";
const FORWARD: &str = "forward";

/// One rule: its chain and its statements.
type ChainRule = (&'static str, Vec<Statement<'static>>);

/// The whole transaction that replaces table `name` with `rules`.
fn render(name: &str, rules: &Ruleset) -> Nftables<'static> {
    let mut batch = Batch::new();
    // add + delete + add: the old table (if any) goes, in the same
    // transaction as the new one comes.
    batch.add(NfListObject::Table(table(name)));
    batch.delete(NfListObject::Table(table(name)));
    batch.add(NfListObject::Table(table(name)));
    add_base_chains(&mut batch, name);
    for (chain, expr) in table_rules(rules) {
        batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: name.to_string().into(),
            chain: chain.into(),
            expr: expr.into(),
            ..Rule::default()
        }));
    }
    batch.to_nftables()
}

/// The table's chains, each hooked where the module's table says.
fn add_base_chains(batch: &mut Batch<'static>, name: &str) {
    for (chain, kind, hook, prio) in [
        // raw (-300): before conntrack (-200) and dstnat; see loopback_guard.
        (
            RAW_PREROUTING,
            NfChainType::Filter,
            NfHook::Prerouting,
            -300,
        ),
        (PREROUTING, NfChainType::NAT, NfHook::Prerouting, -100),
        (OUTPUT, NfChainType::NAT, NfHook::Output, -100),
        (POSTROUTING, NfChainType::NAT, NfHook::Postrouting, 100),
        (FORWARD, NfChainType::Filter, NfHook::Forward, 0),
    ] {
        batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: name.to_string().into(),
            name: chain.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
    }
}

/// Every rule of the table, in order: the loopback guard, the published
/// ports' dnat, each network's masquerades, each network's isolation.
fn table_rules(rules: &Ruleset) -> Vec<ChainRule> {
    let mut out: Vec<ChainRule> = Vec::new();
    if let Some(guard) = loopback_guard(&rules.networks) {
        out.push((RAW_PREROUTING, guard));
    }
    for port in &rules.ports {
        for chain in [PREROUTING, OUTPUT] {
            out.push((chain, dnat_rule(port)));
        }
    }
    for net in &rules.networks {
        out.extend(masquerade_rules(net));
    }
    for net in &rules.networks {
        out.extend(isolation_rules(net, &rules.networks));
    }
    out
}

/// A network's postrouting rules: outgoing traffic (unless internal), the
/// host's 127.0.0.1:PORT onto the bridge, and the hairpin.
fn masquerade_rules(net: &NetworkRules) -> Vec<ChainRule> {
    let bridge = net.bridge.as_str();
    let mut out = Vec::new();
    if !net.internal {
        out.push((
            POSTROUTING,
            vec![
                eq(payload("ip", "saddr"), prefix(net.subnet)),
                ne(meta(MetaKey::Oifname), string(bridge)),
                masquerade(),
            ],
        ));
    }
    out.push((
        POSTROUTING,
        vec![
            eq(meta(MetaKey::Oifname), string(bridge)),
            eq(payload("ip", "saddr"), prefix(loopback())),
            masquerade(),
        ],
    ));
    out.push((
        POSTROUTING,
        vec![
            eq(meta(MetaKey::Oifname), string(bridge)),
            eq(payload("ip", "saddr"), prefix(net.subnet)),
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::CT(CT {
                    key: "status".into(),
                    family: None,
                    dir: None,
                })),
                right: string("dnat"),
                op: Operator::IN,
            }),
            masquerade(),
        ],
    ));
    out
}

/// A network's forward rules: no traffic to the other bridges of `all`, and
/// none in or out at all when it is internal.
fn isolation_rules(net: &NetworkRules, all: &[NetworkRules]) -> Vec<ChainRule> {
    let bridge = net.bridge.as_str();
    let mut out = Vec::new();
    let mut others: Vec<&str> = all
        .iter()
        .map(|n| n.bridge.as_str())
        .filter(|b| *b != bridge)
        .collect();
    others.sort_unstable();
    others.dedup();
    if !others.is_empty() {
        let set = others
            .into_iter()
            .map(|b| SetItem::Element(string(b)))
            .collect();
        out.push((
            FORWARD,
            vec![
                eq(meta(MetaKey::Iifname), string(bridge)),
                eq(
                    meta(MetaKey::Oifname),
                    Expression::Named(NamedExpression::Set(set)),
                ),
                Statement::Drop(None),
            ],
        ));
    }
    if net.internal {
        out.push((
            FORWARD,
            vec![
                eq(meta(MetaKey::Iifname), string(bridge)),
                ne(meta(MetaKey::Oifname), string(bridge)),
                Statement::Drop(None),
            ],
        ));
        out.push((
            FORWARD,
            vec![
                eq(meta(MetaKey::Oifname), string(bridge)),
                ne(meta(MetaKey::Iifname), string(bridge)),
                Statement::Drop(None),
            ],
        ));
    }
    out
}

/// `iifname { every bridge } ip daddr 127.0.0.0/8 counter drop`, in
/// `raw_prerouting`; `None` without networks (nft refuses an empty set).
///
/// route_localnet=1 on a bridge makes the kernel route 127.0.0.0/8 arriving
/// on it instead of dropping it as martian; berth needs that for the replies
/// of host → 127.0.0.1:PORT connections, but it also delivers a packet that a
/// container addresses to 127.0.0.1 itself to the host's loopback-only
/// services (CVE-2020-8558). Docker and kubelet drop those; so do we.
///
/// Why priority raw, on the destination as sent, and not kubelet's
/// `ip daddr 127.0.0.0/8 ct status != dnat drop` after NAT: no legitimate
/// packet arrives on a bridge addressed to 127.0.0.0/8 before NAT. The
/// replies route_localnet is there for come addressed to the gateway
/// (postrouting masquerades 127.0.0.0/8 onto every bridge) and turn into
/// 127.0.0.1 only in dstnat's un-masquerade, after this chain; traffic a host
/// rule DNATs *to* loopback was addressed elsewhere when it came in. So the
/// rule needs no conntrack, and that closes two holes of the after-NAT form:
/// `ct status` matches nothing on a packet conntrack left without an entry
/// (invalid ones, such as a RST or an ICMP error for no connection), so such
/// packets would pass; and nft's `ct status != dnat` compares the whole
/// status word, not the dnat bit (`ct status ! dnat` is the bit), so written
/// as kubelet's text it would drop the replies too. Before conntrack, a
/// flood of forged packets also makes no conntrack entries. A forged
/// 127.0.0.1:PORT of a published port goes too, rather than on to the
/// container: a port published on 127.0.0.1 is for the host alone.
///
/// Prerouting rather than input: the drop holds whatever routing would make
/// of the packet (policy routing may forward 127.0.0.0/8 rather than deliver
/// it), and br_netfilter, when loaded, runs this hook with the bridge as the
/// input interface as well.
///
/// Scoped to berth's bridges (every network's, the default one and user
/// networks'), not kubelet's `iifname != lo`: they are where berth turned
/// route_localnet on; on other interfaces the kernel's martian check still
/// stands unless the admin chose otherwise, and the daemon must not change
/// how the host treats interfaces it does not own. IPv4 only: the kernel
/// never accepts ::1 from a non-loopback interface. The counter tells an
/// admin (`nft list chain inet TABLE raw_prerouting`) that something tried.
fn loopback_guard(networks: &[NetworkRules]) -> Option<Vec<Statement<'static>>> {
    let mut bridges: Vec<&str> = networks.iter().map(|n| n.bridge.as_str()).collect();
    bridges.sort_unstable();
    bridges.dedup();
    if bridges.is_empty() {
        return None;
    }
    let set = bridges
        .into_iter()
        .map(|b| SetItem::Element(string(b)))
        .collect();
    Some(vec![
        eq(
            meta(MetaKey::Iifname),
            Expression::Named(NamedExpression::Set(set)),
        ),
        eq(payload("ip", "daddr"), prefix(loopback())),
        Statement::Counter(Counter::Anonymous(None)),
        Statement::Drop(None),
    ])
}

/// `[ip daddr HOSTIP | meta nfproto ipv4] fib daddr type local meta l4proto
/// P th dport HOSTPORT dnat ip to CIP:CPORT`
fn dnat_rule(port: &PortRule) -> Vec<Statement<'static>> {
    let mut expr = Vec::with_capacity(5);
    match port.host_ip.filter(|ip| !ip.is_unspecified()) {
        Some(ip) => expr.push(eq(payload("ip", "daddr"), string(&ip.to_string()))),
        // dnat ip is IPv4 only: say so, rather than match IPv6 for nothing.
        None => expr.push(eq(meta(MetaKey::Nfproto), string("ipv4"))),
    }
    expr.push(eq(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: [FibFlag::Daddr].into_iter().collect(),
        })),
        string("local"),
    ));
    expr.push(eq(meta(MetaKey::L4proto), string(port.proto.as_str())));
    expr.push(eq(
        payload("th", "dport"),
        Expression::Number(u32::from(port.host_port)),
    ));
    expr.push(Statement::DNAT(Some(NAT {
        addr: Some(string(&port.container_ip.to_string())),
        family: Some(NATFamily::IP),
        port: Some(Expression::Number(u32::from(port.container_port))),
        flags: None,
    })));
    expr
}

fn table(name: &str) -> Table<'static> {
    Table {
        family: NfFamily::INet,
        name: name.to_string().into(),
        handle: None,
    }
}

fn loopback() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("8 is a valid IPv4 prefix length")
}

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn prefix(net: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(string(&net.network().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn ne(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::NEQ,
    })
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

/// Short builders of rules for the firewall's tests (unit and root
/// end-to-end): a network by its bridge and CIDR, a port by octets.
#[cfg(any(test, feature = "test-support"))]
pub mod builders {
    use std::net::Ipv4Addr;

    use super::{NetworkRules, PortRule, Proto};

    pub fn net(bridge: &str, subnet: &str, internal: bool) -> NetworkRules {
        NetworkRules {
            bridge: bridge.to_string(),
            subnet: subnet.parse().expect("subnet"),
            internal,
        }
    }

    pub fn port(
        host_ip: Option<[u8; 4]>,
        host_port: u16,
        proto: Proto,
        cip: [u8; 4],
        cport: u16,
    ) -> PortRule {
        PortRule {
            host_ip: host_ip.map(Ipv4Addr::from),
            host_port,
            proto,
            container_ip: Ipv4Addr::from(cip),
            container_port: cport,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::builders::{net, port};
    use super::*;

    fn rendered(rules: &Ruleset) -> Vec<Value> {
        let v = serde_json::to_value(render("t", rules)).expect("json");
        v["nftables"].as_array().expect("array").clone()
    }

    /// The rules of `chain`, as their `expr` arrays.
    fn rules_of(cmds: &[Value], chain: &str) -> Vec<Value> {
        cmds.iter()
            .filter_map(|c| c.get("add")?.get("rule"))
            .filter(|r| r["chain"] == chain)
            .map(|r| r["expr"].clone())
            .collect()
    }

    #[test]
    fn proto_round_trips() {
        for p in [Proto::Tcp, Proto::Udp] {
            assert_eq!(p.as_str().parse::<Proto>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert!("sctp".parse::<Proto>().is_err());
        assert!("TCP".parse::<Proto>().is_err());
    }

    #[test]
    fn an_empty_ruleset_replaces_the_table_with_bare_chains() {
        let cmds = rendered(&Ruleset::default());
        let t = json!({"family": "inet", "name": "t"});
        assert_eq!(cmds[0], json!({"add": {"table": t}}));
        assert_eq!(cmds[1], json!({"delete": {"table": t}}));
        assert_eq!(cmds[2], json!({"add": {"table": t}}));
        let chains: Vec<(String, String, String, i64)> = cmds[3..]
            .iter()
            .map(|c| {
                let c = &c["add"]["chain"];
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    c["type"].as_str().unwrap_or_default().to_string(),
                    c["hook"].as_str().unwrap_or_default().to_string(),
                    c["prio"].as_i64().unwrap_or(999),
                )
            })
            .collect();
        let want = [
            ("raw_prerouting", "filter", "prerouting", -300),
            ("prerouting", "nat", "prerouting", -100),
            ("output", "nat", "output", -100),
            ("postrouting", "nat", "postrouting", 100),
            ("forward", "filter", "forward", 0),
        ]
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d));
        assert_eq!(chains, want);
        // No network, no bridge to guard: nft refuses an empty set.
        assert!(rules_of(&cmds, "raw_prerouting").is_empty());
    }

    #[test]
    fn every_bridge_is_kept_off_the_hosts_loopback() {
        let rules = Ruleset {
            networks: vec![
                net("br-b", "10.2.0.0/24", false),
                net("br-i", "10.3.0.0/24", true),
                net("br-a", "10.1.0.0/16", false),
            ],
            ports: vec![port(
                Some([127, 0, 0, 1]),
                8080,
                Proto::Tcp,
                [10, 1, 0, 2],
                80,
            )],
        };
        let cmds = rendered(&rules);
        let raw = rules_of(&cmds, "raw_prerouting");
        // One rule for all bridges, internal ones too (they have
        // route_localnet as well); a port on 127.0.0.1 makes no exception.
        assert_eq!(
            raw,
            [json!([
                {"match": {"left": {"meta": {"key": "iifname"}}, "right": {"set": ["br-a", "br-b", "br-i"]}, "op": "=="}},
                {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}, "op": "=="}},
                {"counter": null},
                {"drop": null},
            ])]
        );
    }

    #[test]
    fn a_published_port_is_a_dnat_in_prerouting_and_output() {
        let rules = Ruleset {
            networks: vec![net("br0", "10.9.0.0/24", false)],
            ports: vec![
                port(None, 8080, Proto::Tcp, [10, 9, 0, 2], 80),
                port(Some([127, 0, 0, 1]), 5353, Proto::Udp, [10, 9, 0, 3], 53),
                port(Some([0, 0, 0, 0]), 9000, Proto::Tcp, [10, 9, 0, 2], 9000),
            ],
        };
        let cmds = rendered(&rules);
        for chain in ["prerouting", "output"] {
            let r = rules_of(&cmds, chain);
            assert_eq!(r.len(), 3, "{chain}: {r:?}");
            assert_eq!(
                r[0],
                json!([
                    {"match": {"left": {"meta": {"key": "nfproto"}}, "right": "ipv4", "op": "=="}},
                    {"match": {"left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local", "op": "=="}},
                    {"match": {"left": {"meta": {"key": "l4proto"}}, "right": "tcp", "op": "=="}},
                    {"match": {"left": {"payload": {"protocol": "th", "field": "dport"}}, "right": 8080, "op": "=="}},
                    {"dnat": {"addr": "10.9.0.2", "family": "ip", "port": 80}},
                ])
            );
            // A named host address restricts the destination.
            assert_eq!(
                r[1][0],
                json!({"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1", "op": "=="}})
            );
            assert_eq!(r[1][2]["match"]["right"], "udp");
            // 0.0.0.0 is every address, as no address.
            assert_eq!(
                r[2][0]["match"]["left"],
                json!({"meta": {"key": "nfproto"}})
            );
        }
    }

    #[test]
    fn networks_masquerade_and_are_isolated() {
        let rules = Ruleset {
            networks: vec![
                net("br-a", "10.1.0.0/16", false),
                net("br-b", "10.2.0.0/24", false),
                net("br-i", "10.3.0.0/24", true),
            ],
            ports: vec![],
        };
        let cmds = rendered(&rules);
        assert!(rules_of(&cmds, "prerouting").is_empty());
        assert!(rules_of(&cmds, "output").is_empty());

        let post = rules_of(&cmds, "postrouting");
        // Outgoing masquerade for the two non-internal networks, then
        // loopback and hairpin for each of the three.
        assert_eq!(post.len(), 2 + 2 + 2 + 2, "{post:#?}");
        assert_eq!(
            post[0],
            json!([
                {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.1.0.0", "len": 16}}, "op": "=="}},
                {"match": {"left": {"meta": {"key": "oifname"}}, "right": "br-a", "op": "!="}},
                {"masquerade": null},
            ])
        );
        assert_eq!(
            post[1],
            json!([
                {"match": {"left": {"meta": {"key": "oifname"}}, "right": "br-a", "op": "=="}},
                {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}, "op": "=="}},
                {"masquerade": null},
            ])
        );
        assert_eq!(
            post[2][2],
            json!({"match": {"left": {"ct": {"key": "status"}}, "right": "dnat", "op": "in"}})
        );
        let internal_out = post.iter().any(|r| {
            r[0]["match"]["right"]["prefix"]["addr"] == "10.3.0.0" && r[1]["match"]["op"] == "!="
        });
        assert!(!internal_out, "an internal network has no way out");

        let fwd = rules_of(&cmds, "forward");
        // One isolation rule per bridge, two more for the internal one.
        assert_eq!(fwd.len(), 3 + 2, "{fwd:#?}");
        assert_eq!(
            fwd[0],
            json!([
                {"match": {"left": {"meta": {"key": "iifname"}}, "right": "br-a", "op": "=="}},
                {"match": {"left": {"meta": {"key": "oifname"}}, "right": {"set": ["br-b", "br-i"]}, "op": "=="}},
                {"drop": null},
            ])
        );
        assert_eq!(
            &fwd[3..],
            &[
                json!([
                    {"match": {"left": {"meta": {"key": "iifname"}}, "right": "br-i", "op": "=="}},
                    {"match": {"left": {"meta": {"key": "oifname"}}, "right": "br-i", "op": "!="}},
                    {"drop": null},
                ]),
                json!([
                    {"match": {"left": {"meta": {"key": "oifname"}}, "right": "br-i", "op": "=="}},
                    {"match": {"left": {"meta": {"key": "iifname"}}, "right": "br-i", "op": "!="}},
                    {"drop": null},
                ]),
            ]
        );
    }

    #[test]
    fn a_single_bridge_needs_no_isolation_rule() {
        let cmds = rendered(&Ruleset {
            networks: vec![net("br0", "10.9.0.0/24", false)],
            ports: vec![],
        });
        assert!(rules_of(&cmds, "forward").is_empty());
    }
}
