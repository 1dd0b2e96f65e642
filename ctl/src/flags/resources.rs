//! docker's resource flags (`-m`, `--memory-swap`, `--cpus`, `-c`,
//! `--cpuset-cpus`, `--pids-limit`) turned into the API's numbers.
//!
//! Sizes are go-units' `RAMInBytes` (binary units, case-insensitive,
//! optional `i`/`b` suffix); `--cpus` is a decimal turned into nanocpus;
//! `--memory-swap -1` is unlimited; `--pids-limit <= 0` is unlimited. The
//! API's 0 means "not set", so berthd applies docker's defaults (swap =
//! twice memory) and host checks (CPUs online, the cpu-shares range).

use berth_proto::v1::Resources;

use super::{invalid, parse_int_reason, FlagError};

/// docker's minimum for `--memory` (6 MiB, `linuxMinMemory`).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The highest CPU number accepted in `--cpuset-cpus` (Linux's NR_CPUS cap).
const MAX_CPUSET_CPU: u32 = 8192;
/// Nanocpus in one CPU.
const NANO_PER_CPU: i64 = 1_000_000_000;

const MEMORY: &str = "-m, --memory";
const MEMORY_SWAP: &str = "--memory-swap";
const CPUS: &str = "--cpus";
const CPU_SHARES: &str = "-c, --cpu-shares";
const CPUSET_CPUS: &str = "--cpuset-cpus";
const PIDS_LIMIT: &str = "--pids-limit";

/// The resource flags as the user typed them (`None` = flag not given).
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceFlags<'a> {
    pub memory: Option<&'a str>,
    pub memory_swap: Option<&'a str>,
    pub cpus: Option<&'a str>,
    pub cpu_shares: Option<&'a str>,
    pub cpuset_cpus: Option<&'a str>,
    pub pids_limit: Option<&'a str>,
}

/// Parses and cross-checks every resource flag into the API's message.
pub fn to_proto(flags: &ResourceFlags<'_>) -> Result<Resources, FlagError> {
    let memory = flags.memory.map(parse_memory).transpose()?.unwrap_or(0);
    let memory_swap = match flags.memory_swap {
        Some(s) => parse_memory_swap(s, memory)?,
        None => 0,
    };
    Ok(Resources {
        memory,
        memory_swap,
        nano_cpus: flags.cpus.map(parse_cpus).transpose()?.unwrap_or(0),
        cpu_shares: flags
            .cpu_shares
            .map(parse_cpu_shares)
            .transpose()?
            .unwrap_or(0),
        cpuset_cpus: flags
            .cpuset_cpus
            .map(parse_cpuset)
            .transpose()?
            .unwrap_or_default(),
        pids_limit: flags
            .pids_limit
            .map(parse_pids_limit)
            .transpose()?
            .unwrap_or(0),
    })
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

fn invalid_size(flag: &'static str, s: &str) -> FlagError {
    invalid(flag, s, format!("invalid size: '{s}'"))
}

/// `-m, --memory`: bytes; 0 means no limit; below 6 MiB is refused.
pub fn parse_memory(s: &str) -> Result<i64, FlagError> {
    let bytes = parse_size(s).ok_or_else(|| invalid_size(MEMORY, s))?;
    if bytes > 0 && bytes < MIN_MEMORY {
        return Err(FlagError::MemoryTooSmall);
    }
    Ok(bytes)
}

/// `--memory-swap`: `-1` is unlimited, 0 is unset; otherwise a size that
/// needs `--memory` (`memory`, 0 when not given) and must not be below it.
pub fn parse_memory_swap(s: &str, memory: i64) -> Result<i64, FlagError> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    let swap = parse_size(s).ok_or_else(|| invalid_size(MEMORY_SWAP, s))?;
    if swap == 0 {
        return Ok(0);
    }
    match memory {
        m if m <= 0 => Err(FlagError::SwapWithoutMemory),
        m if swap < m => Err(FlagError::SwapBelowMemory),
        _ => Ok(swap),
    }
}

/// `--cpus`: a decimal number of CPUs (at most nanocpu precision) as
/// nanocpus; 0 means no limit. The range (0.01 up to the host's CPUs) is
/// berthd's to check, since it knows the host.
pub fn parse_cpus(s: &str) -> Result<i64, FlagError> {
    parse_nanocpus(s)
        .ok_or_else(|| invalid(CPUS, s, format!("failed to parse {s} as a rational number")))?
}

/// A signed decimal as nanocpus. Outer `None` = does not parse; inner error
/// = parses but too precise or too large.
fn parse_nanocpus(s: &str) -> Option<Result<i64, FlagError>> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Some(Err(invalid(CPUS, s, "value is too precise")));
    }
    let too_large = || invalid(CPUS, s, "value is too large");
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
        format!("{frac_trimmed:0<9}").parse().ok()?
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

/// `-c, --cpu-shares`: an integer weight, 0 for the default. berthd clamps
/// it into the kernel's range as docker's daemon does.
pub fn parse_cpu_shares(s: &str) -> Result<i64, FlagError> {
    s.trim()
        .parse()
        .map_err(|_| invalid(CPU_SHARES, s, parse_int_reason(s)))
}

