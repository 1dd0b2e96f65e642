//! An external OCI runtime binary (runc, crun, youki, runsc) driven through
//! the OCI runtime command line:
//!
//! ```text
//! BIN --root ROOT --log LOG --log-format json create --bundle B --pid-file B/init.pid ID
//! BIN --root ROOT --log LOG --log-format json start ID
//! BIN --root ROOT --log LOG --log-format json kill [--all] ID SIGNAL
//! BIN --root ROOT --log LOG --log-format json delete --force ID
//! BIN --root ROOT --log LOG --log-format json exec --process B/exec-EID.json --detach \
//!     --pid-file B/exec-EID.pid [--console-socket S] ID
//! ```
//!
//! With a terminal, `create` and `exec` get `--console-socket`: a unix
//! socket (in a private directory under the temp dir: sun_path is only 108
//! bytes) on which the runtime sends the pty master it made inside the
//! container. The runtime connects and sends before it exits, so the shim
//! accepts after the call returns, without a second thread.
//!
//! `create` gets the container's stdio as its own 0/1/2 (the runtime hands
//! them to the container), so its stderr cannot be read for errors: like
//! containerd, errors come from the runtime's JSON log (`B/runtime-log.json`,
//! the last "error" entry), with stderr as a fallback for the other calls.
//! The shim is a child subreaper, so once `create` exits the container init
//! is re-parented to the shim, which reaps it.
//!
//! The calls block the shim's one thread for the runtime's run time (tens of
//! milliseconds); the shim has nothing else to do meanwhile that cannot wait.

use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio as ProcStdio};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::console;
use super::exec::CANNOT_EXECUTE;
use super::{ConsoleSize, CreateOptions, Created, ExecOptions, Io, Runtime, RuntimeError, Spawned};

/// The runtime's JSON log in the bundle.
const LOG_FILE: &str = "runtime-log.json";

struct External {
    binary: String,
    root: PathBuf,
    /// Set by a successful create.
    container: Option<Container>,
}

struct Container {
    id: String,
    log: PathBuf,
}

/// A runtime driving `binary` (runc, crun...) with state under `root`.
pub fn external(binary: &str, root: &Path) -> Box<dyn Runtime> {
    Box::new(External {
        binary: binary.to_owned(),
        root: root.to_owned(),
        container: None,
    })
}

/// `BIN --root ROOT delete --force ID`, for cleaning up after a shim that
/// died: kills the container if it still runs and removes the runtime's
/// state. A container the runtime does not know is fine.
pub fn force_delete(binary: &str, root: &Path, id: &str) -> Result<(), RuntimeError> {
    let rt = External {
        binary: binary.to_owned(),
        root: root.to_owned(),
        container: None,
    };
    rt.delete_id(id, None)
}

impl External {
    fn command(&self, log: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root);
        if let Some(log) = log {
            cmd.arg("--log").arg(log).args(["--log-format", "json"]);
        }
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> RuntimeError {
        RuntimeError::Create(format!("cannot run the OCI runtime {}: {e}", self.binary))
    }

    fn container(&self) -> Result<&Container, RuntimeError> {
        self.container
            .as_ref()
            .ok_or_else(|| RuntimeError::State("container was not created".into()))
    }

    /// Runs a call whose stdio the shim controls; Err carries the runtime's
    /// message.
    fn call(&self, log: Option<&Path>, args: &[OsString]) -> Result<(), RuntimeError> {
        if let Some(log) = log {
            let _ = fs::remove_file(log);
        }
        let out = self
            .command(log)
            .args(args)
            .stdin(ProcStdio::null())
            .stdout(ProcStdio::null())
            .stderr(ProcStdio::piped())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            return Ok(());
        }
        let verb = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let msg = log
            .and_then(|l| last_error(&read_log(l)))
            .or_else(|| last_line(&String::from_utf8_lossy(&out.stderr)))
            .unwrap_or_else(|| exited(&self.binary, &verb, out.status));
        Err(classify(&self.binary, &verb, msg))
    }

    fn delete_id(&self, id: &str, log: Option<&Path>) -> Result<(), RuntimeError> {
        match self.call(log, &["delete".into(), "--force".into(), id.into()]) {
            Err(e) if e.to_string().contains("does not exist") => Ok(()),
            r => r,
        }
    }
}

