//! Applying an OCI layer (a tar, optionally gzip or zstd compressed) to a snapshot's mounts.
//!
//! The layer is untrusted input. Every entry path is cleaned lexically and refused if it climbs
//! out of the root; no symlink is ever followed while extracting (a parent component that is a
//! symlink is refused, files are opened with `O_NOFOLLOW`, metadata calls do not dereference);
//! hard-link targets obey the same rules. No input makes this panic.
//!
//! When the mounts are a writable overlay, the layer is written straight into the upper dir
//! without mounting, converting OCI whiteouts to overlayfs ones: `.wh.NAME` becomes a 0/0
//! character device `NAME`, and `.wh..wh..opq` in `D` becomes `trusted.overlay.opaque=y` on
//! `D`. For a writable bind (native backend, or an overlay snapshot without parent) whiteouts
//! delete: `.wh.NAME` removes `NAME`, and `.wh..wh..opq` empties `D` of everything this layer
//! did not itself write. Other mount sets are mounted on a temporary directory and applied
//! through the mount.

use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::sys::stat::SFlag;
use nix::sys::time::TimeSpec;
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::error::IoContext;
use crate::fsmeta::{self, OVERLAY_XATTR_PREFIX};
use crate::layer_stream::{decompress, EofTracker, Hashing, StreamState, BUF_SIZE};
use crate::layered::remove_path;
use crate::safe_path::{self, clean_relative, Escape};
use crate::{Mount, SnapshotError};

/// The result of applying (or writing) a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyStats {
    /// `sha256:<hex>` of the uncompressed tar stream: the layer's diff ID.
    pub diff_id: String,
    /// Length of the uncompressed tar stream in bytes.
    pub size: u64,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const META_PREFIX: &str = ".wh..wh.";

/// Applies the layer read from `reader` to the snapshot presented by `mounts`.
///
/// On error the snapshot may hold part of the layer (the caller removes it), but nothing is
/// ever written outside it.
pub fn apply_layer(mounts: &[Mount], reader: impl Read) -> Result<ApplyStats, SnapshotError> {
    match mounts {
        [] => Err(SnapshotError::InvalidArgument {
            reason: "apply_layer: no mounts to apply to".into(),
        }),
        [m] if m.upperdir().is_some() => {
            let upper = m.upperdir().unwrap_or_default();
            let lowers = m.lowerdirs().into_iter().map(PathBuf::from).collect();
            extract(Path::new(upper), Mode::Overlay { lowers }, reader)
        }
        [m] if m.is_readonly() || m.fstype == "overlay" => Err(SnapshotError::InvalidArgument {
            reason: format!(
                "apply_layer: the mount of {} is read-only; layers apply only to active snapshots",
                m.source
            ),
        }),
        [m] if m.fstype == "bind" => extract(Path::new(&m.source), Mode::Plain, reader),
        _ => apply_through_mount(mounts, reader),
    }
}

fn apply_through_mount(mounts: &[Mount], reader: impl Read) -> Result<ApplyStats, SnapshotError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let target = std::env::temp_dir().join(format!("berth-apply-{}-{nanos}", std::process::id()));
    // A private mount point, and a mount whose device nodes and setuid
    // files are inert: the layer's files are reachable here from the host
    // while berthd works on them (writing a node or a mode needs neither).
    std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
        .create(&target)
        .ctx(|| format!("create {}", target.display()))?;
    let result = crate::mount_all_nodev_nosuid(mounts, &target).and_then(|()| {
        let r = extract(&target, Mode::Plain, reader);
        let u = crate::unmount(&target);
        let stats = r?;
        u.map(|()| stats)
    });
    let _ = fs::remove_dir(&target);
    result
}

enum Mode {
    /// Writing into an overlay upper dir; `lowers` nearest first.
    Overlay { lowers: Vec<PathBuf> },
    /// Writing into a plain tree (whiteouts delete).
    Plain,
}

