//! `berth rename`.

use berth_proto::v1::RenameContainerRequest;

use super::super::Ctx;
use crate::cli::RenameArgs;
use crate::error::CliError;

pub async fn rename(ctx: &Ctx, args: &RenameArgs) -> Result<(), CliError> {
    let new_name = args.new_name.trim_start_matches('/');
    if new_name.is_empty() {
        return Err(CliError::Invalid(
            "Neither old nor new names may be empty".into(),
        ));
    }
    let client = ctx.connect().await?;
    client
        .containers()
        .rename(RenameContainerRequest {
            id: args.container.clone(),
            new_name: new_name.to_owned(),
        })
        .await?;
    Ok(())
}
