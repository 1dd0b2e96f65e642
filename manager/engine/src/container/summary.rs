//! `docker ps`'s view of a container: what each row shows (id, names,
//! image, command, created, status, ports, state, labels, networks and,
//! when asked, sizes), typed and serializable, for any front door.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::record::{ContainerRecord, NetworkMode, State, Status};

/// One port of a container as ps shows it: published (host address and
/// port set) or only exposed (empty address, port 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSummary {
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
    /// Empty for an exposed port.
    pub host_ip: String,
    pub host_port: u16,
}

/// One row of `docker ps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerSummary {
    pub id: String,
    /// Without docker's leading '/'.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    /// The process: path then args.
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
    pub state: State,
    /// Each published port, then each exposed one not published.
    pub ports: Vec<PortSummary>,
    pub labels: BTreeMap<String, String>,
    /// Its networks' names (its mode for host and none).
    pub networks: Vec<String>,
    /// Bytes in the container's own layer (when sizes were asked for).
    pub size_rw: Option<u64>,
    /// Image layers plus `size_rw`.
    pub size_root_fs: Option<u64>,
}

impl ContainerSummary {
    /// The row of a record, with the sizes when they were measured.
    pub fn new(r: ContainerRecord, sizes: Option<(u64, u64)>) -> ContainerSummary {
        let ports = ports(&r);
        let networks = networks(&r);
        ContainerSummary {
            ports,
            networks,
            command: r.command(),
            state: r.state,
            id: r.id,
            name: r.name,
            image: r.config.image,
            image_id: r.image_id,
            created: r.created,
            labels: r.config.labels,
            size_rw: sizes.map(|s| s.0),
            size_root_fs: sizes.map(|s| s.1),
        }
    }

    /// docker's STATUS column (`State.String()`): "Up 3 seconds",
    /// "Exited (0) 2 minutes ago", ...
    pub fn status_text(&self, now: DateTime<Utc>) -> String {
        status_text(&self.state, now)
    }
}

/// ps's ports: each published one, then each exposed one not published.
fn ports(r: &ContainerRecord) -> Vec<PortSummary> {
    let mut v: Vec<PortSummary> = r
        .ports
        .iter()
        .map(|p| PortSummary {
            container_port: p.container_port,
            protocol: p.protocol.to_string(),
            host_ip: p.host_ip.to_string(),
            host_port: p.host_port,
        })
        .collect();
    for e in &r.config.exposed_ports {
        let proto = e.proto.as_str();
        if !v
            .iter()
            .any(|m| m.container_port == e.port && m.protocol == proto)
        {
            v.push(PortSummary {
                container_port: e.port,
                protocol: proto.to_string(),
                host_ip: String::new(),
                host_port: 0,
            });
        }
    }
    v
}

/// The names of the container's networks (its mode for host and none).
fn networks(r: &ContainerRecord) -> Vec<String> {
    match &r.host_config.network_mode {
        m @ (NetworkMode::Host | NetworkMode::None) => vec![m.to_string()],
        NetworkMode::Container(_) => Vec::new(),
        NetworkMode::Bridge(_) => r.endpoints.iter().map(|e| e.network_name.clone()).collect(),
    }
}

/// A recorded time, or None for "never" and anything unreadable.
fn time_of(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.year() > 1)
}

/// docker's `State.String()`.
pub fn status_text(state: &State, now: DateTime<Utc>) -> String {
    let up = || {
        time_of(state.started_at.as_deref())
            .map(|t| format!("Up {}", human_duration(now - t)))
            .unwrap_or_else(|| "Up".to_owned())
    };
    let ago = || time_of(state.finished_at.as_deref()).map(|t| human_duration(now - t));
    match state.status {
        Status::Paused => format!("{} (Paused)", up()),
        Status::Running => up(),
        Status::Restarting => match ago() {
            Some(ago) => format!("Restarting ({}) {ago} ago", state.exit_code),
            None => format!("Restarting ({})", state.exit_code),
        },
        Status::Removing => "Removal In Progress".to_owned(),
        Status::Dead => "Dead".to_owned(),
        Status::Created => "Created".to_owned(),
        Status::Exited => match ago() {
            Some(ago) => format!("Exited ({}) {ago} ago", state.exit_code),
            None => format!("Exited ({})", state.exit_code),
        },
    }
}

/// docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.num_milliseconds() as f64 / 3_600_000.0).round() as i64;
    if hours == 1 {
        "About an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::{Endpoint, PortProto, Proto, PublishedPort};

    #[test]
    fn ports_and_networks() {
        let mut r = ContainerRecord::default();
        r.config.exposed_ports = vec![
            PortProto {
                port: 80,
                proto: Proto::Tcp,
            },
            PortProto {
                port: 53,
                proto: Proto::Udp,
            },
        ];
        r.ports = vec![PublishedPort {
            host_ip: std::net::Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            protocol: Proto::Tcp,
        }];
        r.endpoints = vec![Endpoint {
            network_name: "bridge".into(),
            ..Default::default()
        }];
        let s = ContainerSummary::new(r.clone(), None);
        assert_eq!(
            s.ports,
            [
                PortSummary {
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_ip: "0.0.0.0".into(),
                    host_port: 8080
                },
                PortSummary {
                    container_port: 53,
                    protocol: "udp".into(),
                    host_ip: String::new(),
                    host_port: 0
                },
            ]
        );
        assert_eq!(s.networks, ["bridge"]);
        r.host_config.network_mode = NetworkMode::Host;
        assert_eq!(ContainerSummary::new(r.clone(), None).networks, ["host"]);
        r.host_config.network_mode = NetworkMode::Container("x".into());
        assert!(ContainerSummary::new(r, None).networks.is_empty());
    }

    #[test]
    fn status_texts() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let st = |status, started: &str, finished: &str, code| State {
            status,
            exit_code: code,
            started_at: Some(started.into()),
            finished_at: Some(finished.into()),
            ..Default::default()
        };
        let t0 = "2026-01-01T00:58:00Z";
        assert_eq!(
            status_text(&st(Status::Running, t0, "", 0), now),
            "Up 2 minutes"
        );
        assert_eq!(
            status_text(&st(Status::Paused, t0, "", 0), now),
            "Up 2 minutes (Paused)"
        );
        assert_eq!(
            status_text(&st(Status::Exited, t0, "2026-01-01T00:59:59Z", 3), now),
            "Exited (3) 1 second ago"
        );
        assert_eq!(
            status_text(
                &st(Status::Exited, t0, super::super::record::ZERO_TIME, 0),
                now
            ),
            "Exited (0)"
        );
        assert_eq!(status_text(&State::default(), now), "Created");
        assert_eq!(human_duration(chrono::TimeDelta::hours(50)), "2 days");
    }
}
