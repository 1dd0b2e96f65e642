//! `berth attach`, and the attach stream `run` and `start -a` open before
//! they start a container.
//!
//! docker's rules: attaching to a container that does not run is an error
//! (exit 1); stdin is attached unless `--no-stdin` (and only to a container
//! created with -i); with a tty and stdin the user's terminal goes raw and
//! must be a terminal ("the input device is not a TTY", exit 1); without a
//! tty, signals are forwarded (`--sig-proxy`, default on). The exit code is
//! the container's, 0 after the detach keys.

use std::process::ExitCode;

use berth_proto::v1::containers_client::ContainersClient;
use berth_proto::v1::{
    attach_container_input::Msg, attach_container_response::Event as AttachMsg,
    AttachContainerInput, AttachContainerRequest, AttachContainerResponse, ConsoleSize,
    InspectContainerRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Status, Streaming};

use super::super::{report, Ctx};
use super::session::{Event, Input, Session};
use crate::cli::AttachArgs;
use crate::client::Service;
use crate::error::CliError;
use crate::terminal;

/// Exit code of `attach` and `exec` when they fail before the process's
/// stdio is reached (docker's CLI exits 1 there, not 125).
pub const EXIT_ATTACH_FAILED: u8 = 1;

/// docker's refusal of `-t` with stdin that is not a terminal.
pub const NOT_A_TTY: &str = "the input device is not a TTY";

/// An open attach stream: berthd confirmed it ("registered"), so the
/// container may be started without losing output.
pub struct Attached {
    pub events: Streaming<AttachContainerResponse>,
    pub tx: mpsc::Sender<AttachContainerInput>,
}

/// What an attach asks for.
#[derive(Clone, Debug, Default)]
pub struct AttachRequest {
    pub id: String,
    pub stdin: bool,
    pub detach_keys: String,
}

/// Opens an attach (stdout and stderr, and stdin if asked) and waits for
/// berthd's confirmation.
pub async fn open(
    containers: &mut ContainersClient<Service>,
    req: &AttachRequest,
) -> Result<Attached, CliError> {
    let (tx, rx) = mpsc::channel(16);
    let first = AttachContainerInput {
        msg: Some(Msg::Open(AttachContainerRequest {
            id: req.id.clone(),
            stdout: true,
            stderr: true,
            stdin: req.stdin,
            detach_keys: req.detach_keys.clone(),
        })),
    };
    let outbound = tokio_stream::iter([first]).chain(ReceiverStream::new(rx));
    let mut events = containers.attach(outbound).await?.into_inner();
    match events.message().await? {
        Some(AttachContainerResponse {
            event: Some(AttachMsg::Registered(_)),
        }) => Ok(Attached { events, tx }),
        Some(_) => Err(CliError::Invalid(
            "berthd sent output before confirming the attach".into(),
        )),
        None => Err(CliError::Invalid(
            "berthd ended the attach before confirming it".into(),
        )),
    }
}

/// A client message of an attach stream.
pub fn input_msg(input: Input) -> AttachContainerInput {
    let msg = match input {
        Input::Stdin(b) => Msg::Stdin(b),
        Input::CloseStdin => Msg::CloseStdin(true),
        Input::Resize { width, height } => Msg::Resize(ConsoleSize { width, height }),
    };
    AttachContainerInput { msg: Some(msg) }
}

/// An attach stream's events as the session reads them.
pub fn events(
    stream: Streaming<AttachContainerResponse>,
) -> impl Stream<Item = Result<Event, Status>> + Unpin {
    stream.filter_map(|r| match r {
        Err(s) => Some(Err(s)),
        Ok(AttachContainerResponse { event }) => match event? {
            AttachMsg::Registered(_) => None,
            AttachMsg::Output(e) => Some(Ok(Event::Output {
                stream: e.stream,
                data: e.data,
            })),
            AttachMsg::Dropped(n) => Some(Ok(Event::Dropped(n))),
            AttachMsg::Exit(x) => Some(Ok(Event::Exit(x))),
            AttachMsg::Detached(_) => Some(Ok(Event::Detached)),
        },
    })
}

