//! `berth pull` (also `berth image pull`), and the pull `run` and `create`
//! make for a missing image. berthd does the transfer and streams docker's
//! progress events; the CLI sends the credentials it keeps for the image's
//! registry and draws the events ([`progress`]).

use berth_proto::v1::{transfer_progress, PullImageRequest, PullResult};
use tonic::Status;

use super::{print, Ctx};
use crate::cli::PullArgs;
use crate::client::Client;
use crate::credentials;
use crate::error::CliError;
use crate::progress::{self, Sink};
use crate::registry;

pub async fn pull(ctx: &Ctx, args: &PullArgs) -> Result<(), CliError> {
    if args.all_tags {
        return Err(CliError::Invalid(
            "pulling every tag of a repository (-a/--all-tags) is not supported by berth: \
             name the tag to pull"
                .into(),
        ));
    }
    let client = ctx.connect().await?;
    if !args.quiet && registry::is_name_only(&args.reference) {
        print(&format!("Using default tag: {}\n", registry::DEFAULT_TAG))?;
    }
    let request = PullImageRequest {
        reference: args.reference.clone(),
        platform: args.platform.clone().unwrap_or_default(),
        all_platforms: args.all_platforms,
        auth: None,
    };
    let result = pull_image(&client, request, Sink::Stdout, args.quiet).await?;
    let reference = if result.reference.is_empty() {
        registry::normalized(&args.reference)
    } else {
        result.reference
    };
    print(&format!("{reference}\n"))
}

/// Pulls with the credentials of the reference's registry, drawing the
/// progress on `sink` (none when `quiet`); the pull's result.
pub async fn pull_image(
    client: &Client,
    mut request: PullImageRequest,
    sink: Sink,
    quiet: bool,
) -> Result<PullResult, CliError> {
    request.auth = Some(credentials::auth_for(&registry::key_of_reference(
        &request.reference,
    )));
    let mut stream = client
        .images()
        .pull(request)
        .await
        .map_err(CliError::Daemon)?
        .into_inner();
    let mut renderer = progress::renderer(sink, quiet);
    match progress::follow(&mut stream, renderer.as_mut()).await? {
        Some(transfer_progress::Result::Pull(result)) => Ok(result),
        _ => Err(no_result("pull")),
    }
}

/// A stream that ended without the result its last event must carry.
pub fn no_result(verb: &str) -> CliError {
    CliError::Daemon(Status::unknown(format!(
        "berthd ended the {verb} without its result"
    )))
}
