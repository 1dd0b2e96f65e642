//! The CLI's failures, each printed as one "Error: ..." line (exit 125), or
//! for a refused pull, push, login or search as docker prints those:
//! "Error response from daemon: ..." (exit 1).

use std::io;

/// Exit code of every failure of the CLI itself.
pub const EXIT_FAILURE: u8 = 125;
/// Exit code when berthd refused a pull, push, login or search.
pub const EXIT_DAEMON: u8 = 1;
/// How docker introduces a daemon's refusal.
pub const DAEMON_PREFIX: &str = "Error response from daemon: ";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A mistake in what the user asked for, caught before any request.
    #[error("{0}")]
    Invalid(String),

    /// berthd's socket could not be dialled.
    #[error("cannot connect to berthd at {address}: {why}. Is berthd running?")]
    Connect { address: String, why: String },

    /// berthd answered with an error.
    #[error("{}", status_line(.0))]
    Status(#[from] tonic::Status),

    /// berthd refused a pull, push, login or search: docker prints these
    /// as "Error response from daemon: ..." and exits 1.
    #[error("{}", status_line(.0))]
    Daemon(tonic::Status),

    /// The credentials file could not be read or written.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),

    /// A local file or stream failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// The daemon sent JSON the CLI cannot read.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },

    /// A `run`/`create` flag value that could not be accepted.
    #[error(transparent)]
    Flag(#[from] crate::flags::FlagError),

    /// A `--format` template that could not be parsed or run.
    #[error(transparent)]
    Template(#[from] crate::template::TemplateError),

    /// A `cp` failure as docker-cli prints it: the line as it is (its own
    /// "Error: No such container:path: ..." or "cannot copy directory"),
    /// exit 1.
    #[error("{0}")]
    Cp(String),

    /// Failures already reported line by line (e.g. some of several `rmi`
    /// targets); only the exit code is left to give.
    #[error("")]
    Reported,
}

impl CliError {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// What the error line starts with.
    pub fn prefix(&self) -> &'static str {
        match self {
            CliError::Daemon(_) => DAEMON_PREFIX,
            CliError::Cp(_) => "",
            _ => "Error: ",
        }
    }

    /// The exit code: docker's 1 for a refused distribution request, 125
    /// for every other failure of the CLI.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Daemon(_) | CliError::Cp(_) => EXIT_DAEMON,
            _ => EXIT_FAILURE,
        }
    }

    /// True when stdout's reader went away (`berth images | head`): not worth
    /// an error line.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// The status message on one line; the code's description when it is empty.
fn status_line(status: &tonic::Status) -> String {
    let message = status.message().trim();
    if message.is_empty() {
        return status.code().description().to_owned();
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes to stdout, naming stdout in the error.
pub fn write_stdout(out: &mut impl io::Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::io("write to stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_one_line() {
        let err = CliError::from(tonic::Status::not_found("No such image:\n  foo"));
        assert_eq!(err.to_string(), "No such image: foo");
        let err = CliError::from(tonic::Status::unavailable(""));
        assert_eq!(err.to_string(), tonic::Code::Unavailable.description());
    }

    #[test]
    fn daemon_refusals_read_like_docker() {
        let err = CliError::Daemon(tonic::Status::unauthenticated(
            "unauthorized: incorrect username or password",
        ));
        assert_eq!(
            format!("{}{err}", err.prefix()),
            "Error response from daemon: unauthorized: incorrect username or password"
        );
        assert_eq!(err.exit_code(), 1);
        let err = CliError::Invalid("x".into());
        assert_eq!((err.prefix(), err.exit_code()), ("Error: ", 125));
    }

    #[test]
    fn connect_message() {
        let err = CliError::Connect {
            address: "unix:///run/berth/berth.sock".into(),
            why: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot connect to berthd at unix:///run/berth/berth.sock: \
             No such file or directory (os error 2). Is berthd running?"
        );
    }
}
