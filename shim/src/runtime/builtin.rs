//! The built-in runtime's verbs: create (plan, cgroup, clone, handshake),
//! start (let the init exec, report why it could not), kill (the init, or
//! everything in its cgroup), delete (remove the cgroup) and exec (a
//! process joining the running container).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::apply::ChildIo;
use super::exec::CANNOT_EXECUTE;
use super::{devices, init, join, plan, process, seccomp, sys};
use super::{CreateOptions, Created, ExecOptions, Io, Runtime, RuntimeError, Spawned, Stdio};
use crate::cgroups::{Cgroup, CgroupError};

/// How long the init may take to build the container before create gives up.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the init may take from Start to exec.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an exec may take from the clone to its exec.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The namespaces an exec joins, in order (user first: it owns the others;
/// mount last: it changes the root). The pid namespace is separate.
const JOINED: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// A created container, as the built-in runtime tracks it.
#[derive(Debug)]
struct Container {
    id: String,
    pid: Pid,
    /// The parent's end of the channel, until start.
    chan: Option<process::Channel>,
    /// Until delete.
    cgroup: Option<Cgroup>,
    cgroup_path: String,
    /// The container's compiled filter, which its execs load too.
    seccomp: Option<seccomp::Filter>,
}

#[derive(Debug, Default)]
pub(super) struct Builtin {
    container: Option<Container>,
}

fn sys_err(call: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
    move |source| RuntimeError::Sys {
        call: call.into(),
        source,
    }
}

fn errno_err(call: impl Into<String>) -> impl FnOnce(Errno) -> RuntimeError {
    move |e| RuntimeError::Sys {
        call: call.into(),
        source: io::Error::from_raw_os_error(e as i32),
    }
}

/// Kill and reap an init that failed, and remove its cgroup.
fn abandon(pid: Pid, cgroup: Cgroup) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    let _ = cgroup.kill_all();
    let _ = cgroup.delete();
}

impl Builtin {
    fn container(&mut self) -> Result<&mut Container, RuntimeError> {
        self.container
            .as_mut()
            .ok_or_else(|| RuntimeError::State("the container was not created".into()))
    }

