//! Waiting, the one way every test does it: for a condition to hold
//! ([`wait_for`], [`wait_for_within`], [`poll`]) and for a process to exit
//! ([`wait_exit_within`], [`terminate`]). A wait that runs out fails the
//! test with a message; none of them gives up quietly.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How long [`wait_for`] waits.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often [`wait_for`] and [`wait_for_within`] look.
const EVERY: Duration = Duration::from_millis(50);

/// Polls `cond` until it holds; fails with "timed out waiting for WHAT"
/// after [`WAIT`].
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_for_within(what, WAIT, cond);
}

/// [`wait_for`] with another timeout.
pub fn wait_for_within(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    poll(timeout, EVERY, cond, || {
        format!("timed out waiting for {what}")
    });
}

/// Calls `cond` every `every` until it holds; after `timeout` fails with
/// the message `failure` makes then (so it can say what it sees).
pub fn poll(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
    failure: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("{}", failure());
        }
        std::thread::sleep(every);
    }
}

/// Waits up to `timeout` for `child` to exit: its status, or None while it
/// still runs.
pub fn wait_exit_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `child` SIGTERM and gives it `timeout` to exit, then SIGKILLs it;
/// its status.
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    if let Some(st) = wait_exit_within(child, timeout) {
        return Some(st);
    }
    let _ = child.kill();
    child.wait().ok()
}
