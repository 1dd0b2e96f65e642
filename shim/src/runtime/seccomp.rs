//! Seccomp: the OCI profile (`linux.seccomp`) compiled to a BPF program in
//! the shim, loaded by the container's init as its last step before exec.
//!
//! libseccomp does the hard part (syscall numbers per architecture, the
//! architecture checks, argument comparisons on 32- and 64-bit ABIs), but
//! it allocates and its `seccomp_load` may spawn nothing yet still takes
//! locks; the child between clone and exec must only make plain syscalls.
//! So [`compile`] runs in the parent and exports the finished program as
//! bytes, and [`Filter::load`] is a single `seccomp(2)` call on memory that
//! already exists.
//!
//! Semantics follow runc: the default action and `defaultErrnoRet` (EPERM
//! when absent); each listed architecture is added; a rule whose action is
//! the default action is dropped (libseccomp refuses it); syscall names
//! unknown to libseccomp are skipped; conditions on distinct argument
//! indices are ANDed in one rule, while several conditions on the same
//! index become one rule each (alternatives, as docker's `personality`
//! entry expects); for `SCMP_CMP_MASKED_EQ`, `value` is the mask and
//! `valueTwo` the expected result.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::errno::Errno;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

/// The kernel's limit on the length of one BPF program (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

/// Why a seccomp profile could not be compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A feature of the profile this runtime does not implement.
    #[error("seccomp: {0}")]
    Unsupported(String),
    /// libseccomp refused part of the profile.
    #[error("seccomp: {what}: {source}")]
    Libseccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// An errno return value that does not fit the filter's 16-bit data.
    #[error("seccomp: errno return value {0} is out of range")]
    Errno(u32),
    /// Reading the exported program back failed.
    #[error("seccomp: exporting the BPF program: {0}")]
    Export(#[source] std::io::Error),
    /// The program is longer than the kernel accepts.
    #[error("seccomp: the filter has {0} BPF instructions, more than the kernel's limit of {MAX_INSTRUCTIONS}")]
    TooLong(usize),
    /// The kernel refused the filter (EACCES: neither no_new_privs nor
    /// CAP_SYS_ADMIN; EINVAL: a malformed program or unknown flag).
    #[error("seccomp: loading the filter: {0}")]
    Load(Errno),
}

/// A compiled seccomp filter, ready to load: the raw BPF program and the
/// `seccomp(2)` flags.
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .finish()
    }
}

/// [`compile`], with the program kept in `cache_dir` for the next shim.
///
/// Compiling docker's profile with libseccomp takes ~15 ms, most of a
/// container's start; every container with the same capabilities has the
/// same profile. The cache file holds the profile's JSON, the flags and the
/// program; it is used only when the stored JSON equals this profile's
/// byte for byte (the name is a hash, the check is not). Written by rename,
/// so a reader never sees half a file; any problem with the cache falls
/// back to compiling.
pub fn compile_cached(
    spec: &LinuxSeccomp,
    cache_dir: Option<&std::path::Path>,
) -> Result<Filter, SeccompError> {
    let Some(dir) = cache_dir else {
        return compile(spec);
    };
    let Ok(json) = serde_json::to_vec(spec) else {
        return compile(spec);
    };
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        json.hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        h.finish()
    };
    let path = dir.join(format!("seccomp-{key:016x}.bpf"));
    if let Some(filter) = std::fs::read(&path)
        .ok()
        .and_then(|bytes| Filter::decode(&bytes, &json))
    {
        return Ok(filter);
    }
    let filter = compile(spec)?;
    // Best effort: a cache that cannot be written costs time, not
    // correctness.
    let tmp = dir.join(format!(".seccomp-{key:016x}.{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, filter.encode(&json)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(filter)
}

impl Filter {
    /// `[json len u64][json][flags u64][(code u16, jt u8, jf u8, k u32)...]`,
    /// little endian.
    fn encode(&self, json: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + json.len() + self.program.len() * 8);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(json);
        // c_ulong is u32 on 32-bit targets: the file always holds 64 bits.
        #[allow(clippy::unnecessary_cast)]
        let flags = self.flags as u64;
        out.extend_from_slice(&flags.to_le_bytes());
        for ins in &self.program {
            out.extend_from_slice(&ins.code.to_le_bytes());
            out.push(ins.jt);
            out.push(ins.jf);
            out.extend_from_slice(&ins.k.to_le_bytes());
        }
        out
    }

    /// The filter stored by [`Filter::encode`] for exactly `json`; `None`
    /// for another profile or a damaged file.
    fn decode(bytes: &[u8], json: &[u8]) -> Option<Filter> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let len = usize::try_from(u64_at(0)?).ok()?;
        if bytes.get(8..8 + len)? != json {
            return None;
        }
        let flags = libc::c_ulong::try_from(u64_at(8 + len)?).ok()?;
        let rest = bytes.get(16 + len..)?;
        if rest.is_empty() || rest.len() % 8 != 0 || rest.len() / 8 > MAX_INSTRUCTIONS {
            return None;
        }
        let program = rest
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Filter { program, flags })
    }
}

