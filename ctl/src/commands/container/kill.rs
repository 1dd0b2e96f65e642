//! `berth kill`.

use std::process::ExitCode;

use berth_proto::v1::KillContainerRequest;

use super::super::Ctx;
use super::each_target;
use crate::cli::KillArgs;
use crate::error::CliError;

pub async fn kill(ctx: &Ctx, args: &KillArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let containers = client.containers();
    // Empty is SIGKILL, docker's default.
    let signal = args.signal.clone().unwrap_or_default();
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        let signal = signal.clone();
        async move {
            containers.kill(KillContainerRequest { id, signal }).await?;
            Ok(())
        }
    })
    .await
}
