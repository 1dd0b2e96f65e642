//! `inspect`: one container as docker's inspect object (the fields docker
//! tools read: Id, State, Config, HostConfig, GraphDriver, Mounts, ...),
//! built as a [`ContainerInspect`] from the record. Pure, apart from the
//! engine's lookups.

use super::mounts::{MountPoint, MountType};
use super::record::{bundle_dir, ContainerRecord, NetworkMode, Status};
use super::view::{
    BindOptionsView, ConfigView, ContainerInspect, DriverConfigView, EmptyObject,
    EndpointNamesView, EndpointSettingsView, GraphDriverView, HostConfigView, JsonFileOptionsView,
    LogConfigView, MountSpecView, MountView, NetworkSettingsView, PortHostView, RestartPolicyView,
    StateView, TmpfsOptionsView, VolumeOptionsView,
};
use crate::config::Config;
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};

/// What inspect shows besides the record.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// The snapshotter's mount options of the rootfs (`lowerdir=...`).
    pub rootfs_options: Vec<String>,
    /// (SizeRw, SizeRootFs) when asked for.
    pub sizes: Option<(u64, u64)>,
    /// The execs running in the container.
    pub exec_ids: Vec<String>,
}

/// The value under `key`, added last when missing: as a JSON object keeps
/// a key at its first place.
fn entry<T>(entries: &mut Vec<(String, T)>, key: String, new: impl FnOnce() -> T) -> &mut T {
    let i = match entries.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            entries.push((key, new()));
            entries.len() - 1
        }
    };
    &mut entries[i].1
}

/// Sets `key` to `value`, at the key's first place when it is there.
fn insert<T>(entries: &mut Vec<(String, T)>, key: String, value: T) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v = value,
        None => entries.push((key, value)),
    }
}

/// docker's GraphDriver.Data for an overlay rootfs.
fn graph_driver_data(opts: &[String], merged: &str) -> Vec<(String, String)> {
    let mut data = Vec::new();
    for o in opts {
        for (key, name) in [
            ("lowerdir=", "LowerDir"),
            ("upperdir=", "UpperDir"),
            ("workdir=", "WorkDir"),
        ] {
            if let Some(v) = o.strip_prefix(key) {
                insert(&mut data, name.into(), v.into());
            }
        }
    }
    if !data.is_empty() {
        insert(&mut data, "MergedDir".into(), merged.into());
    }
    data
}