impl Runtime for External {
    fn create(&mut self, opts: CreateOptions<'_>) -> Result<Created, RuntimeError> {
        if let Some(root) = opts.spec.root() {
            super::rootfs::check_kernel_dirs(&opts.bundle.join(root.path()))
                .map_err(|e| RuntimeError::Create(e.to_string()))?;
        }
        let log = opts.bundle.join(LOG_FILE);
        let pid_file = opts.bundle.join("init.pid");
        let _ = fs::remove_file(&log);
        let _ = fs::remove_file(&pid_file);
        let socket = ConsoleSocket::for_io(&opts.io)?;
        let mut cmd = self.command(Some(&log));
        cmd.arg("create")
            .arg("--bundle")
            .arg(opts.bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(s) = &socket {
            cmd.arg("--console-socket").arg(&s.path);
        }
        cmd.arg(opts.id);
        let size = set_stdio(&mut cmd, opts.io);
        let status = cmd.status();
        // The Command holds the container's pipe ends: close the shim's
        // copies now, or the log copiers would never see end-of-file.
        drop(cmd);
        let status = status.map_err(|e| self.spawn_error(e))?;
        let entries = read_log(&log);
        if !status.success() {
            let msg =
                last_error(&entries).unwrap_or_else(|| exited(&self.binary, "create", status));
            return Err(classify(&self.binary, "create", msg));
        }
        let pid = read_pid(&self.binary, "create", &pid_file)?;
        let console = match socket.map(|s| s.receive(&self.binary, size)).transpose() {
            Ok(c) => c,
            Err(e) => {
                let _ = self.delete_id(opts.id, Some(&log));
                return Err(e);
            }
        };
        let warnings = entries
            .iter()
            .filter(|(level, _)| level == "warning")
            .map(|(_, msg)| format!("{}: {msg}", self.binary))
            .collect();
        self.container = Some(Container {
            id: opts.id.to_owned(),
            log,
        });
        Ok(Created {
            pid,
            warnings,
            console,
        })
    }

    fn start(&mut self) -> Result<(), RuntimeError> {
        let c = self.container()?;
        self.call(Some(&c.log), &["start".into(), c.id.as_str().into()])
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let c = self.container()?;
        let mut args: Vec<OsString> = vec!["kill".into()];
        if all {
            args.push("--all".into());
        }
        args.push(c.id.as_str().into());
        args.push(signal.to_string().into());
        self.call(Some(&c.log), &args)
    }

    fn delete(&mut self) -> Result<(), RuntimeError> {
        match &self.container {
            Some(c) => self.delete_id(&c.id, Some(&c.log)),
            None => Ok(()),
        }
    }

    fn exec(&mut self, opts: ExecOptions<'_>) -> Result<Spawned, RuntimeError> {
        let c = self.container()?;
        let process_file = opts.bundle.join(format!("exec-{}.json", opts.exec_id));
        let pid_file = opts.bundle.join(format!("exec-{}.pid", opts.exec_id));
        let _files = RemoveOnDrop(vec![process_file.clone(), pid_file.clone()]);
        let mut process = opts.process.clone();
        process.set_terminal(Some(matches!(opts.io, Io::Terminal(_))));
        process.set_console_size(None);
        if let Io::Terminal(size) = &opts.io {
            if size.is_set() {
                let b = oci_spec::runtime::BoxBuilder::default()
                    .height(u64::from(size.height))
                    .width(u64::from(size.width))
                    .build()
                    .map_err(|e| RuntimeError::Spec(e.to_string()))?;
                process.set_console_size(Some(b));
            }
        }
        let json = serde_json::to_vec(&process).map_err(|e| RuntimeError::Spec(e.to_string()))?;
        fs::write(&process_file, json).map_err(|source| RuntimeError::Sys {
            call: format!("write {}", process_file.display()),
            source,
        })?;
        let _ = fs::remove_file(&pid_file);
        let _ = fs::remove_file(&c.log);
        let socket = ConsoleSocket::for_io(&opts.io)?;
        let mut cmd = self.command(Some(&c.log));
        cmd.arg("exec")
            .arg("--process")
            .arg(&process_file)
            .arg("--detach")
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(s) = &socket {
            cmd.arg("--console-socket").arg(&s.path);
        }
        cmd.arg(&c.id);
        let size = set_stdio(&mut cmd, opts.io);
        let status = cmd.status();
        drop(cmd);
        let status = status.map_err(|e| self.spawn_error(e))?;
        if !status.success() {
            let msg = last_error(&read_log(&c.log))
                .unwrap_or_else(|| exited(&self.binary, "exec", status));
            // docker exec reports any failure to start as 126.
            return Err(match classify(&self.binary, "exec", msg) {
                e @ RuntimeError::Exec { .. } => e,
                e => RuntimeError::Exec {
                    code: CANNOT_EXECUTE,
                    message: e.to_string(),
                },
            });
        }
        let pid = read_pid(&self.binary, "exec", &pid_file)?;
        let console = match socket.map(|s| s.receive(&self.binary, size)).transpose() {
            Ok(c) => c,
            Err(e) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(e);
            }
        };
        Ok(Spawned { pid, console })
    }
}

