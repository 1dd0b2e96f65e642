//! Moving archives between local files or stdio and berthd's streaming
//! calls, 1 MiB at a time, never holding a whole archive in memory.

use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use berth_proto::v1::DataChunk;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use crate::error::CliError;

/// Bytes per message of an upload.
pub const CHUNK: usize = 1 << 20;

/// Where an upload's bytes come from.
pub type Source = Box<dyn AsyncRead + Unpin + Send>;

/// Opens a file to upload.
pub async fn open_file(path: &str) -> Result<Source, CliError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CliError::io(format!("open {path}"), e))?;
    Ok(Box::new(file))
}

/// Stdin as an upload source; a terminal is refused, since nobody types an
/// archive (and waiting on one looks like a hang).
pub fn open_stdin(refusal: &str) -> Result<Source, CliError> {
    if std::io::stdin().is_terminal() {
        return Err(CliError::Invalid(refusal.to_owned()));
    }
    Ok(Box::new(tokio::io::stdin()))
}

/// Runs a client-streaming call fed with `first` (if any) and then the
/// source's bytes, each chunk wrapped by `wrap`. A read failure cancels the
/// call and is the error reported: the daemon never sees a cut-short archive
/// as if it were whole.
pub async fn upload<T, R, F, Fut>(
    source: Source,
    first: Option<T>,
    wrap: fn(Vec<u8>) -> T,
    call: F,
) -> Result<R, CliError>
where
    T: Send + 'static,
    F: FnOnce(ReceiverStream<T>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let (tx, rx) = mpsc::channel(4);
    let mut pump = tokio::spawn(pump(source, first, wrap, tx));
    let call = call(ReceiverStream::new(rx));
    tokio::pin!(call);
    let mut pumped = false;
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            joined = &mut pump, if !pumped => {
                pumped = true;
                joined.map_err(|e| CliError::Invalid(format!("reading input: {e}")))??;
            }
        }
    };
    match result {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => {
            // The pump may have failed (ending the stream early) just before
            // the daemon rejected what it got: its error is the real one.
            if !pumped && pump.is_finished() {
                if let Ok(Err(e)) = pump.await {
                    return Err(e);
                }
            } else if !pumped {
                pump.abort();
            }
            Err(status.into())
        }
    }
}

async fn pump<T>(
    mut source: Source,
    first: Option<T>,
    wrap: fn(Vec<u8>) -> T,
    tx: mpsc::Sender<T>,
) -> Result<(), CliError> {
    if let Some(first) = first {
        if tx.send(first).await.is_err() {
            return Ok(());
        }
    }
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        (&mut source)
            .take(CHUNK as u64)
            .read_to_end(&mut chunk)
            .await
            .map_err(|e| CliError::io("read input", e))?;
        let last = chunk.len() < CHUNK;
        if !chunk.is_empty() && tx.send(wrap(chunk)).await.is_err() {
            // The call ended; its result says why.
            return Ok(());
        }
        if last {
            return Ok(());
        }
    }
}

/// Copies a stream of chunks into `sink`, returning the bytes written.
pub async fn download(
    mut chunks: tonic::Streaming<DataChunk>,
    sink: &mut (impl AsyncWrite + Unpin),
    what: &str,
) -> Result<u64, CliError> {
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        sink.write_all(&chunk.data)
            .await
            .map_err(|e| CliError::io(format!("write {what}"), e))?;
        written += chunk.data.len() as u64;
    }
    sink.flush()
        .await
        .map_err(|e| CliError::io(format!("write {what}"), e))?;
    Ok(written)
}

/// A file being written under a temporary name beside its destination;
/// removed on drop unless [`TempFile::persist`] renamed it into place.
pub struct TempFile {
    temp: PathBuf,
    dest: PathBuf,
    persisted: bool,
}

impl TempFile {
    /// `DEST.tmp-<pid>`, created (or truncated) now.
    pub async fn create(dest: &Path) -> Result<(TempFile, tokio::fs::File), CliError> {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!(".tmp-{}", std::process::id()));
        let temp = PathBuf::from(name);
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| CliError::io(format!("create {}", temp.display()), e))?;
        Ok((
            TempFile {
                temp,
                dest: dest.to_owned(),
                persisted: false,
            },
            file,
        ))
    }

    /// Flushes the data to disk and renames the file to its destination.
    pub async fn persist(mut self, file: tokio::fs::File) -> Result<(), CliError> {
        file.sync_all()
            .await
            .map_err(|e| CliError::io(format!("sync {}", self.temp.display()), e))?;
        drop(file);
        tokio::fs::rename(&self.temp, &self.dest)
            .await
            .map_err(|e| CliError::io(format!("rename to {}", self.dest.display()), e))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(data: Vec<u8>) -> DataChunk {
        DataChunk { data }
    }

    async fn collect(
        source: Source,
        first: Option<DataChunk>,
    ) -> (Vec<DataChunk>, Result<(), CliError>) {
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(pump(source, first, wrap, tx));
        let mut got = Vec::new();
        while let Some(chunk) = rx.recv().await {
            got.push(chunk);
        }
        (got, task.await.unwrap())
    }

    #[tokio::test]
    async fn pump_sends_full_chunks_then_the_rest() {
        let data = vec![7u8; CHUNK * 2 + 10];
        let (chunks, result) = collect(Box::new(std::io::Cursor::new(data)), None).await;
        result.unwrap();
        let sizes: Vec<usize> = chunks.iter().map(|c| c.data.len()).collect();
        assert_eq!(sizes, vec![CHUNK, CHUNK, 10]);
    }

    #[tokio::test]
    async fn pump_sends_the_header_first_and_no_empty_chunk() {
        let header = DataChunk {
            data: b"head".to_vec(),
        };
        let (chunks, result) = collect(
            Box::new(std::io::Cursor::new(vec![1u8; CHUNK])),
            Some(header),
        )
        .await;
        result.unwrap();
        assert_eq!(chunks[0].data, b"head");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].data.len(), CHUNK);
    }

    #[tokio::test]
    async fn temp_file_is_removed_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        {
            let (_guard, mut file) = TempFile::create(&dest).await.unwrap();
            file.write_all(b"partial").await.unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let (guard, mut file) = TempFile::create(&dest).await.unwrap();
        file.write_all(b"whole").await.unwrap();
        guard.persist(file).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
