//! `process.rlimits`, checked in the parent: a limit above this process's
//! hard limit can only be set with CAP_SYS_RESOURCE, which the project's
//! VMs deny (hard nofile is 20000 there while docker asks for 1048576), so
//! without it such a limit is clamped to the hard limit and reported as a
//! warning instead of failing the container.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::StepError;

/// One limit to set in the init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// The nix resource for a spec type.
pub fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// The limits to set, clamped to `current_hard(resource)` unless
/// `can_raise` (CAP_SYS_RESOURCE is held), and the warnings for each clamp.
pub fn plan(
    spec: &[PosixRlimit],
    can_raise: bool,
    current_hard: impl Fn(Resource) -> Option<u64>,
) -> (Vec<Rlimit>, Vec<String>) {
    let mut out = Vec::with_capacity(spec.len());
    let mut warnings = Vec::new();
    for l in spec {
        let res = resource(l.typ());
        let (mut soft, mut hard) = (l.soft(), l.hard());
        if !can_raise {
            if let Some(max) = current_hard(res).filter(|max| hard > *max) {
                warnings.push(format!(
                    "{}: hard limit {hard} is above this host's limit {max} and the runtime \
                     lacks CAP_SYS_RESOURCE; using {max}",
                    l.typ()
                ));
                hard = max;
            }
        }
        if soft > hard {
            soft = hard;
        }
        out.push(Rlimit {
            resource: res,
            soft,
            hard,
        });
    }
    (out, warnings)
}

/// This process's hard limit, `None` when unlimited or unknown.
pub fn current_hard(res: Resource) -> Option<u64> {
    match getrlimit(res) {
        Ok((_, hard)) if hard != libc::RLIM_INFINITY => Some(hard),
        _ => None,
    }
}

/// Set the limits (in the init, before the user switch).
pub fn apply(limits: &[Rlimit]) -> Result<(), StepError> {
    for l in limits {
        setrlimit(l.resource, l.soft, l.hard).map_err(|e| {
            StepError::new(
                format!("setrlimit {:?} {} {}", l.resource, l.soft, l.hard),
                e.into(),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::PosixRlimitBuilder;

    fn limit(t: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(t)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn above_the_hard_limit_is_clamped_with_a_warning() {
        let spec = [
            limit(PosixRlimitType::RlimitNofile, 1_048_576, 1_048_576),
            limit(PosixRlimitType::RlimitNproc, 100, 200),
        ];
        let hard = |r: Resource| (r == Resource::RLIMIT_NOFILE).then_some(20_000);
        let (limits, warnings) = plan(&spec, false, hard);
        assert_eq!(
            limits,
            vec![
                Rlimit {
                    resource: Resource::RLIMIT_NOFILE,
                    soft: 20_000,
                    hard: 20_000
                },
                Rlimit {
                    resource: Resource::RLIMIT_NPROC,
                    soft: 100,
                    hard: 200
                },
            ]
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("RLIMIT_NOFILE") && warnings[0].contains("20000"),
            "{warnings:?}"
        );
        let (limits, warnings) = plan(&spec, true, hard);
        assert_eq!(limits[0].hard, 1_048_576);
        assert!(warnings.is_empty());
    }
}
