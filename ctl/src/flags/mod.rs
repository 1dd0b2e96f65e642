//! docker's `run`/`create` flag values, parsed at the edge into what the
//! Containers API carries: sizes and CPU counts into numbers, env files and
//! label files into KEY=VALUE lists, a seccomp profile path into the
//! profile's JSON. Parsing follows docker's CLI (`opts`, `kvfile`,
//! `parseSecurityOpts`), and each error names the flag as docker does:
//! `invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'`.
//! Cross-checks that need the host (CPUs online, paths that exist) are the
//! daemon's.

pub mod env;
pub mod network;
pub mod options;
pub mod resources;

use crate::format::go_quote;

/// A flag value that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// The value does not parse (docker's pflag message).
    #[error("invalid argument {} for {} flag: {reason}", go_quote(.value), go_quote(.flag))]
    Invalid {
        /// The flag as docker's usage names it, e.g. `-m, --memory`.
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
    /// A file named by a flag (`--env-file`, `--label-file`, a seccomp
    /// profile) is unreadable or malformed.
    #[error("{what} ({path}) failed: {why}")]
    File {
        /// What was being done, e.g. "opening seccomp profile".
        what: &'static str,
        path: String,
        why: String,
    },
    /// A value that is well-formed but not something berth offers.
    #[error("{0}")]
    Unsupported(String),
    /// A value docker's CLI refuses after reading the flags, with docker's
    /// message as is (e.g. `invalid containerPort: abc` for `-p abc`).
    #[error("{0}")]
    Malformed(String),
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> FlagError {
    FlagError::Invalid {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Go's `strconv.ParseInt` error text, which docker shows for integer flags.
fn parse_int_reason(value: &str) -> String {
    format!(
        "strconv.ParseInt: parsing {}: invalid syntax",
        go_quote(value)
    )
}
