//! `berth push` (also `berth image push`): berthd sends the image's blobs
//! and manifest to the registry its name points at, with the credentials
//! the CLI keeps for that registry, and streams docker's progress events.

use berth_proto::v1::{transfer_progress, PushImageRequest};

use super::pull::no_result;
use super::{print, Ctx};
use crate::cli::PushArgs;
use crate::credentials;
use crate::error::CliError;
use crate::progress::{self, Sink};
use crate::registry;

pub async fn push(ctx: &Ctx, args: &PushArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let request = PushImageRequest {
        reference: args.reference.clone(),
        auth: Some(credentials::auth_for(&registry::key_of_reference(
            &args.reference,
        ))),
    };
    let mut stream = client
        .images()
        .push(request)
        .await
        .map_err(CliError::Daemon)?
        .into_inner();
    let mut renderer = progress::renderer(Sink::Stdout, args.quiet);
    match progress::follow(&mut stream, renderer.as_mut()).await? {
        Some(transfer_progress::Result::Push(_)) => {}
        _ => return Err(no_result("push")),
    }
    // Without -q the digest line said it all; with -q docker prints the
    // name pushed.
    if args.quiet {
        print(&format!("{}\n", registry::normalized(&args.reference)))?;
    }
    Ok(())
}
