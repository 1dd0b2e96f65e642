//! The built-in runtime end to end, as root: real containers whose rootfs
//! is the host's static busybox, checked from inside (what `docker run`
//! users see) and from outside (cgroup removed, no mount left, init reaped).
//!
//! Each test re-runs this binary for itself alone (`--exact`), so the clone
//! happens in a process where no other test thread can hold a lock the
//! init would need. Not root: they fail, saying so.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_defaults::mount;
use berth_shim::cgroups::{Cgroup, CgroupError, CGROUP_ROOT};
use berth_shim::runtime::{builtin, CreateOptions, Created, ExecOptions, Io, RuntimeError, Stdio};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilities, LinuxDeviceCgroup, LinuxIdMappingBuilder,
    LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxResources, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec, User,
};

const CASE_ENV: &str = "BERTH_RUNTIME_TEST_CASE";

/// Run `body` in a fresh process of this test binary running only `name`.
fn isolated(name: &str, body: fn()) {
    if std::env::var_os(CASE_ENV).is_some() {
        body();
        return;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the runtime tests need root (namespaces, mounts, cgroups): run them as root"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "the runtime tests need a static /bin/busybox for the container rootfs"
    );
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE_ENV, "1")
        .output()
        .expect("run the test case");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "case {name} failed");
    assert!(stdout.contains("1 passed"), "case {name} did not run");
}

const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "id", "hostname", "echo", "grep", "wc", "touch", "sleep", "true", "mknod",
    "head",
];

/// A bundle with a busybox rootfs and a private cgroup parent, cleaned up
/// on drop.
struct Bundle {
    dir: tempfile::TempDir,
    cgroup_parent: String,
}

