//! `berth ps`: docker's columns, `-a -q -s -n -l --no-trunc --filter`, and
//! `--format` as docker reads it (see [`ListFormat`]).

use berth_proto::v1::{Container, ListContainersRequest};
use chrono::{DateTime, Utc};

use super::super::listing::ListFormat;
use super::super::{print, Ctx};
use super::status::{command_text, image_text, ports_text, size_text, status_text};
use crate::cli::PsArgs;
use crate::error::CliError;
use crate::format::{go_time_string, short_id, time_ago};
use crate::template::Json;

/// docker's default `ps` table.
const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
/// What `-s` adds to it.
const SIZE_COLUMN: &str = "\t{{.Size}}";

/// The header cell of each field, as docker names them.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Labels", "LABELS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Mounts", "MOUNTS"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Ports", "PORTS"),
    ("RunningFor", "CREATED"),
    ("Size", "SIZE"),
    ("State", "STATE"),
    ("Status", "STATUS"),
];

pub async fn ps(ctx: &Ctx, args: &PsArgs) -> Result<(), CliError> {
    // A bad template is reported before anything is asked of berthd.
    let format = list_format(args)?;
    let limit = limit(args);
    let client = ctx.connect().await?;
    let mut containers = client
        .containers()
        .list(ListContainersRequest {
            all: args.all || limit.is_some(),
            size: args.size,
            filters: args.filter.clone(),
        })
        .await?
        .into_inner()
        .containers;
    if let Some(n) = limit {
        // berthd lists newest first.
        containers.truncate(n);
    }
    print(&render(&format, &containers, !args.no_trunc, Utc::now())?)
}

/// -l is the newest one, -n N the newest N (both include stopped ones).
fn limit(args: &PsArgs) -> Option<usize> {
    if args.latest {
        return Some(1);
    }
    args.last
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok())
}

/// `-q`, `--format`, or docker's default table (with SIZE for `-s`).
fn list_format(args: &PsArgs) -> Result<ListFormat, CliError> {
    let default = if args.size {
        format!("{DEFAULT_TABLE}{SIZE_COLUMN}")
    } else {
        DEFAULT_TABLE.to_owned()
    };
    ListFormat::parse(args.format.as_deref(), args.quiet, &default)
}

fn render(
    format: &ListFormat,
    containers: &[Container],
    trunc: bool,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    let rows: Vec<Json> = containers.iter().map(|c| row(c, trunc, now)).collect();
    format.render(HEADERS, &rows)
}

fn id_text(id: &str, trunc: bool) -> String {
    if trunc {
        short_id(id)
    } else {
        id.to_owned()
    }
}

