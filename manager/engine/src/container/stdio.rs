//! The stdio streams between berthd's clients and a container's processes,
//! shared by attach and exec: one client's bounded output queue, and the
//! pump that joins one client to one shim Attach stream (the client's
//! stdin, watched for the detach keys, one way; the process's output the
//! other; terminal resizes aside).
//!
//! Each client has its own shim Attach stream, so the shim fans output out
//! and a client only ever waits for its own stream. berthd reads that
//! stream at once, always: output that does not fit in the client's queue
//! (1 MiB) is dropped for that client and reported to it, so a client that
//! stops reading never leaves unread data on the shared connection to the
//! shim (where it would hold up every other call to that shim).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use berth_proto::shim::v1::{attach_input, attach_output, AttachInput, AttachOutput, StdStream};
use chrono::{SecondsFormat, Utc};
use tokio::sync::mpsc;
use tonic::Streaming;
use tracing::debug;

use super::detach::{DetachMatcher, Scan};
use super::logfile::Entry;
use super::registry::Exit;
use super::task::Task;

/// Output a client may have waiting in berthd before more is dropped for it.
pub const CLIENT_QUEUE_BYTES: usize = 1 << 20;

/// A terminal size in character cells (0: leave the kernel's default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleSize {
    pub width: u32,
    pub height: u32,
}

/// What a client sends after its first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientInput {
    /// Bytes for the process's stdin.
    Stdin(Vec<u8>),
    /// The client's stdin ended.
    CloseStdin,
    /// The client's terminal has a new size.
    Resize(ConsoleSize),
}

/// What an attach or exec stream carries to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachEvent {
    /// Output ("stdout" or "stderr"), stamped when berthd received it.
    Output(Entry),
    /// Bytes of output this client missed since its last message.
    Dropped(u64),
    /// The process ended; nothing follows.
    Exit(Exit),
    /// The client typed the detach keys; nothing follows.
    Detached,
    /// The stream broke (berthd is stopping, the log is unreadable).
    Error(String),
}

/// A new client queue: berthd's end and the client's.
pub fn event_queue() -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        EventSender {
            tx,
            queued: queued.clone(),
            dropped: 0,
        },
        EventReceiver { rx, queued },
    )
}

/// berthd's end of a client's queue. Output is bounded by bytes (the
/// channel itself is not: the few control events never wait).
pub struct EventSender {
    tx: mpsc::UnboundedSender<AttachEvent>,
    queued: Arc<AtomicUsize>,
    dropped: u64,
}

impl EventSender {
    /// Queues output, or counts it as dropped when the client's queue is
    /// full.
    pub fn output(&mut self, e: Entry) {
        let n = e.data.len();
        if self.queued.load(Ordering::Acquire) + n > CLIENT_QUEUE_BYTES {
            self.dropped += n as u64;
            return;
        }
        self.flush_dropped();
        self.queued.fetch_add(n, Ordering::AcqRel);
        let _ = self.tx.send(AttachEvent::Output(e));
    }

    /// Output this client missed elsewhere (the shim dropped it).
    pub fn note_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Queues a control event (after any drop report).
    pub fn send(&mut self, e: AttachEvent) {
        self.flush_dropped();
        let _ = self.tx.send(e);
    }

    fn flush_dropped(&mut self) {
        if self.dropped > 0 {
            let _ = self.tx.send(AttachEvent::Dropped(self.dropped));
            self.dropped = 0;
        }
    }

    /// Resolves once the client has gone (its end was dropped).
    pub fn gone(&self) -> impl Future<Output = ()> + Send + 'static {
        let tx = self.tx.clone();
        async move { tx.closed().await }
    }
}

/// The client's end of its queue.
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<AttachEvent>,
    queued: Arc<AtomicUsize>,
}

impl EventReceiver {
    /// The next event; `None` once the stream has ended.
    pub async fn recv(&mut self) -> Option<AttachEvent> {
        let e = self.rx.recv().await?;
        if let AttachEvent::Output(o) = &e {
            self.queued.fetch_sub(o.data.len(), Ordering::AcqRel);
        }
        Some(e)
    }
}

/// How one client is joined to one process's stdio.
#[derive(Clone, Debug, Default)]
pub struct StdioConfig {
    /// The process has a pty: the detach keys apply; output is all stdout.
    pub tty: bool,
    /// The client's stdin feeds the process.
    pub stdin: bool,
    /// The process's stdin is closed when the client's ends, or when the
    /// client goes away (docker's StdinOnce; never with a pty).
    pub stdin_once: bool,
    /// Which output streams the client gets.
    pub stdout: bool,
    pub stderr: bool,
    /// The detach sequence (parsed).
    pub detach_keys: Vec<u8>,
}

/// How the output side of a client's stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The process's output reached its end (or the shim went away): the
    /// exit comes next.
    OutputEnded,
    /// The client typed the detach keys.
    Detached,
    /// The client went away.
    ClientGone,
}

/// The shim's side of one client: the Attach stream's output and the
/// sender that feeds its input.
pub(crate) struct ShimStream {
    pub(crate) output: Streaming<AttachOutput>,
    pub(crate) input: mpsc::Sender<AttachInput>,
}

fn stdin_msg(data: Vec<u8>) -> AttachInput {
    AttachInput {
        msg: Some(attach_input::Msg::Stdin(data)),
    }
}

