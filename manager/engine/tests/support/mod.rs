//! What the container engine tests share: a private engine (own root,
//! state dir and cgroup parent) with the busybox image, and checks that
//! nothing of a container is left. Needs root (overlay mounts, cgroups).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_engine::config::Config;
use berth_engine::container::create::{ConfigRequest, CreateOptions, Created, HostConfigRequest};
use berth_engine::container::Containers;
use berth_engine::engine::Engine;
use berth_engine::image::load;
use berth_tests::fixture::{busybox_image, ImageBuilder, ImageSpec, Layout};

pub const NS: &str = "default";

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (overlay mounts, cgroups): run them as root"
    );
}

/// target/debug/berth-shim, next to the test binary's deps dir.
pub fn shim_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("berth-shim"))
        .expect("target dir")
}

pub fn require_shim() -> PathBuf {
    let p = shim_path();
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p berth-shim)",
        p.display()
    );
    p
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub engine: Option<Engine>,
    pub cgroup_parent: String,
}

impl Env {
    pub fn new(snapshotter: &str) -> Env {
        require_root();
        // RUST_LOG=debug shows the engine's logs of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::Builder::new()
            .prefix("berth-ctest-")
            .tempdir()
            .unwrap();
        let tag = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("berth-ctest-", "");
        let mut env = Env {
            dir,
            engine: None,
            cgroup_parent: format!("berth-ctest-{tag}"),
        };
        env.engine = Some(Engine::open(env.config(snapshotter)).unwrap());
        env
    }

    pub fn config(&self, snapshotter: &str) -> Config {
        Config {
            root: self.dir.path().join("root"),
            state: self.dir.path().join("state"),
            address: format!("unix://{}/s.sock", self.dir.path().display()),
            snapshotter: snapshotter.into(),
            log_level: "debug".into(),
            cgroup_parent: self.cgroup_parent.clone(),
            shim: shim_path(),
            ..Config::default()
        }
    }

    pub fn e(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    /// The engine's containers service.
    pub fn c(&self) -> &Containers {
        self.e().containers()
    }

    /// Inspects a container of [`NS`] as the JSON the doors print, to index
    /// like docker's (`v["State"]["Status"]`).
    pub async fn inspect(&self, container: &str, size: bool) -> serde_json::Value {
        let view = self
            .c()
            .inspect_container(NS, container, size)
            .await
            .unwrap();
        serde_json::to_value(view).unwrap()
    }

    pub fn load(&self, spec: ImageSpec) {
        let archive = ImageBuilder::new(Layout::Oci, vec![spec]).build();
        load::load(self.e().images(), NS, std::io::Cursor::new(archive)).unwrap();
    }

    pub fn load_busybox(&self) {
        self.load(busybox_image("busybox:latest"));
    }

    /// Mounts under this test's directory.
    pub fn mounts(&self) -> Vec<String> {
        let me = self.dir.path().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&me))
            .collect()
    }

    pub fn snapshots(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.e()
            .test_snapshotter()
            .walk(&mut |i| {
                v.push(i.name.clone());
                Ok(())
            })
            .unwrap();
        v
    }

    pub fn entries(&self, rel: &str) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join(rel))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Nothing of any container is left: records, snapshots beyond the
    /// image's, container dirs, bundles, sockets, mounts, cgroups.
    pub fn assert_no_containers(&self, image_snapshots: usize) {
        assert!(self.c().container_records(NS).unwrap().is_empty());
        assert_eq!(
            self.snapshots().len(),
            image_snapshots,
            "{:?}",
            self.snapshots()
        );
        assert!(self.entries(&format!("root/containers/{NS}")).is_empty());
        assert!(self.entries(&format!("state/tasks/{NS}")).is_empty());
        assert!(self.entries("state/s").is_empty());
        assert!(
            self.entries("root/tmp").is_empty(),
            "{:?}",
            self.entries("root/tmp")
        );
        assert!(self.mounts().is_empty(), "{:?}", self.mounts());
        assert!(self.cgroups_left().is_empty(), "{:?}", self.cgroups_left());
    }

    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for m in cgroup_mounts() {
            let d = m.join(&self.cgroup_parent);
            if let Ok(rd) = std::fs::read_dir(&d) {
                left.extend(
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                        .map(|e| e.path()),
                );
            }
        }
        left
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.engine = None;
        // Leave no cgroup parent behind (children first).
        for m in cgroup_mounts() {
            let d = m.join(&self.cgroup_parent);
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.filter_map(|e| e.ok()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(&d);
        }
        for m in self.mounts() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

pub fn opts(cmd: &[&str]) -> CreateOptions {
    CreateOptions {
        name: String::new(),
        config: ConfigRequest {
            image: "busybox".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        // The engine tests run without berthd's start-up (no bridge, no
        // firewall table): a private network namespace with lo only.
        host_config: HostConfigRequest {
            network_mode: "none".into(),
            ..Default::default()
        },
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub async fn create(env: &Env, o: CreateOptions) -> Created {
    env.c().create_container(NS, o).await.unwrap()
}

// ---- running containers ----

/// Collects an attach stream: output and the exit.
pub async fn attach_and_start(
    env: &Env,
    id: &str,
) -> (String, String, berth_engine::container::Exit) {
    use berth_engine::container::attach::AttachEvent;
    let mut rx = env.c().attach_container(NS, id, true, true).await.unwrap();
    let started = env.c().start_container(NS, id).await;
    let (mut out, mut err) = (String::new(), String::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("attach timed out")
        {
            Some(AttachEvent::Output(e)) if e.stream == "stdout" => {
                out.push_str(&String::from_utf8_lossy(&e.data))
            }
            Some(AttachEvent::Output(e)) => err.push_str(&String::from_utf8_lossy(&e.data)),
            Some(AttachEvent::Exit(x)) => {
                if let Err(e) = &started {
                    assert!(!x.error.is_empty(), "failed start {e} without an error");
                }
                return (out, err, x);
            }
            Some(AttachEvent::Error(e)) => panic!("attach: {e}"),
            Some(other) => panic!("attach: unexpected {other:?}"),
            None => panic!("attach ended without an exit"),
        }
    }
}

/// Runs a container to its end: (stdout, stderr, exit code).
pub async fn run(env: &Env, o: CreateOptions) -> (String, String, i32) {
    let c = create(env, o).await;
    let (out, err, exit) = attach_and_start(env, &c.id).await;
    env.c().remove_container(NS, &c.id, true).await.unwrap();
    (out, err, exit.code)
}
