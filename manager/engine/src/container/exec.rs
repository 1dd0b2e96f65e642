//! `exec`: run another process in a running container, as docker exec
//! does. The process is the container's own OCI process with the request's
//! changes: its command, the container's env plus the request's (TERM with
//! a tty), the container's user and working directory unless the request
//! names others, every capability with `--privileged`; the container's
//! seccomp profile, no_new_privileges and rlimits stay. The shim runs it
//! in the container's namespaces and cgroup.
//!
//! Order: the shim registers the exec, a client's Attach stream is opened
//! (so no output is missed), then the exec starts. A monitor awaits its
//! exit, hands it to the client's stream once the output has ended, and
//! deletes the exec in the shim.

use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::v1::{AttachOpen, ExecRequest, Status as ShimStatus};
use rustix::fs::{Mode, OFlags};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use berth_inroot::RootDir;

use super::detach::parse_detach_keys;
use super::naming::new_id;
use super::record::{bundle_dir, spec_path};
use super::registry::{Exit, Handle};
use super::spec::{
    env_key, replace_or_append_env, resolve_user, ResolvedUser, SpecError, ALL_CAPABILITIES,
};
use super::stdio::{
    event_queue, pump, AttachEvent, ClientInput, ConsoleSize, EventReceiver, EventSender, PumpEnd,
    ShimStream, StdioConfig,
};
use super::task::{Task, TaskError};
use crate::container::Containers;
use crate::core::OnCore;
use crate::error::{IoContext, ManagerError, Result};

/// How long building the exec's process may take. It reads the container's
/// /etc/passwd and /etc/group through the container's own mounts, which it
/// can make hang (a FUSE mount that never answers): the exec then fails
/// instead of waiting forever.
const USERDB_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an exec that exited may keep its output open (a background
/// child holding it) before the exec is deleted anyway.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// What to run (docker's exec config).
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    /// KEY=VALUE added to (and overriding) the container's env.
    pub env: Vec<String>,
    /// Empty: the container's user.
    pub user: String,
    /// Empty: the container's working directory.
    pub working_dir: String,
    pub privileged: bool,
    pub tty: bool,
    /// The client's stdin feeds the process.
    pub stdin: bool,
    /// Start it and return: no stream.
    pub detach: bool,
    pub console_size: ConsoleSize,
    pub detach_keys: String,
}

/// A started exec.
pub struct ExecStarted {
    /// 64 hex.
    pub exec_id: String,
    /// Its host pid.
    pub pid: u32,
    /// Its output and exit; `None` when detached.
    pub events: Option<EventReceiver>,
}

/// The exec's OCI process: the container's (`container`, its config.json
/// "process") with the exec's changes. `container_tty` and `user_env` (the
/// container's `-e` values) tell whether TERM came from the container's
/// tty; `user` is the resolved `-u`, if one was given.
pub fn exec_process(
    container: &Value,
    opts: &ExecOptions,
    container_tty: bool,
    user_env: &[String],
    user: Option<&ResolvedUser>,
) -> Result<Value> {
    let mut p = match container {
        Value::Object(_) => container.clone(),
        _ => {
            return Err(ManagerError::Internal(
                "the container's OCI spec has no process".into(),
            ))
        }
    };
    p["args"] = json!(opts.cmd);
    p["terminal"] = json!(opts.tty);
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // docker's CreateDaemonEnvironment(exec tty) + the container's env: the
    // TERM a tty container got is not the exec's unless it has a tty too.
    let term_set_by_user = user_env.iter().any(|e| env_key(e) == "TERM");
    if opts.tty {
        if !env.iter().any(|e| env_key(e) == "TERM") {
            env.push("TERM=xterm".into());
        }
    } else if container_tty && !term_set_by_user {
        env.retain(|e| e != "TERM=xterm");
    }
    replace_or_append_env(&mut env, &opts.env);
    p["env"] = json!(env);
    if !opts.working_dir.is_empty() {
        if !opts.working_dir.starts_with('/') {
            return Err(SpecError::RelativeWorkdir(opts.working_dir.clone()).into());
        }
        p["cwd"] = json!(opts.working_dir);
    }
    if let Some(u) = user {
        let mut obj = json!({"uid": u.uid, "gid": u.gid});
        if !u.additional_gids.is_empty() {
            obj["additionalGids"] = json!(u.additional_gids);
        }
        p["user"] = obj;
    }
    if opts.privileged {
        p["capabilities"] = json!({
            "bounding": ALL_CAPABILITIES,
            "effective": ALL_CAPABILITIES,
            "permitted": ALL_CAPABILITIES,
        });
    }
    Ok(p)
}

