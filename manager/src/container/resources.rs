//! Docker's resource flags, parsed once at the edge into typed values.
//!
//! Semantics follow docker (the CLI's `opts` plus the daemon's
//! `verifyPlatformContainerResources`/`adaptContainerSettings`): sizes are
//! go-units' `RAMInBytes` (binary units, case-insensitive, optional `i`/`b`
//! suffix), `--cpus` is a decimal turned into a CFS quota over a 100 ms
//! period, `--memory-swap -1` is unlimited, `--pids-limit <= 0` is unlimited,
//! `--cpu-shares` is clamped into the v1 kernel range. Every error names the
//! flag and the value.

use serde::{Deserialize, Serialize};

/// docker's minimum for `--memory` (6 MiB, `linuxMinMemory`).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` uses (100 ms, in microseconds), as docker does.
pub const CPU_PERIOD: u64 = 100_000;
/// The kernel's cpu.shares bounds on cgroup v1 (docker clamps into them).
pub const MIN_CPU_SHARES: u64 = 2;
/// See [`MIN_CPU_SHARES`].
pub const MAX_CPU_SHARES: u64 = 262_144;
/// The highest CPU number accepted in `--cpuset-cpus` (Linux's NR_CPUS cap).
const MAX_CPUSET_CPU: u32 = 8192;
/// Nanocpus in one CPU.
const NANO_PER_CPU: i64 = 1_000_000_000;

/// A resource flag that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// The value does not parse, or is out of the flag's range.
    #[error("invalid value {value:?} for flag --{flag}: {reason}")]
    Invalid {
        /// Flag name without dashes (`memory`, `cpus`, ...).
        flag: &'static str,
        /// The value as the user gave it.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// `--memory` is below docker's 6 MiB minimum.
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooSmall,
    /// `--memory-swap` without `--memory`.
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    /// `--memory-swap` below `--memory`.
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> ResourceError {
    ResourceError::Invalid {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The cgroup limits of one container, as they go into the OCI spec's
/// `linux.resources`. `None` leaves the runtime's default (no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory + swap limit in bytes; -1 is unlimited swap.
    pub memory_swap: Option<i64>,
    /// CFS quota in microseconds per `cpu_period`.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// Relative CPU weight (cgroup v1 shares).
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on, e.g. `0-2,4`.
    pub cpuset_cpus: Option<String>,
    /// Maximum number of tasks; -1 is unlimited.
    pub pids_limit: Option<i64>,
}

/// The resource flags as the user typed them (`None` = flag not given).
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceFlags<'a> {
    /// `-m, --memory`
    pub memory: Option<&'a str>,
    /// `--memory-swap`
    pub memory_swap: Option<&'a str>,
    /// `--cpus`
    pub cpus: Option<&'a str>,
    /// `-c, --cpu-shares`
    pub cpu_shares: Option<&'a str>,
    /// `--cpuset-cpus`
    pub cpuset_cpus: Option<&'a str>,
    /// `--pids-limit`
    pub pids_limit: Option<&'a str>,
}

impl Resources {
    /// Parses and cross-checks every resource flag, as docker's CLI and
    /// daemon do together. A memory limit without `--memory-swap` gets swap
    /// = 2 × memory (docker's default); `--memory 0` means no limit.
    pub fn from_flags(flags: &ResourceFlags<'_>) -> Result<Resources, ResourceError> {
        let memory = flags
            .memory
            .map(parse_memory)
            .transpose()?
            .filter(|m| *m > 0);
        let memory_swap = match flags.memory_swap {
            Some(s) => parse_memory_swap(s, memory)?,
            None => None,
        };
        let memory_swap = match (memory, memory_swap) {
            (Some(m), None) => Some(m.saturating_mul(2)),
            (_, swap) => swap,
        };
        let (cpu_quota, cpu_period) = match flags.cpus {
            Some(s) => {
                let (q, p) = parse_cpus(s)?;
                (Some(q), Some(p))
            }
            None => (None, None),
        };
        Ok(Resources {
            memory,
            memory_swap,
            cpu_quota,
            cpu_period,
            cpu_shares: flags
                .cpu_shares
                .map(parse_cpu_shares)
                .transpose()?
                .flatten(),
            cpuset_cpus: flags.cpuset_cpus.map(parse_cpuset).transpose()?,
            pids_limit: flags.pids_limit.map(parse_pids_limit).transpose()?,
        })
    }
}

/// Parses a size like go-units' `RAMInBytes`: `512m`, `1g`, `1.5G`, `1024k`,
/// `100b`, `10 MiB`, plain bytes. Units b, k, m, g, t, p are binary.
pub fn parse_size(s: &str) -> Option<i64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut mult: f64 = 1.0;
    if let Some(c) = rest.chars().next() {
        let shift = match c.to_ascii_lowercase() {
            'k' => Some(10),
            'm' => Some(20),
            'g' => Some(30),
            't' => Some(40),
            'p' => Some(50),
            _ => None,
        };
        if let Some(shift) = shift {
            mult = (1u64 << shift) as f64;
            rest = &rest[1..];
        }
    }
    let rest = rest.strip_prefix(['i', 'I']).unwrap_or(rest);
    let rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return None;
    }
    Some(bytes as i64)
}

