//! docker's resource limits (HostConfig's names and units, as the API
//! carries them) checked once at the edge and turned into the typed limits
//! that go into the OCI spec's `linux.resources`.
//!
//! Semantics follow docker's daemon (`verifyPlatformContainerResources`,
//! `adaptContainerSettings`): memory below 6 MiB is refused, swap needs
//! memory and must not be below it, a memory limit without swap gets swap =
//! 2 × memory, `NanoCPUs` becomes a CFS quota over a 100 ms period and may
//! not exceed the host's CPUs, cpu shares are clamped into the v1 kernel
//! range, a cpuset must name CPUs the host has, pids ≤ 0 other than "unset"
//! is unlimited. The CLI parses docker's flag syntax (`512m`, `1.5`) into
//! these numbers.

use serde::{Deserialize, Serialize};

/// docker's minimum for `--memory` (6 MiB, `linuxMinMemory`).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` uses (100 ms, in microseconds), as docker does.
pub const CPU_PERIOD: u64 = 100_000;
/// The kernel's cpu.shares bounds on cgroup v1 (docker clamps into them).
pub const MIN_CPU_SHARES: u64 = 2;
/// See [`MIN_CPU_SHARES`].
pub const MAX_CPU_SHARES: u64 = 262_144;
/// The highest CPU number accepted in a cpuset (Linux's NR_CPUS cap).
const MAX_CPUSET_CPU: u32 = 8192;
/// Nanocpus in one CPU.
const NANO_PER_CPU: i64 = 1_000_000_000;

/// A resource limit that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A value out of its range or malformed.
    #[error("invalid value {value:?} for {field}: {reason}")]
    Invalid {
        /// docker's flag name without dashes (`memory`, `cpus`, ...).
        field: &'static str,
        /// The value as received.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Memory below docker's 6 MiB minimum.
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooSmall,
    /// Swap without a memory limit.
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    /// Swap below the memory limit.
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    /// More CPUs than the host has, or fewer than 0.01.
    #[error("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")]
    CpusOutOfRange { n: usize },
    /// A cpuset naming CPUs the host does not have.
    #[error("Requested CPUs are not available - requested {requested}, available: {available}")]
    CpusetUnavailable {
        requested: String,
        available: String,
    },
}

fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> ResourceError {
    ResourceError::Invalid {
        field,
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

/// docker's limits as its API carries them (HostConfig's names and units;
/// 0 is "unset"): what a front door hands to [`Resources::from_limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Memory limit in bytes.
    pub memory: i64,
    /// Memory plus swap in bytes; -1 unlimited.
    pub memory_swap: i64,
    /// CPU quota in billionths of a CPU.
    pub nano_cpus: i64,
    /// Relative CPU weight.
    pub cpu_shares: i64,
    /// CPUs allowed, e.g. "0-1"; empty for all.
    pub cpuset_cpus: String,
    /// Maximum number of tasks; -1 unlimited.
    pub pids_limit: i64,
}

impl Resources {
    /// Checks the API's limits against docker's rules and this host's CPUs.
    pub fn from_limits(p: &ResourceLimits) -> Result<Resources, ResourceError> {
        Self::from_limits_on(p, &online_cpus())
    }

    /// [`Resources::from_limits`] for a host whose online CPUs are `online`.
    pub fn from_limits_on(p: &ResourceLimits, online: &[u32]) -> Result<Resources, ResourceError> {
        let memory = match p.memory {
            0 => None,
            m if m < 0 => return Err(invalid("memory", m, "must not be negative")),
            m if m < MIN_MEMORY => return Err(ResourceError::MemoryTooSmall),
            m => Some(m),
        };
        let memory_swap = match (p.memory_swap, memory) {
            (0, Some(m)) => Some(m.saturating_mul(2)),
            (0, None) => None,
            (-1, _) => Some(-1),
            (s, _) if s < 0 => return Err(invalid("memory-swap", s, "must be -1 or a size")),
            (_, None) => return Err(ResourceError::SwapWithoutMemory),
            (s, Some(m)) if s < m => return Err(ResourceError::SwapBelowMemory),
            (s, Some(_)) => Some(s),
        };
        let (cpu_quota, cpu_period) = match p.nano_cpus {
            0 => (None, None),
            n if n < NANO_PER_CPU / 100 || n > online.len() as i64 * NANO_PER_CPU => {
                return Err(ResourceError::CpusOutOfRange { n: online.len() })
            }
            n => (
                Some(n.saturating_mul(CPU_PERIOD as i64) / NANO_PER_CPU),
                Some(CPU_PERIOD),
            ),
        };
        let cpu_shares = match p.cpu_shares {
            0 => None,
            s if s < 0 => return Err(invalid("cpu-shares", s, "value must be a positive integer")),
            s => Some((s as u64).clamp(MIN_CPU_SHARES, MAX_CPU_SHARES)),
        };
        let cpuset_cpus = match p.cpuset_cpus.trim() {
            "" => None,
            s => {
                let wanted = parse_cpu_list(s)
                    .ok_or_else(|| invalid("cpuset-cpus", s, "invalid cpuset list"))?;
                if wanted.iter().any(|c| !online.contains(c)) {
                    return Err(ResourceError::CpusetUnavailable {
                        requested: s.to_string(),
                        available: format_cpu_list(online),
                    });
                }
                Some(s.to_string())
            }
        };
        let pids_limit = match p.pids_limit {
            0 => None,
            n if n < 0 => Some(-1),
            n => Some(n),
        };
        Ok(Resources {
            memory,
            memory_swap,
            cpu_quota,
            cpu_period,
            cpu_shares,
            cpuset_cpus,
            pids_limit,
        })
    }

    /// The limits back in the API's units (for inspect's HostConfig).
    pub fn nano_cpus(&self) -> i64 {
        match (self.cpu_quota, self.cpu_period) {
            (Some(q), Some(p)) if p > 0 => q.saturating_mul(NANO_PER_CPU) / p as i64,
            _ => 0,
        }
    }
}

/// Parses a kernel CPU list (`0-2,4`); `None` when malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let cpu = |n: &str| -> Option<u32> {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse::<u32>().ok().filter(|v| *v < MAX_CPUSET_CPU)
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (cpu(lo)?, cpu(hi)?);
                if lo > hi {
                    return None;
                }
                out.extend(lo..=hi);
            }
            None => out.push(cpu(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Formats CPUs as a kernel CPU list with ranges.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The host's online CPUs (/sys/devices/system/cpu/online), or as many as
/// the process may use when that file is unreadable.
pub fn online_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n as u32).collect()
        })
}

