//! A tar stream extracted into a directory of a container, by descriptor.
//!
//! Every entry's directory is resolved inside the destination as if it
//! were the root (RESOLVE_IN_ROOT from its descriptor: docker extracts in
//! a chroot to the destination, so a symlink met on the way resolves
//! there too) and made when missing; the entry is then made by name in
//! that directory (`mkdirat`, `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`,
//! `symlinkat`, `linkat`, `mknodat`) and owned, moded and timed through
//! its own descriptor or with AT_SYMLINK_NOFOLLOW. A symlink in the
//! archive or in the container can lead nowhere outside the destination,
//! and a container swapping directories meanwhile cannot redirect a write.
//!
//! docker's rules: an existing file is replaced, an existing directory
//! merged; a directory is never replaced by a non-directory nor the other
//! way round. Entries keep the archive's ids (docker 20.10 applies them
//! with or without `-a`), or are all owned by one user (`-a` into a
//! container that runs as a user).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_inroot::{check_name, mkdir_all, proc_path, resolve};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use tar::EntryType;

use crate::error::{ManagerError, Result};

/// How to extract.
pub struct Unpack<'a> {
    /// The destination directory (an O_PATH descriptor).
    pub dest: &'a OwnedFd,
    /// Its path in the container, for messages.
    pub dest_path: &'a str,
    /// Who owns every entry; `None` keeps the archive's uid/gid.
    pub owner: Option<(u32, u32)>,
}

impl Unpack<'_> {
    /// Extracts every entry of `archive`.
    pub fn run(&self, archive: impl Read) -> Result<()> {
        let mut ar = tar::Archive::new(archive);
        let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
        let entries = ar.entries().map_err(|e| bad_archive(&e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad_archive(&e))?;
            let name = entry.path().map_err(|e| bad_archive(&e))?.into_owned();
            let Some(rel) = inside(&name) else {
                return Err(ManagerError::InvalidArgument(format!(
                    "invalid archive: {} is outside of the destination",
                    name.display()
                )));
            };
            if let Some(mtime) = self.entry(&mut entry, &rel)? {
                dirs.push((rel, mtime));
            }
        }
        // Directory times last: making their entries changed them.
        for (rel, mtime) in dirs.iter().rev() {
            if let Ok(fd) = resolve(self.dest.as_fd(), rel) {
                let _ = set_times(&fd, *mtime);
            }
        }
        Ok(())
    }

    /// Extracts one entry at `rel`; a directory's mtime, to be set at the end.
    fn entry<R: Read>(&self, entry: &mut tar::Entry<'_, R>, rel: &Path) -> Result<Option<u64>> {
        let kind = entry.header().entry_type();
        let Some(name) = rel.file_name() else {
            // The destination itself ("."): docker leaves it as it is.
            return Ok(None);
        };
        let fail = |e: io::Error| self.io_error(rel, e);
        let parent = mkdir_all(
            self.dest.as_fd(),
            rel.parent().unwrap_or(Path::new("")),
            0o755,
        )
        .map_err(fail)?;
        let name = check_name(name).map_err(fail)?;
        self.clear(&parent, name, rel, kind.is_dir())?;
        let xattrs = pax_xattrs(entry)?;
        let h = entry.header();
        let mode = Mode::from_raw_mode(h.mode().map_err(|e| bad_archive(&e))? & 0o7777);
        let (uid, gid) = self.owner(h)?;
        let mtime = h.mtime().unwrap_or(0);
        match kind {
            EntryType::Directory => {
                let dir = make_dir(&parent, name, mode).map_err(fail)?;
                rustix::fs::fchown(&dir, Some(uid), Some(gid)).map_err(|e| fail(e.into()))?;
                rustix::fs::fchmod(&dir, mode).map_err(|e| fail(e.into()))?;
                set_xattrs(&dir, &xattrs).map_err(fail)?;
                return Ok(Some(mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                let file = write_file(&parent, name, entry, (uid, gid), mode).map_err(fail)?;
                // After the chown, which clears file capabilities.
                set_xattrs(&file, &xattrs).map_err(fail)?;
                set_times(&file, mtime).map_err(fail)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad_archive(&e))?
                    .unwrap_or_default();
                rustix::fs::symlinkat(target.as_ref(), &parent, name)
                    .map_err(|e| fail(e.into()))?;
                owned_nofollow(&parent, name, (uid, gid), mtime).map_err(fail)?;
            }
            EntryType::Link => self.hard_link(&parent, name, entry).map_err(fail)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                make_node(&parent, name, entry.header(), mode).map_err(fail)?;
                owned_nofollow(&parent, name, (uid, gid), mtime).map_err(fail)?;
            }
            // pax and GNU extension headers are read by the tar crate.
            _ => {}
        }
        Ok(None)
    }

    /// Makes room for `name`: a file is removed, a directory kept for a
    /// directory; docker's refusals for the rest.
    fn clear(&self, parent: &OwnedFd, name: &OsStr, rel: &Path, is_dir: bool) -> Result<()> {
        let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_error(rel, e.into())),
            Ok(st) => st,
        };
        let exists_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let path = self.container_path(rel);
        match (exists_dir, is_dir) {
            (true, true) => Ok(()),
            (true, false) => Err(ManagerError::InvalidArgument(format!(
                "cannot overwrite directory {path:?} with non-directory {:?}",
                self.dest_path
            ))),
            (false, true) => Err(ManagerError::InvalidArgument(format!(
                "cannot overwrite non-directory {path:?} with directory {:?}",
                self.dest_path
            ))),
            (false, false) => rustix::fs::unlinkat(parent, name, AtFlags::empty())
                .map_err(|e| self.io_error(rel, e.into())),
        }
    }

    fn owner(&self, h: &tar::Header) -> Result<(Uid, Gid)> {
        if let Some((uid, gid)) = self.owner {
            return Ok((Uid::from_raw(uid), Gid::from_raw(gid)));
        }
        let old = h.as_old();
        let id = |v: io::Result<u64>, raw: &[u8]| -> Result<u32> {
            // An empty field (NULs or spaces) is 0, as Go's archive/tar
            // (docker's) reads it.
            if raw.iter().all(|b| *b == 0 || *b == b' ') {
                return Ok(0);
            }
            let v = v.map_err(|e| bad_archive(&e))?;
            u32::try_from(v).map_err(|_| {
                ManagerError::InvalidArgument(format!("invalid archive: id {v} out of range"))
            })
        };
        Ok((
            Uid::from_raw(id(h.uid(), &old.uid)?),
            Gid::from_raw(id(h.gid(), &old.gid)?),
        ))
    }

    /// A hard link to an entry already extracted (its name taken inside
    /// the destination too); linkat follows no symlink.
    fn hard_link<R: Read>(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        entry: &tar::Entry<'_, R>,
    ) -> io::Result<()> {
        let target = entry.link_name()?.unwrap_or_default();
        let rel = inside(&target).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "hard link outside of the destination",
            )
        })?;
        let tname = rel
            .file_name()
            .ok_or_else(|| io::Error::from(Errno::INVAL))?;
        let tdir = resolve(self.dest.as_fd(), rel.parent().unwrap_or(Path::new("")))?;
        rustix::fs::linkat(&tdir, tname, parent, name, AtFlags::empty())?;
        Ok(())
    }

    fn container_path(&self, rel: &Path) -> String {
        Path::new(self.dest_path)
            .join(rel)
            .to_string_lossy()
            .into_owned()
    }

    fn io_error(&self, rel: &Path, e: io::Error) -> ManagerError {
        ManagerError::io(format!("extract {}", self.container_path(rel)), e)
    }
}

