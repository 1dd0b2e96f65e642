//! The container record (`v1/ns/<ns>/containers/<id>`): what `create`
//! decided (the user's config and host config, the image, the snapshot),
//! the container's state, and the task it has while a shim serves it.
//! Also where a container's files live on disk.
//!
//! Image code reads these records as plain JSON: `id`, `image_id` (rmi
//! refuses an image a container uses) and `snapshot_key` (garbage
//! collection keeps the container's snapshot). Keep those names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::resources::Resources;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{ManagerError, Result};
use crate::store::schema;

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
    /// "80/tcp", "53/udp": the image's EXPOSE, --expose and -p's ports.
    pub exposed_ports: Vec<String>,
    pub domainname: String,
}

/// How the container runs (docker's `HostConfig`), as the user asked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConfig {
    pub auto_remove: bool,
    pub network_mode: String,
    pub binds: Vec<String>,
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
    pub links: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// --add-host HOST:IP.
    pub extra_hosts: Vec<String>,
    /// --ip and --network-alias for the network of network_mode (they seed
    /// its endpoint at create).
    pub ipv4_address: String,
    pub network_aliases: Vec<String>,
}

/// One -p binding as the user gave it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    /// Empty for every address.
    pub host_ip: String,
    /// 0: a free port picked at start.
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
}

/// The container's place on one network: what was asked (kept across
/// runs) and, while it runs, what it got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub network_id: String,
    /// The network's name when the endpoint was made (display only).
    pub network_name: String,
    /// --ip: a fixed address; empty picks one.
    pub ipv4_requested: String,
    /// --network-alias / connect --alias.
    pub aliases: Vec<String>,
    /// --link on a user-defined network: more names, docker's
    /// "NAME:ALIAS" form.
    pub links: Vec<String>,
    /// While running: the address, its prefix length, the gateway, the
    /// MAC, the interface inside, the host end of the veth, and an id.
    pub ip: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac: String,
    pub ifname: String,
    pub host_veth: String,
    pub endpoint_id: String,
}

/// A published port while the container runs: where it is on the host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishedPort {
    /// The address it was bound on ("0.0.0.0" for every address).
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
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
}

impl ContainerRecord {
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

impl Engine {
    /// One container record by full id.
    pub fn container_record(&self, ns: &str, id: &str) -> Result<Option<ContainerRecord>> {
        self.store().get(&schema::container_key(ns, id))
    }

    /// Every container record of a namespace.
    pub fn container_records(&self, ns: &str) -> Result<Vec<ContainerRecord>> {
        self.store().scan(&schema::containers_prefix(ns))
    }

    /// Reads, changes and writes one record under the registry's record
    /// lock, so concurrent updates (an exit recorded while a rename runs)
    /// never overwrite each other. NotFound when the record is gone.
    pub fn update_container(
        &self,
        ns: &str,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord) -> Result<()>,
    ) -> Result<ContainerRecord> {
        let _g = self.container_registry().record_lock();
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
