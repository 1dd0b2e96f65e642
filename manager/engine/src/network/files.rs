//! The files a container's name resolution reads — /etc/hosts and
//! /etc/resolv.conf — as docker writes them, docker's legacy link variables,
//! and the parsers of the user input that feeds them (`--add-host`, `--dns*`,
//! `--expose`). Everything here is pure text except [`write_in_place`].
//!
//! The files live under the container's directory and are bind-mounted into
//! it, so they are rewritten in place (same inode) when peers come and go:
//! a rename would leave the container looking at the old file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::firewall::Proto;
use crate::error::ErrorKind;

/// docker's nameservers when the host has none a container can reach.
const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The value `--add-host` takes for the host's address; the caller
/// substitutes the gateway of the container's network.
pub const HOST_GATEWAY: &str = "host-gateway";

/// Refused user input for a container's network files.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("invalid --dns {0:?}: not an IP address")]
    InvalidNameserver(String),
    #[error("invalid --dns-search {0:?}: a domain without spaces is expected")]
    InvalidDnsSearch(String),
    #[error("invalid --dns-option {0:?}: an option without spaces is expected")]
    InvalidDnsOption(String),
    /// docker's words for `--add-host` without `HOST:IP` or `HOST=IP`.
    #[error("bad format for add-host: {0:?}")]
    BadExtraHost(String),
    /// docker's words for `--add-host` whose address is not one.
    #[error("invalid IP address in add-host: {0:?}")]
    InvalidExtraHostIp(String),
    #[error("invalid port {value:?}: {reason}")]
    InvalidPort { value: String, reason: String },
}

impl FilesError {
    /// Every one of these is bad user input.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// One line of a hosts file: an address and the names it answers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsEntry {
    pub ip: String,
    pub names: Vec<String>,
}

/// docker's /etc/hosts: localhost + ip6 lines, then `entries` in the
/// caller's order (docker's: --add-host lines, links, the own address). Entries without a name are left out: a bare address resolves
/// nothing. Names are expected validated (no whitespace).
pub fn hosts_file(entries: &[HostsEntry]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for entry in entries.iter().filter(|e| !e.names.is_empty()) {
        out.push_str(&entry.ip);
        out.push('\t');
        out.push_str(&entry.names.join(" "));
        out.push('\n');
    }
    out
}