impl Bundle {
    fn new() -> Bundle {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("rootfs/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        let etc = dir.path().join("rootfs/etc");
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        Bundle {
            dir,
            cgroup_parent: format!(
                "berth-test-rt-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cgroup(&self) -> String {
        format!("/{}/c", self.cgroup_parent)
    }

    /// Directories of this bundle's cgroup parent anywhere under the root.
    fn cgroup_dirs(&self, name: &str) -> Vec<PathBuf> {
        let root = Path::new(CGROUP_ROOT);
        let mut found: Vec<PathBuf> = fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(name))
            .filter(|p| p.exists())
            .collect();
        if root.join(name).exists() {
            found.push(root.join(name));
        }
        found
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let parent = self.cgroup_parent.clone();
        for d in self.cgroup_dirs(&format!("{parent}/c")) {
            let _ = fs::remove_dir(d);
        }
        for d in self.cgroup_dirs(&parent) {
            let _ = fs::remove_dir(d);
        }
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What berthd writes for `berth run busybox ARGS` (manager's spec.rs).
fn docker_spec(b: &Bundle, args: &[&str]) -> Spec {
    let mut process = Process::default();
    process.set_terminal(Some(false));
    process.set_user(User::default());
    process.set_args(Some(strs(args)));
    process.set_env(Some(strs(&[
        berth_defaults::DEFAULT_PATH_ENV,
        "HOSTNAME=berthtest",
    ])));
    process.set_cwd("/".into());
    let caps: Capabilities = berth_defaults::DEFAULT_CAPABILITIES
        .iter()
        .map(|c| Capability::from_str(c.trim_start_matches("CAP_")).unwrap())
        .collect();
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(caps.clone()));
    lc.set_effective(Some(caps.clone()));
    lc.set_permitted(Some(caps));
    lc.set_inheritable(None);
    lc.set_ambient(None);
    process.set_capabilities(Some(lc));
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(berth_defaults::DEFAULT_NOFILE)
        .hard(berth_defaults::DEFAULT_NOFILE)
        .build()
        .unwrap();
    process.set_rlimits(Some(vec![nofile]));
    process.set_no_new_privileges(Some(false));

    let mut root = Root::default();
    root.set_path("rootfs".into());
    root.set_readonly(Some(false));

    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .map(|t| {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(t);
        ns
    })
    .collect();
    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces));
    // docker's spec starts the device rules with deny-all.
    let mut deny_all = LinuxDeviceCgroup::default();
    deny_all.set_allow(false);
    deny_all.set_access(Some("rwm".into()));
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(vec![deny_all]));
    linux.set_resources(Some(resources));
    linux.set_cgroups_path(Some(b.cgroup().into()));
    linux.set_devices(None);
    linux.set_masked_paths(Some(strs(berth_defaults::MASKED_PATHS)));
    linux.set_readonly_paths(Some(strs(berth_defaults::READONLY_PATHS)));

    let mut spec = Spec::default();
    spec.set_root(Some(root));
    spec.set_mounts(Some(berth_defaults::default_mounts(false)));
    spec.set_process(Some(process));
    spec.set_hostname(Some("berthtest".into()));
    spec.set_annotations(None);
    spec.set_linux(Some(linux));
    spec
}

/// What one container run gave.
struct Outcome {
    created: Created,
    start: Result<(), RuntimeError>,
    /// 128+signal when killed, like docker.
    exit_code: i32,
    stdout: String,
    stderr: String,
}

fn wait_exit(pid: i32) -> i32 {
    match waitpid(Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

fn stdio(b: &Bundle) -> Stdio {
    let file = |n: &str| -> OwnedFd { fs::File::create(b.path().join(n)).unwrap().into() };
    Stdio {
        stdin: None,
        stdout: file("stdout"),
        stderr: file("stderr"),
    }
}

/// No mount of the host refers to the bundle.
fn assert_no_mounts(b: &Bundle) {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = b.path().to_str().unwrap();
    assert!(!mi.contains(p), "a mount was left behind:\n{mi}");
}

fn assert_cgroup_gone(b: &Bundle) {
    match Cgroup::load(&b.cgroup()) {
        Err(CgroupError::NotFound { .. }) => {}
        other => panic!("cgroup {} still there: {other:?}", b.cgroup()),
    }
    assert!(b.cgroup_dirs(&format!("{}/c", b.cgroup_parent)).is_empty());
}

/// The options of every create here: the bundle's spec, pipes, no cache.
fn options<'a>(b: &'a Bundle, spec: &'a Spec) -> CreateOptions<'a> {
    CreateOptions {
        id: "test",
        bundle: b.path(),
        spec,
        io: Io::Pipes(stdio(b)),
        cache_dir: None,
    }
}

/// create, start, wait, delete; checks the cleanup.
fn run(b: &Bundle, spec: &Spec) -> Outcome {
    let mut rt = builtin();
    let created = rt
        .create(options(b, spec))
        .unwrap_or_else(|e| panic!("create: {e}"));
    let start = rt.start();
    let exit_code = wait_exit(created.pid);
    rt.delete().unwrap();
    rt.delete().unwrap();
    assert_cgroup_gone(b);
    assert_no_mounts(b);
    Outcome {
        created,
        start,
        exit_code,
        stdout: fs::read_to_string(b.path().join("stdout")).unwrap(),
        stderr: fs::read_to_string(b.path().join("stderr")).unwrap(),
    }
}

fn sh(b: &Bundle, script: &str) -> Spec {
    docker_spec(b, &["sh", "-c", script])
}

#[test]
fn default_container_looks_like_docker() {
    isolated("default_container_looks_like_docker", || {
        let b = Bundle::new();
        let mut spec = sh(
            &b,
            "echo pid=$$; hostname; id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; \
             echo dev=$(ls /dev); \
             echo fds=$(ls /proc/self/fd); \
             echo kcore=$(cat /proc/kcore | wc -c); \
             (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo sys=rw || echo sys=ro; \
             echo lo=$(cat /sys/class/net/lo/flags); \
             echo nofile=$(ulimit -n); \
             echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
             echo cgroup=$(grep memory /proc/self/cgroup); \
             (touch /sys/fs/cgroup/memory/x) 2>/dev/null && echo cg=rw || echo cg=ro; \
             echo stdin=$(cat); exit 3",
        );
        let mut mem = LinuxMemory::default();
        mem.set_limit(Some(64 << 20));
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut res = linux.resources().clone().unwrap();
        res.set_memory(Some(mem));
        linux.set_resources(Some(res));
        let o = run(&b, &spec);
        o.start.unwrap();
        assert_eq!(o.exit_code, 3, "stderr: {}", o.stderr);
        let out = &o.stdout;
        let line = |prefix: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in:\n{out}\nstderr:\n{}", o.stderr))
                .to_owned()
        };
        assert_eq!(line("pid="), "pid=1");
        assert!(out.contains("\nberthtest\n0\n"), "{out}");
        assert_eq!(line("CapEff"), "CapEff:\t00000000a80425fb");
        assert_eq!(line("NoNewPrivs"), "NoNewPrivs:\t0");
        assert_eq!(
            line("dev="),
            "dev=fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
        );
        assert_eq!(line("fds="), "fds=0 1 2 3");
        assert_eq!(line("kcore="), "kcore=0");
        assert_eq!(line("sys="), "sys=ro");
        assert_eq!(line("lo="), "lo=0x9");
        assert_eq!(line("mem="), format!("mem={}", 64 << 20));
        assert!(line("cgroup=").ends_with(":memory:/"), "{out}");
        assert_eq!(line("cg="), "cg=ro");
        assert_eq!(line("stdin="), "stdin=");
        // The VM's hard nofile limit is below docker's 1048576 and it has no
        // CAP_SYS_RESOURCE: clamped, with a warning.
        let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap()
            .1;
        assert_eq!(line("nofile="), format!("nofile={}", hard.min(1_048_576)));
        if hard < 1_048_576 {
            assert!(
                o.created
                    .warnings
                    .iter()
                    .any(|w| w.contains("RLIMIT_NOFILE")),
                "{:?}",
                o.created.warnings
            );
        }
    });
}

#[test]
fn user_1000_has_no_capabilities_and_no_new_privileges() {
    isolated(
        "user_1000_has_no_capabilities_and_no_new_privileges",
        || {
            let b = Bundle::new();
            let mut spec = sh(
                &b,
                "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; pwd",
            );
            let p = spec.process_mut().as_mut().unwrap();
            let mut u = User::default();
            u.set_uid(1000);
            u.set_gid(1000);
            u.set_additional_gids(Some(vec![10, 20]));
            p.set_user(u);
            p.set_no_new_privileges(Some(true));
            // A missing cwd is created, as docker does.
            p.set_cwd("/home/u".into());
            let o = run(&b, &spec);
            o.start.unwrap();
            assert_eq!(o.exit_code, 0, "stderr: {}", o.stderr);
            assert_eq!(
                o.stdout,
                "1000\n1000\n1000 10 20\nCapEff:\t0000000000000000\n\
             CapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n/home/u\n"
            );
        },
    );
}

#[test]
fn commands_that_cannot_run_give_126_and_127() {
    isolated("commands_that_cannot_run_give_126_and_127", || {
        let b = Bundle::new();
        fs::write(b.path().join("rootfs/etc/data"), "x").unwrap();
        let cases: &[(&str, i32, &str)] = &[
            (
                "nosuch",
                127,
                "exec: \"nosuch\": executable file not found in $PATH",
            ),
            ("/etc/data", 126, "exec: \"/etc/data\": permission denied"),
            ("/bin", 126, "exec: \"/bin\": is a directory"),
            (
                "/no/such",
                127,
                "exec: \"/no/such\": stat /no/such: no such file or directory",
            ),
        ];
        for (cmd, code, message) in cases {
            let o = run(&b, &docker_spec(&b, &[cmd]));
            match o.start {
                Err(RuntimeError::Exec {
                    code: c,
                    message: m,
                }) => {
                    assert_eq!((c, m.as_str()), (*code, *message))
                }
                other => panic!("{cmd}: {other:?}"),
            }
            assert_eq!(o.exit_code, *code, "{cmd}");
        }
    });
}

#[test]
fn read_only_rootfs_refuses_writes() {
    isolated("read_only_rootfs_refuses_writes", || {
        let b = Bundle::new();
        let mut spec = sh(
            &b,
            "touch /x 2>&1; echo rc=$?; touch /dev/shm/y && echo shm=ok",
        );
        spec.root_mut().as_mut().unwrap().set_readonly(Some(true));
        let o = run(&b, &spec);
        o.start.unwrap();
        assert!(o.stdout.contains("Read-only file system"), "{}", o.stdout);
        assert!(o.stdout.contains("rc=1\nshm=ok\n"), "{}", o.stdout);
        assert!(!b.path().join("rootfs/x").exists());
    });
}

#[test]
fn bind_mounts_read_only_and_read_write() {
    isolated("bind_mounts_read_only_and_read_write", || {
        let b = Bundle::new();
        let host = b.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("file"), "from host\n").unwrap();
        let mut spec = sh(
            &b,
            "cat /ro/file; (touch /ro/new) 2>/dev/null && echo ro=rw || echo ro=ro; \
             echo hi > /rw/out; cat /single",
        );
        let h = host.to_str().unwrap();
        let mounts = spec.mounts_mut().as_mut().unwrap();
        mounts.push(mount("/ro", "bind", h, &["rbind", "rprivate", "ro"]));
        mounts.push(mount("/rw/", "bind", h, &["rbind", "rprivate"]));
        mounts.push(mount(
            "/single",
            "bind",
            host.join("file").to_str().unwrap(),
            &["bind"],
        ));
        let o = run(&b, &spec);
        o.start.unwrap();
        assert_eq!(o.stdout, "from host\nro=ro\nfrom host\n", "{}", o.stderr);
        assert_eq!(fs::read_to_string(host.join("out")).unwrap(), "hi\n");
        assert!(!host.join("new").exists());
    });
}

#[test]
fn a_failing_mount_fails_create_and_leaves_nothing() {
    isolated("a_failing_mount_fails_create_and_leaves_nothing", || {
        let b = Bundle::new();
        let mut spec = sh(&b, "true");
        spec.mounts_mut().as_mut().unwrap().push(mount(
            "/data",
            "bind",
            "/nonexistent/berth",
            &["rbind"],
        ));
        let mut rt = builtin();
        let e = rt.create(options(&b, &spec)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("bind mount /nonexistent/berth to /data")
                && msg.contains("no such file or directory"),
            "{msg}"
        );
        // The init was reaped and its cgroup removed.
        assert_eq!(
            waitpid(Pid::from_raw(-1), None).unwrap_err(),
            nix::errno::Errno::ECHILD
        );
        assert_cgroup_gone(&b);
        assert_no_mounts(&b);
        rt.delete().unwrap();
    });
}

#[test]
fn kill_reaches_the_init_or_the_whole_cgroup() {
    isolated("kill_reaches_the_init_or_the_whole_cgroup", || {
        let b = Bundle::new();
        let spec = sh(&b, "trap 'exit 7' TERM; sleep 100 & sleep 100 & wait");
        let mut rt = builtin();
        let created = rt.create(options(&b, &spec)).unwrap();
        rt.start().unwrap();
        let cg = Cgroup::load(&b.cgroup()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while cg.pids().unwrap().len() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "children never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        rt.kill(Signal::SIGTERM as i32, false).unwrap();
        assert_eq!(wait_exit(created.pid), 7);
        // The sleeps are still in the cgroup: all=true kills them.
        rt.kill(Signal::SIGKILL as i32, true).unwrap();
        let e = rt.kill(Signal::SIGTERM as i32, false).unwrap_err();
        assert!(e.to_string().contains("not running"), "{e}");
        rt.delete().unwrap();
        assert_cgroup_gone(&b);
        assert_no_mounts(&b);
    });
}

fn chown_tree(p: &Path, id: u32) {
    std::os::unix::fs::lchown(p, Some(id), Some(id)).unwrap();
    if p.is_dir() && !p.is_symlink() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), id);
        }
    }
}

