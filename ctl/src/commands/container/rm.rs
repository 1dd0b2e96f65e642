//! `berth rm`. `-v` (remove anonymous volumes) is accepted: berth has no
//! volumes yet, so there is never one to remove.

use std::process::ExitCode;

use berth_proto::v1::RemoveContainerRequest;

use super::super::Ctx;
use super::each_target;
use crate::cli::RmArgs;
use crate::error::CliError;

pub async fn rm(ctx: &Ctx, args: &RmArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let containers = client.containers();
    let force = args.force;
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        async move {
            containers
                .remove(RemoveContainerRequest { id, force })
                .await?;
            Ok(())
        }
    })
    .await
}
