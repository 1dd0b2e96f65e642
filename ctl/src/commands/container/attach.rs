//! Following a container's run: its output as it arrives (stdout entries to
//! stdout, stderr entries to stderr, raw bytes, flushed), signals the CLI
//! receives forwarded to it (docker's sig-proxy), and its exit.

use std::io::Write;

use berth_proto::v1::containers_client::ContainersClient;
use berth_proto::v1::{
    attach_container_response::Event, AttachContainerRequest, AttachContainerResponse,
    ContainerExit, KillContainerRequest,
};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tonic::Streaming;

use crate::client::Service;
use crate::error::CliError;

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

/// Registers an attach and waits for berthd's confirmation, after which
/// Start may be called without losing output.
pub async fn attach(
    containers: &mut ContainersClient<Service>,
    id: &str,
) -> Result<Streaming<AttachContainerResponse>, CliError> {
    let mut stream = containers
        .attach(AttachContainerRequest {
            id: id.to_owned(),
            stdout: true,
            stderr: true,
        })
        .await?
        .into_inner();
    match stream.message().await? {
        Some(AttachContainerResponse {
            event: Some(Event::Registered(_)),
        }) => Ok(stream),
        Some(_) => Err(CliError::Invalid(
            "berthd sent output before confirming the attach".into(),
        )),
        None => Err(CliError::Invalid(
            "berthd ended the attach before confirming it".into(),
        )),
    }
}

/// Where output goes; a reader that went away (`| head`) stops that
/// stream's output but not the wait for the exit.
pub struct Output {
    stdout_open: bool,
    stderr_open: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            stdout_open: true,
            stderr_open: true,
        }
    }
}

impl Output {
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
}

/// Streams output until the exit message, which is returned. With
/// `proxy`, signals the CLI receives are sent to the container instead of
/// ending the CLI.
pub async fn follow(
    mut stream: Streaming<AttachContainerResponse>,
    proxy: Option<(ContainersClient<Service>, String)>,
) -> Result<ContainerExit, CliError> {
    let mut signals = match &proxy {
        Some(_) => Some(catch_signals()?),
        None => None,
    };
    let mut output = Output::default();
    loop {
        let received = match signals.as_mut() {
            Some(rx) => {
                tokio::select! {
                    message = stream.message() => message,
                    Some(name) = rx.recv() => {
                        if let Some((client, id)) = &proxy {
                            forward(client.clone(), id.clone(), name);
                        }
                        continue;
                    }
                }
            }
            None => stream.message().await,
        };
        match received? {
            Some(AttachContainerResponse { event: Some(event) }) => match event {
                Event::Output(entry) => output.write(&entry.stream, &entry.data),
                Event::Exit(exit) => return Ok(exit),
                Event::Registered(_) => {}
            },
            Some(AttachContainerResponse { event: None }) => {}
            None => {
                return Err(CliError::Invalid(
                    "the connection to berthd ended before the container exited".into(),
                ))
            }
        }
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

/// The CLI's exit code for a container exit code: 0..=255 as is, anything
/// else (unknown) is berth's own failure.
pub fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(125)
}
