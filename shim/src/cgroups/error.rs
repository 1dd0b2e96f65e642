//! The one error type of the cgroups module. Every variant names the
//! cgroup (its path relative to the cgroup root) and, where one is
//! involved, the file, so a user can go and look.

use std::io;
use std::path::PathBuf;

/// What went wrong with a container's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading, writing, creating or removing a cgroupfs file or directory failed.
    #[error("cgroup {cgroup}: cannot {action} {}: {source}", file.display())]
    Io {
        cgroup: String,
        action: &'static str,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A cgroupfs file held something this module does not understand.
    #[error("cgroup {cgroup}: unexpected content in {}: {content:?}", file.display())]
    Parse {
        cgroup: String,
        file: PathBuf,
        content: String,
    },
    /// The cgroup to load does not exist.
    #[error("cgroup {cgroup}: does not exist (looked for {})", file.display())]
    NotFound { cgroup: String, file: PathBuf },
    /// The request itself is wrong (bad path, impossible limits, missing controller).
    #[error("cgroup {cgroup}: {message}")]
    Invalid { cgroup: String, message: String },
    /// cgroups-rs refused to create the cgroup.
    #[error("cgroup {cgroup}: cannot create it: {message}")]
    Create { cgroup: String, message: String },
}

impl CgroupError {
    pub(crate) fn io(
        cgroup: &str,
        action: &'static str,
        file: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        CgroupError::Io {
            cgroup: cgroup.to_owned(),
            action,
            file: file.into(),
            source,
        }
    }

    pub(crate) fn invalid(cgroup: &str, message: impl Into<String>) -> Self {
        CgroupError::Invalid {
            cgroup: cgroup.to_owned(),
            message: message.into(),
        }
    }
}