    /// Parent side of the create handshake, once the init is cloned; the
    /// init's pty master when it made one.
    fn handshake(
        plan: &plan::Plan,
        pid: Pid,
        cgroup: &Cgroup,
        chan: &process::Channel,
    ) -> Result<Option<OwnedFd>, RuntimeError> {
        if let (Some(uid_map), Some(gid_map)) = (&plan.uid_map, &plan.gid_map) {
            for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
                let path = format!("/proc/{pid}/{file}");
                std::fs::write(&path, map).map_err(sys_err(format!("write {path}")))?;
            }
        }
        chan.send(&process::Msg::Go)
            .map_err(sys_err("signal the container init"))?;
        let joined = cgroup
            .add_task(pid.as_raw())
            .map_err(RuntimeError::from)
            .and_then(|()| {
                chan.send(&process::Msg::Joined)
                    .map_err(sys_err("signal the container init"))
            });
        if let Err(e) = joined {
            // The init may have failed first (a mount, while it was being
            // moved) and exited: its own error says why.
            return match chan.recv(Some(Duration::ZERO)) {
                Ok(Some(process::Msg::Error { message, .. })) => Err(RuntimeError::Create(message)),
                _ => Err(e),
            };
        }
        let mut console = None;
        loop {
            match chan.recv_with_fd(Some(CREATE_TIMEOUT)) {
                Ok((Some(process::Msg::Console), Some(fd))) if console.is_none() => {
                    console = Some(fd)
                }
                Ok((Some(process::Msg::Ready), _)) => return Ok(console),
                Ok((Some(process::Msg::Error { message, .. }), _)) => {
                    return Err(RuntimeError::Create(message))
                }
                Ok(_) => {
                    return Err(RuntimeError::Create(
                        "the container init exited while it was being set up".into(),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(RuntimeError::Create(format!(
                        "the container init was not ready within {}s",
                        CREATE_TIMEOUT.as_secs()
                    )))
                }
                Err(e) => return Err(sys_err("read from the container init")(e)),
            }
        }
    }

    /// Parent side of an exec once its child is cloned: into the cgroup
    /// (while the child joins the namespaces), the pty master, Joined, then
    /// end-of-file (it exec'd) or why it could not.
    fn exec_handshake(
        pid: Pid,
        cgroup: &Cgroup,
        chan: &process::Channel,
        terminal: bool,
    ) -> Result<Option<OwnedFd>, RuntimeError> {
        let failed = |code: i32, message: String| RuntimeError::Exec {
            code: if code == 0 { CANNOT_EXECUTE } else { code },
            message,
        };
        let gone = || failed(CANNOT_EXECUTE, "the exec process exited early".into());
        let timed_out = |e: io::Error| {
            if e.kind() == io::ErrorKind::TimedOut {
                failed(
                    CANNOT_EXECUTE,
                    format!(
                        "the exec process did not start within {}s",
                        EXEC_TIMEOUT.as_secs()
                    ),
                )
            } else {
                sys_err("read from the exec process")(e)
            }
        };
        cgroup.add_task(pid.as_raw())?;
        let console = if terminal {
            match chan.recv_with_fd(Some(EXEC_TIMEOUT)).map_err(timed_out)? {
                (Some(process::Msg::Console), Some(fd)) => Some(fd),
                (Some(process::Msg::Error { code, message }), _) => {
                    return Err(failed(code, message))
                }
                _ => return Err(gone()),
            }
        } else {
            None
        };
        chan.send(&process::Msg::Joined).map_err(|_| gone())?;
        match chan.recv(Some(EXEC_TIMEOUT)).map_err(timed_out)? {
            None => Ok(console),
            Some(process::Msg::Error { code, message }) => Err(failed(code, message)),
            Some(m) => Err(RuntimeError::Create(format!(
                "unexpected message from the exec process: {m:?}"
            ))),
        }
    }
}

impl Runtime for Builtin {
    fn create(&mut self, opts: CreateOptions<'_>) -> Result<Created, RuntimeError> {
        if self.container.is_some() {
            return Err(RuntimeError::State(format!(
                "container {} was already created",
                opts.id
            )));
        }
        let plan = plan::Plan::new(opts.id, opts.bundle, opts.spec)?;
        let filter = opts
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|profile| seccomp::compile_cached(profile, opts.cache_dir))
            .transpose()?;
        let (io, stdio) = child_io(opts.io)?;
        let (parent_chan, init_chan) = process::channel().map_err(sys_err("socketpair"))?;
        let cgroup = Cgroup::create(&plan.cgroup_path, &plan.limits)?;
        let mut warnings = plan.warnings.clone();
        warnings.extend(cgroup.warnings().iter().cloned());
        if let Err(e) = device_rules(&plan, &mut warnings) {
            let _ = cgroup.delete();
            return Err(e);
        }

        let init = init::Init {
            plan: &plan,
            chan: &init_chan,
            parent_end: parent_chan.raw_fd(),
            io,
            seccomp: filter.as_ref(),
            sys: &sys::RealSyscall,
        };
        let cloned = clone_in_pid_ns(plan.pid_ns.as_ref(), plan.clone_flags, &mut || init.run());
        // The init has its own copies now; the parent must not keep the
        // container's stdio open (the shim reads stdout/stderr to EOF).
        drop((stdio, init_chan));
        let pid = match cloned {
            Ok(pid) => pid,
            Err(e) => {
                let _ = cgroup.delete();
                return Err(e);
            }
        };
        let console = match Self::handshake(&plan, pid, &cgroup, &parent_chan) {
            Ok(console) => console,
            Err(e) => {
                abandon(pid, cgroup);
                return Err(e);
            }
        };
        self.container = Some(Container {
            id: opts.id.to_owned(),
            pid,
            chan: Some(parent_chan),
            cgroup_path: plan.cgroup_path.clone(),
            cgroup: Some(cgroup),
            seccomp: filter,
        });
        Ok(Created {
            pid: pid.as_raw(),
            warnings,
            console,
        })
    }

