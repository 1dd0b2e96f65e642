//! The berth-shim tests' fixture: a busybox bundle, the shim started with
//! `berth-shim start`, a Task API client over its socket, and the checks
//! that nothing is left behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use berth_proto::shim::v1::{
    task_client::TaskClient, CreateTaskRequest, DeleteRequest, KillRequest, Mount, ShutdownRequest,
    StartRequest, StateRequest, WaitRequest,
};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::UnixStream;
pub use tonic::transport::Channel;
use tonic::transport::{Endpoint, Uri};

/// The shim under test; BERTH_SHIM_BIN picks another build (e.g. release, to measure RSS).
pub fn shim_bin() -> String {
    std::env::var("BERTH_SHIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth-shim").to_owned())
}

pub const NS: &str = "testns";
pub const RUNC: &str = "/usr/sbin/runc";

pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the berth-shim tests need root (mounts, cgroups, namespaces); run them as root"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "the berth-shim tests need a static /bin/busybox for the container rootfs"
    );
}

/// One container's files: a busybox rootfs, a bundle, a log, a socket.
pub struct Fixture {
    pub dir: TempDir,
    pub id: String,
    pub runtime: &'static str,
    pub cgroup_parent: String,
}

impl Fixture {
    pub fn new(runtime: &'static str) -> Fixture {
        require_root();
        if !runtime.is_empty() {
            assert!(Path::new(RUNC).exists(), "runc is not installed at {RUNC}");
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!("{:032x}{:08x}{:024x}", nanos, std::process::id(), n);
        let dir = tempfile::Builder::new().prefix("shim").tempdir().unwrap();
        let src = dir.path().join("rootfs-src");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        for d in ["proc", "dev", "sys", "etc", "tmp"] {
            std::fs::create_dir_all(src.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", src.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", src.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(src.join("notexec"), "not a program\n").unwrap();
        std::fs::create_dir_all(dir.path().join("bundle")).unwrap();
        std::fs::create_dir_all(dir.path().join("ctr")).unwrap();
        Fixture {
            dir,
            id,
            runtime,
            cgroup_parent: format!("berth-shimtest-{}-{n}", std::process::id()),
        }
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("s").join("task.sock")
    }
    pub fn log(&self) -> PathBuf {
        self.dir
            .path()
            .join("ctr")
            .join(format!("{}-json.log", self.id))
    }
    pub fn cgroup_path(&self) -> String {
        format!("/{}/{NS}-{}", self.cgroup_parent, self.id)
    }
    /// Writes config.json for `args`, with a few knobs.
    pub fn config(&self, args: &[&str], pid_ns: bool, memory: Option<i64>) {
        let mut namespaces = vec![
            json!({"type": "network"}),
            json!({"type": "ipc"}),
            json!({"type": "uts"}),
            json!({"type": "mount"}),
        ];
        if pid_ns {
            namespaces.push(json!({"type": "pid"}));
        }
        let caps = json!([
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_NET_BIND_SERVICE"
        ]);
        let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
        if let Some(m) = memory {
            resources["memory"] = json!({"limit": m});
        }
        let spec = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "shimtest",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "linux": {
                "resources": resources,
                "cgroupsPath": self.cgroup_path(),
                "namespaces": namespaces,
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        std::fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
    }

    pub fn create_request(&self) -> CreateTaskRequest {
        CreateTaskRequest {
            id: self.id.clone(),
            bundle: self.bundle().to_string_lossy().into_owned(),
            rootfs: vec![Mount {
                r#type: "bind".into(),
                source: self
                    .dir
                    .path()
                    .join("rootfs-src")
                    .to_string_lossy()
                    .into_owned(),
                options: vec!["rbind".into(), "rw".into()],
            }],
            runtime: self.runtime.into(),
            runtime_root: if self.runtime.is_empty() {
                String::new()
            } else {
                self.dir
                    .path()
                    .join("runc-root")
                    .to_string_lossy()
                    .into_owned()
            },
            log_path: self.log().to_string_lossy().into_owned(),
            log_max_size: 0,
            log_max_files: 0,
            terminal: false,
            stdin: false,
            cache_dir: self.dir.path().join("cache").to_string_lossy().into_owned(),
            width: 0,
            height: 0,
        }
    }

    pub fn shim_args(&self) -> Vec<String> {
        vec![
            "--namespace".into(),
            NS.into(),
            "--id".into(),
            self.id.clone(),
            "--bundle".into(),
            self.bundle().to_string_lossy().into_owned(),
            "--address".into(),
            self.socket().to_string_lossy().into_owned(),
        ]
    }

    /// `berth-shim start`, then a connected client and the shim's pid.
    pub async fn start_shim(&self) -> (TaskClient<Channel>, i32) {
        let out = Command::new(shim_bin())
            .arg("start")
            .args(self.shim_args())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth-shim start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            self.socket().to_string_lossy()
        );
        let address = std::fs::read_to_string(self.bundle().join("address")).unwrap();
        assert_eq!(Path::new(&address), self.socket());
        let pid: i32 = std::fs::read_to_string(self.bundle().join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (connect(&self.socket()).await, pid)
    }

    pub fn log_lines(&self) -> Vec<Value> {
        read_lines(&self.log())
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.bundle().join("shim.log")).unwrap_or_default()
    }

    /// What the tests check after Delete: no rootfs mount, no cgroup.
    pub fn assert_cleaned(&self) {
        assert!(
            !is_mounted(&self.rootfs()),
            "{} is still mounted",
            self.rootfs().display()
        );
        let left = self.cgroup_dirs();
        assert!(left.is_empty(), "cgroup directories left: {left:?}");
    }

    /// The container's cgroup in every hierarchy where it exists.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let rel = self.cgroup_path();
        let rel = rel.trim_start_matches('/');
        let mut dirs = Vec::new();
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            dirs.push(Path::new("/sys/fs/cgroup").join(rel));
        } else if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            dirs.extend(entries.flatten().map(|e| e.path().join(rel)));
        }
        dirs.retain(|d| d.is_dir());
        dirs
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Leave nothing behind even when a test failed half-way: the shim's
        // own clean-up for a dead shim kills it, its container and its
        // cgroup, and unmounts the rootfs.
        let _ = Command::new(shim_bin())
            .arg("delete")
            .args(self.shim_args())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        for dir in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(&dir);
        }
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(&self.cgroup_parent));
            }
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
    }
}

