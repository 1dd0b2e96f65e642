//! berthd start-up: reconnect to every container's shim. A container whose
//! record has a task is dialed at the address its bundle names: a live
//! shim whose process runs gets a new monitor; one whose process exited
//! while berthd was down has that exit recorded (the real exit code, from
//! the shim); a dead shim is cleaned up with `berth-shim delete` and its
//! exit recorded from the exit file, or as 137 with "shim died". Bundles
//! and sockets no record owns are removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::v1::Status as TaskStatus;
use tracing::{info, warn};

use super::record::{bundle_dir, ContainerRecord, Status, TaskRecord};
use super::task::{delete_dead_shim, read_exit_file, socket_path, ExitFile, Task};
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::Result;

/// The address a bundle's shim wrote, else the recorded one.
fn shim_address(t: &TaskRecord) -> PathBuf {
    fs::read_to_string(t.bundle.join("address"))
        .ok()
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| t.address.clone())
}

fn dir_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Containers {
    /// Reconnects to every live shim and records what happened while berthd
    /// was down. Run once at start-up, before serving.
    #[tracing::instrument(skip_all)]
    pub async fn recover_containers(&self) -> Result<()> {
        let mut owned_sockets = Vec::new();
        for ns in self.core().namespaces()? {
            let ns = ns.name;
            for rec in self.container_records(&ns)? {
                if rec.task.is_none() && !rec.state.running() {
                    continue;
                }
                if let Some(t) = &rec.task {
                    owned_sockets.push(t.address.clone());
                }
                self.recover_one(&ns, rec).await;
            }
        }
        self.remove_stale_tasks(&owned_sockets).await?;
        self.remove_interrupted_creates();
        Ok(())
    }

    /// A create interrupted by a crash leaves a mount of the rootfs under
    /// ROOT/tmp (reading the image's users) and a container directory
    /// without a record; the snapshot itself is unreferenced and garbage
    /// collection removes it.
    fn remove_interrupted_creates(&self) {
        let cfg = self.config();
        let tmp = cfg.root.join("tmp");
        for name in dir_names(&tmp) {
            if name.starts_with("userdb-") {
                let p = tmp.join(&name);
                let _ = berth_snapshotter::unmount(&p);
                if let Err(e) = fs::remove_dir(&p) {
                    warn!(path = %p.display(), error = %e, "cannot remove an interrupted create's mount point");
                }
            }
        }
        let containers = cfg.root.join("containers");
        for ns in dir_names(&containers) {
            for id in dir_names(&containers.join(&ns)) {
                if matches!(self.container_record(&ns, &id), Ok(None)) {
                    let p = containers.join(&ns).join(&id);
                    info!(path = %p.display(), "removing the directory of an interrupted create");
                    let _ = fs::remove_dir_all(&p);
                }
            }
        }
    }

    async fn recover_one(&self, ns: &str, rec: ContainerRecord) {
        let id = rec.id.clone();
        let Some(t) = rec.task.clone() else {
            // Recorded running without a task: nothing can be reached.
            let exit = ExitFile {
                exit_code: 137,
                ..Default::default()
            };
            self.finish_run(
                ns,
                &id,
                None,
                exit,
                "berthd lost the container's task".into(),
            )
            .await;
            return;
        };
        let address = shim_address(&t);
        let task = match Task::connect(&id, &t.bundle, &address).await {
            Ok(task) => Arc::new(task),
            Err(e) => {
                info!(namespace = ns, id = %id, error = %e, "shim is gone");
                let (exit, error) = self.reap_dead_shim(ns, &id, &t.bundle, &address).await;
                self.finish_run(ns, &id, None, exit, error).await;
                return;
            }
        };
        let state = match task.state().await {
            Ok(s) => s,
            Err(e) => {
                warn!(namespace = ns, id = %id, error = %e, "shim does not answer State");
                let _ = task.shutdown(true).await;
                let (exit, error) = self.reap_dead_shim(ns, &id, &t.bundle, &address).await;
                self.finish_run(ns, &id, None, exit, error).await;
                return;
            }
        };
        match state.status() {
            TaskStatus::Running | TaskStatus::Paused => {
                let paused = state.status() == TaskStatus::Paused;
                self.readopt_run(ns, &id, task, paused, state.pid);
            }
            TaskStatus::Stopped => {
                let exit = state
                    .exit
                    .map(ExitFile::from)
                    .or_else(|| read_exit_file(&t.bundle))
                    .unwrap_or(ExitFile {
                        exit_code: 137,
                        ..Default::default()
                    });
                info!(namespace = ns, id = %id, exit_code = exit.exit_code, "container exited while berthd was down");
                self.finish_run(ns, &id, Some(&task), exit, String::new())
                    .await;
            }
            TaskStatus::Created | TaskStatus::Unknown => self.abort_unstarted(ns, &id, &task).await,
        }
    }

    /// A run that goes on: its task is live again, with a monitor.
    fn readopt_run(&self, ns: &str, id: &str, task: Arc<Task>, paused: bool, pid: u32) {
        let handle = self.registry().handle(ns, id);
        handle.set_task(task.clone());
        // Nothing waits for this run: the attaches of the berthd that
        // started it are gone.
        let _ = handle.open_attaches(task.clone());
        let _ = self.update_container(ns, id, |r| {
            r.state.status = if paused {
                Status::Paused
            } else {
                Status::Running
            };
            r.state.pid = pid;
            Ok(())
        });
        info!(namespace = ns, id = %id, pid, "reconnected to running container");
        self.spawn_monitor(ns, id, task);
    }

    /// berthd died between create and start: the run never began.
    async fn abort_unstarted(&self, ns: &str, id: &str, task: &Task) {
        let _ = task.kill(9, true).await;
        let exit = tokio::time::timeout(Duration::from_secs(5), task.wait())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(ExitFile::from)
            .unwrap_or(ExitFile {
                exit_code: 137,
                ..Default::default()
            });
        self.finish_run(
            ns,
            id,
            Some(task),
            exit,
            "berthd restarted while the container was starting".into(),
        )
        .await;
    }

    /// Removes task bundles and shim sockets that no container record
    /// owns (their container is gone), cleaning up after their shims.
    async fn remove_stale_tasks(&self, owned_sockets: &[PathBuf]) -> Result<()> {
        let cfg = self.config();
        let tasks = cfg.state.join("tasks");
        for ns in dir_names(&tasks) {
            for id in dir_names(&tasks.join(&ns)) {
                let owned = self
                    .container_record(&ns, &id)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.task.is_some());
                if owned {
                    continue;
                }
                let bundle = bundle_dir(cfg, &ns, &id);
                let address = socket_path(&cfg.state, &ns, &id);
                warn!(namespace = %ns, id = %id, "removing a task no container owns");
                if let Ok(task) = Task::connect(&id, &bundle, &address).await {
                    let _ = task.kill(9, true).await;
                    let _ = task.shutdown(true).await;
                }
                if let Ok(shim) = cfg.shim_path() {
                    let _ = delete_dead_shim(&shim, &ns, &id, &bundle, &address).await;
                }
                let _ = fs::remove_file(&address);
                super::monitor::remove_bundle(&bundle);
            }
            let _ = fs::remove_dir(tasks.join(&ns));
        }
        let sockets = cfg.shim_socket_dir();
        for name in dir_names(&sockets) {
            let p = sockets.join(&name);
            if !owned_sockets.contains(&p) {
                let _ = fs::remove_file(&p);
            }
        }
        Ok(())
    }
}
