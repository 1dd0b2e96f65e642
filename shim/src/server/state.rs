//! The task's state machine, owned by one actor on the shim's thread:
//! created → running (⇄ paused) → exited (reaped, log drained, exit file
//! written) → deleted. Every Task API call and every reaped exit is a job
//! run against [`State`] in turn, so runtime calls never interleave and the
//! runtime (which need not be `Send`) never leaves the thread.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_proto::shim::v1::{
    CreateTaskRequest, CreateTaskResponse, PidsResponse, StateResponse, StatsResponse,
    Status as TaskStatus,
};
use oci_spec::runtime::Spec;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::ServerError;
use super::exit::{self, ExitRecord};
use super::{rootfs, Ident};
use crate::cgroups::{Cgroup, CgroupError};
use crate::io::{self, jsonlog::LogFile, Copiers};
use crate::runtime::{self, CreateOptions, Runtime};

/// How long the exit waits for the container's stdout/stderr to reach
/// end-of-file (processes it left behind may hold them open).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Where an external runtime's name and root are recorded, for
/// `berth-shim delete` after a crash.
pub const RUNTIME_FILE: &str = "runtime.json";

type Job = Box<dyn FnOnce(&mut State) + Send>;

/// A handle to the actor: posts jobs and awaits their results.
#[derive(Clone)]
pub struct Jobs(mpsc::UnboundedSender<Job>);

impl Jobs {
    pub fn new() -> (Jobs, mpsc::UnboundedReceiver<Job>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Jobs(tx), rx)
    }

    /// Runs `f` on the state later, without waiting.
    pub fn post(&self, f: impl FnOnce(&mut State) + Send + 'static) {
        let _ = self.0.send(Box::new(f));
    }

    /// Runs `f` on the state and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> R + Send + 'static,
    ) -> Result<R, tonic::Status> {
        let (tx, rx) = oneshot::channel();
        self.post(move |s| {
            let _ = tx.send(f(s));
        });
        rx.await
            .map_err(|_| tonic::Status::internal("the shim's task actor stopped"))
    }
}

/// Runs jobs until every handle is gone.
pub async fn run(mut state: State, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        job(&mut state);
    }
}

/// What Delete does next.
pub enum DeleteStep {
    Done(ExitRecord),
    /// The process was killed or is still being finalized: wait for the exit, then call again.
    WaitExit(watch::Receiver<Option<ExitRecord>>),
}

/// The shim's state: at most one task (the container's init).
pub struct State {
    ident: Ident,
    jobs: Jobs,
    task: Option<Task>,
    exit_tx: watch::Sender<Option<ExitRecord>>,
}

struct Task {
    bundle: PathBuf,
    runtime: Box<dyn Runtime>,
    pid: i32,
    status: TaskStatus,
    /// waitpid returned for the init (its exit may still be being finalized).
    reaped: bool,
    exit: Option<ExitRecord>,
    /// The cgroup path from config.json.
    cgroup: Option<String>,
    /// Where the shim mounted the rootfs, until Delete unmounts it.
    rootfs: Option<PathBuf>,
    stdin: Option<OwnedFd>,
    copiers: Option<Copiers>,
    deleted: bool,
}

impl State {
    pub fn new(ident: Ident, jobs: Jobs) -> State {
        State {
            ident,
            jobs,
            task: None,
            exit_tx: watch::channel(None).0,
        }
    }

    /// The task, when `id` names it and `exec_id` is empty (execs do not exist yet).
    fn task(&mut self, id: &str, exec_id: &str) -> Result<&mut Task, ServerError> {
        if !exec_id.is_empty() {
            return Err(ServerError::NotFound(format!("exec {exec_id}")));
        }
        if !id.is_empty() && id != self.ident.id {
            return Err(ServerError::NotFound(format!("task {id}")));
        }
        let ident = &self.ident.id;
        self.task
            .as_mut()
            .ok_or_else(|| ServerError::NotFound(format!("task {ident}")))
    }

