//! The native backend: every active snapshot is a full copy of its parent's tree, so it works
//! on any file system and needs no overlay support. `ROOT/snapshots/<id>/fs` holds the copy;
//! mounts are binds. A view binds the (immutable) committed parent read-only instead of copying.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::SFlag;
use nix::sys::time::TimeSpec;

use crate::error::IoContext;
use crate::fsmeta;
use crate::layered::{fs_dir, private_dir, Driver, Layered};
use crate::overlay::bind;
use crate::{Kind, Mount, SnapshotError, Snapshotter};

pub(crate) struct NativeDriver;

pub(crate) fn open(root: &Path) -> Result<Box<dyn Snapshotter>, SnapshotError> {
    private_dir(root)?;
    Ok(Box::new(Layered::open(root, NativeDriver)?))
}

impl Driver for NativeDriver {
    const NAME: &'static str = "native";

    fn create(&self, dir: &Path, kind: Kind, parents: &[PathBuf]) -> Result<(), SnapshotError> {
        let dst = fs_dir(dir);
        fs::create_dir(&dst).ctx(|| format!("create {}", dst.display()))?;
        match (kind, parents.first()) {
            (Kind::Active, Some(parent)) => copy_tree(&fs_dir(parent), &dst),
            _ => Ok(()),
        }
    }

    fn mounts(&self, dir: &Path, kind: Kind, parents: &[PathBuf]) -> Vec<Mount> {
        match (kind, parents.first()) {
            (Kind::View, Some(parent)) => vec![bind(&fs_dir(parent), true)],
            (Kind::View, None) => vec![bind(&fs_dir(dir), true)],
            _ => vec![bind(&fs_dir(dir), false)],
        }
    }
}

/// Copies the tree `src` into the existing directory `dst`, preserving types, modes, owners,
/// xattrs, times, hard links (within the tree), symlinks, device nodes and fifos.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let md = fs::symlink_metadata(src).ctx(|| format!("stat {}", src.display()))?;
    copy_meta(src, dst, &md).ctx(|| format!("copy metadata to {}", dst.display()))
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(src).ctx(|| format!("list {}", src.display()))? {
        let entry = entry.ctx(|| format!("list {}", src.display()))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = fs::symlink_metadata(&from).ctx(|| format!("stat {}", from.display()))?;
        copy_one(&from, &to, &md, links)?;
    }
    Ok(())
}

fn copy_one(
    from: &Path,
    to: &Path,
    md: &fs::Metadata,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SnapshotError> {
    let ft = md.file_type();
    let what = || format!("copy {} to {}", from.display(), to.display());
    if ft.is_dir() {
        fs::create_dir(to).ctx(what)?;
        copy_dir_contents(from, to, links)?;
        // After the contents, so the directory's mtime survives.
        return copy_meta(from, to, md).ctx(what);
    }
    if !ft.is_dir() && md.nlink() > 1 {
        if let Some(first) = links.get(&(md.dev(), md.ino())) {
            return fs::hard_link(first, to).ctx(what);
        }
        links.insert((md.dev(), md.ino()), to.to_path_buf());
    }
    if ft.is_file() {
        fs::copy(from, to).ctx(what)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(from).ctx(what)?;
        std::os::unix::fs::symlink(target, to).ctx(what)?;
    } else {
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            SFlag::S_IFSOCK
        };
        let rdev = md.rdev();
        fsmeta::mknod(
            to,
            kind,
            md.mode(),
            nix::sys::stat::major(rdev),
            nix::sys::stat::minor(rdev),
        )
        .ctx(what)?;
    }
    copy_meta(from, to, md).ctx(what)
}

fn copy_meta(from: &Path, to: &Path, md: &fs::Metadata) -> io::Result<()> {
    fsmeta::lchown(to, md.uid(), md.gid())?;
    if !md.file_type().is_symlink() {
        // After chown, which clears set-uid/set-gid bits.
        fsmeta::chmod(to, md.mode())?;
    }
    fsmeta::copy_xattrs(from, to)?;
    fsmeta::set_times(
        to,
        TimeSpec::new(md.atime(), md.atime_nsec()),
        TimeSpec::new(md.mtime(), md.mtime_nsec()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        crate::testsuite::run_all(&|root| super::open(root).expect("open native snapshotter"));
    }
}
