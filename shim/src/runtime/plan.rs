//! The init's plan: everything the container init needs, worked out from
//! the OCI spec in the parent before the clone (namespace flags and fds,
//! parsed mounts, devices, clamped rlimits, capability masks, the args and
//! env as C strings), so the init mostly makes system calls and little
//! else. Invalid specs are refused here, before anything is created. The
//! process part ([`ProcessPlan`]) is also what an exec runs from.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::unistd::Gid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Process, Spec};

use super::capabilities::{self, CapSets};
use super::devices::{self, Device};
use super::mounts::{self, MountEntry};
use super::rlimits::{self, Rlimit};
use super::rootfs::{self, CgroupMounts};
use super::user::UserIds;
use super::RuntimeError;
use crate::cgroups::{self, Limits};

/// PATH for the command lookup when the process env has none (docker's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// See the module doc.
#[derive(Debug)]
pub struct Plan {
    /// The rootfs, absolute.
    pub rootfs: PathBuf,
    /// Namespaces created by the clone.
    pub clone_flags: CloneFlags,
    /// Namespaces to join (`path` given), user first; entered by the init.
    pub join: Vec<(OwnedFd, CloneFlags)>,
    /// A pid namespace to join: entered by the parent around the clone,
    /// since it applies to children only.
    pub pid_ns: Option<OwnedFd>,
    /// A new cgroup namespace, unshared by the init once it is in its cgroup.
    pub new_cgroup_ns: bool,
    /// The init is in a user namespace (made or joined): it becomes the
    /// namespace's root before building the container.
    pub user_ns: bool,
    /// Written by the parent when the clone made a user namespace.
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    /// Propagation set on "/" before anything is mounted.
    pub root_propagation: MsFlags,
    /// Propagation set on the new "/" after pivot_root (shared kinds).
    pub root_propagation_after: Option<MsFlags>,
    pub mounts: Vec<MountEntry>,
    pub cgroup_mounts: CgroupMounts,
    pub devices: Vec<Device>,
    /// Device cgroup rules (empty when the spec restricts nothing).
    pub device_rules: Vec<devices::Rule>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub readonly_root: bool,
    pub hostname: Option<String>,
    /// Bring lo up (a new network namespace).
    pub loopback: bool,
    /// (/proc/sys/... file, value).
    pub sysctl: Vec<(PathBuf, String)>,
    pub oom_score_adj: Option<i32>,
    /// The process: user, capabilities, rlimits, command.
    pub process: ProcessPlan,
    /// The cgroup, relative to the cgroup root, and its limits.
    pub cgroup_path: String,
    pub limits: Limits,
    /// Adjustments made instead of failing (clamped rlimits, dropped caps).
    pub warnings: Vec<String>,
}

/// What a container process (the init or an exec) becomes once it is in
/// the container: from the OCI `process` object.
#[derive(Debug)]
pub struct ProcessPlan {
    pub umask: u32,
    pub rlimits: Vec<Rlimit>,
    pub user: UserIds,
    pub caps: Option<CapSets>,
    pub no_new_privileges: bool,
    pub cwd: PathBuf,
    pub arg0: String,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// PATH from the env, for finding arg0.
    pub path: String,
}

fn spec_err(m: impl Into<String>) -> RuntimeError {
    RuntimeError::Spec(m.into())
}

fn ns_flag(t: LinuxNamespaceType) -> Result<CloneFlags, RuntimeError> {
    Ok(match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => {
            return Err(spec_err("time namespaces are not supported"));
        }
    })
}

fn id_map(maps: &Option<Vec<LinuxIdMapping>>, what: &str) -> Result<String, RuntimeError> {
    let maps = maps.as_deref().unwrap_or_default();
    if maps.is_empty() {
        return Err(spec_err(format!("a user namespace needs {what} mappings")));
    }
    Ok(maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect())
}

/// Cgroup limits from `linux.resources`.
pub fn limits(spec: &Spec) -> Limits {
    let mut l = Limits::default();
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return l;
    };
    if let Some(m) = r.memory() {
        l.memory = m.limit();
        l.memory_swap = m.swap();
    }
    if let Some(c) = r.cpu() {
        l.cpu_quota = c.quota();
        l.cpu_period = c.period();
        l.cpu_shares = c.shares();
        l.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        l.pids_limit = Some(p.limit());
    }
    l
}

