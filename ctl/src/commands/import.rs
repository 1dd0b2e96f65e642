//! `berth import`: a root filesystem tarball becomes a one-layer image.

use berth_proto::v1::{import_request::Payload, ImportHeader, ImportRequest};

use super::{print, Ctx};
use crate::cli::ImportArgs;
use crate::error::CliError;
use crate::stream;

pub async fn import(ctx: &Ctx, args: &ImportArgs) -> Result<(), CliError> {
    if args.source.contains("://") {
        return Err(CliError::Invalid(
            "importing from a URL is not supported".into(),
        ));
    }
    let source = if args.source == "-" {
        stream::open_stdin(
            "refusing to read a tarball from a terminal: redirect stdin or name a file",
        )?
    } else {
        stream::open_file(&args.source).await?
    };
    let client = ctx.connect().await?;
    let mut images = client.images();
    let response = stream::upload(
        source,
        Some(ImportRequest {
            payload: Some(Payload::Header(header(args))),
        }),
        |data| ImportRequest {
            payload: Some(Payload::Data(data)),
        },
        |requests| images.import(requests),
    )
    .await?;
    print(&format!("{}\n", response.id))
}

fn header(args: &ImportArgs) -> ImportHeader {
    ImportHeader {
        reference: args.reference.clone().unwrap_or_default(),
        changes: args.changes.clone(),
        message: args.message.clone().unwrap_or_default(),
        platform: args.platform.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_refused_before_dialling() {
        let ctx = Ctx {
            host: "unix:///nonexistent/berth.sock".into(),
            namespace: "default".into(),
        };
        let args = ImportArgs {
            changes: vec![],
            message: None,
            platform: None,
            source: "https://example.com/rootfs.tar".into(),
            reference: None,
        };
        let err = import(&ctx, &args).await.unwrap_err();
        assert_eq!(err.to_string(), "importing from a URL is not supported");
    }

    #[test]
    fn header_carries_the_flags() {
        let args = ImportArgs {
            changes: vec!["CMD [\"sh\"]".into()],
            message: Some("m".into()),
            platform: Some("linux/arm64".into()),
            source: "-".into(),
            reference: Some("app:v1".into()),
        };
        let h = header(&args);
        assert_eq!(h.reference, "app:v1");
        assert_eq!(h.changes, vec!["CMD [\"sh\"]"]);
        assert_eq!(h.message, "m");
        assert_eq!(h.platform, "linux/arm64");
    }
}
