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

/// A new, empty network namespace (only `lo`, down), alive as long as the
/// returned fd: made by a thread that unshares its network namespace and
/// exits, so no process stays in it.
#[cfg(test)]
pub(crate) fn new_netns() -> io::Result<OwnedFd> {
    thread::spawn(|| -> io::Result<OwnedFd> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
        Ok(File::open("/proc/thread-self/ns/net")?.into())
    })
    .join()
    .map_err(|_| io::Error::other("unshare thread panicked"))?
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn inode(path: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).expect("stat").ino()
    }

    fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "network namespace tests need root (CAP_SYS_ADMIN for unshare/setns): run as root"
        );
    }

    #[test]
    fn in_netns_runs_inside_the_namespace() {
        require_root();
        let ns = new_netns().expect("new netns");
        let want = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&ns)
            ))
            .expect("stat ns fd")
            .ino()
        };
        let host = inode("/proc/thread-self/ns/net");
        assert_ne!(want, host);
        let dup = ns.as_fd().try_clone_to_owned().expect("dup");
        let seen = in_netns(dup, || inode("/proc/thread-self/ns/net")).expect("in_netns");
        assert_eq!(seen, want);
        // The caller's thread never moved.
        assert_eq!(inode("/proc/thread-self/ns/net"), host);
    }

    #[tokio::test]
    async fn in_netns_async_sees_only_lo() {
        require_root();
        // /proc/thread-self/net shows the thread's namespace (sysfs would
        // show the one it was mounted in).
        let ns = new_netns().expect("new netns");
        let dev = in_netns_async(ns, || std::fs::read_to_string("/proc/thread-self/net/dev"))
            .await
            .expect("in_netns_async")
            .expect("read net/dev");
        let names: Vec<&str> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(names, ["lo"]);
    }

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
