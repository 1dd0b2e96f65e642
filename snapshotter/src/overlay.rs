//! The overlayfs backend.
//!
//! ```text
//! ROOT/snapshots/<id>/fs    the layer's own files: the overlay upper dir while active,
//!                           a lower dir once committed
//! ROOT/snapshots/<id>/work  overlayfs' work dir (same file system as fs)
//! ```
//!
//! An active snapshot with parents mounts as overlay(lowerdir = parents' fs, nearest first;
//! upperdir = fs; workdir = work); without a parent it is a rw bind of its fs. A view of one
//! layer is a ro bind of that layer; a view of several is an overlay with lower dirs only.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::IoContext;
use crate::layered::{fs_dir, private_dir, remove_path, Driver, Layered};
use crate::{Kind, Mount, SnapshotError, Snapshotter};

pub(crate) struct OverlayDriver;

pub(crate) fn open(root: &Path) -> Result<Box<dyn Snapshotter>, SnapshotError> {
    private_dir(root)?;
    check_overlay(root)?;
    Ok(Box::new(Layered::open(root, OverlayDriver)?))
}

pub(crate) fn bind(dir: &Path, ro: bool) -> Mount {
    Mount {
        fstype: "bind".into(),
        source: dir.to_string_lossy().into_owned(),
        options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
    }
}

fn lowerdir(parents: &[PathBuf]) -> String {
    let dirs: Vec<String> = parents
        .iter()
        .map(|p| fs_dir(p).to_string_lossy().into_owned())
        .collect();
    format!("lowerdir={}", dirs.join(":"))
}

impl Driver for OverlayDriver {
    const NAME: &'static str = "overlayfs";

    fn create(&self, dir: &Path, kind: Kind, _parents: &[PathBuf]) -> Result<(), SnapshotError> {
        let fs_path = fs_dir(dir);
        fs::create_dir(&fs_path).ctx(|| format!("create {}", fs_path.display()))?;
        if kind == Kind::Active {
            let work = dir.join("work");
            fs::create_dir(&work).ctx(|| format!("create {}", work.display()))?;
        }
        Ok(())
    }

    fn mounts(&self, dir: &Path, kind: Kind, parents: &[PathBuf]) -> Vec<Mount> {
        match (kind, parents) {
            (Kind::View, []) => vec![bind(&fs_dir(dir), true)],
            (Kind::View, [only]) => vec![bind(&fs_dir(only), true)],
            (Kind::View, _) => vec![Mount {
                fstype: "overlay".into(),
                source: "overlay".into(),
                options: vec![lowerdir(parents)],
            }],
            (_, []) => vec![bind(&fs_dir(dir), false)],
            (_, _) => vec![Mount {
                fstype: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    lowerdir(parents),
                    format!("upperdir={}", fs_dir(dir).display()),
                    format!("workdir={}", dir.join("work").display()),
                ],
            }],
        }
    }
}

/// Mounts a tiny overlay under `root` to prove overlayfs works there (kernel support, an upper
/// file system that supports it, the privilege to mount).
fn check_overlay(root: &Path) -> Result<(), SnapshotError> {
    let unsupported = |reason: String| SnapshotError::Unsupported {
        backend: "overlayfs",
        root: root.to_path_buf(),
        reason,
    };
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let base = root.join(format!(
        ".overlay-check-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = remove_path(&base);
    let result = (|| {
        for d in ["l1", "l2", "upper", "work", "merged"] {
            fs::create_dir_all(base.join(d)).ctx(|| format!("create {}", base.display()))?;
        }
        fs::write(base.join("l2/probe"), b"ok").ctx(|| format!("write {}", base.display()))?;
        let p = |d: &str| base.join(d).to_string_lossy().into_owned();
        let m = Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}:{}", p("l1"), p("l2")),
                format!("upperdir={}", p("upper")),
                format!("workdir={}", p("work")),
            ],
        };
        let merged = base.join("merged");
        m.mount(&merged)
            .map_err(|e| unsupported(format!("overlayfs cannot be mounted here ({e})")))?;
        let seen = fs::read(merged.join("probe"));
        crate::unmount(&merged)?;
        match seen {
            Ok(v) if v == b"ok" => Ok(()),
            _ => Err(unsupported(
                "an overlay mounted but did not show its lower layer".into(),
            )),
        }
    })();
    let _ = remove_path(&base);
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        crate::testsuite::run_all(&|root| super::open(root).expect("open overlayfs snapshotter"));
    }
}
