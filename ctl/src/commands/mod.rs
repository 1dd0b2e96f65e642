//! One module per command group. Each command connects, asks berthd, and
//! formats the answer; the formatting is kept in pure functions so it can be
//! tested without a daemon.

pub mod container;
pub mod content;
pub mod history;
pub mod images;
pub mod import;
pub mod inspect;
pub mod load_save;
pub mod login;
pub mod namespace;
pub mod pull;
pub mod push;
pub mod search;
pub mod snapshot;
pub mod system;

use std::io;

use crate::client::Client;
use crate::error::{write_stdout, CliError};

/// What every command needs: where berthd is and which namespace to act in.
pub struct Ctx {
    pub host: String,
    pub namespace: String,
}

impl Ctx {
    pub async fn connect(&self) -> Result<Client, CliError> {
        Client::connect(&self.host, &self.namespace).await
    }
}

/// Writes finished output to stdout in one go.
pub fn print(text: &str) -> Result<(), CliError> {
    write_stdout(&mut io::stdout().lock(), text)
}

/// Reports one failure of a multi-target command and lets it go on.
pub fn report(err: &CliError) {
    use io::Write;
    let _ = writeln!(io::stderr(), "Error: {err}");
}

/// The outcome of a command that went on past reported failures (rmi,
/// namespace rm): a failure if any item failed.
pub fn after_reports(failed: bool) -> Result<(), CliError> {
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(())
    }
}