impl Containers {
    /// Runs a process in the running container `s` names. With
    /// `opts.detach` it returns once the process runs; otherwise the
    /// returned events carry its output and exit, and `input` feeds its
    /// stdin and resizes.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn exec_container(
        &self,
        ns: &str,
        s: &str,
        opts: ExecOptions,
        input: mpsc::Receiver<ClientInput>,
    ) -> Result<ExecStarted> {
        let rec = self.lookup_container(ns, s)?;
        if opts.cmd.is_empty() {
            return Err(ManagerError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let detach_keys = parse_detach_keys(&opts.detach_keys)?;
        let handle = self.registry().handle(ns, &rec.id);
        let not_running =
            || ManagerError::FailedPrecondition(format!("container {} is not running", rec.id));
        let task = handle.live_task().ok_or_else(not_running)?;
        if !rec.state.running() {
            return Err(not_running());
        }
        let spec_json = self.exec_spec_json(ns, &rec, &task, &opts).await?;
        let exec_id = new_id();
        let stdin = opts.stdin && !opts.detach;
        register_exec(&task, &rec.id, &exec_id, &opts, stdin, spec_json).await?;
        let shim = if opts.detach {
            None
        } else {
            Some(open_exec_stream(&task, &rec.id, &exec_id, stdin).await?)
        };
        let pid = start_exec_process(&task, &rec.id, &exec_id).await?;
        handle.add_exec(&exec_id);
        info!(namespace = ns, id = %rec.id, exec_id = %exec_id, pid, "exec started");

        let Some(shim) = shim else {
            spawn_exec_monitor(handle, task, exec_id.clone(), None, None);
            return Ok(ExecStarted {
                exec_id,
                pid,
                events: None,
            });
        };
        let cfg = StdioConfig {
            tty: opts.tty,
            stdin,
            // docker closes an exec's stdin when its client's ends.
            stdin_once: true,
            stdout: true,
            stderr: !opts.tty,
            detach_keys,
        };
        let events = self.follow_exec(handle, task, exec_id.clone(), cfg, shim, input);
        Ok(ExecStarted {
            exec_id,
            pid,
            events: Some(events),
        })
    }

    /// The exec's OCI process as JSON: built from the running bundle's
    /// spec (it has what this run added, the link variables; the stored
    /// one if the bundle is unreadable), with `-u` resolved against the
    /// container's own users as its processes see them.
    async fn exec_spec_json(
        &self,
        ns: &str,
        rec: &super::ContainerRecord,
        task: &Task,
        opts: &ExecOptions,
    ) -> Result<String> {
        let root = if opts.user.is_empty() {
            None
        } else {
            Some(container_root(task, &rec.id, rec.state.pid).await?)
        };
        let bundle_spec = bundle_dir(self.config(), ns, &rec.id).join("config.json");
        let spec = if bundle_spec.is_file() {
            bundle_spec
        } else {
            spec_path(self.config(), ns, &rec.id)
        };
        let opts = opts.clone();
        let tty = rec.config.tty;
        let user_env = rec.config.env.clone();
        let build = tokio::task::spawn_blocking(move || -> Result<String> {
            let stored: Value = serde_json::from_slice(
                &std::fs::read(&spec).ctx(|| format!("read {}", spec.display()))?,
            )
            .map_err(|source| ManagerError::Decode {
                what: "the stored OCI spec".into(),
                source,
            })?;
            let user = match &root {
                None => None,
                Some(root) => {
                    let (passwd, group) = super::userdb::read_users(root)?;
                    Some(resolve_user(&opts.user, &passwd, &group)?)
                }
            };
            let process = exec_process(&stored["process"], &opts, tty, &user_env, user.as_ref())?;
            serde_json::to_string(&process).map_err(|source| ManagerError::Encode {
                what: "the exec process".into(),
                source,
            })
        });
        tokio::time::timeout(USERDB_TIMEOUT, build)
            .await
            .map_err(|_| {
                ManagerError::Internal(format!(
                    "timed out reading the users of container {} (its /etc/passwd or /etc/group does not answer)",
                    rec.id
                ))
            })?
            .map_err(ManagerError::Worker)?
    }

    /// Joins a client to a started exec: a monitor awaits its exit, a
    /// stream carries its output then the exit. Returns the client's end.
    fn follow_exec(
        &self,
        handle: Arc<Handle>,
        task: Arc<Task>,
        exec_id: String,
        cfg: StdioConfig,
        shim: ShimStream,
        input: mpsc::Receiver<ClientInput>,
    ) -> EventReceiver {
        let (exit_tx, exit_rx) = oneshot::channel();
        let (output_done, output_done_rx) = oneshot::channel::<()>();
        spawn_exec_monitor(
            handle,
            task.clone(),
            exec_id.clone(),
            Some(exit_tx),
            Some(output_done_rx),
        );
        let (out, events) = event_queue();
        let engine = self.clone();
        tokio::spawn(async move {
            stream_exec(
                engine,
                task,
                exec_id,
                cfg,
                shim,
                input,
                out,
                exit_rx,
                output_done,
            )
            .await
        });
        events
    }
}

/// Registers the exec with the shim (which moves it into the container's
/// cgroup: migration.rs).
async fn register_exec(
    task: &Task,
    id: &str,
    exec_id: &str,
    opts: &ExecOptions,
    stdin: bool,
    spec_json: String,
) -> Result<()> {
    super::migration::begin_grace_period();
    let registered = task
        .exec(ExecRequest {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            terminal: opts.tty,
            stdin,
            spec_json,
            width: opts.console_size.width,
            height: opts.console_size.height,
        })
        .await;
    match registered {
        Ok(()) => Ok(()),
        Err(e) => Err(exec_error(id, typed_refusal(task, e).await)),
    }
}

/// Opens the client's Attach stream before the exec starts (so no output
/// is missed); the registered exec is deleted when that fails.
async fn open_exec_stream(task: &Task, id: &str, exec_id: &str, stdin: bool) -> Result<ShimStream> {
    let (tx, rx) = mpsc::channel(16);
    let open = AttachOpen {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        stdin,
        stdout: true,
        stderr: true,
    };
    match task.attach(open, rx).await {
        Ok(output) => Ok(ShimStream { output, input: tx }),
        Err(e) => {
            let _ = task.delete_process(exec_id).await;
            Err(e.into())
        }
    }
}

/// Starts the registered exec; its pid. A command that cannot run is
/// docker's 126/127; the exec is deleted on any failure.
async fn start_exec_process(task: &Task, id: &str, exec_id: &str) -> Result<u32> {
    match task.start_process(exec_id).await {
        Ok(pid) => Ok(pid),
        Err(e) => {
            let _ = task.delete_process(exec_id).await;
            Err(exec_error(id, typed_refusal(task, e).await))
        }
    }
}

/// The running container's root directory, as its processes see it, for
/// reading its users: `/proc/<init pid>/root`.
///
/// That rather than the host-side mount of the rootfs in the bundle: it is
/// the root of the container's mount namespace with what is mounted in it —
/// volumes and bind mounts over /etc/passwd or /etc/group (a common way to
/// give a container the host's users) — the view docker's exec resolves
/// `-u` against, and the root the shim starts the exec in. Paths are then
/// resolved from this descriptor inside that root ([`berth_inroot`]).
///
/// The pid comes from the record of the run; a pid can be reused once its
/// process is reaped. So /proc/<pid> is opened first — that descriptor
/// stays with the process it named, and what is opened under it fails once
/// that process is gone — and the shim then says its init still has that
/// pid and still runs. The shim reaps its init itself and runs one init per
/// run, and `task` was live (its init created) before the open, so the
/// process opened was the container's init.
async fn container_root(task: &Task, id: &str, pid: u32) -> Result<RootDir> {
    let not_running = || ManagerError::FailedPrecondition(format!("container {id} is not running"));
    let gone = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH));
    if pid == 0 {
        return Err(not_running());
    }
    // procfs lookups: no disk I/O to keep off the runtime.
    let proc_dir = format!("/proc/{pid}");
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir =
        rustix::fs::open(proc_dir.as_str(), flags, Mode::empty()).map_err(std::io::Error::from);
    let dir = match dir {
        Ok(d) => d,
        Err(e) if gone(&e) => return Err(not_running()),
        Err(e) => return Err(ManagerError::io(format!("open {proc_dir}"), e)),
    };
    let state = task.state().await.map_err(|e| exec_error(id, e))?;
    let alive = matches!(state.status(), ShimStatus::Running | ShimStatus::Paused);
    if state.pid != pid || !alive {
        return Err(not_running());
    }
    match RootDir::open_at(&dir, "root") {
        Ok(root) => Ok(root),
        Err(e) if gone(&e) => Err(not_running()),
        Err(e) => Err(ManagerError::io(
            format!("open the root of container {id} ({proc_dir}/root)"),
            e,
        )),
    }
}

