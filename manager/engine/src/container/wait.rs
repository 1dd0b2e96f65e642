//! `wait`: block until a container is not running (docker's default
//! condition), its next run ends, or it is removed. The waiter subscribes
//! before it reads the container's state, so an exit that happens in
//! between is never missed; once [`Containers::wait_container`] returns the wait
//! is registered and the caller may say so to its client.

use tokio::sync::watch;

use super::registry::{Events, Exit};
use crate::container::Containers;
use crate::error::{ManagerError, Result};

/// What to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return at once if the container is not running, else at its exit.
    NotRunning,
    /// The end of the next run (or of the current one).
    NextExit,
    /// The container's removal.
    Removed,
}

impl WaitCondition {
    /// docker's names: "not-running" (also ""), "next-exit", "removed".
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(ManagerError::InvalidArgument(format!(
                "invalid condition: {other:?} (use not-running, next-exit or removed)"
            ))),
        }
    }
}

/// A registered wait.
pub struct Waiter {
    shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    rx: watch::Receiver<Events>,
    cond: WaitCondition,
    ended0: u64,
    /// How the last run ended, as recorded when the wait was registered.
    recorded: Exit,
    done_now: bool,
}

impl Waiter {
    /// Waits for the condition; gives how the (last) run ended.
    /// Unavailable when berthd stops first.
    pub async fn wait(mut self) -> Result<Exit> {
        if self.done_now {
            return Ok(self.recorded);
        }
        let ended0 = self.ended0;
        let cond = self.cond;
        let done = self.rx.wait_for(|e| match cond {
            WaitCondition::Removed => e.removed,
            _ => e.ended > ended0 || e.removed,
        });
        tokio::select! {
            r = done => Ok(match r {
                Ok(e) => e.last_exit.clone().unwrap_or(self.recorded),
                Err(_) => self.recorded,
            }),
            _ = &mut self.shutdown => Err(ManagerError::Unavailable(
                "berthd is shutting down".into(),
            )),
        }
    }
}

impl Containers {
    /// Registers a wait on the container `s` names.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn wait_container(&self, ns: &str, s: &str, cond: WaitCondition) -> Result<Waiter> {
        let rec = self.lookup_container(ns, s)?;
        let handle = self.registry().handle(ns, &rec.id);
        let rx = handle.subscribe();
        let ended0 = rx.borrow().ended;
        // Read again after subscribing: an exit recorded before this read
        // is seen here, one recorded after it wakes the receiver.
        let rec = self
            .container_record(ns, &rec.id)?
            .ok_or_else(|| ManagerError::NotFound(format!("No such container: {s}")))?;
        let recorded = Exit {
            code: rec.state.exit_code,
            oom_killed: rec.state.oom_killed,
            error: rec.state.error.clone(),
        };
        Ok(Waiter {
            shutdown: Box::pin(self.registry().shutting_down()),
            rx,
            cond,
            ended0,
            recorded,
            done_now: cond == WaitCondition::NotRunning && !rec.state.running(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert_eq!(WaitCondition::parse("").unwrap(), WaitCondition::NotRunning);
        assert_eq!(
            WaitCondition::parse("not-running").unwrap(),
            WaitCondition::NotRunning
        );
        assert_eq!(
            WaitCondition::parse("next-exit").unwrap(),
            WaitCondition::NextExit
        );
        assert_eq!(
            WaitCondition::parse("removed").unwrap(),
            WaitCondition::Removed
        );
        assert_eq!(
            WaitCondition::parse("soon").unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
    }
}
