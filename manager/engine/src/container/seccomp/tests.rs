//! Tests of the seccomp profiles: the resolved OCI profile is evaluated the
//! way the runtime compiles it.

use super::*;

#[rustfmt::skip]
const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

fn caps(extra: &[&str]) -> Vec<String> {
    DEFAULT_CAPS
        .iter()
        .chain(extra)
        .map(|c| c.to_string())
        .collect()
}

/// What the profile does with `name(args)`, evaluated as the runtime
/// compiles it: conditions on one index are alternatives, conditions
/// on different indices must all hold.
fn verdict(profile: &LinuxSeccomp, name: &str, args: &[u64]) -> (LinuxSeccompAction, Option<u32>) {
    for rule in profile.syscalls().iter().flatten() {
        if !rule.names().iter().any(|n| n == name) {
            continue;
        }
        let conds = rule.args().clone().unwrap_or_default();
        let matches = |a: &LinuxSeccompArg| {
            let v = args.get(a.index()).copied().unwrap_or(0);
            match a.op() {
                LinuxSeccompOperator::ScmpCmpEq => v == a.value(),
                LinuxSeccompOperator::ScmpCmpNe => v != a.value(),
                LinuxSeccompOperator::ScmpCmpMaskedEq => {
                    v & a.value() == a.value_two().unwrap_or(0)
                }
                other => panic!("operator {other:?} not modelled"),
            }
        };
        let indices: HashSet<usize> = conds.iter().map(|a| a.index()).collect();
        let all = indices
            .iter()
            .all(|i| conds.iter().filter(|a| a.index() == *i).any(matches));
        if all {
            return (rule.action(), rule.errno_ret());
        }
    }
    (profile.default_action(), profile.default_errno_ret())
}

fn allowed(profile: &LinuxSeccomp, name: &str, args: &[u64]) -> bool {
    verdict(profile, name, args).0 == LinuxSeccompAction::ScmpActAllow
}

const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const THREAD_FLAGS: u64 = 0x003d_0f00; // what pthread_create passes

#[test]
fn default_profile_with_default_caps() {
    let p = default_profile(&caps(&[]));
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(libc::EPERM as u32));
    if cfg!(target_arch = "x86_64") {
        let arches = p.architectures().clone().unwrap_or_default();
        assert_eq!(
            arches,
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
    }
    for name in [
        "read",
        "write",
        "openat",
        "execve",
        "exit_group",
        "futex",
        "chroot",
        "mkdir",
    ] {
        assert!(allowed(&p, name, &[]), "{name} should be allowed");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "init_module",
        "bpf",
        "kcmp",
        "pidfd_getfd",
        "settimeofday",
        "acct",
        "iopl",
        "vhangup",
        "syslog",
        "keyctl",
        "add_key",
        "kexec_load",
        "pivot_root",
        "userfaultfd",
        "open_by_handle_at",
        "mbind",
    ] {
        assert!(!allowed(&p, name, &[]), "{name} should be refused");
        assert_eq!(verdict(&p, name, &[]).0, LinuxSeccompAction::ScmpActErrno);
    }
    assert!(allowed(&p, "clone", &[THREAD_FLAGS]));
    assert!(allowed(&p, "clone", &[17 /* SIGCHLD: fork() */]));
    assert!(!allowed(&p, "clone", &[17 | CLONE_NEWNS]));
    assert!(!allowed(&p, "clone", &[17 | CLONE_NEWUSER]));
    assert_eq!(
        verdict(&p, "clone3", &[]),
        (LinuxSeccompAction::ScmpActErrno, Some(libc::ENOSYS as u32)),
        "clone3 must fail with ENOSYS so libc falls back to clone"
    );
    assert!(allowed(&p, "socket", &[libc::AF_INET as u64]));
    assert!(allowed(&p, "socket", &[libc::AF_UNIX as u64]));
    assert!(!allowed(&p, "socket", &[libc::AF_VSOCK as u64]));
    assert!(allowed(&p, "personality", &[0]));
    assert!(allowed(&p, "personality", &[0xffff_ffff]));
    assert!(!allowed(&p, "personality", &[0x0040_0000])); // READ_IMPLIES_EXEC
}

#[test]
fn ptrace_follows_docker_min_kernel_rule() {
    let host = |kernel| Host {
        arch: "amd64",
        kernel,
    };
    let old = resolve(&default_rules(), &host((4, 4)), &caps(&[]), default_shape());
    assert!(!allowed(&old, "ptrace", &[]));
    let new = resolve(
        &default_rules(),
        &host((5, 10)),
        &caps(&[]),
        default_shape(),
    );
    assert!(allowed(&new, "ptrace", &[]));
    assert!(allowed(&new, "process_vm_readv", &[]));
    assert!(
        !allowed(&new, "kcmp", &[]),
        "kcmp still needs CAP_SYS_PTRACE"
    );
}

