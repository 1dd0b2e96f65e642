//! `berth search`: docker 24's table (NAME, DESCRIPTION, STARS, OFFICIAL),
//! descriptions cut to 45 characters unless `--no-trunc`, docker's filters
//! (`stars=N`, `is-official=BOOL`, `is-automated=BOOL`, applied here to
//! what berthd found) and `--format` as for `ps`: "table", "json", "table
//! TEMPLATE" or a bare template over .Name .Description .StarCount
//! .IsOfficial .IsAutomated (the last two "[OK]" or empty, as docker's).

use berth_proto::v1::{SearchRequest, SearchResult};

use super::{print, Ctx};
use crate::cli::SearchArgs;
use crate::credentials;
use crate::error::CliError;
use crate::format::{ellipsis, Table};
use crate::registry;
use crate::template::{Json, Template};

/// docker's default search table.
const DEFAULT_TABLE: &str = "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
/// docker cuts descriptions to this many characters.
const DESCRIPTION_WIDTH: usize = 45;
/// docker's accepted range for --limit.
const MAX_LIMIT: u32 = 100;

const HEADERS: &[(&str, &str)] = &[
    ("Description", "DESCRIPTION"),
    ("IsAutomated", "AUTOMATED"),
    ("IsOfficial", "OFFICIAL"),
    ("Name", "NAME"),
    ("StarCount", "STARS"),
];

pub async fn search(ctx: &Ctx, args: &SearchArgs) -> Result<(), CliError> {
    // Flags are checked before anything is asked of berthd.
    let filters = Filters::parse(&args.filter)?;
    let format = SearchFormat::parse(args.format.as_deref())?;
    let limit = match args.limit {
        Some(n) if !(1..=MAX_LIMIT).contains(&n) => {
            return Err(CliError::Invalid(format!(
                "limit {n} is outside the range of [1, {MAX_LIMIT}]"
            )))
        }
        Some(n) => n,
        None => 0,
    };
    let client = ctx.connect().await?;
    let results = client
        .images()
        .search(SearchRequest {
            term: args.term.clone(),
            limit,
            auth: Some(credentials::auth_for(&registry::key_of_search_term(
                &args.term,
            ))),
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .results;
    let kept: Vec<SearchResult> = results.into_iter().filter(|r| filters.keep(r)).collect();
    print(&format.render(&kept, !args.no_trunc)?)
}

/// docker's search filters.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filters {
    /// At least this many stars.
    stars: u32,
    official: Option<bool>,
    automated: Option<bool>,
}

impl Filters {
    fn parse(specs: &[String]) -> Result<Filters, CliError> {
        let mut filters = Filters::default();
        for spec in specs {
            let (name, value) = spec.split_once('=').ok_or_else(|| {
                CliError::Invalid(format!(
                    "bad format of filter '{spec}' (expected name=value)"
                ))
            })?;
            let invalid = || CliError::Invalid(format!("invalid filter '{name}={value}'"));
            match name {
                // The highest of several wins, as in docker.
                "stars" => {
                    let n: u32 = value.trim().parse().map_err(|_| invalid())?;
                    filters.stars = filters.stars.max(n);
                }
                "is-official" | "is-automated" => {
                    let wanted = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(invalid()),
                    };
                    let slot = if name == "is-official" {
                        &mut filters.official
                    } else {
                        &mut filters.automated
                    };
                    if slot.is_some_and(|was| was != wanted) {
                        return Err(invalid());
                    }
                    *slot = Some(wanted);
                }
                _ => return Err(CliError::Invalid(format!("invalid filter '{name}'"))),
            }
        }
        Ok(filters)
    }

    fn keep(&self, r: &SearchResult) -> bool {
        r.star_count >= self.stars
            && self.official.is_none_or(|o| o == r.is_official)
            && self.automated.is_none_or(|a| a == r.is_automated)
    }
}

enum SearchFormat {
    Table(Template),
    Lines(Template),
}

impl SearchFormat {
    fn parse(format: Option<&str>) -> Result<SearchFormat, CliError> {
        // docker turns a typed "\t" or "\n" into the character.
        let format = format
            .unwrap_or("table")
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Ok(match format.as_str() {
            "table" => SearchFormat::Table(Template::parse(DEFAULT_TABLE)?),
            "json" => SearchFormat::Lines(Template::parse("{{json .}}")?),
            other => match other.strip_prefix("table ") {
                Some(source) => SearchFormat::Table(Template::parse(source.trim())?),
                None => SearchFormat::Lines(Template::parse(other)?),
            },
        })
    }

    fn render(&self, results: &[SearchResult], trunc: bool) -> Result<String, CliError> {
        match self {
            SearchFormat::Lines(template) => {
                let mut out = String::new();
                for r in results {
                    out.push_str(&template.render(&row(r, trunc))?);
                    out.push('\n');
                }
                Ok(out)
            }
            SearchFormat::Table(template) => {
                let header = template.render(&Json::object_of_strings(
                    HEADERS.iter().map(|(k, v)| (*k, (*v).to_owned())),
                ))?;
                let header: Vec<&str> = header.split('\t').collect();
                let mut table = Table::new(&header);
                for r in results {
                    let line = template.render(&row(r, trunc))?;
                    table.push(line.split('\t').map(str::to_owned).collect());
                }
                Ok(table.render())
            }
        }
    }
}