fn extract(root: &Path, mode: Mode, reader: impl Read) -> Result<ApplyStats, SnapshotError> {
    let decoded_eof = Rc::new(Cell::new(false));
    let state = StreamState {
        decoded_eof: decoded_eof.clone(),
    };
    let decoded = decompress(reader)?;
    let mut hashing = Hashing {
        inner: EofTracker {
            inner: decoded,
            eof: decoded_eof.clone(),
        },
        hasher: Sha256::new(),
        size: 0,
    };
    let mut ex = Extractor::new(root, mode, state.clone());
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive.entries().map_err(|e| state.error(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| state.error(e))?;
            ex.entry(&mut entry)?;
        }
    }
    // The tar crate stops at the first zero block, or silently at a clean end of input; the
    // latter means the end-of-archive marker never came.
    if decoded_eof.get() {
        return Err(SnapshotError::Truncated {
            detail: "the stream ended before the tar end-of-archive marker".into(),
        });
    }
    ex.finish()?;
    // The diff ID covers the whole stream, including padding after the end marker.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| SnapshotError::Truncated {
        detail: e.to_string(),
    })?;
    Ok(ApplyStats {
        diff_id: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        size: hashing.size,
    })
}

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

fn parse_time(v: &str) -> Option<TimeSpec> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos: i64 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(TimeSpec::new(secs, nanos))
}

struct Extractor {
    root: PathBuf,
    mode: Mode,
    state: StreamState,
    /// Directories (relative) known to be real directories under the root.
    known_dirs: HashSet<PathBuf>,
    /// Paths this layer wrote (plain mode only, for opaque whiteouts).
    written: HashSet<PathBuf>,
    dir_times: Vec<(PathBuf, TimeSpec, TimeSpec)>,
    buf: Vec<u8>,
}

