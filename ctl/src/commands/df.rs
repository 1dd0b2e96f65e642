//! `berth system df [-v] [--format]`: what images, containers, local volumes
//! and the build cache take on disk, as docker prints it.

use berth_proto::v1::{Container, DiskUsageRequest, DiskUsageResponse, ImageUsage};
use chrono::{DateTime, Utc};

use super::container::ps;
use super::listing::ListFormat;
use super::{print, Ctx};
use crate::cli::DfArgs;
use crate::error::CliError;
use crate::format::{human_size, human_size_with_precision, short_id, time_ago, Table};
use crate::template::Json;

/// docker's summary table.
const SUMMARY_TABLE: &str = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const SUMMARY_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];
/// `-v`'s containers section.
const CONTAINERS_TABLE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";

pub async fn df(ctx: &Ctx, args: &DfArgs) -> Result<(), CliError> {
    if args.verbose && args.format.is_some() {
        return Err(CliError::Invalid(
            "the verbose and the format options conflict".into(),
        ));
    }
    let format = ListFormat::parse(args.format.as_deref(), false, SUMMARY_TABLE)?;
    let client = ctx.connect().await?;
    let usage = client
        .system()
        .disk_usage(DiskUsageRequest {})
        .await?
        .into_inner();
    let text = if args.verbose {
        verbose(&usage, Utc::now())?
    } else {
        format.render(SUMMARY_HEADERS, &summary_rows(&usage))?
    };
    print(&text)
}

/// docker's `units.HumanSize` (4 significant digits), which the summary uses.
fn size4(bytes: i64) -> String {
    human_size_with_precision(bytes as f64, 4)
}

/// "SIZE (P%)" of `total`, or the size alone when `total` is 0.
fn reclaimable(bytes: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", size4(bytes), bytes * 100 / total)
    } else {
        size4(bytes)
    }
}

/// Running, paused and restarting containers are active, as docker counts.
fn active(c: &Container) -> bool {
    c.state.as_ref().is_some_and(|s| {
        ["running", "paused", "restarting"]
            .iter()
            .any(|w| s.status.contains(w))
    })
}

fn summary_row(kind: &str, total: usize, active: usize, size: String, recl: String) -> Json {
    Json::object_of_strings([
        ("Type", kind.to_owned()),
        ("TotalCount", total.to_string()),
        ("Active", active.to_string()),
        ("Size", size),
        ("Reclaimable", recl),
    ])
}

/// One row per kind, with docker's arithmetic: an image in use by a
/// container keeps its unique bytes; a container's or volume's bytes are
/// reclaimable when nothing runs it or references it.
fn summary_rows(u: &DiskUsageResponse) -> Vec<Json> {
    let used: i64 = u
        .images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| image_size(i) - i.shared_size)
        .sum();
    let rw: i64 = u.containers.iter().map(|c| c.size_rw).sum();
    let idle_rw: i64 = u
        .containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| c.size_rw)
        .sum();
    let volumes: i64 = u.volumes.iter().map(|v| v.size).sum();
    let unused_volumes: i64 = u
        .volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    vec![
        summary_row(
            "Images",
            u.images.len(),
            u.images.iter().filter(|i| i.containers > 0).count(),
            size4(u.layers_size),
            reclaimable(u.layers_size - used, u.layers_size),
        ),
        summary_row(
            "Containers",
            u.containers.len(),
            u.containers.iter().filter(|c| active(c)).count(),
            size4(rw),
            reclaimable(idle_rw, rw),
        ),
        summary_row(
            "Local Volumes",
            u.volumes.len(),
            u.volumes.iter().filter(|v| v.links > 0).count(),
            size4(volumes),
            reclaimable(unused_volumes, volumes),
        ),
        summary_row("Build Cache", 0, 0, size4(0), size4(0)),
    ]
}

fn image_size(i: &ImageUsage) -> i64 {
    i.summary.as_ref().map_or(0, |s| s.size)
}

