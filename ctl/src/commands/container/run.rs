//! `berth run`: create, attach, start, stream the output, exit with the
//! container's exit code (or, with -d, create, start and print the id).
//!
//! Exit codes are docker's: the container's own; 126 when its command
//! cannot be executed, 127 when it is not found; 125 when berth fails.

use std::io::Write;
use std::process::ExitCode;

use berth_proto::v1::{ConsoleSize, RemoveContainerRequest, StartContainerRequest};
use tonic::{Code, Status};

use super::super::{print, report, Ctx};
use super::attach::{events, input_msg, open, AttachRequest, EXIT_ATTACH_FAILED, NOT_A_TTY};
use super::create::{build_request, create_pulling};
use super::session::{End, Session};
use crate::cli::RunArgs;
use crate::client::Client;
use crate::error::CliError;
use crate::flags::env::process_env;
use crate::terminal;

/// The status metadata key in which berthd gives a failed exec's exit code.
pub const EXIT_CODE_METADATA: &str = "berth-exit-code";
/// berth's own failure.
const EXIT_BERTH: u8 = 125;
/// The command could not be executed.
const EXIT_CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
const EXIT_NOT_FOUND: u8 = 127;

pub async fn run(ctx: &Ctx, args: &RunArgs) -> Result<ExitCode, CliError> {
    let options = &args.options;
    if !args.detach && options.tty && options.interactive && !terminal::stdin_is_tty() {
        // docker checks before it creates anything, and exits 1.
        report(&CliError::Invalid(NOT_A_TTY.into()));
        return Ok(ExitCode::from(EXIT_ATTACH_FAILED));
    }
    let mut request = build_request(options, &process_env)?;
    if let Some(c) = request.config.as_mut() {
        // docker run: the foreground client attaches everything (stdin with
        // -i, and then closes the container's stdin when its own ends);
        // -d attaches nothing.
        let attach = !args.detach;
        c.attach_stdin = attach && options.interactive;
        c.attach_stdout = attach;
        c.attach_stderr = attach;
        c.stdin_once = attach && options.interactive;
    }
    let client = ctx.connect().await?;
    let id = create_pulling(&client, request, options.pull).await?;
    let auto_remove = options.rm;
    if args.detach {
        if let Err(status) = start(&client, &id, None).await {
            return Ok(start_failed(&client, &id, auto_remove, &status).await);
        }
        print(&format!("{id}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let fg = Foreground {
        id: id.clone(),
        auto_remove,
        sig_proxy: args.stream.sig_proxy,
        tty: options.tty,
        stdin: options.interactive,
        detach_keys: args.stream.detach_keys.clone().unwrap_or_default(),
    };
    match foreground(&client, &fg).await {
        Ok(code) => Ok(code),
        Err(e) => {
            if auto_remove {
                remove_quietly(&client, &id).await;
            }
            Err(e)
        }
    }
}

/// A container run in the foreground (`run` without -d, `start -a`).
#[derive(Clone, Debug, Default)]
pub struct Foreground {
    pub id: String,
    /// Remove the container if its start fails (--rm).
    pub auto_remove: bool,
    /// Forward signals (only without a tty, as docker).
    pub sig_proxy: bool,
    /// The container has a tty.
    pub tty: bool,
    /// The user's stdin goes to the container.
    pub stdin: bool,
    pub detach_keys: String,
}

/// Attach, start, stream until the exit (or a detach).
pub async fn foreground(client: &Client, fg: &Foreground) -> Result<ExitCode, CliError> {
    let mut containers = client.containers();
    let request = AttachRequest {
        id: fg.id.clone(),
        stdin: fg.stdin,
        detach_keys: fg.detach_keys.clone(),
    };
    let attached = open(&mut containers, &request).await?;
    let size = if fg.tty { terminal::size() } else { None };
    if let Err(status) = start(client, &fg.id, size).await {
        return Ok(start_failed(client, &fg.id, fg.auto_remove, &status).await);
    }
    let session = Session {
        tx: attached.tx,
        to_msg: input_msg,
        tty: fg.tty,
        stdin: fg.stdin,
        proxy: (fg.sig_proxy && !fg.tty).then(|| (containers.clone(), fg.id.clone())),
    };
    let end = session.run(events(attached.events)).await?;
    if let End::Exit(x) = &end {
        if !x.error.is_empty() && x.exit_code != 0 {
            report(&CliError::Invalid(x.error.clone()));
        }
    }
    Ok(ExitCode::from(end.exit_code()))
}

async fn start(client: &Client, id: &str, size: Option<(u32, u32)>) -> Result<(), Status> {
    client
        .containers()
        .start(StartContainerRequest {
            id: id.to_owned(),
            console_size: size.map(|(width, height)| ConsoleSize { width, height }),
        })
        .await
        .map(|_| ())
}

/// Reports a failed start as docker does and gives the exit code; with
/// --rm makes sure the container goes (berthd may have removed it).
async fn start_failed(client: &Client, id: &str, auto_remove: bool, status: &Status) -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "Error: {}",
        CliError::from(status.clone())
    );
    if auto_remove {
        remove_quietly(client, id).await;
    }
    ExitCode::from(start_failure_code(status))
}

