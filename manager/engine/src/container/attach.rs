//! `attach` (docker attach; what `berth run` without `-d` uses): join a
//! client to the container's stdio through the shim's Attach stream, then
//! give it the run's exit.
//!
//! An attach to a running container connects to its shim at once (also
//! after a berthd restart: the shim holds the stdio). One to a container
//! that does not run waits for the next start, which connects it after the
//! shim created the process and before it runs, so a client told
//! "registered" may start the container without losing output. The exit
//! comes from the container's events, so it reaches the client even when
//! the container is removed at exit (`--rm`).
//!
//! A shim that predates the Attach call (a container started before a
//! berthd upgrade) still gets output-only attaches: from the log file,
//! opened at its end.

use std::path::PathBuf;

use berth_proto::shim::v1::AttachOpen;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::detach::parse_detach_keys;
use super::logfile::{Entry, Filter, Follower};
use super::logs::follow;
use super::registry::{AttachTo, Connect, Events, Exit, Handle};
use super::stdio::{pump, ClientInput, EventSender, PumpEnd, ShimStream, StdioConfig};
use super::task::Task;
use crate::container::Containers;
use crate::error::{ErrorKind, ManagerError, Result};

pub use super::stdio::{AttachEvent, EventReceiver};

/// What a client attaches to.
#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    /// Neither stdout nor stderr means both.
    pub stdout: bool,
    pub stderr: bool,
    /// docker's format; "" is ctrl-p,ctrl-q.
    pub detach_keys: String,
}

/// How a connected attach reaches the process's output.
enum Link {
    Shim(ShimStream),
    /// An old shim: output from the log file.
    Log(Follower),
    /// Nothing to read (the shim refused): only the exit follows.
    Nothing,
}

/// One attach, from registration to its end.
struct Session {
    engine: Containers,
    handle: std::sync::Arc<Handle>,
    cfg: StdioConfig,
    log: PathBuf,
    rx: watch::Receiver<Events>,
    input: mpsc::Receiver<ClientInput>,
    out: EventSender,
}

/// The end of the run that was current at `start`, as the container's
/// events tell it.
async fn run_end(rx: &mut watch::Receiver<Events>, start: &Events) -> Exit {
    let removed = || Exit {
        code: -1,
        oom_killed: false,
        error: "the container was removed".into(),
    };
    let ended0 = start.ended;
    match rx.wait_for(|e| e.ended > ended0 || e.removed).await {
        Ok(e) if e.exits > start.exits => e.last_exit.clone().unwrap_or_else(removed),
        _ => removed(),
    }
}

impl Session {
    /// Connects to the task's stdio; once this returns, all later output
    /// reaches the client.
    async fn connect(&self, task: &Task) -> Link {
        let (tx, rx) = mpsc::channel(16);
        let open = AttachOpen {
            id: task.id.clone(),
            exec_id: String::new(),
            stdin: self.cfg.stdin,
            stdout: self.cfg.stdout,
            stderr: self.cfg.stderr,
        };
        match task.attach(open, rx).await {
            Ok(output) => Link::Shim(ShimStream { output, input: tx }),
            Err(e) if e.kind() == ErrorKind::Unimplemented => {
                debug!(id = %task.id, "the shim cannot attach: following the log");
                let log = self.log.clone();
                match tokio::task::spawn_blocking(move || Follower::open_at_end(&log)).await {
                    Ok(Ok(f)) => Link::Log(f),
                    Ok(Err(e)) => {
                        warn!(id = %task.id, error = %e, "cannot open the container log");
                        Link::Nothing
                    }
                    Err(e) => {
                        warn!(id = %task.id, error = %e, "log open task failed");
                        Link::Nothing
                    }
                }
            }
            Err(e) => {
                warn!(id = %task.id, error = %e, "cannot attach to the container's stdio");
                Link::Nothing
            }
        }
    }

    /// Streams until the end, then gives the exit (or the detach).
    async fn run(mut self, task: std::sync::Arc<Task>, link: Link, start: Events) {
        let shutdown = self.engine.registry().shutting_down();
        let out_of_band = async {
            match link {
                Link::Shim(shim) => {
                    match pump(&task, "", &self.cfg, shim, &mut self.input, &mut self.out).await {
                        PumpEnd::OutputEnded => {}
                        PumpEnd::Detached => return Some(AttachEvent::Detached),
                        PumpEnd::ClientGone => return None,
                    }
                }
                Link::Log(live) => return self.follow_log(live, &start).await,
                Link::Nothing => {}
            }
            let gone = self.out.gone();
            tokio::select! {
                exit = run_end(&mut self.rx, &start) => Some(AttachEvent::Exit(exit)),
                () = gone => None,
            }
        };
        let last = tokio::select! {
            ev = out_of_band => ev,
            () = shutdown => Some(AttachEvent::Error("berthd is shutting down".into())),
        };
        if let Some(ev) = last {
            self.out.send(ev);
        }
    }

