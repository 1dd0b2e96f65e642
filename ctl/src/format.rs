//! Output the way docker prints it: tabwriter-aligned tables, decimal size
//! units with three significant digits ("4.26MB"), "2 hours ago" times,
//! truncated IDs and one JSON object per line.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Docker's tabwriter settings (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`):
/// a column is as wide as its widest cell plus 3, and at least 10.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// A table whose first row is the header. Every column but the last is
/// padded; the last is printed as is, so lines carry no trailing spaces.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
    min_width: usize,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table::with_min_width(header, MIN_WIDTH)
    }

    /// A table whose columns are at least `min_width` wide (`docker top`
    /// uses 20).
    pub fn with_min_width(header: &[&str], min_width: usize) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
            min_width,
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The aligned table, each line ending in '\n'.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let widths: Vec<usize> = widths
            .into_iter()
            .map(|w| (w + PADDING).max(self.min_width))
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// docker's prune report: each non-empty section ("Deleted Volumes:" and
/// its lines, then an empty line), then "Total reclaimed space: SIZE".
pub fn prune_report<S: AsRef<str>>(sections: &[(&str, &[S])], reclaimed: i64) -> String {
    let mut out = String::new();
    for (title, lines) in sections.iter().filter(|(_, l)| !l.is_empty()) {
        out.push_str(title);
        out.push('\n');
        for line in lines.iter() {
            out.push_str(line.as_ref());
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed)
    ));
    out
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, Go's
/// `%.3g` (so 999.5 kB prints as "1e+03kB", exactly as docker does).
pub fn human_size(bytes: i64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// Docker's `units.HumanSizeWithPrecision`; progress bars use precision 4
/// (`units.HumanSize`: "12.35MB").
pub fn human_size_with_precision(bytes: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_format_g(size, precision), UNITS[unit])
}

