//! The OCI runtime spec (config.json) for one container, built from the
//! image config and the user's run options the way docker (moby's
//! `oci/defaults.go`, `daemon/oci_linux.go`, `CreateDaemonEnvironment`,
//! `oci/caps`) and runc's user lookup do it. Pure: the caller reads the
//! image's /etc/passwd and /etc/group (by descriptor inside the root, see
//! `userdb` and `inroot`) and passes their contents in.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilities, LinuxCpu, LinuxDeviceCgroup,
    LinuxDeviceType, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    LinuxSeccomp, Mount, PosixRlimitBuilder, PosixRlimitType, Process, Root, Spec, User,
};

use super::resources::Resources;

// docker's defaults are written once, in berth-defaults (the shim's tests
// build "what berthd writes" from the same lists).
pub use berth_defaults::{
    default_mounts, ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_NOFILE, DEFAULT_PATH_ENV,
    MASKED_PATHS, READONLY_PATHS,
};
/// Where `--init` expects the init binary inside the container. The caller
/// bind-mounts the host binary there (as docker does with docker-init).
pub const INIT_PATH: &str = "/sbin/berth-init";

/// Why a spec could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the user gives a command.
    #[error("no command specified")]
    NoCommand,
    /// `-u NAME` names a user missing from the image's /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// `-u USER:GROUP` names a group missing from the image's /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A numeric uid or gid outside 0..=2^31-1.
    #[error("user or group id {0} is out of range (0 to 2147483647)")]
    IdOutOfRange(String),
    /// `--cap-add`/`--cap-drop` with a name the kernel does not know.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// `-w` or the image's WorkingDir is not absolute.
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeWorkdir(String),
    /// A bind mount's destination is not absolute.
    #[error("invalid mount config for type \"bind\": invalid mount path: '{0}' mount path must be absolute")]
    RelativeMountPath(String),
    /// A bind mount over the container's root.
    #[error(
        "invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    )]
    RootMount,
    /// Two mounts at one destination.
    #[error("Duplicate mount point: {0}")]
    DuplicateMount(String),
    /// oci-spec refused a value it builds (should not happen).
    #[error("building the OCI spec: {0}")]
    Oci(String),
}

/// A `-v SRC:DST[:ro]` bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindMount {
    /// Host path (already resolved by the caller).
    pub source: String,
    /// Absolute path inside the container.
    pub destination: String,
    /// Mount read-only.
    pub read_only: bool,
    /// "" is rprivate (docker's default for binds).
    pub propagation: String,
}

/// A tmpfs mount (`--tmpfs`, `--mount type=tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TmpfsMount {
    /// Absolute path inside the container.
    pub destination: String,
    /// mount(8) options and data ("size=64m", "mode=1777", "ro").
    pub options: Vec<String>,
}

/// What the user asked of `berth run`/`create`, already parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Command after the image name; overrides the image's Cmd when non-empty.
    pub cmd: Vec<String>,
    /// `--entrypoint`: `None` keeps the image's, `Some(vec![])` (or `[""]`)
    /// resets it. Any `Some` drops the image's Cmd, as docker does.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` (or `KEY` alone to unset an image variable).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`, kept for the record: the caller resolves it with
    /// [`resolve_user`] and hands the result to [`build_spec`].
    pub user: Option<String>,
    /// `-h`; the short container id by default.
    pub hostname: String,
    /// `--read-only`.
    pub read_only: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `-t`.
    pub tty: bool,
    /// `-v` bind mounts (volumes are binds of their data).
    pub mounts: Vec<BindMount>,
    /// tmpfs mounts.
    pub tmpfs: Vec<TmpfsMount>,
    /// cgroup limits.
    pub resources: Resources,
    /// The container's cgroup path (under the daemon's cgroup parent).
    pub cgroups_path: String,
    /// `--init`: run [`INIT_PATH`] as PID 1 in front of the command.
    pub init: bool,
    /// The seccomp profile (none when privileged or `seccomp=unconfined`).
    pub seccomp: Option<LinuxSeccomp>,
    /// RLIMIT_NOFILE (soft and hard); `None` is [`DEFAULT_NOFILE`]. The
    /// caller lowers it when berthd may not raise limits that high.
    pub nofile: Option<u64>,
}

/// The ids a process runs with, from `-u` and the image's user database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Largest id runc accepts (it refuses anything above MaxInt32).
const MAX_ID: u32 = i32::MAX as u32;

