//! Progress events of a pull or push, in docker's terms, sent to the client
//! as they happen. Byte counts are throttled per layer (10 a second), so a
//! fast transfer does not flood the stream.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

/// One progress event: docker's JSON message without its error and result
/// (the operation returns those).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransferEvent {
    /// A short blob ID, a tag, or "" for a line of its own.
    pub id: String,
    pub status: String,
    /// Bytes done and in all, for a byte count (0 otherwise).
    pub current: u64,
    pub total: u64,
}

/// Where events go. Cheap to clone; usable from any thread. A client that
/// went away (the receiver dropped) cancels a pull's downloads.
#[derive(Clone)]
pub struct Progress {
    tx: Option<UnboundedSender<TransferEvent>>,
}

/// The short ID docker shows for a blob: 12 hex digits of its digest.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

impl Progress {
    pub fn new(tx: UnboundedSender<TransferEvent>) -> Progress {
        Progress { tx: Some(tx) }
    }

    /// Events go nowhere (an internal pull).
    pub fn discard() -> Progress {
        Progress { tx: None }
    }

    fn send(&self, ev: TransferEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ev);
        }
    }

    /// Resolves when the client has gone away (never for `discard`): the
    /// operation is then cancelled, as docker cancels a pull whose client
    /// left.
    pub async fn client_gone(&self) {
        match &self.tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }

    /// A status for `id` (a short blob ID, a tag, or "" for a line of its own).
    pub fn status(&self, id: &str, status: impl Into<String>) {
        self.send(TransferEvent {
            id: id.to_string(),
            status: status.into(),
            ..Default::default()
        });
    }

    /// A byte count for `id`.
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(TransferEvent {
            id: id.to_string(),
            status: status.to_string(),
            current,
            total,
        });
    }
}

/// Byte progress of one blob, reported at most every 100 ms.
pub struct Meter {
    progress: Progress,
    id: String,
    status: &'static str,
    total: u64,
    done: u64,
    last: Option<Instant>,
    /// Silent until this download is complete (an unpack that reads a
    /// download as it arrives reports once the download has).
    after: Option<std::sync::Arc<super::tail::Tail>>,
}

impl Meter {
    pub fn new(progress: &Progress, id: &str, status: &'static str, total: u64) -> Meter {
        Meter {
            progress: progress.clone(),
            id: id.to_string(),
            status,
            total,
            done: 0,
            last: None,
            after: None,
        }
    }

    /// The same meter, silent until `download` is complete.
    pub fn after(mut self, download: &std::sync::Arc<super::tail::Tail>) -> Meter {
        self.after = Some(download.clone());
        self
    }

    /// Counts `n` more bytes.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.after.as_ref().is_some_and(|t| !t.is_complete()) {
            return;
        }
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due || self.done == self.total {
            self.last = Some(Instant::now());
            self.progress
                .bytes(&self.id, self.status, self.done, self.total);
        }
    }

    /// Bytes counted so far.
    pub fn done(&self) -> u64 {
        self.done
    }
}

/// A reader that reports the bytes read through a meter.
pub struct MeteredReader<R> {
    pub inner: R,
    pub meter: Meter,
}

impl<R: std::io::Read> std::io::Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_and_throttling() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = Progress::new(tx);
        let mut m = Meter::new(&p, "abc", "Downloading", 30);
        m.add(10);
        m.add(10); // within 100 ms: not sent
        m.add(10); // complete: always sent
        let a = rx.try_recv().unwrap();
        assert_eq!(
            (a.current, a.total, a.status.as_str()),
            (10, 30, "Downloading")
        );
        let b = rx.try_recv().unwrap();
        assert_eq!(b.current, 30);
        assert!(rx.try_recv().is_err());
    }
}
