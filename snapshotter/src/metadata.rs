//! Persisted snapshot metadata, in a sled database at `ROOT/metadata.db`.
//!
//! ```text
//! ROOT/metadata.db
//!   tree "v1/meta"
//!     "schema"          -> "1"
//!   tree "v1/snapshots"
//!     <key or name>     -> JSON Record { id, kind, parent, labels, created, updated }
//! ROOT/snapshots/<id>/  the backend's directories for the snapshot with that id
//! ```
//!
//! Ids come from sled's persistent id generator, so an id is never reused, even after a crash.
//! Children are found by scanning (snapshot counts are in the thousands at most). Every change
//! is flushed before the call returns.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::{Info, Kind, Labels, SnapshotError};

const SCHEMA_VERSION: &str = "1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub labels: Labels,
    pub created: i64,
    pub updated: i64,
}

impl Record {
    pub fn info(&self, name: &str) -> Info {
        Info {
            name: name.to_owned(),
            parent: self.parent.clone(),
            kind: self.kind,
            labels: self.labels.clone(),
            created: self.created,
            updated: self.updated,
        }
    }
}

pub(crate) struct MetaStore {
    db: sled::Db,
    snapshots: sled::Tree,
}

fn db_err(context: &str) -> impl FnOnce(sled::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Metadata {
        context: context.to_owned(),
        source,
    }
}

impl MetaStore {
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        let path = root.join("metadata.db");
        let db = sled::open(&path).map_err(|source| SnapshotError::Metadata {
            context: format!("open {}", path.display()),
            source,
        })?;
        let meta = db.open_tree("v1/meta").map_err(db_err("open tree"))?;
        match meta.get("schema").map_err(db_err("read schema"))? {
            None => {
                meta.insert("schema", SCHEMA_VERSION)
                    .map_err(db_err("write schema"))?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.as_bytes() => {}
            Some(v) => {
                return Err(SnapshotError::CorruptMetadata {
                    key: "schema".into(),
                    reason: format!(
                        "unsupported schema version {:?} (this build knows {SCHEMA_VERSION})",
                        String::from_utf8_lossy(&v)
                    ),
                })
            }
        }
        let snapshots = db.open_tree("v1/snapshots").map_err(db_err("open tree"))?;
        Ok(MetaStore { db, snapshots })
    }

    pub fn next_id(&self) -> Result<u64, SnapshotError> {
        // generate_id starts at 0; directories start at 1 for readability.
        Ok(self.db.generate_id().map_err(db_err("generate id"))? + 1)
    }

    pub fn get(&self, key: &str) -> Result<Option<Record>, SnapshotError> {
        let Some(raw) = self.snapshots.get(key).map_err(db_err("read"))? else {
            return Ok(None);
        };
        decode(key, &raw).map(Some)
    }

    pub fn insert(&self, key: &str, rec: &Record) -> Result<(), SnapshotError> {
        self.snapshots
            .insert(key, encode(rec)?)
            .map_err(db_err("write"))?;
        self.flush()
    }

    /// Atomically replaces `key` with `name` holding `rec`.
    pub fn rename(&self, key: &str, name: &str, rec: &Record) -> Result<(), SnapshotError> {
        let value = encode(rec)?;
        self.snapshots
            .transaction(|t| {
                t.remove(key.as_bytes())?;
                t.insert(name.as_bytes(), value.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(source) => SnapshotError::Metadata {
                    context: format!("commit {key:?} as {name:?}"),
                    source,
                },
                TransactionError::Abort(()) => SnapshotError::CorruptMetadata {
                    key: key.to_owned(),
                    reason: "commit transaction aborted".into(),
                },
            })?;
        self.flush()
    }

    pub fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        self.snapshots.remove(key).map_err(db_err("delete"))?;
        self.flush()
    }

    /// Every record, in key order.
    pub fn all(&self) -> Result<Vec<(String, Record)>, SnapshotError> {
        let mut out = Vec::new();
        for item in self.snapshots.iter() {
            let (k, v) = item.map_err(db_err("scan"))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let rec = decode(&key, &v)?;
            out.push((key, rec));
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), SnapshotError> {
        self.db.flush().map_err(db_err("flush"))?;
        Ok(())
    }
}

fn encode(rec: &Record) -> Result<Vec<u8>, SnapshotError> {
    serde_json::to_vec(rec).map_err(|e| SnapshotError::CorruptMetadata {
        key: rec.id.to_string(),
        reason: e.to_string(),
    })
}

fn decode(key: &str, raw: &[u8]) -> Result<Record, SnapshotError> {
    serde_json::from_slice(raw).map_err(|e| SnapshotError::CorruptMetadata {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}
