//! Entering a container's network namespace.
//!
//! A namespace is joined per thread (`setns(2)` moves only the calling
//! thread), and a tokio worker must never be moved: every task it runs later
//! would see the container's network. So work that must happen inside a
//! namespace — opening a netlink or TCP socket there, which stays bound to it
//! for its whole life — runs on a new, short-lived OS thread that joins the
//! namespace and ends with its job.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::thread;

use nix::sched::{setns, CloneFlags};
use tokio::sync::oneshot;

/// Opens `/proc/PID/ns/net`, the network namespace of process `pid`
/// (close-on-exec, as every `File`).
pub fn open(pid: u32) -> io::Result<OwnedFd> {
    Ok(File::open(format!("/proc/{pid}/ns/net"))?.into())
}

/// Runs `f` on a new thread that has joined the network namespace `ns` (an fd
/// of /proc/PID/ns/net); used to open netlink sockets inside a container's
/// namespace. Blocks the calling thread until `f` returns: from async code use
/// [`in_netns_async`].
pub fn in_netns<T: Send + 'static>(
    ns: OwnedFd,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || enter_and_run(ns, f))?
        .join()
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

/// [`in_netns`] for async callers: the runtime thread awaits the result
/// instead of blocking on the join.
pub async fn in_netns_async<T: Send + 'static>(
    ns: OwnedFd,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = oneshot::channel();
    thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            // The receiver is gone only if the caller was cancelled: nothing
            // to hand the result to, and dropping it frees what it holds.
            let _ = tx.send(enter_and_run(ns, f));
        })?;
    rx.await
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

/// On a thread of its own: joins `ns`, then runs `f`.
fn enter_and_run<T>(ns: OwnedFd, f: impl FnOnce() -> T) -> io::Result<T> {
    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("joining the network namespace: {e}"),
        )
    })?;
    drop(ns);
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_fd_is_an_error() {
        // Not a namespace: setns fails with EINVAL and the error says so.
        let file: OwnedFd = File::open("/proc/self/stat").expect("open").into();
        let err = in_netns(file, || ()).expect_err("setns on a non-namespace fd");
        assert!(
            err.to_string().contains("joining the network namespace"),
            "{err}"
        );
    }
}
