//! The shim client: starting `berth-shim`, dialing its socket, and the Task
//! API calls berthd makes (proto/berth/shim/v1/shim.proto). One [`Task`] is
//! one connection to one container's shim.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_proto::shim::v1::{
    attach_input, attach_output, task_client::TaskClient, AttachInput, AttachOpen, AttachOutput,
    CreateTaskRequest, CreateTaskResponse, DeleteRequest, ExecRequest, ExitStatus, InfoRequest,
    InfoResponse, KillRequest, PidsRequest, ResizePtyRequest, ShutdownRequest, StartRequest,
    StateRequest, StateResponse, WaitRequest,
};
use futures::StreamExt as _;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Streaming};

use berth_errdefs::ErrorKind;

/// The status metadata key in which the shim gives a failed exec's exit
/// code (126 or 127).
pub const EXIT_CODE_METADATA: &str = "berth-exit-code";

/// How long dialing a shim may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure talking to (or starting) a shim.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The shim binary could not be run at all.
    #[error("cannot run the shim {shim}: {source}")]
    Spawn {
        shim: String,
        #[source]
        source: std::io::Error,
    },
    /// `berth-shim start` failed.
    #[error("the shim failed to start: {0}")]
    ShimStart(String),
    /// The shim's socket does not answer.
    #[error("cannot connect to the shim at {address}: {why}")]
    Connect { address: String, why: String },
    /// A Task API call failed: what the shim said, the kind of failure its
    /// status code gives, and whether the shim did not answer at all.
    #[error("{message}")]
    Call {
        message: String,
        kind: ErrorKind,
        unreachable: bool,
    },
    /// The shim refused a call because the container's init does not run
    /// (a refused exec, decided from the status code and the task's state,
    /// not from the message).
    #[error("{message}")]
    NotRunning { message: String },
    /// The container's command could not be executed (exit 126 or 127).
    #[error("{message}")]
    Exec { code: i32, message: String },
    /// `berth-shim delete` failed.
    #[error("berth-shim delete failed: {0}")]
    Delete(String),
}

impl TaskError {
    /// The kind of this error, for the front doors.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TaskError::Call { kind, .. } => *kind,
            TaskError::Exec { .. } | TaskError::NotRunning { .. } => ErrorKind::FailedPrecondition,
            TaskError::Connect { .. } => ErrorKind::Unavailable,
            TaskError::Spawn { .. } | TaskError::ShimStart(_) | TaskError::Delete(_) => {
                ErrorKind::Internal
            }
        }
    }

    /// Whether the shim did not answer at all (dead or unreachable), as
    /// opposed to answering with an error.
    pub fn is_unreachable(&self) -> bool {
        match self {
            TaskError::Connect { .. } => true,
            TaskError::Call { unreachable, .. } => *unreachable,
            _ => false,
        }
    }

    /// Whether the shim refused the call for the task's state
    /// (FailedPrecondition).
    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            TaskError::Call {
                kind: ErrorKind::FailedPrecondition,
                ..
            }
        )
    }

    fn call(op: &str, s: tonic::Status) -> TaskError {
        Self::from_code(format!("shim {op}: {}", s.message()), s.code())
    }

    fn from_code(message: String, code: Code) -> TaskError {
        let kind = match code {
            Code::NotFound => ErrorKind::NotFound,
            Code::AlreadyExists => ErrorKind::AlreadyExists,
            Code::FailedPrecondition => ErrorKind::FailedPrecondition,
            Code::InvalidArgument => ErrorKind::InvalidArgument,
            Code::Unimplemented => ErrorKind::Unimplemented,
            Code::Unavailable => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        TaskError::Call {
            message,
            kind,
            unreachable: matches!(code, Code::Unavailable | Code::Unknown),
        }
    }
}

/// The shim's socket: `STATE/s/<first 32 hex of sha256("<ns>/<id>")>.sock`,
/// short because sun_path holds 108 bytes.
pub fn socket_path(state: &Path, ns: &str, id: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(format!("{ns}/{id}").as_bytes()));
    state.join("s").join(format!("{}.sock", &h[..32]))
}

/// The exit status JSON the shim writes to `BUNDLE/exit` and
/// `berth-shim delete` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ExitFile {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub exited_at: String,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub pid: u32,
}

impl From<ExitStatus> for ExitFile {
    fn from(e: ExitStatus) -> ExitFile {
        ExitFile {
            exit_code: e.exit_code,
            exited_at: e.exited_at,
            oom_killed: e.oom_killed,
            pid: e.pid,
        }
    }
}

/// The exit file of a bundle, if the shim wrote one.
pub fn read_exit_file(bundle: &Path) -> Option<ExitFile> {
    let b = std::fs::read(bundle.join("exit")).ok()?;
    serde_json::from_slice(&b).ok()
}

/// The arguments every shim command takes.
fn shim_args<'a>(ns: &'a str, id: &'a str, bundle: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        "--namespace".as_ref(),
        ns.as_ref(),
        "--id".as_ref(),
        id.as_ref(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
    ]
}

