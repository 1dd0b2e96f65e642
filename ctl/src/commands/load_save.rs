//! `berth load` and `berth save`: image archives streamed to and from berthd.

use std::io::IsTerminal;
use std::path::Path;

use berth_proto::v1::{DataChunk, LoadImagesResponse, SaveImagesRequest};

use super::{print, Ctx};
use crate::cli::{LoadArgs, SaveArgs};
use crate::error::CliError;
use crate::stream::{self, TempFile};

pub async fn load(ctx: &Ctx, args: &LoadArgs) -> Result<(), CliError> {
    // Open the input before dialling, so a missing file or a terminal stdin
    // is reported as such even when berthd is down.
    let source = match args.input.as_deref() {
        Some(path) if path != "-" => stream::open_file(path).await?,
        _ => stream::open_stdin(
            "refusing to read an image archive from a terminal: use -i FILE or redirect stdin",
        )?,
    };
    let client = ctx.connect().await?;
    let mut images = client.images();
    let response = stream::upload(
        source,
        None,
        |data| DataChunk { data },
        |chunks| images.load(chunks),
    )
    .await?;
    print(&render_loaded(&response))
}

fn render_loaded(response: &LoadImagesResponse) -> String {
    let mut out = String::new();
    for name in &response.loaded_names {
        out.push_str(&format!("Loaded image: {name}\n"));
    }
    for id in &response.loaded_ids {
        out.push_str(&format!("Loaded image ID: {id}\n"));
    }
    out
}

pub async fn save(ctx: &Ctx, args: &SaveArgs) -> Result<(), CliError> {
    let to_stdout = matches!(args.output.as_deref(), None | Some("-"));
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(CliError::Invalid(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let client = ctx.connect().await?;
    let chunks = client
        .images()
        .save(SaveImagesRequest {
            references: args.images.clone(),
        })
        .await?
        .into_inner();
    match args.output.as_deref() {
        Some(path) if path != "-" => {
            let (temp, mut file) = TempFile::create(Path::new(path)).await?;
            // On any error `temp` is dropped and the partial file removed.
            stream::download(chunks, &mut file, path).await?;
            temp.persist(file).await
        }
        _ => {
            let mut stdout = tokio::io::stdout();
            stream::download(chunks, &mut stdout, "to stdout").await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_lines() {
        let response = LoadImagesResponse {
            loaded_names: vec!["busybox:latest".into()],
            loaded_ids: vec!["sha256:abc".into()],
        };
        assert_eq!(
            render_loaded(&response),
            "Loaded image: busybox:latest\nLoaded image ID: sha256:abc\n"
        );
    }
}
