//! docker's `inspect` object of a container as typed values: what every
//! front door shows (and serialises) for `container inspect`. Built by
//! [`super::inspect`]; the field order is the JSON's key order.
//!
//! Shapes follow docker: a list docker leaves nil is `null` when empty
//! (`null_if_empty`), a map keyed by port or network is a
//! `Vec<(String, T)>` (order kept, serialised as a JSON object), and a
//! field docker fills only sometimes is an `Option` left out when `None`.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::record::Status;
use crate::serde_str::as_map;

/// docker container inspect's object, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerInspect {
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339.
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Args")]
    pub args: Vec<String>,
    #[serde(rename = "State")]
    pub state: StateView,
    /// The image's id (`sha256:<hex>`).
    #[serde(rename = "Image")]
    pub image: String,
    /// "" for a container that uses another's network namespace (and its
    /// files).
    #[serde(rename = "ResolvConfPath")]
    pub resolv_conf_path: String,
    #[serde(rename = "HostnamePath")]
    pub hostname_path: String,
    #[serde(rename = "HostsPath")]
    pub hosts_path: String,
    #[serde(rename = "LogPath")]
    pub log_path: String,
    /// With docker's leading '/'.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "RestartCount")]
    pub restart_count: u32,
    /// The snapshotter.
    #[serde(rename = "Driver")]
    pub driver: String,
    /// Always "linux".
    #[serde(rename = "Platform")]
    pub platform: String,
    /// Always empty (no SELinux or AppArmor labels).
    #[serde(rename = "MountLabel")]
    pub mount_label: String,
    #[serde(rename = "ProcessLabel")]
    pub process_label: String,
    #[serde(rename = "AppArmorProfile")]
    pub app_armor_profile: String,
    /// The execs running in the container.
    #[serde(rename = "ExecIDs", serialize_with = "null_if_empty")]
    pub exec_ids: Vec<String>,
    #[serde(rename = "HostConfig")]
    pub host_config: HostConfigView,
    #[serde(rename = "GraphDriver")]
    pub graph_driver: GraphDriverView,
    #[serde(rename = "Mounts")]
    pub mounts: Vec<MountView>,
    #[serde(rename = "Config")]
    pub config: ConfigView,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: NetworkSettingsView,
    /// Only when sizes were asked for.
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
}

/// `State` of [`ContainerInspect`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateView {
    #[serde(rename = "Status")]
    pub status: Status,
    /// A task runs (running, paused or restarting).
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "Paused")]
    pub paused: bool,
    #[serde(rename = "Restarting")]
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(rename = "Dead")]
    pub dead: bool,
    /// The init process's host pid, 0 when none runs.
    #[serde(rename = "Pid")]
    pub pid: u32,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Error")]
    pub error: String,
    /// RFC 3339, docker's zero time for never.
    #[serde(rename = "StartedAt")]
    pub started_at: String,
    #[serde(rename = "FinishedAt")]
    pub finished_at: String,
}

