//! `berth history`: the config's history matched to the image's layers, by
//! docker's rules.

use berth_proto::v1::{GetImageRequest, ImageDetail, Layer};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::inspect::parse_config;
use super::{print, Ctx};
use crate::cli::{Format, HistoryArgs};
use crate::error::CliError;
use crate::format::{ellipsis, human_duration, human_size, json_line, parse_time, short_id, Table};

/// CREATED BY is cut to this many characters unless --no-trunc.
const CREATED_BY_WIDTH: usize = 45;

pub async fn history(ctx: &Ctx, args: &HistoryArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let detail = client
        .images()
        .get(GetImageRequest {
            reference: args.image.clone(),
        })
        .await?
        .into_inner();
    let rows = rows_of(&detail)?;
    print(&render(&rows, args, Utc::now())?)
}

/// One line of history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// The image ID on the top row, None (shown "<missing>") below it.
    pub id: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub created_by: String,
    pub size: i64,
    pub comment: String,
}

fn rows_of(detail: &ImageDetail) -> Result<Vec<HistoryRow>, CliError> {
    let config = parse_config(detail)?;
    Ok(build_rows(&config, &detail.layers, &detail.id))
}

/// Rows newest first. Each history entry that is not an `empty_layer`
/// takes the next layer from the bottom for its size; a config without
/// history gives one row per layer.
pub fn build_rows(config: &Value, layers: &[Layer], image_id: &str) -> Vec<HistoryRow> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let history = config
        .get("history")
        .and_then(Value::as_array)
        .filter(|h| !h.is_empty());
    let mut rows: Vec<HistoryRow> = match history {
        Some(history) => {
            let mut next_layer = layers.iter();
            history
                .iter()
                .map(|entry| {
                    let empty = entry
                        .get("empty_layer")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let size = if empty {
                        0
                    } else {
                        next_layer.next().map_or(0, |l| l.unpacked_size)
                    };
                    HistoryRow {
                        id: None,
                        created: parse_time(&text(entry, "created")),
                        created_by: text(entry, "created_by"),
                        size,
                        comment: text(entry, "comment"),
                    }
                })
                .collect()
        }
        None => {
            let created = parse_time(&text(config, "created"));
            layers
                .iter()
                .map(|layer| HistoryRow {
                    id: None,
                    created,
                    created_by: String::new(),
                    size: layer.unpacked_size,
                    comment: String::new(),
                })
                .collect()
        }
    };
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = Some(image_id.to_owned());
    }
    rows
}

/// docker's `history --format json` object (keys sorted as Go prints them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryJson {
    comment: String,
    created_at: String,
    created_by: String,
    created_since: String,
    #[serde(rename = "ID")]
    id: String,
    size: String,
}