    fn start(&mut self) -> Result<(), RuntimeError> {
        let c = self.container()?;
        let chan = c.chan.take().ok_or_else(|| {
            RuntimeError::State(format!("container {} was already started", c.id))
        })?;
        if let Err(e) = chan.send(&process::Msg::Start) {
            return Err(RuntimeError::Create(format!(
                "the container init is gone: {e}"
            )));
        }
        match chan.recv(Some(START_TIMEOUT)) {
            Ok(None) => Ok(()),
            Ok(Some(process::Msg::Error { code, message })) if code != 0 => {
                Err(RuntimeError::Exec { code, message })
            }
            Ok(Some(process::Msg::Error { message, .. })) => Err(RuntimeError::Create(message)),
            Ok(Some(m)) => Err(RuntimeError::Create(format!(
                "unexpected message from the container init: {m:?}"
            ))),
            Err(e) => Err(sys_err("wait for the container init to exec")(e)),
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let c = self.container()?;
        let sig = Signal::try_from(signal)
            .map_err(|_| RuntimeError::Spec(format!("invalid signal {signal}")))?;
        let loaded;
        let cgroup = match &c.cgroup {
            Some(cg) => cg,
            None => {
                loaded = Cgroup::load(&c.cgroup_path)?;
                &loaded
            }
        };
        let pids = cgroup.pids()?;
        if all {
            if sig == Signal::SIGKILL {
                return Ok(cgroup.kill_all()?);
            }
            for p in pids {
                match kill(Pid::from_raw(p), sig) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => return Err(errno_err(format!("kill {p} {sig}"))(e)),
                }
            }
            return Ok(());
        }
        // Only signal the init while it is in the container's cgroup: once
        // it has exited its pid may belong to someone else.
        if !pids.contains(&c.pid.as_raw()) {
            return Err(RuntimeError::State(format!(
                "container {} is not running",
                c.id
            )));
        }
        kill(c.pid, sig).map_err(errno_err(format!("kill {} {sig}", c.pid)))
    }

