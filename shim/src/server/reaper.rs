//! The reaper: on every SIGCHLD, `waitpid(-1, WNOHANG)` until nothing is
//! left. The shim is a child subreaper, so this reaps the container init
//! (re-parented to the shim when an external runtime's `create` exits) and
//! any orphan of the container, which would otherwise stay a zombie.
//!
//! Runtime calls wait for their own helper processes synchronously on the
//! same thread, so the reaper never takes one of those from under them.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use tokio::signal::unix::Signal;

use super::exit::exit_code;
use super::state::Jobs;

/// Reaps children for ever. `sigchld` is registered before any child exists.
pub async fn reap(mut sigchld: Signal, jobs: Jobs) {
    loop {
        let exits = reap_all();
        if !exits.is_empty() {
            jobs.post(move |s| {
                for (pid, code) in exits {
                    s.reaped(pid, code);
                }
            });
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Every child that has exited: (pid, exit code).
fn reap_all() -> Vec<(i32, i32)> {
    let mut exits = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(status) => exits.extend(exit_code(status)),
            Err(Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("berth-shim: waitpid: {e}");
                break;
            }
        }
    }
    exits
}
