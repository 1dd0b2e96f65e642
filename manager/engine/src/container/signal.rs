//! Signal names and numbers as docker accepts them: `SIGTERM`, `TERM`,
//! `term`, `15`, `SIGRTMIN+3`.

use nix::sys::signal::Signal;

use crate::error::{ManagerError, Result};

/// SIGRTMIN and SIGRTMAX on Linux as the kernel numbers them (glibc
/// reserves the first two real-time signals; docker maps names to the
/// kernel's numbers).
const SIGRTMIN: u32 = 34;
const SIGRTMAX: u32 = 64;

/// Parses a signal name or number into its number; "" is `default`.
pub fn parse_signal(s: &str, default: u32) -> Result<u32> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(default);
    }
    let bad = || ManagerError::InvalidArgument(format!("Invalid signal: {s}"));
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u32>() {
            Ok(n) if (1..=SIGRTMAX).contains(&n) => Ok(n),
            _ => Err(bad()),
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rest, SIGRTMIN, 1).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rest, SIGRTMAX, -1).ok_or_else(bad);
    }
    format!("SIG{name}")
        .parse::<Signal>()
        .map(|sig| sig as i32 as u32)
        .map_err(|_| bad())
}

/// `RTMIN+n` / `RTMAX-n`.
fn rt(rest: &str, base: u32, dir: i64) -> Option<u32> {
    let off: i64 = if rest.is_empty() {
        0
    } else {
        let (sign, n) = rest.split_at(1);
        if (sign == "+" && dir > 0) || (sign == "-" && dir < 0) {
            n.parse().ok()?
        } else {
            return None;
        }
    };
    let v = base as i64 + dir * off;
    (SIGRTMIN as i64..=SIGRTMAX as i64)
        .contains(&v)
        .then_some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let ok: &[(&str, u32)] = &[
            ("", 9),
            ("SIGTERM", 15),
            ("TERM", 15),
            ("term", 15),
            ("sigkill", 9),
            ("15", 15),
            ("SIGUSR1", 10),
            ("HUP", 1),
            ("SIGRTMIN", 34),
            ("RTMIN+3", 37),
            ("SIGRTMAX-1", 63),
            ("64", 64),
        ];
        for (s, n) in ok {
            assert_eq!(parse_signal(s, 9).unwrap(), *n, "{s:?}");
        }
        for bad in [
            "0", "65", "NOPE", "SIG", "RTMIN-1", "RTMAX+1", "-9", "RTMIN+40",
        ] {
            let e = parse_signal(bad, 9).unwrap_err();
            assert_eq!(e.to_string(), format!("Invalid signal: {bad}"));
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        }
    }
}
