//! The container init, from the clone to the exec. It waits for the
//! parent to put it in its cgroup, builds the container (namespaces, rootfs,
//! hostname, lo, sysctls, masked and read-only paths, rlimits, user and
//! capabilities, cwd), finds the command, takes its stdio, reports Ready and
//! waits for Start; then it loads seccomp and execs. Any failure is sent to
//! the parent over the channel and the init exits; a successful exec closes
//! the channel (close-on-exec), which the parent reads as success.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{chdir, dup2, setresgid, setresuid, setsid, Gid, Uid};

use super::exec::{self, ExecFailure};
use super::plan::Plan;
use super::process::{Channel, Msg};
use super::rlimits;
use super::rootfs::{self, Rootfs};
use super::seccomp::Filter;
use super::sys::Syscall;
use super::user;
use super::StepError;

/// What the init works from (all prepared by the parent).
pub struct Init<'a> {
    pub plan: &'a Plan,
    pub chan: &'a Channel,
    /// The parent's end of the channel, inherited by the clone: closed first.
    pub parent_end: RawFd,
    /// Fds to become 0, 1, 2.
    pub stdio: [RawFd; 3],
    pub seccomp: Option<&'a Filter>,
    pub sys: &'a dyn Syscall,
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or flushing its copied stdio buffers, which is what a child
    // that failed before exec must do.
    unsafe { libc::_exit(code) }
}

impl Init<'_> {
    /// Run the init; never returns.
    pub fn run(&self) -> ! {
        reset_signals();
        let _ = nix::unistd::close(self.parent_end);
        self.wait_for(Msg::Go);
        let found = match self.setup() {
            Ok(found) => found,
            Err(e) => self.fail(0, e.to_string(), 1),
        };
        if let Err(e) = self.chan.send(&Msg::Ready) {
            self.fail(0, format!("report ready: {e}"), 1);
        }
        self.wait_for(Msg::Start);
        let path = match found {
            Ok(p) => p,
            Err(f) => self.fail(f.code, f.message, f.code),
        };
        if self.plan.no_new_privileges {
            self.load_seccomp();
        }
        let f = exec::exec(&path, &self.plan.args, &self.plan.env);
        self.fail(f.code, f.message, f.code)
    }

    /// Wait for `want` from the parent; anything else (or the parent gone)
    /// ends the init.
    fn wait_for(&self, want: Msg) {
        match self.chan.recv(None) {
            Ok(Some(m)) if m == want => {}
            _ => exit(1),
        }
    }

    fn fail(&self, code: i32, message: String, exit_code: i32) -> ! {
        let _ = self.chan.send(&Msg::Error { code, message });
        exit(exit_code)
    }

    fn load_seccomp(&self) {
        if let Some(f) = self.seccomp {
            if let Err(e) = f.load() {
                self.fail(0, format!("load seccomp filter: {e}"), 1);
            }
        }
    }

    /// Everything up to Ready. The outer error is a failed step; the inner
    /// result is the command lookup, whose failure is reported at Start
    /// (docker reports it when the container starts).
    fn setup(&self) -> Result<Result<CString, ExecFailure>, StepError> {
        let plan = self.plan;
        let sys = self.sys;
        for (fd, flag) in &plan.join {
            setns(fd, *flag)
                .map_err(|e| StepError::new(format!("join namespace {flag:?}"), e.into()))?;
        }
        if plan.user_ns {
            // The clone kept the host's ids, which the namespace does not map
            // (files it creates would fail with EOVERFLOW): become its root,
            // keeping the namespace's capabilities.
            let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
            setresgid(gid, gid, gid)
                .map_err(|e| StepError::new("setgid 0 in the user namespace", e.into()))?;
            setresuid(uid, uid, uid)
                .map_err(|e| StepError::new("setuid 0 in the user namespace", e.into()))?;
        }
        // Device nodes and mount points get exactly the modes asked for.
        umask(Mode::empty());
        Rootfs {
            sys,
            root: &plan.rootfs,
            propagation: plan.root_propagation,
            mounts: &plan.mounts,
            cgroups: &plan.cgroup_mounts,
            devices: &plan.devices,
            cwd: &plan.cwd,
        }
        .build()?;
        if let Some(p) = plan.root_propagation_after {
            sys.mount(None, Path::new("/"), None, p, None)
                .map_err(|e| StepError::new("set the rootfs propagation", e))?;
        }
        if let Some(h) = &plan.hostname {
            sys.sethostname(h)
                .map_err(|e| StepError::new(format!("sethostname {h:?}"), e))?;
        }
        if plan.loopback {
            sys.loopback_up()
                .map_err(|e| StepError::new("bring up the loopback interface", e))?;
        }
        for (file, value) in &plan.sysctl {
            sys.write_file(file, value.as_bytes())
                .map_err(|e| StepError::new(format!("write sysctl {}", file.display()), e))?;
        }
        for p in &plan.readonly_paths {
            rootfs::readonly_path(sys, p)?;
        }
        for p in &plan.masked_paths {
            rootfs::mask_path(sys, p)?;
        }
        if plan.readonly_root {
            rootfs::readonly_root(sys)?;
        }
        if let Some(adj) = plan.oom_score_adj {
            let p = Path::new("/proc/self/oom_score_adj");
            sys.write_file(p, adj.to_string().as_bytes())
                .map_err(|e| StepError::new("write /proc/self/oom_score_adj", e))?;
        }
        // Everything above works on paths; from here on the init must be in
        // its cgroup (its cgroup namespace's root is where it is now).
        self.wait_for(Msg::Joined);
        if plan.new_cgroup_ns {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| StepError::new("unshare the cgroup namespace", e.into()))?;
        }
        umask(Mode::from_bits_truncate(plan.umask));
        rlimits::apply(&plan.rlimits)?;
        // Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which the
        // user switch may drop: load it now, as runc does.
        if !plan.no_new_privileges {
            self.load_seccomp();
        }
        let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() != "deny")
            .unwrap_or(true);
        user::switch(&plan.user, plan.caps.as_ref(), setgroups_allowed)?;
        if plan.no_new_privileges {
            user::no_new_privileges()?;
        }
        chdir(&plan.cwd).map_err(|e| {
            StepError::new(
                format!(
                    "chdir to cwd (\"{}\") set in config.json failed",
                    plan.cwd.display()
                ),
                e.into(),
            )
        })?;
        let found = exec::resolve(&plan.arg0, &plan.path);
        take_stdio(self.stdio)?;
        close_other_fds();
        setsid().map_err(|e| StepError::new("setsid", e.into()))?;
        Ok(found)
    }
}

/// Default dispositions and an empty mask: ignored signals (Rust ignores
/// SIGPIPE) and blocked ones would otherwise survive exec.
fn reset_signals() {
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
