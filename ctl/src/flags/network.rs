//! docker's networking flags of `run`/`create` (`-p`, `--expose`, `--link`,
//! `--dns`, `--dns-search`, `--add-host`, `--ip`), parsed as docker's CLI
//! parses them (go-connections' `nat.ParsePortSpec`, `opts.ValidateLink`,
//! `opts.ValidateExtraHost`...) and with its messages, into what the
//! Containers API carries. berth's networks are IPv4 only, so an IPv6 host
//! address in `-p` is refused here; a host port range for one container
//! port (docker picks one port in it) has no field in the API and is
//! refused too.

use std::net::IpAddr;

use berth_proto::v1::PortBinding;

use super::{invalid, FlagError};
use crate::format::go_quote;

/// docker's name for the gateway of the container's network in `--add-host`.
pub const HOST_GATEWAY: &str = "host-gateway";

/// The transport protocols a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// docker lower-cases the protocol; sctp is docker's but not berth's.
    fn parse(s: &str) -> Result<Proto, FlagError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(FlagError::Unsupported(
                "sctp ports are not supported: berth publishes tcp and udp ports".into(),
            )),
            _ => Err(FlagError::Malformed(format!("invalid proto: {s}"))),
        }
    }
}

/// What `-p` and `--expose` give the container: its exposed ports
/// ("80/tcp", every published container port included, as docker adds
/// them) and its port bindings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ports {
    pub exposed: Vec<String>,
    pub bindings: Vec<PortBinding>,
}

impl Ports {
    fn expose(&mut self, port: u32, proto: &str) {
        let key = format!("{port}/{proto}");
        if !self.exposed.contains(&key) {
            self.exposed.push(key);
        }
    }
}

/// `-p` values then `--expose` values, in order.
pub fn ports(publish: &[String], expose: &[String]) -> Result<Ports, FlagError> {
    let mut out = Ports::default();
    for spec in publish {
        for binding in parse_publish(spec)? {
            out.expose(binding.container_port, &binding.protocol);
            out.bindings.push(binding);
        }
    }
    for spec in expose {
        let (ports, proto) = parse_expose(spec)?;
        for port in ports {
            out.expose(u32::from(port), proto.as_str());
        }
    }
    Ok(out)
}

/// One `-p`: `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]` with port ranges, or
/// docker's long form `published=8080,target=80,protocol=udp`.
pub fn parse_publish(raw: &str) -> Result<Vec<PortBinding>, FlagError> {
    let spec = standard_notation(raw)?;
    let (ip, host_port, container_port) = split_parts(&spec);
    let (proto, container_port) = split_proto_port(container_port);
    let host_ip = host_ip(ip, raw)?;
    if container_port.is_empty() {
        return Err(FlagError::Malformed(format!(
            "no port specified: {spec}<empty>"
        )));
    }
    let (start, end) = parse_port_range(container_port)
        .ok()
        .filter(|(start, _)| *start > 0)
        .ok_or_else(|| FlagError::Malformed(format!("invalid containerPort: {container_port}")))?;
    let host = if host_port.is_empty() {
        None
    } else {
        Some(
            parse_port_range(host_port)
                .map_err(|_| FlagError::Malformed(format!("invalid hostPort: {host_port}")))?,
        )
    };
    if let Some((host_start, host_end)) = host {
        if end - start != host_end - host_start {
            if start != end {
                return Err(FlagError::Malformed(format!(
                    "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
                )));
            }
            return Err(FlagError::Unsupported(format!(
                "a host port range for one container port is not supported: {raw} \
                 (name one host port, or leave it out for a free one)"
            )));
        }
    }
    let proto = Proto::parse(proto)?;
    Ok((start..=end)
        .map(|port| PortBinding {
            host_ip: host_ip.clone(),
            host_port: host.map_or(0, |(host_start, _)| u32::from(host_start + (port - start))),
            container_port: u32::from(port),
            protocol: proto.as_str().to_owned(),
        })
        .collect())
}

/// docker's `convertToStandardNotation`: the long form
/// `published=8080,target=80[,protocol=udp]` as `8080:80/udp`.
fn standard_notation(raw: &str) -> Result<String, FlagError> {
    if !raw.contains('=') {
        return Ok(raw.to_owned());
    }
    let (mut published, mut target, mut protocol) = ("", "", "tcp");
    for param in raw.split(',') {
        match param.split_once('=') {
            Some(("published", v)) => published = v,
            Some(("target", v)) => target = v,
            Some(("protocol", v)) => protocol = v,
            Some((k, _)) if !k.is_empty() => {}
            _ => {
                return Err(FlagError::Malformed(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                )))
            }
        }
    }
    Ok(format!("{published}:{target}/{protocol}"))
}

