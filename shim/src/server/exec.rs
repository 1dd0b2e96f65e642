//! Execs: processes added to the running container. Exec registers one
//! (its stdio exists from then on, so clients attach before Start and miss
//! nothing); Start runs it with the runtime (create and start in one) and
//! returns its pid; the reaper's exit for its pid finishes it after its
//! output is drained. Its output goes to attached clients only, never to
//! the log (as docker). When the init exits, the execs still running are
//! killed (`State::init_reaped`); deleting the task deletes the rest.

use berth_proto::shim::v1::{ExecRequest, Status as TaskStatus};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::error::ServerError;
use super::exit::ExitRecord;
use super::state::{drain, DeleteStep, Exec, Proc, State};
use crate::io::{timestamp, ProcessIo};
use crate::runtime::{ConsoleSize, ExecOptions, RuntimeError};

/// Longest exec id accepted (berthd's are 64 hex).
const MAX_ID: usize = 128;

/// docker's exit code for an exec that could not start, whatever the reason.
const EXEC_FAILED: i32 = 126;

/// Exec ids name files in the bundle (external runtimes): a plain name.
fn check_id(exec_id: &str) -> Result<(), ServerError> {
    let ok = !exec_id.is_empty()
        && exec_id.len() <= MAX_ID
        && !exec_id.starts_with('.')
        && exec_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::Invalid(format!(
            "invalid exec id {exec_id:?}: 1 to {MAX_ID} letters, digits, '-', '_' or '.'"
        )))
    }
}

