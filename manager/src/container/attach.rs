//! `attach` (what `berth run` without `-d` uses): stream the output of the
//! container's next run (or the current one) and then its exit. The log
//! file is opened at its end and the exit event subscribed before the call
//! returns, so a client told "registered" may start the container without
//! losing output, even one removed at exit (`--rm`): the open file outlives
//! the removal.

use tokio::sync::mpsc;

use super::logfile::{Entry, Filter, Follower};
use super::logs::follow;
use super::registry::Exit;
use crate::engine::Engine;
use crate::error::{ManagerError, Result};

/// What an attach stream carries after registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachEvent {
    Output(Entry),
    /// The run ended; the stream ends after this.
    Exit(Exit),
    /// The attach broke (the log could not be read, or berthd is
    /// stopping).
    Error(String),
}

impl Engine {
    /// Registers an attach; the receiver gets the output of the current or
    /// next run, then its exit.
    pub async fn attach_container(
        &self,
        ns: &str,
        s: &str,
        stdout: bool,
        stderr: bool,
    ) -> Result<mpsc::Receiver<AttachEvent>> {
        let rec = self.lookup_container(ns, s)?;
        let both = !stdout && !stderr;
        let filter = Filter {
            stdout: stdout || both,
            stderr: stderr || both,
            ..Default::default()
        };
        let handle = self.container_registry().handle(ns, &rec.id);
        let rx = handle.subscribe();
        let (exits0, ended0) = {
            let e = rx.borrow();
            (e.exits, e.ended)
        };
        let log = rec.log_path.clone();
        let live = tokio::task::spawn_blocking(move || Follower::open_at_end(&log))
            .await
            .map_err(|e| ManagerError::Internal(format!("attach task failed: {e}")))?
            .map_err(|e| ManagerError::io("open the container log", e))?;
        let (tx, out) = mpsc::channel(64);
        let engine = self.clone();
        tokio::spawn(async move {
            match follow(
                &engine,
                live,
                filter,
                rx,
                ended0,
                tx.clone(),
                AttachEvent::Output,
            )
            .await
            {
                Ok(Some(events)) => {
                    let exit = match (events.exits > exits0, events.last_exit) {
                        (true, Some(e)) => e,
                        _ => Exit {
                            code: -1,
                            oom_killed: false,
                            error: "the container was removed".into(),
                        },
                    };
                    let _ = tx.send(AttachEvent::Exit(exit)).await;
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = tx.send(AttachEvent::Error(e.to_string())).await;
                }
            }
        });
        Ok(out)
    }
}