/// go-connections' `splitParts`: (ip, host port, container port); an IP
/// with colons (IPv6) keeps them.
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    match n {
        1 => ("", "", container),
        2 => ("", parts[0], container),
        3 => (parts[0], parts[1], container),
        // "::1:8080:80" or "[::1]:8080:80": everything before the last two.
        _ => {
            let ip_len = raw.len() - parts[n - 1].len() - parts[n - 2].len() - 2;
            (&raw[..ip_len], parts[n - 2], container)
        }
    }
}

/// go-connections' `SplitProtoPort`: ("tcp", "80") for "80", ("udp", "53")
/// for "53/udp".
fn split_proto_port(raw: &str) -> (&str, &str) {
    let mut parts = raw.split('/');
    let port = parts.next().unwrap_or_default();
    if port.is_empty() {
        return ("", "");
    }
    match parts.next() {
        None | Some("") => ("tcp", port),
        Some(proto) => (proto, port),
    }
}

/// The host address of a `-p`: "" (every address) or an IPv4 address.
fn host_ip(ip: &str, raw: &str) -> Result<String, FlagError> {
    if ip.is_empty() {
        return Ok(String::new());
    }
    let bare = match ip.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(|| {
            FlagError::Malformed(format!("invalid IP address {ip}: missing ']' in address"))
        })?,
        None => ip,
    };
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => Ok(v4.to_string()),
        Ok(IpAddr::V6(_)) => Err(FlagError::Unsupported(format!(
            "cannot publish {raw}: IPv6 host addresses are not supported (berth's networks are IPv4 only)"
        ))),
        Err(_) => Err(FlagError::Malformed(format!("invalid IP address: {bare}"))),
    }
}

/// Go's `strconv.ParseUint(s, 10, 16)` with its error text.
pub fn parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<u16>().map_err(|_| {
        format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// go-connections' `ParsePortRange`: "80" or "8000-8010".
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".to_owned());
    }
    let Some((start, end)) = s.split_once('-') else {
        let port = parse_u16(s)?;
        return Ok((port, port));
    };
    let (start, end) = (parse_u16(start)?, parse_u16(end)?);
    if end < start {
        return Err(format!("invalid range specified for port: {s}"));
    }
    Ok((start, end))
}

/// One `--expose`: `PORT[/PROTO]` or `START-END[/PROTO]`.
fn parse_expose(raw: &str) -> Result<(std::ops::RangeInclusive<u16>, Proto), FlagError> {
    if raw.contains(':') {
        return Err(FlagError::Malformed(format!(
            "invalid port format for --expose: {raw}"
        )));
    }
    let (proto, port) = split_proto_port(raw);
    let (start, end) = parse_port_range(port).map_err(|why| {
        FlagError::Malformed(format!(
            "invalid range format for --expose: {raw}, error: {why}"
        ))
    })?;
    Ok((start..=end, Proto::parse(proto)?))
}

/// `--link NAME[:ALIAS]`, checked as docker's `opts.ValidateLink` does and
/// passed on as given.
pub fn links(values: &[String]) -> Result<Vec<String>, FlagError> {
    for value in values {
        let why = if value.is_empty() {
            "empty string specified for links".to_owned()
        } else if value.split(':').count() > 2 || value.split(':').any(str::is_empty) {
            format!("bad format for links: {value}")
        } else {
            continue;
        };
        return Err(invalid("--link", value, why));
    }
    Ok(values.to_vec())
}

/// `--dns`: IP addresses (v4 or v6), in their canonical form.
pub fn dns(values: &[String]) -> Result<Vec<String>, FlagError> {
    values
        .iter()
        .map(|value| {
            value
                .trim()
                .parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| {
                    invalid(
                        "--dns",
                        value,
                        format!("IP address is not correctly formatted: {value}"),
                    )
                })
        })
        .collect()
}

/// `--dns-search`: domain names (or "." for none), as docker's
/// `opts.ValidateDNSSearch` reads them: a trailing dot is dropped.
pub fn dns_search(values: &[String]) -> Result<Vec<String>, FlagError> {
    values
        .iter()
        .map(|value| {
            let trimmed = value.trim_matches(' ');
            if trimmed == "." {
                return Ok(".".to_owned());
            }
            valid_domain(trimmed).map(str::to_owned).ok_or_else(|| {
                invalid(
                    "--dns-search",
                    value,
                    format!("{value} is not a valid domain"),
                )
            })
        })
        .collect()
}

/// docker's `validateDomain`: dot-separated labels of letters, digits and
/// inner hyphens, at least one letter, shorter than 255; returns the name
/// without a trailing dot.
fn valid_domain(value: &str) -> Option<&str> {
    let name = value.trim_end();
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.bytes().any(|b| b.is_ascii_alphabetic())
        && name.len() < 255
        && name.split('.').all(label_ok))
    .then_some(name)
}

