//! The end-to-end harness: each test starts its own berthd (temp root,
//! state dir, socket, and a network slot: its own bridges, subnets and
//! nftables table, see [`net`]) as root and drives the `berth` binary as a
//! user would. Dropping a [`Daemon`] stops it with SIGTERM, checks that
//! nothing it mounted is left behind and deletes its bridges and table.
//!
//! The helpers every test file uses are here, once: starting a daemon
//! ([`Daemon::start`], [`Daemon::with_busybox`]), running berth and checking
//! how it ended ([`Daemon::ok`], [`Daemon::fail`], [`run`], [`run_sh`]),
//! what it says as JSON ([`Daemon::inspect`], [`Daemon::image_inspect`],
//! [`Daemon::network_inspect`], [`Daemon::info`]), the "nothing left
//! behind" checks ([`Daemon::assert_no_containers_left`],
//! [`Daemon::assert_all_removed`], [`Daemon::assert_empty`]), waiting
//! ([`wait`]), terminals ([`pty`]) and registries ([`registry`]).

pub mod fixture;
pub mod net;
pub mod pty;
pub mod registry;
pub mod wait;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use wait::{poll, terminate, wait_exit_within, wait_for, wait_for_within, WAIT};

/// Where the berth binaries are: $BERTH_BIN_DIR, else the cargo target dir.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// The path of a berth binary; fails loudly when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the binaries first: cargo build --workspace --bins",
        p.display()
    );
    p
}

/// The end-to-end tests need root (overlay mounts, device nodes).
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "e2e tests need root: run as root"
    );
}

/// The host's static busybox (Debian package busybox-static).
pub fn require_busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox is missing: install busybox-static (apt-get install busybox-static)");
}

/// A tool the test needs, or a failure saying what to install.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is missing: install {package} (apt-get install {package})");
}

/// The network rule, enforced: every test berthd sends its registry
/// traffic for anything but loopback through a proxy on a port nothing
/// listens on (reqwest honours these variables and does not resolve the
/// name itself), so a test that pulls by mistake from Docker Hub fails
/// with "connection refused" instead of reaching the internet.
pub const LOOPBACK_ONLY: &[(&str, &str)] = &[
    ("HTTPS_PROXY", "http://127.0.0.1:1"),
    ("HTTP_PROXY", "http://127.0.0.1:1"),
    ("ALL_PROXY", "http://127.0.0.1:1"),
    ("NO_PROXY", "127.0.0.1,localhost,::1"),
];

/// Options for a daemon.
#[derive(Default, Clone)]
pub struct DaemonOpts {
    /// Extra berthd flags.
    pub args: Vec<String>,
    /// Contents of the config file passed with --config. The daemon's
    /// network slot adds its keys (`bridge`, `bridge_subnet`,
    /// `default_address_pools`, `firewall_table`) unless this sets them.
    pub config: Option<String>,
    /// Extra environment variables of berthd (on top of the test's own),
    /// e.g. the proxy variables its registry client honours.
    pub env: Vec<(String, String)>,
}

impl DaemonOpts {
    /// The default options but `--snapshotter NAME`.
    pub fn snapshotter(name: &str) -> DaemonOpts {
        DaemonOpts {
            args: vec!["--snapshotter".into(), name.into()],
            ..Default::default()
        }
    }
}

/// A private berthd.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    socket: PathBuf,
    opts: DaemonOpts,
    cgroup_parent: String,
    /// Held for the daemon's life; released (bridges and table deleted)
    /// by Drop.
    net: net::Slot,
}

impl Daemon {
    /// Starts a berthd with default options.
    pub fn start() -> Daemon {
        Self::start_with(DaemonOpts::default())
    }

    /// Starts a berthd with default options and loads the busybox fixture
    /// as `busybox:latest` (what most container tests run).
    pub fn with_busybox() -> Daemon {
        let d = Self::start();
        d.load_busybox();
        d
    }

