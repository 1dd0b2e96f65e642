//! The task's state machine, owned by one actor on the shim's thread:
//! created → running (⇄ paused) → exited (reaped, output drained, exit file
//! written) → deleted; its execs (`exec.rs`) go registered → running →
//! exited → deleted. Every Task API call and every reaped exit is a job run
//! against [`State`] in turn, so runtime calls never interleave and the
//! runtime (which need not be `Send`) never leaves the thread.
//!
//! The reaper's exits are dispatched by pid: the init's exit kills the
//! execs still running (SIGKILL: they are reported as 137) and is reported
//! once their exits are in, or after [`DRAIN_TIMEOUT`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_proto::shim::v1::{
    CreateTaskRequest, CreateTaskResponse, PidsResponse, StateResponse, StatsResponse,
    Status as TaskStatus,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use tokio::sync::{mpsc, oneshot, watch};

use super::error::ServerError;
use super::exit::{self, ExitRecord};
use super::{rootfs, Ident};
use crate::cgroups::{Cgroup, CgroupError};
use crate::io::{jsonlog::LogFile, Copiers, ProcessIo};
use crate::runtime::{self, ConsoleSize, CreateOptions, Runtime};

/// How long an exit waits for the process's stdout/stderr to reach
/// end-of-file (processes it left behind may hold them open), and the
/// init's exit for its killed execs.
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

/// The shim's state: at most one task (the container's init) and its execs.
pub struct State {
    pub(super) ident: Ident,
    pub(super) jobs: Jobs,
    pub(super) task: Option<Task>,
}

/// An exec, as the task keeps it (its operations are in exec.rs).
pub struct Exec {
    pub proc: Proc,
    /// What it runs.
    pub(super) process: oci_spec::runtime::Process,
    /// The pty size it starts with (ResizePty before Start changes it).
    pub(super) size: ConsoleSize,
}

/// A process the shim owns: the init or an exec.
pub(super) struct Proc {
    /// 0 until it exists (an exec before Start).
    pub pid: i32,
    pub status: TaskStatus,
    /// waitpid returned for it (its exit may still be being finalized).
    pub reaped: bool,
    pub exit: Option<ExitRecord>,
    pub exit_tx: watch::Sender<Option<ExitRecord>>,
    pub io: ProcessIo,
}

impl Proc {
    pub fn new(io: ProcessIo) -> Proc {
        Proc {
            pid: 0,
            status: TaskStatus::Created,
            reaped: false,
            exit: None,
            exit_tx: watch::channel(None).0,
            io,
        }
    }

    /// Started and not yet reaped.
    pub fn is_running(&self) -> bool {
        matches!(self.status, TaskStatus::Running | TaskStatus::Paused) && !self.reaped
    }

    pub fn status_name(&self) -> &'static str {
        match self.status {
            TaskStatus::Created => "created",
            TaskStatus::Running => "running",
            TaskStatus::Paused => "paused",
            TaskStatus::Stopped => "stopped",
            TaskStatus::Unknown => "unknown",
        }
    }

    /// The exit is final: recorded, and every Wait wakes.
    pub fn finish(&mut self, rec: ExitRecord) {
        self.exit = Some(rec.clone());
        self.status = TaskStatus::Stopped;
        self.exit_tx.send_replace(Some(rec));
    }

    /// Sets the pty size (ResizePty).
    pub fn resize(&mut self, size: ConsoleSize) -> Result<(), ServerError> {
        if !self.io.is_terminal() || !self.io.resize(size)? {
            return Err(ServerError::State("the process has no terminal".into()));
        }
        Ok(())
    }
}

pub(super) struct Task {
    pub bundle: PathBuf,
    pub runtime: Box<dyn Runtime>,
    pub init: Proc,
    /// The cgroup path from config.json.
    cgroup: Option<String>,
    /// Where the shim mounted the rootfs, until Delete unmounts it.
    rootfs: Option<PathBuf>,
    deleted: bool,
    pub execs: HashMap<String, Exec>,
}

impl Task {
    /// Execs need a running (not paused, not exited) init.
    pub fn require_running(&self, id: &str) -> Result<(), ServerError> {
        if self.init.status == TaskStatus::Paused {
            return Err(ServerError::State(format!("container {id} is paused")));
        }
        if self.init.status != TaskStatus::Running || self.init.reaped || self.deleted {
            return Err(ServerError::State(format!("container {id} is not running")));
        }
        Ok(())
    }
}

impl State {
    pub fn new(ident: Ident, jobs: Jobs) -> State {
        State {
            ident,
            jobs,
            task: None,
        }
    }

    /// The task, when `id` names it.
    pub(super) fn task(&mut self, id: &str) -> Result<&mut Task, ServerError> {
        if !id.is_empty() && id != self.ident.id {
            return Err(ServerError::NotFound(format!("task {id}")));
        }
        let ident = &self.ident.id;
        self.task
            .as_mut()
            .ok_or_else(|| ServerError::NotFound(format!("task {ident}")))
    }

