//! `berth images`, `berth tag`, `berth rmi`.

use std::collections::HashSet;

use berth_proto::v1::{ImageSummary, ListImagesRequest, RemoveImageRequest, TagImageRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{print, report, Ctx};
use crate::cli::{Format, ImagesArgs, RmiArgs, TagArgs};
use crate::error::CliError;
use crate::format::{go_time_string, human_size, json_line, short_id, time_ago, Table};

pub async fn list(ctx: &Ctx, args: &ImagesArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let images = client
        .images()
        .list(ListImagesRequest {
            reference: args.reference.clone().unwrap_or_default(),
            all: false,
        })
        .await?
        .into_inner()
        .images;
    print(&render(&images, args, Utc::now())?)
}

/// docker's `images --format json` object (keys in Go's sorted map order).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageJson {
    created_at: String,
    created_since: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    repository: String,
    size: String,
    tag: String,
}

fn render(
    images: &[ImageSummary],
    args: &ImagesArgs,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    let id = |image: &ImageSummary| {
        if args.no_trunc {
            image.id.clone()
        } else {
            short_id(&image.id)
        }
    };
    if args.quiet {
        let mut seen = HashSet::new();
        return Ok(images
            .iter()
            .map(id)
            .filter(|id| seen.insert(id.clone()))
            .map(|id| format!("{id}\n"))
            .collect());
    }
    if args.format == Format::Json {
        let mut out = String::new();
        for image in images {
            let line = json_line(&ImageJson {
                created_at: go_time_string(&image.created),
                created_since: time_ago(&image.created, now),
                digest: digest_of(image),
                id: id(image),
                repository: image.repository.clone(),
                size: human_size(image.size),
                tag: image.tag.clone(),
            })
            .map_err(|source| CliError::Json {
                context: "encode image".into(),
                source,
            })?;
            out.push_str(&line);
        }
        return Ok(out);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = Table::new(&header);
    for image in images {
        let mut row = vec![image.repository.clone(), image.tag.clone()];
        if args.digests {
            row.push(digest_of(image));
        }
        row.extend([
            id(image),
            time_ago(&image.created, now),
            human_size(image.size),
        ]);
        table.push(row);
    }
    Ok(table.render())
}

/// The digest of the repository digest that belongs to this row's
/// repository ("<none>" if there is none).
fn digest_of(image: &ImageSummary) -> String {
    let repository = &image.repository;
    let split: Vec<(&str, &str)> = image
        .repo_digests
        .iter()
        .filter_map(|d| d.rsplit_once('@'))
        .collect();
    split
        .iter()
        .find(|(name, _)| name == repository || name.ends_with(&format!("/{repository}")))
        .or_else(|| split.first())
        .map_or_else(|| "<none>".to_owned(), |(_, digest)| (*digest).to_owned())
}

pub async fn tag(ctx: &Ctx, args: &TagArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    client
        .images()
        .tag(TagImageRequest {
            source: args.source.clone(),
            target: args.target.clone(),
        })
        .await?;
    Ok(())
}

/// Removes each image in turn; a failure is reported and the rest still go.
pub async fn rmi(ctx: &Ctx, args: &RmiArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let mut images = client.images();
    let mut failed = false;
    for reference in &args.images {
        let request = RemoveImageRequest {
            reference: reference.clone(),
            force: args.force,
        };
        match images.remove(request).await {
            Ok(response) => {
                let response = response.into_inner();
                let mut out = String::new();
                for name in &response.untagged {
                    out.push_str(&format!("Untagged: {name}\n"));
                }
                for id in &response.deleted {
                    out.push_str(&format!("Deleted: {id}\n"));
                }
                print(&out)?;
            }
            Err(status) => {
                report(&status.into());
                failed = true;
            }
        }
    }
    super::after_reports(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::parse_time;

    const ID: &str = "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";

    fn summary(repository: &str, tag: &str) -> ImageSummary {
        ImageSummary {
            id: ID.into(),
            repository: repository.into(),
            tag: tag.into(),
            created: "2024-05-01T10:00:00Z".into(),
            size: 4_261_274,
            repo_digests: vec![format!("{repository}@sha256:feed")],
            ..Default::default()
        }
    }

    fn args() -> ImagesArgs {
        ImagesArgs {
            reference: None,
            quiet: false,
            no_trunc: false,
            digests: false,
            format: Format::Table,
        }
    }

    fn now() -> DateTime<Utc> {
        parse_time("2024-05-01T12:00:00Z").unwrap()
    }

    #[test]
    fn table() {
        let images = [summary("busybox", "latest"), summary("busybox", "1.36")];
        let out = render(&images, &args(), now()).unwrap();
        assert_eq!(
            out,
            "\
REPOSITORY   TAG       IMAGE ID       CREATED       SIZE
busybox      latest    a416a98b71e2   2 hours ago   4.26MB
busybox      1.36      a416a98b71e2   2 hours ago   4.26MB
"
        );
    }

    #[test]
    fn digests_column() {
        let a = ImagesArgs {
            digests: true,
            ..args()
        };
        let out = render(&[summary("busybox", "latest")], &a, now()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("REPOSITORY   TAG       DIGEST        IMAGE ID"));
        assert!(lines[1].contains("   sha256:feed   a416a98b71e2   "));
    }

    #[test]
    fn quiet_prints_unique_ids() {
        let a = ImagesArgs {
            quiet: true,
            ..args()
        };
        let images = [summary("busybox", "latest"), summary("busybox", "1.36")];
        assert_eq!(render(&images, &a, now()).unwrap(), "a416a98b71e2\n");
        let a = ImagesArgs {
            quiet: true,
            no_trunc: true,
            ..args()
        };
        assert_eq!(render(&images, &a, now()).unwrap(), format!("{ID}\n"));
    }

    #[test]
    fn json_lines() {
        let a = ImagesArgs {
            format: Format::Json,
            ..args()
        };
        let out = render(&[summary("<none>", "<none>")], &a, now()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["ID"], "a416a98b71e2");
        assert_eq!(v["Repository"], "<none>");
        assert_eq!(v["Size"], "4.26MB");
        assert_eq!(v["CreatedSince"], "2 hours ago");
        assert_eq!(v["CreatedAt"], "2024-05-01 10:00:00 +0000 UTC");
        assert_eq!(v["Digest"], "sha256:feed");
        assert_eq!(out.lines().count(), 1);
    }

    #[test]
    fn digest_without_repo_digests() {
        let mut s = summary("busybox", "latest");
        s.repo_digests.clear();
        assert_eq!(digest_of(&s), "<none>");
        s.repo_digests = vec!["docker.io/library/busybox@sha256:beef".into()];
        assert_eq!(digest_of(&s), "sha256:beef");
    }
}
