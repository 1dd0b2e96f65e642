//! The end of a run. One tokio task per running container awaits the
//! shim's Wait; on exit it records the state (exit code, OOMKilled,
//! FinishedAt), deletes the task and shuts the shim down, removes the
//! bundle, wakes waiters, and removes the container if it was started with
//! `--rm`. A shim that stops answering is treated as dead: `berth-shim
//! delete` cleans up after it and the exit is taken from its exit file, or
//! recorded as 137 with the error "shim died".

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::v1::ExitStatus;
use tracing::{debug, info, warn};

use super::record::Status;
use super::registry::Exit;
use super::task::{delete_dead_shim, read_exit_file, ExitFile, Task, TaskError};
use crate::container::Containers;
use crate::core::OnCore;
use crate::mountinfo::mounts_under;

/// How often a Wait that lost its connection is retried before the shim is
/// declared dead.
const WAIT_RETRIES: u32 = 3;

/// Removes a bundle directory without ever recursing into a rootfs that is
/// still mounted (that would delete the container's files): mounts under
/// it are detached first, and if one stays the bundle is left in place.
pub fn remove_bundle(bundle: &Path) {
    if !bundle.exists() {
        return;
    }
    let mut left = mounts_under(bundle);
    // Deepest first.
    left.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &left {
        if let Err(e) = berth_snapshotter::unmount(Path::new(m)) {
            warn!(mount = %m, error = %e, "cannot unmount what a task left");
        }
    }
    let still = mounts_under(bundle);
    if !still.is_empty() {
        warn!(bundle = %bundle.display(), mounts = ?still, "bundle still has mounts: left in place");
        return;
    }
    match fs::remove_dir_all(bundle) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!(bundle = %bundle.display(), error = %e, "cannot remove bundle"),
    }
}

fn remove_file_quiet(p: &Path) {
    match fs::remove_file(p) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %p.display(), error = %e, "cannot remove"),
    }
}

impl Containers {
    /// Hands a started task to its monitor.
    pub(crate) fn spawn_monitor(&self, ns: &str, id: &str, task: Arc<Task>) {
        let engine = self.clone();
        let ns = ns.to_string();
        let id = id.to_string();
        tokio::spawn(async move {
            let (exit, error, live) = match engine.wait_exit(&task).await {
                Ok(st) => (ExitFile::from(st), String::new(), Some(&*task)),
                Err(e) => {
                    warn!(namespace = %ns, id = %id, error = %e, "lost the shim");
                    let _ = task.shutdown(true).await;
                    let (exit, error) = engine
                        .reap_dead_shim(&ns, &id, &task.bundle, &task.address)
                        .await;
                    (exit, error, None)
                }
            };
            engine.finish_run(&ns, &id, live, exit, error).await;
        });
    }

