//! `berth content ls|verify`: the namespace's blobs.

use std::collections::{BTreeMap, HashMap};

use berth_proto::v1::{ContentInfo, ListContentRequest, VerifyContentRequest, VerifyResult};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{print, Ctx};
use crate::cli::{ContentLsArgs, Format};
use crate::error::CliError;
use crate::format::{age, human_size, json_line, Table};

pub async fn ls(ctx: &Ctx, args: &ContentLsArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let blobs = client
        .content()
        .list(ListContentRequest {})
        .await?
        .into_inner()
        .blobs;
    print(&render(&blobs, args, Utc::now())?)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BlobJson<'a> {
    created_at: &'a str,
    digest: &'a str,
    labels: BTreeMap<&'a str, &'a str>,
    /// Bytes, as a number: there is no docker shape to follow here.
    size: i64,
}

fn render(
    blobs: &[ContentInfo],
    args: &ContentLsArgs,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    if args.quiet {
        return Ok(blobs.iter().map(|b| format!("{}\n", b.digest)).collect());
    }
    if args.format == Format::Json {
        let mut out = String::new();
        for blob in blobs {
            let line = json_line(&BlobJson {
                created_at: &blob.created_at,
                digest: &blob.digest,
                labels: sorted(&blob.labels),
                size: blob.size,
            })
            .map_err(|source| CliError::Json {
                context: "encode blob".into(),
                source,
            })?;
            out.push_str(&line);
        }
        return Ok(out);
    }
    let mut table = Table::new(&["DIGEST", "SIZE", "AGE", "LABELS"]);
    for blob in blobs {
        table.push(vec![
            blob.digest.clone(),
            human_size(blob.size),
            age(&blob.created_at, now),
            labels_cell(&blob.labels),
        ]);
    }
    Ok(table.render())
}

fn sorted(labels: &HashMap<String, String>) -> BTreeMap<&str, &str> {
    labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// "k=v,k2=v2" sorted by key, or "-" (containerd's `ctr content ls`).
fn labels_cell(labels: &HashMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_owned();
    }
    sorted(labels)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Prints a verdict per blob and a summary; returns whether all were good.
pub async fn verify(ctx: &Ctx) -> Result<bool, CliError> {
    let client = ctx.connect().await?;
    let results = client
        .content()
        .verify(VerifyContentRequest {})
        .await?
        .into_inner()
        .results;
    let (text, all_ok) = render_verify(&results);
    print(&text)?;
    Ok(all_ok)
}

fn render_verify(results: &[VerifyResult]) -> (String, bool) {
    let mut out = String::new();
    let mut bad = 0;
    for result in results {
        if result.ok {
            out.push_str(&format!("OK {}\n", result.digest));
        } else {
            bad += 1;
            out.push_str(&format!("BAD {}: {}\n", result.digest, result.error));
        }
    }
    let total = results.len();
    let noun = if total == 1 { "blob" } else { "blobs" };
    out.push_str(&format!(
        "{total} {noun} verified, {} ok, {bad} bad\n",
        total - bad
    ));
    (out, bad == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::parse_time;

    fn blob(digest: &str, labels: &[(&str, &str)]) -> ContentInfo {
        ContentInfo {
            digest: digest.into(),
            size: 1234,
            created_at: "2024-05-01T10:00:00Z".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn listing() {
        let now = parse_time("2024-05-01T12:00:00Z").unwrap();
        let blobs = [
            blob("sha256:aa", &[("b", "2"), ("a", "1")]),
            blob("sha256:bb", &[]),
        ];
        let args = ContentLsArgs {
            quiet: false,
            format: Format::Table,
        };
        assert_eq!(
            render(&blobs, &args, now).unwrap(),
            "\
DIGEST      SIZE      AGE       LABELS
sha256:aa   1.23kB    2 hours   a=1,b=2
sha256:bb   1.23kB    2 hours   -
"
        );
        let quiet = ContentLsArgs {
            quiet: true,
            format: Format::Table,
        };
        assert_eq!(
            render(&blobs, &quiet, now).unwrap(),
            "sha256:aa\nsha256:bb\n"
        );
        let json = ContentLsArgs {
            quiet: false,
            format: Format::Json,
        };
        let out = render(&blobs, &json, now).unwrap();
        let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(first["Digest"], "sha256:aa");
        assert_eq!(first["Size"], 1234);
        assert_eq!(first["Labels"]["a"], "1");
    }

    #[test]
    fn verify_report() {
        let results = [
            VerifyResult {
                digest: "sha256:aa".into(),
                ok: true,
                error: String::new(),
            },
            VerifyResult {
                digest: "sha256:bb".into(),
                ok: false,
                error: "digest mismatch".into(),
            },
        ];
        let (text, ok) = render_verify(&results);
        assert!(!ok);
        assert_eq!(
            text,
            "OK sha256:aa\nBAD sha256:bb: digest mismatch\n2 blobs verified, 1 ok, 1 bad\n"
        );
        let (_, ok) = render_verify(&results[..1]);
        assert!(ok);
    }
}
