//! Compatibility with docker itself: an archive `docker save` wrote loads
//! into berth with the same image ID, and what `berth save` writes loads
//! into docker with the same ID. Uses a private dockerd (own data root,
//! exec root and socket; no bridge, no iptables) from Debian's docker.io.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_tests::fixture::busybox_rootfs_tar;
use berth_tests::{mounts_under, output_ok, poll, require_tool, terminate, Daemon};

struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    docker: PathBuf,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dockerd = require_tool("dockerd", "docker.io");
        let docker = require_tool("docker", "docker.io");
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(p.join("root"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--pidfile")
            .arg(p.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", p.join("docker.sock").display()))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child, docker };
        poll(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || d.run(&["version"]).status.success(),
            || {
                format!(
                    "dockerd did not come up:\n{}",
                    std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
                )
            },
        );
        d
    }

    /// The command line of `docker -H <this dockerd> ARGS`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.docker);
        c.arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&output_ok(&mut self.cmd(args)).stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(20));
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(Path::new(m), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn archives_move_between_docker_and_berth() {
    let docker = Dockerd::start();
    let berth = Daemon::start();
    let rootfs = berth.dir.path().join("rootfs.tar");
    std::fs::write(&rootfs, busybox_rootfs_tar()).unwrap();
    docker.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        rootfs.to_str().unwrap(),
        "compat:v1",
    ]);
    let docker_id = docker
        .ok(&["image", "inspect", "--format", "{{.Id}}", "compat:v1"])
        .trim()
        .to_string();

    // docker save -> berth load: same ID, same layers.
    let from_docker = berth.dir.path().join("from-docker.tar");
    docker.ok(&["save", "-o", from_docker.to_str().unwrap(), "compat:v1"]);
    let out = berth.ok(&["load", "-i", from_docker.to_str().unwrap()]);
    assert!(out.contains("Loaded image: compat:v1"), "{out}");
    let info = berth.image_inspect("compat:v1");
    assert_eq!(info["Id"].as_str().unwrap(), docker_id);
    assert_eq!(info["Config"]["Cmd"], serde_json::json!(["sh"]));

    // berth save -> docker load: docker gets the same image back.
    let from_berth = berth.dir.path().join("from-berth.tar");
    berth.ok(&["save", "-o", from_berth.to_str().unwrap(), "compat:v1"]);
    docker.ok(&["rmi", "compat:v1"]);
    let out = docker.ok(&["load", "-i", from_berth.to_str().unwrap()]);
    assert!(out.contains("compat:v1"), "{out}");
    let again = docker.ok(&["image", "inspect", "--format", "{{.Id}}", "compat:v1"]);
    assert_eq!(again.trim(), docker_id);
    docker.ok(&["rmi", "compat:v1"]);
    berth.ok(&["rmi", "compat:v1"]);
    berth.assert_empty();
}
