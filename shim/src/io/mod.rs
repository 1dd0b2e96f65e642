//! The container's stdio: the pipes the runtime hands to the init process,
//! and the tasks that copy its stdout and stderr into the json-file log.
//!
//! The pipe read ends are non-blocking and polled by the shim's one tokio
//! thread; log writes are small synchronous writes. When the init exits the
//! server waits (briefly) for both copiers to reach end-of-file, so the log
//! is complete before the exit is reported.

pub mod jsonlog;
pub mod timestamp;

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use nix::fcntl::OFlag;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use crate::runtime::Stdio;
use jsonlog::{LineSplitter, LogFile, Stream, MAX_LINE};

/// Why the container's stdio could not be set up or written.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The log file (or a rotated one).
    #[error("log file {}: cannot {action}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Creating or registering a pipe.
    #[error("stdio pipe: {0}")]
    Pipe(#[source] io::Error),
}

impl IoError {
    pub(crate) fn file(action: &'static str, path: &Path, source: io::Error) -> Self {
        IoError::File {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The pipes of one container process: the runtime's ends and the shim's.
pub struct Pipes {
    /// Given to the runtime, which makes them the process's 0, 1, 2.
    pub stdio: Stdio,
    /// Read by the copiers.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The write end of stdin, held while stdin is open.
    pub stdin: Option<OwnedFd>,
}

/// Creates the stdout and stderr pipes (and stdin's when `stdin`). Every end
/// is close-on-exec: the runtime dups the container's ends onto 0, 1, 2,
/// and the shim's ends must not leak into the container.
pub fn pipes(stdin: bool) -> Result<Pipes, IoError> {
    let new = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| IoError::Pipe(e.into()));
    let (out_r, out_w) = new()?;
    let (err_r, err_w) = new()?;
    let (in_r, in_w) = if stdin {
        let (r, w) = new()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    Ok(Pipes {
        stdio: Stdio {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
        },
        stdout: out_r,
        stderr: err_r,
        stdin: in_w,
    })
}

/// The running copy tasks of one process.
pub struct Copiers {
    handles: Vec<JoinHandle<()>>,
}

/// Starts copying `stdout` and `stderr` into `log` on the current
/// [`tokio::task::LocalSet`].
pub fn copy_to_log(stdout: OwnedFd, stderr: OwnedFd, log: LogFile) -> Result<Copiers, IoError> {
    let out = pipe::Receiver::from_owned_fd(stdout).map_err(IoError::Pipe)?;
    let err = pipe::Receiver::from_owned_fd(stderr).map_err(IoError::Pipe)?;
    let log = Rc::new(RefCell::new(log));
    let handles = vec![
        tokio::task::spawn_local(copy(out, Stream::Stdout, log.clone())),
        tokio::task::spawn_local(copy(err, Stream::Stderr, log)),
    ];
    Ok(Copiers { handles })
}

impl Copiers {
    /// Waits until both streams reached end-of-file (every writer, including
    /// processes the container left behind, closed them), or `timeout`.
    /// Returns whether everything was drained; after a timeout the copiers
    /// go on, detached.
    pub async fn drain(mut self, timeout: Duration) -> bool {
        let all = async {
            for h in &mut self.handles {
                let _ = h.await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }
}

/// Copies one stream until end-of-file. A failing log write is reported
/// once and the data dropped: the pipe must keep being read, or the
/// container would block on a full pipe.
async fn copy(rx: pipe::Receiver, stream: Stream, log: Rc<RefCell<LogFile>>) {
    let mut buf = vec![0u8; 4096];
    let mut lines = LineSplitter::new(MAX_LINE);
    let mut failed = false;
    let mut emit = |msg: &[u8]| {
        if let Err(e) = log.borrow_mut().write(stream, msg, SystemTime::now()) {
            if !failed {
                eprintln!("berth-shim: {} dropped: {e}", stream.as_str());
                failed = true;
            }
        }
    };
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        match rx.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => lines.push(&buf[..n], &mut emit),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("berth-shim: reading {}: {e}", stream.as_str());
                break;
            }
        }
    }
    lines.finish(&mut emit);
}