async fn remove_quietly(client: &Client, id: &str) {
    let _ = client
        .containers()
        .remove(RemoveContainerRequest {
            id: id.to_owned(),
            force: true,
            remove_volumes: true,
        })
        .await;
}

/// 126 or 127 for a command that could not be executed (berthd's
/// `berth-exit-code` metadata, else docker's reading of the message), 125
/// for anything else.
pub fn start_failure_code(status: &Status) -> u8 {
    let from_metadata = status
        .metadata()
        .get(EXIT_CODE_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|c| [EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND].contains(c));
    if let Some(code) = from_metadata {
        return code;
    }
    if status.code() != Code::FailedPrecondition {
        return EXIT_BERTH;
    }
    let message = status.message().to_lowercase();
    // docker's `runStartContainerErr` strings; a bare "not found" could be
    // anything (a user, a mount source) and is not an exec failure.
    if ["executable file not found", "no such file or directory"]
        .iter()
        .any(|m| message.contains(m))
    {
        EXIT_NOT_FOUND
    } else if ["permission denied", "is a directory"]
        .iter()
        .any(|m| message.contains(m))
    {
        EXIT_CANNOT_EXECUTE
    } else {
        EXIT_BERTH
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_code(status: Status, code: &str) -> Status {
        let mut status = status;
        status
            .metadata_mut()
            .insert(EXIT_CODE_METADATA, code.parse().unwrap());
        status
    }

    #[test]
    fn exec_failures_map_to_docker_codes() {
        let fp = Status::failed_precondition;
        assert_eq!(start_failure_code(&with_code(fp("whatever"), "127")), 127);
        assert_eq!(start_failure_code(&with_code(fp("whatever"), "126")), 126);
        // The metadata wins over the message.
        assert_eq!(
            start_failure_code(&with_code(fp("permission denied"), "127")),
            127
        );
        assert_eq!(
            start_failure_code(&fp("exec: \"nosuch\": executable file not found in $PATH")),
            127
        );
        assert_eq!(
            start_failure_code(&fp("exec /etc/passwd: permission denied")),
            126
        );
        assert_eq!(start_failure_code(&fp("exec /tmp: is a directory")), 126);
        assert_eq!(
            start_failure_code(&fp(
                "exec: \"/nosuch\": stat /nosuch: no such file or directory"
            )),
            127
        );
        assert_eq!(start_failure_code(&fp("container is running")), 125);
        assert_eq!(start_failure_code(&fp("user nosuchuser not found")), 125);
        assert_eq!(start_failure_code(&Status::internal("not found")), 125);
        assert_eq!(start_failure_code(&with_code(fp("x"), "3")), 125);
    }
}