/// Gives the runtime the process's stdio: the pipes, or nothing with a
/// terminal (the runtime makes the pty). Returns the terminal's size.
fn set_stdio(cmd: &mut Command, io: Io) -> ConsoleSize {
    match io {
        Io::Pipes(stdio) => {
            cmd.stdin(stdio.stdin.map_or_else(ProcStdio::null, ProcStdio::from))
                .stdout(ProcStdio::from(stdio.stdout))
                .stderr(ProcStdio::from(stdio.stderr));
            ConsoleSize::default()
        }
        Io::Terminal(size) => {
            cmd.stdin(ProcStdio::null())
                .stdout(ProcStdio::null())
                .stderr(ProcStdio::null());
            size
        }
    }
}

fn read_pid(binary: &str, verb: &str, pid_file: &Path) -> Result<i32, RuntimeError> {
    fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            RuntimeError::Create(format!(
                "{binary} {verb} left no valid pid in {}",
                pid_file.display()
            ))
        })
}

/// Removes files when dropped (the exec's process and pid files).
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// How long the shim waits for the pty master once the runtime exited.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A `--console-socket`: a listener in a private directory, removed with it.
struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// One for a process with a terminal.
    fn for_io(io: &Io) -> Result<Option<ConsoleSocket>, RuntimeError> {
        match io {
            Io::Terminal(_) => ConsoleSocket::new().map(Some),
            Io::Pipes(_) => Ok(None),
        }
    }

    fn new() -> Result<ConsoleSocket, RuntimeError> {
        let err = |call: &str| {
            let call = call.to_owned();
            move |e: nix::errno::Errno| RuntimeError::Sys {
                call,
                source: e.into(),
            }
        };
        let template = std::env::temp_dir().join("berth-pty-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(err("mkdtemp for the console socket"))?;
        let path = dir.join("pty.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(source) => {
                let _ = fs::remove_dir(&dir);
                return Err(RuntimeError::Sys {
                    call: format!("listen on {}", path.display()),
                    source,
                });
            }
        };
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    /// The pty master the runtime sent, sized.
    fn receive(self, binary: &str, size: ConsoleSize) -> Result<OwnedFd, RuntimeError> {
        let none = || {
            RuntimeError::Create(format!(
                "{binary} did not send the terminal on {}",
                self.path.display()
            ))
        };
        let sys = |call: &str| {
            let call = call.to_owned();
            move |source: std::io::Error| RuntimeError::Sys { call, source }
        };
        let ms = i32::try_from(CONSOLE_TIMEOUT.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => return Err(none()),
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(sys("poll the console socket")(e.into())),
            }
        }
        let (conn, _) = self
            .listener
            .accept()
            .map_err(sys("accept on the console socket"))?;
        let mut buf = [0u8; 4096];
        let (_, fd) = console::recv_fd(conn.as_raw_fd(), &mut buf)
            .map_err(sys("receive the terminal from the console socket"))?;
        let master = fd.ok_or_else(none)?;
        if size.is_set() {
            console::set_size(master.as_raw_fd(), size).map_err(sys("set the terminal size"))?;
        }
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The runtime's JSON log: (level, msg) per line; unreadable lines skipped.
fn read_log(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
            (s("level"), s("msg"))
        })
        .collect()
}

