//! Bridges between gRPC streams and the engine's: a client's stream of
//! chunks as the byte stream the engine reads, the engine's byte stream as
//! chunks, and a transfer's progress events followed by its result.

use std::future::Future;
use std::io;
use std::pin::Pin;

use berth_engine::distribution::progress::{Progress, TransferEvent};
use berth_engine::error::ManagerError;
use berth_proto::v1::{transfer_progress, DataChunk, TransferProgress};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Status, Streaming};

use super::status::to_status;

/// A client stream of messages as the bytes they carry: `data` takes them
/// out of a message (None: a message that has no place in the stream).
pub fn bytes_of<T, F>(
    stream: Streaming<T>,
    data: F,
) -> impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(T) -> Option<Vec<u8>> + Send + 'static,
{
    stream.map(move |m| match m {
        Ok(m) => data(m).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected message in the data stream",
            )
        }),
        Err(e) => Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the client stream broke: {}", e.message()),
        )),
    })
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<DataChunk, Status>> + Send>>;

/// The engine's byte stream as data chunks; its error ends the stream.
pub fn chunks<S>(bytes: S) -> ChunkStream
where
    S: Stream<Item = Result<Vec<u8>, ManagerError>> + Send + 'static,
{
    Box::pin(bytes.map(|r| r.map(|data| DataChunk { data }).map_err(to_status)))
}

pub type ProgressStream = Pin<Box<dyn Stream<Item = Result<TransferProgress, Status>> + Send>>;

/// An engine event as the proto's.
fn event(e: TransferEvent) -> TransferProgress {
    TransferProgress {
        id: e.id,
        status: e.status,
        current: e.current,
        total: e.total,
        result: None,
    }
}

/// Runs a pull or push (`op`, given where its progress goes) and streams
/// its progress: the last event carries the result and its line (`done`
/// makes them); a failure ends the stream with its status. A client that
/// goes away drops the receiver, which cancels the transfer.
pub fn transfer<T, Fut, D>(op: impl FnOnce(Progress) -> Fut, done: D) -> ProgressStream
where
    Fut: Future<Output = Result<T, ManagerError>> + Send + 'static,
    T: Send + 'static,
    D: FnOnce(T) -> (String, transfer_progress::Result) + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(op(Progress::new(tx)));
    let last = futures::stream::once(async move {
        match task.await {
            Ok(Ok(v)) => {
                let (status, result) = done(v);
                Ok(TransferProgress {
                    status,
                    result: Some(result),
                    ..Default::default()
                })
            }
            Ok(Err(e)) => Err(to_status(e)),
            Err(e) => Err(Status::internal(format!("worker failed: {e}"))),
        }
    });
    Box::pin(
        UnboundedReceiverStream::new(rx)
            .map(|e| Ok(event(e)))
            .chain(last),
    )
}