fn parse_passwd(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let mut f = line.trim().split(':');
        let name = f.next()?;
        let _password = f.next();
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        (!name.is_empty() && !name.starts_with('#')).then_some(PasswdEntry { name, uid, gid })
    })
}

fn parse_group(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group.lines().filter_map(|line| {
        let mut f = line.trim().split(':');
        let name = f.next()?;
        let _password = f.next();
        let gid = f.next()?.parse().ok()?;
        let members = f
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        (!name.is_empty() && !name.starts_with('#')).then_some(GroupEntry { name, gid, members })
    })
}

fn numeric_id(s: &str) -> Option<Result<u32, SpecError>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match s.parse::<u32>() {
        Ok(v) if v <= MAX_ID => Ok(v),
        _ => Err(SpecError::IdOutOfRange(s.to_string())),
    })
}

/// Resolves `-u` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) against
/// the contents of the image's /etc/passwd and /etc/group, as runc's
/// `GetExecUser` does: an unknown name is an error, an unknown number is
/// used as is; supplementary groups come from /etc/group membership only
/// when no group is given explicitly. The empty user is root.
pub fn resolve_user(user: &str, passwd: &str, group: &str) -> Result<ResolvedUser, SpecError> {
    let (user_arg, group_arg) = user.split_once(':').unwrap_or((user, ""));
    let uid_arg = numeric_id(user_arg).transpose()?;
    let gid_arg = numeric_id(group_arg).transpose()?;

    let mut out = ResolvedUser::default();
    let matched = parse_passwd(passwd).find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(uid)) => u.uid == uid,
        (name, None) => u.name == name,
    });
    let matched_name = match &matched {
        Some(u) => {
            out.uid = u.uid;
            out.gid = u.gid;
            Some(u.name)
        }
        None => {
            match uid_arg {
                Some(uid) => out.uid = uid,
                None if !user_arg.is_empty() => {
                    return Err(SpecError::UnknownUser(user_arg.to_string()))
                }
                None => {}
            }
            None
        }
    };

    if !group_arg.is_empty() {
        let found = parse_group(group).find(|g| match gid_arg {
            Some(gid) => g.gid == gid,
            None => g.name == group_arg,
        });
        out.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(SpecError::UnknownGroup(group_arg.to_string())),
        };
    } else if let Some(name) = matched_name {
        out.additional_gids = parse_group(group)
            .filter(|g| g.members.contains(&name))
            .map(|g| g.gid)
            .collect();
    }
    Ok(out)
}

