//! A process's stdin: one task per process writes what attached clients
//! send, in the order it arrives, into the stdin pipe or the pty master,
//! without ever blocking the shim's thread (the pipe or pty is
//! non-blocking and polled). The channel in front of it is bounded, so a
//! process that does not read its stdin slows down the clients that feed
//! it (through gRPC flow control), not the shim.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use tokio::io::unix::AsyncFd;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Messages queued for a process's stdin.
pub const QUEUE: usize = 16;

/// What a client asks of a process's stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinMsg {
    Data(Vec<u8>),
    /// End-of-file, after the data before it. Nothing for a pty (a
    /// terminal has no end-of-file, only ^D).
    Close,
}

/// Where stdin goes.
pub enum Sink {
    Pipe(pipe::Sender),
    Pty(Rc<AsyncFd<OwnedFd>>),
}

/// Writes messages until Close (pipe), the channel closes, or the process
/// stops reading (EPIPE/EIO): what is sent after that is dropped.
pub async fn write(sink: Sink, mut rx: mpsc::Receiver<StdinMsg>) {
    let mut sink = sink;
    while let Some(msg) = rx.recv().await {
        match (msg, &mut sink) {
            (StdinMsg::Data(d), Sink::Pipe(p)) => {
                if p.write_all(&d).await.is_err() {
                    return;
                }
            }
            (StdinMsg::Data(d), Sink::Pty(fd)) => {
                if write_pty(fd, &d).await.is_err() {
                    return;
                }
            }
            // Dropping the pipe's write end is the end-of-file.
            (StdinMsg::Close, Sink::Pipe(_)) => return,
            (StdinMsg::Close, Sink::Pty(_)) => {}
        }
    }
}

async fn write_pty(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from)) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}
