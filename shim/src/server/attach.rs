//! The Attach stream: a client's window on a process's stdio. The first
//! message (`open`) subscribes the client to the process's output on the
//! shim's thread and only then is `attached` sent, so everything written
//! after it reaches the client. Output events come from the client's
//! bounded queue ([`crate::io::hub`]); a task pumps the client's later
//! messages (stdin bytes, close) into the process's stdin writer. The
//! stream ends when the output ends; the pump ends with it or when the
//! client stops sending.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use berth_proto::shim::v1::{
    attach_input, attach_output, AttachInput, AttachOutput, OutputChunk, StdStream,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Status, Streaming};

use super::error::ServerError;
use super::state::{Jobs, State};
use crate::io::hub::{Event, Subscription};
use crate::io::jsonlog::Stream as OutStream;
use crate::io::stdin::StdinMsg;

/// The response stream of Attach.
pub type AttachStream = Pin<Box<dyn Stream<Item = Result<AttachOutput, Status>> + Send>>;

/// What `open` gets from the state.
pub struct Attached {
    output: Subscription,
    /// The process's stdin, when it has one open.
    stdin: Option<mpsc::Sender<StdinMsg>>,
}

impl State {
    pub fn attach(
        &mut self,
        id: &str,
        exec_id: &str,
        stdout: bool,
        stderr: bool,
    ) -> Result<Attached, ServerError> {
        let p = self.process(id, exec_id)?;
        let (output, stdin) = p.io.attach(stdout, stderr);
        Ok(Attached { output, stdin })
    }
}

/// Reads `open`, subscribes, starts the stdin pump; the stream to answer with.
pub async fn open(jobs: &Jobs, mut input: Streaming<AttachInput>) -> Result<AttachStream, Status> {
    let first = input
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("attach: the stream ended before open"))?;
    let Some(attach_input::Msg::Open(open)) = first.msg else {
        return Err(Status::invalid_argument(
            "attach: the first message must be open",
        ));
    };
    let (id, exec_id) = (open.id.clone(), open.exec_id.clone());
    let attached = jobs
        .call(move |s| s.attach(&id, &exec_id, open.stdout, open.stderr))
        .await??;
    let (abort_tx, abort_rx) = oneshot::channel();
    tokio::spawn(pump(input, open.stdin, attached.stdin, abort_tx));
    Ok(Box::pin(Output {
        attached: false,
        output: attached.output,
        abort: Some(abort_rx),
        done: false,
    }))
}

/// Feeds the client's stdin messages to the process, in order, until the
/// client stops sending or its output stream is gone. A protocol error
/// ends the client's stream with that status.
async fn pump(
    mut input: Streaming<AttachInput>,
    wanted: bool,
    stdin: Option<mpsc::Sender<StdinMsg>>,
    mut abort: oneshot::Sender<Status>,
) {
    loop {
        let msg = tokio::select! {
            m = input.message() => m,
            _ = abort.closed() => return,
        };
        // The client finished sending, or went away.
        let Ok(Some(msg)) = msg else { return };
        let to_stdin = match msg.msg {
            Some(attach_input::Msg::Stdin(data)) => {
                if data.is_empty() {
                    continue;
                }
                StdinMsg::Data(data)
            }
            Some(attach_input::Msg::CloseStdin(true)) => StdinMsg::Close,
            Some(attach_input::Msg::CloseStdin(false)) | None => continue,
            Some(attach_input::Msg::Open(_)) => {
                let _ = abort.send(Status::invalid_argument(
                    "attach: open may only be the first message",
                ));
                return;
            }
        };
        let tx = match (&stdin, wanted) {
            (Some(tx), true) => tx,
            (_, false) => {
                let _ = abort.send(Status::failed_precondition(
                    "attach: stdin was not opened by this client",
                ));
                return;
            }
            (None, true) => {
                let _ = abort.send(Status::failed_precondition(
                    "attach: the process has no open stdin",
                ));
                return;
            }
        };
        tokio::select! {
            // An error: stdin was closed; what follows is dropped.
            _ = tx.send(to_stdin) => {}
            _ = abort.closed() => return,
        }
    }
}

/// `attached`, then the client's queue, until the output ends (or a
/// protocol error from the pump).
struct Output {
    attached: bool,
    output: Subscription,
    abort: Option<oneshot::Receiver<Status>>,
    done: bool,
}

impl Stream for Output {
    type Item = Result<AttachOutput, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let event = |e| Poll::Ready(Some(Ok(AttachOutput { event: Some(e) })));
        if !this.attached {
            this.attached = true;
            return event(attach_output::Event::Attached(true));
        }
        if let Some(rx) = &mut this.abort {
            match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(status)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(status)));
                }
                // The pump ended without a complaint.
                Poll::Ready(Err(_)) => this.abort = None,
                Poll::Pending => {}
            }
        }
        match this.output.poll_recv(cx) {
            Poll::Ready(Some(Event::Output(stream, data))) => {
                let stream = match stream {
                    OutStream::Stdout => StdStream::Stdout,
                    OutStream::Stderr => StdStream::Stderr,
                };
                event(attach_output::Event::Output(OutputChunk {
                    stream: stream as i32,
                    data,
                }))
            }
            Poll::Ready(Some(Event::Dropped(n))) => event(attach_output::Event::Dropped(n)),
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