    /// The init (`exec_id` empty) or an exec.
    pub(super) fn process(&mut self, id: &str, exec_id: &str) -> Result<&mut Proc, ServerError> {
        let t = self.task(id)?;
        if exec_id.is_empty() {
            return Ok(&mut t.init);
        }
        t.execs
            .get_mut(exec_id)
            .map(|e| &mut e.proc)
            .ok_or_else(|| ServerError::NotFound(format!("exec {exec_id}")))
    }

    pub fn create(&mut self, req: CreateTaskRequest) -> Result<CreateTaskResponse, ServerError> {
        if req.id != self.ident.id {
            return Err(ServerError::Invalid(format!(
                "this shim serves task {}, not {}",
                self.ident.id, req.id
            )));
        }
        if self.task.is_some() {
            return Err(ServerError::AlreadyExists(format!("task {}", req.id)));
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
        let spec_terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        if spec_terminal != req.terminal {
            return Err(ServerError::Invalid(format!(
                "process.terminal is {spec_terminal} in {} but the task asks for {}",
                config.display(),
                req.terminal
            )));
        }
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
        let (runtime, pid, warnings, io) = match self.create_process(&req, &bundle, &spec) {
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
        let mut init = Proc::new(io);
        init.pid = pid;
        self.task = Some(Task {
            bundle,
            runtime,
            init,
            cgroup,
            rootfs: mounted.then_some(rootfs_dir),
            deleted: false,
            execs: HashMap::new(),
        });
        Ok(CreateTaskResponse {
            pid: pid as u32,
            warnings,
        })
    }

    /// Log, stdio, runtime create, init.pid, readers.
    #[allow(clippy::type_complexity)]
    fn create_process(
        &self,
        req: &CreateTaskRequest,
        bundle: &Path,
        spec: &Spec,
    ) -> Result<(Box<dyn Runtime>, i32, Vec<String>, ProcessIo), ServerError> {
        let log = LogFile::open(
            Path::new(&req.log_path),
            req.log_max_size,
            req.log_max_files,
        )?;
        let mut io = ProcessIo::new(req.terminal, req.stdin);
        let (stdio, ends) = io.runtime_io(ConsoleSize::new(req.width, req.height))?;
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
            io: stdio,
            cache_dir: (!req.cache_dir.is_empty()).then(|| Path::new(&req.cache_dir)),
        })?;
        runtime::sys::release_free_memory();
        let pid_file = bundle.join("init.pid");
        let started = std::fs::write(&pid_file, created.pid.to_string())
            .map_err(|source| ServerError::Bundle {
                path: pid_file,
                source,
            })
            .and_then(|()| Ok(io.start(ends, created.console, Some(log))?));
        match started {
            Ok(()) => Ok((runtime, created.pid, created.warnings, io)),
            Err(e) => {
                let _ = runtime.kill(libc::SIGKILL, true);
                let _ = runtime.delete();
                Err(e)
            }
        }
    }

    pub fn start(&mut self, id: &str, exec_id: &str) -> Result<u32, ServerError> {
        if !exec_id.is_empty() {
            return self.start_exec(id, exec_id);
        }
        let t = self.task(id)?;
        if t.init.status != TaskStatus::Created || t.init.reaped {
            return Err(ServerError::State(format!(
                "task is {}, not created",
                t.init.status_name()
            )));
        }
        t.runtime.start()?;
        t.init.status = TaskStatus::Running;
        Ok(t.init.pid as u32)
    }

    pub fn state(&mut self, id: &str, exec_id: &str) -> Result<StateResponse, ServerError> {
        let t = self.task(id)?;
        let bundle = t.bundle.to_string_lossy().into_owned();
        let p = self.process(id, exec_id)?;
        Ok(StateResponse {
            id: id.to_owned(),
            exec_id: exec_id.to_owned(),
            pid: p.pid as u32,
            status: p.status as i32,
            exit: p.exit.as_ref().map(ExitRecord::to_proto),
            bundle,
        })
    }

