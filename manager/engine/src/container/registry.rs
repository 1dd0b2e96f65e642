//! What berthd holds in memory about the containers it manages: per
//! container, a lock that serializes lifecycle operations, the live task
//! (the shim connection), and a watch channel that wakes waiters, log
//! followers and attach streams on start, exit and removal. The store stays
//! the truth; this is only what cannot be stored (connections, wake-ups).

use crate::container::Containers;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, watch};

use super::task::Task;
use crate::error::{ManagerError, Result};

/// How a run of a container ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub oom_killed: bool,
    /// A start failure or an abnormal end ("shim died").
    pub error: String,
}

/// What happened to a container so far, as waiters see it. Counters let a
/// waiter ask for "the next exit" without missing one.
#[derive(Clone, Debug, Default)]
pub struct Events {
    /// Runs started.
    pub starts: u64,
    /// Runs ended (an exit recorded and its task cleaned up, or a start that
    /// failed).
    pub exits: u64,
    /// Runs whose end is fully handled: for a `--rm` container, after the
    /// removal (attach, logs and wait end on this, so `run --rm` returns
    /// once the container is gone).
    pub ended: u64,
    /// The last run's end.
    pub last_exit: Option<Exit>,
    /// Whether a task (shim) exists for the container.
    pub has_task: bool,
    /// The container is gone.
    pub removed: bool,
}

/// What a start hands an attach that waited for it: the new run's task,
/// and where to say that the attach is in place (the start waits for that
/// before the process runs).
pub struct Connect {
    pub task: Arc<Task>,
    pub ready: oneshot::Sender<()>,
}

/// How an attach reaches the container's stdio.
pub enum AttachTo {
    /// The container runs: attach to its task now. `events` is the events
    /// value at that moment (the run's end is the next `ended`).
    Now { task: Arc<Task>, events: Events },
    /// It does not run: the next start connects the attach (before its
    /// process runs) through this channel.
    NextRun(oneshot::Receiver<Connect>),
}

/// The attach side of a container: the task attaches connect to while a
/// run's process runs, and the attaches waiting for the next run.
#[derive(Default)]
struct Attaches {
    live: Option<Arc<Task>>,
    waiting: Vec<oneshot::Sender<Connect>>,
}

/// One container's live state.
pub struct Handle {
    /// Held by start, stop, kill, restart, remove and rename for their whole
    /// run. The monitor never takes it: operations waiting for an exit hold
    /// it while the monitor records that exit.
    pub op: tokio::sync::Mutex<()>,
    task: Mutex<Option<Arc<Task>>>,
    events: watch::Sender<Events>,
    attaches: Mutex<Attaches>,
    /// The ids of the execs running in the container (inspect's ExecIDs).
    execs: Mutex<Vec<String>>,
}

impl Handle {
    fn new() -> Handle {
        Handle {
            op: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
            events: watch::Sender::new(Events::default()),
            attaches: Mutex::default(),
            execs: Mutex::default(),
        }
    }

    fn attaches(&self) -> MutexGuard<'_, Attaches> {
        self.attaches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides, atomically with starts and exits, where a new attach goes:
    /// to the running process, or to the next run.
    pub fn attach_to(&self) -> AttachTo {
        let mut a = self.attaches();
        if let Some(task) = &a.live {
            return AttachTo::Now {
                task: task.clone(),
                events: self.events(),
            };
        }
        a.waiting.retain(|w| !w.is_closed());
        let (tx, rx) = oneshot::channel();
        a.waiting.push(tx);
        AttachTo::NextRun(rx)
    }

    /// A run's task exists and its process is about to run: attaches go to
    /// it from now on; gives the ones that waited for it.
    pub fn open_attaches(&self, task: Arc<Task>) -> Vec<oneshot::Sender<Connect>> {
        let mut a = self.attaches();
        a.live = Some(task);
        std::mem::take(&mut a.waiting)
    }

    /// The run's process is gone: new attaches wait for the next run.
    pub fn close_attaches(&self) {
        self.attaches().live = None;
    }

    /// The task of the running process, if one runs (what exec and resize
    /// use).
    pub fn live_task(&self) -> Option<Arc<Task>> {
        self.attaches().live.clone()
    }

    /// An exec started.
    pub fn add_exec(&self, exec_id: &str) {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(exec_id.to_string());
    }

    /// An exec ended.
    pub fn remove_exec(&self, exec_id: &str) {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|e| e != exec_id);
    }

    /// The running execs' ids.
    pub fn execs(&self) -> Vec<String> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A receiver of this container's events (the current value is seen).
    pub fn subscribe(&self) -> watch::Receiver<Events> {
        self.events.subscribe()
    }

    /// The current events value.
    pub fn events(&self) -> Events {
        self.events.borrow().clone()
    }

    /// The live task, if any.
    pub fn task(&self) -> Option<Arc<Task>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Installs the task of a new run (or of a reconnected shim).
    pub fn set_task(&self, task: Arc<Task>) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        self.events.send_modify(|e| e.has_task = true);
    }

    /// A run started.
    pub fn started(&self) {
        self.events.send_modify(|e| e.starts += 1);
    }

    /// A run ended and its task is gone; `settled` when nothing more
    /// follows (no auto-remove).
    pub fn exited(&self, exit: Exit, settled: bool) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.events.send_modify(|e| {
            e.exits += 1;
            e.last_exit = Some(exit);
            e.has_task = false;
            if settled {
                e.ended += 1;
            }
        });
    }

    /// What followed the last exit (an auto-remove) is done.
    pub fn settled(&self) {
        self.events.send_modify(|e| e.ended += 1);
    }

    /// The task went away without a run ending (a failed create).
    pub fn task_gone(&self) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.events.send_modify(|e| e.has_task = false);
    }

    /// The container was removed.
    pub fn removed(&self) {
        self.events.send_modify(|e| e.removed = true);
    }

    /// Waits until no task exists (the monitor has cleaned up after an
    /// exit).
    pub async fn wait_task_gone(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|e| !e.has_task).await;
    }
}