/// The process arguments: entrypoint + cmd, with docker's override rules.
fn process_args(image: &ImageConfig, opts: &RunOptions) -> Result<Vec<String>, SpecError> {
    let mut args: Vec<String> = match &opts.entrypoint {
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => Vec::new(),
        Some(ep) => ep.clone(),
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    if !opts.cmd.is_empty() {
        args.extend(opts.cmd.iter().cloned());
    } else if opts.entrypoint.is_none() {
        args.extend(image.cmd().clone().unwrap_or_default());
    }
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    if opts.init {
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    Ok(args)
}

pub(crate) fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// docker's `ReplaceOrAppendEnvValues`: `KEY=V` replaces or appends, a bare
/// `KEY` removes.
pub(crate) fn replace_or_append_env(defaults: &mut Vec<String>, overrides: &[String]) {
    for value in overrides {
        let key = env_key(value);
        let pos = defaults.iter().position(|d| env_key(d) == key);
        match (value.contains('='), pos) {
            (true, Some(i)) => defaults[i] = value.clone(),
            (true, None) => defaults.push(value.clone()),
            (false, Some(i)) => {
                defaults.remove(i);
            }
            (false, None) => {}
        }
    }
}

/// docker's `CreateDaemonEnvironment`: PATH, HOSTNAME, TERM (with a tty),
/// then the image's env, then the user's, each overriding by key.
fn process_env(image: &ImageConfig, opts: &RunOptions) -> Vec<String> {
    let mut env = vec![
        DEFAULT_PATH_ENV.to_string(),
        format!("HOSTNAME={}", opts.hostname),
    ];
    if opts.tty {
        env.push("TERM=xterm".to_string());
    }
    replace_or_append_env(&mut env, image.env().as_deref().unwrap_or_default());
    replace_or_append_env(&mut env, &opts.env);
    env
}

fn process_cwd(image: &ImageConfig, opts: &RunOptions) -> Result<String, SpecError> {
    let wd = opts
        .workdir
        .as_deref()
        .filter(|w| !w.is_empty())
        .or(image.working_dir().as_deref().filter(|w| !w.is_empty()))
        .unwrap_or("/");
    if !wd.starts_with('/') {
        return Err(SpecError::RelativeWorkdir(wd.to_string()));
    }
    Ok(wd.to_string())
}

/// Upper-cases and prefixes `CAP_`; `ALL` stays `ALL`; unknown is an error.
fn normalize_caps(names: &[String]) -> Result<Vec<String>, SpecError> {
    names
        .iter()
        .map(|n| {
            let up = n.trim().to_ascii_uppercase();
            if up == "ALL" {
                return Ok(up);
            }
            let full = if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            };
            if ALL_CAPABILITIES.contains(&full.as_str()) {
                Ok(full)
            } else {
                Err(SpecError::UnknownCapability(full))
            }
        })
        .collect()
}

/// moby's `TweakCapabilities`: privileged → all; `--cap-add ALL` → all but the
/// drops; `--cap-drop ALL` → only the adds; else defaults − drops + adds.
pub fn capability_names(opts: &RunOptions) -> Result<Vec<String>, SpecError> {
    let all = || ALL_CAPABILITIES.iter().map(|c| c.to_string());
    if opts.privileged {
        return Ok(all().collect());
    }
    let adds = normalize_caps(&opts.cap_add)?;
    let drops = normalize_caps(&opts.cap_drop)?;
    let has_all = |v: &[String]| v.iter().any(|c| c == "ALL");
    let mut caps: Vec<String> = if has_all(&adds) {
        all().filter(|c| !drops.contains(c)).collect()
    } else if has_all(&drops) {
        adds
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drops.contains(c))
            .chain(adds)
            .collect()
    };
    let mut seen = HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

fn capabilities(opts: &RunOptions) -> Result<LinuxCapabilities, SpecError> {
    let mut set = Capabilities::new();
    for name in capability_names(opts)? {
        let bare = name.strip_prefix("CAP_").unwrap_or(&name);
        let cap =
            Capability::from_str(bare).map_err(|_| SpecError::UnknownCapability(name.clone()))?;
        set.insert(cap);
    }
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    Ok(caps)
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// docker's default mounts, then the user's binds (sorted by depth, as moby
/// sorts them); a user mount replaces the default at the same destination.
fn mounts(opts: &RunOptions) -> Result<Vec<Mount>, SpecError> {
    let defaults = default_mounts(opts.privileged);

    let mut seen = HashSet::new();
    let mut user = Vec::with_capacity(opts.mounts.len() + opts.tmpfs.len());
    let mut check = |d: &str| -> Result<String, SpecError> {
        if !d.starts_with('/') {
            return Err(SpecError::RelativeMountPath(d.to_string()));
        }
        let dest = clean_path(d);
        if dest == "/" {
            return Err(SpecError::RootMount);
        }
        if !seen.insert(dest.clone()) {
            return Err(SpecError::DuplicateMount(dest));
        }
        Ok(dest)
    };
    for b in &opts.mounts {
        let dest = check(&b.destination)?;
        let propagation = if b.propagation.is_empty() {
            "rprivate"
        } else {
            &b.propagation
        };
        let mut options = vec!["rbind", propagation];
        if b.read_only {
            options.push("ro");
        }
        user.push(mount(&dest, "bind", &b.source, &options));
    }
    for t in &opts.tmpfs {
        let dest = check(&t.destination)?;
        let mut options = vec!["nosuid", "noexec", "nodev"];
        options.extend(t.options.iter().map(String::as_str));
        user.push(mount(&dest, "tmpfs", "tmpfs", &options));
    }
    user.sort_by_key(|m| m.destination().components().count());

    let mut all: Vec<Mount> = defaults
        .into_iter()
        .filter(|m| !seen.contains(&m.destination().to_string_lossy().into_owned()))
        .collect();
    all.extend(user);
    Ok(all)
}

/// Lexically cleans an absolute path: no `.`, no `..` above the root, no
/// repeated or trailing slashes.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// docker's device cgroup rules: deny everything, then allow mknod of any
/// node and use of the standard ones (null, zero, full, random, urandom,
/// tty, console, ptmx, pts, tun). `--privileged` allows every device.
fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    let rule = |allow: bool, typ: Option<LinuxDeviceType>, major, minor, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    if privileged {
        return vec![rule(true, None, None, None, "rwm")];
    }
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(5), Some(1), "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(10), Some(200), "rwm"),
    ]
}