/// Gives the container a user namespace mapping 0-65535 to host 100000+, and
/// makes the namespace's root own the rootfs (as with docker's userns-remap).
fn in_user_namespace(b: &Bundle, spec: &mut Spec) {
    let linux = spec.linux_mut().as_mut().unwrap();
    let mut ns = linux.namespaces().clone().unwrap();
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    ns.push(user);
    linux.set_namespaces(Some(ns));
    let map = LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(100_000u32)
        .size(65_536u32)
        .build()
        .unwrap();
    linux.set_uid_mappings(Some(vec![map]));
    linux.set_gid_mappings(Some(vec![map]));
    chown_tree(&b.path().join("rootfs"), 100_000);
}

#[test]
fn user_namespace_maps_root() {
    isolated("user_namespace_maps_root", || {
        let b = Bundle::new();
        let mut spec = sh(&b, "id -u; cat /proc/self/uid_map; ls /dev/null; hostname");
        in_user_namespace(&b, &mut spec);
        let o = run(&b, &spec);
        o.start.unwrap();
        assert_eq!(o.exit_code, 0, "stderr: {}", o.stderr);
        let words: Vec<&str> = o.stdout.split_whitespace().collect();
        assert_eq!(
            words,
            ["0", "0", "100000", "65536", "/dev/null", "berthtest"],
            "{}",
            o.stdout
        );
    });
}

