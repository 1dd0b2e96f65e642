//! Where a registry's requests go and how: mirrors first (Docker Hub only,
//! like docker), plain HTTP or unverified TLS for insecure registries, extra
//! CAs from `certs_dir/HOST[:PORT]/*.crt` (docker's layout).
//!
//! Insecure: a registry listed in `insecure_registries` (a `host[:port]` or a
//! CIDR its address falls in), or on a loopback address unless `certs_dir`
//! holds a directory for it (then its certificates are verified, which is
//! how a test or a user asks for verification on 127.0.0.1). An insecure
//! registry is tried over HTTPS without verification first and over plain
//! HTTP when that fails, as docker does.

use std::net::IpAddr;
use std::path::Path;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use tracing::{debug, warn};

use super::errors::unreachable;
use crate::config::Config;
use crate::error::{IoContext, ManagerError, Result};

/// Docker Hub's registry name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host oci-client sends Docker Hub's requests to.
const DOCKER_HUB_HOST: &str = "index.docker.io";

/// One place a registry's content can be fetched from.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host[:port]` the requests go to.
    pub host: String,
    /// Set for a mirror: the registry it stands in for.
    pub mirror_of: Option<String>,
    /// Plain HTTP only (a mirror given as `http://`).
    pub plain_http: bool,
    /// Skip certificate verification, and fall back to plain HTTP.
    pub insecure: bool,
    /// Extra CA certificates (PEM) from certs_dir.
    pub ca_certs: Vec<Vec<u8>>,
}

/// A reachable endpoint: the clients to use and the base URL.
pub struct Connection {
    pub endpoint: Endpoint,
    /// `http://host` or `https://host`.
    pub base: String,
    /// The registry client, configured for this endpoint.
    pub oci: oci_client::Client,
    /// A plain HTTP client with the same TLS settings (login, search).
    pub http: reqwest::Client,
}

/// The endpoints of `registry` (a reference's domain), mirrors first.
/// Reads certs_dir: call it off the async runtime.
pub fn endpoints(config: &Config, registry: &str) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    if registry == DOCKER_HUB {
        for m in &config.registry_mirrors {
            let (plain, host) = match (m.strip_prefix("http://"), m.strip_prefix("https://")) {
                (Some(h), _) => (true, h),
                (_, Some(h)) => (false, h),
                _ => (false, m.as_str()),
            };
            let host = host.trim_end_matches('/').to_string();
            if host.is_empty() || host.contains('/') {
                return Err(ManagerError::InvalidArgument(format!(
                    "registry_mirrors: {m:?} is not a URL of the form http(s)://host[:port]"
                )));
            }
            out.push(Endpoint {
                insecure: plain || is_insecure(config, &host),
                ca_certs: ca_certs(&config.certs_dir, &host)?,
                host,
                mirror_of: Some(registry.to_string()),
                plain_http: plain,
            });
        }
    }
    let host = if registry == DOCKER_HUB {
        DOCKER_HUB_HOST
    } else {
        registry
    };
    out.push(Endpoint {
        host: host.to_string(),
        mirror_of: None,
        plain_http: false,
        insecure: is_insecure(config, host),
        ca_certs: ca_certs(&config.certs_dir, host)?,
    });
    Ok(out)
}

/// Whether `host[:port]` may be reached without verified TLS.
fn is_insecure(config: &Config, host: &str) -> bool {
    let bare = strip_port(host);
    for entry in &config.insecure_registries {
        if entry == host || entry == bare {
            return true;
        }
        if let (Some((net, len)), Ok(ip)) = (parse_cidr(entry), bare.parse::<IpAddr>()) {
            if in_cidr(ip, net, len) {
                return true;
            }
        }
    }
    let loopback = bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback && !config.certs_dir.join(host).is_dir()
}

/// `host` of `host:port`, `[v6]:port` or a bare host.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The CA certificates in `certs_dir/host/` (`*.crt`, docker's layout). A
/// client certificate pair is refused rather than silently ignored.
fn ca_certs(certs_dir: &Path, host: &str) -> Result<Vec<Vec<u8>>> {
    let dir = certs_dir.join(host);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ManagerError::io(format!("read {}", dir.display()), e)),
    };
    let mut names: Vec<String> = Vec::new();
    for e in entries {
        let e = e.ctx(|| format!("read {}", dir.display()))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let mut out = Vec::new();
    for n in &names {
        if n.ends_with(".cert") || n.ends_with(".key") {
            return Err(ManagerError::Unimplemented(format!(
                "{}: TLS client certificates are not supported yet; only CA files (*.crt) are",
                dir.join(n).display()
            )));
        }
        if n.ends_with(".crt") {
            let p = dir.join(n);
            out.push(std::fs::read(&p).ctx(|| format!("read {}", p.display()))?);
        }
    }
    debug!(host, cas = out.len(), "registry CA files");
    Ok(out)
}

