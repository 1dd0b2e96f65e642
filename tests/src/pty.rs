//! A pseudo-terminal for the interactive end-to-end tests: a command runs
//! with the pty's slave as its controlling terminal and stdio (as in a
//! user's terminal emulator), the test types into the master, reads what
//! the command prints, resizes the window (the kernel sends SIGWINCH) and
//! reads the terminal's settings back after the command exits.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{self, LocalModes, Winsize};

use crate::wait::wait_exit_within;
use crate::Daemon;

/// How long [`Pty::expect`] waits by default.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the command printed so far, and whether the pty closed.
#[derive(Default)]
struct Screen {
    out: Vec<u8>,
    closed: bool,
}

/// A command running on a pseudo-terminal.
pub struct Pty {
    master: std::fs::File,
    child: Child,
    screen: Arc<(Mutex<Screen>, Condvar)>,
    /// Where the next [`Pty::expect`] starts looking.
    mark: usize,
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    /// Runs `cmd` on a new pty of `cols` x `rows`.
    pub fn spawn(mut cmd: Command, cols: u16, rows: u16) -> Pty {
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        termios::tcsetwinsize(&master, winsize(cols, rows)).expect("set the pty size");
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("pty name"))
            .expect("open the pty slave")
            .into();
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty slave"));
        cmd.stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave));
        // SAFETY: the closure runs in the forked child before exec and only
        // makes two system calls (no allocation, no locks): a new session,
        // then the pty (already on fd 0) as its controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on the pty");
        drop(slave);
        let master = std::fs::File::from(master);
        let screen = Arc::new((Mutex::new(Screen::default()), Condvar::new()));
        let mut reader = master.try_clone().expect("dup the pty master");
        let shared = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*shared;
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if n == 0 {
                    // EIO: every slave fd is closed (the command and its
                    // children exited).
                    s.closed = true;
                    cv.notify_all();
                    return;
                }
                s.out.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        Pty {
            master,
            child,
            screen,
            mark: 0,
        }
    }

    /// The command's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `s`.
    pub fn send(&mut self, s: impl AsRef<[u8]>) {
        self.master.write_all(s.as_ref()).expect("write to the pty");
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        let s = self.screen.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&s.out).into_owned()
    }

    /// Waits until the output after the last match contains `needle`;
    /// returns the output up to and including it. Panics with what was
    /// printed when it does not come in time.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, EXPECT_TIMEOUT)
    }

    /// [`Pty::expect`] with a timeout.
    pub fn expect_within(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.screen;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let tail = &s.out[self.mark.min(s.out.len())..];
            if let Some(i) = find(tail, needle.as_bytes()) {
                let end = self.mark + i + needle.len();
                let seen = String::from_utf8_lossy(&s.out[self.mark..end]).into_owned();
                self.mark = end;
                return seen;
            }
            let now = Instant::now();
            if now >= deadline || s.closed {
                panic!(
                    "{needle:?} did not appear{}; the terminal shows:\n{}",
                    if s.closed { " (the pty closed)" } else { "" },
                    String::from_utf8_lossy(&s.out)
                );
            }
            s = cv
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Changes the window size (the command gets SIGWINCH).
    pub fn resize(&mut self, cols: u16, rows: u16) {
        termios::tcsetwinsize(self.master.as_fd(), winsize(cols, rows)).expect("resize the pty");
    }

    /// Waits for the command to exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(st) = wait_exit_within(&mut self.child, timeout) {
            return st;
        }
        let _ = self.child.kill();
        panic!(
            "the command did not exit in {timeout:?}; the terminal shows:\n{}",
            self.output()
        );
    }

    /// Whether the terminal is back in cooked mode (canonical input,
    /// echo, signals from ^C), as a shell expects it.
    pub fn is_cooked(&self) -> bool {
        // On Linux the master's settings are the slave's.
        let t = termios::tcgetattr(self.master.as_fd()).expect("tcgetattr");
        t.local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG)
    }

    /// Sends the command SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// `berth ARGS` against this daemon on a new pty of 100 x 30.
    pub fn pty(&self, args: &[&str]) -> Pty {
        self.pty_sized(args, 100, 30)
    }

    /// `berth ARGS` against this daemon on a new pty of `cols` x `rows`.
    pub fn pty_sized(&self, args: &[&str], cols: u16, rows: u16) -> Pty {
        let mut cmd = self.cmd();
        cmd.args(args);
        Pty::spawn(cmd, cols, rows)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
