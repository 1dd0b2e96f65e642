//! `start`: write the bundle, start a shim, create the task with the
//! rootfs mounts and log settings, let it exec, record it running and hand
//! it to a monitor. A command that cannot be executed ends the run at once
//! with docker's 126/127 recorded in the container's state.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use berth_proto::shim::v1::{CreateTaskRequest, Mount as ShimMount};
use tracing::{info, warn};

use super::record::{bundle_dir, spec_path, ContainerRecord, Status, TaskRecord};
use super::registry::{Exit, Handle};
use super::stdio::ConsoleSize;
use super::task::{socket_path, start_shim, Task, TaskError};
use crate::container::endpoint::{Netns, Prepared};
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{IoContext, ManagerError, Result};

/// The container's cgroup: `/<cgroup_parent>/<ns>-<id>`.
pub fn cgroups_path(parent: &str, ns: &str, id: &str) -> String {
    format!("/{parent}/{ns}-{id}")
}

/// The stored spec with this start's cgroup path, network namespace and
/// link variables.
fn bundle_spec(stored: &[u8], cgroups: &str, net: &Prepared) -> Result<Vec<u8>> {
    let mut spec: serde_json::Value =
        serde_json::from_slice(stored).map_err(|source| ManagerError::Decode {
            what: "the stored OCI spec".into(),
            source,
        })?;
    let obj = spec
        .as_object_mut()
        .ok_or_else(|| ManagerError::Internal("the stored OCI spec is not an object".into()))?;
    if !net.env.is_empty() {
        if let Some(env) = obj
            .get_mut("process")
            .and_then(|p| p.as_object_mut())
            .map(|p| p.entry("env").or_insert_with(|| serde_json::json!([])))
            .and_then(|e| e.as_array_mut())
        {
            env.extend(net.env.iter().map(|v| serde_json::Value::from(v.as_str())));
        }
    }
    let linux = obj.entry("linux").or_insert_with(|| serde_json::json!({}));
    if let Some(l) = linux.as_object_mut() {
        l.insert("cgroupsPath".into(), cgroups.into());
        if let Some(nss) = l.get_mut("namespaces").and_then(|n| n.as_array_mut()) {
            match &net.netns {
                Netns::New => {}
                Netns::Host => nss.retain(|n| n["type"] != "network"),
                Netns::Path(p) => {
                    for n in nss.iter_mut().filter(|n| n["type"] == "network") {
                        n["path"] = p.as_str().into();
                    }
                }
            }
        }
    }
    serde_json::to_vec_pretty(&spec).map_err(|source| ManagerError::Encode {
        what: "the OCI spec".into(),
        source,
    })
}

/// Where a run's shim and bundle are, settled before the shim starts.
struct RunPlace {
    shim: PathBuf,
    bundle: PathBuf,
    address: PathBuf,
    /// The external runtime binary, empty for the built-in one.
    runtime: String,
}

impl Containers {
    /// Starts a created or stopped container.
    pub async fn start_container(&self, ns: &str, s: &str) -> Result<()> {
        self.start_container_sized(ns, s, ConsoleSize::default())
            .await
    }