/// resolv.conf for a container: from the host's text, loopback nameservers
/// (127.0.0.0/8, ::1) dropped (with a note: they are the host's own
/// resolvers, unreachable from another network namespace), docker's
/// defaults 8.8.8.8/8.8.4.4 when none remain; `dns` replaces the
/// nameservers, `search` the search line (`.` alone means none), `options`
/// the options line. Host comments are dropped, its other directives kept.
/// Every `dns` entry must be an IP address.
pub fn resolv_conf(
    host: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> Result<String, FilesError> {
    for server in dns {
        if server.parse::<IpAddr>().is_err() {
            return Err(FilesError::InvalidNameserver(server.clone()));
        }
    }
    for domain in search {
        if !is_word(domain) {
            return Err(FilesError::InvalidDnsSearch(domain.clone()));
        }
    }
    for option in options {
        if !is_word(option) {
            return Err(FilesError::InvalidDnsOption(option.clone()));
        }
    }

    let parsed = HostResolvConf::parse(host);
    let mut notes = Vec::new();
    let nameservers: Vec<String> = if dns.is_empty() {
        let mut kept = Vec::new();
        for server in &parsed.nameservers {
            match usable_nameserver(server) {
                Ok(()) => kept.push(server.clone()),
                Err(why) => notes.push(format!("# Dropped the host's nameserver {server}: {why}.")),
            }
        }
        if kept.is_empty() {
            notes.push("# No usable nameserver on the host: using the defaults.".to_string());
            kept = DEFAULT_NAMESERVERS.iter().map(|s| s.to_string()).collect();
        }
        kept
    } else {
        dns.to_vec()
    };

    let search_line = if search.is_empty() {
        parsed.search
    } else {
        let domains: Vec<&str> = search
            .iter()
            .map(String::as_str)
            .filter(|d| *d != ".")
            .collect();
        (!domains.is_empty()).then(|| format!("search {}", domains.join(" ")))
    };
    let options_line = if options.is_empty() {
        (!parsed.options.is_empty()).then(|| format!("options {}", parsed.options.join(" ")))
    } else {
        Some(format!("options {}", options.join(" ")))
    };

    let mut out = String::from("# Generated by berth.\n");
    for note in notes {
        out.push_str(&note);
        out.push('\n');
    }
    out.push('\n');
    for server in nameservers {
        out.push_str("nameserver ");
        out.push_str(&server);
        out.push('\n');
    }
    for line in search_line
        .iter()
        .chain(options_line.iter())
        .chain(&parsed.other)
    {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The directives of the host's resolv.conf that matter here.
struct HostResolvConf {
    nameservers: Vec<String>,
    /// The last `search` or `domain` line (they replace each other, as in
    /// the resolver).
    search: Option<String>,
    /// The words of every `options` line (the resolver accumulates them).
    options: Vec<String>,
    /// Other directives (sortlist, ...), kept as they are.
    other: Vec<String>,
}

impl HostResolvConf {
    fn parse(text: &str) -> HostResolvConf {
        let mut conf = HostResolvConf {
            nameservers: Vec::new(),
            search: None,
            options: Vec::new(),
            other: Vec::new(),
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(server) = words.next() {
                        conf.nameservers.push(server.to_string());
                    }
                }
                Some("search") | Some("domain") => conf.search = Some(line.to_string()),
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => conf.other.push(line.to_string()),
            }
        }
        conf
    }
}

/// Whether a host nameserver can be reached from a container's own network
/// namespace; the reason when not.
fn usable_nameserver(server: &str) -> Result<(), &'static str> {
    if server.contains('%') {
        return Err("scoped to one of the host's interfaces");
    }
    match server.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => Err("a loopback address of the host"),
        Ok(_) => Ok(()),
        Err(_) => Err("not an IP address"),
    }
}

/// A non-empty word that cannot break a resolv.conf line.
fn is_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `HOST:IP` (docker also accepts `HOST=IP`, and an IPv6 address in
/// brackets); IP may be `host-gateway` (kept as is; the caller substitutes).
/// Validates the IP (v4 or v6) and the name; the IP is kept as written.
pub fn parse_extra_host(s: &str) -> Result<HostsEntry, FilesError> {
    // Split on the first ':' only, so `host:::1` is an IPv6 address.
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| FilesError::BadExtraHost(s.to_string()))?;
    // docker's rule plus what would break a hosts file line.
    let bad_name = name.is_empty()
        || name
            .chars()
            .any(|c| c == ':' || c == '#' || c.is_whitespace() || c.is_control());
    if bad_name {
        return Err(FilesError::BadExtraHost(s.to_string()));
    }
    let ip = match ip.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => ip,
    };
    if ip != HOST_GATEWAY && ip.parse::<IpAddr>().is_err() {
        return Err(FilesError::InvalidExtraHostIp(ip.to_string()));
    }
    Ok(HostsEntry {
        ip: ip.to_string(),
        names: vec![name.to_string()],
    })
}

/// Rewrites `path` in place (same inode: it is bind-mounted into running
/// containers): open without O_TRUNC, write, set_len, fsync. Creates it
/// (0644) when missing.
pub fn write_in_place(path: &Path, contents: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.set_len(contents.len() as u64)?;
    file.sync_data()
}

