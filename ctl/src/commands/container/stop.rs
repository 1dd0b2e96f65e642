//! `berth stop` and `berth restart`.

use std::process::ExitCode;

use berth_proto::v1::{RestartContainerRequest, StopContainerRequest};

use super::super::Ctx;
use super::each_target;
use crate::cli::{RestartArgs, StopArgs};
use crate::error::CliError;

/// The timeout the API reads as "the container's own stop timeout".
const TIMEOUT_UNSET: i32 = -1;

pub async fn stop(ctx: &Ctx, args: &StopArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let containers = client.containers();
    let timeout = args.time.unwrap_or(TIMEOUT_UNSET);
    let signal = args.signal.clone().unwrap_or_default();
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        let signal = signal.clone();
        async move {
            containers
                .stop(StopContainerRequest {
                    id,
                    timeout,
                    signal,
                })
                .await?;
            Ok(())
        }
    })
    .await
}

pub async fn restart(ctx: &Ctx, args: &RestartArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let containers = client.containers();
    let timeout = args.time.unwrap_or(TIMEOUT_UNSET);
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        async move {
            containers
                .restart(RestartContainerRequest { id, timeout })
                .await?;
            Ok(())
        }
    })
    .await
}
