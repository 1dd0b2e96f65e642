//! `create`: check and parse what the user gave (once: the record holds
//! the parsed values), resolve the image, prepare the container's rootfs
//! snapshot, resolve the user from the image's /etc/passwd and /etc/group,
//! build the OCI spec, and record the container, all or nothing: any
//! failure removes the snapshot and the container's directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use oci_spec::image::Config as ImageConfig;
use tracing::{info, warn};

use super::mounts::{
    clean_target, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag, parse_volumes_from,
    MountPoint, MountType, VolumeFlag,
};
use super::naming::{generate_name, new_id, validate_name};
use super::record::{
    container_dir, log_path, spec_path, Bind, ContainerConfig, ContainerRecord, Effective,
    ExtraHost, HostConfig, Link, NetworkMode, PortBinding, PortProto, Proto, State,
};
use super::registry::NameReservation;
use super::resources::Resources;
use super::spec::{
    build_spec, capability_names, resolve_user, BindMount, ResolvedUser, RunOptions, TmpfsMount,
    DEFAULT_NOFILE, INIT_PATH,
};
use super::{seccomp, userdb};
use crate::container::endpoint::Planned;
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{IoContext, ManagerError, Result};
use crate::store::{now, schema, Batch, SnapshotRecord};

/// What `create` needs: docker's name, Config and HostConfig as a client
/// gives them.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Empty gets a generated name.
    pub name: String,
    pub config: ConfigRequest,
    pub host_config: HostConfigRequest,
}

/// docker's Config as a client gives it; create parses it into the
/// record's [`ContainerConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigRequest {
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
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stop_signal: String,
    /// Seconds `stop` waits; `None` is 10.
    pub stop_timeout: Option<i32>,
    /// --expose: "80/tcp", "53/udp", "8080".
    pub exposed_ports: Vec<String>,
    pub domainname: String,
}

/// docker's HostConfig as a client gives it (flag strings); create parses
/// it into the record's [`HostConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostConfigRequest {
    pub auto_remove: bool,
    /// --network: "", "bridge", "host", "none", "container:NAME", a network.
    pub network_mode: String,
    /// -v SRC:DST[:ro|rw].
    pub binds: Vec<String>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// Checked by the front door ([`Resources::from_limits`]).
    pub resources: Resources,
    pub init: bool,
    pub runtime: String,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub port_bindings: Vec<PortBindingRequest>,
    pub publish_all_ports: bool,
    /// --link NAME[:ALIAS].
    pub links: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// --add-host HOST:IP.
    pub extra_hosts: Vec<String>,
    /// --ip.
    pub ipv4_address: String,
    pub network_aliases: Vec<String>,
    /// --mount, as given.
    pub mounts: Vec<String>,
    /// --tmpfs PATH[:OPTIONS].
    pub tmpfs: Vec<String>,
    /// --volumes-from CONTAINER[:ro|rw].
    pub volumes_from: Vec<String>,
}

/// One -p binding as a client gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBindingRequest {
    /// Empty for every address.
    pub host_ip: String,
    /// 0: a free port picked at start.
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
}

/// The new container.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `--security-opt`, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
}

/// Which seccomp profile a container gets.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    #[default]
    Default,
    Unconfined,
    /// A docker profile's JSON text.
    Custom(String),
}

