//! An external OCI runtime binary (runc, crun, youki, runsc) driven through
//! the OCI runtime command line:
//!
//! ```text
//! BIN --root ROOT --log LOG --log-format json create --bundle B --pid-file B/init.pid ID
//! BIN --root ROOT --log LOG --log-format json start ID
//! BIN --root ROOT --log LOG --log-format json kill [--all] ID SIGNAL
//! BIN --root ROOT --log LOG --log-format json delete --force ID
//! ```
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
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio as ProcStdio};

use super::{CreateOptions, Created, Runtime, RuntimeError};

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
        let log = opts.bundle.join(LOG_FILE);
        let pid_file = opts.bundle.join("init.pid");
        let _ = fs::remove_file(&log);
        let _ = fs::remove_file(&pid_file);
        let mut cmd = self.command(Some(&log));
        cmd.arg("create")
            .arg("--bundle")
            .arg(opts.bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(opts.id);
        let stdio = opts.stdio;
        cmd.stdin(stdio.stdin.map_or_else(ProcStdio::null, ProcStdio::from))
            .stdout(ProcStdio::from(stdio.stdout))
            .stderr(ProcStdio::from(stdio.stderr));
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
        let pid = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                RuntimeError::Create(format!(
                    "{} create left no valid pid in {}",
                    self.binary,
                    pid_file.display()
                ))
            })?;
        let warnings = entries
            .iter()
            .filter(|(level, _)| level == "warning")
            .map(|(_, msg)| format!("{}: {msg}", self.binary))
            .collect();
        self.container = Some(Container {
            id: opts.id.to_owned(),
            log,
        });
        Ok(Created { pid, warnings })
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
