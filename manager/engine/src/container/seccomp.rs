//! Seccomp profiles for `config.json`: docker's default profile, and
//! profiles in docker's JSON format (`--security-opt seccomp=PROFILE.json`),
//! both resolved against the container's capabilities into the OCI form
//! the runtime compiles.
//!
//! A docker profile is a list of rules that apply only under conditions
//! (`includes`/`excludes`: capabilities, architectures, a minimum kernel);
//! the OCI form has no conditions, so they are decided here, at create
//! time, as docker does: a rule with `includes.caps` applies when the
//! container has ALL of them, one with `excludes.caps` is dropped when it
//! has ANY of them.
//!
//! The default profile below follows docker's: everything not listed fails
//! with EPERM; ~350 ordinary syscalls are allowed; the ones that reach
//! kernel-wide state (mount, unshare, setns, bpf, reboot, modules, the
//! clock, ...) are allowed only with the capability that guards them;
//! `clone` without CAP_SYS_ADMIN only without CLONE_NEW* flags; `clone3`
//! (whose flags sit behind a pointer seccomp cannot read) fails with ENOSYS
//! so libc falls back to `clone`; `socket(AF_VSOCK)` is refused.

use std::collections::HashSet;
use std::str::FromStr;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;

mod default;
use default::default_rules;

/// Why a docker-format seccomp profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeccompProfileError {
    #[error("decoding seccomp profile: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "seccomp profile: unknown action {action:?} (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...)"
    )]
    UnknownAction { action: String },
    #[error(
        "seccomp profile: unknown operator {op:?} (expected SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)"
    )]
    UnknownOperator { op: String },
    #[error("seccomp profile: unknown architecture {arch:?} (expected SCMP_ARCH_X86_64, ...)")]
    UnknownArch { arch: String },
    #[error("seccomp profile: unknown flag {flag:?}")]
    UnknownFlag { flag: String },
    #[error("seccomp profile: 'architectures' and 'archMap' cannot both be set")]
    ArchitecturesAndArchMap,
    #[error("seccomp profile: a syscall entry has both 'name' and 'names'")]
    NameAndNames,
    #[error("seccomp profile: a syscall entry has no name")]
    NoName,
    #[error("seccomp profile: syscall {syscall:?}: argument index {index} is out of range (0-5)")]
    ArgIndex { syscall: String, index: usize },
    #[error("seccomp profile: invalid minKernel {value:?} (expected \"major.minor\")")]
    MinKernel { value: String },
}

/// Docker's default seccomp profile for a container holding `capabilities`
/// (bounding set names as in the spec, e.g. "CAP_SYS_ADMIN").
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    resolve(
        &default_rules(),
        &Host::current(),
        capabilities,
        default_shape(),
    )
}

/// Parses a profile in docker's JSON format (`defaultAction`,
/// `defaultErrnoRet`, `architectures` or `archMap`, `flags`, `syscalls`
/// with `names`/`name`, `action`, `errnoRet`, `args`, `includes`,
/// `excludes`) and resolves it for a container holding `capabilities`.
pub fn from_docker_profile(
    json: &str,
    capabilities: &[String],
) -> Result<LinuxSeccomp, SeccompProfileError> {
    let profile: DockerProfile = serde_json::from_str(json)?;
    let host = Host::current();
    let shape = Shape {
        default_action: action(&profile.default_action)?,
        default_errno_ret: profile.default_errno_ret,
        architectures: architectures(&profile, &host)?,
        flags: profile
            .flags
            .iter()
            .map(|f| flag(f))
            .collect::<Result<_, _>>()?,
    };
    let rules = profile
        .syscalls
        .iter()
        .map(Rule::from_docker)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(resolve(&rules, &host, capabilities, shape))
}

/// What a rule's conditions are checked against.
struct Host {
    /// The architecture in docker's naming ("amd64", "arm64", ...).
    arch: &'static str,
    kernel: (u32, u32),
}