fn bad_archive(e: &io::Error) -> ManagerError {
    ManagerError::InvalidArgument(format!("invalid archive: {e}"))
}

/// An entry's name as a path below the destination: a leading `/` and
/// `.` dropped, `..` taken back lexically; `None` when it climbs out.
fn inside(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// The directory `name` in `parent` (made if missing), open to own and mode.
fn make_dir(parent: &OwnedFd, name: &OsStr, mode: Mode) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(parent, name, mode) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

/// A new regular file with the entry's bytes; owner before mode (chown
/// clears setuid bits).
fn write_file<R: Read>(
    parent: &OwnedFd,
    name: &OsStr,
    data: &mut R,
    (uid, gid): (Uid, Gid),
    mode: Mode,
) -> io::Result<std::fs::File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))?;
    let mut file = std::fs::File::from(fd);
    io::copy(data, &mut file)?;
    rustix::fs::fchown(&file, Some(uid), Some(gid))?;
    rustix::fs::fchmod(&file, mode)?;
    Ok(file)
}

/// The entry's extended attributes (pax `SCHILY.xattr.NAME` records).
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let Some(exts) = entry.pax_extensions().map_err(|e| bad_archive(&e))? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext.map_err(|e| bad_archive(&e))?;
        if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
            out.push((name.to_string(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// Sets the attributes as docker does: one the filesystem does not take
/// (ENOTSUP) or berthd may not set (EPERM) is skipped.
fn set_xattrs(fd: &impl AsFd, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    for (name, value) in xattrs {
        match rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            Err(e @ (Errno::NOTSUP | Errno::PERM)) => {
                tracing::debug!(xattr = %name, error = %e, "xattr not set")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn make_node(parent: &OwnedFd, name: &OsStr, h: &tar::Header, mode: Mode) -> io::Result<()> {
    let kind = match h.entry_type() {
        EntryType::Char => FileType::CharacterDevice,
        EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let major = h.device_major()?.unwrap_or(0);
    let minor = h.device_minor()?.unwrap_or(0);
    let dev = rustix::fs::makedev(major, minor);
    rustix::fs::mknodat(parent, name, kind, mode, dev)?;
    Ok(())
}

/// Owner and mtime of `name` itself (a symlink or a node: never opened).
fn owned_nofollow(
    parent: &OwnedFd,
    name: &OsStr,
    (uid, gid): (Uid, Gid),
    mtime: u64,
) -> io::Result<()> {
    rustix::fs::chownat(
        parent,
        name,
        Some(uid),
        Some(gid),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    rustix::fs::utimensat(parent, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

fn times(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// The mtime of the object `fd` is (any kind of descriptor).
fn set_times(fd: &impl AsFd, mtime: u64) -> io::Result<()> {
    let fd: BorrowedFd<'_> = fd.as_fd();
    // O_PATH descriptors take no futimens; their /proc link names the object.
    rustix::fs::utimensat(
        rustix::fs::CWD,
        proc_path(fd),
        &times(mtime),
        AtFlags::empty(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_below_the_destination() {
        assert_eq!(inside(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(
            inside(Path::new("/etc/passwd")),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(inside(Path::new("a/../b")), Some(PathBuf::from("b")));
        assert_eq!(inside(Path::new("../x")), None);
        assert_eq!(inside(Path::new("a/../../x")), None);
        assert_eq!(inside(Path::new(".")), Some(PathBuf::new()));
    }
}
