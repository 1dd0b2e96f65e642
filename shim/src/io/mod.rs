//! The stdio of the container's processes (the init and its execs): the
//! pipes or pty the runtime hands to a process, the readers that copy its
//! output into the json-file log (the init's only: docker does not log
//! execs) and to attached clients ([`hub`]), and the writer that feeds its
//! stdin ([`stdin`]).
//!
//! Everything runs on the shim's one tokio thread: fds are non-blocking and
//! polled, log writes are short synchronous writes. When a process exits
//! the server waits (briefly) for its readers to reach end-of-file, so the
//! log and the clients have everything before the exit is reported.

pub mod hub;
pub mod jsonlog;
pub mod output;
pub mod stdin;
pub mod timestamp;

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::fcntl::OFlag;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::runtime::{console, ConsoleSize, Io, Stdio};
use hub::{Hub, Subscription};
use jsonlog::{LogFile, Stream};
pub use output::Copiers;
use output::Source;
use stdin::{Sink, StdinMsg};

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
    /// The pty master.
    #[error("terminal: {0}")]
    Terminal(#[source] io::Error),
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

/// The shim's ends of a process's stdio between the runtime call and the
/// start of the readers.
pub struct Ends {
    pipes: Option<(OwnedFd, OwnedFd, Option<OwnedFd>)>,
}

/// Everything the shim holds of one process's stdio. Made when the process
/// is registered, so clients can attach before it starts.
pub struct ProcessIo {
    terminal: bool,
    hub: Rc<RefCell<Hub>>,
    /// Feeds the stdin writer; `None` without open stdin.
    stdin: Option<mpsc::Sender<StdinMsg>>,
    /// The writer's end, until the process exists.
    stdin_rx: Option<mpsc::Receiver<StdinMsg>>,
    console: Option<Rc<AsyncFd<OwnedFd>>>,
    copiers: Option<Copiers>,
}

impl ProcessIo {
    /// `terminal`: a pty; `stdin`: stdin stays open for clients.
    pub fn new(terminal: bool, stdin: bool) -> ProcessIo {
        let (tx, rx) = if stdin {
            let (tx, rx) = mpsc::channel(stdin::QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        ProcessIo {
            terminal,
            hub: Rc::new(RefCell::new(Hub::default())),
            stdin: tx,
            stdin_rx: rx,
            console: None,
            copiers: None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    pub fn has_stdin(&self) -> bool {
        self.stdin.is_some()
    }

    /// What the runtime gets to create the process with, and the shim's ends.
    pub fn runtime_io(&self, size: ConsoleSize) -> Result<(Io, Ends), IoError> {
        if self.terminal {
            return Ok((Io::Terminal(size), Ends { pipes: None }));
        }
        let p = pipes(self.stdin.is_some())?;
        Ok((
            Io::Pipes(p.stdio),
            Ends {
                pipes: Some((p.stdout, p.stderr, p.stdin)),
            },
        ))
    }

    /// The process exists: start its readers (and log), and its stdin
    /// writer. `console` is the pty master the runtime returned.
    pub fn start(
        &mut self,
        ends: Ends,
        console: Option<OwnedFd>,
        log: Option<LogFile>,
    ) -> Result<(), IoError> {
        let (sources, sink) = match (ends.pipes, console) {
            (Some((stdout, stderr, stdin)), _) => {
                let out = pipe::Receiver::from_owned_fd(stdout).map_err(IoError::Pipe)?;
                let err = pipe::Receiver::from_owned_fd(stderr).map_err(IoError::Pipe)?;
                let sink = stdin
                    .map(|fd| pipe::Sender::from_owned_fd(fd).map(Sink::Pipe))
                    .transpose()
                    .map_err(IoError::Pipe)?;
                (
                    vec![
                        (Source::Pipe(out), Stream::Stdout),
                        (Source::Pipe(err), Stream::Stderr),
                    ],
                    sink,
                )
            }
            (None, Some(master)) => {
                let master = Rc::new(console::async_master(master).map_err(IoError::Terminal)?);
                self.console = Some(master.clone());
                (
                    vec![(Source::Pty(master.clone()), Stream::Stdout)],
                    self.stdin.is_some().then(|| Sink::Pty(master)),
                )
            }
            (None, None) => {
                return Err(IoError::Terminal(io::Error::other(
                    "the runtime returned no terminal",
                )))
            }
        };
        if let (Some(sink), Some(rx)) = (sink, self.stdin_rx.take()) {
            tokio::task::spawn_local(stdin::write(sink, rx));
        }
        self.copiers = Some(output::start(sources, log, self.hub.clone()));
        Ok(())
    }

    /// The process will never run: attached clients' streams end.
    pub fn abandon(&mut self) {
        self.stdin_rx = None;
        self.hub.borrow_mut().end();
    }

    /// A new client of the output, and the process's stdin (if open).
    pub fn attach(
        &self,
        stdout: bool,
        stderr: bool,
    ) -> (Subscription, Option<mpsc::Sender<StdinMsg>>) {
        (
            self.hub.borrow_mut().subscribe(stdout, stderr),
            self.stdin.clone(),
        )
    }

    /// End-of-file on stdin once what was sent before is written (nothing
    /// for a pty).
    pub fn close_stdin(&self) {
        let Some(tx) = &self.stdin else { return };
        if self.terminal {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(StdinMsg::Close) {
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                let _ = tx.send(StdinMsg::Close).await;
            });
        }
    }

    /// Sets the pty's size. `Ok(false)`: the process has no pty (yet).
    pub fn resize(&self, size: ConsoleSize) -> Result<bool, IoError> {
        match &self.console {
            Some(fd) => console::set_size(fd.as_raw_fd(), size)
                .map(|()| true)
                .map_err(IoError::Terminal),
            None => Ok(false),
        }
    }

    /// The readers, for draining at exit.
    pub fn take_copiers(&mut self) -> Option<Copiers> {
        self.copiers.take()
    }
}
