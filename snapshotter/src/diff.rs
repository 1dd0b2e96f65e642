//! Writing the changes of an active snapshot as an uncompressed OCI layer tar.
//!
//! For an overlay snapshot the upper dir *is* the change set: it is walked and overlayfs
//! whiteouts are turned back into OCI ones (a 0/0 character device `NAME` → `.wh.NAME`, an
//! opaque directory → the directory plus `.wh..wh..opq`). For a bind-mounted snapshot the tree
//! is compared with its parent's (type, mode, owner, size, mtime, link target, device, xattrs);
//! changed and added entries are written, deleted ones become `.wh.NAME`. Entries come out in
//! sorted order, parents before children, so the same tree always yields the same bytes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::error::IoContext;
use crate::fsmeta::OVERLAY_XATTR_PREFIX;
use crate::{ApplyStats, Kind, Labels, Mount, SnapshotError, Snapshotter};

/// Writes the layer tar of the active snapshot `key` (its changes against its parent) to
/// `out`, returning the tar's diff ID and size.
pub fn write_diff(
    sn: &dyn Snapshotter,
    key: &str,
    out: &mut dyn Write,
) -> Result<ApplyStats, SnapshotError> {
    let info = sn.stat(key)?;
    if info.kind != Kind::Active {
        return Err(SnapshotError::precondition(
            key,
            format!("cannot be diffed: it is {}, not active", info.kind),
        ));
    }
    let mounts = sn.mounts(key)?;
    let mut w = DiffWriter::new(out);
    match mounts.as_slice() {
        [m] if m.upperdir().is_some() => {
            let upper = PathBuf::from(m.upperdir().unwrap_or_default());
            w.overlay_dir(&upper, Path::new(""))?;
        }
        [m] if m.fstype == "bind" => {
            let upper = PathBuf::from(&m.source);
            match info.parent.as_deref() {
                None => w.compare(&upper, None, Path::new(""))?,
                Some(parent) => with_parent_tree(sn, key, parent, |lower| {
                    w.compare(&upper, Some(lower), Path::new(""))
                })?,
            }
        }
        _ => {
            return Err(SnapshotError::InvalidArgument {
                reason: format!("write_diff of {key:?}: unsupported mounts {mounts:?}"),
            })
        }
    }
    w.finish()
}

/// Runs `f` on a read-only tree of the committed `parent`, through a temporary view.
fn with_parent_tree(
    sn: &dyn Snapshotter,
    key: &str,
    parent: &str,
    f: impl FnOnce(&Path) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let view_key = format!(
        "diff-view-{}-{} {key}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mounts = sn.view(&view_key, Some(parent), Labels::new())?;
    let result = match mounts.as_slice() {
        [m] if m.fstype == "bind" => f(Path::new(&m.source)),
        _ => mounted(&mounts, f),
    };
    let removed = sn.remove(&view_key);
    result.and(removed)
}

fn mounted(
    mounts: &[Mount],
    f: impl FnOnce(&Path) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = std::env::temp_dir().join(format!(
        "berth-diff-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    // A private mount point, and a mount whose device nodes and setuid
    // files are inert: the layer's files are reachable here from the host
    // while berthd works on them (writing a node or a mode needs neither).
    std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
        .create(&target)
        .ctx(|| format!("create {}", target.display()))?;
    let result = crate::mount_all_nodev_nosuid(mounts, &target).and_then(|()| {
        let r = f(&target);
        let u = crate::unmount(&target);
        r.and(u)
    });
    let _ = fs::remove_dir(&target);
    result
}

struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct DiffWriter<'a> {
    tar: tar::Builder<HashingWriter<'a>>,
    /// First path written for each multiply-linked inode.
    links: HashMap<(u64, u64), PathBuf>,
    /// Directories already written (native diffs write parents on demand).
    emitted: HashSet<PathBuf>,
}

fn sorted_names(dir: &Path) -> Result<Vec<OsString>, SnapshotError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        names.push(e.ctx(|| format!("list {}", dir.display()))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn stat(path: &Path) -> Result<Option<fs::Metadata>, SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SnapshotError::io(format!("stat {}", path.display()), e)),
    }
}

