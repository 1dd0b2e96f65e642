//! The layer byte stream: compression detected from magic bytes, the uncompressed tar hashed
//! and counted on the way through (the diff ID), and end-of-input tracked so that a stream cut
//! short is reported as truncated rather than as corrupt.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::SnapshotError;

pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Records that a reader returned end-of-file.
pub(crate) struct EofTracker<R> {
    pub inner: R,
    pub eof: Rc<Cell<bool>>,
}

impl<R: Read> Read for EofTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        Ok(n)
    }
}

/// Hashes and counts what passes through.
pub(crate) struct Hashing<R> {
    pub inner: R,
    pub hasher: Sha256,
    pub size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Classifies stream errors: an error after the input ran dry means the stream was cut short.
#[derive(Clone)]
pub(crate) struct StreamState {
    pub decoded_eof: Rc<Cell<bool>>,
}

impl StreamState {
    pub fn error(&self, e: io::Error) -> SnapshotError {
        if e.kind() == io::ErrorKind::UnexpectedEof || self.decoded_eof.get() {
            SnapshotError::Truncated {
                detail: e.to_string(),
            }
        } else {
            SnapshotError::CorruptLayer {
                detail: e.to_string(),
            }
        }
    }
}

pub(crate) fn decompress<'a>(reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>, SnapshotError> {
    let mut buffered = BufReader::with_capacity(BUF_SIZE, reader);
    let magic = buffered
        .fill_buf()
        .map_err(|e| SnapshotError::CorruptLayer {
            detail: format!("reading the layer: {e}"),
        })?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| {
            SnapshotError::CorruptLayer {
                detail: format!("starting zstd decompression: {e}"),
            }
        })?;
        Box::new(d)
    } else {
        Box::new(buffered)
    })
}