/// `HostConfig` of [`ContainerInspect`]: what the user asked, with the
/// log limits and the runtime in effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostConfigView {
    /// `SRC:DST[:MODE]` as given.
    #[serde(rename = "Binds", serialize_with = "null_if_empty")]
    pub binds: Vec<String>,
    /// Always empty.
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    #[serde(rename = "LogConfig")]
    pub log_config: LogConfigView,
    /// As given, "bridge" when unset.
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    /// "80/tcp" → its bindings, in the order given; a map in JSON.
    #[serde(rename = "PortBindings", serialize_with = "as_map")]
    pub port_bindings: Vec<(String, Vec<PortHostView>)>,
    #[serde(rename = "PublishAllPorts")]
    pub publish_all_ports: bool,
    /// docker's "/target:/me/alias".
    #[serde(rename = "Links", serialize_with = "null_if_empty")]
    pub links: Vec<String>,
    #[serde(rename = "Dns")]
    pub dns: Vec<String>,
    #[serde(rename = "DnsSearch")]
    pub dns_search: Vec<String>,
    #[serde(rename = "DnsOptions")]
    pub dns_options: Vec<String>,
    /// `HOST:IP` as given.
    #[serde(rename = "ExtraHosts", serialize_with = "null_if_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(rename = "RestartPolicy")]
    pub restart_policy: RestartPolicyView,
    #[serde(rename = "AutoRemove")]
    pub auto_remove: bool,
    /// `--volumes-from` as given.
    #[serde(rename = "VolumesFrom", serialize_with = "null_if_empty")]
    pub volumes_from: Vec<String>,
    #[serde(rename = "CapAdd", serialize_with = "null_if_empty")]
    pub cap_add: Vec<String>,
    #[serde(rename = "CapDrop", serialize_with = "null_if_empty")]
    pub cap_drop: Vec<String>,
    #[serde(rename = "Privileged")]
    pub privileged: bool,
    #[serde(rename = "ReadonlyRootfs")]
    pub readonly_rootfs: bool,
    #[serde(rename = "SecurityOpt", serialize_with = "null_if_empty")]
    pub security_opt: Vec<String>,
    #[serde(rename = "Init")]
    pub init: bool,
    /// The runtime's name in effect ("berth" for the built-in one).
    #[serde(rename = "Runtime")]
    pub runtime: String,
    /// Always empty.
    #[serde(rename = "CgroupParent")]
    pub cgroup_parent: String,
    /// Bytes, 0 for no limit.
    #[serde(rename = "Memory")]
    pub memory: i64,
    #[serde(rename = "MemorySwap")]
    pub memory_swap: i64,
    #[serde(rename = "NanoCpus")]
    pub nano_cpus: i64,
    #[serde(rename = "CpuShares")]
    pub cpu_shares: u64,
    /// Always 0: a CPU limit shows as NanoCpus.
    #[serde(rename = "CpuPeriod")]
    pub cpu_period: i64,
    #[serde(rename = "CpuQuota")]
    pub cpu_quota: i64,
    #[serde(rename = "CpusetCpus")]
    pub cpuset_cpus: String,
    /// `None` (null) for no limit asked.
    #[serde(rename = "PidsLimit")]
    pub pids_limit: Option<i64>,
    /// `--mount`s, omitted when none (as docker's omitempty).
    #[serde(rename = "Mounts", skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountSpecView>,
    /// `--tmpfs`: destination → options, omitted when none.
    #[serde(rename = "Tmpfs", skip_serializing_if = "BTreeMap::is_empty")]
    pub tmpfs: BTreeMap<String, String>,
}

/// `HostConfig.LogConfig`: always docker's json-file driver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogConfigView {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Config")]
    pub config: JsonFileOptionsView,
}

/// The json-file driver's options in effect, as docker's strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JsonFileOptionsView {
    /// Bytes per file.
    #[serde(rename = "max-size")]
    pub max_size: String,
    #[serde(rename = "max-file")]
    pub max_file: String,
}

/// `HostConfig.RestartPolicy` (always "no": no restart policies yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestartPolicyView {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "MaximumRetryCount")]
    pub maximum_retry_count: i64,
}

/// Where a container port is (or is to be) published on the host: one
/// entry of `HostConfig.PortBindings` and of `NetworkSettings.Ports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortHostView {
    /// "" (asked, every address) or an address.
    #[serde(rename = "HostIp")]
    pub host_ip: String,
    /// "" when any free port was asked for.
    #[serde(rename = "HostPort")]
    pub host_port: String,
}

/// `GraphDriver` of [`ContainerInspect`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GraphDriverView {
    /// The snapshotter.
    #[serde(rename = "Name")]
    pub name: String,
    /// LowerDir, UpperDir, WorkDir in the order of the rootfs mount's
    /// options, then MergedDir; empty for a rootfs that is no overlay. A
    /// map in JSON.
    #[serde(rename = "Data", serialize_with = "as_map")]
    pub data: Vec<(String, String)>,
}

/// One entry of `Mounts`: a bind, a volume or a `--mount type=tmpfs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountView {
    /// "bind", "volume" or "tmpfs".
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The host path: a bind's source, a volume's data directory.
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    /// "local" for volumes.
    #[serde(rename = "Driver", skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// `-v`'s mode as given ("ro", "z", ...).
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Binds: "rprivate" unless given; "" otherwise.
    #[serde(rename = "Propagation")]
    pub propagation: String,
}

