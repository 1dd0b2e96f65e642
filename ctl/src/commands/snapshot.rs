//! `berth snapshot ls`.

use berth_proto::v1::{ListSnapshotsRequest, SnapshotInfo};
use serde::Serialize;

use super::{print, Ctx};
use crate::cli::{Format, SnapshotLsArgs};
use crate::error::CliError;
use crate::format::{human_size, json_line, Table};

pub async fn ls(ctx: &Ctx, args: &SnapshotLsArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let snapshots = client
        .snapshots()
        .list(ListSnapshotsRequest {})
        .await?
        .into_inner()
        .snapshots;
    print(&render(&snapshots, args.format)?)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SnapshotJson<'a> {
    created_at: &'a str,
    kind: &'a str,
    name: &'a str,
    parent: &'a str,
    /// Bytes, as a number.
    size: i64,
}

fn render(snapshots: &[SnapshotInfo], format: Format) -> Result<String, CliError> {
    if format == Format::Json {
        let mut out = String::new();
        for s in snapshots {
            let line = json_line(&SnapshotJson {
                created_at: &s.created_at,
                kind: &s.kind,
                name: &s.name,
                parent: &s.parent,
                size: s.size,
            })
            .map_err(|source| CliError::Json {
                context: "encode snapshot".into(),
                source,
            })?;
            out.push_str(&line);
        }
        return Ok(out);
    }
    let mut table = Table::new(&["NAME", "PARENT", "KIND", "SIZE"]);
    for s in snapshots {
        table.push(vec![
            s.name.clone(),
            s.parent.clone(),
            s.kind.clone(),
            human_size(s.size),
        ]);
    }
    Ok(table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing() {
        let snapshots = [
            SnapshotInfo {
                name: "sha256:c1".into(),
                kind: "committed".into(),
                size: 4_261_274,
                ..Default::default()
            },
            SnapshotInfo {
                name: "sha256:c2".into(),
                parent: "sha256:c1".into(),
                kind: "committed".into(),
                size: 0,
                ..Default::default()
            },
        ];
        assert_eq!(
            render(&snapshots, Format::Table).unwrap(),
            "\
NAME        PARENT      KIND        SIZE
sha256:c1               committed   4.26MB
sha256:c2   sha256:c1   committed   0B
"
        );
        let out = render(&snapshots, Format::Json).unwrap();
        let second: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
        assert_eq!(second["Parent"], "sha256:c1");
        assert_eq!(second["Size"], 0);
    }
}
