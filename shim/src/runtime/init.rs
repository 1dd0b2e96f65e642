//! The container init, from the clone to the exec. It waits for the
//! parent to put it in its cgroup, builds the container (namespaces, rootfs,
//! hostname, lo, sysctls, masked and read-only paths, rlimits, user and
//! capabilities, cwd), finds the command, takes its stdio (or opens its pty
//! and sends the master to the parent), reports Ready and waits for Start;
//! then it loads seccomp and execs. Any failure is sent to
//! the parent over the channel and the init exits; a successful exec closes
//! the channel (close-on-exec), which the parent reads as success.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{umask, Mode};

use super::apply::{self, exit, ChildIo};
use super::exec::ExecFailure;
use super::plan::Plan;
use super::process::{Channel, Msg};
use super::rootfs::{self, Rootfs};
use super::seccomp::Filter;
use super::sys::{Create, Syscall};
use super::StepError;

/// What the init works from (all prepared by the parent).
pub struct Init<'a> {
    pub plan: &'a Plan,
    pub chan: &'a Channel,
    /// The parent's end of the channel, inherited by the clone: closed first.
    pub parent_end: RawFd,
    /// Its 0, 1, 2: fds, or a pty it opens (and binds onto /dev/console).
    pub io: ChildIo,
    pub seccomp: Option<&'a Filter>,
    pub sys: &'a dyn Syscall,
}

impl Init<'_> {
    /// Run the init; never returns.
    pub fn run(&self) -> ! {
        apply::reset_signals();
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
        let f = apply::exec(&self.plan.process, self.seccomp, &path);
        self.fail(f.code, f.message, if f.code == 0 { 1 } else { f.code })
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
            apply::become_ns_root()?;
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
            cwd: &plan.process.cwd,
        }
        .build()?;
        if let Some(p) = plan.root_propagation_after {
            sys.mount(None, Path::new("/"), None, p, None)
                .map_err(|e| StepError::new("set the rootfs propagation", e))?;
        }
        // The pty comes from the container's devpts, as runc makes it: the
        // process's `tty` is /dev/pts/N, and /dev/console is the same pty.
        let (stdio, slave) = match self.io {
            ChildIo::Terminal(size) => {
                let (slave, n) = apply::open_console(self.chan, size)?;
                self.bind_console(n)?;
                ([slave.as_raw_fd(); 3], Some(slave))
            }
            ChildIo::Fds(fds) => (fds, None::<OwnedFd>),
        };
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
        // From here "/" is the container's root: paths are still resolved
        // in it, so an image's symlinks (or /proc's magic links) stay inside.
        let root = sys
            .open_root(Path::new("/"))
            .map_err(|e| StepError::new("open the container's /", e))?;
        for p in &plan.readonly_paths {
            rootfs::readonly_path(sys, &root, p)?;
        }
        for p in &plan.masked_paths {
            rootfs::mask_path(sys, &root, p)?;
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
        apply::prepare(&plan.process, self.seccomp, stdio, slave.is_some())
    }

    /// Bind /dev/pts/N onto /dev/console (created when missing), after
    /// pivot_root: /dev is the container's own tmpfs.
    fn bind_console(&self, n: u32) -> Result<(), StepError> {
        let sys = self.sys;
        let pts = format!("/dev/pts/{n}");
        let root = sys
            .open_root(Path::new("/"))
            .map_err(|e| StepError::new("open the container's /", e))?;
        let console = sys
            .resolve(&root, Path::new("/dev/console"), Create::File)
            .map_err(|e| StepError::new("create /dev/console", e))?;
        sys.mount(
            Some(Path::new(&pts)),
            &console.path(),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(|e| StepError::new(format!("bind {pts} onto /dev/console"), e))
    }
}