/// Xattrs worth carrying in a layer (overlayfs' own are not).
fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names
        .filter_map(|n| n.into_string().ok())
        .filter(|n| !n.starts_with(OVERLAY_XATTR_PREFIX))
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok().flatten()?;
            Some((n, v))
        })
        .collect();
    out.sort();
    out
}

fn is_whiteout_dev(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

/// Whether `upper` differs from `lower` (same name) in anything a layer records.
fn changed(up: &Path, u: &fs::Metadata, lp: &Path, l: &fs::Metadata) -> bool {
    if u.file_type() != l.file_type()
        || u.mode() != l.mode()
        || u.uid() != l.uid()
        || u.gid() != l.gid()
        || u.mtime() != l.mtime()
        || u.mtime_nsec() != l.mtime_nsec()
    {
        return true;
    }
    let ft = u.file_type();
    if ft.is_file() && u.size() != l.size() {
        return true;
    }
    if (ft.is_char_device() || ft.is_block_device()) && u.rdev() != l.rdev() {
        return true;
    }
    if ft.is_symlink() && fs::read_link(up).ok() != fs::read_link(lp).ok() {
        return true;
    }
    xattrs(up) != xattrs(lp)
}

impl<'a> DiffWriter<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        let mut tar = tar::Builder::new(HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            size: 0,
        });
        tar.follow_symlinks(false);
        DiffWriter {
            tar,
            links: HashMap::new(),
            emitted: HashSet::new(),
        }
    }

    fn finish(self) -> Result<ApplyStats, SnapshotError> {
        let w = self
            .tar
            .into_inner()
            .ctx(|| "finish the layer tar".to_owned())?;
        Ok(ApplyStats {
            diff_id: format!("sha256:{}", hex::encode(w.hasher.finalize())),
            size: w.size,
        })
    }

    fn io(&self, rel: &Path) -> impl FnOnce() -> String + '_ {
        let rel = rel.to_path_buf();
        move || format!("write layer entry {:?}", rel.display().to_string())
    }

    /// Walks an overlay upper dir: everything in it is a change.
    fn overlay_dir(&mut self, dir: &Path, rel: &Path) -> Result<(), SnapshotError> {
        if rel.as_os_str().is_empty() && is_opaque(dir) {
            self.whiteout(Path::new(""), ".wh..wh..opq")?;
        }
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let crel = rel.join(&name);
            let Some(md) = stat(&path)? else { continue };
            if is_whiteout_dev(&md) {
                let mut wh = OsString::from(".wh.");
                wh.push(&name);
                self.whiteout(rel, &wh.to_string_lossy())?;
                continue;
            }
            self.entry(&path, &crel, &md)?;
            if md.is_dir() {
                if is_opaque(&path) {
                    self.whiteout(&crel, ".wh..wh..opq")?;
                }
                self.overlay_dir(&path, &crel)?;
            }
        }
        Ok(())
    }

    /// Compares the tree `upper` with `lower` (absent = empty) below `rel`.
    fn compare(
        &mut self,
        upper: &Path,
        lower: Option<&Path>,
        rel: &Path,
    ) -> Result<(), SnapshotError> {
        let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
        let up_dir = upper.join(rel);
        for n in sorted_names(&up_dir)? {
            names.insert(n.as_bytes().to_vec());
        }
        if let Some(lower) = lower {
            let low_dir = lower.join(rel);
            if stat(&low_dir)?.is_some_and(|m| m.is_dir()) {
                for n in sorted_names(&low_dir)? {
                    names.insert(n.as_bytes().to_vec());
                }
            }
        }
        for name in names {
            let name = std::ffi::OsStr::from_bytes(&name);
            let crel = rel.join(name);
            let up = upper.join(&crel);
            let u = stat(&up)?;
            let (lp, l) = match lower {
                Some(lower) => {
                    let lp = lower.join(&crel);
                    let l = stat(&lp)?;
                    (lp, l)
                }
                None => (PathBuf::new(), None),
            };
            match (u, l) {
                (None, None) => {}
                (None, Some(_)) => {
                    let mut wh = OsString::from(".wh.");
                    wh.push(name);
                    self.whiteout(rel, &wh.to_string_lossy())?;
                }
                (Some(u), Some(l)) if u.is_dir() && l.is_dir() => {
                    if changed(&up, &u, &lp, &l) {
                        self.entry(&up, &crel, &u)?;
                    }
                    self.compare(upper, lower, &crel)?;
                }
                (Some(u), l) => {
                    let new = match &l {
                        Some(l) => l.is_dir() != u.is_dir() || changed(&up, &u, &lp, l),
                        None => true,
                    };
                    if new {
                        self.entry(&up, &crel, &u)?;
                        if u.is_dir() {
                            // Everything below a new directory is new.
                            self.compare(upper, None, &crel)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the directories above `rel` that have not been written yet.
    fn parents(&mut self, root: &Path, rel: &Path) -> Result<(), SnapshotError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if !self.emitted.contains(&cur) {
                let path = root.join(&cur);
                if let Some(md) = stat(&path)? {
                    self.write(&path, &cur, &md)?;
                }
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path, md: &fs::Metadata) -> Result<(), SnapshotError> {
        // `path` is `root/rel`; recover root to write missing parents from the same tree.
        let depth = rel.components().count();
        let root = path.ancestors().nth(depth).unwrap_or(path).to_path_buf();
        self.parents(&root, rel)?;
        self.write(path, rel, md)
    }

    fn whiteout(&mut self, dir: &Path, name: &str) -> Result<(), SnapshotError> {
        let rel = dir.join(name);
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let what = self.io(&rel);
        let what = what();
        self.tar.append_data(&mut h, &rel, io::empty()).ctx(|| what)
    }

    fn write(&mut self, path: &Path, rel: &Path, md: &fs::Metadata) -> Result<(), SnapshotError> {
        let what = self.io(rel)();
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(()); // sockets do not belong in layers
        }
        let mut h = Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(u64::from(md.uid()));
        h.set_gid(u64::from(md.gid()));
        h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
        h.set_size(0);
        let x = xattrs(path);
        if !x.is_empty() {
            let recs: Vec<(String, &[u8])> = x
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            self.tar
                .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                .ctx(|| what.clone())?;
        }
        if ft.is_dir() {
            self.emitted.insert(rel.to_path_buf());
            h.set_entry_type(EntryType::Directory);
            return self.tar.append_data(&mut h, rel, io::empty()).ctx(|| what);
        }
        if md.nlink() > 1 {
            let id = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&id).cloned() {
                h.set_entry_type(EntryType::Link);
                return self.tar.append_link(&mut h, rel, first).ctx(|| what);
            }
            self.links.insert(id, rel.to_path_buf());
        }
        if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(path).ctx(|| format!("open {}", path.display()))?;
            // A file that shrinks while being read would corrupt the tar: pad it with zeros.
            let data = f.take(md.len()).chain(io::repeat(0)).take(md.len());
            return self.tar.append_data(&mut h, rel, data).ctx(|| what);
        }
        if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path).ctx(|| format!("read link {}", path.display()))?;
            let bytes = target.as_os_str().as_bytes();
            if bytes.len() < 100 {
                // Stored verbatim (append_link would normalise "a/./b/" to "a/b").
                h.as_old_mut().linkname[..bytes.len()].copy_from_slice(bytes);
                return self.tar.append_data(&mut h, rel, io::empty()).ctx(|| what);
            }
            return self.tar.append_link(&mut h, rel, &target).ctx(|| what);
        }
        let kind = if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            EntryType::Fifo
        };
        h.set_entry_type(kind);
        let rdev = if kind == EntryType::Fifo {
            0
        } else {
            md.rdev()
        };
        let major = u32::try_from(nix::sys::stat::major(rdev)).unwrap_or(0);
        let minor = u32::try_from(nix::sys::stat::minor(rdev)).unwrap_or(0);
        h.set_device_major(major).ctx(|| what.clone())?;
        h.set_device_minor(minor).ctx(|| what.clone())?;
        self.tar.append_data(&mut h, rel, io::empty()).ctx(|| what)
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