    pub fn create(&mut self, req: CreateTaskRequest) -> Result<CreateTaskResponse, ServerError> {
        if req.id != self.ident.id {
            return Err(ServerError::Invalid(format!(
                "this shim serves task {}, not {}",
                self.ident.id, req.id
            )));
        }
        if self.task.is_some() {
            return Err(ServerError::AlreadyExists(req.id));
        }
        if req.terminal {
            return Err(ServerError::Unsupported(
                "terminals are not supported yet".into(),
            ));
        }
        if req.log_path.is_empty() {
            return Err(ServerError::Invalid("no log file given".into()));
        }
        let bundle = if req.bundle.is_empty() {
            self.ident.bundle.clone()
        } else {
            PathBuf::from(&req.bundle)
        };
        let config = bundle.join("config.json");
        let spec = Spec::load(&config).map_err(|e| ServerError::Spec {
            path: config.clone(),
            message: e.to_string(),
        })?;
        let cgroup = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| PathBuf::from("rootfs"));
        let rootfs_dir = bundle.join(root);
        let mounted = !req.rootfs.is_empty();
        if mounted {
            rootfs::mount_all(&req.rootfs, &rootfs_dir)?;
        }
        let result = self.create_process(&req, &bundle, &spec);
        let (runtime, pid, warnings, stdin, copiers) = match result {
            Ok(v) => v,
            Err(e) => {
                if mounted {
                    if let Err(u) = rootfs::unmount_all(&rootfs_dir) {
                        eprintln!("berth-shim: after a failed create: {u}");
                    }
                }
                return Err(e);
            }
        };
        self.task = Some(Task {
            bundle,
            runtime,
            pid,
            status: TaskStatus::Created,
            reaped: false,
            exit: None,
            cgroup,
            rootfs: mounted.then_some(rootfs_dir),
            stdin,
            copiers: Some(copiers),
            deleted: false,
        });
        Ok(CreateTaskResponse {
            pid: pid as u32,
            warnings,
        })
    }

    /// Log, pipes, runtime create, init.pid, copiers.
    #[allow(clippy::type_complexity)]
    fn create_process(
        &self,
        req: &CreateTaskRequest,
        bundle: &Path,
        spec: &Spec,
    ) -> Result<(Box<dyn Runtime>, i32, Vec<String>, Option<OwnedFd>, Copiers), ServerError> {
        let log = LogFile::open(
            Path::new(&req.log_path),
            req.log_max_size,
            req.log_max_files,
        )?;
        let pipes = io::pipes(req.stdin)?;
        let mut runtime = if req.runtime.is_empty() {
            runtime::builtin()
        } else {
            let root = if req.runtime_root.is_empty() {
                bundle.join("runtime-root")
            } else {
                PathBuf::from(&req.runtime_root)
            };
            record_runtime(bundle, &req.runtime, &root)?;
            runtime::external(&req.runtime, &root)
        };
        let created = runtime.create(CreateOptions {
            id: &req.id,
            bundle,
            spec,
            stdio: pipes.stdio,
            cache_dir: (!req.cache_dir.is_empty()).then(|| Path::new(&req.cache_dir)),
        })?;
        runtime::sys::release_free_memory();
        let pid_file = bundle.join("init.pid");
        let started = std::fs::write(&pid_file, created.pid.to_string())
            .map_err(|source| ServerError::Bundle {
                path: pid_file,
                source,
            })
            .and_then(|()| Ok(io::copy_to_log(pipes.stdout, pipes.stderr, log)?));
        match started {
            Ok(copiers) => Ok((runtime, created.pid, created.warnings, pipes.stdin, copiers)),
            Err(e) => {
                let _ = runtime.kill(libc::SIGKILL, true);
                let _ = runtime.delete();
                Err(e)
            }
        }
    }

    pub fn start(&mut self, id: &str, exec_id: &str) -> Result<u32, ServerError> {
        let t = self.task(id, exec_id)?;
        if t.status != TaskStatus::Created || t.reaped {
            return Err(ServerError::State(format!(
                "task is {}, not created",
                t.status_name()
            )));
        }
        t.runtime.start()?;
        t.status = TaskStatus::Running;
        Ok(t.pid as u32)
    }

    pub fn state(&mut self, id: &str, exec_id: &str) -> Result<StateResponse, ServerError> {
        let t = self.task(id, exec_id)?;
        Ok(StateResponse {
            id: id.to_owned(),
            exec_id: String::new(),
            pid: t.pid as u32,
            status: t.status as i32,
            exit: t.exit.as_ref().map(ExitRecord::to_proto),
            bundle: t.bundle.to_string_lossy().into_owned(),
        })
    }

    pub fn kill(
        &mut self,
        id: &str,
        exec_id: &str,
        signal: u32,
        all: bool,
    ) -> Result<(), ServerError> {
        let t = self.task(id, exec_id)?;
        let signal = i32::try_from(signal)
            .ok()
            .filter(|s| (1..=64).contains(s))
            .ok_or_else(|| ServerError::Invalid(format!("invalid signal {signal}")))?;
        if t.deleted || t.reaped {
            if all {
                // Whatever the init left behind in its cgroup still gets it.
                if let Some(cg) = t.cgroup.as_deref().and_then(|p| Cgroup::load(p).ok()) {
                    for pid in cg.pids().unwrap_or_default() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::try_from(signal).ok(),
                        );
                    }
                }
                return Ok(());
            }
            return Err(ServerError::NotFound("process already finished".into()));
        }
        t.runtime.kill(signal, all)?;
        Ok(())
    }

    pub fn wait(
        &mut self,
        id: &str,
        exec_id: &str,
    ) -> Result<watch::Receiver<Option<ExitRecord>>, ServerError> {
        self.task(id, exec_id)?;
        Ok(self.exit_tx.subscribe())
    }

    pub fn delete(&mut self, id: &str, exec_id: &str) -> Result<DeleteStep, ServerError> {
        let rx = self.exit_tx.subscribe();
        let t = self.task(id, exec_id)?;
        if let (true, Some(exit)) = (t.deleted, &t.exit) {
            return Ok(DeleteStep::Done(exit.clone()));
        }
        let Some(exit) = t.exit.clone() else {
            if t.reaped {
                return Ok(DeleteStep::WaitExit(rx));
            }
            if t.status == TaskStatus::Created {
                // Never started: it goes, as containerd deletes a created task.
                t.runtime.kill(libc::SIGKILL, true)?;
                return Ok(DeleteStep::WaitExit(rx));
            }
            return Err(ServerError::State(format!(
                "task is {}: kill it before deleting it",
                t.status_name()
            )));
        };
        t.runtime.delete()?;
        if let Some(path) = &t.cgroup {
            match Cgroup::load(path) {
                Ok(cg) => {
                    cg.kill_all()?;
                    cg.delete()?;
                }
                Err(CgroupError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(dir) = &t.rootfs {
            rootfs::unmount_all(dir)?;
        }
        t.rootfs = None;
        t.stdin = None;
        t.deleted = true;
        Ok(DeleteStep::Done(exit))
    }

    pub fn pids(&mut self, id: &str) -> Result<PidsResponse, ServerError> {
        let t = self.task(id, "")?;
        let pids = match (&t.cgroup, t.deleted) {
            (Some(path), false) => match Cgroup::load(path) {
                Ok(cg) => cg.pids()?,
                Err(CgroupError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            },
            (None, false) if !t.reaped => vec![t.pid],
            _ => Vec::new(),
        };
        Ok(PidsResponse {
            pids: pids.into_iter().map(|p| p as u32).collect(),
        })
    }

    pub fn stats(&mut self, id: &str) -> Result<StatsResponse, ServerError> {
        let cg = self.cgroup(id)?;
        let s = cg.stats()?;
        Ok(StatsResponse {
            memory_usage: s.memory_usage,
            memory_limit: s.memory_limit.unwrap_or(0),
            cpu_usage_ns: s.cpu_usage_ns,
            pids_current: s.pids_current,
        })
    }

    fn cgroup(&mut self, id: &str) -> Result<Cgroup, ServerError> {
        let t = self.task(id, "")?;
        if t.deleted {
            return Err(ServerError::State("task is deleted".into()));
        }
        let path = t
            .cgroup
            .as_deref()
            .ok_or_else(|| ServerError::State("the task has no cgroup".into()))?;
        Ok(Cgroup::load(path)?)
    }

    pub fn pause(&mut self, id: &str) -> Result<(), ServerError> {
        let cg = self.cgroup(id)?;
        let t = self.task(id, "")?;
        if t.status != TaskStatus::Running || t.reaped {
            return Err(ServerError::State(format!(
                "task is {}, not running",
                t.status_name()
            )));
        }
        cg.freeze()?;
        t.status = TaskStatus::Paused;
        Ok(())
    }

    pub fn resume(&mut self, id: &str) -> Result<(), ServerError> {
        let cg = self.cgroup(id)?;
        let t = self.task(id, "")?;
        if t.status != TaskStatus::Paused {
            return Err(ServerError::State(format!(
                "task is {}, not paused",
                t.status_name()
            )));
        }
        cg.thaw()?;
        t.status = TaskStatus::Running;
        Ok(())
    }

    pub fn close_io(&mut self, id: &str, exec_id: &str) -> Result<(), ServerError> {
        self.task(id, exec_id)?.stdin = None;
        Ok(())
    }

    /// (shim pid, task pid).
    pub fn info(&self) -> (u32, u32) {
        let task_pid = self.task.as_ref().map_or(0, |t| t.pid as u32);
        (std::process::id(), task_pid)
    }

    /// Checks that the shim may exit and removes its socket (existing
    /// connections stay up for the reply).
    pub fn shutdown(&mut self, now: bool) -> Result<(), ServerError> {
        if let Some(t) = &self.task {
            if !t.deleted && !now {
                return Err(ServerError::State(
                    "the task has not been deleted (use now to exit anyway)".into(),
                ));
            }
        }
        if let Some(a) = &self.ident.address {
            if let Err(e) = std::fs::remove_file(a) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("berth-shim: cannot remove {}: {e}", a.display());
                }
            }
        }
        Ok(())
    }

    /// A process the shim waited for. For the init: drain its output,
    /// read the OOM counter, then finish the exit (see [`State::finished`]).
    pub fn reaped(&mut self, pid: i32, code: i32) {
        let Some(t) = self.task.as_mut() else { return };
        if t.pid != pid || t.reaped {
            return;
        }
        t.reaped = true;
        let exited_at = io::timestamp::now();
        let copiers = t.copiers.take();
        let cgroup = t.cgroup.clone();
        let jobs = self.jobs.clone();
        tokio::task::spawn_local(async move {
            if let Some(c) = copiers {
                if !c.drain(DRAIN_TIMEOUT).await {
                    eprintln!("berth-shim: the container's output is still open after it exited; reporting the exit anyway");
                }
            }
            let oom_killed = cgroup
                .and_then(|p| Cgroup::load(&p).ok())
                .and_then(|cg| cg.oom_killed().ok())
                .unwrap_or(false);
            let rec = ExitRecord {
                exit_code: code,
                exited_at,
                oom_killed,
                pid: pid as u32,
            };
            jobs.post(move |s| s.finished(rec));
        });
    }

    /// The exit file first, then every Wait.
    fn finished(&mut self, rec: ExitRecord) {
        let Some(t) = self.task.as_mut() else { return };
        if let Err(e) = exit::write(&t.bundle, &rec) {
            eprintln!(
                "berth-shim: cannot write the exit file in {}: {e}",
                t.bundle.display()
            );
        }
        t.exit = Some(rec.clone());
        t.status = TaskStatus::Stopped;
        self.exit_tx.send_replace(Some(rec));
    }
}

impl Task {
    fn status_name(&self) -> &'static str {
        match self.status {
            TaskStatus::Created => "created",
            TaskStatus::Running => "running",
            TaskStatus::Paused => "paused",
            TaskStatus::Stopped => "stopped",
            TaskStatus::Unknown => "unknown",
        }
    }
}

/// `bundle/runtime.json`: `{"binary":...,"root":...}`.
fn record_runtime(bundle: &Path, binary: &str, root: &Path) -> Result<(), ServerError> {
    let path = bundle.join(RUNTIME_FILE);
    let json = serde_json::json!({ "binary": binary, "root": root });
    std::fs::write(&path, json.to_string()).map_err(|source| ServerError::Bundle { path, source })
}
