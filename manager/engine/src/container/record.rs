//! The container record (`v1/ns/<ns>/containers/<id>`): what `create`
//! decided (the user's config and host config, the image, the snapshot),
//! the container's state, and the task it has while a shim serves it.
//! Also where a container's files live on disk.
//!
//! What the user gave is parsed once, at create (`create::parse_host_config`):
//! the record holds typed values (ports with their [`Proto`], binds, links,
//! --add-host entries, the network mode, addresses) that (de)serialize as
//! docker's flag strings, so records of earlier versions load unchanged.
//!
//! Image code reads these records as plain JSON: `id`, `image_id` (rmi
//! refuses an image a container uses) and `snapshot_key` (garbage
//! collection keeps the container's snapshot). Keep those names.

use crate::core::OnCore;
use crate::events::{Action, Event, Scope};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::mounts::{parse_volume_flag, MountPoint, MountType, VolumeFlag};
use super::resources::Resources;
use super::spec::BindMount;
use crate::config::Config;
use crate::container::Containers;
use crate::error::{ManagerError, Result};
use crate::network::files::{self, HostsEntry, HOST_GATEWAY};
pub use crate::network::firewall::Proto;
pub use crate::network::record::{Endpoint, Link, PublishedPort};
use crate::network::record::{BRIDGE, HOST, NONE};
use crate::serde_str::{opt_ipv4, serde_as_string};
use crate::store::schema;

/// A container port and its protocol, docker's "80/tcp".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortProto {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl FromStr for PortProto {
    type Err = ManagerError;
    /// "80/tcp", "53/udp", or "8080" (tcp), as --expose takes them.
    fn from_str(s: &str) -> Result<PortProto> {
        files::parse_port_proto(s)
            .map(|(port, proto)| PortProto { port, proto })
            .map_err(ManagerError::from)
    }
}

serde_as_string!(PortProto);

/// `--network`, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetworkMode {
    /// A bridge network by name or id, as the user wrote it: "" and
    /// "default" are the default bridge.
    Bridge(String),
    Host,
    None,
    /// Another container's network namespace (its name, id or prefix).
    Container(String),
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Bridge(String::new())
    }
}

impl NetworkMode {
    pub fn parse(s: &str) -> NetworkMode {
        match s {
            HOST => NetworkMode::Host,
            NONE => NetworkMode::None,
            s => match s.strip_prefix("container:") {
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Bridge(s.to_string()),
            },
        }
    }

    /// The network a bridge-mode container joins (by name or id).
    pub fn network(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge(s) if s.is_empty() || s == "default" => Some(BRIDGE),
            NetworkMode::Bridge(s) => Some(s),
            _ => None,
        }
    }

    /// docker's HostConfig.NetworkMode: as given, "bridge" when unset.
    pub fn docker_name(&self) -> String {
        match self {
            NetworkMode::Bridge(s) if s.is_empty() => BRIDGE.to_string(),
            m => m.to_string(),
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge(s) => f.write_str(s),
            NetworkMode::Host => f.write_str(HOST),
            NetworkMode::None => f.write_str(NONE),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
        }
    }
}

impl FromStr for NetworkMode {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<NetworkMode, Self::Err> {
        Ok(NetworkMode::parse(s))
    }
}

serde_as_string!(NetworkMode);

/// The mode of a `-v` bind as given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindMode {
    /// None given (read-write).
    #[default]
    Unset,
    Rw,
    Ro,
}

/// `-v SRC:DST[:MODE]` as given (docker's HostConfig.Binds): SRC is a
/// host path (absolute) or a volume's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub mode: BindMode,
    /// The mode as given ("" when none was).
    pub options: String,
}

impl Bind {
    pub fn read_only(&self) -> bool {
        self.mode == BindMode::Ro
    }

    /// A named volume rather than a host path.
    pub fn is_volume(&self) -> bool {
        !self.source.starts_with('/')
    }

    /// Parses a bind whose host source must exist now (at create).
    pub fn parse_checked(spec: &str) -> Result<Bind> {
        let b: Bind = spec.parse()?;
        if !b.is_volume() && !std::path::Path::new(&b.source).exists() {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                b.source
            )));
        }
        Ok(b)
    }
}

