//! The metadata store: typed records in sled, one key tree (see [`schema`]),
//! namespaces scoping every object, and multi-object changes as one atomic
//! batch. The store is the truth; only berthd opens it.

pub mod records;
pub mod schema;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ManagerError, Result};
pub use records::*;

/// The sled-backed metadata store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
}

/// A set of writes applied atomically by [`Store::apply`].
#[derive(Default)]
pub struct Batch {
    inner: sled::Batch,
}

impl Batch {
    /// Stores `value` under `key`.
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|source| ManagerError::Encode {
            what: key.to_string(),
            source,
        })?;
        self.inner.insert(key.as_bytes(), bytes);
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &str) {
        self.inner.remove(key.as_bytes());
    }
}

/// Current time in RFC 3339, as every record stores it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Store {
    /// Opens (or creates) the store at `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Store> {
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(200))
            .open()?;
        match db.get(schema::SCHEMA_KEY)? {
            None => {
                db.insert(
                    schema::SCHEMA_KEY,
                    schema::SCHEMA_VERSION.to_string().as_bytes(),
                )?;
            }
            Some(v) => {
                let v: u32 = std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ManagerError::Internal("unreadable schema version".into()))?;
                if v > schema::SCHEMA_VERSION {
                    return Err(ManagerError::FailedPrecondition(format!(
                        "metadata schema version {v} is newer than this berthd knows ({})",
                        schema::SCHEMA_VERSION
                    )));
                }
            }
        }
        Ok(Store { db })
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.db.get(key.as_bytes())? {
            None => Ok(None),
            Some(v) => {
                serde_json::from_slice(&v)
                    .map(Some)
                    .map_err(|source| ManagerError::Decode {
                        what: key.to_string(),
                        source,
                    })
            }
        }
    }

    /// Whether a key exists.
    pub fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.db.contains_key(key.as_bytes())?)
    }

    /// Decodes every record under a prefix, in key order.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        self.db
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                serde_json::from_slice(&v).map_err(|source| ManagerError::Decode {
                    what: String::from_utf8_lossy(&k).into_owned(),
                    source,
                })
            })
            .collect()
    }

    /// The keys under a prefix, with the prefix removed.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.db
            .scan_prefix(prefix.as_bytes())
            .keys()
            .map(|k| {
                let k = k?;
                Ok(String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            })
            .collect()
    }

    /// Counts the keys under a prefix.
    pub fn count(&self, prefix: &str) -> Result<usize> {
        let mut n = 0;
        for k in self.db.scan_prefix(prefix.as_bytes()).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// Applies a batch atomically.
    pub fn apply(&self, batch: Batch) -> Result<()> {
        self.db.apply_batch(batch.inner)?;
        Ok(())
    }

    /// Writes one record.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let mut b = Batch::default();
        b.put(key, value)?;
        self.apply(b)
    }

    /// Writes `value` under `key` unless the key exists; whether it wrote.
    /// Atomic: of two callers racing for one key exactly one wins.
    pub fn insert_new<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        let v = serde_json::to_vec(value).map_err(|source| ManagerError::Encode {
            what: key.to_string(),
            source,
        })?;
        Ok(self
            .db
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(v))?
            .is_ok())
    }

    /// Deletes `key` if it holds `value`; whether it did.
    pub fn remove_if<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        let v = serde_json::to_vec(value).map_err(|source| ManagerError::Encode {
            what: key.to_string(),
            source,
        })?;
        Ok(self
            .db
            .compare_and_swap(key.as_bytes(), Some(v), None as Option<&[u8]>)?
            .is_ok())
    }

    /// Every key and decoded record under a prefix (the prefix removed).
    pub fn scan_keyed<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        self.db
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                let rec = serde_json::from_slice(&v).map_err(|source| ManagerError::Decode {
                    what: String::from_utf8_lossy(&k).into_owned(),
                    source,
                })?;
                Ok((key, rec))
            })
            .collect()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Names of every namespace that has a record.
    pub fn namespaces(&self) -> Result<Vec<NamespaceRecord>> {
        self.scan(schema::NAMESPACES_PREFIX)
    }

    /// Makes sure a namespace record exists (namespaces are created on first
    /// use, as in containerd).
    pub fn ensure_namespace(&self, ns: &str) -> Result<()> {
        let key = schema::namespace_key(ns);
        if self.contains(&key)? {
            return Ok(());
        }
        let rec = NamespaceRecord {
            name: ns.to_string(),
            labels: Default::default(),
            created_at: now(),
        };
        let bytes = serde_json::to_vec(&rec).map_err(|source| ManagerError::Encode {
            what: "namespace".into(),
            source,
        })?;
        // compare_and_swap so two first uses do not overwrite each other.
        let _ = self
            .db
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(bytes))?;
        Ok(())
    }
}

/// Checks a namespace name: lower-case letters, digits, '.', '_', '-',
/// starting with a letter or digit, at most 76 characters.
pub fn validate_namespace(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 76
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ManagerError::InvalidArgument(format!(
            "invalid namespace name {name:?}: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names() {
        assert!(validate_namespace("default").is_ok());
        assert!(validate_namespace("k8s.io").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("Upper").is_err());
        assert!(validate_namespace("-x").is_err());
        assert!(validate_namespace("a/b").is_err());
    }

    #[test]
    fn batch_is_atomic_and_scans_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("meta.db")).unwrap();
        let mut b = Batch::default();
        for n in ["a", "b"] {
            b.put(
                &schema::content_key("default", n),
                &ContentRecord {
                    digest: n.into(),
                    size: 1,
                    created_at: now(),
                    labels: Default::default(),
                },
            )
            .unwrap();
        }
        s.apply(b).unwrap();
        let v: Vec<ContentRecord> = s.scan(&schema::content_prefix("default")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(s.count(&schema::content_prefix("other")).unwrap(), 0);
        assert_eq!(
            s.keys(&schema::content_prefix("default")).unwrap(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn schema_version_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        {
            let s = Store::open(&p).unwrap();
            s.db.insert(schema::SCHEMA_KEY, b"99").unwrap();
            s.flush().unwrap();
        }
        assert!(Store::open(&p).is_err());
    }
}