/// Compiles `spec` into a BPF program. Runs in the parent (the shim),
/// before clone, where allocating and calling into libseccomp is safe.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let lib = |what: String| move |source| SeccompError::Libseccomp { what, source };

    let default = action(spec.default_action(), spec.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("creating the filter".into()))?;
    for arch in spec.architectures().iter().flatten() {
        let scmp = scmp_arch(*arch);
        ctx.add_arch(scmp)
            .map_err(lib(format!("adding architecture {arch}")))?;
    }

    for rule in spec.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args = rule.args().as_deref().unwrap_or_default();
        let conditions = conditions(args)?;
        for name in rule.names() {
            // Names libseccomp does not know (newer syscalls, typos, other
            // architectures' syscalls it has no pseudo-number for) are
            // skipped, as runc does, so one profile serves every kernel.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let what = || format!("adding a rule for {name}");
            if conditions.is_empty() {
                ctx.add_rule(act, syscall).map_err(lib(what()))?;
            } else if has_repeated_index(args) {
                for cond in &conditions {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(cond))
                        .map_err(lib(what()))?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions)
                    .map_err(lib(what()))?;
            }
        }
    }

    let program = export(&ctx)?;
    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(Filter {
        program,
        flags: flags(spec.flags().as_deref().unwrap_or_default()),
    })
}

impl Filter {
    /// Installs the filter on the calling thread. Runs in the container's
    /// init right before exec: it only makes the `seccomp(2)` system call
    /// (falling back to `prctl(PR_SET_SECCOMP)` on kernels without it) on
    /// memory allocated before the fork, so it is safe after clone in a
    /// process whose parent had threads.
    ///
    /// The kernel accepts a filter only from a task that has
    /// `no_new_privs` set or holds CAP_SYS_ADMIN in its user namespace: when
    /// the spec does not ask for no_new_privs, the caller must still hold
    /// CAP_SYS_ADMIN here and drop capabilities afterwards, as runc does
    /// (the filter must then allow `capset`, and `execve`, as docker's does).
    /// TSYNC is never used: the child has a single thread.
    pub fn load(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: prog points at `self.program`, which outlives the call;
        // the kernel copies the program and does not keep the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = Errno::last();
        if err != Errno::ENOSYS || self.flags != 0 {
            return Err(SeccompError::Load(err));
        }
        // SAFETY: as above; PR_SET_SECCOMP takes the same sock_fprog.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(SeccompError::Load(Errno::last()))
        }
    }

    /// The length of the BPF program, in instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }
}

fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let data = || {
        let value = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| SeccompError::Errno(value))
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported(
                "SCMP_ACT_NOTIFY (a seccomp agent) is not supported".into(),
            ))
        }
    })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    }
}

fn conditions(args: &[LinuxSeccompArg]) -> Result<Vec<ScmpArgCompare>, SeccompError> {
    args.iter()
        .map(|arg| {
            let index = u32::try_from(arg.index())
                .ok()
                .filter(|i| *i < 6)
                .ok_or_else(|| {
                    SeccompError::Unsupported(format!("argument index {} (0-5)", arg.index()))
                })?;
            let (op, datum) = match arg.op() {
                LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
                LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
                LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
                LinuxSeccompOperator::ScmpCmpMaskedEq => (
                    ScmpCompareOp::MaskedEqual(arg.value()),
                    arg.value_two().unwrap_or(0),
                ),
            };
            Ok(ScmpArgCompare::new(index, op, datum))
        })
        .collect()
}

/// Whether two conditions test the same argument (then they are
/// alternatives, one rule each, rather than one rule that ANDs them).
fn has_repeated_index(args: &[LinuxSeccompArg]) -> bool {
    args.iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()))
}

fn flags(flags: &[LinuxSeccompFilterFlag]) -> libc::c_ulong {
    flags.iter().fold(0, |acc, flag| {
        acc | match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // The init is single-threaded when it loads the filter.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
        }
    })
}