    /// An old shim's output: the log file until the run ends.
    async fn follow_log(&mut self, live: Follower, start: &Events) -> Option<AttachEvent> {
        let filter = Filter {
            stdout: self.cfg.stdout,
            stderr: self.cfg.stderr,
            ..Default::default()
        };
        let (tx, mut entries) = mpsc::channel::<Entry>(64);
        let followed = follow(
            &self.engine,
            live,
            filter,
            self.rx.clone(),
            start.ended,
            tx,
            |e| e,
        );
        let gone = self.out.gone();
        let out = &mut self.out;
        let forward = async {
            while let Some(e) = entries.recv().await {
                out.output(e);
            }
        };
        let (ended, ()) = tokio::select! {
            r = async { tokio::join!(followed, forward) } => r,
            () = gone => return None,
        };
        match ended {
            Ok(Some(e)) if e.exits > start.exits => {
                Some(AttachEvent::Exit(e.last_exit.unwrap_or_default()))
            }
            Ok(Some(_)) => Some(AttachEvent::Exit(Exit {
                code: -1,
                oom_killed: false,
                error: "the container was removed".into(),
            })),
            Ok(None) => None,
            Err(e) => Some(AttachEvent::Error(e.to_string())),
        }
    }

    /// Waits for the next start to connect this attach, then runs it.
    async fn wait_for_start(mut self, wait: oneshot::Receiver<Connect>) {
        let gone = self.out.gone();
        let shutdown = self.engine.registry().shutting_down();
        let connect = tokio::select! {
            c = wait => c.ok(),
            _ = self.rx.wait_for(|e| e.removed) => None,
            () = gone => return,
            () = shutdown => {
                self.out.send(AttachEvent::Error("berthd is shutting down".into()));
                return;
            }
        };
        let Some(Connect { task, ready }) = connect else {
            self.out.send(AttachEvent::Exit(Exit {
                code: -1,
                oom_killed: false,
                error: "the container was removed".into(),
            }));
            return;
        };
        // The start waited for the previous run to be cleaned up: its end
        // is counted, so the next `ended` is this run's.
        let start = self.handle.events();
        let link = self.connect(&task).await;
        let _ = ready.send(());
        self.run(task, link, start).await;
    }
}

impl Containers {
    /// Registers an attach to the container `s` names. Once this returns,
    /// a start of the container connects the attach before its process
    /// runs (or, when it runs, the attach is connected). `input` carries
    /// the client's stdin and resizes.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn attach_stdio(
        &self,
        ns: &str,
        s: &str,
        opts: AttachOptions,
        input: mpsc::Receiver<ClientInput>,
    ) -> Result<EventReceiver> {
        let rec = self.lookup_container(ns, s)?;
        let both = !opts.stdout && !opts.stderr;
        let cfg = StdioConfig {
            tty: rec.config.tty,
            stdin: opts.stdin && rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            stdout: opts.stdout || both,
            stderr: (opts.stderr || both) && !rec.config.tty,
            detach_keys: parse_detach_keys(&opts.detach_keys)?,
        };
        let handle = self.registry().handle(ns, &rec.id);
        let (out, events) = super::stdio::event_queue();
        let session = Session {
            engine: self.clone(),
            handle: handle.clone(),
            cfg,
            log: rec.log_path.clone(),
            rx: handle.subscribe(),
            input,
            out,
        };
        match handle.attach_to() {
            AttachTo::Now {
                task,
                events: start,
            } => {
                let link = session.connect(&task).await;
                tokio::spawn(session.run(task, link, start));
            }
            AttachTo::NextRun(wait) => {
                tokio::spawn(session.wait_for_start(wait));
            }
        }
        Ok(events)
    }

    /// An output-only attach: the output of the current or next run, then
    /// its exit.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn attach_container(
        &self,
        ns: &str,
        s: &str,
        stdout: bool,
        stderr: bool,
    ) -> Result<EventReceiver> {
        let (_, input) = mpsc::channel(1);
        let opts = AttachOptions {
            stdout,
            stderr,
            ..Default::default()
        };
        self.attach_stdio(ns, s, opts, input).await
    }

    /// Hands a new run's task to the attaches waiting for it and waits
    /// (a bounded time) until each is connected; the caller then lets the
    /// process run.
    pub(crate) async fn connect_attaches(&self, handle: &Handle, task: &std::sync::Arc<Task>) {
        let mut ready = Vec::new();
        for waiting in handle.open_attaches(task.clone()) {
            let (tx, rx) = oneshot::channel();
            let connect = Connect {
                task: task.clone(),
                ready: tx,
            };
            if waiting.send(connect).is_ok() {
                ready.push(rx);
            }
        }
        if ready.is_empty() {
            return;
        }
        let all = futures::future::join_all(ready);
        if tokio::time::timeout(ATTACH_CONNECT, all).await.is_err() {
            warn!(id = %task.id, "an attach did not connect in time; starting anyway");
        }
    }

    /// Sets the size of the pty of the container's process, or of one of
    /// its execs.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn resize_container(
        &self,
        ns: &str,
        s: &str,
        exec_id: &str,
        size: super::stdio::ConsoleSize,
    ) -> Result<()> {
        let rec = self.lookup_container(ns, s)?;
        let handle = self.registry().handle(ns, &rec.id);
        let task = handle.live_task().ok_or_else(|| {
            ManagerError::FailedPrecondition(format!("container {} is not running", rec.id))
        })?;
        task.resize_pty(exec_id, size.width, size.height).await?;
        Ok(())
    }
}

/// How long a start waits for the attaches it connects.
const ATTACH_CONNECT: std::time::Duration = std::time::Duration::from_secs(10);