    fn delete(&mut self) -> Result<(), RuntimeError> {
        let Some(c) = self.container.as_mut() else {
            return Ok(());
        };
        // An init never started reads end-of-file and exits.
        c.chan = None;
        let cgroup = match c.cgroup.take() {
            Some(cg) => cg,
            None => match Cgroup::load(&c.cgroup_path) {
                Ok(cg) => cg,
                Err(CgroupError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            },
        };
        cgroup.kill_all()?;
        Ok(cgroup.delete()?)
    }

    fn exec(&mut self, opts: ExecOptions<'_>) -> Result<Spawned, RuntimeError> {
        let c = self.container()?;
        let not_running = || RuntimeError::State(format!("container {} is not running", c.id));
        if c.chan.is_some() {
            return Err(not_running());
        }
        let cgroup = c.cgroup.as_ref().ok_or_else(not_running)?;
        // The init's pid is the container's only while it is in its cgroup.
        if !cgroup.pids()?.contains(&c.pid.as_raw()) {
            return Err(not_running());
        }
        // Adjustments (clamped rlimits, capabilities this host lacks) are
        // the container's own, reported when it was created.
        let mut adjusted = Vec::new();
        let root = PathBuf::from(format!("/proc/{}/root", c.pid));
        let process = plan::ProcessPlan::new(opts.process, &root, &mut adjusted)?;
        let (namespaces, pid_ns) = namespaces_of(c.pid)?;
        let terminal = matches!(opts.io, Io::Terminal(_));
        let (io, stdio) = child_io(opts.io)?;
        let (parent_chan, child_chan) = process::channel().map_err(sys_err("socketpair"))?;
        let child = join::Join {
            namespaces: &namespaces,
            process: &process,
            chan: &child_chan,
            parent_end: parent_chan.raw_fd(),
            io,
            seccomp: c.seccomp.as_ref(),
        };
        let cloned = clone_in_pid_ns(pid_ns.as_ref(), CloneFlags::empty(), &mut || child.run());
        drop((stdio, child_chan, namespaces, pid_ns));
        let pid = cloned?;
        match Self::exec_handshake(pid, cgroup, &parent_chan, terminal) {
            Ok(console) => Ok(Spawned {
                pid: pid.as_raw(),
                console,
            }),
            Err(e) => {
                // Reaped here, so the shim's reaper never sees it.
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                Err(e)
            }
        }
    }
}

/// The child's view of `io`, and the fds the parent must close once it is
/// cloned.
fn child_io(io: Io) -> Result<(ChildIo, Vec<OwnedFd>), RuntimeError> {
    match io {
        Io::Terminal(size) => Ok((ChildIo::Terminal(size), Vec::new())),
        Io::Pipes(Stdio {
            stdin,
            stdout,
            stderr,
        }) => {
            let stdin: OwnedFd = match stdin {
                Some(fd) => fd,
                None => File::open("/dev/null")
                    .map_err(sys_err("open /dev/null"))?
                    .into(),
            };
            let fds = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
            Ok((ChildIo::Fds(fds), vec![stdin, stdout, stderr]))
        }
    }
}

/// The namespaces of process `pid` that differ from the shim's own, in the
/// order an exec joins them, and its pid namespace (entered by the parent).
#[allow(clippy::type_complexity)]
fn namespaces_of(pid: Pid) -> Result<(Vec<(OwnedFd, CloneFlags)>, Option<OwnedFd>), RuntimeError> {
    let open = |name: &str| -> Result<Option<OwnedFd>, RuntimeError> {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let file = match File::open(&theirs) {
            Ok(f) => f,
            // A namespace type this kernel does not have.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(sys_err(format!("open {theirs}"))(e)),
        };
        let meta = file.metadata().map_err(sys_err(format!("stat {theirs}")))?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .map_err(sys_err(format!("stat /proc/self/ns/{name}")))?;
        if (meta.dev(), meta.ino()) == (ours.dev(), ours.ino()) {
            return Ok(None);
        }
        Ok(Some(file.into()))
    };
    let mut joined = Vec::new();
    for (name, flag) in JOINED {
        if let Some(fd) = open(name)? {
            joined.push((fd, flag));
        }
    }
    Ok((joined, open("pid")?))
}

/// Restrict the devices the container may use (cgroup v1's devices
/// controller). cgroup v2 needs a BPF program for this: not done yet, said
/// in a warning.
fn device_rules(plan: &plan::Plan, warnings: &mut Vec<String>) -> Result<(), RuntimeError> {
    if plan.device_rules.is_empty() {
        return Ok(());
    }
    if plan.cgroup_mounts.v2 {
        warnings.push("device cgroup rules are not enforced on cgroup v2 yet".to_owned());
        return Ok(());
    }
    let Some(h) = plan
        .cgroup_mounts
        .v1
        .iter()
        .find(|h| h.options.split(',').any(|o| o == "devices"))
    else {
        warnings.push("no devices cgroup is mounted: device rules are not enforced".to_owned());
        return Ok(());
    };
    let dir = h.mount_point.join(plan.cgroup_path.trim_matches('/'));
    devices::apply_rules_v1(&dir, &plan.device_rules)
        .map_err(|e| RuntimeError::Create(format!("device cgroup: {e}")))
}

/// Clone a child with `flags`, inside the pid namespace `target` when
/// given (a pid namespace applies to children only, so the parent enters it
/// around the clone and returns to its own).
fn clone_in_pid_ns(
    target: Option<&OwnedFd>,
    flags: CloneFlags,
    child: &mut dyn FnMut() -> i32,
) -> Result<Pid, RuntimeError> {
    let Some(target) = target else {
        return process::clone_init(flags, child).map_err(sys_err("clone"));
    };
    let own = File::open("/proc/self/ns/pid").map_err(sys_err("open /proc/self/ns/pid"))?;
    setns(target, CloneFlags::CLONE_NEWPID).map_err(errno_err("setns pid namespace"))?;
    let pid = process::clone_init(flags, child).map_err(sys_err("clone"));
    setns(&own, CloneFlags::CLONE_NEWPID)
        .map_err(errno_err("setns back to the shim's pid namespace"))?;
    pid
}