fn cstring(s: &str, what: &str) -> Result<CString, RuntimeError> {
    CString::new(s).map_err(|_| spec_err(format!("{what} contains a NUL byte: {s:?}")))
}

impl Plan {
    /// Work out the plan for container `id` from `spec` in `bundle`.
    pub fn new(id: &str, bundle: &Path, spec: &Spec) -> Result<Plan, RuntimeError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| spec_err("no process"))?;
        let root = spec.root().as_ref().ok_or_else(|| spec_err("no root"))?;
        let linux = spec.linux().clone().unwrap_or_default();
        let mut warnings = Vec::new();

        let rootfs = bundle.join(root.path());
        let rootfs = rootfs
            .canonicalize()
            .map_err(|e| RuntimeError::Create(format!("rootfs {}: {e}", rootfs.display())))?;

        let mut clone_flags = CloneFlags::empty();
        let mut join = Vec::new();
        let mut pid_ns = None;
        let mut new_cgroup_ns = false;
        let mut has_mount_ns = false;
        for ns in linux.namespaces().as_deref().unwrap_or_default() {
            let flag = ns_flag(ns.typ())?;
            has_mount_ns |= flag == CloneFlags::CLONE_NEWNS;
            match ns.path() {
                Some(p) if flag == CloneFlags::CLONE_NEWNS => {
                    return Err(spec_err(format!(
                        "joining the mount namespace {} is not supported",
                        p.display()
                    )))
                }
                Some(p) => {
                    let fd: OwnedFd = File::open(p)
                        .map_err(|e| {
                            RuntimeError::Create(format!("open namespace {}: {e}", p.display()))
                        })?
                        .into();
                    if flag == CloneFlags::CLONE_NEWPID {
                        pid_ns = Some(fd);
                    } else if flag == CloneFlags::CLONE_NEWUSER {
                        join.insert(0, (fd, flag));
                    } else {
                        join.push((fd, flag));
                    }
                }
                None if flag == CloneFlags::CLONE_NEWCGROUP => new_cgroup_ns = true,
                None => clone_flags |= flag,
            }
        }
        if !has_mount_ns {
            return Err(spec_err("the built-in runtime needs a mount namespace"));
        }
        let new_user_ns = clone_flags.contains(CloneFlags::CLONE_NEWUSER);
        let (uid_map, gid_map) = if new_user_ns {
            (
                Some(id_map(linux.uid_mappings(), "uid")?),
                Some(id_map(linux.gid_mappings(), "gid")?),
            )
        } else {
            (None, None)
        };

        let (root_propagation, root_propagation_after) = match linux.rootfs_propagation().as_deref()
        {
            None | Some("") => (MsFlags::MS_PRIVATE | MsFlags::MS_REC, None),
            Some(word) => {
                let p = mounts::propagation(word)
                    .ok_or_else(|| spec_err(format!("invalid rootfsPropagation {word:?}")))?;
                if p.contains(MsFlags::MS_SHARED) {
                    // pivot_root refuses a shared parent: share only after it.
                    (MsFlags::MS_SLAVE | MsFlags::MS_REC, Some(p))
                } else {
                    (p | MsFlags::MS_REC, None)
                }
            }
        };

        let mounts = mounts::entries(spec.mounts().as_deref().unwrap_or_default(), bundle)?;
        let cgroup_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.trim_matches('/').is_empty())
            .unwrap_or_else(|| format!("berth/{id}"));

        let cgroup_mounts = CgroupMounts {
            v2: cgroups::detect().is_v2(),
            joined_namespace: join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWCGROUP),
            path: cgroup_path.clone(),
            v1: std::fs::read_to_string("/proc/self/mountinfo")
                .map(|m| rootfs::v1_hierarchies(&m))
                .unwrap_or_default(),
        };
        let devices = devices::devices(linux.devices().as_deref().unwrap_or_default())?;
        let spec_rules = linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().clone())
            .unwrap_or_default();
        let device_rules = if spec_rules.is_empty() {
            Vec::new()
        } else {
            devices::cgroup_rules(&spec_rules, &devices)
        };

        let abs_paths = |v: &Option<Vec<String>>, what: &str| {
            v.iter()
                .flatten()
                .map(|p| {
                    if p.starts_with('/') {
                        Ok(PathBuf::from(p))
                    } else {
                        Err(spec_err(format!("{what} {p:?} is not absolute")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let masked_paths = abs_paths(linux.masked_paths(), "masked path")?;
        let readonly_paths = abs_paths(linux.readonly_paths(), "read-only path")?;

        let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
        let has_uts = clone_flags.contains(CloneFlags::CLONE_NEWUTS)
            || join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWUTS);
        if hostname.is_some() && !has_uts {
            return Err(spec_err("setting the hostname needs a UTS namespace"));
        }

        let mut sysctl: Vec<(PathBuf, String)> = linux
            .sysctl()
            .iter()
            .flatten()
            .map(|(k, v)| (Path::new("/proc/sys").join(k.replace('.', "/")), v.clone()))
            .collect();
        sysctl.sort();

        let oom_score_adj = process.oom_score_adj();
        let process = ProcessPlan::new(process, &rootfs, &mut warnings)?;

        Ok(Plan {
            rootfs,
            loopback: clone_flags.contains(CloneFlags::CLONE_NEWNET),
            clone_flags,
            user_ns: new_user_ns || join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWUSER),
            join,
            pid_ns,
            new_cgroup_ns,
            uid_map,
            gid_map,
            root_propagation,
            root_propagation_after,
            mounts,
            cgroup_mounts,
            devices,
            device_rules,
            masked_paths,
            readonly_paths,
            readonly_root: root.readonly().unwrap_or(false),
            hostname,
            sysctl,
            oom_score_adj,
            process,
            cgroup_path,
            limits: limits(spec),
            warnings,
        })
    }
}

impl ProcessPlan {
    /// The plan for `process`; `root` is the container's root as the shim
    /// reaches it (for HOME from its /etc/passwd). Adjustments made instead
    /// of failing (dropped capabilities, clamped rlimits) are added to
    /// `warnings`.
    pub fn new(
        process: &Process,
        root: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<ProcessPlan, RuntimeError> {
        let last_cap = capabilities::last_cap();
        let caps = match process.capabilities() {
            Some(c) => {
                let (sets, w) =
                    capabilities::plan(c, capabilities::current_bounding(last_cap), last_cap);
                warnings.extend(w);
                Some(sets)
            }
            None => None,
        };
        let can_raise = capabilities::current_effective()
            .map(|e| e & (1 << 24) != 0)
            .unwrap_or(false);
        let (rlimits, w) = rlimits::plan(
            process.rlimits().as_deref().unwrap_or_default(),
            can_raise,
            rlimits::current_hard,
        );
        warnings.extend(w);

        let u = process.user();
        let user = UserIds {
            uid: u.uid(),
            gid: u.gid(),
            additional_gids: u
                .additional_gids()
                .iter()
                .flatten()
                .map(|g| Gid::from_raw(*g))
                .collect(),
        };

        let args_s = process.args().as_deref().unwrap_or_default();
        let arg0 = args_s
            .first()
            .cloned()
            .ok_or_else(|| spec_err("process.args is empty"))?;
        let args = args_s
            .iter()
            .map(|a| cstring(a, "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let env_s = process.env().as_deref().unwrap_or_default();
        let mut env = env_s
            .iter()
            .map(|e| cstring(e, "an environment variable"))
            .collect::<Result<Vec<_>, _>>()?;
        // Like runc: HOME comes from the user's passwd entry in the image
        // when the spec does not set it.
        if !env_s.iter().any(|e| e.starts_with("HOME=")) {
            let home = home_dir(root, u.uid());
            env.push(cstring(&format!("HOME={home}"), "HOME")?);
        }
        let path = env_s
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_owned();
        if !process.cwd().is_absolute() {
            return Err(spec_err(format!(
                "process.cwd {} is not absolute",
                process.cwd().display()
            )));
        }
        Ok(ProcessPlan {
            umask: u.umask().unwrap_or(0o022),
            rlimits,
            user,
            caps,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            cwd: process.cwd().clone(),
            arg0,
            args,
            env,
            path,
        })
    }
}

/// The home directory of `uid` in the rootfs's /etc/passwd, "/" when the
/// file or the entry is missing (runc's rule).
fn home_dir(rootfs: &Path, uid: u32) -> String {
    // Read through a descriptor resolved inside the rootfs: the image's
    // /etc (or /etc/passwd) may be a symlink.
    let passwd = berth_inroot::RootDir::open(rootfs)
        .and_then(|root| root.read_regular(Path::new("/etc/passwd"), 4 << 20));
    passwd
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|text| {
            text.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
                    .then(|| f[5].to_owned())
            })
        })
        .unwrap_or_else(|| "/".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Linux, LinuxNamespace, Process, Root};

    fn spec(namespaces: &[LinuxNamespaceType], args: &[&str]) -> Spec {
        let mut process = Process::default();
        process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        process.set_env(Some(vec!["A=1".into(), "PATH=/bin:/usr/bin".into()]));
        process.set_capabilities(None);
        process.set_rlimits(None);
        let mut root = Root::default();
        root.set_path("rootfs".into());
        let mut linux = Linux::default();
        linux.set_namespaces(Some(
            namespaces
                .iter()
                .map(|t| {
                    let mut ns = LinuxNamespace::default();
                    ns.set_typ(*t);
                    ns
                })
                .collect(),
        ));
        linux.set_resources(None);
        let mut s = Spec::default();
        s.set_process(Some(process));
        s.set_root(Some(root));
        s.set_mounts(Some(vec![]));
        s.set_hostname(None);
        s.set_linux(Some(linux));
        s
    }

    use LinuxNamespaceType::*;

    #[test]
    fn namespaces_args_env_and_defaults() {
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(b.path().join("rootfs")).unwrap();
        let s = spec(
            &[Pid, Mount, Uts, Ipc, Network, Cgroup],
            &["sh", "-c", "true"],
        );
        let p = Plan::new("abc", b.path(), &s).unwrap();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWNET
        );
        assert!(p.new_cgroup_ns && !p.cgroup_mounts.joined_namespace && p.loopback && !p.user_ns);
        assert_eq!(p.cgroup_mounts.path, "berth/abc");
        assert_eq!(p.rootfs, b.path().join("rootfs").canonicalize().unwrap());
        assert_eq!(p.process.arg0, "sh");
        assert_eq!(p.process.args.len(), 3);
        assert_eq!(
            p.process.env.len(),
            3,
            "A, PATH and HOME (from passwd, else /)"
        );
        assert_eq!(p.process.env[2].to_str().unwrap(), "HOME=/");
        assert_eq!(p.process.path, "/bin:/usr/bin");
        assert_eq!(p.cgroup_path, "berth/abc");
        assert_eq!(p.root_propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(p.process.umask, 0o022);
        assert!(p.process.caps.is_none());
    }

    #[test]
    fn invalid_specs_are_refused_before_anything_is_made() {
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(b.path().join("rootfs")).unwrap();
        let err = |s: &Spec| Plan::new("x", b.path(), s).unwrap_err().to_string();

        assert!(err(&spec(&[Pid, Mount], &[])).contains("args is empty"));
        assert!(err(&spec(&[Pid], &["sh"])).contains("mount namespace"));
        assert!(err(&spec(&[Mount, Time], &["sh"])).contains("time namespaces"));
        let mut s = spec(&[Mount], &["sh"]);
        s.set_hostname(Some("h".into()));
        assert!(err(&s).contains("UTS namespace"));
        let mut s = spec(&[Mount, User], &["sh"]);
        assert!(err(&s).contains("uid mappings"));
        s.process_mut().as_mut().unwrap().set_cwd("rel".into());
        s.linux_mut().as_mut().unwrap().set_namespaces(None);
        assert!(err(&s).contains("mount namespace"));
        let mut s = spec(&[Mount], &["sh"]);
        s.process_mut().as_mut().unwrap().set_cwd("rel".into());
        assert!(err(&s).contains("not absolute"));
        let mut s = spec(&[Mount], &["sh"]);
        s.linux_mut()
            .as_mut()
            .unwrap()
            .set_rootfs_propagation(Some("sideways".into()));
        assert!(err(&s).contains("rootfsPropagation"));
        let s = spec(&[Mount], &["sh"]);
        let nowhere = b.path().join("nowhere");
        let e = Plan::new("x", &nowhere, &s).unwrap_err().to_string();
        assert!(e.contains("rootfs"), "{e}");
    }

    #[test]
    fn shared_propagation_is_applied_after_pivot_root() {
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(b.path().join("rootfs")).unwrap();
        let mut s = spec(&[Mount], &["sh"]);
        s.linux_mut()
            .as_mut()
            .unwrap()
            .set_rootfs_propagation(Some("rshared".into()));
        let p = Plan::new("x", b.path(), &s).unwrap();
        assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(
            p.root_propagation_after,
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
    }
}
