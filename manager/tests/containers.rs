//! Engine-level container tests, without gRPC. They need root (overlay
//! mounts). Tests that run containers need the shim binary
//! (target/debug/berth-shim: `cargo build -p berth-shim`) and cgroups.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_tests::fixture::{busybox_image, ImageBuilder, ImageSpec, Layout};
use berthd::config::Config;
use berthd::container::attach::AttachEvent;
use berthd::container::create::{CreateOptions, Created};
use berthd::container::list::ListOptions;
use berthd::container::logs::LogsOptions;
use berthd::container::record::{bundle_dir, ContainerConfig, HostConfig};
use berthd::container::wait::WaitCondition;
use berthd::engine::Engine;
use berthd::image::load;
use berthd::ErrorKind;
use serde_json::json;

const NS: &str = "default";

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (overlay mounts, cgroups): run them as root"
    );
}

/// target/debug/berth-shim, next to the test binary's deps dir.
fn shim_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("berth-shim"))
        .expect("target dir")
}

fn require_shim() -> PathBuf {
    let p = shim_path();
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p berth-shim)",
        p.display()
    );
    p
}

struct Env {
    dir: tempfile::TempDir,
    engine: Option<Engine>,
    cgroup_parent: String,
}

impl Env {
    fn new(snapshotter: &str) -> Env {
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

    fn config(&self, snapshotter: &str) -> Config {
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

    fn e(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn load(&self, spec: ImageSpec) {
        let archive = ImageBuilder::new(Layout::Oci, vec![spec]).build();
        load::load(self.e(), NS, std::io::Cursor::new(archive)).unwrap();
    }

    fn load_busybox(&self) {
        self.load(busybox_image("busybox:latest"));
    }

    /// Mounts under this test's directory.
    fn mounts(&self) -> Vec<String> {
        let me = self.dir.path().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&me))
            .collect()
    }

    fn snapshots(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.e()
            .snapshotter()
            .walk(&mut |i| {
                v.push(i.name.clone());
                Ok(())
            })
            .unwrap();
        v
    }

    fn entries(&self, rel: &str) -> Vec<String> {
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
    fn assert_no_containers(&self, image_snapshots: usize) {
        assert!(self.e().container_records(NS).unwrap().is_empty());
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

    fn cgroups_left(&self) -> Vec<PathBuf> {
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

fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

fn opts(cmd: &[&str]) -> CreateOptions {
    CreateOptions {
        name: String::new(),
        config: ContainerConfig {
            image: "busybox".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        host_config: HostConfig::default(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn create(env: &Env, o: CreateOptions) -> Created {
    env.e().create_container(NS, o).await.unwrap()
}

#[test]
fn create_records_everything_and_rm_leaves_nothing() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "echo hi"]);
        o.config.labels.insert("app".into(), "web".into());
        o.config.env = vec!["FOO=bar".into()];
        let c = create(&env, o).await;
        assert_eq!(c.id.len(), 64);
        let rec = env.e().lookup_container(NS, &c.id).unwrap();
        assert!(rec.name.contains('_'), "generated name {}", rec.name);
        assert_eq!(rec.hostname, &c.id[..12]);
        assert_eq!(rec.path, "sh");
        assert_eq!(rec.args, ["-c", "echo hi"]);
        assert_eq!(rec.snapshot_key, c.id);
        let (img, _) = env.e().resolve_image(NS, "busybox").unwrap();
        assert_eq!(rec.image_id, img.id());
        // The rootfs snapshot: active, on the image's top layer.
        let info = env.e().snapshotter().stat(&c.id).unwrap();
        assert_eq!(info.kind, berth_snapshotter::Kind::Active);
        assert_eq!(
            info.parent.as_deref(),
            Some(img.layers[0].chain_id.as_str())
        );
        assert!(env
            .e()
            .list_snapshots(NS)
            .unwrap()
            .iter()
            .any(|(r, _, _)| r.key == c.id));
        // The stored spec and the empty log.
        let dir = env
            .dir
            .path()
            .join(format!("root/containers/{NS}/{}", c.id));
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(spec["process"]["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(spec["hostname"], &c.id[..12]);
        assert_eq!(spec["root"]["path"], "rootfs");
        assert!(spec["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("FOO=bar")));
        assert!(spec["linux"]["seccomp"].is_object(), "default seccomp");
        let log = dir.join(format!("{}-json.log", c.id));
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        assert_eq!(rec.log_path, log);
        // Nothing mounted once create returns.
        assert!(env.mounts().is_empty(), "{:?}", env.mounts());

        // ps: not running, so only with all; inspect: docker's shape.
        let ps = |all| {
            env.e().list_containers(
                NS,
                ListOptions {
                    all,
                    size: true,
                    filters: vec![],
                },
            )
        };
        assert!(ps(false).await.unwrap().is_empty());
        let l = ps(true).await.unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].record.id, c.id);
        assert!(l[0].size_root_fs.unwrap() > 0);
        let v = env
            .e()
            .inspect_container(NS, &rec.name, true)
            .await
            .unwrap();
        assert_eq!(v["Id"], c.id.as_str());
        assert_eq!(v["State"]["Status"], "created");
        assert_eq!(v["Name"], format!("/{}", rec.name));
        assert_eq!(v["Config"]["Labels"]["app"], "web");
        assert_eq!(v["Config"]["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(v["GraphDriver"]["Name"], "overlayfs");
        assert!(v["GraphDriver"]["Data"]["UpperDir"].is_string());

        // Not running: kill and top refuse, stop is a no-op, wait is done.
        let e = env.e().kill_container(NS, &c.id, "").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert_eq!(e.to_string(), format!("container {} is not running", c.id));
        let e = env.e().top_container(NS, &c.id, &[]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        env.e().stop_container(NS, &c.id, -1, "").await.unwrap();
        let w = env
            .e()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .unwrap();
        assert_eq!(w.wait().await.code, 0);

        // A "removed" waiter wakes when rm is done.
        let w = env
            .e()
            .wait_container(NS, &c.id, WaitCondition::Removed)
            .unwrap();
        let waiting = tokio::spawn(w.wait());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        env.e()
            .remove_container(NS, &c.id[..12], false)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        let e = env
            .e()
            .inspect_container(NS, &c.id, false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("No such container: {}", c.id));
    });
    env.assert_no_containers(image_snaps);
    assert!(env.e().list_snapshots(NS).unwrap().len() == image_snaps);
}

#[test]
fn users_resolve_from_the_image() {
    let env = Env::new("native");
    env.load(busybox_image("busybox:latest").with("User", json!("alice")));
    rt().block_on(async {
        let spec_of = |id: &str| -> serde_json::Value {
            let p = env
                .dir
                .path()
                .join(format!("root/containers/{NS}/{id}/config.json"));
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        // The image's USER.
        let c = create(&env, opts(&["id"])).await;
        assert_eq!(
            spec_of(&c.id)["process"]["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10]})
        );
        let cases: &[(&str, serde_json::Value)] = &[
            ("root", json!({"uid": 0, "gid": 0})),
            ("nobody", json!({"uid": 65534, "gid": 65534})),
            ("1234:5678", json!({"uid": 1234, "gid": 5678})),
            ("alice:nogroup", json!({"uid": 1000, "gid": 65534})),
        ];
        for (user, want) in cases {
            let mut o = opts(&["id"]);
            o.config.user = user.to_string();
            let c = create(&env, o).await;
            assert_eq!(&spec_of(&c.id)["process"]["user"], want, "{user}");
            let v = env.e().inspect_container(NS, &c.id, false).await.unwrap();
            assert_eq!(v["Config"]["User"], *user);
        }
    });
}

#[test]
fn bad_input_leaves_nothing() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    let host_dir = env.dir.path().display().to_string();
    rt().block_on(async {
        type Case = (
            &'static str,
            Box<dyn Fn(&mut CreateOptions)>,
            ErrorKind,
            String,
        );
        let cases: Vec<Case> = vec![
            (
                "unknown user",
                Box::new(|o| o.config.user = "nosuch".into()),
                ErrorKind::InvalidArgument,
                "unable to find user nosuch: no matching entries in passwd file".into(),
            ),
            (
                "unknown group",
                Box::new(|o| o.config.user = "root:nogrp".into()),
                ErrorKind::InvalidArgument,
                "unable to find group nogrp: no matching entries in group file".into(),
            ),
            (
                "missing image",
                Box::new(|o| o.config.image = "nosuch:1".into()),
                ErrorKind::NotFound,
                "No such image: nosuch:1".into(),
            ),
            (
                "named volume",
                Box::new(|o| o.host_config.binds = vec!["vol:/data".into()]),
                ErrorKind::Unimplemented,
                "volumes are not supported yet".into(),
            ),
            (
                "missing bind source",
                Box::new(|o| o.host_config.binds = vec!["/nonexistent/x:/data".into()]),
                ErrorKind::InvalidArgument,
                "bind source path does not exist: /nonexistent/x".into(),
            ),
            (
                "network",
                Box::new(|o| o.host_config.network_mode = "bridge".into()),
                ErrorKind::Unimplemented,
                "network mode bridge is not supported yet (only none)".into(),
            ),
            (
                "relative workdir",
                Box::new(|o| o.config.working_dir = "rel".into()),
                ErrorKind::InvalidArgument,
                "the working directory 'rel' is invalid".into(),
            ),
            (
                "bad name",
                Box::new(|o| o.name = "a b".into()),
                ErrorKind::InvalidArgument,
                "Invalid container name (a b)".into(),
            ),
            (
                "bad capability",
                Box::new(|o| o.host_config.cap_add = vec!["FLY".into()]),
                ErrorKind::InvalidArgument,
                "unknown capability".into(),
            ),
            (
                "bad stop signal",
                Box::new(|o| o.config.stop_signal = "SIGNOPE".into()),
                ErrorKind::InvalidArgument,
                "Invalid signal: SIGNOPE".into(),
            ),
            (
                "bad security opt",
                Box::new(|o| o.host_config.security_opt = vec!["seccomp=/x.json".into()]),
                ErrorKind::InvalidArgument,
                "Invalid --security-opt".into(),
            ),
            (
                "bad runtime",
                Box::new(|o| o.host_config.runtime = "nosuch-runtime".into()),
                ErrorKind::InvalidArgument,
                "unknown or invalid runtime name: nosuch-runtime".into(),
            ),
            (
                "bind onto /",
                Box::new(move |o| o.host_config.binds = vec![format!("{host_dir}:/")]),
                ErrorKind::InvalidArgument,
                "destination can't be '/'".into(),
            ),
        ];
        for (what, f, kind, msg) in cases {
            let mut o = opts(&["true"]);
            f(&mut o);
            let e = env.e().create_container(NS, o).await.unwrap_err();
            assert_eq!(e.kind(), kind, "{what}: {e}");
            assert!(e.to_string().contains(&msg), "{what}: {e}");
        }
        env.assert_no_containers(image_snaps);

        // A taken name: the second create fails, the first stays.
        let mut o = opts(&["true"]);
        o.name = "web".into();
        let first = create(&env, o.clone()).await;
        o.name = "/web".into();
        let e = env.e().create_container(NS, o).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(e
            .to_string()
            .contains("\"/web\" is already in use by container"));
        assert_eq!(env.e().container_records(NS).unwrap().len(), 1);
        assert_eq!(env.snapshots().len(), image_snaps + 1);
        // The same name in another namespace is fine.
        let archive = ImageBuilder::new(Layout::Oci, vec![busybox_image("busybox:latest")]).build();
        load::load(env.e(), "other", std::io::Cursor::new(archive)).unwrap();
        let mut o = opts(&["true"]);
        o.name = "web".into();
        let other = env.e().create_container("other", o).await.unwrap();
        env.e()
            .remove_container("other", "web", false)
            .await
            .unwrap();
        assert!(env.e().lookup_container("other", &other.id).is_err());
        env.e()
            .remove_container(NS, &first.id, false)
            .await
            .unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn names_lookup_and_rename() {
    let env = Env::new("native");
    env.load_busybox();
    rt().block_on(async {
        let mut ids = Vec::new();
        for name in ["a1", "b2"] {
            let mut o = opts(&["true"]);
            o.name = name.into();
            ids.push(create(&env, o).await.id);
        }
        let e = env.e();
        assert_eq!(e.lookup_container(NS, "a1").unwrap().id, ids[0]);
        assert_eq!(e.lookup_container(NS, "/b2").unwrap().id, ids[1]);
        assert_eq!(e.lookup_container(NS, &ids[1][..12]).unwrap().name, "b2");
        assert_eq!(
            e.lookup_container(NS, "zz").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // An id prefix both share (if they share one) is ambiguous.
        let common = ids[0]
            .chars()
            .zip(ids[1].chars())
            .take_while(|(a, b)| a == b)
            .count();
        if common > 0 {
            let e = e.lookup_container(NS, &ids[0][..common]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        }
        let err = e.rename_container(NS, "a1", "b2").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        e.rename_container(NS, "a1", "c3").await.unwrap();
        assert_eq!(e.lookup_container(NS, "c3").unwrap().id, ids[0]);
        assert!(e.lookup_container(NS, "a1").is_err());
        let err = e.rename_container(NS, "c3", "bad name").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        // ps filters.
        let ps = |f: &[&str]| {
            e.list_containers(
                NS,
                ListOptions {
                    all: true,
                    size: false,
                    filters: f.iter().map(|s| s.to_string()).collect(),
                },
            )
        };
        assert_eq!(ps(&["name=c3"]).await.unwrap().len(), 1);
        assert_eq!(ps(&["status=created"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["status=running"]).await.unwrap().len(), 0);
        assert_eq!(ps(&["ancestor=busybox"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["ancestor=busybox:latest"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["ancestor=alpine"]).await.unwrap().len(), 0);
        assert_eq!(
            ps(&[&format!("id={}", &ids[1][..8])]).await.unwrap()[0]
                .record
                .name,
            "b2"
        );
        assert!(ps(&["bogus=1"]).await.is_err());
        // Newest first.
        let l = ps(&[]).await.unwrap();
        assert_eq!(l[0].record.id, ids[1]);
    });
}

#[test]
fn rmi_refuses_an_image_a_container_uses_and_gc_keeps_its_snapshot() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let c = create(&env, opts(&["true"])).await;
        let e = env.e().remove_image(NS, "busybox", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(
            e.to_string()
                .contains(&format!("container {} is using it", &c.id[..12])),
            "{e}"
        );
        // Forced: the image goes, the container and its snapshot stay,
        // through garbage collection too.
        env.e().remove_image(NS, "busybox", true).unwrap();
        env.e().prune().unwrap();
        assert!(env.e().snapshotter().stat(&c.id).is_ok());
        assert!(env.e().snapshotter().mounts(&c.id).is_ok());
        // Its parent chain is kept for it.
        assert_eq!(env.snapshots().len(), 2);
        env.e().remove_container(NS, &c.id, false).await.unwrap();
        env.e().prune().unwrap();
        assert!(env.snapshots().is_empty(), "{:?}", env.snapshots());
    });
}

/// Writes docker json-file lines.
fn log_lines(entries: &[(&str, &str, u32)]) -> String {
    entries
        .iter()
        .map(|(stream, text, sec)| {
            json!({"log": text, "stream": stream, "time": format!("2026-01-01T00:00:{sec:02}.000000001Z")})
                .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn logs_of_a_stopped_container_across_rotated_files() {
    let env = Env::new("native");
    env.load_busybox();
    rt().block_on(async {
        let c = create(&env, opts(&["true"])).await;
        let log = env.e().lookup_container(NS, &c.id).unwrap().log_path;
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
        std::fs::write(
            rotated(2),
            log_lines(&[("stdout", "a\n", 1), ("stderr", "b\n", 2)]),
        )
        .unwrap();
        std::fs::write(rotated(1), log_lines(&[("stdout", "c\n", 3)])).unwrap();
        std::fs::write(
            &log,
            log_lines(&[("stderr", "d\n", 4), ("stdout", "e\n", 5)]),
        )
        .unwrap();
        let read = |o: LogsOptions| async {
            let mut rx = env.e().container_logs(NS, &c.id, o).await.unwrap();
            let mut out = Vec::new();
            while let Some(e) = rx.recv().await {
                let e = e.unwrap();
                out.push(format!(
                    "{}:{}",
                    e.stream,
                    String::from_utf8_lossy(&e.data).trim()
                ));
            }
            out
        };
        let all = LogsOptions {
            tail: -1,
            stdout: true,
            stderr: true,
            // Follow on a stopped container ends after the history.
            follow: true,
            ..Default::default()
        };
        assert_eq!(
            read(all.clone()).await,
            ["stdout:a", "stderr:b", "stdout:c", "stderr:d", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                tail: 2,
                ..all.clone()
            })
            .await,
            ["stderr:d", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                stderr: false,
                ..all.clone()
            })
            .await,
            ["stdout:a", "stdout:c", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                since: "2026-01-01T00:00:03Z".into(),
                until: "2026-01-01T00:00:05Z".into(),
                ..all.clone()
            })
            .await,
            ["stdout:c", "stderr:d"]
        );
        let e = env
            .e()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    since: "yesterday".into(),
                    ..all
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        // rm removes the rotated files too.
        env.e().remove_container(NS, &c.id, false).await.unwrap();
        assert!(!log.exists() && !rotated(1).exists());
    });
}

// ---- with the shim: containers that run ----

/// Collects an attach stream: output and the exit.
async fn attach_and_start(env: &Env, id: &str) -> (String, String, berthd::container::Exit) {
    use berthd::container::attach::AttachEvent;
    let mut rx = env.e().attach_container(NS, id, true, true).await.unwrap();
    let started = env.e().start_container(NS, id).await;
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
            None => panic!("attach ended without an exit"),
        }
    }
}

#[test]
fn run_output_exit_code_and_cleanup() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["sh", "-c", "echo out; echo err >&2; exit 3"])).await;
        let (out, err, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!(out, "out\n");
        assert_eq!(err, "err\n");
        assert_eq!(exit.code, 3);
        let v = env.e().inspect_container(NS, &c.id, false).await.unwrap();
        assert_eq!(v["State"]["Status"], "exited");
        assert_eq!(v["State"]["ExitCode"], 3);
        assert_eq!(v["State"]["Running"], false);
        assert_ne!(v["State"]["StartedAt"], "0001-01-01T00:00:00Z");
        assert_ne!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
        // Logs after the exit.
        let mut rx = env
            .e()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    tail: -1,
                    stdout: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let e = rx.recv().await.unwrap().unwrap();
        assert_eq!(e.data, b"out\n");
        assert!(rx.recv().await.is_none());
        // Wait on an exited container is immediate.
        let w = env
            .e()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .unwrap();
        assert_eq!(w.wait().await.code, 3);
        // A second run appends to the same log.
        let (out, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!((out.as_str(), exit.code), ("out\n", 3));
        env.e().remove_container(NS, &c.id, false).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn command_not_found_is_127_and_rm_removes() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["nosuch"])).await;
        let e = env.e().start_container(NS, &c.id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        match &e {
            berthd::ManagerError::StartFailed { exit_code, message } => {
                assert_eq!(*exit_code, 127);
                assert!(message.contains("nosuch"), "{message}");
            }
            other => panic!("not a start failure: {other}"),
        }
        let v = env.e().inspect_container(NS, &c.id, false).await.unwrap();
        assert_eq!(v["State"]["ExitCode"], 127);
        assert!(v["State"]["Error"].as_str().unwrap().contains("nosuch"));
        assert_eq!(v["State"]["Running"], false);
        env.e().remove_container(NS, &c.id, false).await.unwrap();

        // With --rm, a failed start removes the container.
        let mut o = opts(&["/etc/passwd"]);
        o.host_config.auto_remove = true;
        let c = create(&env, o).await;
        let w = env
            .e()
            .wait_container(NS, &c.id, WaitCondition::Removed)
            .unwrap();
        let e = env.e().start_container(NS, &c.id).await.unwrap_err();
        assert!(
            matches!(e, berthd::ManagerError::StartFailed { exit_code: 126, .. }),
            "{e}"
        );
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), w.wait())
                .await
                .unwrap()
                .code,
            126
        );
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn stop_kill_restart_top_and_force_remove() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let e = env.e();
        // A process that ignores SIGTERM: stop kills it after the timeout.
        let c = create(&env, opts(&["sh", "-c", "trap '' TERM; exec sleep 1000"])).await;
        e.start_container(NS, &c.id).await.unwrap();
        let rec = e.lookup_container(NS, &c.id).unwrap();
        assert!(rec.state.running());
        assert!(rec.state.pid > 0);
        let err = e.start_container(NS, &c.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        let top = e.top_container(NS, &c.id, &[]).await.unwrap();
        assert!(top.titles.contains(&"PID".to_string()));
        assert!(
            top.processes
                .iter()
                .any(|p| p.last().unwrap().contains("sleep 1000")),
            "{top:?}"
        );
        let err = e.remove_container(NS, &c.id, false).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        assert!(err
            .to_string()
            .contains("container is running: stop the container before removing or force remove"));
        let t0 = std::time::Instant::now();
        e.stop_container(NS, &c.id, 1, "").await.unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(1));
        let rec = e.lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        assert_eq!(rec.state.exit_code, 137);

        // restart, then kill (the init of a pid namespace ignores signals
        // it has no handler for, so KILL).
        e.restart_container(NS, &c.id, 0).await.unwrap();
        assert!(e.lookup_container(NS, &c.id).unwrap().state.running());
        let w = e
            .wait_container(NS, &c.id, WaitCondition::NextExit)
            .unwrap();
        e.kill_container(NS, &c.id, "SIGKILL").await.unwrap();
        assert_eq!(w.wait().await.code, 128 + 9);

        // rm -f of a running container.
        e.start_container(NS, &c.id).await.unwrap();
        e.remove_container(NS, &c.id, true).await.unwrap();

        // A clean stop: SIGTERM reaches the process; kill -s USR1 too.
        let script =
            "trap 'exit 7' TERM; trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done";
        let c = create(&env, opts(&["sh", "-c", script])).await;
        for (how, code) in [("stop", 7), ("USR1", 42), ("10", 42)] {
            let mut out = e.attach_container(NS, &c.id, true, false).await.unwrap();
            e.start_container(NS, &c.id).await.unwrap();
            // The traps are set once it printed.
            assert!(matches!(out.recv().await, Some(AttachEvent::Output(_))));
            if how == "stop" {
                e.stop_container(NS, &c.id, 10, "").await.unwrap();
            } else {
                e.kill_container(NS, &c.id, how).await.unwrap();
            }
            loop {
                match out.recv().await {
                    Some(AttachEvent::Exit(x)) => {
                        assert_eq!(x.code, code, "{how}");
                        break;
                    }
                    Some(_) => {}
                    None => panic!("no exit"),
                }
            }
            let x = e
                .wait_container(NS, &c.id, WaitCondition::NotRunning)
                .unwrap();
            assert_eq!(x.wait().await.code, code);
        }
        e.remove_container(NS, &c.id, false).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn auto_remove_and_many_containers_leave_nothing() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut waits = Vec::new();
        for i in 0..20 {
            let mut o = opts(&["sh", "-c", &format!("exit {}", i % 3)]);
            o.host_config.auto_remove = true;
            let c = create(&env, o).await;
            waits.push((
                i,
                env.e()
                    .wait_container(NS, &c.id, WaitCondition::Removed)
                    .unwrap(),
            ));
            env.e().start_container(NS, &c.id).await.unwrap();
        }
        for (i, w) in waits {
            let x = tokio::time::timeout(Duration::from_secs(30), w.wait())
                .await
                .unwrap();
            assert_eq!(x.code, i % 3);
        }
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn containers_survive_an_engine_restart() {
    require_shim();
    let mut env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    let (running, exits, dies);
    {
        let rt1 = rt();
        (running, exits, dies) = rt1.block_on(async {
            let e = env.e();
            let a = create(&env, opts(&["sleep", "1000"])).await.id;
            let b = create(&env, opts(&["sh", "-c", "sleep 1; exit 5"]))
                .await
                .id;
            let c = create(&env, opts(&["sleep", "1000"])).await.id;
            for id in [&a, &b, &c] {
                e.start_container(NS, id).await.unwrap();
            }
            (a, b, c)
        });
        // berthd goes away (its monitors with it); containers stay.
        drop(rt1);
        env.engine = None;
    }
    // While it is down: b exits on its own; c's shim is killed.
    std::thread::sleep(Duration::from_millis(1500));
    let bundle = |id: &str| {
        let c = env.config("overlayfs");
        bundle_dir(&c, NS, id)
    };
    let shim_pid: i32 = std::fs::read_to_string(bundle(&dies).join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    env.engine = Some(Engine::open(env.config("overlayfs")).unwrap());
    rt().block_on(async {
        let e = env.e();
        e.recover_containers().await.unwrap();
        let a = e.lookup_container(NS, &running).unwrap();
        assert!(a.state.running(), "{:?}", a.state);
        let b = e.lookup_container(NS, &exits).unwrap();
        assert_eq!((b.state.running(), b.state.exit_code), (false, 5));
        let c = e.lookup_container(NS, &dies).unwrap();
        assert!(!c.state.running());
        assert_eq!(c.state.exit_code, 137);
        assert!(c.state.error.contains("shim died"), "{:?}", c.state);
        // The reconnected container is manageable.
        e.stop_container(NS, &running, 0, "").await.unwrap();
        for id in [&running, &exits, &dies] {
            e.remove_container(NS, id, false).await.unwrap();
        }
    });
    env.assert_no_containers(image_snaps);
}

/// Prints how long create and remove take (not a pass/fail test):
/// `cargo test -p berthd --test containers create_latency -- --ignored --nocapture`.
#[test]
#[ignore]
fn create_latency() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let mut creates = Vec::new();
        let mut removes = Vec::new();
        for _ in 0..30 {
            let t = std::time::Instant::now();
            let c = create(&env, opts(&["true"])).await;
            creates.push(t.elapsed());
            let t = std::time::Instant::now();
            env.e().remove_container(NS, &c.id, false).await.unwrap();
            removes.push(t.elapsed());
        }
        creates.sort();
        removes.sort();
        eprintln!(
            "create p50 {:?} p90 {:?}; remove p50 {:?} p90 {:?}",
            creates[15], creates[27], removes[15], removes[27]
        );
    });
}

/// Runs a container to its end: (stdout, stderr, exit code).
async fn run(env: &Env, o: CreateOptions) -> (String, String, i32) {
    let c = create(env, o).await;
    let (out, err, exit) = attach_and_start(env, &c.id).await;
    env.e().remove_container(NS, &c.id, true).await.unwrap();
    (out, err, exit.code)
}

#[test]
fn run_options_reach_the_container() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    berthd::container::init::install(&env.dir.path().join("state")).unwrap();
    let host = env.dir.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "from the host\n").unwrap();
    rt().block_on(async {
        // The default hostname is the short id.
        let c = create(&env, opts(&["hostname"])).await;
        let (out, _, code) = attach_and_start(&env, &c.id).await;
        assert_eq!((out.trim(), code.code), (&c.id[..12], 0));
        env.e().remove_container(NS, &c.id, false).await.unwrap();

        let mut o = opts(&["sh", "-c", "echo $FOO $HOSTNAME; id -u; id -G; pwd"]);
        o.config.env = vec!["FOO=bar".into()];
        o.config.hostname = "myhost".into();
        o.config.user = "alice".into();
        o.config.working_dir = "/tmp".into();
        let (out, err, code) = run(&env, o).await;
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            ("bar myhost\n1000\n1000 10\n/tmp\n", "", 0)
        );

        // A read-only bind mount and a read-only rootfs.
        let mut o = opts(&[
            "sh",
            "-c",
            "cat /data/f; touch /data/x || echo bind-ro; touch /x || echo root-ro",
        ]);
        o.host_config.binds = vec![format!("{}:/data:ro", host.display())];
        o.host_config.read_only = true;
        let (out, _, code) = run(&env, o).await;
        assert_eq!(
            (out.as_str(), code),
            ("from the host\nbind-ro\nroot-ro\n", 0)
        );
        assert!(!host.join("x").exists());

        // --init: berth-init is PID 1 and the command its child.
        let mut o = opts(&["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"]);
        o.host_config.init = true;
        let (out, _, code) = run(&env, o).await;
        assert_eq!(code, 0);
        assert!(out.starts_with("/sbin/berth-init"), "{out}");
        assert_ne!(out.lines().nth(1), Some("1"), "{out}");

        // Only a private network namespace: lo, nothing else.
        let (out, _, code) = run(&env, opts(&["cat", "/proc/net/dev"])).await;
        assert_eq!(code, 0);
        assert!(out.contains("lo:") && !out.contains("eth0"), "{out}");
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn memory_limit_oom_is_reported() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "tail /dev/zero"]);
        o.host_config.resources.memory = Some(8 << 20);
        o.host_config.resources.memory_swap = Some(8 << 20);
        let c = create(&env, o).await;
        let (_, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!((exit.code, exit.oom_killed), (137, true));
        let v = env.e().inspect_container(NS, &c.id, false).await.unwrap();
        assert_eq!(v["State"]["OOMKilled"], true);
        assert_eq!(v["State"]["ExitCode"], 137);
        assert_eq!(v["HostConfig"]["Memory"], 8 << 20);
        env.e().remove_container(NS, &c.id, false).await.unwrap();
    });
}

#[test]
fn follow_sees_every_line_across_rotations_and_ends_at_exit() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let mut o = opts(&[
            "sh",
            "-c",
            "i=1; while [ $i -le 60 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); sleep 0.02; done; echo done >&2",
        ]);
        o.host_config.log_max_size = 2000;
        o.host_config.log_max_files = 2;
        let c = create(&env, o).await;
        env.e().start_container(NS, &c.id).await.unwrap();
        let mut rx = env
            .e()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    follow: true,
                    tail: -1,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut lines = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while let Some(e) = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("follow did not end after the exit")
        {
            lines.push(String::from_utf8(e.unwrap().data).unwrap());
        }
        let want: Vec<String> = (1..=60)
            .map(|i| format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"))
            .chain(std::iter::once("done\n".to_string()))
            .collect();
        assert_eq!(lines, want);
        // The exit is recorded; rotation kept at most 2 old files.
        let rec = env.e().lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", rec.log_path.display()));
        assert!(rotated(1).exists() && rotated(2).exists() && !rotated(3).exists());
        // --tail after the exit reads the end across files.
        let mut rx = env
            .e()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    tail: 2,
                    stdout: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut tail = Vec::new();
        while let Some(e) = rx.recv().await {
            tail.push(String::from_utf8(e.unwrap().data).unwrap());
        }
        assert_eq!(tail, &want[58..60]);
        env.e().remove_container(NS, &c.id, false).await.unwrap();
    });
}

#[test]
fn an_external_runtime_runs_the_same_bundle() {
    require_shim();
    if berthd::config::find_in_path("runc").is_none() {
        eprintln!("runc is not installed: skipped (apt-get install runc)");
        return;
    }
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "echo via runc; hostname; exit 3"]);
        o.host_config.runtime = "runc".into();
        let c = create(&env, o).await;
        let (out, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!(out, format!("via runc\n{}\n", &c.id[..12]));
        assert_eq!(exit.code, 3);
        // Stop and rm -f of a running runc container.
        let v = env.e().inspect_container(NS, &c.id, false).await.unwrap();
        assert_eq!(v["HostConfig"]["Runtime"], "runc");
        env.e().remove_container(NS, &c.id, false).await.unwrap();
        let mut o = opts(&["sleep", "1000"]);
        o.host_config.runtime = "runc".into();
        let c = create(&env, o).await;
        env.e().start_container(NS, &c.id).await.unwrap();
        env.e().stop_container(NS, &c.id, 1, "").await.unwrap();
        assert_eq!(
            env.e().lookup_container(NS, &c.id).unwrap().state.exit_code,
            137
        );
        env.e().start_container(NS, &c.id).await.unwrap();
        env.e().remove_container(NS, &c.id, true).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn a_shim_that_dies_is_noticed_and_cleaned_up() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["sleep", "1000"])).await;
        env.e().start_container(NS, &c.id).await.unwrap();
        let w = env
            .e()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .unwrap();
        let bundle = bundle_dir(env.e().config(), NS, &c.id);
        let shim_pid: i32 = std::fs::read_to_string(bundle.join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim_pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(20), w.wait())
            .await
            .expect("the dead shim was not noticed");
        assert_eq!(exit.code, 137);
        assert!(exit.error.contains("shim died"), "{exit:?}");
        let rec = env.e().lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        assert!(rec.task.is_none());
        // The container's processes went with it (berth-shim delete).
        env.e().remove_container(NS, &c.id, false).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}