/// docker's Mounts: every mount point in mount order (binds only for a
/// record from before mount points were kept).
fn mounts(r: &ContainerRecord) -> Vec<MountView> {
    if r.mounts.is_empty() {
        return r
            .host_config
            .binds
            .iter()
            .map(|b| {
                // Checked at create; a source removed since is still shown.
                let ro = b.read_only();
                MountView {
                    kind: "bind".into(),
                    name: String::new(),
                    source: b.source.clone(),
                    destination: b.destination.clone(),
                    driver: String::new(),
                    mode: if ro { "ro" } else { "" }.into(),
                    rw: !ro,
                    propagation: "rprivate".into(),
                }
            })
            .collect();
    }
    r.mounts
        .iter()
        .map(|m| MountView {
            kind: m.kind.as_str().into(),
            name: m.name.clone(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            driver: m.driver.clone(),
            mode: m.mode.clone(),
            rw: m.rw,
            propagation: m.propagation.clone(),
        })
        .collect()
}

/// HostConfig.Mounts: the `--mount`s as docker's API spells them.
fn mount_specs(r: &ContainerRecord) -> Vec<MountSpecView> {
    r.host_config.mounts.iter().map(mount_spec).collect()
}

fn mount_spec(m: &MountPoint) -> MountSpecView {
    let source = match m.kind {
        MountType::Volume => m.name.clone(),
        _ => m.source.clone(),
    };
    let bind_options =
        (m.kind == MountType::Bind && m.propagation != "rprivate").then(|| BindOptionsView {
            propagation: m.propagation.clone(),
        });
    let volume_options = (m.kind == MountType::Volume
        && (!m.copy_data || !m.volume_labels.is_empty() || !m.volume_options.is_empty()))
    .then(|| VolumeOptionsView {
        no_copy: !m.copy_data,
        labels: m.volume_labels.clone(),
        driver_config: (!m.volume_options.is_empty()).then(|| DriverConfigView {
            name: String::new(),
            options: m.volume_options.clone(),
        }),
    });
    let tmpfs_options = (m.kind == MountType::Tmpfs && !m.tmpfs_options.is_empty())
        .then(|| tmpfs_options(&m.tmpfs_options));
    MountSpecView {
        kind: m.kind.as_str().into(),
        source,
        target: m.destination.clone(),
        read_only: !m.rw,
        bind_options,
        volume_options,
        tmpfs_options,
    }
}

/// `size=BYTES` and `mode=OCTAL`, as the parser wrote them.
fn tmpfs_options(opts: &[String]) -> TmpfsOptionsView {
    let get = |key: &str| {
        opts.iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    };
    TmpfsOptionsView {
        size_bytes: get("size").and_then(|v| v.parse().ok()),
        mode: get("mode").and_then(|v| u32::from_str_radix(v, 8).ok()),
    }
}

/// Where berthd keeps the container's /etc files ("" for a container that
/// uses another's).
fn etc_path(r: &ContainerRecord, ns: &str, cfg: &Config, name: &str) -> String {
    if matches!(r.host_config.network_mode, NetworkMode::Container(_)) {
        return String::new();
    }
    crate::container::record::container_dir(cfg, ns, &r.id)
        .join(name)
        .display()
        .to_string()
}

/// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}.
fn port_bindings(r: &ContainerRecord) -> Vec<(String, Vec<PortHostView>)> {
    let mut m = Vec::new();
    for b in &r.host_config.port_bindings {
        let key = format!("{}/{}", b.container_port, b.protocol);
        entry(&mut m, key, Vec::new).push(PortHostView {
            host_ip: b.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            host_port: if b.host_port == 0 {
                String::new()
            } else {
                b.host_port.to_string()
            },
        });
    }
    m
}

/// HostConfig.Links, docker's "/target:/me/alias".
fn links(r: &ContainerRecord) -> Vec<String> {
    r.host_config
        .links
        .iter()
        .map(|l| format!("/{}:/{}/{}", l.name, r.name, l.alias))
        .collect()
}

/// Config.ExposedPorts: "80/tcp", each once.
fn exposed(r: &ContainerRecord) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in &r.config.exposed_ports {
        let p = p.to_string();
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// NetworkSettings: ports published while it runs (exposed ones null),
/// the first network's address at the top, and each network's endpoint.
fn network_settings(r: &ContainerRecord) -> NetworkSettingsView {
    let mut ports = Vec::new();
    for p in &r.config.exposed_ports {
        insert(&mut ports, p.to_string(), None);
    }
    for p in &r.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        entry(&mut ports, key, || None)
            .get_or_insert_with(Vec::new)
            .push(PortHostView {
                host_ip: p.host_ip.to_string(),
                host_port: p.host_port.to_string(),
            });
    }
    let mut networks = Vec::new();
    for e in &r.endpoints {
        let names = EndpointNamesView {
            aliases: e.aliases.clone(),
            links: e.links.iter().map(|l| l.to_string()).collect(),
        };
        let settings = EndpointSettingsView {
            names: Some(names),
            network_id: e.network_id.clone(),
            endpoint_id: e.endpoint_id.clone(),
            gateway: e.gateway.clone(),
            ip_address: e.ip.clone(),
            ip_prefix_len: e.prefix,
            mac_address: e.mac.clone(),
        };
        insert(&mut networks, e.network_name.clone(), settings);
    }
    let mode = &r.host_config.network_mode;
    if matches!(mode, NetworkMode::Host | NetworkMode::None) {
        let settings = EndpointSettingsView::default();
        insert(&mut networks, mode.to_string(), settings);
    }
    let first = r.endpoints.iter().find(|e| !e.ip.is_empty());
    NetworkSettingsView {
        bridge: String::new(),
        sandbox_id: String::new(),
        sandbox_key: if r.state.pid > 0 && *mode != NetworkMode::Host {
            format!("/proc/{}/ns/net", r.state.pid)
        } else {
            String::new()
        },
        ports,
        gateway: first.map(|e| e.gateway.clone()).unwrap_or_default(),
        ip_address: first.map(|e| e.ip.clone()).unwrap_or_default(),
        ip_prefix_len: first.map(|e| e.prefix).unwrap_or(0),
        mac_address: first.map(|e| e.mac.clone()).unwrap_or_default(),
        networks,
    }
}

/// HostConfig: what the user asked, the log limits in effect.
fn host_config(r: &ContainerRecord, cfg: &Config) -> HostConfigView {
    let hc = &r.host_config;
    let res = &hc.resources;
    let log_max_size = if hc.log_max_size > 0 {
        hc.log_max_size
    } else {
        cfg.log_max_size
    };
    let log_max_files = if hc.log_max_files > 0 {
        hc.log_max_files
    } else {
        cfg.log_max_files
    };
    let runtime = if !hc.runtime.is_empty() {
        hc.runtime.clone()
    } else if !cfg.default_runtime.is_empty() {
        cfg.default_runtime.clone()
    } else {
        "berth".into()
    };
    HostConfigView {
        binds: hc.binds.iter().map(ToString::to_string).collect(),
        container_id_file: String::new(),
        log_config: LogConfigView {
            kind: "json-file".into(),
            config: JsonFileOptionsView {
                max_size: log_max_size.to_string(),
                max_file: log_max_files.to_string(),
            },
        },
        network_mode: hc.network_mode.docker_name(),
        port_bindings: port_bindings(r),
        publish_all_ports: hc.publish_all_ports,
        links: links(r),
        dns: hc.dns.clone(),
        dns_search: hc.dns_search.clone(),
        dns_options: hc.dns_options.clone(),
        extra_hosts: hc.extra_hosts.iter().map(ToString::to_string).collect(),
        restart_policy: RestartPolicyView {
            name: "no".into(),
            maximum_retry_count: 0,
        },
        auto_remove: hc.auto_remove,
        volumes_from: hc.volumes_from.clone(),
        cap_add: hc.cap_add.clone(),
        cap_drop: hc.cap_drop.clone(),
        privileged: hc.privileged,
        readonly_rootfs: hc.read_only,
        security_opt: hc.security_opt.clone(),
        init: hc.init,
        runtime,
        cgroup_parent: String::new(),
        memory: res.memory.unwrap_or(0),
        memory_swap: res.memory_swap.unwrap_or(0),
        nano_cpus: res.nano_cpus(),
        cpu_shares: res.cpu_shares.unwrap_or(0),
        cpu_period: 0,
        cpu_quota: 0,
        cpuset_cpus: res.cpuset_cpus.clone().unwrap_or_default(),
        pids_limit: res.pids_limit,
        mounts: mount_specs(r),
        tmpfs: hc.tmpfs.clone(),
    }
}

/// Config: the configuration in effect.
fn config(r: &ContainerRecord) -> ConfigView {
    ConfigView {
        hostname: r.hostname.clone(),
        domainname: r.config.domainname.clone(),
        exposed_ports: exposed(r),
        user: r.effective.user.clone(),
        attach_stdin: r.config.attach_stdin,
        attach_stdout: r.config.attach_stdout,
        attach_stderr: r.config.attach_stderr,
        tty: r.config.tty,
        open_stdin: r.config.open_stdin,
        stdin_once: r.config.stdin_once,
        env: r.effective.env.clone(),
        cmd: r.effective.cmd.clone(),
        image: r.config.image.clone(),
        volumes: (!r.config.volumes.is_empty()).then(|| {
            r.config
                .volumes
                .iter()
                .map(|v| (v.clone(), EmptyObject {}))
                .collect()
        }),
        working_dir: r.effective.working_dir.clone(),
        entrypoint: r.effective.entrypoint.clone(),
        on_build: None,
        labels: r.config.labels.clone(),
        stop_signal: Some(r.stop_signal.clone()).filter(|s| !s.is_empty()),
        stop_timeout: r.config.stop_timeout.filter(|t| *t >= 0),
    }
}

/// State.
fn state(st: &super::record::State) -> StateView {
    StateView {
        status: st.status,
        running: st.running(),
        paused: st.status == Status::Paused,
        restarting: st.status == Status::Restarting,
        oom_killed: st.oom_killed,
        dead: st.status == Status::Dead,
        pid: st.pid,
        exit_code: st.exit_code,
        error: st.error.clone(),
        started_at: st.started_at_or_zero().to_string(),
        finished_at: st.finished_at_or_zero().to_string(),
    }
}

/// docker's inspect object for a container.
pub fn inspect_view(
    r: &ContainerRecord,
    ns: &str,
    cfg: &Config,
    extra: &Extra,
) -> ContainerInspect {
    let merged = bundle_dir(cfg, ns, &r.id).join("rootfs");
    ContainerInspect {
        id: r.id.clone(),
        created: r.created.clone(),
        path: r.path.clone(),
        args: r.args.clone(),
        state: state(&r.state),
        image: r.image_id.clone(),
        resolv_conf_path: etc_path(r, ns, cfg, "resolv.conf"),
        hostname_path: etc_path(r, ns, cfg, "hostname"),
        hosts_path: etc_path(r, ns, cfg, "hosts"),
        log_path: r.log_path.display().to_string(),
        name: format!("/{}", r.name),
        restart_count: r.restart_count,
        driver: r.snapshotter.clone(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: extra.exec_ids.clone(),
        host_config: host_config(r, cfg),
        graph_driver: GraphDriverView {
            name: r.snapshotter.clone(),
            data: graph_driver_data(&extra.rootfs_options, &merged.display().to_string()),
        },
        mounts: mounts(r),
        config: config(r),
        network_settings: network_settings(r),
        size_rw: extra.sizes.map(|(rw, _)| rw),
        size_root_fs: extra.sizes.map(|(_, root)| root),
    }
}

impl Containers {
    /// docker inspect's object for one container.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn inspect_container(
        &self,
        ns: &str,
        s: &str,
        size: bool,
    ) -> Result<ContainerInspect> {
        let rec = self.lookup_container(ns, s)?;
        let exec_ids = self.registry().handle(ns, &rec.id).execs();
        let engine = self.clone();
        let ns = ns.to_string();
        tokio::task::spawn_blocking(move || {
            let extra = Extra {
                exec_ids,
                rootfs_options: engine
                    .snapshotter()
                    .mounts(&rec.snapshot_key)
                    .ok()
                    .and_then(|m| m.into_iter().next())
                    .map(|m| m.options)
                    .unwrap_or_default(),
                sizes: size.then(|| engine.container_sizes(&ns, &rec)),
            };
            inspect_view(&rec, &ns, engine.config(), &extra)
        })
        .await
        .map_err(ManagerError::Worker)
    }
}

/// The inspect object as the engine built it with `json!` before
/// [`ContainerInspect`] existed: what the view must print byte for byte.
#[cfg(test)]
mod reference {
    use serde_json::{json, Value};

    use super::Extra;
    use crate::config::Config;
    use crate::container::record::{bundle_dir, ContainerRecord, NetworkMode, Status};

    fn or_null<T: serde::Serialize>(v: &[T]) -> Value {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    }

    /// docker's GraphDriver.Data for an overlay rootfs.
    fn graph_driver_data(opts: &[String], merged: &str) -> Value {
        let mut data = serde_json::Map::new();
        for o in opts {
            for (key, name) in [
                ("lowerdir=", "LowerDir"),
                ("upperdir=", "UpperDir"),
                ("workdir=", "WorkDir"),
            ] {
                if let Some(v) = o.strip_prefix(key) {
                    data.insert(name.into(), v.into());
                }
            }
        }
        if !data.is_empty() {
            data.insert("MergedDir".into(), merged.into());
        }
        Value::Object(data)
    }

    /// The bind mounts as docker's Mounts entries.
    fn mounts(r: &ContainerRecord) -> Value {
        let v: Vec<Value> = r
            .host_config
            .binds
            .iter()
            .map(|b| {
                // Checked at create; a source removed since is still shown.
                let ro = b.read_only();
                json!({
                    "Type": "bind",
                    "Source": b.source,
                    "Destination": b.destination,
                    "Mode": if ro { "ro" } else { "" },
                    "RW": !ro,
                    "Propagation": "rprivate",
                })
            })
            .collect();
        json!(v)
    }

    /// Where berthd keeps the container's /etc files ("" for a container that
    /// uses another's).
    fn etc_path(r: &ContainerRecord, ns: &str, cfg: &Config, name: &str) -> String {
        if matches!(r.host_config.network_mode, NetworkMode::Container(_)) {
            return String::new();
        }
        crate::container::record::container_dir(cfg, ns, &r.id)
            .join(name)
            .display()
            .to_string()
    }

    /// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}.
    fn port_bindings(r: &ContainerRecord) -> Value {
        let mut m = serde_json::Map::new();
        for b in &r.host_config.port_bindings {
            let key = format!("{}/{}", b.container_port, b.protocol);
            let entry = m.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({
                "HostIp": b.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "HostPort": if b.host_port == 0 { String::new() } else { b.host_port.to_string() },
            }));
            }
        }
        Value::Object(m)
    }

    /// HostConfig.Links, docker's "/target:/me/alias".
    fn links(r: &ContainerRecord) -> Value {
        let v: Vec<String> = r
            .host_config
            .links
            .iter()
            .map(|l| format!("/{}:/{}/{}", l.name, r.name, l.alias))
            .collect();
        or_null(&v)
    }

    /// Config.ExposedPorts: {"80/tcp": {}}.
    fn exposed(r: &ContainerRecord) -> Value {
        if r.config.exposed_ports.is_empty() {
            return Value::Null;
        }
        Value::Object(
            r.config
                .exposed_ports
                .iter()
                .map(|p| (p.to_string(), json!({})))
                .collect(),
        )
    }

    /// NetworkSettings: ports published while it runs (exposed ones null),
    /// the first network's address at the top, and each network's endpoint.
    fn network_settings(r: &ContainerRecord) -> Value {
        let mut ports = serde_json::Map::new();
        for p in &r.config.exposed_ports {
            ports.insert(p.to_string(), Value::Null);
        }
        for p in &r.ports {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let entry = ports.entry(key).or_insert(Value::Null);
            if entry.is_null() {
                *entry = json!([]);
            }
            if let Some(a) = entry.as_array_mut() {
                a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
            }
        }
        let mut networks = serde_json::Map::new();
        for e in &r.endpoints {
            networks.insert(
                e.network_name.clone(),
                json!({
                    "Aliases": or_null(&e.aliases),
                    "Links": or_null(&e.links),
                    "NetworkID": e.network_id,
                    "EndpointID": e.endpoint_id,
                    "Gateway": e.gateway,
                    "IPAddress": e.ip,
                    "IPPrefixLen": e.prefix,
                    "MacAddress": e.mac,
                }),
            );
        }
        let mode = &r.host_config.network_mode;
        if matches!(mode, NetworkMode::Host | NetworkMode::None) {
            networks.insert(
                mode.to_string(),
                json!({
                    "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                    "IPPrefixLen": 0, "MacAddress": "",
                }),
            );
        }
        let first = r.endpoints.iter().find(|e| !e.ip.is_empty());
        json!({
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": if r.state.pid > 0 && *mode != NetworkMode::Host {
                format!("/proc/{}/ns/net", r.state.pid)
            } else {
                String::new()
            },
            "Ports": ports,
            "Gateway": first.map(|e| e.gateway.as_str()).unwrap_or(""),
            "IPAddress": first.map(|e| e.ip.as_str()).unwrap_or(""),
            "IPPrefixLen": first.map(|e| e.prefix).unwrap_or(0),
            "MacAddress": first.map(|e| e.mac.as_str()).unwrap_or(""),
            "Networks": networks,
        })
    }

    /// HostConfig: what the user asked, the log limits in effect.
    fn host_config_json(r: &ContainerRecord, cfg: &Config) -> Value {
        let hc = &r.host_config;
        let res = &hc.resources;
        let log_max_size = if hc.log_max_size > 0 {
            hc.log_max_size
        } else {
            cfg.log_max_size
        };
        let log_max_files = if hc.log_max_files > 0 {
            hc.log_max_files
        } else {
            cfg.log_max_files
        };
        json!({
            "Binds": or_null(&hc.binds),
            "ContainerIDFile": "",
            "LogConfig": {
                "Type": "json-file",
                "Config": {
                    "max-size": log_max_size.to_string(),
                    "max-file": log_max_files.to_string(),
                },
            },
            "NetworkMode": hc.network_mode.docker_name(),
            "PortBindings": port_bindings(r),
            "PublishAllPorts": hc.publish_all_ports,
            "Links": links(r),
            "Dns": hc.dns,
            "DnsSearch": hc.dns_search,
            "DnsOptions": hc.dns_options,
            "ExtraHosts": or_null(&hc.extra_hosts),
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": hc.auto_remove,
            "VolumesFrom": or_null(&hc.volumes_from),
            "CapAdd": or_null(&hc.cap_add),
            "CapDrop": or_null(&hc.cap_drop),
            "Privileged": hc.privileged,
            "ReadonlyRootfs": hc.read_only,
            "SecurityOpt": or_null(&hc.security_opt),
            "Init": hc.init,
            "Runtime": if hc.runtime.is_empty() {
                if cfg.default_runtime.is_empty() { "berth" } else { cfg.default_runtime.as_str() }
            } else {
                hc.runtime.as_str()
            },
            "CgroupParent": "",
            "Memory": res.memory.unwrap_or(0),
            "MemorySwap": res.memory_swap.unwrap_or(0),
            "NanoCpus": res.nano_cpus(),
            "CpuShares": res.cpu_shares.unwrap_or(0),
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpusetCpus": res.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": res.pids_limit,
        })
    }

    /// Config: the configuration in effect.
    fn config_json(r: &ContainerRecord) -> Value {
        json!({
            "Hostname": r.hostname,
            "Domainname": r.config.domainname,
            "ExposedPorts": exposed(r),
            "User": r.effective.user,
            "AttachStdin": r.config.attach_stdin,
            "AttachStdout": r.config.attach_stdout,
            "AttachStderr": r.config.attach_stderr,
            "Tty": r.config.tty,
            "OpenStdin": r.config.open_stdin,
            "StdinOnce": r.config.stdin_once,
            "Env": r.effective.env,
            "Cmd": or_null(&r.effective.cmd),
            "Image": r.config.image,
            "Volumes": Value::Null,
            "WorkingDir": r.effective.working_dir,
            "Entrypoint": or_null(&r.effective.entrypoint),
            "OnBuild": Value::Null,
            "Labels": r.config.labels,
        })
    }

    /// State.
    fn state_json(st: &crate::container::record::State) -> Value {
        json!({
            "Status": st.status.as_str(),
            "Running": st.running(),
            "Paused": st.status == Status::Paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at_or_zero(),
            "FinishedAt": st.finished_at_or_zero(),
        })
    }

    /// docker's inspect object for a container.
    pub fn inspect_json(r: &ContainerRecord, ns: &str, cfg: &Config, extra: &Extra) -> Value {
        let st = &r.state;
        let merged = bundle_dir(cfg, ns, &r.id).join("rootfs");
        let host_config = host_config_json(r, cfg);
        let config = config_json(r);
        let network_settings = network_settings(r);
        let mut v = json!({
            "Id": r.id,
            "Created": r.created,
            "Path": r.path,
            "Args": r.args,
            "State": state_json(st),
            "Image": r.image_id,
            "ResolvConfPath": etc_path(r, ns, cfg, "resolv.conf"),
            "HostnamePath": etc_path(r, ns, cfg, "hostname"),
            "HostsPath": etc_path(r, ns, cfg, "hosts"),
            "LogPath": r.log_path.display().to_string(),
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "Driver": r.snapshotter,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": or_null(&extra.exec_ids),
            "HostConfig": host_config,
            "GraphDriver": {
                "Name": r.snapshotter,
                "Data": graph_driver_data(&extra.rootfs_options, &merged.display().to_string()),
            },
            "Mounts": mounts(r),
            "Config": config,
            "NetworkSettings": network_settings,
        });
        if !r.stop_signal.is_empty() {
            v["Config"]["StopSignal"] = json!(r.stop_signal);
        }
        if let Some(t) = r.config.stop_timeout.filter(|t| *t >= 0) {
            v["Config"]["StopTimeout"] = json!(t);
        }
        if let Some((rw, root)) = extra.sizes {
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(root);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    use crate::container::record::{ContainerConfig, Effective, HostConfig, State};
    use crate::container::{Endpoint, PortBinding, Proto, PublishedPort, Resources};
    use serde_json::{json, Value};

    /// An exited container with binds, limits, an exec and sizes.
    fn exited() -> (ContainerRecord, Extra) {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("app".to_string(), "web".to_string());
        let r = ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            image_id: "sha256:abc".into(),
            snapshotter: "overlayfs".into(),
            snapshot_key: "c".repeat(64),
            created: "2026-01-01T00:00:00.000000001Z".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            hostname: "cccccccccccc".into(),
            stop_signal: "SIGINT".into(),
            log_path: "/var/lib/berth/containers/default/c/c-json.log".into(),
            config: ContainerConfig {
                image: "busybox".into(),
                labels,
                tty: true,
                open_stdin: true,
                stdin_once: true,
                attach_stdin: true,
                attach_stdout: true,
                ..Default::default()
            },
            host_config: HostConfig {
                binds: vec!["/tmp:/data:ro".parse().unwrap()],
                auto_remove: true,
                resources: Resources {
                    memory: Some(64 << 20),
                    memory_swap: Some(128 << 20),
                    cpu_quota: Some(50_000),
                    cpu_period: Some(100_000),
                    ..Default::default()
                },
                ..Default::default()
            },
            effective: Effective {
                cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
                env: vec!["PATH=/bin".into()],
                ..Default::default()
            },
            state: State {
                status: Status::Exited,
                exit_code: 3,
                oom_killed: true,
                finished_at: Some("2026-01-01T00:00:01Z".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let extra = Extra {
            rootfs_options: vec![
                "index=off".into(),
                "lowerdir=/l1:/l2".into(),
                "upperdir=/u".into(),
                "workdir=/w".into(),
            ],
            sizes: Some((1, 2)),
            exec_ids: vec!["e".repeat(64)],
        };
        (r, extra)
    }

    #[test]
    fn docker_shape() {
        let (r, extra) = exited();
        let cfg = Config::default();
        let v = serde_json::to_value(inspect_view(&r, "default", &cfg, &extra)).unwrap();
        assert_eq!(v["Id"], r.id.as_str());
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Path"], "sh");
        assert_eq!(v["Args"], json!(["-c", "exit 3"]));
        let st = &v["State"];
        assert_eq!(st["Status"], "exited");
        assert_eq!(st["Running"], false);
        assert_eq!(st["ExitCode"], 3);
        assert_eq!(st["OOMKilled"], true);
        assert_eq!(st["Pid"], 0);
        assert_eq!(st["StartedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(st["FinishedAt"], "2026-01-01T00:00:01Z");
        for k in ["Paused", "Restarting", "Dead", "Error"] {
            assert!(st.get(k).is_some(), "{k}");
        }
        assert_eq!(v["Platform"], "linux");
        assert_eq!(v["Driver"], "overlayfs");
        assert!(v["ResolvConfPath"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/containers/default/{}/resolv.conf", r.id)));
        let hc = &v["HostConfig"];
        assert_eq!(hc["Memory"], 64 << 20);
        assert_eq!(hc["NanoCpus"], 500_000_000);
        assert_eq!(hc["AutoRemove"], true);
        assert_eq!(hc["NetworkMode"], "bridge");
        assert_eq!(hc["Runtime"], "berth");
        assert_eq!(
            hc["LogConfig"]["Config"]["max-size"],
            (20u64 << 20).to_string()
        );
        assert_eq!(v["Mounts"][0]["Destination"], "/data");
        assert_eq!(v["Mounts"][0]["RW"], false);
        let gd = &v["GraphDriver"]["Data"];
        assert_eq!(gd["LowerDir"], "/l1:/l2");
        assert_eq!(gd["UpperDir"], "/u");
        assert!(gd["MergedDir"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{}/rootfs", r.id)));
        let c = &v["Config"];
        assert_eq!(c["Image"], "busybox");
        assert_eq!(c["Tty"], true);
        assert_eq!(
            (&c["OpenStdin"], &c["StdinOnce"], &c["AttachStdin"]),
            (&json!(true), &json!(true), &json!(true))
        );
        assert_eq!(
            (&c["AttachStdout"], &c["AttachStderr"]),
            (&json!(true), &json!(false))
        );
        assert_eq!(v["ExecIDs"], json!(["e".repeat(64)]));
        assert_eq!(c["Cmd"], json!(["sh", "-c", "exit 3"]));
        assert_eq!(c["Entrypoint"], Value::Null);
        assert_eq!(c["Labels"]["app"], "web");
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(c["Hostname"], "cccccccccccc");
        assert_eq!(v["SizeRw"], 1);
        assert_eq!(v["SizeRootFs"], 2);
        assert_eq!(v["NetworkSettings"]["Networks"], json!({}));
        assert_eq!(v["NetworkSettings"]["IPAddress"], "");
    }

    /// A container on the default bridge with a published port and a link.
    fn networked() -> ContainerRecord {
        let mut r = ContainerRecord {
            name: "web".into(),
            ..Default::default()
        };
        r.config.exposed_ports = vec!["80/tcp".parse().unwrap(), "81/tcp".parse().unwrap()];
        r.host_config.links = vec!["db:data".parse().unwrap()];
        r.host_config.port_bindings = vec![PortBinding {
            host_port: 8080,
            container_port: 80,
            ..Default::default()
        }];
        r.endpoints = vec![Endpoint {
            network_id: "n".into(),
            network_name: "bridge".into(),
            ip: "10.77.0.2".into(),
            prefix: 16,
            gateway: "10.77.0.1".into(),
            mac: "02:42:0a:4d:00:02".into(),
            ..Default::default()
        }];
        r.ports = vec![PublishedPort {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            protocol: Proto::Tcp,
        }];
        r
    }

    #[test]
    fn network_settings_show_endpoints_and_ports() {
        let r = networked();
        let ns = serde_json::to_value(network_settings(&r)).unwrap();
        assert_eq!(
            ns["Ports"],
            json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": null})
        );
        assert_eq!(ns["IPAddress"], "10.77.0.2");
        assert_eq!(ns["Networks"]["bridge"]["Gateway"], "10.77.0.1");
        assert_eq!(ns["Networks"]["bridge"]["IPPrefixLen"], 16);
        let hc = serde_json::to_value(host_config(&r, &Config::default())).unwrap();
        assert_eq!(
            hc["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(hc["Links"], json!(["/db:/web/data"]));
        let c = serde_json::to_value(config(&r)).unwrap();
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "81/tcp": {}}));
    }

    /// Created, never started: mostly defaults.
    fn created() -> ContainerRecord {
        ContainerRecord {
            id: "a".repeat(64),
            name: "new".into(),
            image_id: "sha256:def".into(),
            snapshotter: "overlayfs".into(),
            snapshot_key: "a".repeat(64),
            created: "2026-01-02T00:00:00Z".into(),
            path: "sh".into(),
            hostname: "aaaaaaaaaaaa".into(),
            log_path: "/var/lib/berth/containers/default/a/a-json.log".into(),
            config: ContainerConfig {
                image: "busybox".into(),
                ..Default::default()
            },
            effective: Effective {
                cmd: vec!["sh".into()],
                env: vec!["PATH=/bin".into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Running on two networks with everything the user can set: ports
    /// published and not, several bindings of one port, aliases, links,
    /// dns, limits, a runtime, log limits, a stop timeout.
    fn running() -> ContainerRecord {
        let mut r = networked();
        r.id = "b".repeat(64);
        r.name = "api".into();
        r.state = State {
            status: Status::Running,
            pid: 4242,
            started_at: Some("2026-01-03T00:00:00Z".into()),
            ..Default::default()
        };
        r.restart_count = 2;
        r.config.exposed_ports.push("53/udp".parse().unwrap());
        r.config.domainname = "example.org".into();
        r.config.stop_timeout = Some(5);
        r.config.attach_stderr = true;
        r.config.labels = [("z", "1"), ("a", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r.effective = Effective {
            entrypoint: vec!["/entry".into(), "--x".into()],
            cmd: vec![],
            env: vec![],
            working_dir: "/srv".into(),
            user: "1000:1000".into(),
        };
        let hc = &mut r.host_config;
        hc.network_mode = NetworkMode::Bridge("front".into());
        hc.port_bindings.extend([
            PortBinding {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 0,
                container_port: 53,
                protocol: Proto::Udp,
            },
            PortBinding {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8081,
                container_port: 80,
                ..Default::default()
            },
        ]);
        hc.publish_all_ports = true;
        hc.links.push("/cache".parse().unwrap());
        hc.dns = vec!["1.1.1.1".into()];
        hc.dns_search = vec!["example.org".into()];
        hc.dns_options = vec!["ndots:2".into()];
        hc.extra_hosts = vec![
            "h:10.0.0.1".parse().unwrap(),
            "gw=host-gateway".parse().unwrap(),
        ];
        hc.cap_add = vec!["NET_ADMIN".into()];
        hc.cap_drop = vec!["MKNOD".into()];
        hc.security_opt = vec!["no-new-privileges".into()];
        hc.privileged = true;
        hc.read_only = true;
        hc.init = true;
        hc.runtime = "runc".into();
        hc.log_max_size = 1 << 20;
        hc.log_max_files = 3;
        hc.resources = Resources {
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(100),
            memory_swap: Some(-1),
            ..Default::default()
        };
        r.endpoints.push(Endpoint {
            network_id: "f".into(),
            network_name: "front".into(),
            aliases: vec!["api".into(), "a".into()],
            links: vec!["db:data".parse().unwrap()],
            ip: "10.1.0.5".into(),
            prefix: 24,
            gateway: "10.1.0.1".into(),
            mac: "02:42:0a:01:00:05".into(),
            endpoint_id: "ep".into(),
            ..Default::default()
        });
        r.ports.extend([
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8081,
                container_port: 80,
                protocol: Proto::Tcp,
            },
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 40000,
                container_port: 53,
                protocol: Proto::Udp,
            },
            PublishedPort {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 9000,
                container_port: 9000,
                protocol: Proto::Tcp,
            },
        ]);
        r
    }

    #[test]
    fn volumes_show_as_docker_shows_them() {
        use crate::container::mounts::{parse_mount_flag, parse_volume_flag, VolumeFlag};
        let mut r = running();
        let VolumeFlag::Mount(mut named) = parse_volume_flag("data:/d").unwrap() else {
            panic!()
        };
        named.source = "/root/volumes/data/_data".into();
        named.driver = "local".into();
        let bind =
            parse_mount_flag("type=bind,src=/s,dst=/b,readonly,bind-propagation=rslave").unwrap();
        let tmpfs = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let vol = parse_mount_flag("src=cache,dst=/c,volume-nocopy,volume-opt=type=tmpfs").unwrap();
        r.mounts = vec![named, bind.clone(), tmpfs.clone()];
        r.host_config.mounts = vec![bind, tmpfs, vol];
        r.host_config.tmpfs.insert("/run".into(), "size=64k".into());
        r.host_config.volumes_from = vec!["db:ro".into()];
        r.config.volumes = vec!["/anon".into()];
        let v = serde_json::to_value(inspect_view(
            &r,
            "default",
            &Config::default(),
            &Extra::default(),
        ))
        .unwrap();
        assert_eq!(
            v["Mounts"],
            json!([
                {"Type": "volume", "Name": "data", "Source": "/root/volumes/data/_data",
                 "Destination": "/d", "Driver": "local", "Mode": "z", "RW": true,
                 "Propagation": ""},
                {"Type": "bind", "Source": "/s", "Destination": "/b", "Mode": "",
                 "RW": false, "Propagation": "rslave"},
                {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "",
                 "RW": true, "Propagation": ""},
            ])
        );
        assert_eq!(
            v["HostConfig"]["Mounts"],
            json!([
                {"Type": "bind", "Source": "/s", "Target": "/b", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rslave"}},
                {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}},
                {"Type": "volume", "Source": "cache", "Target": "/c",
                 "VolumeOptions": {"NoCopy": true,
                                   "DriverConfig": {"Options": {"type": "tmpfs"}}}},
            ])
        );
        assert_eq!(v["HostConfig"]["Tmpfs"], json!({"/run": "size=64k"}));
        assert_eq!(v["HostConfig"]["VolumesFrom"], json!(["db:ro"]));
        assert_eq!(v["Config"]["Volumes"], json!({"/anon": {}}));
        // None of them: docker's nulls and omissions.
        let v = serde_json::to_value(inspect_view(
            &running(),
            "default",
            &Config::default(),
            &Extra::default(),
        ))
        .unwrap();
        assert!(v["HostConfig"].get("Mounts").is_none() && v["HostConfig"].get("Tmpfs").is_none());
        assert_eq!(v["HostConfig"]["VolumesFrom"], Value::Null);
        assert_eq!(v["Config"]["Volumes"], Value::Null);
    }

    #[test]
    fn the_view_prints_as_the_json_did() {
        let (exited, exited_extra) = exited();
        let rootfs = Extra {
            rootfs_options: vec![
                "lowerdir=/l".into(),
                "upperdir=/u".into(),
                "workdir=/w".into(),
            ],
            ..Default::default()
        };
        let execs = Extra {
            exec_ids: vec!["e1".into(), "e2".into()],
            sizes: Some((0, 7)),
            ..rootfs.clone()
        };
        let mut host = running();
        host.host_config.network_mode = NetworkMode::Host;
        host.endpoints.clear();
        host.host_config.binds = vec!["/a:/b".parse().unwrap(), "/c:/d:rw".parse().unwrap()];
        let mut none = created();
        none.host_config.network_mode = NetworkMode::None;
        none.config.stop_timeout = Some(-1);
        none.stop_signal = "SIGUSR1".into();
        none.state.status = Status::Paused;
        none.state.pid = 9;
        let mut other = created();
        other.host_config.network_mode = NetworkMode::Container("db".into());
        other.state.status = Status::Dead;
        other.state.error = "gone".into();
        // Repeated keys keep their first place, as a JSON object's do.
        let mut repeats = running();
        repeats.config.exposed_ports.push("80/tcp".parse().unwrap());
        repeats.endpoints.push(Endpoint {
            network_name: "bridge".into(),
            network_id: "n2".into(),
            ..Default::default()
        });
        let repeats_rootfs = Extra {
            rootfs_options: vec![
                "workdir=/w".into(),
                "lowerdir=/l1".into(),
                "index=off".into(),
                "lowerdir=/l2".into(),
            ],
            ..Default::default()
        };
        let cases = [
            (created(), Extra::default()),
            (created(), rootfs.clone()),
            (exited, exited_extra),
            (networked(), Extra::default()),
            (running(), execs.clone()),
            (host, rootfs),
            (none, Extra::default()),
            (other, execs),
            (repeats, repeats_rootfs),
        ];
        let configs = [
            Config::default(),
            Config {
                default_runtime: "crun".into(),
                log_max_size: 5 << 20,
                log_max_files: 9,
                ..Config::default()
            },
        ];
        for (i, (r, extra)) in cases.iter().enumerate() {
            for cfg in &configs {
                let want = reference::inspect_json(r, "default", cfg, extra);
                let got = inspect_view(r, "default", cfg, extra);
                assert_eq!(
                    serde_json::to_string(&got).unwrap(),
                    serde_json::to_string(&want).unwrap(),
                    "case {i}"
                );
                // The gRPC door prints it pretty.
                assert_eq!(
                    serde_json::to_string_pretty(&got).unwrap(),
                    serde_json::to_string_pretty(&want).unwrap(),
                    "case {i}"
                );
            }
        }
    }
}
