//! `berth exec`: run a command in a running container, as docker exec.
//!
//! Exit codes are docker's: the command's own; 126 when it cannot be
//! executed, 127 when it is not found; 1 when the exec fails before the
//! command runs (no such container, the container is not running, -it
//! without a terminal); 0 at once with -d.

use std::process::ExitCode;

use berth_proto::v1::{
    exec_input::Msg, exec_output::Event as ExecMsg, ConsoleSize, ExecConfig, ExecInput, ExecOutput,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Status, Streaming};

use super::super::{report, Ctx};
use super::attach::{EXIT_ATTACH_FAILED, NOT_A_TTY};
use super::run::start_failure_code;
use super::session::{Event, Input, Session};
use crate::cli::ExecArgs;
use crate::error::CliError;
use crate::flags::env::{build_env, process_env, Lookup};
use crate::terminal;

pub async fn exec(ctx: &Ctx, args: &ExecArgs) -> Result<ExitCode, CliError> {
    let config = build_config(args, &process_env)?;
    if !args.detach && args.tty && args.interactive && !terminal::stdin_is_tty() {
        report(&CliError::Invalid(NOT_A_TTY.into()));
        return Ok(ExitCode::from(EXIT_ATTACH_FAILED));
    }
    match exec_session(ctx, config).await {
        Ok(code) => Ok(code),
        Err(Failure::Start(status)) => {
            report(&CliError::from(status.clone()));
            let code = match start_failure_code(&status) {
                125 => EXIT_ATTACH_FAILED,
                c => c,
            };
            Ok(ExitCode::from(code))
        }
        Err(Failure::Cli(e)) => {
            report(&e);
            Ok(ExitCode::from(EXIT_ATTACH_FAILED))
        }
    }
}

/// The exec config for the flags; `lookup` reads the CLI's environment for
/// `-e KEY` and bare keys in env files.
pub fn build_config(args: &ExecArgs, lookup: Lookup<'_>) -> Result<ExecConfig, CliError> {
    let size = if args.tty && !args.detach {
        terminal::size()
    } else {
        None
    };
    Ok(ExecConfig {
        id: args.container.clone(),
        cmd: args.command.clone(),
        env: build_env(&args.env, &args.env_file, lookup)?,
        user: args.user.clone().unwrap_or_default(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        privileged: args.privileged,
        tty: args.tty,
        stdin: args.interactive && !args.detach,
        detach: args.detach,
        console_size: size.map(|(width, height)| ConsoleSize { width, height }),
        detach_keys: args.detach_keys.clone().unwrap_or_default(),
    })
}

enum Failure {
    /// berthd refused to start the command (may carry 126/127).
    Start(Status),
    Cli(CliError),
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        Failure::Cli(e)
    }
}

async fn exec_session(ctx: &Ctx, config: ExecConfig) -> Result<ExitCode, Failure> {
    let client = ctx.connect().await?;
    let (tx, rx) = mpsc::channel(16);
    let detach = config.detach;
    let tty = config.tty;
    let stdin = config.stdin;
    let first = ExecInput {
        msg: Some(Msg::Config(config)),
    };
    let outbound = tokio_stream::iter([first]).chain(ReceiverStream::new(rx));
    let mut stream = match client.containers().exec(outbound).await {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == Code::FailedPrecondition => return Err(Failure::Start(s)),
        Err(s) => return Err(Failure::Cli(s.into())),
    };
    match stream.message().await {
        Ok(Some(ExecOutput {
            event: Some(ExecMsg::Started(_)),
        })) => {}
        Ok(_) => {
            return Err(Failure::Cli(CliError::Invalid(
                "berthd did not start the exec".into(),
            )))
        }
        Err(s) => return Err(Failure::Cli(s.into())),
    }
    if detach {
        return Ok(ExitCode::SUCCESS);
    }
    let session = Session {
        tx,
        to_msg: input_msg,
        tty,
        stdin,
        // docker's exec forwards no signals.
        proxy: None,
    };
    let end = session.run(events(stream)).await?;
    Ok(ExitCode::from(end.exit_code()))
}

/// A client message of an exec stream.
fn input_msg(input: Input) -> ExecInput {
    let msg = match input {
        Input::Stdin(b) => Msg::Stdin(b),
        Input::CloseStdin => Msg::CloseStdin(true),
        Input::Resize { width, height } => Msg::Resize(ConsoleSize { width, height }),
    };
    ExecInput { msg: Some(msg) }
}

fn events(stream: Streaming<ExecOutput>) -> impl Stream<Item = Result<Event, Status>> + Unpin {
    stream.filter_map(|r| match r {
        Err(s) => Some(Err(s)),
        Ok(ExecOutput { event }) => match event? {
            ExecMsg::Started(_) => None,
            ExecMsg::Output(e) => Some(Ok(Event::Output {
                stream: e.stream,
                data: e.data,
            })),
            ExecMsg::Dropped(n) => Some(Ok(Event::Dropped(n))),
            ExecMsg::Exit(x) => Some(Ok(Event::Exit(x))),
            ExecMsg::Detached(_) => Some(Ok(Event::Detached)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> ExecArgs {
        let mut full = vec!["berth", "exec"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full) {
            Ok(Cli {
                command: Command::Exec(a),
                ..
            }) => a,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    fn lookup(name: &str) -> Option<String> {
        (name == "FROM_CLI").then(|| "v".to_owned())
    }

    #[test]
    fn flags_make_the_config() {
        let c = build_config(
            &args(&[
                "-i",
                "-e",
                "A=1",
                "-e",
                "FROM_CLI",
                "-u",
                "1:2",
                "-w",
                "/tmp",
                "--privileged",
                "--detach-keys",
                "ctrl-x",
                "web",
                "sh",
                "-c",
                "echo -n hi",
            ]),
            &lookup,
        )
        .unwrap();
        assert_eq!(c.id, "web");
        assert_eq!(c.cmd, ["sh", "-c", "echo -n hi"]);
        assert_eq!(c.env, ["A=1", "FROM_CLI=v"]);
        assert_eq!((c.user.as_str(), c.working_dir.as_str()), ("1:2", "/tmp"));
        assert!(c.privileged && c.stdin && !c.tty && !c.detach);
        assert_eq!(c.detach_keys, "ctrl-x");
        // -d attaches nothing.
        let c = build_config(&args(&["-d", "-i", "web", "true"]), &lookup).unwrap();
        assert!(c.detach && !c.stdin);
        // A command is required.
        assert!(Cli::try_parse_from(["berth", "exec", "web"]).is_err());
    }

    #[test]
    fn inputs() {
        assert_eq!(
            input_msg(Input::CloseStdin).msg,
            Some(Msg::CloseStdin(true))
        );
        assert_eq!(
            input_msg(Input::Stdin(vec![3])).msg,
            Some(Msg::Stdin(vec![3]))
        );
    }
}
