//! Reading a process's output: one task per stream (stdout and stderr, or
//! the pty master) reads until end-of-file and hands every chunk to the
//! log (the init's, as json-file lines) and to the attached clients (the
//! [`Hub`]). The fds are non-blocking and polled by the shim's one tokio
//! thread; log writes are short synchronous writes. A process's output
//! ends when every stream reached end-of-file; then the hub ends too.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::hub::Hub;
use super::jsonlog::{LineSplitter, LogFile, Stream, MAX_LINE};

/// What a reader reads.
pub enum Source {
    Pipe(pipe::Receiver),
    /// A pty master: EIO once every slave is closed is its end-of-file.
    Pty(Rc<AsyncFd<OwnedFd>>),
}

impl Source {
    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self {
                Source::Pipe(rx) => {
                    rx.readable().await?;
                    match rx.try_read(buf) {
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        r => return r,
                    }
                }
                Source::Pty(fd) => {
                    let mut guard = fd.readable().await?;
                    let r = guard.try_io(|fd| {
                        nix::unistd::read(fd.as_raw_fd(), buf).map_err(io::Error::from)
                    });
                    match r {
                        Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                        Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Ok(r) => return r,
                        Err(_would_block) => {}
                    }
                }
            }
        }
    }
}

/// The running readers of one process.
pub struct Copiers {
    handles: Vec<JoinHandle<()>>,
}

/// Starts a reader per source on the current [`tokio::task::LocalSet`];
/// `log` gets every stream when given. The hub ends once all reached EOF.
pub fn start(
    sources: Vec<(Source, Stream)>,
    log: Option<LogFile>,
    hub: Rc<RefCell<Hub>>,
) -> Copiers {
    let log = log.map(|l| Rc::new(RefCell::new(l)));
    let open = Rc::new(Cell::new(sources.len()));
    let handles = sources
        .into_iter()
        .map(|(src, stream)| {
            tokio::task::spawn_local(copy(src, stream, log.clone(), hub.clone(), open.clone()))
        })
        .collect();
    Copiers { handles }
}

impl Copiers {
    /// Waits until every stream reached end-of-file (every writer, including
    /// processes the container left behind, closed it), or `timeout`.
    /// Returns whether everything was drained; after a timeout the readers
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
/// once and the data dropped for the log: the stream must keep being read,
/// or the container would block on a full pipe.
async fn copy(
    src: Source,
    stream: Stream,
    log: Option<Rc<RefCell<LogFile>>>,
    hub: Rc<RefCell<Hub>>,
    open: Rc<Cell<usize>>,
) {
    let mut buf = vec![0u8; 4096];
    let mut lines = log.as_ref().map(|_| LineSplitter::new(MAX_LINE));
    let mut failed = false;
    let mut emit = |msg: &[u8]| {
        if let Some(log) = &log {
            if let Err(e) = log.borrow_mut().write(stream, msg, SystemTime::now()) {
                if !failed {
                    eprintln!("berth-shim: {} dropped: {e}", stream.as_str());
                    failed = true;
                }
            }
        }
    };
    loop {
        match src.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if let Some(l) = &mut lines {
                    l.push(&buf[..n], &mut emit);
                }
                hub.borrow_mut().publish(stream, &buf[..n]);
            }
            Err(e) => {
                eprintln!("berth-shim: reading {}: {e}", stream.as_str());
                break;
            }
        }
    }
    if let Some(l) = &mut lines {
        l.finish(&mut emit);
    }
    open.set(open.get() - 1);
    if open.get() == 0 {
        hub.borrow_mut().end();
    }
}