/// Every container handle of this berthd, the locks that keep records
/// and names consistent, and the daemon's shutdown flag (streams that
/// follow a container end when it is set, so a graceful shutdown does not
/// wait for containers to exit).
pub struct Registry {
    handles: Mutex<HashMap<String, Arc<Handle>>>,
    records: Mutex<()>,
    names: Mutex<HashSet<String>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            handles: Mutex::default(),
            records: Mutex::default(),
            names: Mutex::default(),
            shutdown: watch::Sender::new(false),
        }
    }
}

/// A name held for a container being created or renamed; released on drop.
pub struct NameReservation<'a> {
    registry: &'a Registry,
    key: String,
}

impl Drop for NameReservation<'_> {
    fn drop(&mut self) {
        self.registry
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Registry {
    /// berthd is stopping: followers and waiters end.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once berthd is stopping.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// The handle of a container, created on first use.
    pub fn handle(&self, ns: &str, id: &str) -> Arc<Handle> {
        let mut m = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(format!("{ns}/{id}"))
            .or_insert_with(|| Arc::new(Handle::new()))
            .clone()
    }

    /// Forgets a removed container's handle (holders keep theirs).
    pub fn forget(&self, ns: &str, id: &str) {
        let mut m = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&format!("{ns}/{id}"));
    }

    /// Serializes read-modify-write of container records.
    pub fn record_lock(&self) -> MutexGuard<'_, ()> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `name` in `ns` for a create or rename. `owner` says which
    /// container holds the name in the store, if any (checked under the
    /// same lock, so two creates never both get one name).
    pub fn reserve_name(
        &self,
        ns: &str,
        name: &str,
        owner: impl FnOnce() -> Result<Option<String>>,
    ) -> Result<NameReservation<'_>> {
        let key = format!("{ns}/{name}");
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let taken_by = if names.contains(&key) {
            Some("(being created)".to_string())
        } else {
            owner()?
        };
        if let Some(id) = taken_by {
            return Err(ManagerError::AlreadyExists(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.insert(key.clone());
        Ok(NameReservation {
            registry: self,
            key,
        })
    }
}

/// Runs a lifecycle operation to its end even if the caller goes away: a
/// client that disconnects mid-start must not leave a half-started task
/// (tonic drops a handler's future when its client leaves).
pub(crate) async fn detached<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(f).await.map_err(ManagerError::Worker)?
}

impl Containers {
    /// Runs a lifecycle operation on the container `s` names: under its op
    /// lock, and [`detached`] from the request. `op` gets the engine, the
    /// namespace, the container id and its handle.
    pub(crate) async fn locked_op<F, Fut>(&self, ns: &str, s: &str, op: F) -> Result<()>
    where
        F: FnOnce(Containers, String, String, Arc<Handle>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let rec = self.lookup_container(ns, s)?;
        let engine = self.clone();
        let ns = ns.to_string();
        detached(async move {
            let handle = engine.registry().handle(&ns, &rec.id);
            let _op = handle.op.lock().await;
            op(engine.clone(), ns, rec.id.clone(), handle.clone()).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reserved_once() {
        let r = Registry::default();
        let a = r.reserve_name("default", "web", || Ok(None)).unwrap();
        let err = r.reserve_name("default", "web", || Ok(None)).err().unwrap();
        assert!(err.to_string().contains("\"/web\" is already in use"));
        // Another namespace is another name space.
        let _b = r.reserve_name("other", "web", || Ok(None)).unwrap();
        drop(a);
        let _c = r.reserve_name("default", "web", || Ok(None)).unwrap();
        let err = r
            .reserve_name("default", "db", || Ok(Some("abc".into())))
            .err()
            .unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("by container \"abc\""));
    }

    #[tokio::test]
    async fn events_count_exits() {
        let r = Registry::default();
        let h = r.handle("default", "x");
        assert!(Arc::ptr_eq(&h, &r.handle("default", "x")));
        let mut rx = h.subscribe();
        h.started();
        h.exited(
            Exit {
                code: 3,
                ..Default::default()
            },
            true,
        );
        let e = rx.wait_for(|e| e.ended == 1).await.unwrap().clone();
        assert_eq!(e.last_exit.unwrap().code, 3);
        assert_eq!(e.starts, 1);
        h.wait_task_gone().await;
        r.forget("default", "x");
        assert!(!Arc::ptr_eq(&h, &r.handle("default", "x")));
    }
}
