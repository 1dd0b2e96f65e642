//! `berth rm [-f] [-v]`: `-v` also removes the containers' anonymous
//! volumes that no other container references.

use std::process::ExitCode;

use berth_proto::v1::RemoveContainerRequest;

use super::super::Ctx;
use super::each_target;
use crate::cli::RmArgs;
use crate::error::CliError;

pub async fn rm(ctx: &Ctx, args: &RmArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let containers = client.containers();
    let (force, remove_volumes) = (args.force, args.volumes);
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        async move {
            containers
                .remove(RemoveContainerRequest {
                    id,
                    force,
                    remove_volumes,
                })
                .await?;
            Ok(())
        }
    })
    .await
}