impl Endpoint {
    /// Builds the clients for this endpoint. An insecure endpoint is probed:
    /// HTTPS (unverified) when it answers, else plain HTTP.
    pub async fn connect(&self, concurrency: usize) -> Result<Connection> {
        if self.plain_http {
            return self.build(false, concurrency);
        }
        let tls = self.build(true, concurrency)?;
        if !self.insecure {
            return Ok(tls);
        }
        match tls.http.get(format!("{}/v2/", tls.base)).send().await {
            Ok(_) => Ok(tls),
            Err(e) => {
                debug!(host = %self.host, error = %e, "HTTPS failed; trying plain HTTP");
                let plain = self.build(false, concurrency)?;
                match plain.http.get(format!("{}/v2/", plain.base)).send().await {
                    Ok(_) => Ok(plain),
                    Err(e2) => Err(unreachable(&self.host, &e2)),
                }
            }
        }
    }

    fn build(&self, tls: bool, concurrency: usize) -> Result<Connection> {
        install_crypto_provider();
        let certs: Vec<Certificate> = self
            .ca_certs
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect();
        let protocol = if tls {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        };
        let skip_verify = tls && self.insecure && self.ca_certs.is_empty();
        let config = ClientConfig {
            protocol,
            accept_invalid_certificates: skip_verify,
            extra_root_certificates: certs,
            use_monolithic_push: true,
            max_concurrent_download: concurrency.max(1),
            max_concurrent_upload: concurrency.max(1),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..Default::default()
        };
        let oci = oci_client::Client::try_from(config).map_err(ManagerError::RegistryClient)?;
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(60))
            .danger_accept_invalid_certs(skip_verify);
        let mut extra = Vec::new();
        for pem in &self.ca_certs {
            match reqwest::Certificate::from_pem(pem) {
                Ok(c) => extra.push(c),
                Err(e) => warn!(host = %self.host, error = %e, "bad CA certificate"),
            }
        }
        if !extra.is_empty() {
            b = b.tls_certs_merge(extra);
        }
        let http = b.build().map_err(ManagerError::HttpClient)?;
        Ok(Connection {
            endpoint: self.clone(),
            base: format!("{}://{}", if tls { "https" } else { "http" }, self.host),
            oci,
            http,
        })
    }
}

/// rustls's process-wide crypto provider: ring (reqwest is built without
/// one, so that aws-lc's C build is not needed).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(insecure: &[&str]) -> Config {
        Config {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            certs_dir: "/nonexistent/certs.d".into(),
            ..Config::default()
        }
    }

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let c = cfg(&["myreg:5000", "10.0.0.0/8", "plain.example"]);
        assert!(is_insecure(&c, "127.0.0.1:5000"));
        assert!(is_insecure(&c, "127.8.9.1"));
        assert!(is_insecure(&c, "localhost:5000"));
        assert!(is_insecure(&c, "[::1]:5000"));
        assert!(is_insecure(&c, "myreg:5000"));
        assert!(!is_insecure(&c, "myreg:5001"));
        assert!(is_insecure(&c, "plain.example:443"));
        assert!(is_insecure(&c, "10.1.2.3:5000"));
        assert!(!is_insecure(&c, "11.1.2.3:5000"));
        assert!(!is_insecure(&c, "registry.example.com"));
    }

    #[test]
    fn a_certs_dir_entry_makes_loopback_verified() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("127.0.0.1:5443")).unwrap();
        std::fs::write(dir.path().join("127.0.0.1:5443/ca.crt"), b"PEM").unwrap();
        let c = Config {
            certs_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        assert!(!is_insecure(&c, "127.0.0.1:5443"));
        assert!(is_insecure(&c, "127.0.0.1:5000"));
        let eps = endpoints(&c, "127.0.0.1:5443").unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].ca_certs, vec![b"PEM".to_vec()]);
        std::fs::write(dir.path().join("127.0.0.1:5443/client.cert"), b"x").unwrap();
        let err = endpoints(&c, "127.0.0.1:5443").unwrap_err().to_string();
        assert!(err.contains("client certificates"), "{err}");
    }

    #[test]
    fn mirrors_come_first_for_docker_hub_only() {
        let c = Config {
            registry_mirrors: vec!["http://127.0.0.1:5000".into(), "https://m.example/".into()],
            certs_dir: "/nonexistent".into(),
            ..Config::default()
        };
        let eps = endpoints(&c, DOCKER_HUB).unwrap();
        let hosts: Vec<&str> = eps.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["127.0.0.1:5000", "m.example", "index.docker.io"]);
        assert!(eps[0].plain_http && !eps[1].plain_http);
        assert_eq!(eps[0].mirror_of.as_deref(), Some(DOCKER_HUB));
        assert_eq!(endpoints(&c, "quay.io").unwrap().len(), 1);
        let bad = Config {
            registry_mirrors: vec!["http://h/path".into()],
            ..c
        };
        assert!(endpoints(&bad, DOCKER_HUB).is_err());
    }
}
