//! One module per command group. Each command connects, asks berthd, and
//! formats the answer; the formatting is kept in pure functions so it can be
//! tested without a daemon.

pub mod container;
pub mod content;
pub mod df;
pub mod history;
pub mod images;
pub mod import;
pub mod inspect;
pub mod listing;
pub mod load_save;
pub mod login;
pub mod namespace;
pub mod network;
pub mod pull;
pub mod push;
pub mod search;
pub mod snapshot;
pub mod system;
pub mod volume;

use std::io::{self, BufRead, IsTerminal, Write};

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
    let _ = writeln!(io::stderr(), "Error: {err}");
}

/// docker's prompt before a prune: `warning`, then "Are you sure you want
/// to continue? [y/N] "; true for y or yes. Refused outright when nobody
/// can answer it (stdin is not a terminal): use -f.
pub fn confirm(warning: &str) -> Result<bool, CliError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Invalid(
            "refusing to prune without confirmation; use -f".into(),
        ));
    }
    let mut stdout = io::stdout();
    write!(
        stdout,
        "{warning}\nAre you sure you want to continue? [y/N] "
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| CliError::io("write to stdout", e))?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::io("read stdin", e))?;
    Ok(is_yes(&answer))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert!(is_yes("y\n"));
        assert!(is_yes("YES\n"));
        assert!(!is_yes("\n"));
        assert!(!is_yes("n\n"));
    }
}