/// Exports the program through a memfd (libseccomp 2.5 can only write it
/// to a file descriptor) and decodes it into `sock_filter`s.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    const NAME: &CStr = c"berth-seccomp";
    let fd = nix::sys::memfd::memfd_create(NAME, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| SeccompError::Export(e.into()))?;
    let mut file = File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            what: "exporting the BPF program".into(),
            source,
        })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(SeccompError::Export)?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % INSN != 0 {
        let msg = format!(
            "{} bytes is not a whole number of instructions",
            bytes.len()
        );
        return Err(SeccompError::Export(std::io::Error::other(msg)));
    }
    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in host order.
    Ok(bytes
        .chunks_exact(INSN)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSyscall};
    use std::ffi::CString;
    use std::sync::Mutex;

    /// Tests that fork run one at a time.
    static FORK: Mutex<()> = Mutex::new(());

    fn rule(names: &[&str], action: LinuxSeccompAction, errno: Option<u32>) -> LinuxSyscall {
        let mut rule = LinuxSyscall::default();
        rule.set_names(names.iter().map(|n| n.to_string()).collect());
        rule.set_action(action);
        rule.set_errno_ret(errno);
        rule
    }

    fn with_args(
        mut rule: LinuxSyscall,
        args: &[(usize, u64, u64, LinuxSeccompOperator)],
    ) -> LinuxSyscall {
        let args = args
            .iter()
            .map(|&(index, value, value_two, op)| {
                LinuxSeccompArgBuilder::default()
                    .index(index)
                    .value(value)
                    .value_two(value_two)
                    .op(op)
                    .build()
                    .expect("arg")
            })
            .collect();
        rule.set_args(Some(args));
        rule
    }

    fn profile(
        default: LinuxSeccompAction,
        errno: Option<u32>,
        rules: Vec<LinuxSyscall>,
    ) -> LinuxSeccomp {
        let mut p = LinuxSeccomp::default();
        p.set_default_action(default);
        p.set_default_errno_ret(errno);
        let arches = if cfg!(target_arch = "x86_64") {
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        } else if cfg!(target_arch = "aarch64") {
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        } else {
            vec![]
        };
        p.set_architectures(Some(arches));
        p.set_syscalls(Some(rules));
        p
    }

    const CLONE_NS: u64 = 0x7E02_0000;

    /// A profile shaped like docker's default one: deny by default, an
    /// allowlist with names from every architecture and some unknown ones,
    /// alternatives on one argument, a masked comparison, clone3 → ENOSYS.
    fn docker_like() -> LinuxSeccomp {
        use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
        use LinuxSeccompOperator::{ScmpCmpEq as Eq, ScmpCmpMaskedEq as Masked, ScmpCmpNe as Ne};
        let allowed = [
            "read",
            "write",
            "openat",
            "close",
            "exit",
            "exit_group",
            "getpid",
            "mmap",
            "munmap",
            "brk",
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "execve",
            "futex",
            "mkdir",
            "mkdirat",
            "prctl",
            "capset",
            "capget",
            "nanosleep",
            "wait4",
            "fstat",
            "newfstatat",
            "statx",
            "ioctl",
            "fcntl",
            "dup3",
            "pipe2",
            "setns_nosuch",
            "socketcall",
            "_llseek",
            "mmap2",
            "fstat64",
            "ugetrlimit",
            "futex_time64",
            "cachestat",
            "fchmodat2",
            "map_shadow_stack",
            "arch_prctl",
            "set_tls",
        ];
        profile(
            Errno,
            Some(libc::EPERM as u32),
            vec![
                rule(&allowed, Allow, None),
                rule(&["syslog"], Allow, None), // listed twice, like docker's profile
                rule(&["syslog", "read"], Allow, None),
                rule(&["reboot"], Errno, Some(libc::EPERM as u32)), // same as default: dropped
                with_args(rule(&["socket"], Allow, None), &[(0, 40, 0, Ne)]),
                with_args(
                    rule(&["personality"], Allow, None),
                    &[
                        (0, 0, 0, Eq),
                        (0, 8, 0, Eq),
                        (0, 0x20000, 0, Eq),
                        (0, 0xffff_ffff, 0, Eq),
                    ],
                ),
                with_args(rule(&["clone"], Allow, None), &[(0, CLONE_NS, 0, Masked)]),
                rule(&["clone3"], Errno, Some(libc::ENOSYS as u32)),
                with_args(
                    rule(&["kill"], Allow, None),
                    &[(0, 1, 0, Ne), (1, 9, 0, Ne)],
                ),
            ],
        )
    }

    #[test]
    fn compiles_a_docker_like_profile() {
        let filter = compile(&docker_like()).expect("compile");
        assert!(
            filter.instructions() > 20,
            "{} instructions",
            filter.instructions()
        );
        assert!(filter.instructions() <= MAX_INSTRUCTIONS);
        assert_eq!(filter.flags, 0);
    }

    #[test]
    fn cached_program_is_reused_only_for_the_same_profile() {
        let dir = tempfile::tempdir().unwrap();
        let spec = docker_like();
        let first = compile_cached(&spec, Some(dir.path())).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one cache file, no temp file left");
        let cached = compile_cached(&spec, Some(dir.path())).unwrap();
        assert_eq!(cached.instructions(), first.instructions());
        assert_eq!(cached.encode(b"x"), first.encode(b"x"));

        // A damaged file is ignored (and replaced), never loaded.
        let path = files[0].as_ref().unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let again = compile_cached(&spec, Some(dir.path())).unwrap();
        assert_eq!(again.encode(b"x"), first.encode(b"x"));

        // Another profile's JSON never matches a stored program.
        let json = serde_json::to_vec(&spec).unwrap();
        assert!(Filter::decode(&first.encode(&json), b"{}").is_none());
        assert!(Filter::decode(&first.encode(&json), &json).is_some());
    }

    #[test]
    fn refuses_what_it_cannot_compile() {
        let notify = profile(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![rule(&["mkdir"], LinuxSeccompAction::ScmpActNotify, None)],
        );
        let err = compile(&notify).expect_err("notify is refused").to_string();
        assert!(err.contains("SCMP_ACT_NOTIFY"), "{err}");

        let big = profile(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![rule(
                &["mkdir"],
                LinuxSeccompAction::ScmpActErrno,
                Some(70000),
            )],
        );
        let err = compile(&big).expect_err("errno too big").to_string();
        assert!(err.contains("70000"), "{err}");

        let index = profile(
            LinuxSeccompAction::ScmpActAllow,
            None,
            vec![with_args(
                rule(&["mkdir"], LinuxSeccompAction::ScmpActErrno, None),
                &[(7, 0, 0, LinuxSeccompOperator::ScmpCmpEq)],
            )],
        );
        let err = compile(&index).expect_err("bad index").to_string();
        assert!(err.contains("argument index 7"), "{err}");
    }

    /// Runs `f` in a forked child and returns its exit code. `f` must only
    /// make system calls on memory prepared before the fork.
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        let _serial = FORK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the child only runs `f` (raw syscalls, no allocation or
        // locks) and then _exit, so the other test threads' state is moot.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", Errno::last());
        if pid == 0 {
            // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) only sets a flag.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let code = f();
            // SAFETY: ends the child without running the parent's exit hooks.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid, "waitpid: {}", Errno::last());
        assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    #[test]
    fn loaded_filter_refuses_mkdir() {
        let rules = vec![rule(
            &["mkdir", "mkdirat"],
            LinuxSeccompAction::ScmpActErrno,
            None,
        )];
        let filter =
            compile(&profile(LinuxSeccompAction::ScmpActAllow, None, rules)).expect("compile");
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("made");
        let path = CString::new(target.as_os_str().as_encoded_bytes()).expect("path");

        let code = in_child(|| {
            if filter.load().is_err() {
                return 10;
            }
            // SAFETY: path is a valid NUL-terminated string.
            match unsafe { libc::mkdir(path.as_ptr(), 0o755) } {
                0 => 11,
                _ if Errno::last() == Errno::EPERM => 0,
                _ => 12,
            }
        });
        assert_eq!(
            code, 0,
            "10: load failed, 11: mkdir succeeded, 12: mkdir failed otherwise"
        );
        assert!(!target.exists());
    }

    #[test]
    fn loaded_docker_like_profile_behaves_like_docker() {
        let filter = compile(&docker_like()).expect("compile");
        let code = in_child(|| {
            if filter.load().is_err() {
                return 100;
            }
            let mut failures = 0;
            // SAFETY: the calls below take no pointers, or NULL for clone3
            // which the filter answers before the kernel reads anything.
            unsafe {
                if libc::getpid() <= 0 {
                    failures |= 1;
                }
                if libc::unshare(libc::CLONE_NEWNS) == 0 || Errno::last() != Errno::EPERM {
                    failures |= 2;
                }
                let rc = libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize);
                if rc != -1 || Errno::last() != Errno::ENOSYS {
                    failures |= 4;
                }
                if libc::personality(0xffff_ffff) == -1 {
                    failures |= 8;
                }
                if libc::personality(0x0040_0000) != -1 || Errno::last() != Errno::EPERM {
                    failures |= 16;
                }
                if libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) != -1
                    || Errno::last() != Errno::EPERM
                {
                    failures |= 32;
                }
                if libc::syscall(libc::SYS_reboot, 0, 0, 0, 0) != -1
                    || Errno::last() != Errno::EPERM
                {
                    failures |= 64;
                }
            }
            failures
        });
        assert_eq!(
            code, 0,
            "bits: 1 getpid, 2 unshare allowed, 4 clone3 not ENOSYS, 8 personality query, \
             16 personality allowed, 32 AF_VSOCK allowed, 64 reboot allowed, 100 load failed"
        );
    }
}