/// Go's `fmt.Sprintf("%.*g", precision, v)`.
fn go_format_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let precision = precision.max(1);
    // Round to `precision` significant digits first: the exponent after
    // rounding decides between plain and exponent notation, as in Go.
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_owned(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{}{:02}",
            trim_fraction_zeros(&mantissa),
            sign,
            exp.abs()
        )
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{v:.decimals$}")).to_owned()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Docker's `units.HumanDuration`: "Less than a second", "About a minute",
/// "3 hours", "2 weeks"...
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = d.num_milliseconds() as f64 / 3_600_000.0;
    let hours = exact_hours.round() as i64;
    if hours == 1 {
        "About an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

/// Parses an RFC 3339 time; `None` for "" or anything unparseable.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// "2 hours ago", or "N/A" when the time is unknown.
pub fn time_ago(created: &str, now: DateTime<Utc>) -> String {
    match parse_time(created) {
        Some(t) => format!("{} ago", human_duration(now - t)),
        None => "N/A".to_owned(),
    }
}

/// How long ago, without " ago" (containerd's AGE column); "N/A" if unknown.
pub fn age(created: &str, now: DateTime<Utc>) -> String {
    match parse_time(created) {
        Some(t) => human_duration(now - t),
        None => "N/A".to_owned(),
    }
}

/// Go's `time.Time.String()` form docker prints in `CreatedAt`:
/// "2024-01-02 15:04:05 +0000 UTC"; "" when unknown.
pub fn go_time_string(created: &str) -> String {
    parse_time(created)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// Docker's `stringid.TruncateID`: the hex without "sha256:", 12 characters.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// Docker's `formatter.Ellipsis`: at most `max` characters, the last one
/// "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's strconv.Quote for the characters container commands contain.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The order of `sortorder.NaturalLess`, which docker sorts names and
/// port lines with: runs of digits compare as numbers ("80/tcp" before
/// "443/tcp"), digits before other bytes, other bytes as bytes.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        // Zeros first, then the digits: a longer number is larger, equal
        // lengths compare as text, and with equal numbers fewer leading
        // zeros come first.
        let (zi, zj) = (i, j);
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (ni, nj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let order = (i - ni)
            .cmp(&(j - nj))
            .then_with(|| a[ni..i].cmp(&b[nj..j]))
            .then_with(|| (ni - zi).cmp(&(nj - zj)));
        if order != Ordering::Equal {
            return order;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// One compact JSON object followed by '\n'.
pub fn json_line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(5), "5B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_261_274), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(187_000_000), "187MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size(10_000), "10kB");
        // Go's %.3g switches to exponent form once rounding reaches 1000.
        assert_eq!(human_size(999_600), "1e+03kB");
    }

    #[test]
    fn go_g_formatting() {
        assert_eq!(go_format_g(0.5, 3), "0.5");
        assert_eq!(go_format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(go_format_g(12.0, 3), "12");
        assert_eq!(go_format_g(12.345, 3), "12.3");
    }

    #[test]
    fn durations_match_docker() {
        let s = TimeDelta::seconds;
        assert_eq!(
            human_duration(TimeDelta::milliseconds(500)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(-5)), "Less than a second");
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(3599)), "59 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5400)), "2 hours");
        assert_eq!(human_duration(s(2 * 3600)), "2 hours");
        assert_eq!(human_duration(s(47 * 3600)), "47 hours");
        assert_eq!(human_duration(s(48 * 3600)), "2 days");
        assert_eq!(human_duration(s(14 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(60 * 86400)), "2 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn times() {
        let now = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(time_ago("2024-05-01T10:00:00Z", now), "2 hours ago");
        assert_eq!(
            time_ago("2024-05-01T14:00:00+02:00", now),
            "Less than a second ago"
        );
        assert_eq!(time_ago("", now), "N/A");
        assert_eq!(time_ago("yesterday", now), "N/A");
        assert_eq!(age("2024-04-28T12:00:00Z", now), "3 days");
        assert_eq!(
            go_time_string("2024-05-01T12:00:00.123456789+02:00"),
            "2024-05-01 10:00:00 +0000 UTC"
        );
        assert_eq!(go_time_string(""), "");
    }

    #[test]
    fn table_alignment_like_tabwriter() {
        let mut t = Table::new(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
        t.push(vec![
            "busybox".into(),
            "latest".into(),
            "a416a98b71e2".into(),
            "2 hours ago".into(),
            "4.26MB".into(),
        ]);
        t.push(vec![
            "localhost:5000/app".into(),
            "v1".into(),
            "0123456789ab".into(),
            "N/A".into(),
            "187MB".into(),
        ]);
        let expected = "\
REPOSITORY           TAG       IMAGE ID       CREATED       SIZE
busybox              latest    a416a98b71e2   2 hours ago   4.26MB
localhost:5000/app   v1        0123456789ab   N/A           187MB
";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn table_counts_characters_not_bytes() {
        let mut t = Table::new(&["A", "B"]);
        t.push(vec!["ééééééééééé".into(), "x".into()]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("A{}B", " ".repeat(13)));
        assert_eq!(lines[1], "ééééééééééé   x");
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(
            short_id("sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"),
            "a416a98b71e2"
        );
        assert_eq!(short_id("a416a98b71e224a3"), "a416a98b71e2");
        assert_eq!(ellipsis("short", 45), "short");
        let long = "x".repeat(50);
        let cut = ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with("x…"));
    }

    #[test]
    fn natural_order() {
        let mut v = vec![
            "443/tcp -> 0.0.0.0:443",
            "80/tcp -> 0.0.0.0:8080",
            "80/tcp -> 0.0.0.0:32768",
            "53/udp -> 0.0.0.0:53",
            "8080/tcp -> [::]:8080",
            "net10",
            "net9",
            "net09",
            "net",
            "Net",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "53/udp -> 0.0.0.0:53",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> 0.0.0.0:32768",
                "443/tcp -> 0.0.0.0:443",
                "8080/tcp -> [::]:8080",
                "Net",
                "net",
                "net9",
                "net09",
                "net10",
            ]
        );
    }

    #[test]
    fn json_lines_are_compact() {
        #[derive(Serialize)]
        struct Row {
            #[serde(rename = "A")]
            a: i32,
        }
        assert_eq!(json_line(&Row { a: 1 }).unwrap(), "{\"A\":1}\n");
    }
}
