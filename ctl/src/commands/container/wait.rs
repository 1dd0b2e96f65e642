//! `berth wait`: blocks until each container is not running and prints its
//! exit code.

use std::process::ExitCode;

use berth_proto::v1::{WaitContainerRequest, WaitContainerResponse};

use super::super::{print, report, Ctx};
use super::exit_after;
use crate::cli::WaitArgs;
use crate::client::Service;
use crate::error::CliError;
use berth_proto::v1::containers_client::ContainersClient;

pub async fn wait(ctx: &Ctx, args: &WaitArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let mut containers = client.containers();
    let mut failed = false;
    for id in &args.containers {
        match wait_one(&mut containers, id).await {
            Ok(code) => print(&format!("{code}\n"))?,
            Err(e) => {
                report(&e);
                failed = true;
            }
        }
    }
    Ok(exit_after(failed))
}

/// The exit code, after the registration message and the exit message.
async fn wait_one(containers: &mut ContainersClient<Service>, id: &str) -> Result<i32, CliError> {
    let mut stream = containers
        .wait(WaitContainerRequest {
            id: id.to_owned(),
            condition: String::new(),
        })
        .await?
        .into_inner();
    while let Some(message) = stream.message().await? {
        match message {
            WaitContainerResponse {
                registered: true, ..
            } => continue,
            WaitContainerResponse { error, .. } if !error.is_empty() => {
                return Err(CliError::Invalid(error))
            }
            WaitContainerResponse { exit_code, .. } => return Ok(exit_code),
        }
    }
    Err(CliError::Invalid(format!(
        "the connection to berthd ended before {id} stopped"
    )))
}