fn linux_resources(r: &Resources, privileged: bool) -> LinuxResources {
    let mut out = LinuxResources::default();
    out.set_devices(Some(device_rules(privileged)));
    if r.memory.is_some() || r.memory_swap.is_some() {
        let mut mem = LinuxMemory::default();
        mem.set_limit(r.memory);
        mem.set_swap(r.memory_swap);
        out.set_memory(Some(mem));
    }
    if r.cpu_quota.is_some()
        || r.cpu_period.is_some()
        || r.cpu_shares.is_some()
        || r.cpuset_cpus.is_some()
    {
        let mut cpu = LinuxCpu::default();
        cpu.set_quota(r.cpu_quota);
        cpu.set_period(r.cpu_period);
        cpu.set_shares(r.cpu_shares);
        cpu.set_cpus(r.cpuset_cpus.clone());
        out.set_cpu(Some(cpu));
    }
    if let Some(limit) = r.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        out.set_pids(Some(pids));
    }
    out
}

fn namespaces() -> Vec<LinuxNamespace> {
    [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .map(|typ| {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        ns
    })
    .collect()
}

/// Builds the container's OCI runtime spec from the image config, the run
/// options and the already resolved user. `rootfs` is the root path as the
/// runtime will see it (relative to the bundle, or absolute).
pub fn build_spec(
    image: &ImageConfig,
    opts: &RunOptions,
    user: ResolvedUser,
    rootfs: &str,
) -> Result<Spec, SpecError> {
    let mut root = Root::default();
    root.set_path(PathBuf::from(rootfs));
    root.set_readonly(Some(opts.read_only));

    let mut spec = Spec::default();
    spec.set_version(oci_spec::runtime::VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts(opts)?));
    spec.set_process(Some(process(image, opts, user)?));
    spec.set_hostname(Some(opts.hostname.clone()));
    spec.set_annotations(None);
    spec.set_linux(Some(linux(opts)));
    Ok(spec)
}

/// The container's init process: its user, args, env, cwd, capabilities
/// and limits.
fn process(
    image: &ImageConfig,
    opts: &RunOptions,
    user: ResolvedUser,
) -> Result<Process, SpecError> {
    let mut proc_user = User::default();
    proc_user.set_uid(user.uid);
    proc_user.set_gid(user.gid);
    proc_user
        .set_additional_gids((!user.additional_gids.is_empty()).then_some(user.additional_gids));

    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(opts.nofile.unwrap_or(DEFAULT_NOFILE))
        .hard(opts.nofile.unwrap_or(DEFAULT_NOFILE))
        .build()
        .map_err(|e| SpecError::Oci(e.to_string()))?;

    let mut process = Process::default();
    process.set_terminal(Some(opts.tty));
    process.set_user(proc_user);
    process.set_args(Some(process_args(image, opts)?));
    process.set_env(Some(process_env(image, opts)));
    process.set_cwd(PathBuf::from(process_cwd(image, opts)?));
    process.set_capabilities(Some(capabilities(opts)?));
    process.set_rlimits(Some(vec![nofile]));
    process.set_no_new_privileges(Some(opts.no_new_privileges));
    Ok(process)
}