    /// Starts a berthd and waits until it answers.
    pub fn start_with(opts: DaemonOpts) -> Daemon {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("berth.sock");
        // A private cgroup parent per daemon, so the leak check sees only
        // this test's cgroups.
        let tag = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().replace("berth-e2e-", ""))
            .unwrap_or_default();
        let mut d = Daemon {
            child: None,
            socket,
            dir,
            opts,
            cgroup_parent: format!("berth-e2e-{tag}"),
            net: net::Slot::acquire(),
        };
        d.spawn_berthd();
        d
    }

    fn spawn_berthd(&mut self) {
        let opts = self.opts.clone();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = Command::new(bin("berthd"));
        cmd.arg("--root")
            .arg(self.root())
            .arg("--state")
            .arg(self.dir.path().join("state"))
            .arg("--address")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--log-level")
            .arg("debug")
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .args(&opts.args)
            .envs(LOOPBACK_ONLY.iter().copied())
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let cfg = net::merge_config(opts.config.as_deref(), &self.net.config_keys());
        let p = self.dir.path().join("config.toml");
        std::fs::write(&p, cfg).expect("config");
        cmd.arg("--config").arg(p);
        self.child = Some(cmd.spawn().expect("spawn berthd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.socket.exists() && self.berth(&["version"]).status.success() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("berthd exited early ({st}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not come up in 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs berth, asserts success and parses its stdout as JSON.
    pub fn ok_json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("berth {args:?} did not print JSON ({e}): {out}"))
    }

    /// `berth inspect NAME`'s object (a container, or what else NAME names).
    pub fn inspect(&self, name: &str) -> Value {
        self.ok_json(&["inspect", name])[0].clone()
    }

    /// Whether NAME is a running container; false, not a failure, while
    /// berth knows no NAME (yet).
    pub fn is_running(&self, name: &str) -> bool {
        let out = self.berth(&["inspect", name]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v[0]["State"]["Running"] == true
    }

    /// `berth image inspect IMAGE`'s object.
    pub fn image_inspect(&self, image: &str) -> Value {
        self.ok_json(&["image", "inspect", image])[0].clone()
    }

    /// `berth network inspect NET`'s object.
    pub fn network_inspect(&self, net: &str) -> Value {
        self.ok_json(&["network", "inspect", net])[0].clone()
    }

    /// `berth info --format json`.
    pub fn info(&self) -> Value {
        self.ok_json(&["info", "--format", "json"])
    }

    /// The image ID of `image`.
    pub fn image_id(&self, image: &str) -> String {
        self.image_inspect(image)["Id"]
            .as_str()
            .expect("Id")
            .to_string()
    }

    /// Whether berth knows an image of that name.
    pub fn has_image(&self, image: &str) -> bool {
        self.berth(&["image", "inspect", image]).status.success()
    }

    /// The daemon's root directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The daemon's state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The cgroup parent of this daemon's containers.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Loads the busybox fixture as `busybox:latest` (CMD sh).
    pub fn load_busybox(&self) {
        self.load_image(fixture::busybox_image("busybox:latest"));
    }

    /// Loads one image built from `spec`.
    pub fn load_image(&self, spec: fixture::ImageSpec) {
        let archive = fixture::ImageBuilder::new(fixture::Layout::Oci, vec![spec]).build();
        let p = self.write_file("image.tar", &archive);
        self.ok(&["load", "-q", "-i", &p]);
        let _ = std::fs::remove_file(p);
    }

    /// Writes `bytes` to the file `name` in the daemon's directory; its path
    /// (as an argument for berth).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p.display().to_string()
    }

    /// The API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("berthd.log")
    }

    /// What berthd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The command line of `berth -H <this daemon>`. Its client
    /// configuration (registry credentials) is this daemon's own
    /// [`Daemon::client_config_dir`], never the user's.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin("berth"));
        c.arg("-H").arg(format!("unix://{}", self.socket.display()));
        c.env("BERTH_CONFIG", self.client_config_dir());
        c
    }

    /// The berth client's configuration directory ($BERTH_CONFIG) of the
    /// commands this harness runs: `config.json` there holds the logins.
    pub fn client_config_dir(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    /// Runs berth with `args`.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// Runs berth with `args`, feeding `input` on stdin.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("berth output");
        let _ = writer.join();
        out
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        check_ok(args, &out)
    }

    /// Runs berth and asserts failure; returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.berth(args);
        check_fail(args, &out)
    }

    /// `berth run -d ARGS`, which must succeed: the new container's ID.
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }

    /// Starts `berth ARGS` in the background: stdin /dev/null, stdout and
    /// stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn berth {args:?}: {e}"))
    }

    /// `berth login HOST -u USER --password-stdin` with PASSWORD on stdin.
    pub fn login(&self, host: &str, user: &str, password: &str) -> Output {
        self.berth_stdin(
            &["login", host, "-u", user, "--password-stdin"],
            format!("{password}\n").as_bytes(),
        )
    }

    /// The client's credentials file (`config.json` in
    /// [`Daemon::client_config_dir`]), if there is one.
    pub fn credentials(&self) -> Option<Value> {
        let p = self.client_config_dir().join("config.json");
        let text = std::fs::read_to_string(p).ok()?;
        Some(serde_json::from_str(&text).expect("config.json is JSON"))
    }

    /// Asserts the client stored no login for HOST (after a refused login,
    /// say): no credentials file, or one without HOST.
    pub fn assert_not_logged_in(&self, host: &str) {
        if let Some(c) = self.credentials() {
            assert!(c["auths"].get(host).is_none(), "stored for {host}: {c}");
        }
    }

    /// `berth logout HOST` of a logged-in client: it says so, and the
    /// credentials file stays, without HOST. Returns that file.
    pub fn logout_ok(&self, host: &str) -> Value {
        let out = self.ok(&["logout", host]);
        assert!(
            out.contains(&format!("Removing login credentials for {host}")),
            "{out}"
        );
        let c = self.credentials().expect("config.json after logout");
        assert!(c["auths"].get(host).is_none(), "{c}");
        c
    }

    /// Sends SIGTERM and waits for the daemon to exit; returns its status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        terminate(&mut child, Duration::from_secs(15))
    }

    /// SIGKILLs the daemon (a crash): nothing of its shutdown runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the daemon again on the same root, with the same
    /// options.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts the daemon again after [`Daemon::stop`] or [`Daemon::kill`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "berthd is still running");
        self.spawn_berthd();
    }

    /// The mount points under this daemon's directory.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }

    /// Files in a directory under the root (empty if it does not exist).
    pub fn entries(&self, rel: &str) -> Vec<String> {
        match std::fs::read_dir(self.root().join(rel)) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        }
    }

    /// The blob files of the content store.
    pub fn blob_files(&self) -> Vec<String> {
        self.entries("content/blobs/sha256")
    }

    /// Whether the content store has a blob file for DIGEST
    /// ("sha256:...").
    pub fn has_blob(&self, digest: &str) -> bool {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.blob_files().iter().any(|f| f == hex)
    }

    /// Asserts `berth content verify` succeeds and finds no BAD blob.
    pub fn assert_content_verifies(&self) {
        let v = self.ok(&["content", "verify"]);
        assert!(!v.lines().any(|l| l.starts_with("BAD")), "{v}");
    }

    /// Asserts the store holds nothing in the namespace: no image, blob,
    /// snapshot, ingest or blob file.
    pub fn assert_empty(&self) {
        assert_eq!(self.ok(&["images", "-q"]).trim(), "", "images left");
        assert_eq!(self.ok(&["content", "ls", "-q"]).trim(), "", "blobs left");
        let snaps = self.ok(&["snapshot", "ls"]);
        assert!(snaps.lines().count() <= 1, "snapshots left:\n{snaps}");
        assert!(self.entries("content/ingest").is_empty(), "ingests left");
        assert!(
            self.blob_files().is_empty(),
            "blob files left: {:?}",
            self.blob_files()
        );
        let sn = self.info();
        let backend = sn["Snapshotter"]
            .as_str()
            .unwrap_or("overlayfs")
            .to_string();
        let dirs = self.entries(&format!("snapshots/{backend}/snapshots"));
        assert!(dirs.is_empty(), "snapshot dirs left: {dirs:?}");
        let mounts = self.mounts();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    }
}