#[cfg(test)]
mod tests {
    use super::ResourceLimits as P;
    use super::*;

    const MIB: i64 = 1024 * 1024;
    const TWO_CPUS: &[u32] = &[0, 1];

    fn check(p: P) -> Result<Resources, ResourceError> {
        Resources::from_limits_on(&p, TWO_CPUS)
    }

    #[test]
    fn unset_is_no_limit() {
        assert_eq!(check(P::default()), Ok(Resources::default()));
    }

    #[test]
    fn memory_and_swap() {
        let r = check(P {
            memory: 512 * MIB,
            ..Default::default()
        })
        .unwrap();
        // docker's default swap: twice memory.
        assert_eq!(
            (r.memory, r.memory_swap),
            (Some(512 * MIB), Some(1024 * MIB))
        );
        let r = check(P {
            memory: 512 * MIB,
            memory_swap: -1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.memory_swap, Some(-1));
        let r = check(P {
            memory: 512 * MIB,
            memory_swap: 512 * MIB,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.memory_swap, Some(512 * MIB));
        assert_eq!(
            check(P {
                memory: MIN_MEMORY,
                ..Default::default()
            })
            .unwrap()
            .memory,
            Some(MIN_MEMORY)
        );
        let bad: &[(P, &str)] = &[
            (
                P {
                    memory: 4 * MIB,
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                P {
                    memory_swap: 1024 * MIB,
                    ..Default::default()
                },
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ),
            (
                P {
                    memory: 512 * MIB,
                    memory_swap: 256 * MIB,
                    ..Default::default()
                },
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ),
            (
                P {
                    memory: -5,
                    ..Default::default()
                },
                "invalid value \"-5\" for memory: must not be negative",
            ),
        ];
        for (p, want) in bad {
            assert_eq!(check(p.clone()).unwrap_err().to_string(), *want);
        }
    }

    #[test]
    fn cpus() {
        let r = check(P {
            nano_cpus: 1_500_000_000,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (r.cpu_quota, r.cpu_period),
            (Some(150_000), Some(CPU_PERIOD))
        );
        assert_eq!(r.nano_cpus(), 1_500_000_000);
        let r = check(P {
            nano_cpus: 10_000_000,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.cpu_quota, Some(1_000));
        for n in [-1, 1, 9_999_999, 2_000_000_001] {
            assert_eq!(
                check(P {
                    nano_cpus: n,
                    ..Default::default()
                })
                .unwrap_err()
                .to_string(),
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
                "{n}"
            );
        }
    }

    #[test]
    fn shares_pids_cpuset() {
        let shares = |s| {
            check(P {
                cpu_shares: s,
                ..Default::default()
            })
            .map(|r| r.cpu_shares)
        };
        assert_eq!(shares(0), Ok(None));
        assert_eq!(shares(1), Ok(Some(2)));
        assert_eq!(shares(512), Ok(Some(512)));
        assert_eq!(shares(300_000), Ok(Some(262_144)));
        assert!(shares(-2).is_err());
        let pids = |n| {
            check(P {
                pids_limit: n,
                ..Default::default()
            })
            .unwrap()
            .pids_limit
        };
        assert_eq!(pids(0), None);
        assert_eq!(pids(-1), Some(-1));
        assert_eq!(pids(-7), Some(-1));
        assert_eq!(pids(64), Some(64));
        let cpuset = |s: &str| {
            check(P {
                cpuset_cpus: s.into(),
                ..Default::default()
            })
            .map(|r| r.cpuset_cpus)
        };
        assert_eq!(cpuset(""), Ok(None));
        assert_eq!(cpuset("0-1"), Ok(Some("0-1".into())));
        assert_eq!(cpuset("1"), Ok(Some("1".into())));
        assert_eq!(
            cpuset("0-3").unwrap_err().to_string(),
            "Requested CPUs are not available - requested 0-3, available: 0-1"
        );
        for bad in ["a", "0-a", "1-0", "0,", ",0", "0--1", "8192"] {
            assert_eq!(
                cpuset(bad).unwrap_err().to_string(),
                format!("invalid value {bad:?} for cpuset-cpus: invalid cpuset list")
            );
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,4,3"), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(format_cpu_list(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
        assert_eq!(format_cpu_list(&[]), "");
        assert!(!online_cpus().is_empty());
    }
}
