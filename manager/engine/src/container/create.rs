//! `create`: resolve the image, prepare the container's rootfs snapshot,
//! resolve the user from the image's /etc/passwd and /etc/group, build the
//! OCI spec, and record the container, all or nothing: any failure removes
//! the snapshot and the container's directory.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::Config as ImageConfig;
use tracing::{info, warn};

use super::naming::{generate_name, new_id, validate_name};
use super::record::{
    container_dir, log_path, spec_path, ContainerConfig, ContainerRecord, Effective, HostConfig,
    State,
};
use super::registry::NameReservation;
use super::spec::{
    build_spec, capability_names, resolve_user, BindMount, RunOptions, DEFAULT_NOFILE, INIT_PATH,
};
use super::{seccomp, userdb};
use crate::engine::Engine;
use crate::error::{IoContext, ManagerError, Result};
use crate::store::{now, schema, Batch, SnapshotRecord};

/// What `create` needs: docker's name, Config and HostConfig.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Empty gets a generated name.
    pub name: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
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

/// Parses `-v SRC:DST[:ro|rw]`: SRC must be an existing absolute host path;
/// named and anonymous volumes wait for the volumes issue.
pub fn parse_bind(spec: &str) -> Result<BindMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => {
            return Err(ManagerError::Unimplemented(format!(
                "volumes are not supported yet (anonymous volume {dst})"
            )))
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if src.is_empty() || dst.is_empty() {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    if !src.starts_with('/') {
        return Err(ManagerError::Unimplemented(format!(
            "volumes are not supported yet (named volume {src:?}); bind-mount a host path (an absolute path) instead"
        )));
    }
    let read_only = match mode {
        "" | "rw" => false,
        "ro" => true,
        m => {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid mode: {m} (in volume specification '{spec}')"
            )))
        }
    };
    if !Path::new(src).exists() {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {src}"
        )));
    }
    Ok(BindMount {
        source: src.to_string(),
        destination: dst.to_string(),
        read_only,
    })
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
    let v: serde_json::Value = serde_json::from_slice(blob)
        .map_err(|e| ManagerError::Internal(format!("unreadable image config: {e}")))?;
    match v.get("config") {
        None | Some(serde_json::Value::Null) => Ok(ImageConfig::default()),
        Some(c) => serde_json::from_value(c.clone())
            .map_err(|e| ManagerError::Internal(format!("unreadable image config: {e}"))),
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

/// Removes what a failed create made, unless disarmed.
struct Undo<'a> {
    engine: &'a Engine,
    snapshot: Option<String>,
    dir: Option<PathBuf>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
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

impl Engine {
    /// Creates a container (docker create). Nothing runs yet.
    pub async fn create_container(&self, ns: &str, opts: CreateOptions) -> Result<Created> {
        // A create is most often followed by a start (`run`): begin the
        // cgroup-move grace period now, so it has passed by the time the
        // shim moves the init (migration.rs).
        super::migration::begin_grace_period();
        let engine = self.clone();
        let ns = ns.to_string();
        tokio::task::spawn_blocking(move || engine.create_blocking(&ns, opts))
            .await
            .map_err(|e| ManagerError::Internal(format!("create task failed: {e}")))?
    }

    fn reserve_new_name(&self, ns: &str, name: &str) -> Result<(String, NameReservation<'_>)> {
        let reg = self.container_registry();
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

    fn create_blocking(&self, ns: &str, opts: CreateOptions) -> Result<Created> {
        self.store().ensure_namespace(ns)?;
        let CreateOptions {
            name,
            config,
            host_config,
        } = opts;
        // Everything the user gave is checked before anything is made.
        let mounts = host_config
            .binds
            .iter()
            .map(|b| parse_bind(b))
            .collect::<Result<Vec<_>>>()?;
        let security = parse_security_opts(&host_config.security_opt)?;
        self.config().runtime_binary(&host_config.runtime)?;
        super::signal::parse_signal(&config.stop_signal, 15)?;
        let (name, _name) = self.reserve_new_name(ns, &name)?;
        let (image, _) = self.resolve_image(ns, &config.image)?;
        let image_cfg = image_config(&self.read_json_blob(&image.config.digest)?)?;

        let mut id = new_id();
        while self.container_record(ns, &id)?.is_some() {
            id = new_id();
        }
        let mut config = config;
        let image_exposed = image_cfg.exposed_ports().clone().unwrap_or_default();
        config.exposed_ports =
            crate::network::endpoint::exposed_ports(&image_exposed, &config, &host_config)?;
        let net = self.plan_network(ns, &id, &config, &host_config)?;
        let _gc = self.op_guard();
        let parent = image.layers.last().map(|l| l.chain_id.clone());
        let mut labels = berth_snapshotter::Labels::new();
        labels.insert("berth.container".into(), format!("{ns}/{id}"));
        let rootfs = self.snapshotter().prepare(&id, parent.as_deref(), labels)?;
        let mut undo = Undo {
            engine: self,
            snapshot: Some(id.clone()),
            dir: None,
        };

        let tmp = self.config().root.join("tmp").join(format!("userdb-{id}"));
        let (passwd, group) = userdb::read(&rootfs, &tmp)?;
        let user = if config.user.is_empty() {
            image_cfg.user().clone().unwrap_or_default()
        } else {
            config.user.clone()
        };
        let resolved = resolve_user(&user, &passwd, &group)?;

        let hostname = if !config.hostname.is_empty() {
            config.hostname.clone()
        } else {
            net.hostname.clone().unwrap_or_else(|| id[..12].to_string())
        };
        let warnings = net.warnings.clone();
        let nofile = container_nofile();
        let mut run = RunOptions {
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            env: config.env.clone(),
            workdir: (!config.working_dir.is_empty()).then(|| config.working_dir.clone()),
            user: (!user.is_empty()).then(|| user.clone()),
            hostname: hostname.clone(),
            read_only: host_config.read_only,
            privileged: host_config.privileged,
            cap_add: host_config.cap_add.clone(),
            cap_drop: host_config.cap_drop.clone(),
            no_new_privileges: security.no_new_privileges,
            tty: config.tty,
            mounts,
            resources: host_config.resources.clone(),
            // Set at each start from the daemon's cgroup parent.
            cgroups_path: String::new(),
            init: host_config.init,
            seccomp: None,
            nofile,
        };
        // The /etc files berthd keeps, unless the user binds their own.
        for (src, dst) in &net.files {
            if !run.mounts.iter().any(|m| m.destination == *dst) {
                run.mounts.push(BindMount {
                    source: src.display().to_string(),
                    destination: dst.clone(),
                    read_only: false,
                });
            }
        }
        if host_config.init {
            let init = self.config().state.join("bin").join("berth-init");
            if !init.exists() {
                return Err(ManagerError::FailedPrecondition(format!(
                    "--init: {} is missing (berthd installs it at start-up)",
                    init.display()
                )));
            }
            run.mounts.push(BindMount {
                source: init.display().to_string(),
                destination: INIT_PATH.to_string(),
                read_only: true,
            });
        }
        run.seccomp = match (&security.seccomp, host_config.privileged) {
            (_, true) | (Seccomp::Unconfined, _) => None,
            (Seccomp::Default, false) => Some(seccomp::default_profile(&capability_names(&run)?)),
            (Seccomp::Custom(json), false) => Some(
                seccomp::from_docker_profile(json, &capability_names(&run)?)
                    .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?,
            ),
        };
        let spec = build_spec(&image_cfg, &run, resolved, "rootfs")?;
        let effective = effective_config(&image_cfg, &config, &user, &spec);
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

        let dir = container_dir(self.config(), ns, &id);
        undo.dir = Some(dir.clone());
        crate::layout::private_dir(&dir)?;
        let spec_json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| ManagerError::Internal(format!("encode the OCI spec: {e}")))?;
        let sp = spec_path(self.config(), ns, &id);
        fs::write(&sp, spec_json).ctx(|| format!("write {}", sp.display()))?;
        let log = log_path(self.config(), ns, &id);
        fs::File::create(&log).ctx(|| format!("create {}", log.display()))?;

        let stop_signal = if config.stop_signal.is_empty() {
            image_cfg.stop_signal().clone().unwrap_or_default()
        } else {
            config.stop_signal.clone()
        };
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            image_id: image.id().to_string(),
            image_name: image.name.clone(),
            snapshotter: self.snapshotter_name().to_string(),
            snapshot_key: id.clone(),
            created: now(),
            path,
            args,
            hostname,
            stop_signal,
            config,
            host_config,
            effective,
            state: State::default(),
            restart_count: 0,
            log_path: log,
            task: None,
            endpoints: net.endpoints,
            ports: Vec::new(),
        };
        let mut b = Batch::default();
        b.put(&schema::container_key(ns, &id), &rec)?;
        b.put(
            &schema::snapshot_key(ns, self.snapshotter_name(), &id),
            &SnapshotRecord {
                key: id.clone(),
                parent,
                created_at: rec.created.clone(),
                labels: Default::default(),
            },
        )?;
        self.store().apply(b)?;
        undo.snapshot = None;
        undo.dir = None;
        info!(namespace = ns, id = %id, name = %name, image = %rec.config.image, "created container");
        Ok(Created { id, warnings })
    }
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
    fn binds() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().display().to_string();
        let b = parse_bind(&format!("{src}:/data:ro")).unwrap();
        assert_eq!(
            b,
            BindMount {
                source: src.clone(),
                destination: "/data".into(),
                read_only: true
            }
        );
        assert!(!parse_bind(&format!("{src}:/data")).unwrap().read_only);
        assert!(!parse_bind(&format!("{src}:/data:rw")).unwrap().read_only);
        let kind = |s: &str| parse_bind(s).unwrap_err().kind();
        use crate::ErrorKind::*;
        assert_eq!(kind("vol:/data"), Unimplemented);
        assert_eq!(kind("/data"), Unimplemented);
        assert_eq!(kind("/nonexistent/berth/x:/data"), InvalidArgument);
        assert_eq!(kind(&format!("{src}:/data:zz")), InvalidArgument);
        assert_eq!(kind(&format!("{src}:")), InvalidArgument);
        assert_eq!(kind("a:b:c:d"), InvalidArgument);
        assert_eq!(
            parse_bind("vol:/data").unwrap_err().to_string(),
            "volumes are not supported yet (named volume \"vol\"); bind-mount a host path (an absolute path) instead"
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