fn render(rows: &[HistoryRow], args: &HistoryArgs, now: DateTime<Utc>) -> Result<String, CliError> {
    let id = |row: &HistoryRow| match &row.id {
        Some(id) if args.no_trunc => id.clone(),
        Some(id) => short_id(id),
        None => "<missing>".to_owned(),
    };
    let created_at = |row: &HistoryRow| {
        row.created
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_else(|| "N/A".to_owned())
    };
    let created_since = |row: &HistoryRow| match row.created {
        Some(t) if args.human => format!("{} ago", human_duration(now - t)),
        _ => created_at(row),
    };
    let created_by = |row: &HistoryRow| {
        let by = row.created_by.replace('\t', " ");
        if args.no_trunc {
            by
        } else {
            ellipsis(&by, CREATED_BY_WIDTH)
        }
    };
    let size = |row: &HistoryRow| {
        if args.human {
            human_size(row.size)
        } else {
            row.size.to_string()
        }
    };

    if args.quiet {
        return Ok(rows.iter().map(|r| format!("{}\n", id(r))).collect());
    }
    if args.format == Format::Json {
        let mut out = String::new();
        for row in rows {
            let line = json_line(&HistoryJson {
                comment: row.comment.clone(),
                created_at: created_at(row),
                created_by: created_by(row),
                created_since: created_since(row),
                id: id(row),
                size: size(row),
            })
            .map_err(|source| CliError::Json {
                context: "encode history".into(),
                source,
            })?;
            out.push_str(&line);
        }
        return Ok(out);
    }
    let mut table = Table::new(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
    for row in rows {
        table.push(vec![
            id(row),
            created_since(row),
            created_by(row),
            size(row),
            row.comment.clone(),
        ]);
    }
    Ok(table.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";

    fn layer(size: i64) -> Layer {
        Layer {
            unpacked_size: size,
            ..Default::default()
        }
    }

    fn args() -> HistoryArgs {
        HistoryArgs {
            image: "x".into(),
            no_trunc: false,
            quiet: false,
            human: true,
            format: Format::Table,
            host: None,
        }
    }

    fn now() -> DateTime<Utc> {
        parse_time("2024-05-01T12:00:00Z").unwrap()
    }

    fn config() -> Value {
        json!({
            "created": "2024-05-01T10:00:00Z",
            "history": [
                {"created": "2024-04-01T00:00:00Z", "created_by": "ADD file:abc in / "},
                {"created": "2024-04-01T00:00:01Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
                {"created": "2024-05-01T10:00:00Z", "created_by": "RUN\techo hi", "comment": "built"}
            ]
        })
    }

    #[test]
    fn rows_match_layers_bottom_up_newest_first() {
        let rows = build_rows(&config(), &[layer(4_261_274), layer(1000)], ID);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].id.as_deref(), Some(ID));
        assert_eq!(rows[0].created_by, "RUN\techo hi");
        assert_eq!(rows[0].size, 1000);
        assert_eq!(rows[0].comment, "built");
        assert_eq!(rows[1].id, None);
        assert_eq!(rows[1].size, 0);
        assert_eq!(rows[2].size, 4_261_274);
    }

    #[test]
    fn missing_layers_count_as_zero() {
        let rows = build_rows(&config(), &[layer(10)], ID);
        assert_eq!(
            rows.iter().map(|r| r.size).collect::<Vec<_>>(),
            vec![0, 0, 10]
        );
    }

    #[test]
    fn no_history_gives_a_row_per_layer() {
        let config = json!({"created": "2024-05-01T10:00:00Z"});
        let rows = build_rows(&config, &[layer(1), layer(2)], ID);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].size, 2);
        assert_eq!(rows[0].id.as_deref(), Some(ID));
        assert_eq!(rows[1].size, 1);
        assert_eq!(rows[1].created, parse_time("2024-05-01T10:00:00Z"));
    }

    #[test]
    fn table_like_docker() {
        let rows = build_rows(&config(), &[layer(4_261_274), layer(1000)], ID);
        let out = render(&rows, &args(), now()).unwrap();
        assert_eq!(
            out,
            "\
IMAGE          CREATED       CREATED BY           SIZE      COMMENT
a416a98b71e2   2 hours ago   RUN echo hi          1kB       built
<missing>      4 weeks ago   CMD [\"sh\"]           0B        
<missing>      4 weeks ago   ADD file:abc in /    4.26MB    
"
        );
    }

    #[test]
    fn truncation_and_raw_values() {
        let long = format!("/bin/sh -c {}", "x".repeat(100));
        let config = json!({"history": [{"created": "2024-05-01T10:00:00Z", "created_by": long}]});
        let rows = build_rows(&config, &[layer(1234)], ID);
        let out = render(&rows, &args(), now()).unwrap();
        let line = out.lines().nth(1).unwrap();
        assert!(
            line.contains(&format!("/bin/sh -c {}…", "x".repeat(33))),
            "{line}"
        );

        let raw = HistoryArgs {
            no_trunc: true,
            human: false,
            ..args()
        };
        let out = render(&rows, &raw, now()).unwrap();
        let line = out.lines().nth(1).unwrap();
        assert!(line.starts_with(ID), "{line}");
        assert!(line.contains("2024-05-01T10:00:00Z"), "{line}");
        assert!(line.contains(&long), "{line}");
        assert!(line.contains("   1234"), "{line}");
    }

    #[test]
    fn quiet_and_json() {
        let rows = build_rows(&config(), &[layer(1), layer(2)], ID);
        let quiet = HistoryArgs {
            quiet: true,
            ..args()
        };
        assert_eq!(
            render(&rows, &quiet, now()).unwrap(),
            "a416a98b71e2\n<missing>\n<missing>\n"
        );
        let json = HistoryArgs {
            format: Format::Json,
            ..args()
        };
        let out = render(&rows, &json, now()).unwrap();
        let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(first["ID"], "a416a98b71e2");
        assert_eq!(first["CreatedBy"], "RUN echo hi");
        assert_eq!(first["CreatedSince"], "2 hours ago");
        assert_eq!(first["CreatedAt"], "2024-05-01T10:00:00Z");
        assert_eq!(first["Size"], "2B");
        assert_eq!(out.lines().count(), 3);
    }
}