impl Host {
    fn current() -> Host {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Host {
            arch: docker_arch(),
            kernel: parse_kernel(release.trim()).unwrap_or((0, 0)),
        }
    }
}

/// This build's architecture as docker's profiles name it (Go's GOARCH).
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        other => other, // arm, s390x, riscv64, mips64 are spelled alike
    }
}

/// The seccomp architectures a filter covers on `arch`: the native one
/// plus the compat ABIs a container may run binaries for.
fn native_architectures(arch: &str) -> Vec<Arch> {
    match arch {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "ppc64le" => vec![Arch::ScmpArchPpc64le],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        _ => vec![],
    }
}

/// "6.1.0-18-amd64" → (6, 1).
fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Everything of the OCI profile except its syscall rules.
struct Shape {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Vec<Arch>,
    flags: Vec<LinuxSeccompFilterFlag>,
}

fn default_shape() -> Shape {
    Shape {
        default_action: LinuxSeccompAction::ScmpActErrno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: native_architectures(docker_arch()),
        flags: Vec::new(),
    }
}

/// When a rule applies.
#[derive(Default, Clone)]
struct Cond {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

/// One docker rule, validated.
#[derive(Clone)]
struct Rule {
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
    includes: Cond,
    excludes: Cond,
}

impl Rule {
    fn allow(names: &[&str]) -> Rule {
        Rule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: LinuxSeccompAction::ScmpActAllow,
            errno_ret: None,
            args: Vec::new(),
            includes: Cond::default(),
            excludes: Cond::default(),
        }
    }

    fn errno(mut self, errno: i32) -> Rule {
        self.action = LinuxSeccompAction::ScmpActErrno;
        self.errno_ret = Some(errno as u32);
        self
    }

    fn arg(mut self, index: usize, value: u64, value_two: u64, op: LinuxSeccompOperator) -> Rule {
        let arg = LinuxSeccompArgBuilder::default()
            .index(index)
            .value(value)
            .value_two(value_two)
            .op(op)
            .build()
            // Every field of the builder has a default: build() cannot fail.
            .expect("LinuxSeccompArgBuilder has defaults for all fields");
        self.args.push(arg);
        self
    }

    fn caps(mut self, caps: &[&str]) -> Rule {
        self.includes.caps = caps.iter().map(|c| c.to_string()).collect();
        self
    }

    fn without_caps(mut self, caps: &[&str]) -> Rule {
        self.excludes.caps = caps.iter().map(|c| c.to_string()).collect();
        self
    }

    fn arches(mut self, arches: &[&str]) -> Rule {
        self.includes.arches = arches.iter().map(|a| a.to_string()).collect();
        self
    }

    fn without_arches(mut self, arches: &[&str]) -> Rule {
        self.excludes.arches = arches.iter().map(|a| a.to_string()).collect();
        self
    }

    fn min_kernel(mut self, major: u32, minor: u32) -> Rule {
        self.includes.min_kernel = Some((major, minor));
        self
    }

    /// Whether the rule applies on `host` to a container with `caps`.
    fn applies(&self, host: &Host, caps: &HashSet<&str>) -> bool {
        let (inc, exc) = (&self.includes, &self.excludes);
        inc.caps.iter().all(|c| caps.contains(c.as_str()))
            && !exc.caps.iter().any(|c| caps.contains(c.as_str()))
            && (inc.arches.is_empty() || inc.arches.iter().any(|a| a == host.arch))
            && !exc.arches.iter().any(|a| a == host.arch)
            && inc.min_kernel.is_none_or(|min| host.kernel >= min)
    }
}