/// `--add-host HOST:IP` (or `HOST=IP`, an IP in brackets), as docker's
/// `opts.ValidateExtraHost`: sent as `HOST:IP`; the IP may be
/// "host-gateway".
pub fn extra_hosts(values: &[String]) -> Result<Vec<String>, FlagError> {
    values.iter().map(|v| extra_host(v)).collect()
}

fn extra_host(value: &str) -> Result<String, FlagError> {
    let split = value.split_once('=').or_else(|| value.split_once(':'));
    let (host, ip) = match split {
        Some((host, ip)) if !host.is_empty() && !host.contains(':') => (host, ip),
        _ => {
            return Err(invalid(
                "--add-host",
                value,
                format!("bad format for add-host: {}", go_quote(value)),
            ))
        }
    };
    if ip == HOST_GATEWAY {
        return Ok(format!("{host}:{ip}"));
    }
    let ip = match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => ip,
    };
    if ip.parse::<IpAddr>().is_err() {
        return Err(invalid(
            "--add-host",
            value,
            format!("invalid IP address in add-host: {}", go_quote(ip)),
        ));
    }
    Ok(format!("{host}:{ip}"))
}

/// `--ip` (of `run`/`create` and `network connect`): an IPv4 address.
pub fn ipv4(flag: &'static str, value: &str) -> Result<String, FlagError> {
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Ok(ip.to_string()),
        Ok(IpAddr::V6(_)) => Err(FlagError::Malformed(format!(
            "invalid IPv4 address: {value}"
        ))),
        Err(_) => Err(invalid(
            flag,
            value,
            format!("failed to parse IP: {}", go_quote(value)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(ip: &str, host: u32, container: u32, proto: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: host,
            container_port: container,
            protocol: proto.into(),
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn publish_forms() {
        let p = |s: &str| parse_publish(s).unwrap();
        assert_eq!(p("80"), [binding("", 0, 80, "tcp")]);
        assert_eq!(p("8080:80"), [binding("", 8080, 80, "tcp")]);
        assert_eq!(p("53:53/udp"), [binding("", 53, 53, "udp")]);
        assert_eq!(p("80/TCP"), [binding("", 0, 80, "tcp")]);
        assert_eq!(p("80/"), [binding("", 0, 80, "tcp")]);
        assert_eq!(
            p("127.0.0.1:8080:80"),
            [binding("127.0.0.1", 8080, 80, "tcp")]
        );
        assert_eq!(p("127.0.0.1::80"), [binding("127.0.0.1", 0, 80, "tcp")]);
        assert_eq!(
            p("8000-8001:80-81"),
            [binding("", 8000, 80, "tcp"), binding("", 8001, 81, "tcp")]
        );
        assert_eq!(
            p("80-82/udp"),
            [
                binding("", 0, 80, "udp"),
                binding("", 0, 81, "udp"),
                binding("", 0, 82, "udp")
            ]
        );
        assert_eq!(
            p("published=8080,target=80"),
            [binding("", 8080, 80, "tcp")]
        );
        assert_eq!(
            p("target=53,published=5353,protocol=udp,mode=host"),
            [binding("", 5353, 53, "udp")]
        );
        assert_eq!(p("target=80"), [binding("", 0, 80, "tcp")]);
    }

    #[test]
    fn publish_errors_read_like_docker() {
        for (spec, want) in [
            ("abc", "invalid containerPort: abc"),
            ("8080:", "no port specified: 8080:<empty>"),
            ("0", "invalid containerPort: 0"),
            ("70000", "invalid containerPort: 70000"),
            ("x:80", "invalid hostPort: x"),
            ("81-80:80-81", "invalid hostPort: 81-80"),
            ("80/sctpx", "invalid proto: sctpx"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("localhost:80:80", "invalid IP address: localhost"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            (
                "published=8080,bad",
                "invalid publish opts format (should be name=value but got 'bad')",
            ),
        ] {
            let err = parse_publish(spec).unwrap_err();
            assert!(matches!(err, FlagError::Malformed(_)), "{spec}: {err:?}");
            assert_eq!(err.to_string(), want, "{spec}");
        }
    }

    #[test]
    fn publish_refuses_what_berth_cannot_do() {
        for (spec, want) in [
            ("[::1]:8080:80", "IPv6 host addresses are not supported"),
            ("::1:8080:80", "IPv6 host addresses are not supported"),
            ("[::]::80", "IPv6 host addresses are not supported"),
            ("80/sctp", "sctp ports are not supported"),
            (
                "8000-8010:80",
                "a host port range for one container port is not supported",
            ),
        ] {
            let err = parse_publish(spec).unwrap_err().to_string();
            assert!(err.contains(want), "{spec}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn exposed_ports_include_published_ones() {
        let out = ports(
            &strings(&["8080:80", "127.0.0.1:53:53/udp", "9090:80"]),
            &strings(&["443", "80/tcp", "6000-6001/udp"]),
        )
        .unwrap();
        assert_eq!(
            out.exposed,
            ["80/tcp", "53/udp", "443/tcp", "6000/udp", "6001/udp"]
        );
        assert_eq!(
            out.bindings,
            [
                binding("", 8080, 80, "tcp"),
                binding("127.0.0.1", 53, 53, "udp"),
                binding("", 9090, 80, "tcp"),
            ]
        );
        assert_eq!(ports(&[], &[]).unwrap(), Ports::default());
    }

    #[test]
    fn expose_errors() {
        for (spec, want) in [
            ("8080:80", "invalid port format for --expose: 8080:80"),
            (
                "abc",
                "invalid range format for --expose: abc, error: strconv.ParseUint: parsing \"abc\": invalid syntax",
            ),
            (
                "81-80",
                "invalid range format for --expose: 81-80, error: invalid range specified for port: 81-80",
            ),
            (
                "",
                "invalid range format for --expose: , error: empty string specified for ports",
            ),
            (
                "70000",
                "invalid range format for --expose: 70000, error: strconv.ParseUint: parsing \"70000\": value out of range",
            ),
            ("80/foo", "invalid proto: foo"),
        ] {
            let err = ports(&[], &strings(&[spec])).unwrap_err().to_string();
            assert_eq!(err, want, "{spec}");
        }
    }

    #[test]
    fn link_values() {
        let ok = strings(&["db", "db:database", "/db:/me/database"]);
        assert_eq!(links(&ok).unwrap(), ok);
        for (bad, want) in [
            ("", "empty string specified for links"),
            ("a:b:c", "bad format for links: a:b:c"),
            ("a:", "bad format for links: a:"),
        ] {
            assert_eq!(
                links(&strings(&[bad])).unwrap_err().to_string(),
                format!("invalid argument \"{bad}\" for \"--link\" flag: {want}")
            );
        }
    }

    #[test]
    fn dns_values() {
        assert_eq!(
            dns(&strings(&[
                "8.8.8.8",
                " 1.1.1.1 ",
                "2001:4860:0:0:0:0:0:8888"
            ]))
            .unwrap(),
            ["8.8.8.8", "1.1.1.1", "2001:4860::8888"]
        );
        assert_eq!(
            dns(&strings(&["dns.google"])).unwrap_err().to_string(),
            "invalid argument \"dns.google\" for \"--dns\" flag: \
             IP address is not correctly formatted: dns.google"
        );
        assert_eq!(
            dns_search(&strings(&[
                "example.com",
                "corp.example.com.",
                ".",
                "a-b.c1"
            ]))
            .unwrap(),
            ["example.com", "corp.example.com", ".", "a-b.c1"]
        );
        for bad in ["-bad.com", "123", "a..b", "exa mple.com", ""] {
            let err = dns_search(&strings(&[bad])).unwrap_err().to_string();
            assert!(
                err.ends_with(&format!("{bad} is not a valid domain")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn extra_host_values() {
        assert_eq!(
            extra_hosts(&strings(&[
                "db:10.0.0.2",
                "gw=host-gateway",
                "gw:host-gateway",
                "v6:::1",
                "v6b=[2001:db8::1]",
            ]))
            .unwrap(),
            [
                "db:10.0.0.2",
                "gw:host-gateway",
                "gw:host-gateway",
                "v6:::1",
                "v6b:2001:db8::1"
            ]
        );
        for (bad, want) in [
            ("nocolon", "bad format for add-host: \"nocolon\""),
            (":1.2.3.4", "bad format for add-host: \":1.2.3.4\""),
            ("db:notanip", "invalid IP address in add-host: \"notanip\""),
            ("db:", "invalid IP address in add-host: \"\""),
        ] {
            assert_eq!(
                extra_hosts(&strings(&[bad])).unwrap_err().to_string(),
                format!("invalid argument \"{bad}\" for \"--add-host\" flag: {want}")
            );
        }
    }

    #[test]
    fn ip_values() {
        assert_eq!(ipv4("--ip", "10.1.2.3").unwrap(), "10.1.2.3");
        assert_eq!(
            ipv4("--ip", "10.1.2").unwrap_err().to_string(),
            "invalid argument \"10.1.2\" for \"--ip\" flag: failed to parse IP: \"10.1.2\""
        );
        assert_eq!(
            ipv4("--ip", "fd00::2").unwrap_err().to_string(),
            "invalid IPv4 address: fd00::2"
        );
    }
}
