//! Cloning the container init into its new namespaces (or an exec into
//! none: it joins the container's), and the channel
//! the parent and the init talk over: a SOCK_SEQPACKET socketpair (one
//! message per send, both directions) whose ends are close-on-exec, so a
//! successful exec closes the init's end and the parent reads end-of-file.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::unistd::Pid;

/// What the parent and the init say to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent → init: id maps written; set up the mounts.
    Go,
    /// Parent → init: moved into the cgroup (done while the init mounts:
    /// the first move into a v1 cgroup waits for an RCU grace period).
    Joined,
    /// Parent → init: exec now.
    Start,
    /// Init → parent: stopped before exec, waiting for Start.
    Ready,
    /// Child → parent: the pty master travels with this message.
    Console,
    /// Init → parent: a step failed. `code` is the exit code for an exec
    /// failure (126/127), 0 for any other failure.
    Error { code: i32, message: String },
}

/// Messages longer than this are cut (they are one error line).
const MAX_MSG: usize = 4096;

impl Msg {
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Msg::Go => buf.push(b'G'),
            Msg::Joined => buf.push(b'J'),
            Msg::Start => buf.push(b'S'),
            Msg::Ready => buf.push(b'R'),
            Msg::Console => buf.push(b'C'),
            Msg::Error { code, message } => {
                buf.push(b'E');
                buf.extend_from_slice(&code.to_le_bytes());
                let m = message.as_bytes();
                buf.extend_from_slice(&m[..m.len().min(MAX_MSG)]);
            }
        }
    }

    fn decode(b: &[u8]) -> io::Result<Msg> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed init message");
        match b.first() {
            Some(b'G') => Ok(Msg::Go),
            Some(b'J') => Ok(Msg::Joined),
            Some(b'S') => Ok(Msg::Start),
            Some(b'R') => Ok(Msg::Ready),
            Some(b'C') => Ok(Msg::Console),
            Some(b'E') if b.len() >= 5 => {
                let code = i32::from_le_bytes([b[1], b[2], b[3], b[4]]);
                Ok(Msg::Error {
                    code,
                    message: String::from_utf8_lossy(&b[5..]).into_owned(),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// A connected pair (parent's end, init's end). Both are close-on-exec and
/// above 2, so the init's dup2 onto 0, 1, 2 cannot clobber them.
pub fn channel() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(errno)?;
    Ok((
        Channel {
            fd: above_stdio(a)?,
        },
        Channel {
            fd: above_stdio(b)?,
        },
    ))
}

fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let new = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(errno)?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

impl Channel {
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let mut buf = Vec::with_capacity(16);
        msg.encode(&mut buf);
        loop {
            match send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(errno(e)),
            }
        }
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, msg: &Msg, fd: RawFd) -> io::Result<()> {
        let mut buf = Vec::with_capacity(16);
        msg.encode(&mut buf);
        super::console::send_fd(self.fd.as_raw_fd(), &buf, fd)
    }

    /// The next message; `None` at end-of-file (the other end closed: it
    /// exec'd or died). `timeout` bounds the wait. A descriptor sent with
    /// it is dropped: see [`Channel::recv_with_fd`].
    pub fn recv(&self, timeout: Option<Duration>) -> io::Result<Option<Msg>> {
        self.recv_with_fd(timeout).map(|(m, _)| m)
    }

    /// [`Channel::recv`], with the descriptor the message carried, if any
    /// (close-on-exec).
    pub fn recv_with_fd(
        &self,
        timeout: Option<Duration>,
    ) -> io::Result<(Option<Msg>, Option<OwnedFd>)> {
        if let Some(t) = timeout {
            let ms = i32::try_from(t.as_millis()).unwrap_or(i32::MAX);
            let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            loop {
                let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(errno(e)),
                }
            }
        }
        let mut buf = [0u8; MAX_MSG + 8];
        let mut received = super::console::recv_fd(self.fd.as_raw_fd(), &mut buf);
        if matches!(&received, Err(e) if e.raw_os_error() == Some(libc::ECONNRESET)) {
            // The peer died with a message of ours unread (an init that
            // failed just as it was told Joined). The kernel reports that
            // reset before the messages still queued for us, and clears it
            // as it does: read again, or the init's last words (its Error)
            // are lost. The peer is gone, so this cannot block.
            received = super::console::recv_fd(self.fd.as_raw_fd(), &mut buf);
        }
        match received {
            Ok((0, _)) => Ok((None, None)),
            Ok((n, fd)) => Ok((Some(Msg::decode(&buf[..n])?), fd)),
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Ok((None, None)),
            Err(e) => Err(e),
        }
    }
}

/// Stack for the init until it execs: mapped lazily, so its size costs
/// nothing until touched.
const STACK_SIZE: usize = 8 << 20;

/// Clone a child running `child` in new namespaces (`flags`), signalling
/// SIGCHLD when it exits. `child` must not return except to exit: its
/// return value becomes the exit code.
pub fn clone_init(flags: CloneFlags, child: &mut dyn FnMut() -> i32) -> io::Result<Pid> {
    // SAFETY: an anonymous private mapping; the result is checked.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // A guard page at the bottom: an overflow faults instead of writing
    // below the mapping. The stack is usable without it, so errors are ignored.
    // SAFETY: the first page of the mapping just made.
    unsafe {
        libc::mprotect(stack, 4096, libc::PROT_NONE);
    }
    // SAFETY: the mapping is STACK_SIZE bytes, readable and writable, and
    // only used through this slice until it is unmapped below.
    let stack_slice = unsafe { std::slice::from_raw_parts_mut(stack.cast::<u8>(), STACK_SIZE) };
    let cb = Box::new(|| child() as isize);
    // SAFETY: without CLONE_VM the child runs on its own copy of the
    // address space (including this stack); the parent is single-threaded
    // (the shim) or the child is run from a single-test process (tests), so
    // no lock is held by another thread at the time of the clone.
    let result = unsafe {
        nix::sched::clone(
            cb,
            stack_slice,
            flags,
            Some(nix::sys::signal::Signal::SIGCHLD as i32),
        )
    };
    // SAFETY: the mapping made above, no longer used by this process.
    unsafe {
        libc::munmap(stack, STACK_SIZE);
    }
    result.map_err(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = channel().unwrap();
        for m in [
            Msg::Go,
            Msg::Joined,
            Msg::Start,
            Msg::Ready,
            Msg::Console,
            Msg::Error {
                code: 127,
                message: "exec: \"x\": executable file not found in $PATH".into(),
            },
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv(Some(Duration::from_secs(1))).unwrap(), Some(m));
        }
        let e = b.recv(Some(Duration::from_millis(10))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let (r, w) = nix::unistd::pipe().unwrap();
        a.send_with_fd(&Msg::Console, w.as_raw_fd()).unwrap();
        drop(w);
        let (m, fd) = b.recv_with_fd(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(m, Some(Msg::Console));
        nix::unistd::write(fd.unwrap(), b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(nix::unistd::read(r.as_raw_fd(), &mut one).unwrap(), 1);
        drop(a);
        assert_eq!(b.recv(None).unwrap(), None);
    }
}