/// `--cpuset-cpus`: a list like `0-2,4`; returns it unchanged when valid.
pub fn parse_cpuset(s: &str) -> Result<String, FlagError> {
    let bad = || invalid(CPUSET_CPUS, s, "invalid cpuset list");
    if s.is_empty() {
        return Err(bad());
    }
    let cpu = |n: &str| -> Result<u32, FlagError> {
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

/// `--pids-limit`: a positive limit, or -1 (unlimited) for 0 and negatives
/// (the API's 0 means "not given").
pub fn parse_pids_limit(s: &str) -> Result<i64, FlagError> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| invalid(PIDS_LIMIT, s, parse_int_reason(s)))?;
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
            ("12x", None),
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
        assert_eq!(
            parse_memory("12x").unwrap_err().to_string(),
            r#"invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'"#
        );
        for small in ["1m", "1k", "4096k", "6291455"] {
            let err = parse_memory(small).unwrap_err();
            assert_eq!(err, FlagError::MemoryTooSmall, "{small}");
            assert_eq!(err.to_string(), "Minimum memory limit allowed is 6MB");
        }
    }

    #[test]
    fn memory_swap() {
        let m = 512 * MIB;
        type Case<'a> = (&'a str, i64, Result<i64, FlagError>);
        let cases: &[Case] = &[
            ("-1", m, Ok(-1)),
            ("-1", 0, Ok(-1)),
            ("1g", m, Ok(1024 * MIB)),
            ("512m", m, Ok(512 * MIB)),
            ("0", m, Ok(0)),
            ("256m", m, Err(FlagError::SwapBelowMemory)),
            ("1g", 0, Err(FlagError::SwapWithoutMemory)),
        ];
        for (input, mem, want) in cases {
            assert_eq!(&parse_memory_swap(input, *mem), want, "{input:?} {mem:?}");
        }
        assert_eq!(
            parse_memory_swap("1g", 0).unwrap_err().to_string(),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        assert_eq!(
            parse_memory_swap("x", m).unwrap_err().to_string(),
            r#"invalid argument "x" for "--memory-swap" flag: invalid size: 'x'"#
        );
    }

    #[test]
    fn cpus() {
        let ok: &[(&str, i64)] = &[
            ("1", 1_000_000_000),
            ("0.5", 500_000_000),
            (".5", 500_000_000),
            ("5.", 5_000_000_000),
            ("1.5", 1_500_000_000),
            ("0.01", 10_000_000),
            ("0", 0),
            ("1.000000000000", 1_000_000_000),
            ("+3", 3_000_000_000),
            ("-1", -1_000_000_000),
        ];
        for (input, nanos) in ok {
            assert_eq!(parse_cpus(input), Ok(*nanos), "{input:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("abc", "failed to parse abc as a rational number"),
            ("", "failed to parse  as a rational number"),
            (".", "failed to parse . as a rational number"),
            ("1,5", "failed to parse 1,5 as a rational number"),
            ("0.0000000001", "value is too precise"),
            ("99999999999999999999", "value is too large"),
        ];
        for (input, reason) in bad {
            assert_eq!(
                parse_cpus(input).unwrap_err().to_string(),
                format!("invalid argument \"{input}\" for \"--cpus\" flag: {reason}"),
            );
        }
    }

    #[test]
    fn cpu_shares() {
        for (input, want) in [("0", 0), ("1", 1), ("512", 512), (" 300000", 300_000)] {
            assert_eq!(parse_cpu_shares(input), Ok(want), "{input:?}");
        }
        assert_eq!(
            parse_cpu_shares("lots").unwrap_err().to_string(),
            r#"invalid argument "lots" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "lots": invalid syntax"#
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
            assert_eq!(
                parse_cpuset(bad).unwrap_err().to_string(),
                format!(
                    "invalid argument \"{bad}\" for \"--cpuset-cpus\" flag: invalid cpuset list"
                ),
            );
        }
    }

    #[test]
    fn pids_limit() {
        let cases: &[(&str, i64)] = &[("100", 100), ("1", 1), ("0", -1), ("-1", -1), ("-7", -1)];
        for (input, want) in cases {
            assert_eq!(parse_pids_limit(input), Ok(*want), "{input:?}");
        }
        assert_eq!(
            parse_pids_limit("x").unwrap_err().to_string(),
            r#"invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
    }

    #[test]
    fn into_the_api() {
        assert_eq!(
            to_proto(&ResourceFlags::default()).unwrap(),
            Resources::default()
        );
        let r = to_proto(&ResourceFlags {
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
                memory: 512 * MIB,
                // Left to berthd, which applies docker's default (2 × memory).
                memory_swap: 0,
                nano_cpus: 1_500_000_000,
                cpu_shares: 512,
                cpuset_cpus: "0-1".into(),
                pids_limit: 64,
            }
        );
        let r = to_proto(&ResourceFlags {
            memory: Some("512m"),
            memory_swap: Some("-1"),
            pids_limit: Some("0"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((r.memory_swap, r.pids_limit), (-1, -1));
        assert_eq!(
            to_proto(&ResourceFlags {
                memory_swap: Some("1g"),
                ..Default::default()
            }),
            Err(FlagError::SwapWithoutMemory)
        );
    }
}
