//! `inspect`: one container as docker's inspect JSON (the fields docker
//! tools read: Id, State, Config, HostConfig, GraphDriver, Mounts, ...),
//! built from the record. Pure, apart from the engine's lookups.

use serde_json::{json, Value};

use super::record::{bundle_dir, ContainerRecord, NetworkMode, Status};
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
fn state_json(st: &super::record::State) -> Value {
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

impl Containers {
    /// docker inspect's JSON for one container.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn inspect_container(&self, ns: &str, s: &str, size: bool) -> Result<Value> {
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
            inspect_json(&rec, &ns, engine.config(), &extra)
        })
        .await
        .map_err(ManagerError::Worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::{ContainerConfig, Effective, HostConfig, State};
    use crate::container::Resources;

    #[test]
    fn docker_shape() {
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
        let cfg = Config::default();
        let v = inspect_json(&r, "default", &cfg, &extra);
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

    #[test]
    fn network_settings_show_endpoints_and_ports() {
        let mut r = ContainerRecord {
            name: "web".into(),
            ..Default::default()
        };
        r.config.exposed_ports = vec!["80/tcp".parse().unwrap(), "81/tcp".parse().unwrap()];
        r.host_config.links = vec!["db:data".parse().unwrap()];
        r.host_config.port_bindings = vec![crate::container::PortBinding {
            host_port: 8080,
            container_port: 80,
            ..Default::default()
        }];
        r.endpoints = vec![crate::container::Endpoint {
            network_id: "n".into(),
            network_name: "bridge".into(),
            ip: "10.77.0.2".into(),
            prefix: 16,
            gateway: "10.77.0.1".into(),
            mac: "02:42:0a:4d:00:02".into(),
            ..Default::default()
        }];
        r.ports = vec![crate::container::PublishedPort {
            host_ip: std::net::Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            protocol: crate::network::firewall::Proto::Tcp,
        }];
        let ns = network_settings(&r);
        assert_eq!(
            ns["Ports"],
            json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": null})
        );
        assert_eq!(ns["IPAddress"], "10.77.0.2");
        assert_eq!(ns["Networks"]["bridge"]["Gateway"], "10.77.0.1");
        assert_eq!(ns["Networks"]["bridge"]["IPPrefixLen"], 16);
        assert_eq!(
            port_bindings(&r),
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(links(&r), json!(["/db:/web/data"]));
        assert_eq!(exposed(&r), json!({"80/tcp": {}, "81/tcp": {}}));
    }
}