#[test]
fn capabilities_open_their_syscalls() {
    let p = default_profile(&caps(&["CAP_SYS_ADMIN"]));
    for name in ["mount", "umount2", "unshare", "setns", "sethostname"] {
        assert!(allowed(&p, name, &[]), "{name} with CAP_SYS_ADMIN");
    }
    assert!(allowed(&p, "clone", &[17 | CLONE_NEWNS]));
    assert!(allowed(&p, "clone3", &[]));
    assert!(!allowed(&p, "reboot", &[]));
    let p = default_profile(&caps(&["CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_SYS_TIME"]));
    for name in ["kcmp", "ptrace", "reboot", "clock_settime"] {
        assert!(allowed(&p, name, &[]), "{name}");
    }
    assert!(!allowed(&p, "mount", &[]));
    let p = default_profile(&[]);
    assert!(!allowed(&p, "chroot", &[]), "chroot needs CAP_SYS_CHROOT");
}

#[test]
fn default_profile_is_arch_aware() {
    let p = default_profile(&caps(&[]));
    assert_eq!(allowed(&p, "arch_prctl", &[]), cfg!(target_arch = "x86_64"));
    assert_eq!(allowed(&p, "set_tls", &[]), cfg!(target_arch = "aarch64"));
    let s390 = Host {
        arch: "s390x",
        kernel: (6, 1),
    };
    let p = resolve(&default_rules(), &s390, &caps(&[]), default_shape());
    assert!(allowed(&p, "clone", &[0, 17]));
    assert!(!allowed(&p, "clone", &[0, 17 | CLONE_NEWNS]));
}

const SMALL: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
    ],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
        {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_BOOT"]}},
        {"names": ["uname"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["vhangup"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["nosuch"]}}
    ]
}"#;

#[test]
fn parses_a_docker_profile() {
    let p = from_docker_profile(SMALL, &caps(&[])).expect("parse");
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    if cfg!(target_arch = "x86_64") {
        let arches = p.architectures().clone().unwrap_or_default();
        assert_eq!(
            arches,
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
    }
    assert!(allowed(&p, "read", &[]));
    assert_eq!(
        verdict(&p, "mkdir", &[]),
        (LinuxSeccompAction::ScmpActErrno, Some(13))
    );
    assert!(!allowed(&p, "mount", &[]));
    assert!(allowed(&p, "personality", &[8]));
    assert!(!allowed(&p, "personality", &[0]));
    assert!(
        allowed(&p, "reboot", &[]),
        "excluded only with CAP_SYS_BOOT"
    );
    assert!(!allowed(&p, "uname", &[]), "kernel is older than 99.0");
    assert!(!allowed(&p, "vhangup", &[]), "other architecture only");
    let names: Vec<_> = p
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names().clone())
        .collect();
    assert!(
        !names.contains(&"mount".to_string()),
        "conditional rules are resolved away"
    );

    let admin =
        from_docker_profile(SMALL, &caps(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT"])).expect("parse");
    assert!(allowed(&admin, "mount", &[]));
    assert!(!allowed(&admin, "reboot", &[]));
}

#[test]
fn docker_profile_with_plain_architectures_and_flags() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
          "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#;
    let p = from_docker_profile(json, &[]).expect("parse");
    assert_eq!(p.architectures().clone(), Some(vec![Arch::ScmpArchX86_64]));
    assert_eq!(
        p.flags().clone(),
        Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog])
    );
    assert_eq!(p.default_errno_ret(), None);
    let arg = p.syscalls().clone().unwrap_or_default()[0]
        .args()
        .clone()
        .unwrap_or_default()[0];
    assert_eq!((arg.value(), arg.value_two()), (0x7E02_0000, Some(0)));
}

#[test]
fn bad_profiles_are_refused_clearly() {
    let err = from_docker_profile("{not json", &[]).unwrap_err();
    assert!(matches!(err, SeccompProfileError::Json(_)), "{err}");
    let err = from_docker_profile(r#"{"syscalls": []}"#, &[]).unwrap_err();
    assert!(err.to_string().contains("defaultAction"), "{err}");

    let bad_action = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_EXPLODE"}]}"#;
    let err = from_docker_profile(bad_action, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown action \"SCMP_ACT_EXPLODE\""),
        "{err}"
    );
    let err = from_docker_profile(r#"{"defaultAction": "ALLOW"}"#, &[]).unwrap_err();
    assert!(
        matches!(err, SeccompProfileError::UnknownAction { .. }),
        "{err}"
    );

    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#,
            "SCMP_ARCH_Z80",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#,
            "SCMP_CMP_SOMETIMES",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "index 6",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
            "no name",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
            "action": "SCMP_ACT_ALLOW"}]}"#,
            "both",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
            "archMap",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}"#,
            "NOPE",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "includes": {"minKernel": "new"}}]}"#,
            "minKernel",
        ),
    ];
    for (json, needle) in cases {
        let err = from_docker_profile(json, &[]).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

#[test]
fn kernel_releases_parse() {
    assert_eq!(parse_kernel("6.1.0-18-amd64"), Some((6, 1)));
    assert_eq!(parse_kernel("4.8"), Some((4, 8)));
    assert_eq!(parse_kernel("5"), Some((5, 0)));
    assert_eq!(parse_kernel("new"), None);
}