impl State {
    pub fn exec(&mut self, req: ExecRequest) -> Result<(), ServerError> {
        check_id(&req.exec_id)?;
        let t = self.task(&req.id)?;
        t.require_running(&req.id)?;
        if t.execs.contains_key(&req.exec_id) {
            return Err(ServerError::AlreadyExists(format!("exec {}", req.exec_id)));
        }
        let process: Process = serde_json::from_str(&req.spec_json)
            .map_err(|e| ServerError::Invalid(format!("invalid exec process spec: {e}")))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(ServerError::Invalid(
                "the exec process spec has no args".into(),
            ));
        }
        t.execs.insert(
            req.exec_id,
            Exec {
                proc: Proc::new(ProcessIo::new(req.terminal, req.stdin)),
                process,
                size: ConsoleSize::new(req.width, req.height),
            },
        );
        Ok(())
    }

    /// Runs a registered exec; on failure it is stopped with the exit code
    /// docker gives (126/127) and its attached clients' streams end.
    pub(super) fn start_exec(&mut self, id: &str, exec_id: &str) -> Result<u32, ServerError> {
        let t = self.task(id)?;
        let running = t.require_running(id);
        let e = t
            .execs
            .get_mut(exec_id)
            .ok_or_else(|| ServerError::NotFound(format!("exec {exec_id}")))?;
        if e.proc.status != TaskStatus::Created {
            return Err(ServerError::State(format!(
                "exec {exec_id} is {}, not created",
                e.proc.status_name()
            )));
        }
        let spawned = running.and_then(|()| {
            let (io, ends) = e.proc.io.runtime_io(e.size)?;
            let spawned = t.runtime.exec(ExecOptions {
                exec_id,
                bundle: &t.bundle,
                process: &e.process,
                io,
            })?;
            Ok((spawned, ends))
        });
        let (spawned, ends) = match spawned {
            Ok(s) => s,
            Err(err) => {
                let code = match &err {
                    ServerError::Runtime(RuntimeError::Exec { code, .. }) => *code,
                    _ => EXEC_FAILED,
                };
                e.proc.io.abandon();
                e.proc.finish(ExitRecord {
                    exit_code: code,
                    exited_at: timestamp::now(),
                    oom_killed: false,
                    pid: 0,
                });
                return Err(err);
            }
        };
        e.proc.pid = spawned.pid;
        e.proc.status = TaskStatus::Running;
        if let Err(err) = e.proc.io.start(ends, spawned.console, None) {
            // It runs without its stdio: stop it (the reaper reports it).
            let _ = kill(Pid::from_raw(spawned.pid), Signal::SIGKILL);
            return Err(err.into());
        }
        Ok(spawned.pid as u32)
    }

    pub(super) fn kill_exec(
        &mut self,
        id: &str,
        exec_id: &str,
        signal: i32,
    ) -> Result<(), ServerError> {
        let p = self.process(id, exec_id)?;
        if p.status == TaskStatus::Created {
            return Err(ServerError::State(format!(
                "exec {exec_id} has not started"
            )));
        }
        if !p.is_running() {
            return Err(ServerError::NotFound("process already finished".into()));
        }
        let sig = Signal::try_from(signal)
            .map_err(|_| ServerError::Invalid(format!("invalid signal {signal}")))?;
        kill(Pid::from_raw(p.pid), sig).map_err(|e| {
            ServerError::Runtime(RuntimeError::Sys {
                call: format!("kill {} {sig}", p.pid),
                source: e.into(),
            })
        })
    }

    pub(super) fn delete_exec(
        &mut self,
        id: &str,
        exec_id: &str,
    ) -> Result<DeleteStep, ServerError> {
        let t = self.task(id)?;
        let e = t
            .execs
            .get_mut(exec_id)
            .ok_or_else(|| ServerError::NotFound(format!("exec {exec_id}")))?;
        let exit = match (&e.proc.exit, e.proc.status) {
            (Some(exit), _) => exit.clone(),
            // Never started: nothing ran, nothing to wait for.
            (None, TaskStatus::Created) => {
                e.proc.io.abandon();
                ExitRecord {
                    exit_code: 0,
                    exited_at: timestamp::now(),
                    oom_killed: false,
                    pid: 0,
                }
            }
            (None, _) if e.proc.reaped => {
                return Ok(DeleteStep::WaitExit(e.proc.exit_tx.subscribe()))
            }
            (None, _) => {
                return Err(ServerError::State(format!(
                    "exec {exec_id} is running: kill it before deleting it"
                )))
            }
        };
        t.execs.remove(exec_id);
        Ok(DeleteStep::Done(exit))
    }

    pub fn resize_pty(
        &mut self,
        id: &str,
        exec_id: &str,
        size: ConsoleSize,
    ) -> Result<(), ServerError> {
        if !exec_id.is_empty() {
            let t = self.task(id)?;
            let e = t
                .execs
                .get_mut(exec_id)
                .ok_or_else(|| ServerError::NotFound(format!("exec {exec_id}")))?;
            if e.proc.io.is_terminal() && e.proc.status == TaskStatus::Created {
                e.size = size;
                return Ok(());
            }
        }
        self.process(id, exec_id)?.resize(size)
    }

    /// The exec's process was reaped: drain its output, then finish it.
    pub(super) fn exec_reaped(&mut self, exec_id: String, code: i32) {
        let Some(e) = self.task.as_mut().and_then(|t| t.execs.get_mut(&exec_id)) else {
            return;
        };
        e.proc.reaped = true;
        let pid = e.proc.pid;
        let exited_at = timestamp::now();
        let copiers = e.proc.io.take_copiers();
        let jobs = self.jobs.clone();
        tokio::task::spawn_local(async move {
            drain(copiers, &format!("exec {exec_id}")).await;
            let rec = ExitRecord {
                exit_code: code,
                exited_at,
                oom_killed: false,
                pid: pid as u32,
            };
            jobs.post(move |s| {
                if let Some(e) = s.task.as_mut().and_then(|t| t.execs.get_mut(&exec_id)) {
                    if e.proc.pid == pid {
                        e.proc.finish(rec);
                    }
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_plain_names() {
        for ok in ["e1", "a".repeat(64).as_str(), "x-y_z.1"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", &"a".repeat(129), "sp ace"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
