//! Docker-shaped views of networks and docker's `network ls` / `network
//! prune` filters: typed, so every front door shows (and serialises) the
//! same thing.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::{Endpoint, NetworkRecord};
use crate::error::{ManagerError, Result};
use crate::serde_str::as_map;

/// A container connected to a network, for inspect.
#[derive(Clone, Debug)]
pub struct Attached {
    pub namespace: String,
    pub container_id: String,
    pub container_name: String,
    pub running: bool,
    pub endpoint: Endpoint,
}

/// A network with the containers connected to it (running or not): what
/// `network inspect` is made from.
#[derive(Clone, Debug)]
pub struct NetworkDetails {
    pub network: NetworkRecord,
    pub attached: Vec<Attached>,
}

impl NetworkDetails {
    /// docker's inspect object of the network.
    pub fn inspect(&self) -> NetworkInspect {
        NetworkInspect::new(&self.network, &self.attached)
    }
}

/// docker network inspect's object, field for field (names, order and
/// shapes as docker prints them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkInspect {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    /// Always "local".
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: IpamView,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigFromView,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    /// The active endpoints (containers with an address), by container id,
    /// in the order the containers were found; a map in JSON.
    #[serde(rename = "Containers", serialize_with = "as_map")]
    pub containers: Vec<(String, EndpointView)>,
    /// Driver options: `com.docker.network.bridge.name` for a bridge.
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// `IPAM` of [`NetworkInspect`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpamView {
    /// Always "default".
    #[serde(rename = "Driver")]
    pub driver: String,
    /// Always empty.
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    /// One pool for a network with a subnet, none for host and none.
    #[serde(rename = "Config")]
    pub config: Vec<IpamConfigView>,
}

/// One address pool of [`IpamView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpamConfigView {
    #[serde(rename = "Subnet")]
    pub subnet: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
}

/// `ConfigFrom` of [`NetworkInspect`] (always empty: no config networks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigFromView {
    #[serde(rename = "Network")]
    pub network: String,
}

/// One entry of [`NetworkInspect::containers`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointView {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// "ADDRESS/PREFIX".
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Always empty (no IPv6).
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl NetworkInspect {
    /// The inspect object of `n`; `Containers` lists those of `attached`
    /// with an address (running), as docker lists active endpoints.
    pub fn new(n: &NetworkRecord, attached: &[Attached]) -> NetworkInspect {
        let mut containers: Vec<(String, EndpointView)> = Vec::new();
        for a in attached.iter().filter(|a| !a.endpoint.ip.is_empty()) {
            let view = EndpointView {
                name: a.container_name.clone(),
                endpoint_id: a.endpoint.endpoint_id.clone(),
                mac_address: a.endpoint.mac.clone(),
                ipv4_address: format!("{}/{}", a.endpoint.ip, a.endpoint.prefix),
                ipv6_address: String::new(),
            };
            // One entry per id, at its first place, as a JSON object keeps
            // a key.
            match containers.iter_mut().find(|(id, _)| *id == a.container_id) {
                Some((_, v)) => *v = view,
                None => containers.push((a.container_id.clone(), view)),
            }
        }
        let config = if n.subnet.is_empty() {
            Vec::new()
        } else {
            vec![IpamConfigView {
                subnet: n.subnet.clone(),
                gateway: n.gateway.clone(),
            }]
        };
        let mut options = BTreeMap::new();
        if !n.bridge.is_empty() {
            options.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
        }
        NetworkInspect {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.clone(),
            enable_ipv6: false,
            ipam: IpamView {
                driver: "default".into(),
                options: BTreeMap::new(),
                config,
            },
            internal: n.internal,
            attachable: false,
            ingress: false,
            config_from: ConfigFromView::default(),
            config_only: false,
            containers,
            options,
            labels: n.labels.clone(),
        }
    }
}

/// `label=KEY` or `label=KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    /// `None`: the label is set, whatever its value.
    pub value: Option<String>,
}

impl LabelFilter {
    pub(crate) fn parse(v: &str) -> LabelFilter {
        match v.split_once('=') {
            Some((k, v)) => LabelFilter {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => LabelFilter {
                key: v.to_string(),
                value: None,
            },
        }
    }

    /// Whether `labels` has the label (with the value, when one is asked).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.value {
            Some(v) => labels.get(&self.key).is_some_and(|x| x == v),
            None => labels.contains_key(&self.key),
        }
    }
}

