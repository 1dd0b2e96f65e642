//! A client's session with a container's process (what `run`, `start -a`,
//! `attach` and `exec` share): output to stdout and stderr as it arrives,
//! the user's stdin to the process, terminal resizes (SIGWINCH), signals
//! forwarded with docker's sig-proxy, and the user's terminal in raw mode
//! while a pty is attached to it, restored however the session ends.

use std::io::{Read, Write};

use berth_proto::v1::containers_client::ContainersClient;
use berth_proto::v1::{ContainerExit, KillContainerRequest};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use crate::client::Service;
use crate::error::CliError;
use crate::terminal::{self, RawMode};

type SignalFn = fn() -> SignalKind;

/// The signals a terminal user sends that docker's sig-proxy forwards.
const PROXIED: &[(SignalFn, &str)] = &[
    (SignalKind::interrupt, "SIGINT"),
    (SignalKind::terminate, "SIGTERM"),
    (SignalKind::hangup, "SIGHUP"),
    (SignalKind::quit, "SIGQUIT"),
    (SignalKind::user_defined1, "SIGUSR1"),
    (SignalKind::user_defined2, "SIGUSR2"),
];

/// Signals that end a raw-mode session (the terminal is restored first):
/// with a pty, ^C is a byte for the container, so these only come from
/// `kill` or a closing terminal.
const ENDING: &[(SignalFn, i32)] = &[
    (SignalKind::terminate, 15),
    (SignalKind::hangup, 1),
    (SignalKind::interrupt, 2),
];

/// What berthd sends during a session.
#[derive(Debug)]
pub enum Event {
    Output { stream: String, data: Vec<u8> },
    Dropped(u64),
    Exit(ContainerExit),
    Detached,
}

/// What the session sends berthd.
#[derive(Debug)]
pub enum Input {
    Stdin(Vec<u8>),
    CloseStdin,
    Resize { width: u32, height: u32 },
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The process exited.
    Exit(ContainerExit),
    /// The user typed the detach keys; the process runs on.
    Detached,
    /// The CLI got this signal (raw mode only).
    Signal(i32),
}

impl End {
    /// The CLI's exit code for this end: the process's code, 0 after a
    /// detach, 128+N after signal N.
    pub fn exit_code(&self) -> u8 {
        match self {
            End::Exit(x) => exit_code(x.exit_code),
            End::Detached => 0,
            End::Signal(n) => exit_code(128 + n),
        }
    }
}

/// The CLI's exit code for a container exit code: 0..=255 as is, anything
/// else (unknown) is berth's own failure.
pub fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(125)
}

/// One session. `M` is the RPC's client message; `to_msg` makes one.
pub struct Session<M> {
    /// The request stream's sender (kept open for the whole session).
    pub tx: mpsc::Sender<M>,
    pub to_msg: fn(Input) -> M,
    /// The process has a pty: resizes are sent; with `stdin` on a terminal,
    /// raw mode.
    pub tty: bool,
    /// The user's stdin goes to the process.
    pub stdin: bool,
    /// sig-proxy: where caught signals are sent.
    pub proxy: Option<(ContainersClient<Service>, String)>,
}

/// Where output goes; a reader that went away (`| head`) stops that
/// stream's output but not the session. In raw mode the CLI's own lines
/// need "\r\n".
pub struct Output {
    stdout_open: bool,
    stderr_open: bool,
    raw: bool,
}

impl Output {
    pub fn new(raw: bool) -> Output {
        Output {
            stdout_open: true,
            stderr_open: true,
            raw,
        }
    }

    /// Writes one chunk to the stream it came from, flushed at once.
    pub fn write(&mut self, stream: &str, data: &[u8]) {
        if stream == "stderr" {
            if self.stderr_open {
                let mut err = std::io::stderr().lock();
                self.stderr_open = err.write_all(data).and_then(|()| err.flush()).is_ok();
            }
        } else if self.stdout_open {
            let mut out = std::io::stdout().lock();
            self.stdout_open = out.write_all(data).and_then(|()| out.flush()).is_ok();
        }
    }

    /// A line of the CLI's own on stderr.
    pub fn note(&mut self, line: &str) {
        let end = if self.raw { "\r\n" } else { "\n" };
        self.write("stderr", format!("{line}{end}").as_bytes());
    }
}