/// Parses docker's `--security-opt` values (the CLI sends a seccomp
/// profile's contents, not its path).
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for o in opts {
        let (key, value) = match o.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (o.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None) => out.no_new_privileges = true,
            ("no-new-privileges", Some(v)) => {
                out.no_new_privileges = v.parse::<bool>().map_err(|_| {
                    ManagerError::InvalidArgument(format!(
                        "Invalid --security-opt: {o:?}: no-new-privileges takes true or false"
                    ))
                })?
            }
            ("seccomp", Some("unconfined")) => out.seccomp = Seccomp::Unconfined,
            ("seccomp", Some(json)) if json.trim_start().starts_with('{') => {
                out.seccomp = Seccomp::Custom(json.to_string())
            }
            // Neither AppArmor nor SELinux is applied by berth; "off" is
            // what the user asked for anyway.
            ("apparmor", Some("unconfined")) | ("label", Some("disable")) => {}
            _ => {
                return Err(ManagerError::InvalidArgument(format!(
                    "Invalid --security-opt: {o:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// Parses one -p binding.
pub fn parse_port_binding(b: &PortBindingRequest) -> Result<PortBinding> {
    if b.container_port == 0 {
        return Err(ManagerError::InvalidArgument(
            "invalid container port 0".into(),
        ));
    }
    let host_ip = if b.host_ip.is_empty() {
        None
    } else {
        Some(b.host_ip.parse::<Ipv4Addr>().map_err(|_| {
            ManagerError::InvalidArgument(format!(
                "invalid host IP {:?} in a port binding: berth publishes on IPv4 addresses",
                b.host_ip
            ))
        })?)
    };
    let protocol: Proto = b
        .protocol
        .parse()
        .map_err(|_| ManagerError::InvalidArgument(format!("invalid protocol {:?}", b.protocol)))?;
    Ok(PortBinding {
        host_ip,
        host_port: b.host_port,
        container_port: b.container_port,
        protocol,
    })
}

/// Parses the HostConfig a client gave; every flag string is checked here,
/// once.
pub fn parse_host_config(h: HostConfigRequest) -> Result<HostConfig> {
    // `-v /path` (an anonymous volume) is no bind: see anonymous_volumes.
    let mut binds = Vec::new();
    for b in &h.binds {
        if let VolumeFlag::Mount(_) = parse_volume_flag(b)? {
            binds.push(Bind::parse_checked(b)?);
        }
    }
    let (mounts, tmpfs) = parse_mounts(&h.mounts, &h.tmpfs)?;
    for v in &h.volumes_from {
        parse_volumes_from(v)?;
    }
    let port_bindings = h
        .port_bindings
        .iter()
        .map(parse_port_binding)
        .collect::<Result<Vec<_>>>()?;
    let extra_hosts = h
        .extra_hosts
        .iter()
        .map(|e| e.parse::<ExtraHost>())
        .collect::<Result<Vec<_>>>()?;
    let links = h
        .links
        .iter()
        .map(|l| l.parse::<Link>())
        .collect::<Result<Vec<_>>>()?;
    let ipv4_address = if h.ipv4_address.is_empty() {
        None
    } else {
        Some(h.ipv4_address.parse::<Ipv4Addr>().map_err(|_| {
            ManagerError::InvalidArgument(format!("invalid IPv4 address {:?}", h.ipv4_address))
        })?)
    };
    Ok(HostConfig {
        auto_remove: h.auto_remove,
        network_mode: NetworkMode::parse(&h.network_mode),
        binds,
        read_only: h.read_only,
        privileged: h.privileged,
        cap_add: h.cap_add,
        cap_drop: h.cap_drop,
        security_opt: h.security_opt,
        resources: h.resources,
        init: h.init,
        runtime: h.runtime,
        log_max_size: h.log_max_size,
        log_max_files: h.log_max_files,
        port_bindings,
        publish_all_ports: h.publish_all_ports,
        links,
        dns: h.dns,
        dns_search: h.dns_search,
        dns_options: h.dns_options,
        extra_hosts,
        ipv4_address,
        network_aliases: h.network_aliases,
        mounts,
        tmpfs,
        volumes_from: h.volumes_from,
    })
}

/// The exposed ports: the image's, the user's and every -p container port,
/// sorted as docker sorts them, without repeats.
pub fn exposed_ports(
    image: &[String],
    user: &[String],
    bindings: &[PortBinding],
) -> Result<Vec<PortProto>> {
    let mut set = BTreeSet::new();
    for p in image.iter().chain(user) {
        set.insert(p.parse::<PortProto>()?);
    }
    for b in bindings {
        set.insert(PortProto {
            port: b.container_port,
            proto: b.protocol,
        });
    }
    Ok(set.into_iter().collect())
}

/// `--mount` and `--tmpfs`, parsed; a bind's source must exist now.
fn parse_mounts(
    mounts: &[String],
    tmpfs: &[String],
) -> Result<(Vec<MountPoint>, BTreeMap<String, String>)> {
    let mut points = Vec::new();
    for spec in mounts {
        let m = parse_mount_flag(spec)?;
        if m.kind == MountType::Bind && !std::path::Path::new(&m.source).exists() {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
        points.push(m);
    }
    let mut t = BTreeMap::new();
    for spec in tmpfs {
        let (dst, opts) = parse_tmpfs_flag(spec)?;
        if t.insert(dst.clone(), opts).is_some() {
            return Err(ManagerError::InvalidArgument(format!(
                "Duplicate mount point: {dst}"
            )));
        }
    }
    Ok((points, t))
}

/// Config.Volumes: the image's VOLUMEs and `-v /path`'s destinations,
/// cleaned, sorted, once each.
fn anonymous_volumes(image: &ImageConfig, binds: &[String]) -> Result<Vec<String>> {
    let mut set = BTreeSet::new();
    for v in image.volumes().iter().flatten() {
        set.insert(clean_target(MountType::Volume, v)?);
    }
    for b in binds {
        if let VolumeFlag::Anonymous(d) = parse_volume_flag(b)? {
            set.insert(d);
        }
    }
    Ok(set.into_iter().collect())
}

/// The record's Config: the request's, with the exposed ports merged.
fn container_config(c: ConfigRequest, exposed_ports: Vec<PortProto>) -> ContainerConfig {
    ContainerConfig {
        image: c.image,
        cmd: c.cmd,
        entrypoint: c.entrypoint,
        env: c.env,
        working_dir: c.working_dir,
        user: c.user,
        hostname: c.hostname,
        labels: c.labels,
        tty: c.tty,
        open_stdin: c.open_stdin,
        stdin_once: c.stdin_once,
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        stop_signal: c.stop_signal,
        stop_timeout: c.stop_timeout,
        exposed_ports,
        domainname: c.domainname,
        volumes: Vec::new(),
    }
}

/// The hard RLIMIT_NOFILE berthd runs with and whether it may raise it
/// (CAP_SYS_RESOURCE): containers cannot get more than that without it.
fn nofile_ceiling() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
    const CAP_SYS_RESOURCE: u64 = 24;
    if cap_eff & (1 << CAP_SYS_RESOURCE) != 0 {
        return None;
    }
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line.split_whitespace().nth(4)?;
    hard.parse().ok()
}

/// The RLIMIT_NOFILE containers get: docker's default, or berthd's own
/// hard limit when that is lower and berthd may not raise it (the
/// runtime could not set more). Decided once, warned about once.
fn container_nofile() -> Option<u64> {
    static NOFILE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *NOFILE.get_or_init(|| match nofile_ceiling() {
        Some(hard) if hard < DEFAULT_NOFILE => {
            warn!(
                limit = hard,
                "berthd lacks CAP_SYS_RESOURCE: containers get RLIMIT_NOFILE {hard} instead of {DEFAULT_NOFILE}"
            );
            Some(hard)
        }
        _ => None,
    })
}

/// The image's Config (the "config" object of the image config blob).
pub fn image_config(blob: &[u8]) -> Result<ImageConfig> {
    let v: serde_json::Value =
        serde_json::from_slice(blob).map_err(|source| ManagerError::Decode {
            what: "the image config".into(),
            source,
        })?;
    match v.get("config") {
        None | Some(serde_json::Value::Null) => Ok(ImageConfig::default()),
        Some(c) => serde_json::from_value(c.clone()).map_err(|source| ManagerError::Decode {
            what: "the image config".into(),
            source,
        }),
    }
}

/// The configuration in effect: docker's rules for ENTRYPOINT and CMD
/// (an `--entrypoint` drops the image's CMD), the spec's env and cwd.
fn effective_config(
    image: &ImageConfig,
    config: &ContainerConfig,
    user: &str,
    spec: &oci_spec::runtime::Spec,
) -> Effective {
    let entrypoint = match &config.entrypoint {
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => Vec::new(),
        Some(ep) => ep.clone(),
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !config.cmd.is_empty() {
        config.cmd.clone()
    } else if config.entrypoint.is_none() {
        image.cmd().clone().unwrap_or_default()
    } else {
        Vec::new()
    };
    let process = spec.process().as_ref();
    Effective {
        entrypoint,
        cmd,
        env: process.and_then(|p| p.env().clone()).unwrap_or_default(),
        working_dir: if config.working_dir.is_empty() {
            image.working_dir().clone().unwrap_or_default()
        } else {
            config.working_dir.clone()
        },
        user: user.to_string(),
    }
}

/// What the spec is built from beside the configs.
#[derive(Clone, Copy)]
struct RunContext<'a> {
    security: &'a SecurityOpts,
    net: &'a Planned,
    mounts: &'a [MountPoint],
}

/// The spec's binds (binds, and volumes as binds of their data) and tmpfs
/// mounts (`--mount type=tmpfs`, `--tmpfs`).
fn spec_mounts(
    points: &[MountPoint],
    tmpfs: &BTreeMap<String, String>,
) -> (Vec<BindMount>, Vec<TmpfsMount>) {
    let mut binds = Vec::new();
    let mut tmpfs_mounts = Vec::new();
    for m in points {
        if m.kind == MountType::Tmpfs {
            let mut options: Vec<String> = if m.rw { vec![] } else { vec!["ro".into()] };
            options.extend(m.tmpfs_options.iter().cloned());
            tmpfs_mounts.push(TmpfsMount {
                destination: m.destination.clone(),
                options,
            });
        } else {
            binds.push(BindMount {
                source: m.source.clone(),
                destination: m.destination.clone(),
                read_only: !m.rw,
                propagation: m.propagation.clone(),
            });
        }
    }
    for (dst, opts) in tmpfs {
        tmpfs_mounts.push(TmpfsMount {
            destination: dst.clone(),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect(),
        });
    }
    (binds, tmpfs_mounts)
}

/// What `create` checked before making anything.
struct Checked {
    id: String,
    name: String,
    image: crate::store::ImageRecord,
    image_cfg: ImageConfig,
    config: ContainerConfig,
    host_config: HostConfig,
    security: SecurityOpts,
    net: Planned,
    mounts: Vec<MountPoint>,
}

/// Removes what a failed create made, unless disarmed.
struct Undo<'a> {
    engine: &'a Containers,
    snapshot: Option<String>,
    dir: Option<PathBuf>,
    /// Volumes this create made.
    volumes: Vec<String>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        self.engine.volumes.remove_unused(&self.volumes, false);
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
        if let Some(key) = &self.snapshot {
            if let Err(e) = self.engine.snapshotter().remove(key) {
                warn!(key, error = %e, "cannot remove the snapshot of a failed create");
            }
        }
    }
}

impl Containers {
    /// Creates a container (docker create). Nothing runs yet.
    #[tracing::instrument(skip_all, fields(namespace = %ns, name = %opts.name))]
    pub async fn create_container(&self, ns: &str, opts: CreateOptions) -> Result<Created> {
        // A create is most often followed by a start (`run`): begin the
        // cgroup-move grace period now, so it has passed by the time the
        // shim moves the init (migration.rs).
        super::migration::begin_grace_period();
        let engine = self.clone();
        let ns = ns.to_string();
        let ns2 = ns.clone();
        let created = tokio::task::spawn_blocking(move || engine.create_blocking(&ns, opts))
            .await
            .map_err(ManagerError::Worker)??;
        self.publish_container(&ns2, &created.id, crate::events::Action::Create);
        Ok(created)
    }

    fn reserve_new_name(&self, ns: &str, name: &str) -> Result<(String, NameReservation<'_>)> {
        let reg = self.registry();
        if !name.is_empty() {
            let name = validate_name(name)?;
            let r = reg.reserve_name(ns, &name, || self.container_named(ns, &name))?;
            return Ok((name, r));
        }
        for retry in 0..20 {
            let name = generate_name(retry);
            if let Ok(r) = reg.reserve_name(ns, &name, || self.container_named(ns, &name)) {
                return Ok((name, r));
            }
        }
        Err(ManagerError::Internal(
            "could not generate a unique container name".into(),
        ))
    }

    /// An id no container of the namespace has.
    fn unused_id(&self, ns: &str) -> Result<String> {
        let mut id = new_id();
        while self.container_record(ns, &id)?.is_some() {
            id = new_id();
        }
        Ok(id)
    }

    fn create_blocking(&self, ns: &str, opts: CreateOptions) -> Result<Created> {
        self.store().ensure_namespace(ns)?;
        // Everything the user gave is checked before anything is made; the
        // name stays reserved until the record is stored.
        let (_name, mut checked) = self.check_create(ns, opts)?;
        let warnings = std::mem::take(&mut checked.net.warnings);
        let id = checked.id.clone();
        let _gc = self.op_guard();
        let parent = checked.image.layers.last().map(|l| l.chain_id.clone());
        let mut labels = berth_snapshotter::Labels::new();
        labels.insert("berth.container".into(), format!("{ns}/{id}"));
        let rootfs = self.snapshotter().prepare(&id, parent.as_deref(), labels)?;
        let mut undo = Undo {
            engine: self,
            snapshot: Some(id.clone()),
            dir: None,
            volumes: Vec::new(),
        };
        undo.volumes = self.make_volumes(&mut checked.mounts)?;
        self.copy_up_volumes(&id, &rootfs, &checked.mounts)?;
        let dir = container_dir(self.config(), ns, &id);
        undo.dir = Some(dir.clone());
        let rec = self.new_record(ns, checked, &rootfs, &dir)?;
        self.persist_new_container(ns, &rec, parent)?;
        undo.snapshot = None;
        undo.dir = None;
        undo.volumes.clear();
        info!(namespace = ns, id = %id, name = %rec.name, image = %rec.config.image, "created container");
        Ok(Created { id, warnings })
    }

    /// Parses and checks what the user gave, resolves the image and plans
    /// the network: nothing is made yet.
    fn check_create(
        &self,
        ns: &str,
        opts: CreateOptions,
    ) -> Result<(NameReservation<'_>, Checked)> {
        let CreateOptions {
            name,
            config,
            host_config,
        } = opts;
        let binds_given = host_config.binds.clone();
        let host_config = parse_host_config(host_config)?;
        let security = parse_security_opts(&host_config.security_opt)?;
        self.config().runtime_binary(&host_config.runtime)?;
        super::signal::parse_signal(&config.stop_signal, 15)?;
        let (name, reservation) = self.reserve_new_name(ns, &name)?;
        let (image, _) = self.images.resolve_image(ns, &config.image)?;
        let image_cfg = image_config(&self.images.read_json_blob(&image.config.digest)?)?;
        let id = self.unused_id(ns)?;
        let image_exposed = image_cfg.exposed_ports().clone().unwrap_or_default();
        let exposed = exposed_ports(
            &image_exposed,
            &config.exposed_ports,
            &host_config.port_bindings,
        )?;
        let anonymous = anonymous_volumes(&image_cfg, &binds_given)?;
        let mut config = container_config(config, exposed);
        config.volumes = anonymous;
        let mounts = self.plan_mounts(ns, &config, &host_config)?;
        let net = self.plan_network(ns, &id, &config, &host_config)?;
        let checked = Checked {
            id,
            name,
            image,
            image_cfg,
            config,
            host_config,
            security,
            net,
            mounts,
        };
        Ok((reservation, checked))
    }

    /// The container's record: its user, hostname, process and spec
    /// resolved against the prepared rootfs, its files written to `dir`.
    fn new_record(
        &self,
        ns: &str,
        c: Checked,
        rootfs: &[berth_snapshotter::Mount],
        dir: &std::path::Path,
    ) -> Result<ContainerRecord> {
        let (user, resolved) = self.container_user(&c.id, rootfs, &c.config, &c.image_cfg)?;
        let hostname = if !c.config.hostname.is_empty() {
            c.config.hostname.clone()
        } else {
            c.net
                .hostname
                .clone()
                .unwrap_or_else(|| c.id[..12].to_string())
        };
        let ctx = RunContext {
            security: &c.security,
            net: &c.net,
            mounts: &c.mounts,
        };
        let run = self.run_options(&c.config, &c.host_config, &ctx, &user, &hostname)?;
        let process = process_of(
            &c.image_cfg,
            &c.config,
            &c.host_config,
            &run,
            resolved,
            &user,
        )?;
        let log = self.write_container_files(ns, &c.id, dir, &process.spec)?;
        let stop_signal = if c.config.stop_signal.is_empty() {
            c.image_cfg.stop_signal().clone().unwrap_or_default()
        } else {
            c.config.stop_signal.clone()
        };
        Ok(ContainerRecord {
            id: c.id.clone(),
            name: c.name,
            image_id: c.image.id().to_string(),
            image_name: c.image.name.clone(),
            snapshotter: self.snapshotter_name().to_string(),
            snapshot_key: c.id,
            created: now(),
            path: process.path,
            args: process.args,
            hostname,
            stop_signal,
            config: c.config,
            host_config: c.host_config,
            effective: process.effective,
            state: State::default(),
            restart_count: 0,
            log_path: log,
            task: None,
            endpoints: c.net.endpoints,
            ports: Vec::new(),
            mounts: c.mounts,
        })
    }

    /// The user the container runs as (the user's `-u`, else the image's)
    /// resolved against the image's /etc/passwd and /etc/group.
    fn container_user(
        &self,
        id: &str,
        rootfs: &[berth_snapshotter::Mount],
        config: &ContainerConfig,
        image_cfg: &ImageConfig,
    ) -> Result<(String, ResolvedUser)> {
        let tmp = self.config().root.join("tmp").join(format!("userdb-{id}"));
        let (passwd, group) = userdb::read(rootfs, &tmp)?;
        let user = if config.user.is_empty() {
            image_cfg.user().clone().unwrap_or_default()
        } else {
            config.user.clone()
        };
        let resolved = resolve_user(&user, &passwd, &group)?;
        Ok((user, resolved))
    }

    /// What the OCI spec is built from: the user's options, berthd's /etc
    /// files (unless the user binds their own), the `--init` binary and
    /// the seccomp profile.
    fn run_options(
        &self,
        config: &ContainerConfig,
        host_config: &HostConfig,
        ctx: &RunContext<'_>,
        user: &str,
        hostname: &str,
    ) -> Result<RunOptions> {
        let RunContext {
            security,
            net,
            mounts,
        } = *ctx;
        let (binds, tmpfs) = spec_mounts(mounts, &host_config.tmpfs);
        let mut run = RunOptions {
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            env: config.env.clone(),
            workdir: (!config.working_dir.is_empty()).then(|| config.working_dir.clone()),
            user: (!user.is_empty()).then(|| user.to_string()),
            hostname: hostname.to_string(),
            read_only: host_config.read_only,
            privileged: host_config.privileged,
            cap_add: host_config.cap_add.clone(),
            cap_drop: host_config.cap_drop.clone(),
            no_new_privileges: security.no_new_privileges,
            tty: config.tty,
            mounts: binds,
            tmpfs,
            resources: host_config.resources.clone(),
            // Set at each start from the daemon's cgroup parent.
            cgroups_path: String::new(),
            init: host_config.init,
            seccomp: None,
            nofile: container_nofile(),
        };
        for (src, dst) in &net.files {
            if !run.mounts.iter().any(|m| m.destination == *dst) {
                run.mounts.push(BindMount {
                    source: src.display().to_string(),
                    destination: dst.clone(),
                    read_only: false,
                    propagation: String::new(),
                });
            }
        }
        if host_config.init {
            run.mounts.push(self.init_mount()?);
        }
        run.seccomp = match (&security.seccomp, host_config.privileged) {
            (_, true) | (Seccomp::Unconfined, _) => None,
            (Seccomp::Default, false) => Some(seccomp::default_profile(&capability_names(&run)?)),
            (Seccomp::Custom(json), false) => Some(seccomp::from_docker_profile(
                json,
                &capability_names(&run)?,
            )?),
        };
        Ok(run)
    }

    /// `--init`: the berth-init binary, bound read-only at [`INIT_PATH`].
    fn init_mount(&self) -> Result<BindMount> {
        let init = self.config().state.join("bin").join("berth-init");
        if !init.exists() {
            return Err(ManagerError::FailedPrecondition(format!(
                "--init: {} is missing (berthd installs it at start-up)",
                init.display()
            )));
        }
        Ok(BindMount {
            source: init.display().to_string(),
            destination: INIT_PATH.to_string(),
            read_only: true,
            propagation: String::new(),
        })
    }

    /// The container's directory with its OCI spec and empty log; the
    /// log's path.
    fn write_container_files(
        &self,
        ns: &str,
        id: &str,
        dir: &std::path::Path,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<PathBuf> {
        crate::layout::private_dir(dir)?;
        let spec_json = serde_json::to_vec_pretty(spec).map_err(|source| ManagerError::Encode {
            what: "the OCI spec".into(),
            source,
        })?;
        let sp = spec_path(self.config(), ns, id);
        fs::write(&sp, spec_json).ctx(|| format!("write {}", sp.display()))?;
        let log = log_path(self.config(), ns, id);
        fs::File::create(&log).ctx(|| format!("create {}", log.display()))?;
        Ok(log)
    }

    /// Writes the record and its snapshot's record in one batch.
    fn persist_new_container(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        parent: Option<String>,
    ) -> Result<()> {
        let mut b = Batch::default();
        b.put(&schema::container_key(ns, &rec.id), rec)?;
        b.put(
            &schema::snapshot_key(ns, self.snapshotter_name(), &rec.id),
            &SnapshotRecord {
                key: rec.id.clone(),
                parent,
                created_at: rec.created.clone(),
                labels: Default::default(),
            },
        )?;
        self.store().apply(b)
    }
}

/// The container's process as create settles it.
struct Process {
    spec: oci_spec::runtime::Spec,
    effective: Effective,
    /// The command ps shows (without `--init`'s wrapper).
    path: String,
    args: Vec<String>,
}

/// Builds the OCI spec and what the record keeps of its process.
fn process_of(
    image_cfg: &ImageConfig,
    config: &ContainerConfig,
    host_config: &HostConfig,
    run: &RunOptions,
    resolved: ResolvedUser,
    user: &str,
) -> Result<Process> {
    let spec = build_spec(image_cfg, run, resolved, "rootfs")?;
    let effective = effective_config(image_cfg, config, user, &spec);
    let mut args = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    if host_config.init && args.first().map(String::as_str) == Some(INIT_PATH) {
        args.drain(..2.min(args.len()));
    }
    let path = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    Ok(Process {
        spec,
        effective,
        path,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts() {
        let p =
            |v: &[&str]| parse_security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&[]).unwrap(), SecurityOpts::default());
        assert!(p(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(
            !p(&["no-new-privileges", "no-new-privileges:false"])
                .unwrap()
                .no_new_privileges
        );
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            p(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"])
                .unwrap()
                .seccomp,
            Seccomp::Custom("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into())
        );
        assert!(p(&["apparmor=unconfined"]).is_ok());
        for bad in [
            "no-new-privileges:maybe",
            "seccomp=/path/profile.json",
            "bogus",
            "apparmor=x",
        ] {
            let e = p(&[bad]).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn bind_sources_must_exist_at_create() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().display().to_string();
        let b = Bind::parse_checked(&format!("{src}:/data:ro")).unwrap();
        assert_eq!((b.destination.as_str(), b.read_only()), ("/data", true));
        assert!(!Bind::parse_checked(&format!("{src}:/data"))
            .unwrap()
            .read_only());
        let e = Bind::parse_checked("/nonexistent/berth/x:/data").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(
            e.to_string().contains("bind source path does not exist"),
            "{e}"
        );
        assert_eq!(
            Bind::parse_checked(&format!("{src}:/data:zz"))
                .unwrap_err()
                .to_string(),
            "invalid mode: zz"
        );
        // A name is a volume: no host path to check.
        assert!(Bind::parse_checked("vol:/data").unwrap().is_volume());
    }

    #[test]
    fn exposed_ports_merge_and_sort() {
        let bindings = [PortBinding {
            container_port: 80,
            protocol: Proto::Tcp,
            ..Default::default()
        }];
        let v = exposed_ports(
            &["80/tcp".into(), "443/tcp".into()],
            &["53/udp".into(), "8080".into()],
            &bindings,
        )
        .unwrap();
        let v: Vec<String> = v.iter().map(|p| p.to_string()).collect();
        assert_eq!(v, ["53/udp", "80/tcp", "443/tcp", "8080/tcp"]);
        assert!(exposed_ports(&[], &["80/sctp".into()], &[]).is_err());
    }

    #[test]
    fn host_configs_are_parsed_once() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().display().to_string();
        let h = parse_host_config(HostConfigRequest {
            network_mode: "container:db".into(),
            binds: vec![format!("{src}:/data:ro")],
            port_bindings: vec![PortBindingRequest {
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                container_port: 80,
                protocol: "udp".into(),
            }],
            links: vec!["/db:data".into()],
            extra_hosts: vec!["h=10.0.0.1".into(), "gw:host-gateway".into()],
            ipv4_address: "10.1.0.9".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(h.network_mode, NetworkMode::Container("db".into()));
        assert!(h.binds[0].read_only());
        assert_eq!(h.port_bindings[0].protocol, Proto::Udp);
        assert_eq!(
            h.port_bindings[0].host_ip,
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            (h.links[0].name.as_str(), h.links[0].alias.as_str()),
            ("db", "data")
        );
        assert_eq!(h.extra_hosts[0].to_string(), "h=10.0.0.1");
        assert_eq!(h.ipv4_address, Some(Ipv4Addr::new(10, 1, 0, 9)));
        // The messages of bad input.
        let bad = |f: &dyn Fn(&mut HostConfigRequest)| {
            let mut h = HostConfigRequest::default();
            f(&mut h);
            parse_host_config(h).unwrap_err().to_string()
        };
        let port = |p: PortBindingRequest| {
            move |h: &mut HostConfigRequest| h.port_bindings = vec![p.clone()]
        };
        assert_eq!(
            bad(&port(PortBindingRequest {
                container_port: 80,
                protocol: "sctp".into(),
                ..Default::default()
            })),
            "invalid protocol \"sctp\""
        );
        assert_eq!(
            bad(&port(PortBindingRequest {
                protocol: "tcp".into(),
                ..Default::default()
            })),
            "invalid container port 0"
        );
        assert_eq!(
            bad(&port(PortBindingRequest {
                host_ip: "::1".into(),
                container_port: 80,
                protocol: "tcp".into(),
                ..Default::default()
            })),
            "invalid host IP \"::1\" in a port binding: berth publishes on IPv4 addresses"
        );
        assert_eq!(
            bad(&|h| h.ipv4_address = "10.1".into()),
            "invalid IPv4 address \"10.1\""
        );
        assert_eq!(
            bad(&|h| h.links = vec![":x".into()]),
            "invalid link \":x\": expected NAME[:ALIAS]"
        );
        assert_eq!(
            bad(&|h| h.extra_hosts = vec!["nocolon".into()]),
            "bad format for add-host: \"nocolon\""
        );
    }

    #[test]
    fn image_configs() {
        let c = image_config(br#"{"architecture":"amd64","config":{"User":"alice","StopSignal":"SIGINT","Cmd":["sh"]}}"#).unwrap();
        assert_eq!(c.user().as_deref(), Some("alice"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));
        let c = image_config(br#"{"architecture":"amd64"}"#).unwrap();
        assert_eq!(c, ImageConfig::default());
        assert!(image_config(b"nope").is_err());
    }

    #[test]
    fn nofile_ceiling_reads_proc() {
        // Either we may raise limits (None) or we get our hard limit.
        if let Some(hard) = nofile_ceiling() {
            assert!(hard > 0);
        }
    }
}