/// One term of a [`NetworkFilter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkTerm {
    /// `name=S`: the name contains S.
    Name(String),
    /// `id=P`: the id starts with P.
    Id(String),
    /// `driver=D`: exactly.
    Driver(String),
    Label(LabelFilter),
    /// `type=custom` (false) or `type=builtin` (true): predefined or not.
    Builtin(bool),
    /// `dangling=true|1` (true) or `dangling=false|0` (false): a
    /// user-defined network no container refers to.
    Dangling(bool),
    /// A term docker refuses, with its message. docker checks a term when a
    /// network reaches it, so a term after one that fails is never checked:
    /// kept as it was written, refused when reached.
    Invalid(String),
}

/// docker's `network ls` filters: every term must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkFilter {
    pub terms: Vec<NetworkTerm>,
}

/// Splits `KEY=VALUE` filter strings.
pub(crate) fn split_filters(f: &[String]) -> Result<Vec<(String, String)>> {
    f.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    ManagerError::InvalidArgument(format!(
                        "bad format of filter (expected name=value): {s}"
                    ))
                })
        })
        .collect()
}

impl NetworkTerm {
    fn parse(k: &str, v: String) -> NetworkTerm {
        match k {
            "name" => NetworkTerm::Name(v),
            "id" => NetworkTerm::Id(v),
            "driver" => NetworkTerm::Driver(v),
            "label" => NetworkTerm::Label(LabelFilter::parse(&v)),
            "type" => match v.as_str() {
                "custom" => NetworkTerm::Builtin(false),
                "builtin" => NetworkTerm::Builtin(true),
                _ => NetworkTerm::Invalid(format!("invalid filter: 'type'='{v}'")),
            },
            "dangling" => match v.as_str() {
                "true" | "1" => NetworkTerm::Dangling(true),
                "false" | "0" => NetworkTerm::Dangling(false),
                _ => NetworkTerm::Invalid(format!("invalid filter: 'dangling'='{v}'")),
            },
            other => NetworkTerm::Invalid(format!("invalid filter '{other}'")),
        }
    }

    /// Whether `n` (`used`: some container refers to it) matches.
    fn matches(&self, n: &NetworkRecord, used: bool) -> Result<bool> {
        Ok(match self {
            NetworkTerm::Name(s) => n.name.contains(s.as_str()),
            NetworkTerm::Id(p) => n.id.starts_with(p.as_str()),
            NetworkTerm::Driver(d) => n.driver == *d,
            NetworkTerm::Label(l) => l.matches(&n.labels),
            NetworkTerm::Builtin(b) => n.predefined == *b,
            NetworkTerm::Dangling(true) => !n.predefined && !used,
            NetworkTerm::Dangling(false) => n.predefined || used,
            NetworkTerm::Invalid(msg) => return Err(ManagerError::InvalidArgument(msg.clone())),
        })
    }
}

impl NetworkFilter {
    /// Parses `KEY=VALUE` strings (`--filter` of `network ls`).
    pub fn parse(f: &[String]) -> Result<NetworkFilter> {
        Ok(NetworkFilter {
            terms: split_filters(f)?
                .into_iter()
                .map(|(k, v)| NetworkTerm::parse(&k, v))
                .collect(),
        })
    }