/// `-m, --memory`: bytes; 0 means no limit; below 6 MiB is refused.
pub fn parse_memory(s: &str) -> Result<i64, ResourceError> {
    let bytes = parse_size(s).ok_or_else(|| invalid("memory", s, "invalid size"))?;
    if bytes > 0 && bytes < MIN_MEMORY {
        return Err(ResourceError::MemoryTooSmall);
    }
    Ok(bytes)
}

/// `--memory-swap`: `-1` is unlimited, 0 is unset (`None`); otherwise a size
/// that needs `--memory` and must be at least as large as it.
pub fn parse_memory_swap(s: &str, memory: Option<i64>) -> Result<Option<i64>, ResourceError> {
    if s.trim() == "-1" {
        return Ok(Some(-1));
    }
    let swap = parse_size(s).ok_or_else(|| invalid("memory-swap", s, "invalid size"))?;
    if swap == 0 {
        return Ok(None);
    }
    match memory.filter(|m| *m > 0) {
        None => Err(ResourceError::SwapWithoutMemory),
        Some(m) if swap < m => Err(ResourceError::SwapBelowMemory),
        Some(_) => Ok(Some(swap)),
    }
}

/// `--cpus`: a decimal number of CPUs (at most nanocpu precision, at least
/// 0.01) turned into `(quota, period)` with period 100000 µs.
pub fn parse_cpus(s: &str) -> Result<(i64, u64), ResourceError> {
    let nanos = parse_nanocpus(s).ok_or_else(|| {
        invalid(
            "cpus",
            s,
            format!("failed to parse {s} as a rational number"),
        )
    })??;
    if nanos < NANO_PER_CPU / 100 {
        return Err(invalid("cpus", s, "Range of CPUs is from 0.01 upwards"));
    }
    // docker: quota = NanoCPUs * period / 1e9.
    let quota = nanos
        .checked_mul(CPU_PERIOD as i64)
        .map(|n| n / NANO_PER_CPU)
        .ok_or_else(|| invalid("cpus", s, "value is too large"))?;
    Ok((quota, CPU_PERIOD))
}

/// A signed decimal as nanocpus. Outer `None` = does not parse; inner error
/// = parses but too precise or too large.
fn parse_nanocpus(s: &str) -> Option<Result<i64, ResourceError>> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty() && int.is_empty())
    {
        return None;
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Some(Err(invalid("cpus", s, "value is too precise")));
    }
    let too_large = || invalid("cpus", s, "value is too large");
    let int_val: i64 = if int.is_empty() {
        0
    } else {
        match int.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return Some(Err(too_large())),
        }
    };
    let frac_val: i64 = if frac_trimmed.is_empty() {
        0
    } else {
        let padded = format!("{frac_trimmed:0<9}");
        match padded.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return None,
        }
    };
    let nanos = match int_val
        .checked_mul(NANO_PER_CPU)
        .and_then(|n| n.checked_add(frac_val))
    {
        Some(n) => n,
        None => return Some(Err(too_large())),
    };
    Some(Ok(if neg { -nanos } else { nanos }))
}

