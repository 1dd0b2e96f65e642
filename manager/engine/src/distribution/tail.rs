//! A blob being downloaded, readable while it grows: the download writes
//! the content store's ingest file and says how far it got; the unpacker
//! reads behind it (its own file descriptor, positioned reads) and waits
//! when it catches up. So a layer is unpacked as it arrives, and its bytes
//! are read from the page cache, not the network, twice.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

#[derive(Default)]
struct Inner {
    file: Option<Arc<File>>,
    written: u64,
    /// Set once: Ok when the blob is complete and verified.
    end: Option<Result<(), String>>,
}

/// The shared state of one download.
#[derive(Default)]
pub struct Tail {
    inner: Mutex<Inner>,
    cv: Condvar,
    complete: AtomicBool,
}

impl Tail {
    pub fn new() -> Arc<Tail> {
        Arc::new(Tail::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The download has its ingest file: readers may start.
    pub fn open(&self, path: &Path) -> io::Result<()> {
        let f = File::open(path)?;
        self.lock().file = Some(Arc::new(f));
        self.cv.notify_all();
        Ok(())
    }

    /// `n` more bytes are in the file.
    pub fn advance(&self, n: u64) {
        self.lock().written += n;
        self.cv.notify_all();
    }

    /// The download ended: verified (Ok) or failed. The first end wins.
    pub fn finish(&self, end: Result<(), String>) {
        let mut g = self.lock();
        if g.end.is_none() {
            if end.is_ok() {
                self.complete.store(true, Ordering::Release);
            }
            g.end = Some(end);
        }
        drop(g);
        self.cv.notify_all();
    }

    /// Whether the whole blob is there and verified.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// A reader from the start of the blob.
    pub fn reader(self: &Arc<Self>) -> TailReader {
        TailReader {
            tail: self.clone(),
            pos: 0,
        }
    }
}

/// Reads a download's bytes as they arrive; end of file only once the blob
/// is complete and verified, an error if the download failed.
pub struct TailReader {
    tail: Arc<Tail>,
    pos: u64,
}

impl io::Read for TailReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (file, avail) = {
            let mut g = self.tail.lock();
            loop {
                if let Some(f) = &g.file {
                    if g.written > self.pos {
                        break (f.clone(), g.written - self.pos);
                    }
                }
                match &g.end {
                    Some(Ok(())) if g.file.is_some() => return Ok(0),
                    Some(Ok(())) => return Err(io::Error::other("download ended without a file")),
                    Some(Err(e)) => return Err(io::Error::other(e.clone())),
                    None => {}
                }
                g = self.tail.cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        };
        let want = buf.len().min(avail.min(usize::MAX as u64) as usize);
        let n = file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "download file shorter than reported",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reader_follows_the_writer_and_sees_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let mut f = File::create(&path).unwrap();
        let tail = Tail::new();
        let reader_tail = tail.clone();
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            reader_tail.reader().read_to_end(&mut out).map(|_| out)
        });
        tail.open(&path).unwrap();
        for chunk in [&b"hello "[..], b"world"] {
            f.write_all(chunk).unwrap();
            tail.advance(chunk.len() as u64);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!tail.is_complete());
        tail.finish(Ok(()));
        assert!(tail.is_complete());
        assert_eq!(t.join().unwrap().unwrap(), b"hello world");

        let failing = Tail::new();
        failing.open(&path).unwrap();
        failing.advance(3);
        failing.finish(Err("digest mismatch".into()));
        let mut r = failing.reader();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        let err = r.read(&mut buf).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"));
    }
}
