//! `berth-shim delete`: cleaning up after a shim that died. Whatever the
//! container left runs on unsupervised, so: stop a half-dead shim process,
//! let an external runtime forget the container, kill everything in the
//! container's cgroup and remove it, unmount the rootfs, remove the socket.
//! The exit status is the one the shim recorded, or 137 ("killed") when it
//! died before recording one.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::exit::{self, ExitRecord};
use super::{rootfs, Ident, RUNTIME_FILE};
use crate::cgroups::{Cgroup, CgroupError};
use crate::io::timestamp;
use crate::runtime::external::force_delete;

/// A cleanup step that failed (the others still ran).
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("cgroup: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("rootfs: {0}")]
    Rootfs(#[from] rootfs::RootfsError),
    #[error("cannot remove the socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Cleans up the bundle's container and returns its exit status, plus the
/// steps that failed.
pub fn delete_dead(ident: &Ident) -> (ExitRecord, Vec<CleanupError>) {
    let bundle = &ident.bundle;
    let mut errors = Vec::new();
    stop_shim(bundle);
    let spec = Spec::load(bundle.join("config.json")).ok();
    if let Some(rt) = read_runtime(bundle) {
        if let Err(e) = force_delete(&rt.0, &rt.1, &ident.id) {
            eprintln!("berth-shim delete: {} delete: {e}", rt.0);
        }
    }
    let cgroup = spec
        .as_ref()
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    if let Some(path) = cgroup {
        match Cgroup::load(&path) {
            Ok(cg) => {
                if let Err(e) = cg.kill_all().and_then(|()| cg.delete()) {
                    errors.push(e.into());
                }
            }
            Err(CgroupError::NotFound { .. }) => {}
            Err(e) => errors.push(e.into()),
        }
    }
    let root = spec
        .as_ref()
        .and_then(|s| s.root().as_ref())
        .map(|r| r.path().clone())
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    if let Err(e) = rootfs::unmount_all(&bundle.join(root)) {
        errors.push(e.into());
    }
    if let Some(path) = &ident.address {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                errors.push(CleanupError::Socket {
                    path: path.clone(),
                    source: e,
                });
            }
            _ => {}
        }
    }
    let record = exit::read(bundle).unwrap_or_else(|| ExitRecord {
        exit_code: 137,
        exited_at: timestamp::now(),
        oom_killed: false,
        pid: read_pid(&bundle.join("init.pid")).unwrap_or(0) as u32,
    });
    (record, errors)
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `(binary, root)` of the external runtime the shim used, if any.
fn read_runtime(bundle: &Path) -> Option<(String, PathBuf)> {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join(RUNTIME_FILE)).ok()?).ok()?;
    Some((
        v.get("binary")?.as_str()?.to_owned(),
        PathBuf::from(v.get("root")?.as_str()?),
    ))
}

/// A shim that is still there but does not answer (berthd runs `delete`
/// when it cannot dial it) is killed, so it cannot race the cleanup. Its
/// pid is only trusted if that process is `berth-shim serve` of this bundle.
fn stop_shim(bundle: &Path) {
    let Some(pid) = read_pid(&bundle.join("shim.pid")) else {
        return;
    };
    if pid <= 1 || pid == std::process::id() as i32 {
        return;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let bundle = bundle.as_os_str().as_encoded_bytes();
    if !(args.contains(&&b"serve"[..]) && args.contains(&bundle)) {
        return;
    }
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGKILL).is_ok() {
        // Its parent (init) reaps it; give the kernel a moment.
        for _ in 0..50 {
            if kill(pid, None).is_err() {
                break;
            }
            sleep(Duration::from_millis(10));
        }
    }
}