/// Every path under `dir` (not following symlinks) whose file name is `name`.
pub fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if e.file_name() == name {
                found.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                todo.push(p);
            }
        }
    }
    found
}

impl Daemon {
    /// Pids of processes that belong to this daemon's containers: shims
    /// (their command line names this daemon's directory) and anything in
    /// the daemon's cgroups.
    pub fn container_processes(&self) -> Vec<i32> {
        let me = self.dir.path().to_string_lossy().into_owned();
        let mut pids: Vec<i32> = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.filter_map(|e| e.ok()) {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains("berth-shim") && cmdline.contains(&me) {
                    pids.push(pid);
                }
            }
        }
        for dir in self.cgroup_dirs() {
            for f in find_named(&dir, "cgroup.procs") {
                for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
                    if let Ok(pid) = l.trim().parse() {
                        pids.push(pid);
                    }
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// This daemon's cgroup parent directory in every mounted hierarchy
    /// (v1 controllers and the unified tree), where it exists.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_mounts()
            .into_iter()
            .map(|m| m.join(&self.cgroup_parent))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Container cgroups left under the daemon's cgroup parent.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for dir in self.cgroup_dirs() {
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.filter_map(|e| e.ok()) {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        left.push(e.path());
                    }
                }
            }
        }
        left
    }

    /// Shim sockets and task bundles left in the state directory.
    pub fn task_state_left(&self) -> Vec<PathBuf> {
        let state = self.state();
        let mut left = Vec::new();
        if let Ok(rd) = std::fs::read_dir(state.join("s")) {
            left.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        }
        if let Ok(rd) = std::fs::read_dir(state.join("tasks")) {
            for ns in rd.filter_map(|e| e.ok()) {
                if let Ok(rd) = std::fs::read_dir(ns.path()) {
                    left.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
                }
            }
        }
        left
    }

    /// Asserts nothing of any container is left: no shim or container
    /// process, cgroup, shim socket, task bundle or mount, and on the
    /// network side no port on the daemon's bridges, dnat rule in its table
    /// or allocated address ([`Daemon::assert_no_network_left`]).
    pub fn assert_no_containers_left(&self) {
        // A shim exits just after it answers its last request: give exiting
        // processes a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.container_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let procs: Vec<String> = self
            .container_processes()
            .into_iter()
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let brief: Vec<&str> = status
                    .lines()
                    .filter(|l| {
                        l.starts_with("Name:") || l.starts_with("State:") || l.starts_with("PPid:")
                    })
                    .collect();
                format!(
                    "{pid} {} ({})",
                    String::from_utf8_lossy(&cmdline).replace('\0', " "),
                    brief.join(", ")
                )
            })
            .collect();
        assert!(procs.is_empty(), "container processes left: {procs:?}");
        let cgroups = self.cgroups_left();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
        let state = self.task_state_left();
        assert!(state.is_empty(), "task state left: {state:?}");
        let mounts = self.mounts();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        self.assert_no_network_left();
    }

    /// Asserts `ps -a` lists no container at all, and then that nothing of
    /// any is left ([`Daemon::assert_no_containers_left`]).
    pub fn assert_all_removed(&self) {
        let ps = self.ok(&["ps", "-aq"]);
        assert_eq!(ps, "", "containers left: {ps}");
        self.assert_no_containers_left();
    }

    /// Kills whatever the test left running and removes its cgroups, so a
    /// failed test does not leak into the machine. Returns what it found.
    fn reap_leftovers(&self) -> (Vec<i32>, Vec<PathBuf>) {
        let procs = self.container_processes();
        for pid in &procs {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if !procs.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        let cgroups = self.cgroups_left();
        for dir in self.cgroup_dirs() {
            let mut subdirs: Vec<PathBuf> = find_named(&dir, "cgroup.procs")
                .into_iter()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect();
            // Deepest first, the parent itself last.
            subdirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for d in subdirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        (procs, cgroups)
    }
}

/// The mount points at or under `dir`, in the order they were mounted.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let me = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&me))
        .collect()
}

