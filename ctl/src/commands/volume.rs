//! `berth volume create|ls|inspect|rm|prune`: docker's volume verbs over
//! berthd's Volumes service. `ls` prints docker's DRIVER, VOLUME NAME
//! table sorted by name (and takes `--format` as `ps` does); `inspect`
//! prints the objects berthd shapes as docker's; `rm` and `inspect` go on
//! past failures and exit 1 if any failed. Errors read as docker-cli
//! prints them: "Error: No such volume: NAME" for a volume that is not
//! there, "Error response from daemon: ..." for berthd's other refusals.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use berth_proto::v1::{
    CreateVolumeRequest, InspectVolumeRequest, ListVolumesRequest, PruneVolumesRequest,
    RemoveVolumeRequest, Volume,
};
use tonic::{Code, Status};

use super::container::exit_after;
use super::listing::ListFormat;
use super::{confirm, inspect, print, Ctx};
use crate::cli::{
    VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::client::Client;
use crate::error::{CliError, DAEMON_PREFIX};
use crate::flags::env::build_labels;
use crate::format::{natural_cmp, prune_report};
use crate::template::Json;

/// docker's default `volume ls` table.
const DEFAULT_TABLE: &str = "{{.Driver}}\t{{.Name}}";

/// What `-q` prints.
const QUIET: &str = "{{.Name}}";

/// The header cell of each field, as docker names them.
const HEADERS: &[(&str, &str)] = &[
    ("Driver", "DRIVER"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Size", "SIZE"),
];

/// docker's prune warning.
const PRUNE_WARNING: &str =
    "WARNING! This will remove all local volumes not used by at least one container.";

pub async fn create(ctx: &Ctx, args: &VolumeCreateArgs) -> Result<(), CliError> {
    let labels = build_labels(&args.label, &[])?;
    let client = ctx.connect().await?;
    let volume = client
        .volumes()
        .create(CreateVolumeRequest {
            name: args.name.clone().unwrap_or_default(),
            driver: args.driver.clone(),
            options: options(&args.opt),
            labels,
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .volume
        .unwrap_or_default();
    print(&format!("{}\n", volume.name))
}

/// `-o K=V` as docker's map option reads it: "K" alone is K="".
fn options(opts: &[String]) -> HashMap<String, String> {
    opts.iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

pub async fn ls(ctx: &Ctx, args: &VolumeLsArgs) -> Result<(), CliError> {
    // A bad template is reported before anything is asked of berthd.
    let format = match args.quiet {
        true => ListFormat::parse(Some(QUIET), false, DEFAULT_TABLE)?,
        false => ListFormat::parse(args.format.as_deref(), false, DEFAULT_TABLE)?,
    };
    let client = ctx.connect().await?;
    let volumes = client
        .volumes()
        .list(ListVolumesRequest {
            filters: args.filter.clone(),
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .volumes;
    print(&render_ls(&format, volumes)?)
}

fn render_ls(format: &ListFormat, mut volumes: Vec<Volume>) -> Result<String, CliError> {
    volumes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let rows: Vec<Json> = volumes.iter().map(row).collect();
    format.render(HEADERS, &rows)
}

/// The fields a `volume ls` template sees, keys sorted as docker's
/// `--format json` prints them (Links and Size are "N/A" without -s, as
/// docker's are).
fn row(v: &Volume) -> Json {
    let mut labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    Json::object_of_strings([
        ("Driver", v.driver.clone()),
        ("Labels", labels.join(",")),
        ("Links", "N/A".to_owned()),
        ("Mountpoint", v.mountpoint.clone()),
        ("Name", v.name.clone()),
        ("Scope", v.scope.clone()),
        ("Size", "N/A".to_owned()),
    ])
}

/// One volume's inspect object (berthd shapes it as docker's); berthd's
/// refusal as it came.
pub async fn inspect_one(client: &Client, name: &str) -> Result<Json, CliError> {
    let request = InspectVolumeRequest {
        name: name.to_owned(),
    };
    let json = client.volumes().inspect(request).await?.into_inner().json;
    Json::parse(&json).map_err(|source| CliError::Json {
        context: format!("volume {name}: bad inspect JSON"),
        source,
    })
}

pub async fn inspect(ctx: &Ctx, args: &VolumeInspectArgs) -> Result<ExitCode, CliError> {
    let template = inspect::template(args.format.as_deref())?;
    let client = ctx.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.volumes {
        match inspect_one(&client, name).await {
            Ok(object) => found.push(object),
            Err(CliError::Status(status)) => errors.push(volume_error(name, &status)),
            Err(e) => return Err(e),
        }
    }
    print(&inspect::render(&found, template.as_ref())?)?;
    errors.iter().for_each(|line| eprint_line(line));
    Ok(exit_after(!errors.is_empty()))
}

/// A refusal of a request about volume `name`, as docker-cli prints it.
fn volume_error(name: &str, status: &Status) -> String {
    let err = CliError::Status(status.clone());
    match status.code() {
        Code::NotFound => format!("Error: No such volume: {name}"),
        _ => format!("{DAEMON_PREFIX}{err}"),
    }
}

fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Removes each volume in turn, printing its name; failures are reported
/// and the rest still go (exit 1 at the end). With -f a volume that is
/// not there is no failure.
pub async fn rm(ctx: &Ctx, args: &VolumeRmArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let mut volumes = client.volumes();
    let mut failed = false;
    for name in &args.volumes {
        let request = RemoveVolumeRequest { name: name.clone() };
        match volumes.remove(request).await {
            Ok(_) => print(&format!("{name}\n"))?,
            Err(status) if args.force && status.code() == Code::NotFound => {}
            Err(status) => {
                eprint_line(&volume_error(name, &status));
                failed = true;
            }
        }
    }
    Ok(exit_after(failed))
}

pub async fn prune(ctx: &Ctx, args: &VolumePruneArgs) -> Result<(), CliError> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(());
    }
    let client = ctx.connect().await?;
    let pruned = client
        .volumes()
        .prune(PruneVolumesRequest {
            filters: args.filter.clone(),
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner();
    print(&render_prune(&pruned.deleted, pruned.space_reclaimed))
}

/// docker's report of a volume prune.
fn render_prune(deleted: &[String], reclaimed: u64) -> String {
    let reclaimed = i64::try_from(reclaimed).unwrap_or(i64::MAX);
    prune_report(&[("Deleted Volumes:", deleted)], reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
            scope: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    fn ls(format: Option<&str>, quiet: bool) -> String {
        let format = match quiet {
            true => ListFormat::parse(Some(QUIET), false, DEFAULT_TABLE).unwrap(),
            false => ListFormat::parse(format, false, DEFAULT_TABLE).unwrap(),
        };
        let list = vec![
            volume("v10", &[("b", "2"), ("a", "1")]),
            volume("data", &[]),
            volume("v9", &[]),
        ];
        render_ls(&format, list).unwrap()
    }

    #[test]
    fn ls_table_like_docker() {
        assert_eq!(
            ls(None, false),
            "DRIVER    VOLUME NAME\nlocal     data\nlocal     v9\nlocal     v10\n"
        );
        assert_eq!(ls(Some("table"), true), "data\nv9\nv10\n");
        assert_eq!(
            ls(Some("{{.Name}}:{{.Labels}}"), false),
            "data:\nv9:\nv10:a=1,b=2\n"
        );
        assert_eq!(
            ls(Some("table {{.Name}}\t{{.Mountpoint}}"), false)
                .lines()
                .next(),
            Some("VOLUME NAME   MOUNTPOINT")
        );
        assert_eq!(
            ls(Some("json"), false).lines().next(),
            Some(
                "{\"Driver\":\"local\",\"Labels\":\"\",\"Links\":\"N/A\",\
                 \"Mountpoint\":\"/var/lib/berth/volumes/data/_data\",\"Name\":\"data\",\
                 \"Scope\":\"local\",\"Size\":\"N/A\"}"
            )
        );
    }

    #[test]
    fn options_like_docker_map_opts() {
        let o = options(&["type=none".into(), "o=bind,ro".into(), "device".into()]);
        assert_eq!(o["type"], "none");
        assert_eq!(o["o"], "bind,ro");
        assert_eq!(o["device"], "");
    }

    #[test]
    fn errors_read_like_docker_cli() {
        assert_eq!(
            volume_error("v", &Status::not_found("get v: no such volume")),
            "Error: No such volume: v"
        );
        assert_eq!(
            volume_error(
                "v",
                &Status::failed_precondition("remove v: volume is in use - [abc]")
            ),
            "Error response from daemon: remove v: volume is in use - [abc]"
        );
    }

    #[test]
    fn prune_report() {
        assert_eq!(render_prune(&[], 0), "Total reclaimed space: 0B\n");
        assert_eq!(
            render_prune(&["a".into(), "b".into()], 1234),
            "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 1.23kB\n"
        );
    }
}