/// docker's "[OK]" for true, nothing for false.
fn ok_mark(b: bool) -> String {
    if b { "[OK]" } else { "" }.to_owned()
}

/// The fields a search template sees, docker's names and text.
fn row(r: &SearchResult, trunc: bool) -> Json {
    let description = r.description.replace(['\n', '\r'], " ");
    let description = if trunc {
        ellipsis(&description, DESCRIPTION_WIDTH)
    } else {
        description
    };
    Json::object_of_strings([
        ("Description", description),
        ("IsAutomated", ok_mark(r.is_automated)),
        ("IsOfficial", ok_mark(r.is_official)),
        ("Name", r.name.clone()),
        ("StarCount", r.star_count.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, description: &str, stars: u32, official: bool) -> SearchResult {
        SearchResult {
            name: name.into(),
            description: description.into(),
            star_count: stars,
            is_official: official,
            is_automated: name.contains("auto"),
        }
    }

    fn sample() -> Vec<SearchResult> {
        vec![
            result(
                "busybox",
                "Busybox base image.",
                3300,
                true,
            ),
            result(
                "radial/busyboxplus",
                "Full-chain, Internet enabled, busybox made from scratch.\nComes in git and cURL flavors.",
                54,
                false,
            ),
            result("someone/busybox-auto", "", 0, false),
        ]
    }

    fn render(format: Option<&str>, results: &[SearchResult], trunc: bool) -> String {
        SearchFormat::parse(format)
            .unwrap()
            .render(results, trunc)
            .unwrap()
    }

    #[test]
    fn the_default_table() {
        assert_eq!(
            render(None, &sample(), true),
            "NAME                   DESCRIPTION                                     STARS     OFFICIAL\n\
             busybox                Busybox base image.                             3300      [OK]\n\
             radial/busyboxplus     Full-chain, Internet enabled, busybox made f…   54        \n\
             someone/busybox-auto                                                   0         \n"
        );
    }

    #[test]
    fn no_trunc_keeps_the_description_on_one_line() {
        let out = render(None, &sample()[1..2], false);
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.contains(
                "Full-chain, Internet enabled, busybox made from scratch. Comes in git and cURL flavors."
            ),
            "{out}"
        );
    }

    #[test]
    fn templates_and_json() {
        assert_eq!(
            render(
                Some("{{.Name}}: {{.StarCount}} {{.IsOfficial}}"),
                &sample()[..2],
                true
            ),
            "busybox: 3300 [OK]\nradial/busyboxplus: 54 \n"
        );
        assert_eq!(
            render(
                Some("table {{.Name}}\\t{{.IsAutomated}}"),
                &sample()[2..],
                true
            ),
            "NAME                   AUTOMATED\nsomeone/busybox-auto   [OK]\n"
        );
        let json = render(Some("json"), &sample()[..1], true);
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(v["Name"], "busybox");
        assert_eq!(v["StarCount"], "3300");
        assert_eq!(v["IsOfficial"], "[OK]");
        assert_eq!(v["IsAutomated"], "");
    }

    fn kept(specs: &[&str]) -> Vec<String> {
        let specs: Vec<String> = specs.iter().map(|s| (*s).to_owned()).collect();
        let filters = Filters::parse(&specs).unwrap();
        sample()
            .into_iter()
            .filter(|r| filters.keep(r))
            .map(|r| r.name)
            .collect()
    }

    #[test]
    fn filters() {
        assert_eq!(kept(&[]).len(), 3);
        assert_eq!(kept(&["stars=50"]), ["busybox", "radial/busyboxplus"]);
        assert_eq!(kept(&["stars=10", "stars=1000"]), ["busybox"]);
        assert_eq!(kept(&["is-official=true"]), ["busybox"]);
        assert_eq!(
            kept(&["is-official=false"]),
            ["radial/busyboxplus", "someone/busybox-auto"]
        );
        assert_eq!(kept(&["is-automated=true"]), ["someone/busybox-auto"]);
        assert_eq!(
            kept(&["is-automated=false", "stars=1"]),
            ["busybox", "radial/busyboxplus"]
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        for (spec, want) in [
            (
                "stars",
                "bad format of filter 'stars' (expected name=value)",
            ),
            ("stars=many", "invalid filter 'stars=many'"),
            ("is-official=yes", "invalid filter 'is-official=yes'"),
            ("color=red", "invalid filter 'color'"),
        ] {
            let err = Filters::parse(&[spec.to_owned()]).unwrap_err();
            assert_eq!(err.to_string(), want, "{spec}");
        }
        let both = [
            "is-official=true".to_owned(),
            "is-official=false".to_owned(),
        ];
        assert!(Filters::parse(&both).is_err());
    }
}