/// Where cgroup hierarchies are mounted (v1 controllers and cgroup2).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(dash + 1)?;
            (*fstype == "cgroup" || *fstype == "cgroup2").then(|| PathBuf::from(fields[4]))
        })
        .collect()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let status = self.stop();
        let (procs, cgroups) = self.reap_leftovers();
        let left = self.mounts();
        for m in left.iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // The containers are dead: their veths went with their namespaces.
        self.net.release();
        if std::thread::panicking() {
            eprintln!("---- berthd log ----\n{}", self.log());
            return;
        }
        assert!(
            procs.is_empty(),
            "container processes left behind: {procs:?}"
        );
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        assert!(left.is_empty(), "mounts left behind: {left:?}");
        if let Some(st) = status {
            assert!(st.success(), "berthd exited with {st}:\n{}", self.log());
        }
    }
}

/// A finished process's (exit code, stdout, stderr); the code is -1 when
/// a signal ended it.
pub fn split_output(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs berth against `d`; returns (exit code, stdout, stderr).
pub fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    split_output(&d.berth(args))
}

/// Runs berth against `d` with `input` on stdin; returns (exit code,
/// stdout, stderr).
pub fn run_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> (i32, String, String) {
    split_output(&d.berth_stdin(args, input))
}

/// `berth run --rm FLAGS busybox sh -c SCRIPT` against `d`; returns (exit
/// code, stdout, stderr).
pub fn run_sh(d: &Daemon, flags: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", script]);
    run(d, &args)
}

/// Runs a command that is not berth (skopeo, umoci, openssl...) and
/// asserts it succeeded; returns its output.
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts a berth run succeeded; returns its stdout.
pub fn check_ok(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a berth run failed with an "Error:" line (or docker's "Error
/// response from daemon:" for a refusal berthd sends); returns (code,
/// stderr).
pub fn check_fail(args: &[&str], out: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "berth {args:?} should have failed:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_error_line(args, &stderr);
    (out.status.code().unwrap_or(-1), stderr)
}

/// Asserts berth's stderr has an error line: "Error: ..." for a failure of
/// the CLI or, as docker prints what the daemon refused (a pull, push,
/// login or search), "Error response from daemon: ...".
pub fn assert_error_line(args: &[&str], stderr: &str) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("Error: ") || l.starts_with("Error response from daemon: ")),
        "berth {args:?}: no 'Error:' line in stderr: {stderr}"
    );
}