/// An exec joins every namespace of a container that has a user namespace
/// (becoming the user it asks for inside it), its cgroup and its root.
#[test]
fn exec_joins_the_container_and_its_user_namespace() {
    isolated("exec_joins_the_container_and_its_user_namespace", || {
        let b = Bundle::new();
        let mut spec = sh(&b, "sleep 100");
        in_user_namespace(&b, &mut spec);
        let mut rt = builtin();
        let created = rt
            .create(options(&b, &spec))
            .unwrap_or_else(|e| panic!("create: {e}"));
        rt.start().unwrap();

        let mut process = spec.process().clone().unwrap();
        process.set_args(Some(strs(&[
            "sh",
            "-c",
            "id -u; hostname; pwd; for n in user mnt pid net ipc uts cgroup; do \
             readlink /proc/self/ns/$n; done; \
             grep -c -v ':/$' /proc/self/cgroup",
        ])));
        process.set_user({
            let mut u = User::default();
            u.set_uid(1000);
            u.set_gid(1000);
            u
        });
        process.set_cwd("/dev".into());
        let file = |n: &str| -> OwnedFd { fs::File::create(b.path().join(n)).unwrap().into() };
        let spawned = rt
            .exec(ExecOptions {
                exec_id: "e1",
                bundle: b.path(),
                process: &process,
                io: Io::Pipes(Stdio {
                    stdin: None,
                    stdout: file("exec-out"),
                    stderr: file("exec-err"),
                }),
            })
            .unwrap_or_else(|e| panic!("exec: {e}"));
        // Its last line: how many of its cgroups are outside the container's
        // cgroup namespace root (0: it was moved into the container's cgroup
        // in every hierarchy). grep -c exits 1 when it counts none.
        assert_eq!(wait_exit(spawned.pid), 1);
        let out = fs::read_to_string(b.path().join("exec-out")).unwrap();
        let err = fs::read_to_string(b.path().join("exec-err")).unwrap();
        let mut want = vec!["1000".to_owned(), "berthtest".into(), "/dev".into()];
        for n in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"] {
            want.push(
                fs::read_link(format!("/proc/{}/ns/{n}", created.pid))
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        want.push("0".into());
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "stderr: {err}");

        // A command that is not there: 127, the init's message.
        process.set_args(Some(strs(&["nosuch"])));
        let e = rt
            .exec(ExecOptions {
                exec_id: "e2",
                bundle: b.path(),
                process: &process,
                io: Io::Pipes(stdio(&b)),
            })
            .unwrap_err();
        match e {
            RuntimeError::Exec { code, message } => {
                assert_eq!(code, 127);
                assert_eq!(
                    message,
                    "exec: \"nosuch\": executable file not found in $PATH"
                );
            }
            e => panic!("{e:?}"),
        }
        rt.kill(Signal::SIGKILL as i32, false).unwrap();
        assert_eq!(wait_exit(created.pid), 137);
        let e = rt
            .exec(ExecOptions {
                exec_id: "e3",
                bundle: b.path(),
                process: &process,
                io: Io::Pipes(stdio(&b)),
            })
            .unwrap_err();
        assert!(e.to_string().contains("not running"), "{e}");
        rt.delete().unwrap();
        assert_cgroup_gone(&b);
        assert_no_mounts(&b);
    });
}