impl From<&Bind> for BindMount {
    fn from(b: &Bind) -> BindMount {
        BindMount {
            source: b.source.clone(),
            destination: b.destination.clone(),
            read_only: b.read_only(),
            propagation: String::new(),
        }
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.destination)?;
        if !self.options.is_empty() {
            write!(f, ":{}", self.options)?;
        }
        Ok(())
    }
}

impl FromStr for Bind {
    type Err = ManagerError;
    /// The syntax only (docker's `-v` rules, [`parse_volume_flag`]); a
    /// lone destination (an anonymous volume) is no bind.
    fn from_str(spec: &str) -> Result<Bind> {
        let VolumeFlag::Mount(m) = parse_volume_flag(spec)? else {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid volume specification: '{spec}': an anonymous volume is no bind"
            )));
        };
        let parts: Vec<&str> = spec.splitn(3, ':').collect();
        let options = parts.get(2).copied().unwrap_or_default().to_string();
        let mode = match (options.is_empty(), m.rw) {
            (true, _) => BindMode::Unset,
            (false, true) => BindMode::Rw,
            (false, false) => BindMode::Ro,
        };
        Ok(Bind {
            source: parts[0].to_string(),
            destination: parts[1].to_string(),
            mode,
            options,
        })
    }
}

serde_as_string!(Bind);

/// Where an `--add-host` name points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostIp {
    /// docker's "host-gateway": the container's gateway.
    Gateway,
    Ip(IpAddr),
}

/// `--add-host HOST:IP` (or `HOST=IP`), kept as given for inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraHost {
    given: String,
    /// The address as written (brackets removed).
    ip_given: String,
    pub name: String,
    pub ip: HostIp,
}

impl ExtraHost {
    /// Its hosts file line; `None` for host-gateway without a gateway.
    pub fn entry(&self, gateway: Option<Ipv4Addr>) -> Option<HostsEntry> {
        let ip = match self.ip {
            HostIp::Gateway => gateway?.to_string(),
            HostIp::Ip(_) => self.ip_given.clone(),
        };
        Some(HostsEntry {
            ip,
            names: vec![self.name.clone()],
        })
    }
}

impl fmt::Display for ExtraHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

impl FromStr for ExtraHost {
    type Err = ManagerError;
    fn from_str(s: &str) -> Result<ExtraHost> {
        let e = files::parse_extra_host(s)?;
        let ip = if e.ip == HOST_GATEWAY {
            HostIp::Gateway
        } else {
            HostIp::Ip(e.ip.parse().map_err(|_| {
                ManagerError::InvalidArgument(format!("invalid IP address in add-host: {:?}", e.ip))
            })?)
        };
        let name = e.names.into_iter().next().unwrap_or_default();
        Ok(ExtraHost {
            given: s.to_string(),
            ip_given: e.ip,
            name,
            ip,
        })
    }
}

serde_as_string!(ExtraHost);

/// docker's zero time, shown for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container's lifecycle status, docker's `State.Status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Parses docker's word (for `ps --filter status=`).
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => return None,
        })
    }
}

/// docker's `State`, as berthd records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The init process's host pid while running.
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub oom_killed: bool,
    /// Why the last start failed, or why berthd marked the container
    /// stopped.
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

impl State {
    /// Whether a task runs (running or paused).
    pub fn running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }

    /// `started_at`, or docker's zero time.
    pub fn started_at_or_zero(&self) -> &str {
        self.started_at.as_deref().unwrap_or(ZERO_TIME)
    }

    /// `finished_at`, or docker's zero time.
    pub fn finished_at_or_zero(&self) -> &str {
        self.finished_at.as_deref().unwrap_or(ZERO_TIME)
    }
}

/// What the container runs (docker's `Config`), as the user asked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    pub cmd: Vec<String>,
    /// `Some` overrides the image's ENTRYPOINT (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    /// Close the container's stdin when an attached client's stdin ends.
    pub stdin_once: bool,
    /// The streams the creating client attached (shown by inspect).
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stop_signal: String,
    /// Seconds `stop` waits; `None` is 10.
    pub stop_timeout: Option<i32>,
    /// The image's EXPOSE, --expose and -p's ports, sorted, without
    /// repeats ("80/tcp" in the JSON).
    pub exposed_ports: Vec<PortProto>,
    pub domainname: String,
    /// Config.Volumes: `-v /path` and the image's VOLUME destinations.
    pub volumes: Vec<String>,
}

