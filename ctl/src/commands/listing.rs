//! The `--format` of docker's listing verbs (`ps`, `network ls`), as
//! docker reads it: "table" (the verb's default table), "json" (one object
//! per line), "table TEMPLATE" (aligned, with a header) or a bare Go
//! template (one line per row); `-q` prints each row's `.ID`. Each verb
//! gives its rows as [`Json`] objects of docker's field names and the
//! header cell of each field.

use crate::error::CliError;
use crate::format::Table;
use crate::template::{Json, Template};

/// How a listing is printed.
pub enum ListFormat {
    /// Aligned columns under a header.
    Table(Template),
    /// One line per row.
    Lines(Template),
}

impl ListFormat {
    /// `format` as given with `--format`; `default_table` is the verb's
    /// "table" template. `quiet` wins over `format`, as in docker.
    pub fn parse(
        format: Option<&str>,
        quiet: bool,
        default_table: &str,
    ) -> Result<ListFormat, CliError> {
        if quiet {
            return Ok(ListFormat::Lines(Template::parse("{{.ID}}")?));
        }
        let format = format.unwrap_or("table");
        // docker turns a typed "\t" or "\n" into the character.
        let format = format.replace("\\t", "\t").replace("\\n", "\n");
        Ok(match format.as_str() {
            "table" => ListFormat::Table(Template::parse(default_table)?),
            "json" => ListFormat::Lines(Template::parse("{{json .}}")?),
            other => match other.strip_prefix("table ") {
                Some(source) => ListFormat::Table(Template::parse(source.trim())?),
                None => ListFormat::Lines(Template::parse(other)?),
            },
        })
    }

    /// The rows through the template; `headers` maps each field to its
    /// header cell.
    pub fn render(&self, headers: &[(&str, &str)], rows: &[Json]) -> Result<String, CliError> {
        let mut out = String::new();
        match self {
            ListFormat::Lines(template) => {
                for row in rows {
                    out.push_str(&template.render(row)?);
                    out.push('\n');
                }
            }
            ListFormat::Table(template) => {
                let header = template.render(&Json::object_of_strings(
                    headers.iter().map(|(k, v)| (*k, (*v).to_owned())),
                ))?;
                let header: Vec<&str> = header.split('\t').collect();
                let mut table = Table::new(&header);
                for row in rows {
                    let line = template.render(row)?;
                    table.push(line.split('\t').map(str::to_owned).collect());
                }
                out = table.render();
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &[(&str, &str)] = &[("ID", "THE ID"), ("Name", "NAME")];

    fn rows() -> Vec<Json> {
        vec![
            Json::object_of_strings([("ID", "1".to_owned()), ("Name", "one".to_owned())]),
            Json::object_of_strings([("ID", "2".to_owned()), ("Name", "two".to_owned())]),
        ]
    }

    fn render(format: Option<&str>, quiet: bool) -> String {
        ListFormat::parse(format, quiet, "{{.ID}}\t{{.Name}}")
            .unwrap()
            .render(HEADERS, &rows())
            .unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(
            render(None, false),
            "THE ID    NAME\n1         one\n2         two\n"
        );
        assert_eq!(render(Some("{{.Name}}"), false), "one\ntwo\n");
        assert_eq!(render(Some("{{.Name}}"), true), "1\n2\n");
        assert_eq!(render(Some("table {{.Name}}"), false), "NAME\none\ntwo\n");
        assert_eq!(
            render(Some("json"), false),
            "{\"ID\":\"1\",\"Name\":\"one\"}\n{\"ID\":\"2\",\"Name\":\"two\"}\n"
        );
        assert_eq!(
            render(Some("{{.ID}}\\t{{.Name}}"), false),
            "1\tone\n2\ttwo\n"
        );
        assert!(ListFormat::parse(Some("{{.ID"), false, "").is_err());
    }
}