    pub fn kill(
        &mut self,
        id: &str,
        exec_id: &str,
        signal: u32,
        all: bool,
    ) -> Result<(), ServerError> {
        let signal = i32::try_from(signal)
            .ok()
            .filter(|s| (1..=64).contains(s))
            .ok_or_else(|| ServerError::Invalid(format!("invalid signal {signal}")))?;
        if !exec_id.is_empty() {
            return self.kill_exec(id, exec_id, signal);
        }
        let t = self.task(id)?;
        if t.deleted || t.init.reaped {
            if all {
                // Whatever the init left behind in its cgroup still gets it.
                if let Some(cg) = t.cgroup.as_deref().and_then(|p| Cgroup::load(p).ok()) {
                    for pid in cg.pids().unwrap_or_default() {
                        let _ = kill(Pid::from_raw(pid), Signal::try_from(signal).ok());
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
        Ok(self.process(id, exec_id)?.exit_tx.subscribe())
    }

    pub fn delete(&mut self, id: &str, exec_id: &str) -> Result<DeleteStep, ServerError> {
        if !exec_id.is_empty() {
            return self.delete_exec(id, exec_id);
        }
        let t = self.task(id)?;
        let rx = t.init.exit_tx.subscribe();
        if let (true, Some(exit)) = (t.deleted, &t.init.exit) {
            return Ok(DeleteStep::Done(exit.clone()));
        }
        let Some(exit) = t.init.exit.clone() else {
            if t.init.reaped {
                return Ok(DeleteStep::WaitExit(rx));
            }
            if t.init.status == TaskStatus::Created {
                // Never started: it goes, as containerd deletes a created task.
                t.runtime.kill(libc::SIGKILL, true)?;
                return Ok(DeleteStep::WaitExit(rx));
            }
            return Err(ServerError::State(format!(
                "task is {}: kill it before deleting it",
                t.init.status_name()
            )));
        };
        // Whatever execs remain go with the task.
        for e in t.execs.values() {
            if e.proc.is_running() {
                let _ = kill(Pid::from_raw(e.proc.pid), Signal::SIGKILL);
            }
        }
        t.execs.clear();
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
        // Closes stdin; attached clients' streams end with the output.
        t.init.io.close_stdin();
        t.deleted = true;
        Ok(DeleteStep::Done(exit))
    }

    pub fn pids(&mut self, id: &str) -> Result<PidsResponse, ServerError> {
        let t = self.task(id)?;
        let pids = match (&t.cgroup, t.deleted) {
            (Some(path), false) => match Cgroup::load(path) {
                Ok(cg) => cg.pids()?,
                Err(CgroupError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            },
            (None, false) if !t.init.reaped => vec![t.init.pid],
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
        let t = self.task(id)?;
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
        let t = self.task(id)?;
        if t.init.status != TaskStatus::Running || t.init.reaped {
            return Err(ServerError::State(format!(
                "task is {}, not running",
                t.init.status_name()
            )));
        }
        cg.freeze()?;
        t.init.status = TaskStatus::Paused;
        Ok(())
    }

    pub fn resume(&mut self, id: &str) -> Result<(), ServerError> {
        let cg = self.cgroup(id)?;
        let t = self.task(id)?;
        if t.init.status != TaskStatus::Paused {
            return Err(ServerError::State(format!(
                "task is {}, not paused",
                t.init.status_name()
            )));
        }
        cg.thaw()?;
        t.init.status = TaskStatus::Running;
        Ok(())
    }

    pub fn close_io(&mut self, id: &str, exec_id: &str) -> Result<(), ServerError> {
        self.process(id, exec_id)?.io.close_stdin();
        Ok(())
    }

    /// (shim pid, task pid).
    pub fn info(&self) -> (u32, u32) {
        let task_pid = self.task.as_ref().map_or(0, |t| t.init.pid as u32);
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

    /// A process the shim waited for: the init, an exec, or an orphan of
    /// the container (ignored).
    pub fn reaped(&mut self, pid: i32, code: i32) {
        let Some(t) = self.task.as_mut() else { return };
        if t.init.pid == pid && !t.init.reaped {
            self.init_reaped(code);
        } else if let Some(exec_id) = t
            .execs
            .iter()
            .find(|(_, e)| e.proc.pid == pid && e.proc.is_running())
            .map(|(id, _)| id.clone())
        {
            self.exec_reaped(exec_id, code);
        }
    }

    /// The init exited: kill the execs still running, drain its output,
    /// wait (briefly) for the execs' exits, read the OOM counter, then
    /// finish the exit (see [`State::finished`]).
    fn init_reaped(&mut self, code: i32) {
        let Some(t) = self.task.as_mut() else { return };
        t.init.reaped = true;
        let pid = t.init.pid;
        let exited_at = crate::io::timestamp::now();
        let copiers = t.init.io.take_copiers();
        let mut execs = Vec::new();
        for e in t.execs.values() {
            if e.proc.is_running() {
                let _ = kill(Pid::from_raw(e.proc.pid), Signal::SIGKILL);
                execs.push(e.proc.exit_tx.subscribe());
            }
        }
        let cgroup = t.cgroup.clone();
        let jobs = self.jobs.clone();
        tokio::task::spawn_local(async move {
            drain(copiers, "the container").await;
            let execs_done = async {
                for mut rx in execs {
                    let _ = rx.wait_for(Option::is_some).await;
                }
            };
            if tokio::time::timeout(DRAIN_TIMEOUT, execs_done)
                .await
                .is_err()
            {
                eprintln!("berth-shim: execs still running after the container exited; reporting its exit anyway");
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
        t.init.finish(rec);
    }
}

/// Waits for a process's output to reach end-of-file (bounded), the common
/// part of reporting an exit.
pub(super) async fn drain(copiers: Option<Copiers>, what: &str) {
    if let Some(c) = copiers {
        if !c.drain(DRAIN_TIMEOUT).await {
            eprintln!("berth-shim: the output of {what} is still open after it exited; reporting the exit anyway");
        }
    }
}

/// `bundle/runtime.json`: `{"binary":...,"root":...}`.
fn record_runtime(bundle: &Path, binary: &str, root: &Path) -> Result<(), ServerError> {
    let path = bundle.join(RUNTIME_FILE);
    let json = serde_json::json!({ "binary": binary, "root": root });
    std::fs::write(&path, json.to_string()).map_err(|source| ServerError::Bundle { path, source })
}