fn close_stdin_msg() -> AttachInput {
    AttachInput {
        msg: Some(attach_input::Msg::CloseStdin(true)),
    }
}

/// Joins a client to a process until its output ends, the client detaches
/// or the client goes away. `exec_id` names the process for resizes (""
/// for the container's own).
pub(crate) async fn pump(
    task: &Task,
    exec_id: &str,
    cfg: &StdioConfig,
    shim: ShimStream,
    input: &mut mpsc::Receiver<ClientInput>,
    out: &mut EventSender,
) -> PumpEnd {
    let ShimStream {
        output: mut shim_out,
        input: shim_in,
    } = shim;
    let stdin_closed = AtomicBool::new(!cfg.stdin);
    let gone = out.gone();
    let output = async {
        tokio::pin!(gone);
        loop {
            let msg = tokio::select! {
                m = shim_out.message() => m,
                () = &mut gone => return PumpEnd::ClientGone,
            };
            match msg {
                Ok(Some(AttachOutput { event: Some(ev) })) => match ev {
                    attach_output::Event::Output(chunk) => {
                        let stream = match chunk.stream() {
                            StdStream::Stderr => "stderr",
                            _ => "stdout",
                        };
                        out.output(Entry {
                            stream: stream.to_string(),
                            data: chunk.data,
                            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
                        });
                    }
                    attach_output::Event::Dropped(n) => out.note_dropped(n),
                    attach_output::Event::Attached(_) => {}
                },
                Ok(Some(_)) => {}
                Ok(None) => return PumpEnd::OutputEnded,
                Err(s) => {
                    // The shim went away; the run's end says how.
                    debug!(id = %task.id, exec_id, error = %s, "shim attach stream broke");
                    return PumpEnd::OutputEnded;
                }
            }
        }
    };
    let feed = feed_stdin(task, exec_id, cfg, &shim_in, input, &stdin_closed);
    let end = tokio::select! {
        end = output => end,
        () = feed => PumpEnd::Detached,
    };
    if end == PumpEnd::ClientGone
        && cfg.stdin_once
        && !cfg.tty
        && !stdin_closed.swap(true, Ordering::AcqRel)
    {
        let _ = shim_in.send(close_stdin_msg()).await;
    }
    end
}

/// Feeds the client's stdin to the shim (through the detach matcher with a
/// pty) and applies resizes. Returns when the client detaches; after the
/// client's input ends it never returns.
async fn feed_stdin(
    task: &Task,
    exec_id: &str,
    cfg: &StdioConfig,
    shim_in: &mpsc::Sender<AttachInput>,
    input: &mut mpsc::Receiver<ClientInput>,
    stdin_closed: &AtomicBool,
) {
    let mut matcher = (cfg.tty && cfg.stdin).then(|| DetachMatcher::new(cfg.detach_keys.clone()));
    loop {
        let msg = input.recv().await;
        match msg {
            Some(ClientInput::Stdin(data)) => {
                if stdin_closed.load(Ordering::Acquire) {
                    continue;
                }
                let (data, detach) = match matcher.as_mut().map(|m| m.scan(&data)) {
                    None => (data, false),
                    Some(Scan::Forward(d)) => (d, false),
                    Some(Scan::Detach(d)) => (d, true),
                };
                if !data.is_empty() && shim_in.send(stdin_msg(data)).await.is_err() {
                    stdin_closed.store(true, Ordering::Release);
                }
                if detach {
                    return;
                }
            }
            Some(ClientInput::Resize(size)) => {
                if let Err(e) = task.resize_pty(exec_id, size.width, size.height).await {
                    debug!(id = %task.id, exec_id, error = %e, "resize refused");
                }
            }
            Some(ClientInput::CloseStdin) | None => {
                if !stdin_closed.swap(true, Ordering::AcqRel) {
                    if let Some(held) = matcher.as_mut().map(DetachMatcher::flush) {
                        if !held.is_empty() {
                            let _ = shim_in.send(stdin_msg(held)).await;
                        }
                    }
                    if cfg.stdin_once {
                        let _ = shim_in.send(close_stdin_msg()).await;
                    }
                }
                if msg.is_none() {
                    // Nothing more comes; the output side decides the end.
                    return std::future::pending().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            stream: "stdout".into(),
            data: vec![b'x'; n],
            time: String::new(),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_reports() {
        let (mut tx, mut rx) = event_queue();
        tx.output(entry(CLIENT_QUEUE_BYTES - 10));
        // Does not fit: dropped, counted.
        tx.output(entry(100));
        tx.note_dropped(5);
        assert!(
            matches!(rx.recv().await, Some(AttachEvent::Output(e)) if e.data.len() == CLIENT_QUEUE_BYTES - 10)
        );
        // Read: room again; the drop report comes first.
        tx.output(entry(3));
        assert_eq!(rx.recv().await, Some(AttachEvent::Dropped(105)));
        assert!(matches!(rx.recv().await, Some(AttachEvent::Output(e)) if e.data.len() == 3));
        tx.note_dropped(7);
        tx.send(AttachEvent::Detached);
        assert_eq!(rx.recv().await, Some(AttachEvent::Dropped(7)));
        assert_eq!(rx.recv().await, Some(AttachEvent::Detached));
        let gone = tx.gone();
        drop(rx);
        gone.await;
    }
}
