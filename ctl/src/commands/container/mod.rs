//! The container verbs: run, create, start, stop, restart, kill, rm, ps,
//! logs, wait, top, rename, port, attach, exec (the last two and foreground runs
//! share [`session`]: stdio, raw mode, resizes, sig-proxy). Names and ids go to berthd as the user typed
//! them; berthd resolves names, full ids and unique id prefixes.
//!
//! Verbs that take several containers (start, stop, restart, kill, rm,
//! wait) act on each in turn, print each one as given when it succeeds and
//! an "Error: ..." line when it fails, and exit 1 at the end if any failed,
//! as docker does.

pub mod attach;
pub mod cp;
pub mod create;
pub mod exec;
pub mod kill;
pub mod logs;
pub mod port;
pub mod ps;
pub mod rename;
pub mod rm;
pub mod run;
pub mod session;
pub mod start;
pub mod status;
pub mod stop;
pub mod top;
pub mod wait;

use std::future::Future;
use std::process::ExitCode;

use super::{print, report};
use crate::error::CliError;

/// Exit code of a multi-target verb when some target failed (docker's).
pub const EXIT_SOME_FAILED: u8 = 1;

/// Runs `action` on each target in turn: the target is printed when it
/// succeeds, the error reported when it fails; exit 1 if any failed.
pub async fn each_target<F, Fut>(targets: &[String], mut action: F) -> Result<ExitCode, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), CliError>>,
{
    let mut failed = false;
    for target in targets {
        match action(target.clone()).await {
            Ok(()) => print(&format!("{target}\n"))?,
            Err(e) => {
                report(&e);
                failed = true;
            }
        }
    }
    Ok(exit_after(failed))
}

/// Success, or [`EXIT_SOME_FAILED`] after reported failures.
pub fn exit_after(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(EXIT_SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
