//! The steps every container process takes once it is inside the
//! container (its namespaces, its cgroup, its root): the init after it has
//! built the rootfs, an exec after it has joined. In runc's order: umask,
//! rlimits, seccomp when no_new_privs is off (loading a filter then needs
//! CAP_SYS_ADMIN, which the user switch may drop), user, groups and
//! capabilities, no_new_privs, cwd, the command lookup, stdio, a new session
//! (with its controlling terminal); at exec time seccomp when no_new_privs
//! is on, and execve.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::stat::{umask, Mode};
use nix::unistd::{chdir, dup2, setresgid, setresuid, setsid, Gid, Uid};

use super::console;
use super::exec::{self, ExecFailure};
use super::plan::ProcessPlan;
use super::process::{Channel, Msg};
use super::rlimits;
use super::seccomp::{Filter, SeccompError};
use super::user;
use super::{ConsoleSize, StepError};

/// Where a child's 0, 1, 2 come from.
#[derive(Debug, Clone, Copy)]
pub enum ChildIo {
    /// These fds (inherited from the parent).
    Fds([RawFd; 3]),
    /// A pty the child opens in the container's devpts.
    Terminal(ConsoleSize),
}

fn seccomp_step(e: SeccompError) -> StepError {
    let source = match e {
        SeccompError::Load(errno) => std::io::Error::from_raw_os_error(errno as i32),
        other => std::io::Error::other(other.to_string()),
    };
    StepError::new("load seccomp filter", source)
}

/// Become root of the user namespace just entered: the clone kept the
/// host's ids, which the namespace may not map (files it creates would
/// fail with EOVERFLOW). The namespace's capabilities are kept.
pub fn become_ns_root() -> Result<(), StepError> {
    let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
    setresgid(gid, gid, gid)
        .map_err(|e| StepError::new("setgid 0 in the user namespace", e.into()))?;
    setresuid(uid, uid, uid).map_err(|e| StepError::new("setuid 0 in the user namespace", e.into()))
}

/// Opens a pty in the container's devpts (the caller is inside its mount
/// namespace and root), sizes it and sends the master to the parent.
/// Returns the slave and its number (/dev/pts/N).
pub fn open_console(chan: &Channel, size: ConsoleSize) -> Result<(OwnedFd, u32), StepError> {
    let pty = console::open_pty().map_err(|e| StepError::new("open a pty in /dev/ptmx", e))?;
    if size.is_set() {
        console::set_size(pty.master.as_raw_fd(), size)
            .map_err(|e| StepError::new("set the terminal size", e))?;
    }
    chan.send_with_fd(&Msg::Console, pty.master.as_raw_fd())
        .map_err(|e| StepError::new("send the pty master to the shim", e))?;
    Ok((pty.slave, pty.number))
}

/// Everything from the process spec up to the exec. The outer error is a
/// failed step; the inner result is the command lookup (the init reports
/// its failure at Start, as docker does).
pub fn prepare(
    p: &ProcessPlan,
    seccomp: Option<&Filter>,
    stdio: [RawFd; 3],
    terminal: bool,
) -> Result<Result<CString, ExecFailure>, StepError> {
    umask(Mode::from_bits_truncate(p.umask));
    rlimits::apply(&p.rlimits)?;
    if !p.no_new_privileges {
        if let Some(f) = seccomp {
            f.load().map_err(seccomp_step)?;
        }
    }
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    user::switch(&p.user, p.caps.as_ref(), setgroups_allowed)?;
    if p.no_new_privileges {
        user::no_new_privileges()?;
    }
    chdir(&p.cwd).map_err(|e| {
        StepError::new(
            format!(
                "chdir to cwd (\"{}\") set in config.json failed",
                p.cwd.display()
            ),
            e.into(),
        )
    })?;
    let found = exec::resolve(&p.arg0, &p.path);
    take_stdio(stdio)?;
    close_other_fds();
    setsid().map_err(|e| StepError::new("setsid", e.into()))?;
    if terminal {
        console::make_controlling(0)
            .map_err(|e| StepError::new("make the pty the controlling terminal", e))?;
    }
    Ok(found)
}

/// Loads seccomp (with no_new_privs) and execs `path`; returns only on
/// failure: code 126/127 for the command, 0 for the filter.
pub fn exec(p: &ProcessPlan, seccomp: Option<&Filter>, path: &CStr) -> ExecFailure {
    if p.no_new_privileges {
        if let Some(f) = seccomp {
            if let Err(e) = f.load() {
                return ExecFailure {
                    code: 0,
                    message: seccomp_step(e).to_string(),
                };
            }
        }
    }
    exec::exec(path, &p.args, &p.env)
}

/// Default dispositions and an empty mask: ignored signals (Rust ignores
/// SIGPIPE) and blocked ones would otherwise survive exec.
pub fn reset_signals() {
    for sig in 1..65 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting the default disposition installs no handler;
        // errors (signals the C library reserves) are ignored.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // SAFETY: an empty set built by sigemptyset, passed by pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Make `fds` the process's 0, 1, 2. They are first copied above 2
/// (close-on-exec), so a source that already is 0, 1 or 2 is not clobbered.
fn take_stdio(fds: [RawFd; 3]) -> Result<(), StepError> {
    use nix::fcntl::{fcntl, FcntlArg};
    let mut moved = [0; 3];
    for (m, fd) in moved.iter_mut().zip(fds) {
        *m = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(3))
            .map_err(|e| StepError::new(format!("dup stdio fd {fd}"), e.into()))?;
    }
    for (target, fd) in moved.into_iter().enumerate() {
        dup2(fd, target as RawFd)
            .map_err(|e| StepError::new(format!("dup stdio onto fd {target}"), e.into()))?;
    }
    Ok(())
}

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Mark every fd above 2 close-on-exec: only 0, 1, 2 reach the command,
/// while the channel stays usable until the exec.
fn close_other_fds() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Kernels before 5.11: walk /proc/self/fd.
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<RawFd> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd > 2)
            .collect();
        for fd in fds {
            // SAFETY: F_SETFD on a descriptor number; a stale one fails harmlessly.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
}

/// `_exit`: ends a child that failed before exec without running the
/// parent's atexit handlers or flushing its copied stdio buffers.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit only ends the calling process.
    unsafe { libc::_exit(code) }
}