/// How the container runs (docker's `HostConfig`), as the user asked,
/// parsed at create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConfig {
    pub auto_remove: bool,
    pub network_mode: NetworkMode,
    pub binds: Vec<Bind>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub resources: Resources,
    pub init: bool,
    /// The runtime name the user gave ("" for the daemon's default).
    pub runtime: String,
    /// 0 uses the daemon's `log_max_size`.
    pub log_max_size: u64,
    /// 0 uses the daemon's `log_max_files`.
    pub log_max_files: u32,
    /// -p, as given (host port 0: any).
    pub port_bindings: Vec<PortBinding>,
    /// -P.
    pub publish_all_ports: bool,
    /// --link NAME[:ALIAS].
    pub links: Vec<Link>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// --add-host HOST:IP.
    pub extra_hosts: Vec<ExtraHost>,
    /// --ip and --network-alias for the network of network_mode (they seed
    /// its endpoint at create).
    #[serde(with = "opt_ipv4")]
    pub ipv4_address: Option<Ipv4Addr>,
    pub network_aliases: Vec<String>,
    /// --mount, parsed (HostConfig.Mounts).
    pub mounts: Vec<MountPoint>,
    /// --tmpfs: destination → mount(8) options.
    pub tmpfs: BTreeMap<String, String>,
    /// --volumes-from, as given.
    pub volumes_from: Vec<String>,
}

/// One -p binding, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    /// `None` ("" in the JSON) for every address.
    #[serde(with = "opt_ipv4")]
    pub host_ip: Option<Ipv4Addr>,
    /// 0: a free port picked at start.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Proto,
}

impl Default for PortBinding {
    fn default() -> Self {
        PortBinding {
            host_ip: None,
            host_port: 0,
            container_port: 0,
            protocol: Proto::Tcp,
        }
    }
}

/// The task a shim serves for the container. Recorded before the shim is
/// started, so a berthd that crashes mid-start finds and cleans it up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// `STATE/tasks/<ns>/<id>`.
    pub bundle: PathBuf,
    /// The shim's socket.
    pub address: PathBuf,
    /// The external runtime binary, empty for the built-in one.
    #[serde(default)]
    pub runtime: String,
}

/// The configuration in effect after the image's defaults were applied
/// (what inspect shows as Config).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Effective {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// One container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex.
    pub id: String,
    /// Unique in the namespace, without docker's leading '/'.
    pub name: String,
    /// The image's id (`sha256:<hex>`).
    pub image_id: String,
    /// The image record's name the container was created from (a full
    /// reference, or the id for an untagged image).
    #[serde(default)]
    pub image_name: String,
    pub snapshotter: String,
    /// The container's active snapshot (its rootfs); the container id.
    pub snapshot_key: String,
    /// RFC 3339.
    pub created: String,
    /// The process the container runs: `path` then `args`.
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub hostname: String,
    /// The signal `stop` sends: the user's, else the image's STOPSIGNAL,
    /// else "" (SIGTERM).
    #[serde(default)]
    pub stop_signal: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    #[serde(default)]
    pub effective: Effective,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub restart_count: u32,
    pub log_path: PathBuf,
    /// Set while a shim serves (or may serve) the container.
    #[serde(default)]
    pub task: Option<TaskRecord>,
    /// Its networks, in interface order (eth0 first); empty for the host,
    /// none and container: modes.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Its published ports while it runs.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
    /// Its binds, volumes and tmpfs mounts (docker's MountPoints), resolved
    /// at create, in the order they are mounted.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
}

/// A host directory or file mounted into the container's filesystem (a
/// bind, or a volume's data): what cp, export and commit must know of the
/// container's mounts beside its rootfs. tmpfs mounts are not listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMount {
    pub source: std::path::PathBuf,
    /// Absolute, inside the container.
    pub destination: String,
    pub read_only: bool,
}

impl ContainerRecord {
    /// The host mounts of the container, in mount order.
    pub fn host_mounts(&self) -> Vec<HostMount> {
        if self.mounts.is_empty() {
            // A record from before mount points were kept: binds only.
            return self
                .host_config
                .binds
                .iter()
                .filter(|b| !b.is_volume())
                .map(|b| HostMount {
                    source: b.source.clone().into(),
                    destination: b.destination.clone(),
                    read_only: b.read_only(),
                })
                .collect();
        }
        self.mounts
            .iter()
            .filter(|m| m.kind != MountType::Tmpfs)
            .map(|m| HostMount {
                source: m.source.clone().into(),
                destination: m.destination.clone(),
                read_only: !m.rw,
            })
            .collect()
    }