/// `-c, --cpu-shares`: 0 is the default (`None`); other values are clamped
/// into 2..=262144 as docker does on cgroup v1 (it warns, never fails).
pub fn parse_cpu_shares(s: &str) -> Result<Option<u64>, ResourceError> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| invalid("cpu-shares", s, "invalid syntax"))?;
    Ok(match v {
        0 => None,
        v if v < MIN_CPU_SHARES as i64 => Some(MIN_CPU_SHARES),
        v if v as u64 > MAX_CPU_SHARES => Some(MAX_CPU_SHARES),
        v => Some(v as u64),
    })
}

/// `--cpuset-cpus`: a list like `0-2,4`; returns it unchanged when valid.
pub fn parse_cpuset(s: &str) -> Result<String, ResourceError> {
    let bad = || invalid("cpuset-cpus", s, "invalid cpuset list");
    if s.is_empty() {
        return Err(bad());
    }
    let cpu = |n: &str| -> Result<u32, ResourceError> {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match n.parse::<u32>() {
            Ok(v) if v < MAX_CPUSET_CPU => Ok(v),
            _ => Err(bad()),
        }
    };
    for part in s.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                if cpu(lo)? > cpu(hi)? {
                    return Err(bad());
                }
            }
            None => {
                cpu(part)?;
            }
        }
    }
    Ok(s.to_string())
}