/// A shim refusal of an exec is [`TaskError::NotRunning`] when the task's
/// init does not run (asked of the shim: a paused one keeps the shim's
/// refusal); other errors are left as they are.
async fn typed_refusal(task: &Task, e: TaskError) -> TaskError {
    if !e.is_refused() {
        return e;
    }
    match task.state().await {
        Ok(st) if matches!(st.status(), ShimStatus::Running | ShimStatus::Paused) => e,
        _ => TaskError::NotRunning {
            message: e.to_string(),
        },
    }
}

/// A shim error of an exec, in docker's words where it has them.
fn exec_error(id: &str, e: TaskError) -> ManagerError {
    match e {
        TaskError::NotRunning { .. } => {
            ManagerError::FailedPrecondition(format!("container {id} is not running"))
        }
        TaskError::Exec { code, message } => ManagerError::StartFailed {
            message,
            exit_code: code,
        },
        e => e.into(),
    }
}

/// One client's exec stream: output until it ends, then the exit.
#[allow(clippy::too_many_arguments)]
async fn stream_exec(
    engine: Containers,
    task: Arc<Task>,
    exec_id: String,
    cfg: StdioConfig,
    shim: ShimStream,
    mut input: mpsc::Receiver<ClientInput>,
    mut out: EventSender,
    exit: oneshot::Receiver<Exit>,
    output_done: oneshot::Sender<()>,
) {
    let shutdown = engine.registry().shutting_down();
    let streamed = async {
        let end = pump(&task, &exec_id, &cfg, shim, &mut input, &mut out).await;
        drop(output_done);
        match end {
            PumpEnd::OutputEnded => {}
            PumpEnd::Detached => return Some(AttachEvent::Detached),
            PumpEnd::ClientGone => return None,
        }
        let gone = out.gone();
        tokio::select! {
            x = exit => Some(AttachEvent::Exit(x.unwrap_or(Exit {
                code: 137,
                oom_killed: false,
                error: "the exec's end is unknown".into(),
            }))),
            () = gone => None,
        }
    };
    let last = tokio::select! {
        ev = streamed => ev,
        () = shutdown => Some(AttachEvent::Error("berthd is shutting down".into())),
    };
    if let Some(ev) = last {
        out.send(ev);
    }
}