fn last_lines(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

/// Runs `berth-shim VERB` for one container and collects its output.
async fn run_shim(
    shim: &Path,
    verb: &str,
    ns: &str,
    id: &str,
    bundle: &Path,
    address: &Path,
) -> Result<std::process::Output, TaskError> {
    tokio::process::Command::new(shim)
        .arg(verb)
        .args(shim_args(ns, id, bundle))
        .arg("--address")
        .arg(address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| TaskError::Spawn {
            shim: shim.display().to_string(),
            source,
        })
}

/// Runs `berth-shim start`: the shim binds `address`, daemonizes and
/// serves; the command exits once it is ready.
pub async fn start_shim(
    shim: &Path,
    ns: &str,
    id: &str,
    bundle: &Path,
    address: &Path,
) -> Result<(), TaskError> {
    let out = run_shim(shim, "start", ns, id, bundle, address).await?;
    if !out.status.success() {
        let why = last_lines(&out.stderr);
        return Err(TaskError::ShimStart(if why.is_empty() {
            format!("berth-shim start exited with {}", out.status)
        } else {
            why
        }));
    }
    Ok(())
}

/// Runs `berth-shim delete` for a shim that is gone: it kills what is left
/// in the container's cgroup, removes the cgroup, unmounts the rootfs and
/// prints the exit status (137 when the shim recorded none).
pub async fn delete_dead_shim(
    shim: &Path,
    ns: &str,
    id: &str,
    bundle: &Path,
    address: &Path,
) -> Result<ExitFile, TaskError> {
    let out = run_shim(shim, "delete", ns, id, bundle, address).await?;
    if !out.status.success() {
        return Err(TaskError::Delete(last_lines(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        TaskError::Delete(format!(
            "unreadable exit status {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        ))
    })
}

/// A connection to one container's shim.
pub struct Task {
    pub id: String,
    pub bundle: PathBuf,
    pub address: PathBuf,
    client: TaskClient<Channel>,
}

impl Task {
    /// Dials the shim's socket.
    pub async fn connect(id: &str, bundle: &Path, address: &Path) -> Result<Task, TaskError> {
        let path = address.to_path_buf();
        let fail = |why: String| TaskError::Connect {
            address: address.display().to_string(),
            why,
        };
        // The URI is a placeholder: the connector dials the socket.
        let endpoint = Endpoint::try_from("http://[::]:50051")
            .map_err(|e| fail(e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT);
        let channel =
            endpoint
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|e| fail(root_cause(&e)))?;
        Ok(Task {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            address: address.to_path_buf(),
            client: TaskClient::new(channel),
        })
    }

    fn client(&self) -> TaskClient<Channel> {
        self.client.clone()
    }

    /// Creates the container's init process (stopped before exec).
    pub(crate) async fn create(
        &self,
        req: CreateTaskRequest,
    ) -> Result<CreateTaskResponse, TaskError> {
        self.client()
            .create(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| TaskError::call("create", s))
    }

    /// Lets the init process exec; an exec failure is [`TaskError::Exec`].
    pub async fn start(&self) -> Result<u32, TaskError> {
        self.start_process("").await
    }

    /// Starts the init (`exec_id` "") or a registered exec; an exec failure
    /// is [`TaskError::Exec`].
    pub async fn start_process(&self, exec_id: &str) -> Result<u32, TaskError> {
        let req = StartRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
        };
        match self.client().start(req).await {
            Ok(r) => Ok(r.into_inner().pid),
            Err(s) => {
                let code = s
                    .metadata()
                    .get(EXIT_CODE_METADATA)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok());
                match code {
                    Some(code) if s.code() == Code::FailedPrecondition => Err(TaskError::Exec {
                        code,
                        message: s.message().to_string(),
                    }),
                    _ => Err(TaskError::call("start", s)),
                }
            }
        }
    }

    /// Registers a process to run in the container (Start runs it).
    pub(crate) async fn exec(&self, req: ExecRequest) -> Result<(), TaskError> {
        self.client()
            .exec(req)
            .await
            .map(|_| ())
            .map_err(|s| TaskError::call("exec", s))
    }

    /// Signals an exec.
    pub async fn kill_process(&self, exec_id: &str, signal: u32) -> Result<(), TaskError> {
        self.signal(exec_id, signal, false).await
    }

    async fn signal(&self, exec_id: &str, signal: u32, all: bool) -> Result<(), TaskError> {
        let req = KillRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            signal,
            all,
        };
        self.client()
            .kill(req)
            .await
            .map(|_| ())
            .map_err(|s| TaskError::call("kill", s))
    }

    /// Waits for the init (`exec_id` "") or an exec to exit.
    pub(crate) async fn wait_process(&self, exec_id: &str) -> Result<ExitStatus, TaskError> {
        let req = WaitRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
        };
        self.client()
            .wait(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| TaskError::call("wait", s))
    }

    /// Removes the init (`exec_id` "") or an exec that exited.
    pub(crate) async fn delete_process(&self, exec_id: &str) -> Result<ExitStatus, TaskError> {
        let req = DeleteRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
        };
        self.client()
            .delete(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| TaskError::call("delete", s))
    }

    /// Sets the pty size of the init (`exec_id` "") or an exec.
    pub async fn resize_pty(
        &self,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<(), TaskError> {
        let req = ResizePtyRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            width,
            height,
        };
        self.client()
            .resize_pty(req)
            .await
            .map(|_| ())
            .map_err(|s| TaskError::call("resize", s))
    }

    /// Opens an Attach stream to the init (`open.exec_id` "") or an exec
    /// and waits for the shim's `attached`: every later byte of output
    /// reaches the returned stream. `input` feeds stdin and its end.
    pub(crate) async fn attach(
        &self,
        open: AttachOpen,
        input: mpsc::Receiver<AttachInput>,
    ) -> Result<Streaming<AttachOutput>, TaskError> {
        let first = AttachInput {
            msg: Some(attach_input::Msg::Open(open)),
        };
        let outbound = futures::stream::iter([first]).chain(ReceiverStream::new(input));
        let mut stream = self
            .client()
            .attach(outbound)
            .await
            .map_err(|s| TaskError::call("attach", s))?
            .into_inner();
        match stream.message().await {
            Ok(Some(AttachOutput {
                event: Some(attach_output::Event::Attached(_)),
            })) => Ok(stream),
            Ok(_) => Err(TaskError::from_code(
                "shim attach: the stream did not start with `attached`".into(),
                Code::Internal,
            )),
            Err(s) => Err(TaskError::call("attach", s)),
        }
    }

    /// Signals the init process, or every process of the container.
    pub async fn kill(&self, signal: u32, all: bool) -> Result<(), TaskError> {
        self.signal("", signal, all).await
    }

    /// Waits for the init process to exit.
    pub(crate) async fn wait(&self) -> Result<ExitStatus, TaskError> {
        self.wait_process("").await
    }

    /// Deletes the stopped task (cgroup, rootfs mount).
    pub(crate) async fn delete(&self) -> Result<ExitStatus, TaskError> {
        self.delete_process("").await
    }

    /// Asks the shim to exit.
    pub async fn shutdown(&self, now: bool) -> Result<(), TaskError> {
        let req = ShutdownRequest {
            id: self.id.clone(),
            now,
        };
        self.client()
            .shutdown(req)
            .await
            .map(|_| ())
            .map_err(|s| TaskError::call("shutdown", s))
    }

    /// The pids in the container's cgroup.
    pub async fn pids(&self) -> Result<Vec<u32>, TaskError> {
        let req = PidsRequest {
            id: self.id.clone(),
        };
        self.client()
            .pids(req)
            .await
            .map(|r| r.into_inner().pids)
            .map_err(|s| TaskError::call("pids", s))
    }

    /// The task's state.
    pub(crate) async fn state(&self) -> Result<StateResponse, TaskError> {
        let req = StateRequest {
            id: self.id.clone(),
            exec_id: String::new(),
        };
        self.client()
            .state(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| TaskError::call("state", s))
    }

    /// The shim's and the task's pids.
    #[allow(dead_code)] // No engine operation asks for it yet.
    pub(crate) async fn info(&self) -> Result<InfoResponse, TaskError> {
        let req = InfoRequest {
            id: self.id.clone(),
        };
        self.client()
            .info(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| TaskError::call("info", s))
    }
}