    /// The names of the volumes it mounts.
    pub fn volume_names(&self) -> Vec<String> {
        self.mounts
            .iter()
            .filter(|m| m.kind == MountType::Volume)
            .map(|m| m.name.clone())
            .collect()
    }

    /// The first 12 hex of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// The command line ps shows: path and args.
    pub fn command(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.args.len() + 1);
        if !self.path.is_empty() {
            v.push(self.path.clone());
        }
        v.extend(self.args.iter().cloned());
        v
    }

    /// The effective stop timeout in seconds.
    pub fn stop_timeout(&self) -> i32 {
        match self.config.stop_timeout {
            Some(t) if t >= 0 => t,
            _ => 10,
        }
    }
}

/// `ROOT/containers/<ns>/<id>`: the log and the stored spec.
pub fn container_dir(config: &Config, ns: &str, id: &str) -> PathBuf {
    config.root.join("containers").join(ns).join(id)
}

/// `ROOT/containers/<ns>/<id>/<id>-json.log`.
pub fn log_path(config: &Config, ns: &str, id: &str) -> PathBuf {
    container_dir(config, ns, id).join(format!("{id}-json.log"))
}

/// `ROOT/containers/<ns>/<id>/config.json`: the OCI spec built at create.
pub fn spec_path(config: &Config, ns: &str, id: &str) -> PathBuf {
    container_dir(config, ns, id).join("config.json")
}

/// `STATE/tasks/<ns>/<id>`: the bundle a shim runs.
pub fn bundle_dir(config: &Config, ns: &str, id: &str) -> PathBuf {
    config.state.join("tasks").join(ns).join(id)
}

impl Containers {
    /// One container record by full id.
    /// Publishes a container event with docker's attributes (name, image),
    /// read from the record when it still exists.
    pub(crate) fn publish_container(&self, ns: &str, id: &str, action: Action) {
        self.publish_container_rec(ns, id, action, self.container_record(ns, id).ok().flatten());
    }

    /// [`Containers::publish_container`] with the record at hand.
    pub(crate) fn publish_container_rec(
        &self,
        ns: &str,
        id: &str,
        action: Action,
        rec: Option<ContainerRecord>,
    ) {
        let mut ev = Event::new(ns, Scope::Container, action.clone(), id);
        if let Action::Die { exit_code } = action {
            ev = ev.with("exitCode", exit_code.to_string());
        }
        if let Some(r) = rec {
            ev = ev.with("name", r.name).with("image", r.image_name);
        }
        self.publish(ev);
    }

    pub(crate) fn container_record(&self, ns: &str, id: &str) -> Result<Option<ContainerRecord>> {
        self.store().get(&schema::container_key(ns, id))
    }

    /// Every container record of a namespace.
    pub fn container_records(&self, ns: &str) -> Result<Vec<ContainerRecord>> {
        self.store().scan(&schema::containers_prefix(ns))
    }

