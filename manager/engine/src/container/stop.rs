//! `stop`, `kill` and `restart`. Stop sends the stop signal (the request's,
//! else the container's, else the image's STOPSIGNAL, else SIGTERM), waits
//! the timeout for the run to end, then kills everything in the container
//! and waits for the monitor to record the exit and clean up.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::registry::Handle;
use super::signal::parse_signal;
use crate::container::Containers;
use crate::error::{ManagerError, Result};

/// How long a SIGKILLed container may take to be gone before stop gives up.
const KILL_GRACE: Duration = Duration::from_secs(30);
const SIGKILL: u32 = 9;
const SIGTERM: u32 = 15;

/// Waits until the handle has no task, at most `d`; whether it got there.
pub(crate) async fn task_gone_within(handle: &Handle, d: Duration) -> bool {
    tokio::time::timeout(d, handle.wait_task_gone())
        .await
        .is_ok()
}

impl Containers {
    /// Stops a running container; a stopped one is left as it is.
    /// `timeout` < 0 uses the container's stop timeout; `signal` empty uses
    /// its stop signal.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn stop_container(
        &self,
        ns: &str,
        s: &str,
        timeout: i32,
        signal: &str,
    ) -> Result<()> {
        let signal = signal.to_string();
        self.locked_op(ns, s, move |engine, ns, id, handle| async move {
            engine
                .stop_locked(&ns, &id, &handle, timeout, &signal)
                .await
        })
        .await
    }

    /// Stops the container; the caller holds its op lock.
    pub(crate) async fn stop_locked(
        &self,
        ns: &str,
        id: &str,
        handle: &Arc<Handle>,
        timeout: i32,
        signal: &str,
    ) -> Result<()> {
        let rec = self
            .container_record(ns, id)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {id}")))?;
        let Some(task) = handle.task() else {
            return Ok(());
        };
        if !rec.state.running() {
            // Exited; the monitor is cleaning up.
            handle.wait_task_gone().await;
            return Ok(());
        }
        let sig = if signal.is_empty() {
            parse_signal(&rec.stop_signal, SIGTERM)?
        } else {
            parse_signal(signal, SIGTERM)?
        };
        let timeout = if timeout < 0 {
            rec.stop_timeout()
        } else {
            timeout
        };
        info!(
            namespace = ns,
            id,
            signal = sig,
            timeout,
            "stopping container"
        );
        if timeout > 0 {
            if let Err(e) = task.kill(sig, false).await {
                warn!(namespace = ns, id, error = %e, "cannot send the stop signal");
            }
            let d = Duration::from_secs(timeout as u64);
            if task_gone_within(handle, d).await {
                return Ok(());
            }
            info!(
                namespace = ns,
                id, "container did not stop in time: killing it"
            );
        }
        self.kill_and_wait(ns, id, handle, &task).await
    }

    /// SIGKILLs everything in the container and waits until the run is
    /// recorded and cleaned up.
    pub(crate) async fn kill_and_wait(
        &self,
        ns: &str,
        id: &str,
        handle: &Arc<Handle>,
        task: &super::task::Task,
    ) -> Result<()> {
        if let Err(e) = task.kill(SIGKILL, true).await {
            warn!(namespace = ns, id, error = %e, "cannot kill the container");
        }
        if task_gone_within(handle, KILL_GRACE).await {
            Ok(())
        } else {
            Err(ManagerError::Internal(format!(
                "container {id} did not exit {}s after SIGKILL",
                KILL_GRACE.as_secs()
            )))
        }
    }

    /// Sends a signal (name or number; empty is SIGKILL) to the
    /// container's init process.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn kill_container(&self, ns: &str, s: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal, SIGKILL)?;
        let (rec, task) = self.running_container(ns, s)?;
        info!(namespace = ns, id = %rec.id, signal = sig, "killing container");
        task.kill(sig, false).await?;
        Ok(())
    }

    /// Stops (when running) and starts a container.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn restart_container(&self, ns: &str, s: &str, timeout: i32) -> Result<()> {
        self.locked_op(ns, s, move |engine, ns, id, handle| async move {
            engine.stop_locked(&ns, &id, &handle, timeout, "").await?;
            engine
                .start_locked(&ns, &id, &handle, Default::default())
                .await
        })
        .await
    }
}