/// `-v`: a table per kind under docker's section titles.
fn verbose(u: &DiskUsageResponse, now: DateTime<Utc>) -> Result<String, CliError> {
    let mut out = String::from("Images space usage:\n\n");
    let mut images = Table::new(&[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ]);
    for i in &u.images {
        images.push(image_row(i, now));
    }
    out.push_str(&images.render());
    out.push_str("\nContainers space usage:\n\n");
    let rows: Vec<Json> = u
        .containers
        .iter()
        .map(|c| {
            // docker leaves the virtual size out here.
            let c = Container {
                size_root_fs: 0,
                ..c.clone()
            };
            ps::row(&c, true, now)
        })
        .collect();
    let containers = ListFormat::parse(None, false, CONTAINERS_TABLE)?;
    out.push_str(&containers.render(ps::HEADERS, &rows)?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut volumes = Table::new(&["VOLUME NAME", "LINKS", "SIZE"]);
    for v in &u.volumes {
        volumes.push(vec![v.name.clone(), v.links.to_string(), size4(v.size)]);
    }
    out.push_str(&volumes.render());
    out.push_str(&format!("\nBuild cache usage: {}\n\n", size4(0)));
    let cache = Table::new(&[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]);
    out.push_str(&cache.render());
    Ok(out)
}

/// Only the first tag is shown, as docker does.
fn image_row(i: &ImageUsage, now: DateTime<Utc>) -> Vec<String> {
    let (repo, tag) = match i.repo_tags.first().and_then(|t| t.rsplit_once(':')) {
        Some((repo, tag)) => (repo.to_owned(), tag.to_owned()),
        None => ("<none>".to_owned(), "<none>".to_owned()),
    };
    let (id, created) = i
        .summary
        .as_ref()
        .map(|s| (short_id(&s.id), time_ago(&s.created, now)))
        .unwrap_or_default();
    let size = image_size(i);
    vec![
        repo,
        tag,
        id,
        created,
        human_size(size),
        size4(i.shared_size),
        size4(size - i.shared_size),
        i.containers.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::v1::{ContainerState, ImageSummary, VolumeUsage};

    fn image(id: &str, size: i64, shared: i64, containers: i64, tags: &[&str]) -> ImageUsage {
        ImageUsage {
            summary: Some(ImageSummary {
                id: id.to_owned(),
                size,
                created: "2026-12-01T00:00:00Z".to_owned(),
                ..ImageSummary::default()
            }),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            shared_size: shared,
            containers,
        }
    }

    fn container(status: &str, size_rw: i64) -> Container {
        Container {
            id: "4f66ad9a0b2e8a1c9f0f6f3b3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d".to_owned(),
            name: "c".to_owned(),
            image: "busybox".to_owned(),
            command: vec!["sh".to_owned()],
            created: "2026-12-07T00:00:00Z".to_owned(),
            state: Some(ContainerState {
                status: status.to_owned(),
                ..ContainerState::default()
            }),
            size_rw,
            size_root_fs: size_rw + 1000,
            ..Container::default()
        }
    }

    fn usage() -> DiskUsageResponse {
        DiskUsageResponse {
            layers_size: 3_000_000,
            images: vec![
                image(
                    "sha256:aaaaaaaaaaaaaaaa",
                    2_000_000,
                    1_000_000,
                    1,
                    &["busybox:latest"],
                ),
                image("sha256:bbbbbbbbbbbbbbbb", 2_000_000, 1_000_000, 0, &[]),
            ],
            containers: vec![container("running", 4000), container("exited", 1000)],
            volumes: vec![
                VolumeUsage {
                    name: "data".to_owned(),
                    links: 1,
                    size: 500,
                },
                VolumeUsage {
                    name: "old".to_owned(),
                    links: 0,
                    size: 1500,
                },
            ],
        }
    }

    #[test]
    fn summary_is_dockers_arithmetic() {
        let format = ListFormat::parse(None, false, SUMMARY_TABLE).unwrap();
        let text = format
            .render(SUMMARY_HEADERS, &summary_rows(&usage()))
            .unwrap();
        assert_eq!(
            text,
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          2         1         3MB       2MB (66%)\n\
             Containers      2         1         5kB       1kB (20%)\n\
             Local Volumes   2         1         2kB       1.5kB (75%)\n\
             Build Cache     0         0         0B        0B\n"
        );
    }

    #[test]
    fn empty_usage_has_no_percentages() {
        let rows = summary_rows(&DiskUsageResponse::default());
        let recl: Vec<String> = rows
            .iter()
            .map(|r| r.get("Reclaimable").unwrap().to_compact())
            .collect();
        assert_eq!(recl, ["\"0B\"", "\"0B\"", "\"0B\"", "\"0B\""]);
    }

    #[test]
    fn verbose_sections() {
        let now: DateTime<Utc> = "2026-12-07T00:00:10Z".parse().unwrap();
        let text = verbose(&usage(), now).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Images space usage:");
        assert!(lines[2].starts_with("REPOSITORY   TAG "), "{text}");
        assert!(
            lines[3].starts_with("busybox      latest    aaaaaaaaaaaa"),
            "{text}"
        );
        assert!(
            lines[3].ends_with("2MB       1MB           1MB           1"),
            "{text}"
        );
        assert!(
            lines[4].starts_with("<none>       <none>    bbbbbbbbbbbb"),
            "{text}"
        );
        assert_eq!(lines[6], "Containers space usage:");
        assert!(lines[8].starts_with("CONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE"));
        // No "(virtual ...)" in this section.
        assert!(!text.contains("virtual"), "{text}");
        assert!(text.contains("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\ndata          1         500B\nold           0         1.5kB\n"), "{text}");
        assert!(text.ends_with("\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"), "{text}");
    }
}