fn resolve(rules: &[Rule], host: &Host, capabilities: &[String], shape: Shape) -> LinuxSeccomp {
    let caps: HashSet<&str> = capabilities.iter().map(String::as_str).collect();
    let syscalls: Vec<LinuxSyscall> = rules
        .iter()
        .filter(|rule| rule.applies(host, &caps))
        .map(|rule| {
            let mut syscall = LinuxSyscall::default();
            syscall.set_names(rule.names.clone());
            syscall.set_action(rule.action);
            syscall.set_errno_ret(rule.errno_ret);
            syscall.set_args((!rule.args.is_empty()).then(|| rule.args.clone()));
            syscall
        })
        .collect();
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(shape.default_action);
    seccomp.set_default_errno_ret(shape.default_errno_ret);
    seccomp.set_architectures((!shape.architectures.is_empty()).then_some(shape.architectures));
    seccomp.set_flags((!shape.flags.is_empty()).then_some(shape.flags));
    seccomp.set_syscalls(Some(syscalls));
    seccomp
}

// ---- docker's JSON format ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<DockerArchMap>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    syscalls: Vec<DockerSyscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerSyscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<DockerArg>,
    #[serde(default)]
    includes: DockerCond,
    #[serde(default)]
    excludes: DockerCond,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerCond {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

impl Rule {
    fn from_docker(call: &DockerSyscall) -> Result<Rule, SeccompProfileError> {
        let names = match (&call.name, call.names.is_empty()) {
            (Some(_), false) => return Err(SeccompProfileError::NameAndNames),
            (Some(name), true) => vec![name.clone()],
            (None, false) => call.names.clone(),
            (None, true) => return Err(SeccompProfileError::NoName),
        };
        let mut rule = Rule::allow(&[]);
        rule.names = names;
        rule.action = action(&call.action)?;
        rule.errno_ret = call.errno_ret;
        for arg in &call.args {
            if arg.index > 5 {
                let syscall = rule.names.join(",");
                return Err(SeccompProfileError::ArgIndex {
                    syscall,
                    index: arg.index,
                });
            }
            let op = LinuxSeccompOperator::from_str(&arg.op)
                .map_err(|_| SeccompProfileError::UnknownOperator { op: arg.op.clone() })?;
            rule = rule.arg(arg.index, arg.value, arg.value_two, op);
        }
        rule.includes = cond(&call.includes)?;
        rule.excludes = cond(&call.excludes)?;
        Ok(rule)
    }
}

fn cond(c: &DockerCond) -> Result<Cond, SeccompProfileError> {
    let min_kernel = match &c.min_kernel {
        None => None,
        Some(v) => Some(
            parse_kernel(v).ok_or_else(|| SeccompProfileError::MinKernel { value: v.clone() })?,
        ),
    };
    Ok(Cond {
        caps: c.caps.clone(),
        arches: c.arches.clone(),
        min_kernel,
    })
}

fn action(name: &str) -> Result<LinuxSeccompAction, SeccompProfileError> {
    LinuxSeccompAction::from_str(name).map_err(|_| SeccompProfileError::UnknownAction {
        action: name.to_string(),
    })
}

fn arch(name: &str) -> Result<Arch, SeccompProfileError> {
    Arch::from_str(name).map_err(|_| SeccompProfileError::UnknownArch {
        arch: name.to_string(),
    })
}

fn flag(name: &str) -> Result<LinuxSeccompFilterFlag, SeccompProfileError> {
    LinuxSeccompFilterFlag::from_str(name).map_err(|_| SeccompProfileError::UnknownFlag {
        flag: name.to_string(),
    })
}

/// `architectures`, or from `archMap` the entry for this host's native
/// architecture with its sub-architectures (none matching: native only).
fn architectures(profile: &DockerProfile, host: &Host) -> Result<Vec<Arch>, SeccompProfileError> {
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(SeccompProfileError::ArchitecturesAndArchMap);
    }
    if !profile.arch_map.is_empty() {
        let native = native_architectures(host.arch).into_iter().next();
        for entry in &profile.arch_map {
            let main = arch(&entry.architecture)?;
            let subs = entry.sub_architectures.iter().map(|a| arch(a));
            let subs = subs.collect::<Result<Vec<_>, _>>()?;
            if Some(main) == native {
                return Ok(std::iter::once(main).chain(subs).collect());
            }
        }
        return Ok(Vec::new());
    }
    profile.architectures.iter().map(|a| arch(a)).collect()
}

#[cfg(test)]
mod tests;