/// The spec's linux section: namespaces, cgroup, seccomp and the masked
/// and read-only paths (none of those when privileged).
fn linux(opts: &RunOptions) -> Linux {
    let to_strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces()));
    linux.set_resources(Some(linux_resources(&opts.resources, opts.privileged)));
    linux.set_cgroups_path(Some(PathBuf::from(&opts.cgroups_path)));
    linux.set_devices(None);
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl(None);
    linux.set_seccomp(if opts.privileged {
        None
    } else {
        opts.seccomp.clone()
    });
    if opts.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(to_strings(MASKED_PATHS)));
        linux.set_readonly_paths(Some(to_strings(READONLY_PATHS)));
    }
    linux
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/sh
";
    const GROUP: &str = "\
root:x:0:
daemon:x:1:
wheel:x:10:root,alice
audio:x:29:alice
www-data:x:33:
alice:x:1000:
staff:x:50:
";

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        let mut c = ImageConfig::default();
        c.set_entrypoint(entrypoint.map(strs));
        c.set_cmd(cmd.map(strs));
        c
    }

    fn opts() -> RunOptions {
        RunOptions {
            hostname: "abc123".into(),
            cgroups_path: "/berth/abc123".into(),
            ..Default::default()
        }
    }

    fn spec_json(image: &ImageConfig, opts: &RunOptions) -> Value {
        let spec = build_spec(image, opts, ResolvedUser::default(), "rootfs").unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    fn uset(v: &Value) -> HashSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn users() {
        type Ids<'a> = (u32, u32, &'a [u32]);
        let ok: &[(&str, Ids)] = &[
            ("", (0, 0, &[10])),
            ("root", (0, 0, &[10])),
            ("0", (0, 0, &[10])),
            ("alice", (1000, 1000, &[10, 29])),
            ("1000", (1000, 1000, &[10, 29])),
            ("www-data", (33, 33, &[])),
            ("alice:staff", (1000, 50, &[])),
            ("alice:50", (1000, 50, &[])),
            ("alice:4242", (1000, 4242, &[])),
            ("4242", (4242, 0, &[])),
            ("4242:4343", (4242, 4343, &[])),
            ("4242:wheel", (4242, 10, &[])),
            ("daemon:root", (1, 0, &[])),
        ];
        for (spec, (uid, gid, extra)) in ok {
            let got = resolve_user(spec, PASSWD, GROUP).unwrap();
            let want = ResolvedUser {
                uid: *uid,
                gid: *gid,
                additional_gids: extra.to_vec(),
            };
            assert_eq!(got, want, "{spec:?}");
        }
        // No passwd file at all: numeric ids still work, root is 0:0.
        assert_eq!(resolve_user("", "", "").unwrap(), ResolvedUser::default());
        assert_eq!(resolve_user("7:8", "", "").unwrap().gid, 8);

        let bad: &[(&str, &str)] = &[
            (
                "bob",
                "unable to find user bob: no matching entries in passwd file",
            ),
            (
                "bob:wheel",
                "unable to find user bob: no matching entries in passwd file",
            ),
            (
                "alice:nogroup",
                "unable to find group nogroup: no matching entries in group file",
            ),
            (
                "4294967296",
                "user or group id 4294967296 is out of range (0 to 2147483647)",
            ),
            (
                "2147483648",
                "user or group id 2147483648 is out of range (0 to 2147483647)",
            ),
        ];
        for (spec, msg) in bad {
            let err = resolve_user(spec, PASSWD, GROUP).unwrap_err();
            assert_eq!(err.to_string(), *msg, "{spec:?}");
        }
    }

    #[test]
    fn args() {
        type Case<'a> = (
            Option<&'a [&'a str]>,
            Option<&'a [&'a str]>,
            Option<&'a [&'a str]>,
            &'a [&'a str],
            Option<&'a [&'a str]>,
        );
        // (image entrypoint, image cmd, user entrypoint, user cmd, want)
        let cases: &[Case] = &[
            (None, Some(&["sh"]), None, &[], Some(&["sh"])),
            (
                None,
                Some(&["sh"]),
                None,
                &["echo", "hi"],
                Some(&["echo", "hi"]),
            ),
            (Some(&["/ep"]), Some(&["a"]), None, &[], Some(&["/ep", "a"])),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                None,
                &["b"],
                Some(&["/ep", "b"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some(&["/mine"]),
                &[],
                Some(&["/mine"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some(&["/mine"]),
                &["b"],
                Some(&["/mine", "b"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some(&[]),
                &["ls"],
                Some(&["ls"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some(&[""]),
                &["ls"],
                Some(&["ls"]),
            ),
            (Some(&["/ep"]), Some(&["a"]), Some(&[]), &[], None),
            (None, None, None, &[], None),
            (Some(&[]), Some(&[]), None, &[], None),
            (None, None, Some(&["/bin/true"]), &[], Some(&["/bin/true"])),
        ];
        for (i, (iep, icmd, uep, ucmd, want)) in cases.iter().enumerate() {
            let img = image(*iep, *icmd);
            let o = RunOptions {
                entrypoint: uep.map(strs),
                cmd: strs(ucmd),
                ..opts()
            };
            let got = process_args(&img, &o);
            match want {
                Some(w) => assert_eq!(got, Ok(strs(w)), "case {i}"),
                None => assert_eq!(got, Err(SpecError::NoCommand), "case {i}"),
            }
        }
        let o = RunOptions {
            init: true,
            cmd: strs(&["sleep", "1"]),
            ..opts()
        };
        assert_eq!(
            process_args(&image(None, None), &o),
            Ok(strs(&[INIT_PATH, "--", "sleep", "1"]))
        );
        let err = build_spec(
            &image(None, None),
            &opts(),
            ResolvedUser::default(),
            "rootfs",
        );
        assert_eq!(err.unwrap_err().to_string(), "no command specified");
    }

    #[test]
    fn env() {
        let path = DEFAULT_PATH_ENV;
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &[], false, &[path, "HOSTNAME=abc123"]),
            (&[], &[], true, &[path, "HOSTNAME=abc123", "TERM=xterm"]),
            (
                &["PATH=/bin"],
                &[],
                false,
                &["PATH=/bin", "HOSTNAME=abc123"],
            ),
            (
                &["A=1", "B=2"],
                &["B=3", "C=4"],
                false,
                &[path, "HOSTNAME=abc123", "A=1", "B=3", "C=4"],
            ),
            (&["A=1"], &["A"], false, &[path, "HOSTNAME=abc123"]),
            (
                &[],
                &["HOSTNAME=me", "TERM=dumb"],
                true,
                &[path, "HOSTNAME=me", "TERM=dumb"],
            ),
            (
                &["A=x=y"],
                &["B="],
                false,
                &[path, "HOSTNAME=abc123", "A=x=y", "B="],
            ),
        ];
        for (i, (img_env, user_env, tty, want)) in cases.iter().enumerate() {
            let mut img = image(None, Some(&["sh"]));
            img.set_env(Some(strs(img_env)));
            let o = RunOptions {
                env: strs(user_env),
                tty: *tty,
                ..opts()
            };
            assert_eq!(process_env(&img, &o), strs(want), "case {i}");
        }
    }

    #[test]
    fn cwd() {
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<&'a str, SpecError>);
        let cases: &[Case] = &[
            (None, None, Ok("/")),
            (Some("/srv"), None, Ok("/srv")),
            (Some("/srv"), Some("/tmp"), Ok("/tmp")),
            (None, Some("/tmp"), Ok("/tmp")),
            (Some(""), None, Ok("/")),
            (
                None,
                Some("rel"),
                Err(SpecError::RelativeWorkdir("rel".into())),
            ),
        ];
        for (img_wd, user_wd, want) in cases {
            let mut img = image(None, Some(&["sh"]));
            img.set_working_dir(img_wd.map(String::from));
            let o = RunOptions {
                workdir: user_wd.map(String::from),
                ..opts()
            };
            assert_eq!(process_cwd(&img, &o), want.clone().map(String::from));
        }
    }

    #[test]
    fn every_known_capability_parses() {
        for name in ALL_CAPABILITIES {
            let bare = name.trim_start_matches("CAP_");
            assert!(Capability::from_str(bare).is_ok(), "{name}");
        }
        let wire: HashSet<String> = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        let o = RunOptions {
            privileged: true,
            ..opts()
        };
        let j = spec_json(&image(None, Some(&["sh"])), &o);
        assert_eq!(uset(&j["process"]["capabilities"]["bounding"]), wire);
    }

    #[test]
    fn caps() {
        let default: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
        let all: Vec<&str> = ALL_CAPABILITIES.to_vec();
        let without = |base: &[&str], gone: &[&str]| -> Vec<String> {
            base.iter()
                .filter(|c| !gone.contains(c))
                .map(|c| c.to_string())
                .collect()
        };
        // (add, drop, privileged, want)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, Vec<String>);
        let cases: Vec<Case> = vec![
            (&[], &[], false, strs(&default)),
            (&[], &[], true, strs(&all)),
            (
                &["NET_ADMIN"],
                &[],
                false,
                [strs(&default), strs(&["CAP_NET_ADMIN"])].concat(),
            ),
            (
                &["cap_sys_admin"],
                &[],
                false,
                [strs(&default), strs(&["CAP_SYS_ADMIN"])].concat(),
            ),
            (&["chown"], &[], false, strs(&default)),
            (
                &[],
                &["NET_RAW", "cap_mknod"],
                false,
                without(&default, &["CAP_NET_RAW", "CAP_MKNOD"]),
            ),
            (&[], &["ALL"], false, vec![]),
            (&["KILL"], &["all"], false, strs(&["CAP_KILL"])),
            (&["ALL"], &[], false, strs(&all)),
            (
                &["all"],
                &["SYS_ADMIN"],
                false,
                without(&all, &["CAP_SYS_ADMIN"]),
            ),
            (&["SYS_PTRACE"], &["ALL"], true, strs(&all)),
        ];
        for (i, (add, drop, privileged, want)) in cases.into_iter().enumerate() {
            let o = RunOptions {
                cap_add: strs(add),
                cap_drop: strs(drop),
                privileged,
                ..opts()
            };
            assert_eq!(capability_names(&o).unwrap(), want, "case {i}");
            let j = spec_json(&image(None, Some(&["sh"])), &o);
            let caps = &j["process"]["capabilities"];
            let want_set: HashSet<String> = want.into_iter().collect();
            for set in ["bounding", "effective", "permitted"] {
                assert_eq!(uset(&caps[set]), want_set, "case {i} {set}");
            }
            assert!(caps.get("inheritable").is_none(), "case {i}");
            assert!(caps.get("ambient").is_none(), "case {i}");
        }
        let o = RunOptions {
            cap_add: strs(&["FLY"]),
            ..opts()
        };
        let err = build_spec(
            &image(None, Some(&["sh"])),
            &o,
            ResolvedUser::default(),
            "r",
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            r#"unknown capability: "CAP_FLY""#
        );
        let o = RunOptions {
            cap_drop: strs(&["cap_nope"]),
            ..opts()
        };
        assert_eq!(
            capability_names(&o),
            Err(SpecError::UnknownCapability("CAP_NOPE".into()))
        );
    }

    #[test]
    fn default_mounts() {
        let j = spec_json(&image(None, Some(&["sh"])), &opts());
        let want = json!([
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        ]);
        assert_eq!(j["mounts"], want);

        let priv_opts = RunOptions {
            privileged: true,
            ..opts()
        };
        let j = spec_json(&image(None, Some(&["sh"])), &priv_opts);
        assert_eq!(
            j["mounts"][3]["options"],
            json!(["nosuid", "noexec", "nodev"])
        );
        assert_eq!(
            j["mounts"][4]["options"],
            json!(["nosuid", "noexec", "nodev"])
        );
    }

    #[test]
    fn bind_mounts() {
        let bind = |s: &str, d: &str, ro: bool| BindMount {
            propagation: String::new(),
            source: s.into(),
            destination: d.into(),
            read_only: ro,
        };
        let o = RunOptions {
            mounts: vec![
                bind("/host/a/b", "/data/deep/", true),
                bind("/host/c", "/data", false),
                bind("/host/shm", "/dev/shm", false),
            ],
            ..opts()
        };
        let j = spec_json(&image(None, Some(&["sh"])), &o);
        let mounts = j["mounts"].as_array().unwrap();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/data",
                "/data/deep",
                "/dev/shm",
            ]
        );
        assert_eq!(
            mounts[6],
            json!({"destination": "/data", "type": "bind", "source": "/host/c",
                   "options": ["rbind", "rprivate"]})
        );
        assert_eq!(mounts[7]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(mounts[8]["source"], "/host/shm");

        let bad: &[(&[BindMount], SpecError)] = &[
            (
                &[bind("/a", "rel", false)],
                SpecError::RelativeMountPath("rel".into()),
            ),
            (&[bind("/a", "/", false)], SpecError::RootMount),
            (&[bind("/a", "/x/..", false)], SpecError::RootMount),
            (
                &[bind("/a", "/x", false), bind("/b", "/x/", true)],
                SpecError::DuplicateMount("/x".into()),
            ),
        ];
        for (mounts, want) in bad {
            let o = RunOptions {
                mounts: mounts.to_vec(),
                ..opts()
            };
            let err = build_spec(
                &image(None, Some(&["sh"])),
                &o,
                ResolvedUser::default(),
                "r",
            );
            assert_eq!(err.as_ref().unwrap_err(), want);
        }
        assert_eq!(
            SpecError::DuplicateMount("/x".into()).to_string(),
            "Duplicate mount point: /x"
        );
    }

    #[test]
    fn masked_and_readonly_paths() {
        let j = spec_json(&image(None, Some(&["sh"])), &opts());
        assert_eq!(j["linux"]["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(j["linux"]["readonlyPaths"], json!(READONLY_PATHS));
        let o = RunOptions {
            privileged: true,
            ..opts()
        };
        let j = spec_json(&image(None, Some(&["sh"])), &o);
        assert!(j["linux"].get("maskedPaths").is_none());
        assert!(j["linux"].get("readonlyPaths").is_none());
    }

    #[test]
    fn whole_spec() {
        let mut img = image(Some(&["/entry"]), Some(&["serve"]));
        img.set_env(Some(strs(&["LANG=C"])));
        img.set_working_dir(Some("/srv".into()));
        let o = RunOptions {
            hostname: "web".into(),
            read_only: true,
            no_new_privileges: true,
            tty: true,
            cgroups_path: "/berth/default/0123".into(),
            resources: Resources {
                memory: Some(512 << 20),
                memory_swap: Some(1 << 30),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                cpu_shares: Some(512),
                cpuset_cpus: Some("0-1".into()),
                pids_limit: Some(100),
            },
            ..opts()
        };
        let user = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10, 29],
        };
        let spec = build_spec(&img, &o, user, "/run/berth/0123/rootfs").unwrap();
        let j = serde_json::to_value(&spec).unwrap();

        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&j),
            [
                "hostname",
                "linux",
                "mounts",
                "ociVersion",
                "process",
                "root"
            ]
        );
        assert_eq!(
            keys(&j["process"]),
            [
                "args",
                "capabilities",
                "cwd",
                "env",
                "noNewPrivileges",
                "rlimits",
                "terminal",
                "user"
            ]
        );
        assert_eq!(
            keys(&j["linux"]),
            [
                "cgroupsPath",
                "maskedPaths",
                "namespaces",
                "readonlyPaths",
                "resources"
            ]
        );
        assert_eq!(j["ociVersion"], oci_spec::runtime::VERSION);
        assert_eq!(
            j["root"],
            json!({"path": "/run/berth/0123/rootfs", "readonly": true})
        );
        assert_eq!(j["hostname"], "web");
        assert!(j.get("annotations").is_none());
        let p = &j["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["args"], json!(["/entry", "serve"]));
        assert_eq!(
            p["env"],
            json!([DEFAULT_PATH_ENV, "HOSTNAME=web", "TERM=xterm", "LANG=C"])
        );
        assert_eq!(p["cwd"], "/srv");
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 29]})
        );
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}])
        );
        let l = &j["linux"];
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "mount", "uts", "ipc", "network", "cgroup"]);
        assert_eq!(l["cgroupsPath"], "/berth/default/0123");
        let mut res = l["resources"].clone();
        let devices = res.as_object_mut().unwrap().remove("devices").unwrap();
        assert_eq!(
            res,
            json!({
                "memory": {"limit": 536870912, "swap": 1073741824},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
                "pids": {"limit": 100},
            })
        );
        // docker's device rules: deny all first, then the standard nodes.
        assert_eq!(devices[0], json!({"allow": false, "access": "rwm"}));
        assert!(devices.as_array().unwrap().contains(
            &json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
        ));
        assert!(l.get("devices").is_none());

        // Defaults: writable root, no terminal, nnp off, no limits, root user
        // without additionalGids.
        let j = spec_json(&image(None, Some(&["sh"])), &opts());
        assert_eq!(j["root"]["readonly"], false);
        assert_eq!(j["process"]["terminal"], false);
        assert_eq!(j["process"]["noNewPrivileges"], false);
        assert_eq!(j["process"]["user"], json!({"uid": 0, "gid": 0}));
        let keys: Vec<&String> = j["linux"]["resources"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["devices"], "no limits but the device rules");

        // The spec parses back into oci-spec's type unchanged.
        let back: Spec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn image_config_from_json() {
        // An image config as a registry serves it (PascalCase keys).
        let cfg: ImageConfig = serde_json::from_value(json!({
            "Env": ["PATH=/usr/bin:/bin"],
            "Entrypoint": ["/docker-entrypoint.sh"],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "WorkingDir": "/usr/share/nginx"
        }))
        .unwrap();
        let j = spec_json(&cfg, &opts());
        assert_eq!(
            j["process"]["args"],
            json!(["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"])
        );
        assert_eq!(j["process"]["env"][0], "PATH=/usr/bin:/bin");
        assert_eq!(j["process"]["cwd"], "/usr/share/nginx");
    }
}
