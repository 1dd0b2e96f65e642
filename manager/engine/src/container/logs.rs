//! `logs`: a container's output from its json-file log (rotated files
//! included), with `--tail`, `--since`, `--until`, stream selection and
//! `--follow`. Following polls the live file (noticing rotation) and ends
//! when the container's run ends: the exit event wakes it at once, then a
//! final drain picks up what the shim wrote last.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use super::logfile::{parse_time, read_history, Entry, Filter, Follower, Sink};
use super::registry::Events;
use crate::container::Containers;
use crate::error::{ManagerError, Result};

/// How often a follower looks for new output.
const POLL: Duration = Duration::from_millis(100);

/// What `logs` asks for.
#[derive(Clone, Debug, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Entries from the end; negative for all.
    pub tail: i64,
    pub since: String,
    pub until: String,
    pub stdout: bool,
    pub stderr: bool,
}

/// Reads what the live file got since the last poll, on the blocking pool;
/// gives the follower back and whether the consumer still wants more.
pub(crate) async fn poll_live<T: Send + 'static>(
    mut live: Follower,
    filter: Filter,
    tx: mpsc::Sender<T>,
    wrap: fn(Entry) -> T,
) -> Result<(Follower, Filter, bool)> {
    tokio::task::spawn_blocking(move || {
        let mut emit = |e: Entry| tx.blocking_send(wrap(e)).is_ok();
        let mut sink = Sink::new(None, &mut emit);
        let r = live.poll(&filter, &mut sink);
        let more = sink.finish();
        r.map(|()| (live, filter, more))
            .map_err(|e| ManagerError::io("read the container log", e))
    })
    .await
    .map_err(ManagerError::Worker)?
}

/// Follows the live file until the run that was current at `ended0` ends
/// (or the container is removed), then drains it once more. Returns the
/// events that ended it, or `None` when the consumer went away or `until`
/// passed; Unavailable when berthd is stopping.
pub(crate) async fn follow<T: Send + 'static>(
    engine: &Containers,
    mut live: Follower,
    mut filter: Filter,
    mut rx: watch::Receiver<Events>,
    ended0: u64,
    tx: mpsc::Sender<T>,
    wrap: fn(Entry) -> T,
) -> Result<Option<Events>> {
    let shutdown = engine.registry().shutting_down();
    tokio::pin!(shutdown);
    loop {
        let ended = tokio::select! {
            _ = &mut shutdown => return Err(ManagerError::Unavailable(
                "berthd is shutting down".into(),
            )),
            r = rx.wait_for(|e| e.ended > ended0 || e.removed) => Some(match r {
                Ok(e) => e.clone(),
                Err(_) => Events { removed: true, ..Default::default() },
            }),
            _ = tokio::time::sleep(POLL) => None,
            _ = tx.closed() => return Ok(None),
        };
        let (l, f, more) = poll_live(live, filter, tx.clone(), wrap).await?;
        live = l;
        filter = f;
        if !more {
            return Ok(None);
        }
        if ended.is_some() {
            return Ok(ended);
        }
    }
}

impl Containers {
    /// Streams a container's logs; the receiver ends with the history
    /// (without `follow`) or when the container stops.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn container_logs(
        &self,
        ns: &str,
        s: &str,
        opts: LogsOptions,
    ) -> Result<mpsc::Receiver<Result<Entry>>> {
        let rec = self.lookup_container(ns, s)?;
        let filter = log_filter(&opts)?;
        let tail = usize::try_from(opts.tail).ok();
        let handle = self.registry().handle(ns, &rec.id);
        let rx = handle.subscribe();
        let ended0 = rx.borrow().ended;
        // Read after subscribing, so an exit in between ends the follow.
        let running = self
            .container_record(ns, &rec.id)?
            .is_some_and(|r| r.state.running());
        let log = rec.log_path.clone();
        let (tx, out) = mpsc::channel(64);
        let engine = self.clone();
        tokio::spawn(async move {
            let history = send_history(log, filter.clone(), tail, tx.clone()).await;
            let live = match history {
                Ok((Some(live), true)) if opts.follow && running => live,
                Ok(_) => return,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if let Err(e) = follow(&engine, live, filter, rx, ended0, tx.clone(), Ok).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(out)
    }
}

/// What `logs` keeps: the streams asked for (both when neither is) and the
/// --since/--until window.
fn log_filter(opts: &LogsOptions) -> Result<Filter> {
    let now = Utc::now();
    let time = |v: &str| -> Result<_> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        parse_time(v, now)
            .map(Some)
            .map_err(ManagerError::InvalidArgument)
    };
    let both = !opts.stdout && !opts.stderr;
    Ok(Filter {
        stdout: opts.stdout || both,
        stderr: opts.stderr || both,
        since: time(&opts.since)?,
        until: time(&opts.until)?,
    })
}

/// Sends the log's history (its last `tail` entries) to `tx` on the
/// blocking pool; returns the follower opened before reading, so nothing
/// written meanwhile is missed, and whether the reader still wants more.
async fn send_history(
    log: PathBuf,
    filter: Filter,
    tail: Option<usize>,
    tx: mpsc::Sender<Result<Entry>>,
) -> Result<(Option<Follower>, bool)> {
    tokio::task::spawn_blocking(move || {
        let mut live = Follower::open(&log).ok();
        let mut emit = |e: Entry| tx.blocking_send(Ok(e)).is_ok();
        let mut sink = Sink::new(tail, &mut emit);
        let r = read_history(&log, live.as_mut(), &filter, &mut sink);
        let more = sink.finish();
        r.map(|()| (live, more))
            .map_err(|e| ManagerError::io("read the container log", e))
    })
    .await
    .map_err(ManagerError::Worker)
    .and_then(|r| r)
}
