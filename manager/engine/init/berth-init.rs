//! berth-init: the tiny PID 1 that `berth run --init` puts in front of the
//! container's command (docker uses tini as docker-init for the same job).
//!
//! Usage: `berth-init [--] COMMAND [ARG...]`
//!
//! - forks and execs COMMAND (looked up in PATH);
//! - forwards every signal it can catch (SIGTERM, SIGINT, SIGHUP, SIGQUIT,
//!   SIGUSR1, SIGUSR2, SIGWINCH, ...) to that child: a PID 1 without handlers
//!   ignores them, which is why a plain shell as PID 1 never stops on
//!   `docker stop`;
//! - reaps every zombie, including orphans re-parented to it (when it is not
//!   PID 1 it makes itself a child subreaper so the same holds);
//! - exits with the child's exit code, or 128+signal if it was killed.
//!
//! It is compiled by manager/build.rs straight with rustc, WITHOUT cargo
//! dependencies, as a static binary that runs in any rootfs (busybox has no
//! libc): so the few libc calls are declared by hand below. It only runs on
//! Linux with glibc's ABI (x86_64, aarch64).

use std::ffi::{CString, OsString};
use std::os::raw::{c_char, c_int, c_long, c_ulong};
use std::os::unix::ffi::OsStrExt;

/// glibc's sigset_t: 1024 bits.
#[repr(C)]
#[derive(Clone, Copy)]
struct SigSet([c_ulong; 1024 / (8 * std::mem::size_of::<c_ulong>())]);

/// The kernel's siginfo_t is 128 bytes, pointer-aligned; only si_signo (the
/// first int) is read.
#[repr(C)]
struct SigInfo {
    signo: c_int,
    _rest: [c_int; 31],
    _align: [usize; 0],
}

#[repr(C)]
struct Timespec {
    sec: c_long,
    nsec: c_long,
}

extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigdelset(set: *mut SigSet, sig: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigtimedwait(set: *const SigSet, info: *mut SigInfo, timeout: *const Timespec) -> c_int;
    fn fork() -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn getpid() -> c_int;
    fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int;
    fn _exit(code: c_int) -> !;
}

const SIG_SETMASK: c_int = 2;
const WNOHANG: c_int = 1;
const SIGCHLD: c_int = 17;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const EINTR: i32 = 4;
const EAGAIN: i32 = 11;
const ECHILD: i32 = 10;
const ENOENT: i32 = 2;

/// Signals that are raised synchronously by a fault in this process or that
/// stop it from a terminal; blocking them would hang or kill init, so they
/// keep their default action (tini leaves the same ones out).
const NOT_FORWARDED: &[c_int] = &[
    4,  // SIGILL
    5,  // SIGTRAP
    6,  // SIGABRT
    7,  // SIGBUS
    8,  // SIGFPE
    11, // SIGSEGV
    21, // SIGTTIN
    22, // SIGTTOU
    31, // SIGSYS
];

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn fail(msg: &str) -> ! {
    eprintln!("berth-init: {msg}");
    std::process::exit(1)
}

/// The command line after an optional `--`.
fn command() -> Vec<CString> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        fail("usage: berth-init [--] COMMAND [ARG...]");
    }
    args.iter()
        .map(|a| {
            CString::new(a.as_bytes()).unwrap_or_else(|_| fail("argument contains a NUL byte"))
        })
        .collect()
}

/// Runs in the forked child: restore the signal mask and exec. Never returns.
fn exec_child(argv: &[CString], old_mask: &SigSet) -> ! {
    let mut ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: old_mask is a valid sigset filled by sigprocmask; ptrs is a
    // NULL-terminated array of pointers into `argv`'s CStrings, alive here.
    unsafe {
        sigprocmask(SIG_SETMASK, old_mask, std::ptr::null_mut());
        execvp(ptrs[0], ptrs.as_ptr());
    }
    let err = errno();
    eprintln!(
        "berth-init: exec {:?} failed: {}",
        argv[0],
        std::io::Error::from_raw_os_error(err)
    );
    // Docker's convention: 127 for "not found", 126 for "cannot execute".
    let code = if err == ENOENT { 127 } else { 126 };
    // SAFETY: _exit ends the child without running the parent's atexit or
    // flushing its (shared) stdio buffers.
    unsafe { _exit(code) }
}

/// Turns a waitpid status into a shell-style exit code.
fn exit_code(status: c_int) -> c_int {
    let sig = status & 0x7f;
    if sig == 0 {
        (status >> 8) & 0xff
    } else {
        128 + sig
    }
}

/// Reaps every exited child; returns the main child's exit code once it is
/// among them.
fn reap(child: c_int) -> Option<c_int> {
    let mut main = None;
    loop {
        let mut status: c_int = 0;
        // SAFETY: status is a valid out pointer; WNOHANG never blocks.
        let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
        if pid > 0 {
            if pid == child {
                main = Some(exit_code(status));
            }
            continue;
        }
        if pid < 0 && errno() == EINTR {
            continue;
        }
        // 0: children left but none exited; ECHILD: none left.
        if pid < 0 && errno() != ECHILD {
            eprintln!("berth-init: waitpid: {}", std::io::Error::last_os_error());
        }
        return main;
    }
}

/// Blocks every signal but the ones not forwarded, so they are taken by
/// sigtimedwait; returns the blocked set and the mask to restore in the child.
fn block_signals() -> (SigSet, SigSet) {
    let mut wait_set = SigSet([0; 1024 / (8 * std::mem::size_of::<c_ulong>())]);
    let mut old_mask = wait_set;
    // SAFETY: both sets are valid, writable sigset_t-sized buffers.
    unsafe {
        sigfillset(&mut wait_set);
        for &sig in NOT_FORWARDED {
            sigdelset(&mut wait_set, sig);
        }
        if sigprocmask(SIG_SETMASK, &wait_set, &mut old_mask) != 0 {
            fail("sigprocmask failed");
        }
    }
    (wait_set, old_mask)
}

fn main() {
    let argv = command();

    let (wait_set, old_mask) = block_signals();

    // SAFETY: getpid has no preconditions.
    if unsafe { getpid() } != 1 {
        // Outside a pid namespace orphans would go to the real init; as a
        // subreaper they come to us, so zombies are still reaped.
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a flag.
        if unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            eprintln!(
                "berth-init: cannot become a subreaper: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    // SAFETY: this process is single-threaded, so the child may run any code.
    let child = unsafe { fork() };
    if child < 0 {
        fail(&format!("fork: {}", std::io::Error::last_os_error()));
    }
    if child == 0 {
        exec_child(&argv, &old_mask);
    }

    let mut info = SigInfo {
        signo: 0,
        _rest: [0; 31],
        _align: [],
    };
    // Waking up now and then covers a SIGCHLD merged with another one
    // while we were forwarding a signal; reap() is cheap.
    let timeout = Timespec { sec: 1, nsec: 0 };
    loop {
        // SAFETY: wait_set, info and timeout are valid for the call.
        let sig = unsafe { sigtimedwait(&wait_set, &mut info, &timeout) };
        if sig < 0 {
            let err = errno();
            if err != EAGAIN && err != EINTR {
                fail(&format!(
                    "sigtimedwait: {}",
                    std::io::Error::from_raw_os_error(err)
                ));
            }
        } else if sig != SIGCHLD {
            // SAFETY: kill only sends a signal; a child that is already gone
            // gives ESRCH, which is harmless (its exit is reaped below).
            unsafe { kill(child, sig) };
        }
        if let Some(code) = reap(child) {
            std::process::exit(code);
        }
    }
}