impl<M: Send + 'static> Session<M> {
    /// Runs the session over berthd's events until the process exits or
    /// the user detaches.
    pub async fn run<S>(self, mut events: S) -> Result<End, CliError>
    where
        S: Stream<Item = Result<Event, Status>> + Unpin,
    {
        let raw = if self.tty && self.stdin && terminal::stdin_is_tty() {
            Some(RawMode::enable().map_err(|e| CliError::io("set the terminal to raw mode", e))?)
        } else {
            None
        };
        let mut winch = if self.tty && terminal::size().is_some() {
            Some(
                signal(SignalKind::window_change())
                    .map_err(|e| CliError::io("catch SIGWINCH", e))?,
            )
        } else {
            None
        };
        let mut proxied = match &self.proxy {
            Some(_) => Some(catch_signals()?),
            None => None,
        };
        let mut ending = match &raw {
            Some(_) => Some(catch_ending()?),
            None => None,
        };
        if self.stdin {
            spawn_stdin_reader(self.tx.clone(), self.to_msg);
        }
        let mut output = Output::new(raw.is_some());
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Event::Output { stream, data })) => output.write(&stream, &data),
                    Some(Ok(Event::Dropped(n))) => output.note(&format!(
                        "WARNING: {n} bytes of output were dropped: this client did not read them in time"
                    )),
                    Some(Ok(Event::Exit(x))) => return Ok(End::Exit(x)),
                    Some(Ok(Event::Detached)) => return Ok(End::Detached),
                    Some(Err(status)) => return Err(status.into()),
                    None => {
                        return Err(CliError::Invalid(
                            "the connection to berthd ended before the container exited".into(),
                        ))
                    }
                },
                Some(()) = next_signal(&mut winch) => {
                    if let Some((width, height)) = terminal::size() {
                        let _ = self.tx.send((self.to_msg)(Input::Resize { width, height })).await;
                    }
                }
                Some(name) = recv(&mut proxied) => {
                    if let Some((client, id)) = &self.proxy {
                        forward(client.clone(), id.clone(), name);
                    }
                }
                Some(signo) = recv(&mut ending) => return Ok(End::Signal(signo)),
            }
        }
    }
}

async fn next_signal(s: &mut Option<Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads the user's stdin on its own thread (a blocked read cannot hold
/// up the runtime or the exit) and sends it on; its end becomes
/// CloseStdin.
fn spawn_stdin_reader<M: Send + 'static>(tx: mpsc::Sender<M>, to_msg: fn(Input) -> M) {
    let reader = move || {
        let mut buf = vec![0u8; 32 << 10];
        let stdin = std::io::stdin();
        let mut stdin = stdin.lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(to_msg(Input::Stdin(buf[..n].to_vec())))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.blocking_send(to_msg(Input::CloseStdin));
    };
    if let Err(e) = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(reader)
    {
        super::super::report(&CliError::io("read stdin", e));
    }
}

/// Catches the proxied signals; their names arrive on the channel.
fn catch_signals() -> Result<mpsc::UnboundedReceiver<&'static str>, CliError> {
    let (tx, rx) = mpsc::unbounded_channel();
    for &(kind, name) in PROXIED {
        let mut caught = signal(kind()).map_err(|e| CliError::io(format!("catch {name}"), e))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while caught.recv().await.is_some() {
                if tx.send(name).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

/// Catches the signals that end a raw-mode session.
fn catch_ending() -> Result<mpsc::UnboundedReceiver<i32>, CliError> {
    let (tx, rx) = mpsc::unbounded_channel();
    for &(kind, signo) in ENDING {
        let mut caught = signal(kind()).map_err(|e| CliError::io("catch signals", e))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while caught.recv().await.is_some() {
                if tx.send(signo).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

/// Sends a caught signal to the container without holding up its output.
fn forward(mut client: ContainersClient<Service>, id: String, signal: &'static str) {
    tokio::spawn(async move {
        let request = KillContainerRequest {
            id,
            signal: signal.to_owned(),
        };
        if let Err(status) = client.kill(request).await {
            super::super::report(&CliError::from(status));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let exit = |code| {
            End::Exit(ContainerExit {
                exit_code: code,
                ..Default::default()
            })
        };
        assert_eq!(exit(3).exit_code(), 3);
        assert_eq!(exit(-1).exit_code(), 125);
        assert_eq!(exit(300).exit_code(), 125);
        assert_eq!(End::Detached.exit_code(), 0);
        assert_eq!(End::Signal(15).exit_code(), 143);
    }
}