/// docker's link variables for `--link NAME:ALIAS` seen from container
/// `own_name`: ALIAS_PORT=proto://ip:port (the first exposed port),
/// ALIAS_PORT_<p>_<PROTO>=..., _ADDR, _PORT, _PROTO per exposed port,
/// _START, _PORT_START, _END, _PORT_END for runs of consecutive ports,
/// ALIAS_NAME=/own_name/alias, ALIAS_ENV_<k>=<v> for the linked container's
/// env (except HOME, PATH, HOSTNAME), alias upper-cased with non-alphanumerics
/// as '_'. Ports are ordered as docker orders them: tcp before udp, then by
/// number.
pub fn link_env(
    alias: &str,
    own_name: &str,
    ip: Ipv4Addr,
    exposed: &[(u16, Proto)],
    env: &[String],
) -> Vec<String> {
    let prefix: String = alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut ports: Vec<(Proto, u16)> = exposed.iter().map(|&(port, proto)| (proto, port)).collect();
    ports.sort();
    ports.dedup();

    let mut out = Vec::with_capacity(2 + ports.len() * 4 + env.len());
    if let Some(&(proto, port)) = ports.first() {
        out.push(format!("{prefix}_PORT={}://{ip}:{port}", proto.as_str()));
    }
    // Runs of consecutive ports of one protocol also get _START/_END
    // variables, emitted (as docker does) once the run is over.
    let mut run_start = 0;
    for (i, &(proto, port)) in ports.iter().enumerate() {
        let scheme = proto.as_str();
        let var = format!("{prefix}_PORT_{port}_{}", scheme.to_ascii_uppercase());
        out.push(format!("{var}={scheme}://{ip}:{port}"));
        out.push(format!("{var}_ADDR={ip}"));
        out.push(format!("{var}_PORT={port}"));
        out.push(format!("{var}_PROTO={scheme}"));
        let run_goes_on = ports.get(i + 1).is_some_and(|&(next_proto, next_port)| {
            next_proto == proto && u32::from(next_port) == u32::from(port) + 1
        });
        if run_goes_on {
            continue;
        }
        if i > run_start {
            let (start_proto, start) = ports[run_start];
            let scheme = start_proto.as_str();
            let var = format!("{prefix}_PORT_{start}_{}", scheme.to_ascii_uppercase());
            out.push(format!("{var}_START={scheme}://{ip}:{start}"));
            out.push(format!("{var}_PORT_START={start}"));
            out.push(format!("{var}_END={scheme}://{ip}:{port}"));
            out.push(format!("{var}_PORT_END={port}"));
        }
        run_start = i + 1;
    }
    out.push(format!(
        "{prefix}_NAME=/{}/{alias}",
        own_name.trim_start_matches('/')
    ));
    for entry in env {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        // Set by the image build or the runtime: not the linked service's.
        if matches!(key, "HOME" | "PATH" | "HOSTNAME") {
            continue;
        }
        out.push(format!("{prefix}_ENV_{key}={value}"));
    }
    out
}