#[test]
fn seccomp_filter_applies_with_and_without_no_new_privileges() {
    isolated(
        "seccomp_filter_applies_with_and_without_no_new_privileges",
        || {
            use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};
            let b = Bundle::new();
            let deny_mkdir = LinuxSyscallBuilder::default()
                .names(strs(&["mkdir", "mkdirat"]))
                .action(LinuxSeccompAction::ScmpActErrno)
                .build()
                .unwrap();
            let profile = LinuxSeccompBuilder::default()
                .default_action(LinuxSeccompAction::ScmpActAllow)
                .syscalls(vec![deny_mkdir])
                .build()
                .unwrap();
            for nnp in [false, true] {
                let mut spec = sh(
                    &b,
                    "mkdir /made 2>&1; echo rc=$?; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
                );
                spec.linux_mut()
                    .as_mut()
                    .unwrap()
                    .set_seccomp(Some(profile.clone()));
                spec.process_mut()
                    .as_mut()
                    .unwrap()
                    .set_no_new_privileges(Some(nnp));
                let o = run(&b, &spec);
                o.start.unwrap();
                assert!(
                    o.stdout.contains("Operation not permitted\nrc=1\n"),
                    "nnp={nnp}: {}",
                    o.stdout
                );
                assert!(o.stdout.contains("Seccomp:\t2\n"), "{}", o.stdout);
                assert!(
                    o.stdout
                        .contains(&format!("NoNewPrivs:\t{}\n", u8::from(nnp))),
                    "{}",
                    o.stdout
                );
                assert!(!b.path().join("rootfs/made").exists());
            }
        },
    );
}

#[test]
fn device_rules_keep_other_devices_out_of_reach() {
    isolated("device_rules_keep_other_devices_out_of_reach", || {
        let b = Bundle::new();
        // /dev/loop-control (10:237): not one of the devices a container may use.
        let script = "mknod /dev/lc c 10 237 && \\
             ( (exec 3</dev/lc) 2>/dev/null && echo lc=open || echo lc=denied); \\
             head -c 1 /dev/urandom | wc -c";
        // docker's rules (deny all, then the standard devices): denied.
        let o = run(&b, &sh(&b, script));
        o.start.unwrap();
        assert_eq!(o.stdout, "lc=denied\n1\n", "{}", o.stderr);
        // No rules at all (the OCI default): nothing is restricted.
        let mut spec = sh(&b, script);
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_resources(Some(LinuxResources::default()));
        let o = run(&b, &spec);
        o.start.unwrap();
        assert_eq!(o.stdout, "lc=open\n1\n", "{}", o.stderr);
    });
}