/// Awaits an exec's exit, hands it to its stream (once the stream's output
/// ended, or a grace period after), and deletes the exec in the shim.
fn spawn_exec_monitor(
    handle: Arc<Handle>,
    task: Arc<Task>,
    exec_id: String,
    exit_to: Option<oneshot::Sender<Exit>>,
    output_done: Option<oneshot::Receiver<()>>,
) {
    tokio::spawn(async move {
        let exit = match task.wait_process(&exec_id).await {
            Ok(st) => Exit {
                code: st.exit_code,
                oom_killed: st.oom_killed,
                error: String::new(),
            },
            Err(e) => {
                // The container's end took the exec with it.
                debug!(id = %task.id, exec_id = %exec_id, error = %e, "exec wait failed");
                Exit {
                    code: 137,
                    oom_killed: false,
                    error: String::new(),
                }
            }
        };
        info!(id = %task.id, exec_id = %exec_id, exit_code = exit.code, "exec exited");
        if let Some(tx) = exit_to {
            let _ = tx.send(exit);
        }
        if let Some(done) = output_done {
            let _ = tokio::time::timeout(OUTPUT_GRACE, done).await;
        }
        if let Err(e) = task.delete_process(&exec_id).await {
            if !e.is_unreachable() {
                warn!(id = %task.id, exec_id = %exec_id, error = %e, "cannot delete the exec");
            }
        }
        handle.remove_exec(&exec_id);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Value {
        json!({
            "terminal": true,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["sh"],
            "env": ["PATH=/bin", "HOSTNAME=abc", "TERM=xterm", "A=1"],
            "cwd": "/srv",
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        })
    }

    fn opts(cmd: &[&str]) -> ExecOptions {
        ExecOptions {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_containers_process_with_the_execs_changes() {
        let p = exec_process(&container(), &opts(&["ls", "-l"]), true, &[], None).unwrap();
        assert_eq!(p["args"], json!(["ls", "-l"]));
        assert_eq!(p["terminal"], false);
        // The container's tty gave it TERM; an exec without one has none.
        assert_eq!(p["env"], json!(["PATH=/bin", "HOSTNAME=abc", "A=1"]));
        assert_eq!(p["cwd"], "/srv");
        assert_eq!(p["user"], json!({"uid": 1000, "gid": 1000}));
        assert_eq!(p["capabilities"]["bounding"], json!(["CAP_CHOWN"]));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["rlimits"][0]["hard"], 1024);

        let mut o = opts(&["sh"]);
        o.tty = true;
        o.env = vec!["A=2".into(), "B=3".into(), "HOSTNAME".into()];
        o.working_dir = "/tmp".into();
        o.privileged = true;
        let u = ResolvedUser {
            uid: 1,
            gid: 2,
            additional_gids: vec![3],
        };
        let p = exec_process(&container(), &o, false, &[], Some(&u)).unwrap();
        assert_eq!(p["terminal"], true);
        assert_eq!(p["env"], json!(["PATH=/bin", "TERM=xterm", "A=2", "B=3"]));
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(
            p["user"],
            json!({"uid": 1, "gid": 2, "additionalGids": [3]})
        );
        let all = p["capabilities"]["effective"].as_array().unwrap();
        assert_eq!(all.len(), ALL_CAPABILITIES.len());
        assert!(p["capabilities"].get("inheritable").is_none());

        // A TERM the user gave the container stays.
        let p = exec_process(
            &container(),
            &opts(&["env"]),
            true,
            &["TERM=xterm".into()],
            None,
        )
        .unwrap();
        assert!(p["env"].as_array().unwrap().contains(&json!("TERM=xterm")));
    }

    #[test]
    fn bad_exec_options() {
        let mut o = opts(&["ls"]);
        o.working_dir = "tmp".into();
        let e = exec_process(&container(), &o, false, &[], None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(exec_process(&json!(null), &opts(&["ls"]), false, &[], None).is_err());
    }
}
