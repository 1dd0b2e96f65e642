//! `berth logs`: stdout entries to stdout, stderr entries to stderr, with
//! `-t` docker's fixed-width RFC 3339 nanosecond time and a space before
//! each; `--since`/`--until` take docker's forms (RFC 3339, unix seconds,
//! or a Go duration such as "42m" meaning that long ago).

use berth_proto::v1::ContainerLogsRequest;
use chrono::{DateTime, TimeDelta, Utc};

use super::super::Ctx;
use super::session::Output;
use crate::cli::LogsArgs;
use crate::error::CliError;
use crate::flags::FlagError;
use crate::format::parse_time;

pub async fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<(), CliError> {
    let now = Utc::now();
    let request = ContainerLogsRequest {
        id: args.container.clone(),
        follow: args.follow,
        tail: parse_tail(&args.tail)?,
        since: args
            .since
            .as_deref()
            .map(|s| timestamp(s, now))
            .unwrap_or_default(),
        until: args
            .until
            .as_deref()
            .map(|s| timestamp(s, now))
            .unwrap_or_default(),
        stdout: true,
        stderr: true,
    };
    let client = ctx.connect().await?;
    let mut stream = client.containers().logs(request).await?.into_inner();
    let mut output = Output::new(false);
    while let Some(entry) = stream.message().await? {
        if args.timestamps {
            let mut line = format!("{} ", fixed_nanos(&entry.time)).into_bytes();
            line.extend_from_slice(&entry.data);
            output.write(&entry.stream, &line);
        } else {
            output.write(&entry.stream, &entry.data);
        }
    }
    Ok(())
}

/// `--tail`: "all" (or a negative number) is every line, as -1.
fn parse_tail(tail: &str) -> Result<i64, FlagError> {
    if tail == "all" || tail.is_empty() {
        return Ok(-1);
    }
    let n: i64 = tail.trim().parse().map_err(|_| FlagError::Invalid {
        flag: "-n, --tail",
        value: tail.to_owned(),
        reason: "expected a number of lines or \"all\"".into(),
    })?;
    Ok(if n < 0 { -1 } else { n })
}

/// docker's `timetypes.GetTimestamp`: a duration is that long before `now`
/// (as unix seconds); anything else goes to berthd as given (RFC 3339 or
/// unix seconds).
fn timestamp(value: &str, now: DateTime<Utc>) -> String {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return (now - d).timestamp().to_string();
        }
    }
    value.to_owned()
}

/// Go's `time.ParseDuration`: "300ms", "-1.5h", "2h45m"; units ns, us, µs,
/// ms, s, m, h.
fn parse_go_duration(s: &str) -> Option<TimeDelta> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(TimeDelta::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += value * nanos_per;
        rest = after;
    }
    if !total_nanos.is_finite() || total_nanos > i64::MAX as f64 {
        return None;
    }
    let d = TimeDelta::nanoseconds(total_nanos as i64);
    Some(if negative { -d } else { d })
}

/// docker's `RFC3339NanoFixed` in UTC ("2024-05-01T10:00:00.120000000Z");
/// the time as sent when it does not parse.
fn fixed_nanos(time: &str) -> String {
    parse_time(time)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
        .unwrap_or_else(|| time.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(parse_tail("all"), Ok(-1));
        assert_eq!(parse_tail("0"), Ok(0));
        assert_eq!(parse_tail("10"), Ok(10));
        assert_eq!(parse_tail("-3"), Ok(-1));
        assert_eq!(
            parse_tail("x").unwrap_err().to_string(),
            r#"invalid argument "x" for "-n, --tail" flag: expected a number of lines or "all""#
        );
    }

    #[test]
    fn go_durations() {
        let d = |s| parse_go_duration(s).map(|d| d.num_milliseconds());
        assert_eq!(d("42m"), Some(42 * 60_000));
        assert_eq!(d("1h30m"), Some(90 * 60_000));
        assert_eq!(d("1.5s"), Some(1500));
        assert_eq!(d("300ms"), Some(300));
        assert_eq!(d("-2s"), Some(-2000));
        assert_eq!(d("0"), Some(0));
        for bad in ["", "42", "1x", "2024-05-01T10:00:00Z", "1700000000", "m"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_values() {
        let now = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(timestamp("10m", now), (now.timestamp() - 600).to_string());
        assert_eq!(timestamp("1700000000", now), "1700000000");
        assert_eq!(
            timestamp("2024-05-01T10:00:00Z", now),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(timestamp("0", now), "0");
    }

    #[test]
    fn timestamps_are_fixed_width_utc() {
        assert_eq!(
            fixed_nanos("2024-05-01T10:00:00.12Z"),
            "2024-05-01T10:00:00.120000000Z"
        );
        assert_eq!(
            fixed_nanos("2024-05-01T12:00:00.123456789+02:00"),
            "2024-05-01T10:00:00.123456789Z"
        );
        assert_eq!(fixed_nanos("garbage"), "garbage");
    }
}
