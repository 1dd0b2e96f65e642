//! `berth start`: starts each container (printing it), or with -a one
//! container attached, exiting with its exit code as `run` does.

use std::process::ExitCode;

use berth_proto::v1::StartContainerRequest;

use super::super::Ctx;
use super::each_target;
use super::run::foreground;
use crate::cli::StartArgs;
use crate::error::CliError;

pub async fn start(ctx: &Ctx, args: &StartArgs) -> Result<ExitCode, CliError> {
    if args.attach && args.containers.len() > 1 {
        return Err(CliError::Invalid(
            "you cannot start and attach multiple containers at once".into(),
        ));
    }
    let client = ctx.connect().await?;
    if args.attach {
        // berthd keeps the container's own --rm; nothing to remove here.
        return foreground(&client, &args.containers[0], false, true).await;
    }
    let containers = client.containers();
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        async move {
            containers.start(StartContainerRequest { id }).await?;
            Ok(())
        }
    })
    .await
}
