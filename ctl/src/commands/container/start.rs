//! `berth start`: starts each container (printing it), or with -a (or -i)
//! one container attached, exiting with its exit code as `run` does.

use std::process::ExitCode;

use berth_proto::v1::StartContainerRequest;

use super::super::Ctx;
use super::attach::stdio_of;
use super::each_target;
use super::run::{foreground, Foreground};
use crate::cli::StartArgs;
use crate::error::CliError;

pub async fn start(ctx: &Ctx, args: &StartArgs) -> Result<ExitCode, CliError> {
    let attach = args.attach || args.interactive;
    if attach && args.containers.len() > 1 {
        return Err(CliError::Invalid(
            "you cannot start and attach multiple containers at once".into(),
        ));
    }
    let client = ctx.connect().await?;
    if attach {
        let st = stdio_of(&mut client.containers(), &args.containers[0]).await?;
        let fg = Foreground {
            id: st.id,
            // berthd keeps the container's own --rm; nothing to remove here.
            auto_remove: false,
            sig_proxy: true,
            tty: st.tty,
            stdin: args.interactive && st.open_stdin,
            detach_keys: args.detach_keys.clone().unwrap_or_default(),
        };
        if fg.tty && fg.stdin && !crate::terminal::stdin_is_tty() {
            return Err(CliError::Invalid(super::attach::NOT_A_TTY.into()));
        }
        return foreground(&client, &fg).await;
    }
    let containers = client.containers();
    each_target(&args.containers, |id| {
        let mut containers = containers.clone();
        async move {
            containers
                .start(StartContainerRequest {
                    id,
                    console_size: None,
                })
                .await?;
            Ok(())
        }
    })
    .await
}
