//! The content store: blobs addressed by sha256 digest under
//! ROOT/content/blobs/sha256/<hex>. A blob enters through an ingest
//! (ROOT/content/ingest/<sha256(ref)>/data, one lock per ref), and is renamed
//! into place only after fsync, size check and digest check. Which namespace
//! holds which blob is metadata (see `store`); the files are shared.

pub mod digest;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest as _, Sha256};

pub use digest::Digest;

use crate::error::{IoContext, ManagerError, Result};

/// The blob store on disk.
#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

/// The outcome of committing an ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
    /// False when the blob was already in the store.
    pub created: bool,
}

impl ContentStore {
    /// Opens the store at `root` (ROOT/content). Ingests left by a previous
    /// run are stale (nothing can resume them across a restart yet) and are
    /// removed.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let cs = ContentStore {
            root: root.to_path_buf(),
        };
        // 0700 (crate::layout says why), here too for an engine opened without berthd's start-up.
        crate::layout::private_dir(&cs.blobs_dir())?;
        let ingest = cs.ingest_dir();
        if ingest.exists() {
            fs::remove_dir_all(&ingest).ctx(|| format!("clean {}", ingest.display()))?;
        }
        crate::layout::private_dir(&ingest)?;
        Ok(cs)
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// The path of a blob.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// Whether the blob is present.
    pub fn exists(&self, d: &Digest) -> bool {
        self.blob_path(d).exists()
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ManagerError::NotFound(format!("content {d} not found"))
            } else {
                ManagerError::io(format!("open {}", p.display()), e)
            }
        })
    }

    /// Reads a whole (small) blob.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut v)
            .ctx(|| format!("read {d}"))?;
        Ok(v)
    }

    /// Starts an ingest under `reference`. Only one writer may hold a ref.
    pub fn writer(&self, reference: &str) -> Result<Writer> {
        let dir = self
            .ingest_dir()
            .join(Digest::of(reference.as_bytes()).hex());
        crate::layout::private_dir(&dir)?;
        let lock_file =
            File::create(dir.join("lock")).ctx(|| format!("lock ingest {reference}"))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|_| {
            ManagerError::FailedPrecondition(format!("ingest {reference:?} is in use"))
        })?;
        let path = dir.join("data");
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .ctx(|| format!("create {}", path.display()))?;
        Ok(Writer {
            store: self.clone(),
            dir,
            file: io::BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            size: 0,
            _lock: lock,
        })
    }

    /// Writes a whole blob from bytes (manifests, configs).
    pub fn write_blob(&self, reference: &str, bytes: &[u8]) -> Result<Committed> {
        let mut w = self.writer(reference)?;
        w.write_all(bytes).ctx(|| format!("write {reference}"))?;
        w.commit(Some(&Digest::of(bytes)), Some(bytes.len() as u64))
    }

    /// Removes a blob; a missing blob is not an error.
    pub fn delete(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.blob_path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ManagerError::io(format!("remove blob {d}"), e))
            }
            _ => Ok(()),
        }
    }

    /// Every blob on disk with its size.
    pub fn walk(&self) -> Result<Vec<(Digest, u64)>> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let e = e.ctx(|| format!("read {}", dir.display()))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((d, size));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Re-hashes a blob: Ok(()) when its bytes match the digest and `size`.
    pub fn verify(&self, d: &Digest, size: Option<u64>) -> std::result::Result<(), String> {
        let mut f = match File::open(self.blob_path(d)) {
            Ok(f) => f,
            Err(e) => return Err(format!("cannot open blob: {e}")),
        };
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k as u64;
                }
                Err(e) => return Err(format!("read error: {e}")),
            }
        }
        if let Some(want) = size {
            if want != n {
                return Err(format!("size mismatch: expected {want} bytes, found {n}"));
            }
        }
        let actual = Digest::from_hasher(h);
        if &actual != d {
            return Err(format!("digest mismatch: content hashes to {actual}"));
        }
        Ok(())
    }
}

/// An open ingest. Bytes written are hashed as they go; `commit` consumes
/// the writer and moves the data into place once it verifies. Dropping a
/// writer without committing removes the ingest.
pub struct Writer {
    store: ContentStore,
    dir: PathBuf,
    file: io::BufWriter<File>,
    hasher: Sha256,
    size: u64,
    _lock: Flock<File>,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Writer {
    /// The file the ingest is written to (readable by others while it
    /// grows; renamed into blobs/ by `commit`).
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// fsync → check size → check digest → rename into blobs/.
    pub fn commit(mut self, expected: Option<&Digest>, size: Option<u64>) -> Result<Committed> {
        self.file.flush().ctx(|| "flush ingest".into())?;
        self.file
            .get_ref()
            .sync_data()
            .ctx(|| "sync ingest".into())?;
        let hasher = std::mem::take(&mut self.hasher);
        let actual = Digest::from_hasher(hasher);
        if let Some(want) = size {
            if want != self.size {
                return Err(ManagerError::FailedPrecondition(format!(
                    "size mismatch for {}: expected {want} bytes, got {}",
                    expected.unwrap_or(&actual),
                    self.size
                )));
            }
        }
        if let Some(want) = expected {
            if want != &actual {
                return Err(ManagerError::DigestMismatch {
                    what: "blob".into(),
                    expected: want.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let target = self.store.blob_path(&actual);
        let created = if target.exists() {
            false
        } else {
            fs::rename(self.dir.join("data"), &target).ctx(|| format!("commit blob {actual}"))?;
            true
        };
        Ok(Committed {
            digest: actual,
            size: self.size,
            created,
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_commit_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let c = cs.write_blob("r1", b"hello").unwrap();
        assert!(c.created);
        assert_eq!(cs.read_blob(&c.digest).unwrap(), b"hello");
        assert!(cs.verify(&c.digest, Some(5)).is_ok());
        // Same bytes again: already exists, not created.
        let c2 = cs.write_blob("r2", b"hello").unwrap();
        assert!(!c2.created);
        // The ingest area is empty after commits.
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        // Corrupt it on disk: verify reports the mismatch.
        fs::write(cs.blob_path(&c.digest), b"hellp").unwrap();
        let err = cs.verify(&c.digest, Some(5)).unwrap_err();
        assert!(err.contains("digest mismatch"), "{err}");
    }

    #[test]
    fn wrong_digest_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.writer("r").unwrap();
        w.write_all(b"abc").unwrap();
        let want = Digest::of(b"abd");
        let err = w.commit(Some(&want), None).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"));
        assert!(err.to_string().contains(want.as_str()));
        assert!(cs.walk().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn one_writer_per_ref() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let _w = cs.writer("same").unwrap();
        assert!(cs.writer("same").is_err());
    }
}