    /// Whether `n` (`used`: some container refers to it) matches every
    /// term; an invalid term is an error once reached.
    pub fn matches(&self, n: &NetworkRecord, used: bool) -> Result<bool> {
        for t in &self.terms {
            if !t.matches(n, used)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// docker's `network prune` filters: labels only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPruneFilter {
    pub labels: Vec<LabelFilter>,
}

impl NetworkPruneFilter {
    /// Parses `KEY=VALUE` strings (`--filter` of `network prune`).
    pub fn parse(f: &[String]) -> Result<NetworkPruneFilter> {
        let pairs = split_filters(f)?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "label") {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid filter '{k}'"
            )));
        }
        Ok(NetworkPruneFilter {
            labels: pairs.iter().map(|(_, v)| LabelFilter::parse(v)).collect(),
        })
    }

    /// Whether `n` carries every label asked for.
    pub fn matches(&self, n: &NetworkRecord) -> bool {
        self.labels.iter().all(|l| l.matches(&n.labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> NetworkRecord {
        NetworkRecord {
            id: "abc123".into(),
            name: "front".into(),
            driver: "bridge".into(),
            created: "2024-01-01T00:00:00Z".into(),
            subnet: "10.1.0.0/24".into(),
            gateway: "10.1.0.1".into(),
            internal: false,
            bridge: "br-abc123".into(),
            labels: [("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
                .into_iter()
                .collect(),
            predefined: false,
        }
    }

    fn attached(id: &str, ip: &str) -> Attached {
        Attached {
            namespace: "default".into(),
            container_id: id.into(),
            container_name: format!("c-{id}"),
            running: false,
            endpoint: Endpoint {
                ip: ip.into(),
                prefix: 24,
                mac: "02:42:0a:01:00:02".into(),
                endpoint_id: format!("ep-{id}"),
                ..Default::default()
            },
        }
    }

    /// The object as the door built it with json! before the view existed.
    fn inspect_json(n: &NetworkRecord, attached: &[Attached]) -> serde_json::Value {
        use serde_json::json;
        let containers: serde_json::Map<String, serde_json::Value> = attached
            .iter()
            .filter(|a| !a.endpoint.ip.is_empty())
            .map(|a| {
                (
                    a.container_id.clone(),
                    json!({
                        "Name": a.container_name,
                        "EndpointID": a.endpoint.endpoint_id,
                        "MacAddress": a.endpoint.mac,
                        "IPv4Address": format!("{}/{}", a.endpoint.ip, a.endpoint.prefix),
                        "IPv6Address": "",
                    }),
                )
            })
            .collect();
        let config: Vec<serde_json::Value> = if n.subnet.is_empty() {
            Vec::new()
        } else {
            vec![json!({"Subnet": n.subnet, "Gateway": n.gateway})]
        };
        let mut options = serde_json::Map::new();
        if !n.bridge.is_empty() {
            options.insert(
                "com.docker.network.bridge.name".into(),
                n.bridge.clone().into(),
            );
        }
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": config},
            "Internal": n.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": n.labels,
        })
    }

    #[test]
    fn inspect_prints_as_the_door_did() {
        let bridge = record();
        let host = NetworkRecord {
            id: "f00".into(),
            name: "host".into(),
            driver: "host".into(),
            predefined: true,
            ..Default::default()
        };
        let att = [
            attached("zz9", "10.1.0.3"),
            attached("aa1", "10.1.0.2"),
            attached("mm5", ""),
        ];
        for (n, a) in [(&bridge, &att[..]), (&host, &[][..]), (&bridge, &[][..])] {
            let want = serde_json::to_string_pretty(&inspect_json(n, a)).unwrap();
            let got = serde_json::to_string_pretty(&NetworkInspect::new(n, a)).unwrap();
            assert_eq!(got, want);
        }
        let v = NetworkInspect::new(&bridge, &att);
        let ids: Vec<&str> = v.containers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(ids, ["zz9", "aa1"], "found order, stopped ones left out");
    }

    fn filter(f: &[&str]) -> Result<NetworkFilter> {
        NetworkFilter::parse(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn ls_filters() {
        let n = record();
        let ok = |f: &[&str], used: bool| filter(f).unwrap().matches(&n, used).unwrap();
        assert!(ok(&[], false));
        assert!(ok(&["name=ron"], false));
        assert!(!ok(&["name=back"], false));
        assert!(ok(&["id=abc"], false) && !ok(&["id=bc"], false));
        assert!(ok(&["driver=bridge"], false) && !ok(&["driver=bri"], false));
        assert!(ok(&["label=a"], false) && ok(&["label=a=1"], false));
        assert!(!ok(&["label=a=2"], false) && !ok(&["label=c"], false));
        assert!(ok(&["type=custom"], false) && !ok(&["type=builtin"], false));
        assert!(ok(&["dangling=true"], false) && ok(&["dangling=1"], false));
        assert!(!ok(&["dangling=true"], true) && ok(&["dangling=0"], true));
        assert!(!ok(&["dangling=false"], false));

        let e = filter(&["name"]).unwrap_err().to_string();
        assert_eq!(e, "bad format of filter (expected name=value): name");
        for (f, msg) in [
            ("type=x", "invalid filter: 'type'='x'"),
            ("dangling=yes", "invalid filter: 'dangling'='yes'"),
            ("color=red", "invalid filter 'color'"),
        ] {
            let e = filter(&[f]).unwrap().matches(&n, false).unwrap_err();
            assert_eq!(e.to_string(), msg);
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
        }
        // A term after one that fails is not reached.
        assert!(!ok(&["name=zzz", "type=x"], false));
    }

    #[test]
    fn prune_filters() {
        let n = record();
        let p = |f: &[&str]| {
            NetworkPruneFilter::parse(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(p(&[]).unwrap().matches(&n));
        assert!(p(&["label=a", "label=b=2"]).unwrap().matches(&n));
        assert!(!p(&["label=b=1"]).unwrap().matches(&n));
        let e = p(&["label=a", "until=1h"]).unwrap_err().to_string();
        assert_eq!(e, "invalid filter 'until'");
        let e = p(&["label"]).unwrap_err().to_string();
        assert_eq!(e, "bad format of filter (expected name=value): label");
    }
}