fn last_error(entries: &[(String, String)]) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|(level, msg)| (level == "error" || level == "fatal") && !msg.is_empty())
        .map(|(_, msg)| msg.clone())
}

fn last_line(s: &str) -> Option<String> {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

fn exited(binary: &str, verb: &str, status: ExitStatus) -> String {
    format!("{binary} {verb} failed ({status})")
}

/// Turns a runtime's message into an error: a command that cannot be
/// executed becomes [`RuntimeError::Exec`] with docker's code and message
/// (`exec: "nosuch": executable file not found in $PATH`).
fn classify(binary: &str, verb: &str, msg: String) -> RuntimeError {
    if let Some(i) = msg.find("exec: \"") {
        let tail = msg[i..].trim().to_owned();
        let code = if tail.contains("executable file not found")
            || tail.contains("no such file or directory")
        {
            Some(127)
        } else if tail.contains("permission denied")
            || tail.contains("exec format error")
            || tail.contains("is a directory")
        {
            Some(126)
        } else {
            None
        };
        if let Some(code) = code {
            return RuntimeError::Exec {
                code,
                message: tail,
            };
        }
    }
    let msg = if msg.starts_with(binary) || msg.contains(&format!("{binary} {verb}")) {
        msg
    } else {
        format!("{binary} {verb}: {msg}")
    };
    match verb {
        "create" => RuntimeError::Create(msg),
        _ => RuntimeError::State(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_get_docker_codes() {
        let e = classify(
            "runc",
            "create",
            "runc create failed: unable to start container process: exec: \"nosuch\": \
             executable file not found in $PATH"
                .into(),
        );
        match e {
            RuntimeError::Exec { code, message } => {
                assert_eq!(code, 127);
                assert_eq!(
                    message,
                    "exec: \"nosuch\": executable file not found in $PATH"
                );
            }
            e => panic!("{e:?}"),
        }
        let e = classify(
            "runc",
            "create",
            "unable to start container process: exec: \"/etc/passwd\": permission denied".into(),
        );
        assert!(matches!(e, RuntimeError::Exec { code: 126, .. }), "{e:?}");
    }

    #[test]
    fn other_failures_name_the_runtime() {
        let e = classify("crun", "start", "container is not created".into());
        assert_eq!(e.to_string(), "crun start: container is not created");
        let e = classify("runc", "create", "runc create failed: no such mount".into());
        assert!(matches!(e, RuntimeError::Create(_)));
        assert_eq!(
            e.to_string(),
            "container init: runc create failed: no such mount"
        );
    }

    #[test]
    fn log_entries_are_read_leniently() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.json");
        fs::write(
            &p,
            "{\"level\":\"warning\",\"msg\":\"w\"}\nnot json\n{\"level\":\"error\",\"msg\":\"boom\"}\n",
        )
        .unwrap();
        let entries = read_log(&p);
        assert_eq!(entries.len(), 2);
        assert_eq!(last_error(&entries).as_deref(), Some("boom"));
        assert!(read_log(&d.path().join("missing")).is_empty());
    }
}
