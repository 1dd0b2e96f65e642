//! Pseudo-terminals for container processes, as runc makes them: the
//! process opens the pty in the container's own devpts instance (so its
//! slave is /dev/pts/N there and `tty` names it), and its master reaches
//! the shim as a file descriptor over a unix socket (SCM_RIGHTS): the
//! built-in runtime's channel, or an external runtime's `--console-socket`.
//! Plain ioctls, no allocation: the openers run in a cloned child.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::ConsoleSize;

/// An open pty pair and the slave's number in its devpts.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub number: u32,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens a new pty from `/dev/ptmx` as the calling process sees it (inside
/// the container after pivot_root or setns: the container's devpts).
/// Both ends are close-on-exec; the caller dups the slave onto 0, 1, 2.
pub fn open_pty() -> io::Result<Pty> {
    // SAFETY: a constant NUL-terminated path; the result is checked.
    let raw = check(unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open returned a new descriptor nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer, which outlives the call.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int into `number`.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    // TIOCGPTPEER (Linux 4.13) opens the slave through the master, so no
    // path lookup can be redirected.
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let raw = check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the ioctl returned a new descriptor nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok(Pty {
        master,
        slave,
        number,
    })
}

/// Sets a terminal's size (on either end; the kernel sends SIGWINCH to the
/// terminal's foreground process group when it changes).
pub fn set_size(fd: RawFd, size: ConsoleSize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which outlives the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Makes `fd` (a slave) the controlling terminal of the calling session
/// leader.
pub fn make_controlling(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal).
    check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// A pty master made non-blocking and registered with the current tokio
/// runtime (the shim reads and writes it on its one thread).
pub fn async_master(master: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fd = master.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL)?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    // SAFETY: an OwnedFd is open until it is dropped and always returns the
    // same descriptor, and the AsyncFd owns it from here on.
    unsafe { tokio::io::unix::AsyncFd::register(master) }.map_err(io::Error::from)
}

/// Sends `data` with `fd` attached over the unix socket `sock`.
pub fn send_fd(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(
            sock,
            &[IoSlice::new(data)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message into `buf` from the unix socket `sock`, with the
/// first fd it carries (close-on-exec; any others are closed). Returns the
/// data length (0: end-of-file) and the fd.
pub fn recv_fd(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        {
            Ok(m) => m,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut first = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel installed these descriptors for
                    // this process; nothing else owns them.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if first.is_none() {
                        first = Some(owned);
                    }
                }
            }
        }
        return Ok((msg.bytes, first));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    #[test]
    fn fds_pass_over_a_socket() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_fd(a.as_raw_fd(), b"hello", w.as_raw_fd()).unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        let (n, fd) = recv_fd(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let fd = fd.expect("an fd");
        nix::unistd::write(&fd, b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(nix::unistd::read(r.as_raw_fd(), &mut one).unwrap(), 1);
        drop(a);
        assert_eq!(recv_fd(b.as_raw_fd(), &mut buf).unwrap().0, 0);
    }

    #[test]
    fn ptys_open_and_resize() {
        // Needs a devpts at /dev/pts (any Linux host has one).
        let pty = open_pty().unwrap();
        set_size(
            pty.master.as_raw_fd(),
            ConsoleSize {
                width: 100,
                height: 30,
            },
        )
        .unwrap();
        let mut ws: libc::winsize = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into ws.
        let r = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!(r, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (100, 30));
    }
}