/// `--pids-limit`: a positive limit, or -1 (unlimited) for 0 and negatives,
/// as docker writes it into the spec.
pub fn parse_pids_limit(s: &str) -> Result<i64, ResourceError> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| invalid("pids-limit", s, "invalid syntax"))?;
    Ok(if v <= 0 { -1 } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("100", Some(100)),
            ("100b", Some(100)),
            ("100B", Some(100)),
            ("1024k", Some(MIB)),
            ("1024K", Some(MIB)),
            ("512m", Some(512 * MIB)),
            ("512M", Some(512 * MIB)),
            ("512mb", Some(512 * MIB)),
            ("512MiB", Some(512 * MIB)),
            ("512 m", Some(512 * MIB)),
            ("1g", Some(1024 * MIB)),
            ("1.5g", Some(1536 * MIB)),
            ("2t", Some(2 << 40)),
            ("1p", Some(1 << 50)),
            ("abc", None),
            ("", None),
            ("m", None),
            ("-1", None),
            ("1x", None),
            ("1mm", None),
            ("1.2.3m", None),
            ("  1m", None),
            ("99999999999p", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), *want, "{input:?}");
        }
    }

    #[test]
    fn memory() {
        assert_eq!(parse_memory("512m"), Ok(512 * MIB));
        assert_eq!(parse_memory("6m"), Ok(MIN_MEMORY));
        assert_eq!(parse_memory("0"), Ok(0));
        let err = parse_memory("abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid value "abc" for flag --memory: invalid size"#
        );
        for small in ["1m", "4096k", "6291455"] {
            let err = parse_memory(small).unwrap_err();
            assert_eq!(err, ResourceError::MemoryTooSmall, "{small}");
            assert_eq!(err.to_string(), "Minimum memory limit allowed is 6MB");
        }
    }

    #[test]
    fn memory_swap() {
        let m = Some(512 * MIB);
        type Case<'a> = (&'a str, Option<i64>, Result<Option<i64>, ResourceError>);
        let cases: &[Case] = &[
            ("-1", m, Ok(Some(-1))),
            ("-1", None, Ok(Some(-1))),
            ("1g", m, Ok(Some(1024 * MIB))),
            ("512m", m, Ok(Some(512 * MIB))),
            ("0", m, Ok(None)),
            ("256m", m, Err(ResourceError::SwapBelowMemory)),
            ("1g", None, Err(ResourceError::SwapWithoutMemory)),
        ];
        for (input, mem, want) in cases {
            assert_eq!(&parse_memory_swap(input, *mem), want, "{input:?} {mem:?}");
        }
        assert_eq!(
            parse_memory_swap("1g", None).unwrap_err().to_string(),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        assert_eq!(
            parse_memory_swap("x", m).unwrap_err().to_string(),
            r#"invalid value "x" for flag --memory-swap: invalid size"#
        );
    }

    #[test]
    fn cpus() {
        let ok: &[(&str, i64)] = &[
            ("1", 100_000),
            ("0.5", 50_000),
            (".5", 50_000),
            ("1.5", 150_000),
            ("2", 200_000),
            ("0.01", 1_000),
            ("1.000000000000", 100_000),
            ("+3", 300_000),
        ];
        for (input, quota) in ok {
            assert_eq!(parse_cpus(input), Ok((*quota, CPU_PERIOD)), "{input:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("abc", "failed to parse abc as a rational number"),
            ("", "failed to parse  as a rational number"),
            (".", "failed to parse . as a rational number"),
            ("1,5", "failed to parse 1,5 as a rational number"),
            ("0", "Range of CPUs is from 0.01 upwards"),
            ("-1", "Range of CPUs is from 0.01 upwards"),
            ("0.001", "Range of CPUs is from 0.01 upwards"),
            ("0.0000000001", "value is too precise"),
            ("99999999999999999999", "value is too large"),
        ];
        for (input, reason) in bad {
            let err = parse_cpus(input).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid value {input:?} for flag --cpus: {reason}"),
            );
        }
    }

    #[test]
    fn cpu_shares() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", None),
            ("1", Some(2)),
            ("-5", Some(2)),
            ("2", Some(2)),
            ("512", Some(512)),
            ("262144", Some(262_144)),
            ("300000", Some(262_144)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_cpu_shares(input), Ok(*want), "{input:?}");
        }
        assert_eq!(
            parse_cpu_shares("lots").unwrap_err().to_string(),
            r#"invalid value "lots" for flag --cpu-shares: invalid syntax"#
        );
    }

    #[test]
    fn cpuset() {
        for ok in ["0", "0-2", "0-2,4", "1,3,5", "0-0", "7-8191"] {
            assert_eq!(parse_cpuset(ok).as_deref(), Ok(ok), "{ok:?}");
        }
        for bad in [
            "", "a", "0-a", "2-1", "0,", ",0", "0--1", "-1", "1-2-3", "0 ,1", "8192",
        ] {
            let err = parse_cpuset(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid value {bad:?} for flag --cpuset-cpus: invalid cpuset list"),
            );
        }
    }

    #[test]
    fn pids_limit() {
        let cases: &[(&str, i64)] = &[("100", 100), ("1", 1), ("0", -1), ("-1", -1), ("-7", -1)];
        for (input, want) in cases {
            assert_eq!(parse_pids_limit(input), Ok(*want), "{input:?}");
        }
        assert!(parse_pids_limit("many").is_err());
    }

    #[test]
    fn from_flags() {
        let none = Resources::from_flags(&ResourceFlags::default()).unwrap();
        assert_eq!(none, Resources::default());

        let r = Resources::from_flags(&ResourceFlags {
            memory: Some("512m"),
            cpus: Some("1.5"),
            cpu_shares: Some("512"),
            cpuset_cpus: Some("0-1"),
            pids_limit: Some("64"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            r,
            Resources {
                memory: Some(512 * MIB),
                memory_swap: Some(1024 * MIB), // docker's default: twice memory
                cpu_quota: Some(150_000),
                cpu_period: Some(CPU_PERIOD),
                cpu_shares: Some(512),
                cpuset_cpus: Some("0-1".into()),
                pids_limit: Some(64),
            }
        );

        let r = Resources::from_flags(&ResourceFlags {
            memory: Some("512m"),
            memory_swap: Some("-1"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.memory_swap, Some(-1));

        let r = Resources::from_flags(&ResourceFlags {
            memory: Some("0"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((r.memory, r.memory_swap), (None, None));

        let err = Resources::from_flags(&ResourceFlags {
            memory_swap: Some("1g"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, ResourceError::SwapWithoutMemory);
    }
}