pub fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

pub fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

pub async fn connect(socket: &Path) -> TaskClient<Channel> {
    let path = socket.to_path_buf();
    let channel = Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .unwrap();
    TaskClient::new(channel)
}

/// A process is gone (or a zombie its new parent has not reaped yet).
pub fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

pub fn wait_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "{what} (pid {pid}) did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split(' ').nth(1).unwrap().parse().unwrap()
}

pub fn wait_req(id: &str) -> WaitRequest {
    WaitRequest {
        id: id.into(),
        exec_id: String::new(),
    }
}

pub fn kill_req(id: &str, signal: u32, all: bool) -> KillRequest {
    KillRequest {
        id: id.into(),
        exec_id: String::new(),
        signal,
        all,
    }
}

pub async fn delete_and_shutdown(fx: &Fixture, client: &mut TaskClient<Channel>, shim_pid: i32) {
    let del = client
        .delete(DeleteRequest {
            id: fx.id.clone(),
            exec_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("delete: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner();
    fx.assert_cleaned();
    client
        .shutdown(ShutdownRequest {
            id: fx.id.clone(),
            now: false,
        })
        .await
        .unwrap();
    wait_gone(shim_pid, "the shim after Shutdown");
    assert!(!fx.socket().exists(), "the socket outlived the shim");
    let _ = del;
}

pub fn start_req(id: &str) -> StartRequest {
    StartRequest {
        id: id.into(),
        exec_id: String::new(),
    }
}

pub fn state_req(id: &str) -> StateRequest {
    StateRequest {
        id: id.into(),
        exec_id: String::new(),
    }
}

pub fn delete_req(id: &str) -> DeleteRequest {
    DeleteRequest {
        id: id.into(),
        exec_id: String::new(),
    }
}

pub fn runtime_name(runtime: &str) -> &str {
    if runtime.is_empty() {
        "built-in"
    } else {
        runtime
    }
}

/// Each scenario with runc and with the built-in runtime.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod runc {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::RUNC).await
            })*
        }
        mod builtin {
            $(#[tokio::test]
            async fn $name() {
                super::$name("").await
            })*
        }
    };
}