fn invalid(entry: &str, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::InvalidLayer {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

fn is_whiteout_dev(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

impl Extractor {
    fn new(root: &Path, mode: Mode, state: StreamState) -> Self {
        Extractor {
            root: root.to_path_buf(),
            mode,
            state,
            known_dirs: HashSet::new(),
            written: HashSet::new(),
            dir_times: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn overlay(&self) -> bool {
        matches!(self.mode, Mode::Overlay { .. })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), SnapshotError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let mut etype = entry.header().entry_type();
        if matches!(etype, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        if etype == EntryType::Regular && raw.ends_with(b"/") {
            etype = EntryType::Directory;
        }
        let rel = clean_relative(Path::new(OsStr::from_bytes(&raw)))
            .map_err(|e| invalid(&name, e.to_string()))?;
        if let Some(base) = rel.file_name().and_then(|b| b.to_str()) {
            if let Some(target) = base.strip_prefix(WHITEOUT_PREFIX) {
                let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
                if base == OPAQUE_WHITEOUT {
                    return self.opaque(&name, &parent);
                }
                if base.starts_with(META_PREFIX) {
                    return Ok(()); // aufs bookkeeping (.wh..wh.plnk, ...): nothing to apply
                }
                if target.is_empty() || target == "." || target == ".." {
                    return Err(invalid(&name, "is a malformed whiteout"));
                }
                return self.whiteout(&name, &parent.join(target));
            }
        }
        let meta = self.meta(&name, entry)?;
        if rel.as_os_str().is_empty() {
            if etype != EntryType::Directory {
                return Err(invalid(&name, "would replace the snapshot root"));
            }
            let root = self.root.clone();
            return self.set_meta(&name, &root, &meta, true);
        }
        self.ensure_parent(&name, &rel)?;
        let full = self.root.join(&rel);
        match etype {
            EntryType::Directory => {
                let replaced_whiteout = self.clear(&name, &rel, true)?;
                if fs::symlink_metadata(&full).is_err() {
                    fs::create_dir(&full).ctx(|| format!("create {}", full.display()))?;
                }
                if replaced_whiteout {
                    self.set_opaque(&name, &full)?;
                }
                self.known_dirs.insert(rel.clone());
                self.set_meta(&name, &full, &meta, true)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(&name, &rel, false)?;
                self.write_file(&name, &full, entry, &meta)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid(&name, "is a symlink without a target"))?
                    .into_owned();
                self.clear(&name, &rel, false)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &full)
                    .ctx(|| format!("create symlink {}", full.display()))?;
                self.set_meta(&name, &full, &meta, false)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid(&name, "is a hard link without a target"))?
                    .into_owned();
                self.hard_link(&name, &rel, &target)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind = match etype {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let header = entry.header();
                let num = |v: io::Result<Option<u32>>| {
                    v.map(|n| u64::from(n.unwrap_or(0)))
                        .map_err(|e| invalid(&name, format!("has a bad device number: {e}")))
                };
                let (major, minor) = if kind == SFlag::S_IFIFO {
                    (0, 0) // many writers leave a fifo's device fields blank
                } else {
                    (num(header.device_major())?, num(header.device_minor())?)
                };
                self.clear(&name, &rel, false)?;
                fsmeta::mknod(&full, kind, 0o600, major, minor)
                    .ctx(|| format!("create device node {}", full.display()))?;
                self.set_meta(&name, &full, &meta, false)?;
            }
            other => {
                tracing::debug!(entry = %name, kind = ?other, "skipping unsupported tar entry type");
                return Ok(());
            }
        }
        if !self.overlay() {
            self.written.insert(rel);
        }
        Ok(())
    }

    fn meta<R: Read>(
        &self,
        name: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Meta, SnapshotError> {
        let bad = |what: &str, e: io::Error| invalid(name, format!("has a bad {what}: {e}"));
        let h = entry.header();
        let old = h.as_old();
        let mtime = TimeSpec::new(
            or_zero(&old.mtime, || h.mtime()).map_err(|e| bad("mtime", e))? as i64,
            0,
        );
        let mut meta = Meta {
            mode: or_zero(&old.mode, || h.mode().map(u64::from)).map_err(|e| bad("mode", e))?
                as u32
                & 0o7777,
            uid: u32::try_from(or_zero(&old.uid, || h.uid()).map_err(|e| bad("uid", e))?)
                .map_err(|_| invalid(name, "has a uid out of range"))?,
            gid: u32::try_from(or_zero(&old.gid, || h.gid()).map_err(|e| bad("gid", e))?)
                .map_err(|_| invalid(name, "has a gid out of range"))?,
            atime: mtime,
            mtime,
            xattrs: Vec::new(),
        };
        let mut atime = None;
        if let Some(exts) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
            for ext in exts {
                let ext = ext.map_err(|e| bad("PAX header", e))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let text = || std::str::from_utf8(value).ok().map(str::trim);
                match key {
                    "uid" => {
                        meta.uid = text()
                            .and_then(|v| v.parse().ok())
                            .ok_or_else(|| invalid(name, "has a bad PAX uid"))?
                    }
                    "gid" => {
                        meta.gid = text()
                            .and_then(|v| v.parse().ok())
                            .ok_or_else(|| invalid(name, "has a bad PAX gid"))?
                    }
                    "mtime" => {
                        meta.mtime = text()
                            .and_then(parse_time)
                            .ok_or_else(|| invalid(name, "has a bad PAX mtime"))?
                    }
                    "atime" => atime = text().and_then(parse_time),
                    _ => {
                        if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                            if !x.starts_with(OVERLAY_XATTR_PREFIX) && !x.is_empty() {
                                meta.xattrs.push((OsString::from(x), value.to_vec()));
                            }
                        }
                    }
                }
            }
        }
        meta.atime = atime.unwrap_or(meta.mtime);
        Ok(meta)
    }

    /// Owner, mode, xattrs, times; directory times wait until every entry is written.
    fn set_meta(
        &mut self,
        name: &str,
        full: &Path,
        meta: &Meta,
        is_dir: bool,
    ) -> Result<(), SnapshotError> {
        let what = || format!("set metadata of {} (layer entry {name:?})", full.display());
        fsmeta::lchown(full, meta.uid, meta.gid).ctx(what)?;
        let is_symlink = fs::symlink_metadata(full)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_symlink {
            fsmeta::chmod(full, meta.mode).ctx(what)?;
        }
        for (k, v) in &meta.xattrs {
            match xattr::set(full, k, v) {
                Ok(()) => {}
                Err(e) if is_symlink && fsmeta::xattr_unsupported(&e) => {}
                Err(e) => return Err(SnapshotError::io(what(), e)),
            }
        }
        if is_dir {
            self.dir_times
                .push((full.to_path_buf(), meta.atime, meta.mtime));
            Ok(())
        } else {
            fsmeta::set_times(full, meta.atime, meta.mtime).ctx(what)
        }
    }

    fn write_file<R: Read>(
        &mut self,
        name: &str,
        full: &Path,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), SnapshotError> {
        let expected = entry.size();
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(full)
            .ctx(|| format!("create {}", full.display()))?;
        if self.buf.is_empty() {
            self.buf = vec![0; BUF_SIZE];
        }
        let mut copied = 0u64;
        loop {
            let n = entry.read(&mut self.buf).map_err(|e| self.state.error(e))?;
            if n == 0 {
                break;
            }
            f.write_all(&self.buf[..n])
                .ctx(|| format!("write {}", full.display()))?;
            copied += n as u64;
        }
        if copied < expected {
            return Err(SnapshotError::Truncated {
                detail: format!("layer entry {name:?} has {copied} of its {expected} bytes"),
            });
        }
        let what = || format!("set metadata of {} (layer entry {name:?})", full.display());
        std::os::unix::fs::fchown(&f, Some(meta.uid), Some(meta.gid)).ctx(what)?;
        f.set_permissions(fs::Permissions::from_mode(meta.mode))
            .ctx(what)?;
        for (k, v) in &meta.xattrs {
            xattr::FileExt::set_xattr(&f, k, v).ctx(what)?;
        }
        drop(f);
        fsmeta::set_times(full, meta.atime, meta.mtime).ctx(what)
    }

    /// Makes sure every directory above `rel` exists and is a real directory, creating missing
    /// ones; refuses symlinked parents.
    fn ensure_parent(&mut self, name: &str, rel: &Path) -> Result<(), SnapshotError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if parent.as_os_str().is_empty() || self.known_dirs.contains(parent) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            let full = self.root.join(&cur);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(invalid(name, Escape::ThroughSymlink(cur).to_string()))
                }
                Ok(m) if self.overlay() && is_whiteout_dev(&m) => {
                    // Deleted earlier in this layer and now re-created: a fresh, opaque dir.
                    fs::remove_file(&full).ctx(|| format!("remove {}", full.display()))?;
                    self.mkdir_implicit(name, &cur)?;
                    self.set_opaque(name, &full)?;
                }
                Ok(_) => return Err(invalid(name, Escape::NotADirectory(cur).to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.mkdir_implicit(name, &cur)?,
                Err(e) => return Err(SnapshotError::io(format!("stat {}", full.display()), e)),
            }
            self.known_dirs.insert(cur.clone());
            if !self.overlay() {
                self.written.insert(cur.clone());
            }
        }
        Ok(())
    }

    /// Creates a directory the layer did not list. In an overlay upper dir it copies the
    /// owner and mode of the directory it shadows in the lower layers, so the merged view keeps
    /// them; a lower symlink there is refused (writing under it would change what it means).
    fn mkdir_implicit(&mut self, name: &str, rel: &Path) -> Result<(), SnapshotError> {
        let full = self.root.join(rel);
        let mut like = None;
        if let Mode::Overlay { lowers } = &self.mode {
            for lower in lowers {
                match fs::symlink_metadata(lower.join(rel)) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(invalid(
                            name,
                            Escape::ThroughSymlink(rel.to_path_buf()).to_string(),
                        ))
                    }
                    Ok(m) if m.is_dir() => {
                        like = Some(m);
                        break;
                    }
                    Ok(_) => break,
                    Err(_) => continue,
                }
            }
        }
        fs::create_dir(&full).ctx(|| format!("create {}", full.display()))?;
        let (uid, gid, mode) = like
            .map(|m| (m.uid(), m.gid(), m.mode()))
            .unwrap_or((0, 0, 0o755));
        let what = || format!("set metadata of {}", full.display());
        fsmeta::lchown(&full, uid, gid).ctx(what)?;
        fsmeta::chmod(&full, mode).ctx(what)
    }

    /// Removes whatever is at `rel` unless both it and the new entry are directories.
    /// Returns whether an overlay whiteout was removed.
    fn clear(&mut self, name: &str, rel: &Path, is_dir: bool) -> Result<bool, SnapshotError> {
        let full = self.root.join(rel);
        let md = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(SnapshotError::io(format!("stat {}", full.display()), e)),
        };
        if md.is_dir() {
            if is_dir {
                return Ok(false);
            }
            fs::remove_dir_all(&full)
                .ctx(|| format!("replace {} (layer entry {name:?})", full.display()))?;
            self.forget_dirs(rel);
            return Ok(false);
        }
        fs::remove_file(&full)
            .ctx(|| format!("replace {} (layer entry {name:?})", full.display()))?;
        Ok(self.overlay() && is_whiteout_dev(&md))
    }

    fn forget_dirs(&mut self, rel: &Path) {
        self.known_dirs.retain(|d| !d.starts_with(rel));
    }

    fn set_opaque(&self, name: &str, full: &Path) -> Result<(), SnapshotError> {
        xattr::set(full, "trusted.overlay.opaque", b"y")
            .ctx(|| format!("mark {} opaque (layer entry {name:?})", full.display()))
    }

    fn hard_link(&mut self, name: &str, rel: &Path, target: &[u8]) -> Result<(), SnapshotError> {
        let shown = String::from_utf8_lossy(target).into_owned();
        let escape = |e: Escape| invalid(name, format!("links to {shown:?}, which {e}"));
        let trel = clean_relative(Path::new(OsStr::from_bytes(target))).map_err(escape)?;
        safe_path::check_parents(&self.root, &trel).map_err(escape)?;
        let tfull = self.root.join(&trel);
        match fs::symlink_metadata(&tfull) {
            Ok(m) if m.is_dir() => return Err(invalid(name, "is a hard link to a directory")),
            Ok(_) => {}
            Err(_) => {
                return Err(invalid(
                    name,
                    format!("links to {shown:?}, which this layer does not contain"),
                ))
            }
        }
        if trel == rel {
            return Ok(());
        }
        self.ensure_parent(name, rel)?;
        self.clear(name, rel, false)?;
        let full = self.root.join(rel);
        fs::hard_link(&tfull, &full)
            .ctx(|| format!("link {} to {}", full.display(), tfull.display()))
    }

    fn whiteout(&mut self, name: &str, rel: &Path) -> Result<(), SnapshotError> {
        let full = self.root.join(rel);
        if self.overlay() {
            self.ensure_parent(name, rel)?;
            self.clear(name, rel, false)?;
            return fsmeta::mknod(&full, SFlag::S_IFCHR, 0, 0, 0)
                .ctx(|| format!("create whiteout {} (layer entry {name:?})", full.display()));
        }
        safe_path::check_parents(&self.root, rel).map_err(|e| invalid(name, e.to_string()))?;
        remove_path(&full)?;
        self.forget_dirs(rel);
        Ok(())
    }

    fn opaque(&mut self, name: &str, dir: &Path) -> Result<(), SnapshotError> {
        let full = self.root.join(dir);
        if self.overlay() {
            self.ensure_parent(name, &dir.join(OPAQUE_WHITEOUT))?;
            return self.set_opaque(name, &full);
        }
        safe_path::check_parents(&self.root, &dir.join(OPAQUE_WHITEOUT))
            .map_err(|e| invalid(name, e.to_string()))?;
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => self.purge_unwritten(dir),
            _ => Ok(()),
        }
    }

    /// Deletes everything under `dir` that this layer did not write.
    fn purge_unwritten(&mut self, dir: &Path) -> Result<(), SnapshotError> {
        let full = self.root.join(dir);
        for child in fs::read_dir(&full).ctx(|| format!("list {}", full.display()))? {
            let child = child.ctx(|| format!("list {}", full.display()))?;
            let crel = dir.join(child.file_name());
            if self.written.contains(&crel) {
                let ft = child
                    .file_type()
                    .ctx(|| format!("stat {}", crel.display()))?;
                if ft.is_dir() {
                    self.purge_unwritten(&crel)?;
                }
            } else {
                remove_path(&child.path())?;
                self.forget_dirs(&crel);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SnapshotError> {
        for (path, atime, mtime) in self.dir_times.drain(..) {
            match fsmeta::set_times(&path, atime, mtime) {
                Ok(()) => {}
                // Removed by a later whiteout.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(SnapshotError::io(
                        format!("set times of {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
pub(crate) mod tests;

/// A numeric header field left empty (all NUL or spaces) reads as 0, as
/// GNU tar and Go's archive/tar read it; anything else must parse.
fn or_zero(raw: &[u8], parse: impl FnOnce() -> io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        Ok(0)
    } else {
        parse()
    }
}