/// "80", "80/tcp", "53/udp" → (port, proto); error for anything else
/// (port 0, other protocols, ranges). The protocol is case-insensitive.
pub fn parse_port_proto(s: &str) -> Result<(u16, Proto), FilesError> {
    let invalid = |reason: &str| FilesError::InvalidPort {
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let (port, proto) = match s.split_once('/') {
        Some((port, proto)) => {
            let proto: Proto = proto
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| invalid("the protocol must be tcp or udp"))?;
            (port, proto)
        }
        None => (s, Proto::Tcp),
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("a port number is expected"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid("the port must be between 1 and 65535")),
        Ok(port) => Ok((port, proto)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
        fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
        ff02::2\tip6-allrouters\n";

    fn entry(ip: &str, names: &[&str]) -> HostsEntry {
        HostsEntry {
            ip: ip.to_string(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The directive lines of a resolv.conf (comments and blanks dropped).
    fn directives(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn hosts_file_is_dockers_layout() {
        assert_eq!(hosts_file(&[]), HOSTS_HEAD);
        let text = hosts_file(&[
            entry("10.77.0.2", &["0123456789ab", "web"]),
            entry("10.77.0.3", &["db", "db-1"]),
            entry("10.77.0.9", &[]),
            entry("::1", &["six"]),
        ]);
        assert_eq!(
            text,
            format!("{HOSTS_HEAD}10.77.0.2\t0123456789ab web\n10.77.0.3\tdb db-1\n::1\tsix\n")
        );
    }

    #[test]
    fn resolv_conf_keeps_reachable_nameservers_search_and_options() {
        let host = "# from the host\nnameserver 10.0.0.2\nnameserver 127.0.0.53\n\
                    nameserver 2001:db8::53\nsearch example.com corp\noptions ndots:2 edns0\n\
                    sortlist 10.0.0.0/8\n";
        let out = resolv_conf(host, &[], &[], &[]).expect("valid");
        assert!(out.starts_with("# Generated by berth.\n"), "{out}");
        assert!(out.contains("127.0.0.53"), "the drop is noted: {out}");
        assert!(
            !out.contains("from the host"),
            "host comments dropped: {out}"
        );
        assert_eq!(
            directives(&out),
            [
                "nameserver 10.0.0.2",
                "nameserver 2001:db8::53",
                "search example.com corp",
                "options ndots:2 edns0",
                "sortlist 10.0.0.0/8",
            ]
        );
    }

    #[test]
    fn resolv_conf_only_loopback_gives_dockers_defaults() {
        let host = "nameserver 127.0.0.53\nnameserver ::1\nnameserver 127.1.2.3\n\
                    options edns0 trust-ad\nsearch .\n";
        let out = resolv_conf(host, &[], &[], &[]).expect("valid");
        assert_eq!(
            directives(&out),
            [
                "nameserver 8.8.8.8",
                "nameserver 8.8.4.4",
                "search .",
                "options edns0 trust-ad"
            ]
        );
        // An empty host file too.
        let out = resolv_conf("", &[], &[], &[]).expect("valid");
        assert_eq!(
            directives(&out),
            ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
        );
    }

    #[test]
    fn resolv_conf_drops_scoped_and_unparsable_host_nameservers() {
        let host = "nameserver fe80::1%eth0\nnameserver bogus\nnameserver 192.0.2.1\n";
        let out = resolv_conf(host, &[], &[], &[]).expect("valid");
        assert_eq!(directives(&out), ["nameserver 192.0.2.1"]);
    }

    #[test]
    fn resolv_conf_dns_replaces_the_nameservers() {
        let host = "nameserver 10.0.0.2\nsearch example.com\n";
        let dns = strings(&["1.1.1.1", "2606:4700:4700::1111", "127.0.0.1"]);
        let out = resolv_conf(host, &dns, &[], &[]).expect("valid");
        assert_eq!(
            directives(&out),
            [
                "nameserver 1.1.1.1",
                "nameserver 2606:4700:4700::1111",
                "nameserver 127.0.0.1",
                "search example.com",
            ]
        );
    }

    #[test]
    fn resolv_conf_search_and_options_override_the_hosts() {
        let host = "nameserver 10.0.0.2\ndomain corp\noptions ndots:5\noptions rotate\n";
        let out = resolv_conf(
            host,
            &[],
            &strings(&["a.example", "b.example"]),
            &strings(&["ndots:1", "timeout:2"]),
        )
        .expect("valid");
        assert_eq!(
            directives(&out),
            [
                "nameserver 10.0.0.2",
                "search a.example b.example",
                "options ndots:1 timeout:2",
            ]
        );
        // Without overrides the host's last search/domain line and all its
        // options stay.
        let out = resolv_conf(host, &[], &[], &[]).expect("valid");
        assert_eq!(
            directives(&out),
            [
                "nameserver 10.0.0.2",
                "domain corp",
                "options ndots:5 rotate"
            ]
        );
        // `--dns-search .` removes the search line.
        let out = resolv_conf(host, &[], &strings(&["."]), &[]).expect("valid");
        assert_eq!(
            directives(&out),
            ["nameserver 10.0.0.2", "options ndots:5 rotate"]
        );
    }

    #[test]
    fn resolv_conf_refuses_invalid_overrides() {
        for bad in ["dns.example.com", "1.2.3", "", "10.0.0.1 ", "fe80::1%eth0"] {
            let err = resolv_conf("", &strings(&[bad]), &[], &[]).expect_err(bad);
            assert!(matches!(err, FilesError::InvalidNameserver(_)), "{bad}");
            assert!(err.to_string().contains("not an IP address"), "{err}");
        }
        let err = resolv_conf("", &[], &strings(&["a b"]), &[]).expect_err("space");
        assert!(matches!(err, FilesError::InvalidDnsSearch(_)));
        let err = resolv_conf("", &[], &[], &strings(&["ndots:1\nnameserver 1.2.3.4"]))
            .expect_err("newline");
        assert!(matches!(err, FilesError::InvalidDnsOption(_)));
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn extra_hosts_parse_as_docker() {
        assert_eq!(
            parse_extra_host("db:10.0.0.5").expect("v4"),
            entry("10.0.0.5", &["db"])
        );
        assert_eq!(
            parse_extra_host("db=10.0.0.5").expect("="),
            entry("10.0.0.5", &["db"])
        );
        assert_eq!(
            parse_extra_host("six:::1").expect("v6 after the first colon"),
            entry("::1", &["six"])
        );
        assert_eq!(
            parse_extra_host("six=[2001:db8::1]").expect("bracketed"),
            entry("2001:db8::1", &["six"])
        );
        assert_eq!(
            parse_extra_host("six:[2001:db8::1]").expect("bracketed after ':'"),
            entry("2001:db8::1", &["six"])
        );
        assert_eq!(
            parse_extra_host("host.docker.internal:host-gateway").expect("gateway"),
            entry(HOST_GATEWAY, &["host.docker.internal"])
        );
        // The address is kept as written, not canonicalised.
        assert_eq!(
            parse_extra_host("long:0:0:0:0:0:0:0:1").expect("long v6"),
            entry("0:0:0:0:0:0:0:1", &["long"])
        );
    }

    #[test]
    fn extra_hosts_refuse_bad_input() {
        for bad in [
            "db",
            "",
            ":10.0.0.5",
            "=10.0.0.5",
            "a b:10.0.0.5",
            "a\n1.2.3.4 x:1.2.3.4",
        ] {
            let err = parse_extra_host(bad).expect_err(bad);
            assert!(matches!(err, FilesError::BadExtraHost(_)), "{bad}: {err}");
            assert!(err.to_string().starts_with("bad format for add-host: "));
        }
        for bad in [
            "db:",
            "db:10.0.0",
            "db:nothost",
            "db=[]",
            "db:10.0.0.5 ",
            "db:fe80::1%eth0",
        ] {
            let err = parse_extra_host(bad).expect_err(bad);
            assert!(
                matches!(err, FilesError::InvalidExtraHostIp(_)),
                "{bad}: {err}"
            );
            assert!(err
                .to_string()
                .starts_with("invalid IP address in add-host: "));
        }
    }

    #[test]
    fn write_in_place_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hosts");
        write_in_place(&path, "a long first version\n").expect("create");
        let first = std::fs::metadata(&path).expect("stat");
        assert_eq!(first.permissions().mode() & 0o777, 0o644);
        // A reader holding the file open (as a bind mount does) sees the
        // new, shorter contents.
        let held = std::fs::File::open(&path).expect("open");
        write_in_place(&path, "short\n").expect("rewrite");
        let second = std::fs::metadata(&path).expect("stat");
        assert_eq!(first.ino(), second.ino());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "short\n");
        let mut seen = String::new();
        io::Read::read_to_string(&mut &held, &mut seen).expect("read held");
        assert_eq!(seen, "short\n");
    }

    #[test]
    fn link_env_is_dockers() {
        let env = link_env(
            "db",
            "web",
            Ipv4Addr::new(10, 77, 0, 3),
            &[(5432, Proto::Tcp)],
            &strings(&[
                "POSTGRES_PASSWORD=secret",
                "PATH=/usr/bin",
                "HOME=/root",
                "HOSTNAME=abc",
                "EMPTY=",
                "NOEQUALS",
                "URL=a=b",
            ]),
        );
        assert_eq!(
            env,
            [
                "DB_PORT=tcp://10.77.0.3:5432",
                "DB_PORT_5432_TCP=tcp://10.77.0.3:5432",
                "DB_PORT_5432_TCP_ADDR=10.77.0.3",
                "DB_PORT_5432_TCP_PORT=5432",
                "DB_PORT_5432_TCP_PROTO=tcp",
                "DB_NAME=/web/db",
                "DB_ENV_POSTGRES_PASSWORD=secret",
                "DB_ENV_EMPTY=",
                "DB_ENV_URL=a=b",
            ]
        );
    }

    #[test]
    fn link_env_without_ports_and_with_odd_alias() {
        let env = link_env("my-db.1", "/web", Ipv4Addr::new(10, 77, 0, 4), &[], &[]);
        assert_eq!(env, ["MY_DB_1_NAME=/web/my-db.1"]);
    }

    #[test]
    fn link_env_orders_ports_and_names_ranges_as_docker() {
        // docker's own test case (moby daemon/links): 6379-6381/tcp is a
        // range, tcp comes first, DB_PORT is the lowest tcp port.
        let mut env = link_env(
            "docker",
            "db",
            Ipv4Addr::new(172, 0, 17, 2),
            &[
                (6300, Proto::Udp),
                (6381, Proto::Tcp),
                (6379, Proto::Tcp),
                (6382, Proto::Udp),
                (6380, Proto::Tcp),
                (6380, Proto::Tcp),
            ],
            &strings(&["PASSWORD=gordon"]),
        );
        assert_eq!(env[0], "DOCKER_PORT=tcp://172.0.17.2:6379");
        env.sort();
        let ip = "172.0.17.2";
        let mut expected = vec![
            "DOCKER_ENV_PASSWORD=gordon".to_string(),
            "DOCKER_NAME=/db/docker".to_string(),
            format!("DOCKER_PORT=tcp://{ip}:6379"),
        ];
        for (port, proto) in [
            (6300, "udp"),
            (6379, "tcp"),
            (6380, "tcp"),
            (6381, "tcp"),
            (6382, "udp"),
        ] {
            let var = format!("DOCKER_PORT_{port}_{}", proto.to_uppercase());
            expected.push(format!("{var}={proto}://{ip}:{port}"));
            expected.push(format!("{var}_ADDR={ip}"));
            expected.push(format!("{var}_PORT={port}"));
            expected.push(format!("{var}_PROTO={proto}"));
        }
        expected.extend([
            format!("DOCKER_PORT_6379_TCP_START=tcp://{ip}:6379"),
            "DOCKER_PORT_6379_TCP_PORT_START=6379".to_string(),
            format!("DOCKER_PORT_6379_TCP_END=tcp://{ip}:6381"),
            "DOCKER_PORT_6379_TCP_PORT_END=6381".to_string(),
        ]);
        expected.sort();
        assert_eq!(env, expected);
    }

    #[test]
    fn link_env_tcp_before_udp_on_the_same_number() {
        let env = link_env(
            "dns",
            "web",
            Ipv4Addr::new(10, 77, 0, 5),
            &[(53, Proto::Udp), (53, Proto::Tcp)],
            &[],
        );
        assert_eq!(env[0], "DNS_PORT=tcp://10.77.0.5:53");
        assert_eq!(env[1], "DNS_PORT_53_TCP=tcp://10.77.0.5:53");
        assert_eq!(env[5], "DNS_PORT_53_UDP=udp://10.77.0.5:53");
        // Same number, different protocols: no range.
        assert!(!env.iter().any(|v| v.contains("_START")), "{env:?}");
    }

    #[test]
    fn port_proto_parses() {
        assert_eq!(parse_port_proto("80").expect("80"), (80, Proto::Tcp));
        assert_eq!(parse_port_proto("80/tcp").expect("tcp"), (80, Proto::Tcp));
        assert_eq!(parse_port_proto("53/udp").expect("udp"), (53, Proto::Udp));
        assert_eq!(parse_port_proto("53/UDP").expect("UDP"), (53, Proto::Udp));
        assert_eq!(parse_port_proto("65535").expect("max"), (65535, Proto::Tcp));
        for bad in [
            "", "0", "65536", "-1", "+80", "80/", "80/sctp", "/tcp", "http", "80-81", "80/tcp/x",
            " 80", "80 ",
        ] {
            let err = parse_port_proto(bad).expect_err(bad);
            assert!(matches!(err, FilesError::InvalidPort { .. }), "{bad}");
        }
    }
}
