//! `berth run`: create, attach, start, stream the output, exit with the
//! container's exit code (or, with -d, create, start and print the id).
//!
//! Exit codes are docker's: the container's own; 126 when its command
//! cannot be executed, 127 when it is not found; 125 when berth fails.

use std::io::Write;
use std::process::ExitCode;

use berth_proto::v1::{RemoveContainerRequest, StartContainerRequest};
use tonic::{Code, Status};

use super::super::{print, Ctx};
use super::attach::{attach, exit_code, follow};
use super::create::{build_request, create_container};
use crate::cli::RunArgs;
use crate::client::Client;
use crate::error::CliError;
use crate::flags::env::process_env;

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
    let request = build_request(options, &process_env)?;
    let client = ctx.connect().await?;
    let id = create_container(&client, request).await?;
    let auto_remove = options.rm;
    if args.detach {
        if let Err(status) = start(&client, &id).await {
            return Ok(start_failed(&client, &id, auto_remove, &status).await);
        }
        print(&format!("{id}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    match foreground(&client, &id, auto_remove, args.sig_proxy && !options.tty).await {
        Ok(code) => Ok(code),
        Err(e) => {
            if auto_remove {
                remove_quietly(&client, &id).await;
            }
            Err(e)
        }
    }
}

/// Attach, start, stream until the exit. Shared with `start -a`.
pub async fn foreground(
    client: &Client,
    id: &str,
    auto_remove: bool,
    sig_proxy: bool,
) -> Result<ExitCode, CliError> {
    let mut containers = client.containers();
    let stream = attach(&mut containers, id).await?;
    if let Err(status) = start(client, id).await {
        return Ok(start_failed(client, id, auto_remove, &status).await);
    }
    let proxy = sig_proxy.then(|| (containers.clone(), id.to_owned()));
    let exit = follow(stream, proxy).await?;
    if !exit.error.is_empty() && exit.exit_code != 0 {
        super::super::report(&CliError::Invalid(exit.error.clone()));
    }
    Ok(ExitCode::from(exit_code(exit.exit_code)))
}

async fn start(client: &Client, id: &str) -> Result<(), Status> {
    client
        .containers()
        .start(StartContainerRequest { id: id.to_owned() })
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