/// The fields a ps template sees, docker's names and text, keys sorted as
/// docker's `--format json` prints them.
pub(crate) fn row(c: &Container, trunc: bool, now: DateTime<Utc>) -> Json {
    let mut labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    let mut networks = c.networks.clone();
    networks.sort();
    Json::object_of_strings([
        ("Command", command_text(&c.command, trunc)),
        ("CreatedAt", go_time_string(&c.created)),
        ("ID", id_text(&c.id, trunc)),
        ("Image", image_text(&c.image, &c.image_id, trunc)),
        ("Labels", labels.join(",")),
        ("LocalVolumes", "0".to_owned()),
        ("Mounts", String::new()),
        ("Names", c.name.trim_start_matches('/').to_owned()),
        ("Networks", networks.join(",")),
        ("Ports", ports_text(&c.ports)),
        ("RunningFor", time_ago(&c.created, now)),
        ("Size", size_text(c.size_rw, c.size_root_fs)),
        (
            "State",
            c.state
                .as_ref()
                .map(|s| s.status.clone())
                .unwrap_or_default(),
        ),
        ("Status", status_text(c.state.as_ref(), now)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::parse_time;
    use berth_proto::v1::ContainerState;

    const ID: &str = "4f66ad9a0b2e8a1c9f0f6f3b3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";

    fn now() -> DateTime<Utc> {
        parse_time("2024-05-01T12:00:00Z").unwrap()
    }

    fn container(name: &str, status: &str) -> Container {
        Container {
            id: ID.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"
                .into(),
            command: vec!["sleep".into(), "1000".into()],
            created: "2024-05-01T11:59:55Z".into(),
            state: Some(ContainerState {
                status: status.into(),
                running: status == "running",
                started_at: "2024-05-01T11:59:57Z".into(),
                finished_at: "0001-01-01T00:00:00Z".into(),
                ..Default::default()
            }),
            size_rw: 0,
            size_root_fs: 4_261_274,
            ..Default::default()
        }
    }

    fn args(extra: &[&str]) -> PsArgs {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let mut argv = vec!["berth", "ps"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Ps(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn render(extra: &[&str], containers: &[Container]) -> String {
        let a = args(extra);
        super::render(&list_format(&a).unwrap(), containers, !a.no_trunc, now()).unwrap()
    }

    #[test]
    fn default_table() {
        let out = render(&[], &[container("/web", "running")]);
        assert_eq!(
            out,
            "\
CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS     NAMES
4f66ad9a0b2e   busybox   \"sleep 1000\"   5 seconds ago   Up 3 seconds             web
"
        );
    }

    #[test]
    fn ports_and_networks() {
        use berth_proto::v1::PortMapping;
        let mut c = container("web", "running");
        c.ports = vec![
            PortMapping {
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
            },
            PortMapping {
                container_port: 53,
                protocol: "udp".into(),
                ..Default::default()
            },
        ];
        c.networks = vec!["front".into(), "back".into()];
        let out = render(&[], std::slice::from_ref(&c));
        assert_eq!(
            out,
            "\
CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS                          NAMES
4f66ad9a0b2e   busybox   \"sleep 1000\"   5 seconds ago   Up 3 seconds   53/udp, 0.0.0.0:8080->80/tcp   web
"
        );
        assert_eq!(
            render(&["--format", "{{.Ports}}|{{.Networks}}"], &[c]),
            "53/udp, 0.0.0.0:8080->80/tcp|back,front\n"
        );
    }

    #[test]
    fn size_column_and_no_trunc() {
        let out = render(&["-s", "--no-trunc"], &[container("web", "running")]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("NAMES     SIZE"), "{out}");
        assert!(lines[1].starts_with(ID), "{out}");
        assert!(lines[1].ends_with("web       0B (virtual 4.26MB)"), "{out}");
    }

    #[test]
    fn quiet_and_templates() {
        let list = [container("a", "running"), container("b", "exited")];
        assert_eq!(render(&["-q"], &list), "4f66ad9a0b2e\n4f66ad9a0b2e\n");
        assert_eq!(render(&["--format", "{{.Names}}"], &list), "a\nb\n");
        assert_eq!(
            render(&["--format", "table {{.Names}}\\t{{.State}}"], &list),
            "NAMES     STATE\na         running\nb         exited\n"
        );
        let json = render(&["--format", "json"], &list[..1]);
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["ID"], "4f66ad9a0b2e");
        assert_eq!(v["Command"], "\"sleep 1000\"");
        assert_eq!(v["Status"], "Up 3 seconds");
        assert_eq!(v["RunningFor"], "5 seconds ago");
        assert_eq!(v["CreatedAt"], "2024-05-01 11:59:55 +0000 UTC");
        assert_eq!(v["State"], "running");
        assert!(json.starts_with("{\"Command\":"), "{json}");
    }

    #[test]
    fn limits() {
        assert_eq!(limit(&args(&[])), None);
        assert_eq!(limit(&args(&["-l"])), Some(1));
        assert_eq!(limit(&args(&["-n", "3"])), Some(3));
        assert_eq!(limit(&args(&["--last", "-1"])), None);
    }

    #[test]
    fn bad_template_is_an_error() {
        let err = list_format(&args(&["--format", "{{.Names"]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("template parsing error"), "{err}");
    }
}
