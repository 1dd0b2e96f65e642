//! An exec's child, from the clone to the exec. It joins the running
//! container's namespaces (user first, mount last; the parent entered the
//! pid namespace for the clone, since it applies to children only), opens
//! its pty in the container's devpts when it has a terminal, waits until the
//! parent has moved it into the container's cgroup (Joined), applies its
//! process spec with the init's own steps ([`super::apply`]) and execs.
//! Every failure goes to the parent as an exec failure, 127 for a command
//! not found and 126 for anything else, as `docker exec` reports them; a
//! successful exec closes the channel.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sched::{setns, CloneFlags};

use super::apply::{self, exit, ChildIo};
use super::exec::{ExecFailure, CANNOT_EXECUTE};
use super::plan::ProcessPlan;
use super::process::{Channel, Msg};
use super::seccomp::Filter;
use super::StepError;

/// What the exec's child works from (all prepared by the parent).
pub struct Join<'a> {
    /// The container's namespaces that differ from the shim's, user first.
    pub namespaces: &'a [(OwnedFd, CloneFlags)],
    pub process: &'a ProcessPlan,
    pub chan: &'a Channel,
    /// The parent's end of the channel, inherited by the clone: closed first.
    pub parent_end: RawFd,
    pub io: ChildIo,
    /// The container's filter.
    pub seccomp: Option<&'a Filter>,
}

impl Join<'_> {
    /// Run the child; never returns.
    pub fn run(&self) -> ! {
        apply::reset_signals();
        let _ = nix::unistd::close(self.parent_end);
        let path = match self.setup() {
            Ok(Ok(path)) => path,
            Ok(Err(f)) => self.fail(f.code, f.message),
            Err(e) => self.fail(CANNOT_EXECUTE, e.to_string()),
        };
        let f = apply::exec(self.process, self.seccomp, &path);
        self.fail(f.code, f.message)
    }

    fn fail(&self, code: i32, message: String) -> ! {
        let code = if code == 0 { CANNOT_EXECUTE } else { code };
        let _ = self.chan.send(&Msg::Error { code, message });
        exit(code)
    }

    fn setup(&self) -> Result<Result<std::ffi::CString, ExecFailure>, StepError> {
        let mut user_ns = false;
        for (fd, flag) in self.namespaces {
            setns(fd, *flag)
                .map_err(|e| StepError::new(format!("join namespace {flag:?}"), e.into()))?;
            user_ns |= *flag == CloneFlags::CLONE_NEWUSER;
        }
        if user_ns {
            apply::become_ns_root()?;
        }
        let (stdio, slave) = match self.io {
            ChildIo::Terminal(size) => {
                let (slave, _) = apply::open_console(self.chan, size)?;
                ([slave.as_raw_fd(); 3], Some(slave))
            }
            ChildIo::Fds(fds) => (fds, None::<OwnedFd>),
        };
        match self.chan.recv(None) {
            Ok(Some(Msg::Joined)) => {}
            _ => exit(1),
        }
        apply::prepare(self.process, self.seccomp, stdio, slave.is_some())
    }
}
