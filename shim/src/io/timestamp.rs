//! RFC 3339 timestamps in UTC with nanoseconds, as docker writes them in
//! json-file logs and as the exit file records `exited_at`. Hand-written
//! (days-to-civil conversion) so the shim needs no date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-23T10:00:00.123456789Z` for `t` (times before 1970 print as the epoch).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// The current time, formatted.
pub fn now() -> String {
    rfc3339_nanos(SystemTime::now())
}

/// Year, month (1-12), day (1-31) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> String {
        rfc3339_nanos(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (a leap day in a century leap year), 12:34:56.
        assert_eq!(at(951_827_696, 7), "2000-02-29T12:34:56.000000007Z");
        // 2026-11-23T10:00:00.123456789Z
        assert_eq!(
            at(1_795_428_000, 123_456_789),
            "2026-11-23T10:00:00.123456789Z"
        );
        // The last second of a year.
        assert_eq!(at(1_704_067_199, 0), "2023-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn before_epoch_is_epoch() {
        let t = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_nanos(t), "1970-01-01T00:00:00.000000000Z");
    }
}