/// The innermost cause of a transport error.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_are_short_and_stable() {
        let p = socket_path(Path::new("/run/berth"), "default", &"a".repeat(64));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 32 + ".sock".len());
        assert_eq!(p.parent().unwrap(), Path::new("/run/berth/s"));
        let h = hex::encode(Sha256::digest(format!("default/{}", "a".repeat(64))));
        assert_eq!(name, format!("{}.sock", &h[..32]));
        assert_ne!(
            p,
            socket_path(Path::new("/run/berth"), "other", &"a".repeat(64))
        );
    }

    #[test]
    fn exit_files() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_exit_file(d.path()), None);
        std::fs::write(
            d.path().join("exit"),
            br#"{"exit_code":137,"exited_at":"2026-11-23T10:00:00.123456789Z","oom_killed":true,"pid":42}"#,
        )
        .unwrap();
        assert_eq!(
            read_exit_file(d.path()),
            Some(ExitFile {
                exit_code: 137,
                exited_at: "2026-11-23T10:00:00.123456789Z".into(),
                oom_killed: true,
                pid: 42
            })
        );
    }

    #[test]
    fn error_kinds() {
        let e = TaskError::Exec {
            code: 127,
            message: "exec: \"nosuch\": executable file not found in $PATH".into(),
        };
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(TaskError::from_code("x".into(), Code::Unavailable).is_unreachable());
        assert!(!TaskError::from_code("x".into(), Code::NotFound).is_unreachable());
        let refused = TaskError::from_code("x".into(), Code::FailedPrecondition);
        assert!(refused.is_refused());
        assert_eq!(refused.kind(), ErrorKind::FailedPrecondition);
    }
}
