//! A lease: what one operation has added so far. Dropped without `finish`,
//! it releases what it created, so a failed or refused operation leaves no
//! blob or snapshot behind.

use std::sync::RwLockReadGuard;

use tracing::warn;

use crate::content::Committed;
use crate::core::OnCore;
use crate::image::Images;
use crate::store::Descriptor;

/// Tracks the blobs and snapshots an operation uses and creates.
pub struct Lease<'a> {
    images: &'a Images,
    ns: String,
    /// Blobs this operation created (absent before).
    created_blobs: Vec<String>,
    /// Snapshots this operation created.
    created_snapshots: Vec<String>,
    finished: bool,
    _guard: RwLockReadGuard<'a, ()>,
}

impl<'a> Lease<'a> {
    /// Starts a lease in a namespace; holds the GC lock shared until dropped.
    pub fn new(images: &'a Images, ns: &str) -> Lease<'a> {
        Lease {
            images,
            ns: ns.to_string(),
            created_blobs: Vec::new(),
            created_snapshots: Vec::new(),
            finished: false,
            _guard: images.op_guard(),
        }
    }

    /// Records a committed blob.
    pub fn add_blob(&mut self, c: &Committed) {
        if c.created {
            self.created_blobs.push(c.digest.to_string());
        }
    }

    /// Records a snapshot the operation created.
    pub fn new_snapshot(&mut self, name: &str) {
        self.created_snapshots.push(name.to_string());
    }

    /// Blobs created by this operation.
    pub fn created_blobs(&self) -> &[String] {
        &self.created_blobs
    }

    /// Stores a JSON document (a config or manifest) as a blob held by
    /// this lease, and describes it with `media_type`.
    pub fn store_json(
        &mut self,
        reference: &str,
        media_type: &str,
        value: &impl serde::Serialize,
    ) -> crate::error::Result<Descriptor> {
        let bytes =
            serde_json::to_vec(value).map_err(|source| crate::error::ManagerError::Encode {
                what: media_type.to_string(),
                source,
            })?;
        let c = self.images.content().write_blob(reference, &bytes)?;
        self.add_blob(&c);
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest: c.digest.to_string(),
            size: c.size,
            annotations: Default::default(),
        })
    }

    /// The operation succeeded: keep everything.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Err(e) =
            self.images
                .core()
                .release(&self.ns, &self.created_blobs, &self.created_snapshots)
        {
            warn!(error = %e, "cannot release what a failed operation created");
        }
    }
}
