//! Pull and push progress, drawn from berthd's TransferProgress stream the
//! way docker draws its JSON-progress stream: on a terminal one line per
//! layer redrawn in place ([`tty`]), elsewhere one plain line per status
//! change ([`plain`]), nothing at all with `-q`.
//!
//! Lines that belong to the whole operation ("latest: Pulling from
//! library/busybox", "Digest: ...", "Status: ...") are printed as they
//! come; every other event with an id is a layer's.

mod plain;
mod tty;

use std::io;

use berth_proto::v1::{transfer_progress, TransferProgress};

use crate::error::CliError;
use crate::terminal;

pub use plain::Plain;

/// Where progress goes: stdout for `pull`/`push`, stderr for the pull
/// `run` and `create` make (their stdout is the container's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// Draws events as they arrive.
pub trait Renderer {
    fn event(&mut self, event: &TransferProgress) -> io::Result<()>;
    /// The stream ended or failed: layers stay as they were last drawn.
    fn finish(&mut self) -> io::Result<()>;
}

/// The renderer for `sink`: bars on a terminal, plain lines elsewhere,
/// none when `quiet`.
pub fn renderer(sink: Sink, quiet: bool) -> Box<dyn Renderer> {
    if quiet {
        return Box::new(Quiet);
    }
    match sink {
        Sink::Stdout if terminal::stdout_is_tty() => Box::new(tty::Tty::new(sink)),
        Sink::Stderr if terminal::stderr_is_tty() => Box::new(tty::Tty::new(sink)),
        Sink::Stdout => Box::new(Plain::new(io::stdout())),
        Sink::Stderr => Box::new(Plain::new(io::stderr())),
    }
}

/// `-q`: nothing while the transfer runs.
struct Quiet;

impl Renderer for Quiet {
    fn event(&mut self, _event: &TransferProgress) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// True for an event of the whole operation rather than of one layer: no
/// id ("Digest: ..."), or the tag line that opens a pull ("latest: Pulling
/// from library/busybox").
fn is_operation_line(event: &TransferProgress) -> bool {
    event.id.is_empty() || event.status.starts_with("Pulling from ")
}

/// A byte-count update (Downloading, Extracting, Pushing with counts):
/// drawn as a bar on a terminal, skipped elsewhere, as docker does.
fn has_counts(event: &TransferProgress) -> bool {
    event.current > 0 || event.total > 0
}

/// The event as one line of text: "id: status", or the status alone.
fn line(event: &TransferProgress) -> String {
    if event.id.is_empty() {
        event.status.clone()
    } else {
        format!("{}: {}", event.id, event.status)
    }
}

/// Feeds the stream to `renderer` until it ends; returns the result the
/// last event carried. A status from berthd, before or during the stream,
/// is [`CliError::Daemon`] ("Error response from daemon: ...").
pub async fn follow(
    stream: &mut tonic::Streaming<TransferProgress>,
    renderer: &mut dyn Renderer,
) -> Result<Option<transfer_progress::Result>, CliError> {
    let mut result = None;
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                if let Err(e) = renderer.event(&event) {
                    let _ = renderer.finish();
                    return Err(CliError::io("write progress", e));
                }
                if event.result.is_some() {
                    result = event.result;
                }
            }
            Ok(None) => break,
            Err(status) => {
                let _ = renderer.finish();
                return Err(CliError::Daemon(status));
            }
        }
    }
    renderer
        .finish()
        .map_err(|e| CliError::io("write progress", e))?;
    Ok(result)
}