    /// The shim's Wait, retried over fresh connections when the connection
    /// drops; an error when the shim is gone.
    async fn wait_exit(&self, task: &Task) -> Result<ExitStatus, TaskError> {
        let mut failures = 0;
        let mut fresh: Option<Task> = None;
        loop {
            let t = fresh.as_ref().unwrap_or(task);
            match t.wait().await {
                Ok(st) => return Ok(st),
                Err(e) if failures < WAIT_RETRIES => {
                    debug!(id = %task.id, error = %e, "wait failed; reconnecting");
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(100 << failures)).await;
                    if let Ok(t) = Task::connect(&task.id, &task.bundle, &task.address).await {
                        fresh = Some(t);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Cleans up after a shim that is gone and says how the run ended: the
    /// exit file if the shim wrote one, else 137 and "shim died".
    pub(crate) async fn reap_dead_shim(
        &self,
        ns: &str,
        id: &str,
        bundle: &Path,
        address: &Path,
    ) -> (ExitFile, String) {
        let recorded = read_exit_file(bundle);
        let deleted = match self.config().shim_path() {
            Ok(shim) => delete_dead_shim(&shim, ns, id, bundle, address).await,
            Err(e) => Err(TaskError::Delete(e.to_string())),
        };
        match (recorded, deleted) {
            (Some(e), _) => (e, String::new()),
            (None, Ok(e)) => (e, "shim died".to_string()),
            (None, Err(err)) => {
                warn!(namespace = ns, id, error = %err, "cannot clean up after a dead shim");
                (
                    ExitFile {
                        exit_code: 137,
                        exited_at: crate::store::now(),
                        ..Default::default()
                    },
                    format!("shim died ({err})"),
                )
            }
        }
    }

    /// Deletes the task and shuts its shim down (when it answers), removes
    /// the socket and the bundle, and clears the record's task.
    pub(crate) async fn teardown(&self, ns: &str, id: &str, task: Option<&Task>) {
        let cfg = self.config();
        let bundle = super::record::bundle_dir(cfg, ns, id);
        let address = super::task::socket_path(&cfg.state, ns, id);
        if let Some(t) = task {
            let deleted = t.delete().await;
            if t.shutdown(false).await.is_err() {
                let _ = t.shutdown(true).await;
            }
            if let Err(e) = deleted {
                // Whatever the shim left (processes in the cgroup, the
                // rootfs mount) is cleaned up as after a dead shim.
                if !e.is_unreachable() {
                    warn!(namespace = ns, id, error = %e, "cannot delete the task");
                }
                if let Ok(shim) = cfg.shim_path() {
                    let _ = super::task::delete_dead_shim(&shim, ns, id, &bundle, &address).await;
                }
            }
        }
        remove_file_quiet(&address);
        remove_bundle(&bundle);
        self.network_release(ns, id).await;
        self.release_volumes(ns, id).await;
        let _ = self.update_container(ns, id, |r| {
            r.task = None;
            Ok(())
        });
    }

    /// Records how a run ended, cleans up its task, wakes waiters, and
    /// removes an auto-remove container.
    pub(crate) async fn finish_run(
        &self,
        ns: &str,
        id: &str,
        task: Option<&Task>,
        exit: ExitFile,
        error: String,
    ) {
        // New attaches wait for the next run.
        self.registry().handle(ns, id).close_attaches();
        let finished = if exit.exited_at.is_empty() {
            crate::store::now()
        } else {
            exit.exited_at.clone()
        };
        let recorded = self.update_container(ns, id, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = exit.exit_code;
            r.state.oom_killed = exit.oom_killed;
            r.state.error = error.clone();
            r.state.finished_at = Some(finished.clone());
            Ok(())
        });
        if let Err(e) = recorded {
            warn!(namespace = ns, id, error = %e, "cannot record the exit");
        }
        self.publish_container(
            ns,
            id,
            crate::events::Action::Die {
                exit_code: exit.exit_code,
            },
        );
        info!(
            namespace = ns,
            id,
            exit_code = exit.exit_code,
            oom_killed = exit.oom_killed,
            "container exited"
        );
        self.teardown(ns, id, task).await;
        self.end_run(
            ns,
            id,
            Exit {
                code: exit.exit_code,
                oom_killed: exit.oom_killed,
                error,
            },
        );
    }

    /// Publishes the end of a run (its task is gone) and, for a `--rm`
    /// container, removes it before the run counts as ended, so attach
    /// and wait return with the container gone (docker's CLI waits for
    /// that; ours need not).
    pub(crate) fn end_run(&self, ns: &str, id: &str, exit: Exit) {
        let handle = self.registry().handle(ns, id);
        let auto = self
            .container_record(ns, id)
            .ok()
            .flatten()
            .is_some_and(|r| r.host_config.auto_remove);
        handle.exited(exit, !auto);
        if !auto {
            return;
        }
        let engine = self.clone();
        let ns = ns.to_string();
        let id = id.to_string();
        tokio::spawn(async move {
            {
                // Unless it runs again by then (or is removed already).
                let _op = handle.op.lock().await;
                match engine.container_record(&ns, &id) {
                    Ok(Some(r)) if !r.state.running() && handle.task().is_none() => {
                        if let Err(e) = engine.remove_locked(&ns, &id, &handle, false, true).await {
                            warn!(namespace = %ns, id = %id, error = %e, "cannot auto-remove");
                        }
                    }
                    _ => {}
                }
            }
            handle.settled();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::unescape_mountinfo;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/a\\134b"), "/a\\b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/x\\04"), "/x\\04");
    }

    #[test]
    fn bundles_without_mounts_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path().join("bundle");
        fs::create_dir_all(b.join("rootfs")).unwrap();
        fs::write(b.join("config.json"), "{}").unwrap();
        assert!(mounts_under(&b).is_empty());
        remove_bundle(&b);
        assert!(!b.exists());
        remove_bundle(&b);
    }
}
