//! Output fan-out: every chunk a process writes goes to each attached
//! client's queue. The queues are bounded in bytes ([`CLIENT_QUEUE`]): a
//! client that does not keep up loses output beyond its bound (counted and
//! reported to it in order, as [`Event::Dropped`]) and never slows the
//! process, the log or the other clients. A client that went away is
//! unsubscribed at the next chunk.
//!
//! The hub lives on the shim's thread; each queue is a channel whose
//! receiving end ([`Subscription`]) is polled by the client's gRPC stream,
//! which may be on any task, so the byte count is shared atomically.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::jsonlog::Stream;

/// How many bytes of output may wait for one client.
pub const CLIENT_QUEUE: usize = 1 << 20;

/// What a client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Output(Stream, Vec<u8>),
    /// This many bytes were dropped here, because the queue was full.
    Dropped(u64),
}

struct Subscriber {
    tx: mpsc::UnboundedSender<Event>,
    queued: Arc<AtomicUsize>,
    /// Dropped since the last event sent.
    dropped: u64,
    stdout: bool,
    stderr: bool,
}

/// The receiving end of one client's queue. It ends when the process's
/// output ended (after what was queued).
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<Event>,
    queued: Arc<AtomicUsize>,
}

impl Subscription {
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let r = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Event::Output(_, data))) = &r {
            self.queued.fetch_sub(data.len(), Ordering::Relaxed);
        }
        r
    }

    pub async fn recv(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

/// The subscribers of one process's output.
pub struct Hub {
    subs: Vec<Subscriber>,
    ended: bool,
    limit: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::with_limit(CLIENT_QUEUE)
    }
}

impl Hub {
    /// A hub whose queues hold `limit` bytes each.
    pub fn with_limit(limit: usize) -> Hub {
        Hub {
            subs: Vec::new(),
            ended: false,
            limit,
        }
    }

    /// A new client for the chosen streams; everything published from now
    /// on reaches it. After the output ended, its subscription ends at once.
    pub fn subscribe(&mut self, stdout: bool, stderr: bool) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        // Clients that went away since the last chunk.
        self.subs.retain(|s| !s.tx.is_closed());
        if !self.ended {
            self.subs.push(Subscriber {
                tx,
                queued: queued.clone(),
                dropped: 0,
                stdout,
                stderr,
            });
        }
        Subscription { rx, queued }
    }

    /// Queues `data` for every client that wants `stream` and has room.
    pub fn publish(&mut self, stream: Stream, data: &[u8]) {
        let limit = self.limit;
        self.subs.retain_mut(|s| {
            let wanted = match stream {
                Stream::Stdout => s.stdout,
                Stream::Stderr => s.stderr,
            };
            if !wanted {
                return !s.tx.is_closed();
            }
            let queued = s.queued.load(Ordering::Relaxed);
            if queued > 0 && queued + data.len() > limit {
                s.dropped += data.len() as u64;
                return !s.tx.is_closed();
            }
            if s.dropped > 0 {
                if s.tx.send(Event::Dropped(s.dropped)).is_err() {
                    return false;
                }
                s.dropped = 0;
            }
            s.queued.fetch_add(data.len(), Ordering::Relaxed);
            s.tx.send(Event::Output(stream, data.to_vec())).is_ok()
        });
    }

    /// The output ended: every subscription ends after what it has queued
    /// (and a last Dropped count).
    pub fn end(&mut self) {
        for s in self.subs.drain(..) {
            if s.dropped > 0 {
                let _ = s.tx.send(Event::Dropped(s.dropped));
            }
        }
        self.ended = true;
    }

    /// Clients subscribed (and not known to be gone).
    pub fn subscribers(&self) -> usize {
        self.subs.iter().filter(|s| !s.tx.is_closed()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(sub: &mut Subscription) -> Vec<Event> {
        let mut out = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        while let Poll::Ready(Some(e)) = sub.poll_recv(&mut cx) {
            out.push(e);
        }
        out
    }

    fn ended(sub: &mut Subscription) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        matches!(sub.poll_recv(&mut cx), Poll::Ready(None))
    }

    #[test]
    fn every_client_gets_the_streams_it_asked_for() {
        let mut hub = Hub::default();
        let mut both = hub.subscribe(true, true);
        let mut out = hub.subscribe(true, false);
        hub.publish(Stream::Stdout, b"a");
        hub.publish(Stream::Stderr, b"b");
        assert_eq!(
            drain(&mut both),
            [
                Event::Output(Stream::Stdout, b"a".to_vec()),
                Event::Output(Stream::Stderr, b"b".to_vec())
            ]
        );
        assert_eq!(
            drain(&mut out),
            [Event::Output(Stream::Stdout, b"a".to_vec())]
        );
        hub.end();
        assert!(ended(&mut both) && ended(&mut out));
        // Too late: ends at once.
        let mut late = hub.subscribe(true, true);
        assert!(ended(&mut late));
    }

    #[test]
    fn a_slow_client_loses_output_beyond_its_bound_and_is_told_in_order() {
        let mut hub = Hub::with_limit(10);
        let mut slow = hub.subscribe(true, true);
        let mut fast = hub.subscribe(true, true);
        for chunk in [b"1234", b"5678", b"9abc", b"defg"] {
            hub.publish(Stream::Stdout, chunk);
            drain(&mut fast);
        }
        // 8 bytes queued; the third and fourth chunks did not fit.
        assert_eq!(
            drain(&mut slow),
            [
                Event::Output(Stream::Stdout, b"1234".to_vec()),
                Event::Output(Stream::Stdout, b"5678".to_vec())
            ]
        );
        hub.publish(Stream::Stdout, b"h");
        assert_eq!(
            drain(&mut slow),
            [
                Event::Dropped(8),
                Event::Output(Stream::Stdout, b"h".to_vec())
            ]
        );
        hub.publish(Stream::Stdout, b"0123456789");
        hub.publish(Stream::Stdout, b"x");
        hub.end();
        assert_eq!(
            drain(&mut slow),
            [
                Event::Output(Stream::Stdout, b"0123456789".to_vec()),
                Event::Dropped(1)
            ]
        );
        assert!(ended(&mut slow));
    }

    #[test]
    fn clients_that_went_away_are_unsubscribed() {
        let mut hub = Hub::default();
        let gone = hub.subscribe(true, true);
        let _kept = hub.subscribe(true, false);
        assert_eq!(hub.subscribers(), 2);
        drop(gone);
        hub.publish(Stream::Stdout, b"x");
        assert_eq!(hub.subscribers(), 1);
        assert_eq!(hub.subs.len(), 1);
    }
}