    /// Reads, changes and writes one record under the registry's record
    /// lock, so concurrent updates (an exit recorded while a rename runs)
    /// never overwrite each other. NotFound when the record is gone.
    pub(crate) fn update_container(
        &self,
        ns: &str,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord) -> Result<()>,
    ) -> Result<ContainerRecord> {
        let _g = self.registry().record_lock();
        let key = schema::container_key(ns, id);
        let mut rec: ContainerRecord = self
            .store()
            .get(&key)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {id}")))?;
        f(&mut rec)?;
        self.store().put(&key, &rec)?;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_json_names() {
        let rec = ContainerRecord {
            id: "a".repeat(64),
            name: "web".into(),
            image_id: format!("sha256:{}", "b".repeat(64)),
            image_name: "docker.io/library/busybox:latest".into(),
            snapshotter: "overlayfs".into(),
            snapshot_key: "a".repeat(64),
            created: "2026-01-01T00:00:00Z".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            hostname: "aaaaaaaaaaaa".into(),
            config: ContainerConfig {
                image: "busybox".into(),
                entrypoint: Some(vec![]),
                stop_timeout: Some(3),
                ..Default::default()
            },
            host_config: HostConfig {
                resources: Resources {
                    memory: Some(64 << 20),
                    ..Default::default()
                },
                ..Default::default()
            },
            state: State {
                status: Status::Exited,
                exit_code: 3,
                ..Default::default()
            },
            task: Some(TaskRecord {
                bundle: "/run/berth/tasks/default/a".into(),
                address: "/run/berth/s/x.sock".into(),
                runtime: String::new(),
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&rec).unwrap();
        // The fields image and GC code read as plain JSON.
        assert_eq!(v["id"], rec.id.as_str());
        assert_eq!(v["image_id"], rec.image_id.as_str());
        assert_eq!(v["snapshot_key"], rec.snapshot_key.as_str());
        assert_eq!(v["state"]["status"], "exited");
        let back: ContainerRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.short_id(), "aaaaaaaaaaaa");
        assert_eq!(back.command(), ["sh", "-c", "true"]);
        assert_eq!(back.stop_timeout(), 3);
    }

    /// A record as the previous version wrote it (flag strings) loads into
    /// the typed fields and is written back in the same shape.
    #[test]
    fn records_of_the_previous_version_load() {
        let old = serde_json::json!({
            "id": "a".repeat(64), "name": "web", "image_id": "sha256:b",
            "snapshotter": "overlayfs", "snapshot_key": "a", "created": "2026-01-01T00:00:00Z",
            "path": "sh", "hostname": "h", "log_path": "/x.log",
            "config": {"image": "busybox", "exposed_ports": ["53/udp", "80/tcp"]},
            "host_config": {
                "network_mode": "mynet",
                "binds": ["/src:/data:ro", "/a:/b"],
                "port_bindings": [{"host_ip": "", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
                                  {"host_ip": "127.0.0.1", "host_port": 0, "container_port": 53, "protocol": "udp"}],
                "links": ["db:data"],
                "extra_hosts": ["h:10.0.0.1", "gw=host-gateway"],
                "ipv4_address": ""
            },
            "endpoints": [{"network_id": "n", "ipv4_requested": "10.1.0.9", "links": ["db:data"]}]
        });
        let rec: ContainerRecord = serde_json::from_value(old.clone()).unwrap();
        let hc = &rec.host_config;
        assert_eq!(hc.network_mode.network(), Some("mynet"));
        assert!(hc.binds[0].read_only() && !hc.binds[1].read_only());
        assert_eq!(hc.port_bindings[1].protocol, Proto::Udp);
        assert_eq!(hc.port_bindings[1].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(hc.links[0].alias, "data");
        assert_eq!(hc.extra_hosts[1].ip, HostIp::Gateway);
        assert_eq!(hc.ipv4_address, None);
        assert_eq!(
            rec.endpoints[0].ipv4_requested,
            Some(Ipv4Addr::new(10, 1, 0, 9))
        );
        assert_eq!(
            rec.config.exposed_ports,
            [
                PortProto {
                    port: 53,
                    proto: Proto::Udp
                },
                PortProto {
                    port: 80,
                    proto: Proto::Tcp
                }
            ]
        );
        let v = serde_json::to_value(&rec).unwrap();
        for (a, b) in [
            ("/config/exposed_ports", "/config/exposed_ports"),
            ("/host_config/network_mode", "/host_config/network_mode"),
            ("/host_config/binds", "/host_config/binds"),
            ("/host_config/port_bindings", "/host_config/port_bindings"),
            ("/host_config/links", "/host_config/links"),
            ("/host_config/extra_hosts", "/host_config/extra_hosts"),
            ("/host_config/ipv4_address", "/host_config/ipv4_address"),
            ("/endpoints/0/ipv4_requested", "/endpoints/0/ipv4_requested"),
            ("/endpoints/0/links", "/endpoints/0/links"),
        ] {
            assert_eq!(v.pointer(a), old.pointer(b), "{a}");
        }
    }

    #[test]
    fn statuses() {
        for s in [
            Status::Created,
            Status::Running,
            Status::Paused,
            Status::Restarting,
            Status::Removing,
            Status::Exited,
            Status::Dead,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(Status::parse("up"), None);
        let st = State::default();
        assert!(!st.running());
        assert_eq!(st.started_at_or_zero(), ZERO_TIME);
    }
}
