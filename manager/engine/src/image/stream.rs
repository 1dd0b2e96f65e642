//! Bridges between async byte streams (a front door's request body, its
//! response body) and the blocking readers and writers that archive code
//! uses, with bounded buffers in both directions.

use std::io::{self, Read, Write};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::Result;

/// The bytes of an archive the engine writes, in chunks of up to 1 MiB; an
/// error ends it.
pub type ByteStream = ReceiverStream<Result<Vec<u8>>>;

/// A blocking reader fed by an async task through a bounded channel.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    /// A reader of `body`, which a task on the current runtime forwards
    /// until its end or its first error (the reader's error then).
    pub fn pump<S>(body: S) -> ChannelReader
    where
        S: Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = Box::pin(body);
            while let Some(item) = body.next().await {
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(v)) => {
                    self.cur = v;
                    self.pos = 0;
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A blocking writer that sends 1 MiB chunks to a [`ByteStream`].
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Result<Vec<u8>>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 1 << 20;

impl ChannelWriter {
    /// A writer and the stream of what it writes.
    pub(crate) fn new() -> (ChannelWriter, mpsc::Sender<Result<Vec<u8>>>, ByteStream) {
        let (tx, rx) = mpsc::channel(8);
        let w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        (w, tx, ReceiverStream::new(rx))
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(data))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