    /// Starts a container; one with a tty gets a pty of `size`.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn start_container_sized(&self, ns: &str, s: &str, size: ConsoleSize) -> Result<()> {
        self.locked_op(ns, s, move |engine, ns, id, handle| async move {
            engine.start_locked(&ns, &id, &handle, size).await?;
            engine.publish_container(&ns, &id, crate::events::Action::Start);
            Ok(())
        })
        .await
    }

    /// Starts the container; the caller holds its op lock. Attaches waiting
    /// for this run are connected before its process runs.
    pub(crate) async fn start_locked(
        &self,
        ns: &str,
        id: &str,
        handle: &Arc<Handle>,
        size: ConsoleSize,
    ) -> Result<()> {
        self.startable(ns, id)?;
        // The shim's first cgroup move would wait ~11 ms for a grace period:
        // start it now, overlapping the shim's start-up (migration.rs).
        super::migration::begin_grace_period();
        // The previous run's monitor may still be cleaning up after it.
        handle.wait_task_gone().await;
        let rec = self.startable(ns, id)?;
        let place = self.prepare_run(ns, &rec).await?;
        let task = self.launch_task(ns, &rec, handle, &place, size).await?;
        handle.set_task(task.clone());
        self.connect_attaches(handle, &task).await;

        let pid = match task.start().await {
            Ok(pid) => pid,
            Err(e) => return Err(self.failed_start(ns, id, &task, e).await),
        };
        self.update_container(ns, id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.error = String::new();
            r.state.started_at = Some(crate::store::now());
            Ok(())
        })?;
        handle.started();
        info!(namespace = ns, id, pid, "started container");
        self.spawn_monitor(ns, id, task);
        Ok(())
    }

    /// The container's record, unless it runs already.
    fn startable(&self, ns: &str, id: &str) -> Result<ContainerRecord> {
        let rec = self
            .container_record(ns, id)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {id}")))?;
        if rec.state.running() {
            return Err(ManagerError::NotModified(format!(
                "container {} is already running",
                rec.name
            )));
        }
        Ok(rec)
    }

    /// Before the shim starts: the network's addresses, ports and files
    /// (given back on failure), the bundle with this run's spec, and the
    /// task recorded (so a berthd that dies from here on finds it at
    /// start-up and cleans it up).
    async fn prepare_run(&self, ns: &str, rec: &ContainerRecord) -> Result<RunPlace> {
        let id = rec.id.as_str();
        let cfg = self.config();
        let runtime = cfg
            .runtime_binary(&rec.host_config.runtime)?
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let place = RunPlace {
            shim: cfg.shim_path()?,
            bundle: bundle_dir(cfg, ns, id),
            address: socket_path(&cfg.state, ns, id),
            runtime,
        };
        let stored = fs::read(spec_path(cfg, ns, id))
            .ctx(|| format!("read the OCI spec of container {id}"))?;
        let cgroups = cgroups_path(&cfg.cgroup_parent()?, ns, id);
        self.mount_volumes(rec).await?;
        let net = self.network_prepare(ns, rec).await?;
        let spec = match bundle_spec(&stored, &cgroups, &net) {
            Ok(s) => s,
            Err(e) => {
                self.network_release(ns, id).await;
                return Err(e);
            }
        };
        let bundle = &place.bundle;
        super::monitor::remove_bundle(bundle);
        crate::layout::private_dir(bundle)?;
        fs::write(bundle.join("config.json"), spec)
            .ctx(|| format!("write {}/config.json", bundle.display()))?;
        if let Some(dir) = place.address.parent() {
            crate::layout::private_dir(dir)?;
        }
        let task_rec = TaskRecord {
            bundle: place.bundle.clone(),
            address: place.address.clone(),
            runtime: place.runtime.clone(),
        };
        self.update_container(ns, id, |r| {
            r.task = Some(task_rec);
            Ok(())
        })?;
        Ok(place)
    }

    /// Starts the shim, creates the task and connects its network; on a
    /// failure the run is torn down and the error recorded.
    async fn launch_task(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        handle: &Arc<Handle>,
        place: &RunPlace,
        size: ConsoleSize,
    ) -> Result<Arc<Task>> {
        let id = rec.id.as_str();
        let (e, task) = match self.create_task(ns, rec, place, size).await {
            Ok((t, pid)) => match self.network_attach(ns, id, pid).await {
                Ok(()) => return Ok(Arc::new(t)),
                Err(e) => (e, Some(t)),
            },
            Err(e) => (e, None),
        };
        match &task {
            Some(t) => {
                warn!(namespace = ns, id, error = %e, "cannot connect the container's network");
                let _ = t.kill(9, true).await;
            }
            None => warn!(namespace = ns, id, error = %e, "cannot create the task"),
        }
        self.teardown(ns, id, task.as_ref()).await;
        let msg = e.to_string();
        let _ = self.update_container(ns, id, |r| {
            r.state.error = msg;
            Ok(())
        });
        handle.task_gone();
        Err(e)
    }

    /// Starts the shim and creates the task (stopped before exec).
    async fn create_task(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        place: &RunPlace,
        size: ConsoleSize,
    ) -> Result<(Task, u32)> {
        let RunPlace {
            shim,
            bundle,
            address,
            ..
        } = place;
        let rootfs = {
            let engine = self.clone();
            let id = rec.id.clone();
            tokio::task::spawn_blocking(move || engine.snapshotter().mounts(&id))
                .await
                .map_err(ManagerError::Worker)??
        };
        start_shim(shim, ns, &rec.id, bundle, address).await?;
        let task = match Task::connect(&rec.id, bundle, address).await {
            Ok(t) => t,
            Err(e) => {
                // The shim started but does not answer: clean up after it.
                let _ = super::task::delete_dead_shim(shim, ns, &rec.id, bundle, address).await;
                return Err(e.into());
            }
        };
        let mounts = rootfs
            .into_iter()
            .map(|m| ShimMount {
                r#type: m.fstype,
                source: m.source,
                options: m.options,
            })
            .collect();
        match task
            .create(self.create_request(ns, rec, place, mounts, size))
            .await
        {
            Ok(resp) => {
                for w in resp.warnings {
                    warn!(namespace = ns, id = %rec.id, "{w}");
                }
                Ok((task, resp.pid))
            }
            Err(e) => {
                let _ = task.shutdown(true).await;
                let _ = super::task::delete_dead_shim(shim, ns, &rec.id, bundle, address).await;
                Err(e.into())
            }
        }
    }

    /// The shim's Create request: the bundle and rootfs, the runtime, the
    /// log's limits (the container's, else the daemon's), the stdio.
    fn create_request(
        &self,
        ns: &str,
        rec: &ContainerRecord,
        place: &RunPlace,
        rootfs: Vec<ShimMount>,
        size: ConsoleSize,
    ) -> CreateTaskRequest {
        let cfg = self.config();
        let hc = &rec.host_config;
        let runtime = &place.runtime;
        CreateTaskRequest {
            id: rec.id.clone(),
            bundle: place.bundle.display().to_string(),
            rootfs,
            runtime: runtime.to_string(),
            runtime_root: if runtime.is_empty() {
                String::new()
            } else {
                cfg.state.join("runtime").join(ns).display().to_string()
            },
            log_path: rec.log_path.display().to_string(),
            width: if rec.config.tty { size.width } else { 0 },
            height: if rec.config.tty { size.height } else { 0 },
            log_max_size: if hc.log_max_size > 0 {
                hc.log_max_size
            } else {
                cfg.log_max_size
            },
            log_max_files: if hc.log_max_files > 0 {
                hc.log_max_files
            } else {
                cfg.log_max_files
            },
            terminal: rec.config.tty,
            stdin: rec.config.open_stdin,
            cache_dir: cfg.state.join("cache").display().to_string(),
        }
    }

    /// A start that failed after the task was created: the run ends here.
    /// An exec failure is recorded as docker does (exit 126/127 and the
    /// message) and returned as [`ManagerError::StartFailed`].
    async fn failed_start(&self, ns: &str, id: &str, task: &Task, e: TaskError) -> ManagerError {
        let (code, message, err) = match e {
            TaskError::Exec { code, message } => (
                code,
                message.clone(),
                ManagerError::StartFailed {
                    message,
                    exit_code: code,
                },
            ),
            other => (128, other.to_string(), other.into()),
        };
        warn!(namespace = ns, id, code, error = %message, "start failed");
        self.registry().handle(ns, id).close_attaches();
        let _ = task.kill(9, true).await;
        self.teardown(ns, id, Some(task)).await;
        let _ = self.update_container(ns, id, |r| {
            r.state.exit_code = code;
            r.state.error = message.clone();
            r.state.pid = 0;
            if r.state.started_at.is_some() {
                r.state.status = Status::Exited;
                r.state.finished_at = Some(crate::store::now());
            }
            Ok(())
        });
        self.end_run(
            ns,
            id,
            Exit {
                code,
                oom_killed: false,
                error: message,
            },
        );
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_spec_gets_the_cgroup() {
        assert_eq!(
            cgroups_path("berth", "default", "abc"),
            "/berth/default-abc"
        );
        let new = Prepared {
            netns: Netns::New,
            env: Vec::new(),
        };
        let s = bundle_spec(
            br#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":""}}"#,
            "/b/x",
            &new,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["linux"]["cgroupsPath"], "/b/x");
        assert_eq!(v["ociVersion"], "1.0.2");
        let s = bundle_spec(br#"{}"#, "/b/y", &new).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["linux"]["cgroupsPath"], "/b/y");
        assert!(bundle_spec(b"[]", "/x", &new).is_err());
        let spec = br#"{"process":{"env":["A=1"]},"linux":{"namespaces":[{"type":"pid"},{"type":"network"}]}}"#;
        let host = Prepared {
            netns: Netns::Host,
            env: vec!["DB_PORT=tcp://10.0.0.2:5432".into()],
        };
        let v: serde_json::Value =
            serde_json::from_slice(&bundle_spec(spec, "/c", &host).unwrap()).unwrap();
        assert_eq!(
            v["linux"]["namespaces"],
            serde_json::json!([{"type":"pid"}])
        );
        assert_eq!(
            v["process"]["env"],
            serde_json::json!(["A=1", "DB_PORT=tcp://10.0.0.2:5432"])
        );
        let join = Prepared {
            netns: Netns::Path("/proc/7/ns/net".into()),
            env: Vec::new(),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&bundle_spec(spec, "/c", &join).unwrap()).unwrap();
        assert_eq!(v["linux"]["namespaces"][1]["path"], "/proc/7/ns/net");
    }
}