/// The parts of a container's inspect that an attach needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stdio {
    pub id: String,
    pub running: bool,
    pub tty: bool,
    pub open_stdin: bool,
}

impl Stdio {
    /// Reads them from docker inspect's JSON.
    pub fn from_inspect(json: &str) -> Result<Stdio, CliError> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|source| CliError::Json {
            context: "read the container's inspect".into(),
            source,
        })?;
        Ok(Stdio {
            id: v["Id"].as_str().unwrap_or_default().to_owned(),
            running: v["State"]["Running"].as_bool().unwrap_or(false),
            tty: v["Config"]["Tty"].as_bool().unwrap_or(false),
            open_stdin: v["Config"]["OpenStdin"].as_bool().unwrap_or(false),
        })
    }
}

/// Looks a container's stdio settings up.
pub async fn stdio_of(
    containers: &mut ContainersClient<Service>,
    id: &str,
) -> Result<Stdio, CliError> {
    let r = containers
        .inspect(InspectContainerRequest {
            id: id.to_owned(),
            size: false,
        })
        .await?
        .into_inner();
    Stdio::from_inspect(&r.json)
}

/// `berth attach`.
pub async fn attach(ctx: &Ctx, args: &AttachArgs) -> Result<ExitCode, CliError> {
    match attach_session(ctx, args).await {
        Ok(code) => Ok(code),
        Err(e) => {
            report(&e);
            Ok(ExitCode::from(EXIT_ATTACH_FAILED))
        }
    }
}

async fn attach_session(ctx: &Ctx, args: &AttachArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let mut containers = client.containers();
    let st = stdio_of(&mut containers, &args.container).await?;
    if !st.running {
        return Err(CliError::Invalid(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let stdin = !args.no_stdin && st.open_stdin;
    if st.tty && stdin && !terminal::stdin_is_tty() {
        return Err(CliError::Invalid(NOT_A_TTY.into()));
    }
    let request = AttachRequest {
        id: st.id.clone(),
        stdin,
        detach_keys: args.stream.detach_keys.clone().unwrap_or_default(),
    };
    let attached = open(&mut containers, &request).await?;
    if st.tty {
        if let Some((width, height)) = terminal::size() {
            let _ = attached
                .tx
                .send(input_msg(Input::Resize { width, height }))
                .await;
        }
    }
    let session = Session {
        tx: attached.tx,
        to_msg: input_msg,
        tty: st.tty,
        stdin,
        proxy: (args.stream.sig_proxy && !st.tty).then(|| (containers.clone(), st.id.clone())),
    };
    let end = session.run(events(attached.events)).await?;
    if let super::session::End::Exit(x) = &end {
        if !x.error.is_empty() && x.exit_code != 0 {
            report(&CliError::Invalid(x.error.clone()));
        }
    }
    Ok(ExitCode::from(end.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_from_inspect() {
        let st = Stdio::from_inspect(
            r#"{"Id":"abc","State":{"Running":true},"Config":{"Tty":true,"OpenStdin":true}}"#,
        )
        .unwrap();
        assert_eq!(
            st,
            Stdio {
                id: "abc".into(),
                running: true,
                tty: true,
                open_stdin: true
            }
        );
        assert_eq!(Stdio::from_inspect("{}").unwrap(), Stdio::default());
        assert!(Stdio::from_inspect("nope").is_err());
    }

    #[test]
    fn inputs() {
        assert_eq!(
            input_msg(Input::Stdin(b"ls\r".to_vec())).msg,
            Some(Msg::Stdin(b"ls\r".to_vec()))
        );
        assert_eq!(
            input_msg(Input::CloseStdin).msg,
            Some(Msg::CloseStdin(true))
        );
        assert_eq!(
            input_msg(Input::Resize {
                width: 80,
                height: 24
            })
            .msg,
            Some(Msg::Resize(ConsoleSize {
                width: 80,
                height: 24
            }))
        );
    }
}