/// One entry of `HostConfig.Mounts`: a `--mount` as docker's API has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountSpecView {
    #[serde(rename = "Type")]
    pub kind: String,
    /// A bind's host path or a volume's name ("" for tmpfs and a new
    /// anonymous volume).
    #[serde(rename = "Source", skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(rename = "Target")]
    pub target: String,
    #[serde(rename = "ReadOnly", skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(rename = "BindOptions", skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptionsView>,
    #[serde(rename = "VolumeOptions", skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptionsView>,
    #[serde(rename = "TmpfsOptions", skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptionsView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BindOptionsView {
    #[serde(rename = "Propagation")]
    pub propagation: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeOptionsView {
    #[serde(rename = "NoCopy", skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "DriverConfig", skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfigView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriverConfigView {
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TmpfsOptionsView {
    /// Bytes; 0 (omitted) for the kernel's default.
    #[serde(rename = "SizeBytes", skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The permission bits, as a number (docker's os.FileMode).
    #[serde(rename = "Mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `Config` of [`ContainerInspect`]: the configuration in effect (the
/// image's defaults applied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigView {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Domainname")]
    pub domainname: String,
    /// "80/tcp", each once; `{"80/tcp": {}}` in JSON, null when none.
    #[serde(rename = "ExposedPorts", serialize_with = "port_set")]
    pub exposed_ports: Vec<String>,
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "AttachStdin")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr")]
    pub attach_stderr: bool,
    #[serde(rename = "Tty")]
    pub tty: bool,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce")]
    pub stdin_once: bool,
    #[serde(rename = "Env")]
    pub env: Vec<String>,
    #[serde(rename = "Cmd", serialize_with = "null_if_empty")]
    pub cmd: Vec<String>,
    /// The image as the user named it.
    #[serde(rename = "Image")]
    pub image: String,
    /// The anonymous volumes' destinations (`-v /path`, the image's
    /// VOLUME); `None` (null) when there are none.
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    #[serde(rename = "Entrypoint", serialize_with = "null_if_empty")]
    pub entrypoint: Vec<String>,
    /// Always `None` (null).
    #[serde(rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    /// Only when the user or the image set one.
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds; only when the user set one (not negative).
    #[serde(rename = "StopTimeout", skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i32>,
}

/// docker's `struct{}`: `{}` in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EmptyObject {}

/// `NetworkSettings` of [`ContainerInspect`]: the ports published while
/// it runs, the first network's address at the top, and each network's
/// endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkSettingsView {
    /// Always empty.
    #[serde(rename = "Bridge")]
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// `/proc/<pid>/ns/net` while it runs in its own namespace.
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    /// "80/tcp" → where it is published: the exposed ports first (`None`,
    /// null, until published), then the other published ones; a map in
    /// JSON.
    #[serde(rename = "Ports", serialize_with = "as_map")]
    pub ports: Vec<(String, Option<Vec<PortHostView>>)>,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// Network name → the endpoint, in interface order ("host" or "none"
    /// for those modes); a map in JSON.
    #[serde(rename = "Networks", serialize_with = "as_map")]
    pub networks: Vec<(String, EndpointSettingsView)>,
}

/// One entry of [`NetworkSettingsView::networks`]; the default is the
/// empty entry of the host and none networks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EndpointSettingsView {
    /// The names on a network the container joined; `None` for the host
    /// and none modes, whose entries have no Aliases and Links keys.
    #[serde(flatten)]
    pub names: Option<EndpointNamesView>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
}

/// `Aliases` and `Links` of an [`EndpointSettingsView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointNamesView {
    #[serde(rename = "Aliases", serialize_with = "null_if_empty")]
    pub aliases: Vec<String>,
    /// docker's "NAME:ALIAS".
    #[serde(rename = "Links", serialize_with = "null_if_empty")]
    pub links: Vec<String>,
}

/// A list docker leaves nil when empty: `null`, else the list.
fn null_if_empty<S: Serializer, T: Serialize>(
    v: &[T],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        s.collect_seq(v)
    }
}

/// docker's set of ports (`map[Port]struct{}`), null when empty.
fn port_set<S: Serializer>(ports: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
    if ports.is_empty() {
        s.serialize_none()
    } else {
        s.collect_map(ports.iter().map(|p| (p, EmptyObject {})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let e = EndpointSettingsView::default();
        let mut ns = NetworkSettingsView {
            bridge: String::new(),
            sandbox_id: String::new(),
            sandbox_key: String::new(),
            ports: vec![("81/tcp".into(), None)],
            gateway: String::new(),
            ip_address: String::new(),
            ip_prefix_len: 0,
            mac_address: String::new(),
            networks: vec![("host".into(), e.clone())],
        };
        let v = serde_json::to_value(&ns).unwrap();
        assert_eq!(v["Ports"], json!({"81/tcp": null}));
        let keys: Vec<&String> = v["Networks"]["host"].as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "NetworkID", "no Aliases or Links");
        ns.networks[0].1.names = Some(EndpointNamesView {
            aliases: vec![],
            links: vec!["db:data".into()],
        });
        let v = serde_json::to_value(&ns).unwrap();
        let net = &v["Networks"]["host"];
        assert_eq!(
            (&net["Aliases"], &net["Links"]),
            (&json!(null), &json!(["db:data"]))
        );
        let keys: Vec<&String> = net.as_object().unwrap().keys().collect();
        assert_eq!(keys[..3], ["Aliases", "Links", "NetworkID"]);
        assert_eq!(serde_json::to_string(&EmptyObject {}).unwrap(), "{}");
    }
}
