//! A path of a container written as a tar stream, walked by descriptor:
//! each entry is looked at (fstatat, no follow) and opened (openat,
//! O_NOFOLLOW) by name in the descriptor of its directory, and a file is
//! read only once the descriptor in hand is checked to be the regular file
//! that was looked at. A container that renames or swaps a directory for a
//! symlink while the copy runs makes an entry vanish from the archive; it
//! can never make berthd read outside its root.
//!
//! Entries as docker's archive has them: directories, regular files (a
//! second name of an inode as a hard link), symlinks (their target as
//! text), device nodes and fifos as headers; sockets are left out. A
//! file's file capabilities (the `security.capability` xattr, the one
//! docker's archive carries) go in a pax `SCHILY.xattr.` record.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tar::{EntryType, Header};

use super::path::Located;

/// Writes `loc` as a tar stream whose top entry is named `top`.
pub fn pack(loc: &Located, top: &Path, out: impl Write) -> io::Result<()> {
    let mut p = Packer {
        tar: tar::Builder::new(out),
        links: HashMap::new(),
    };
    match &loc.name {
        Some(name) => p.entry(loc.dir.as_fd(), name, top)?,
        None => {
            let dir = rustix::fs::openat(&loc.dir, ".", dir_flags(), Mode::empty())?;
            let st = rustix::fs::fstat(&dir)?;
            p.dir(dir, &st, top)?;
        }
    }
    p.tar.into_inner()?.flush()
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Gone (renamed, removed, swapped for another type) since it was listed.
fn vanished(e: &Errno) -> bool {
    matches!(*e, Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NXIO)
}

struct Packer<W: Write> {
    tar: tar::Builder<W>,
    /// Inodes with several names already written: the first name.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Packer<W> {
    /// The entry `name` in `dir`, archived as `path`.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> io::Result<()> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(e) if vanished(&e) => return Ok(()),
            r => r?,
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                match rustix::fs::openat(dir, name, dir_flags(), Mode::empty()) {
                    Err(e) if vanished(&e) => Ok(()),
                    Err(e) => Err(e.into()),
                    Ok(fd) => {
                        let st = rustix::fs::fstat(&fd)?;
                        self.dir(fd, &st, path)
                    }
                }
            }
            FileType::RegularFile => self.file(dir, name, &st, path),
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
                    Err(e) if vanished(&e) || e == Errno::INVAL => return Ok(()),
                    r => r?,
                };
                let mut h = header(&st, EntryType::Symlink);
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                self.tar.append_link(&mut h, path, target)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let kind = match FileType::from_raw_mode(st.st_mode) {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = header(&st, kind);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, path, io::empty())
            }
            _ => Ok(()),
        }
    }

    /// A directory and everything under it, in name order.
    fn dir(&mut self, fd: OwnedFd, st: &Stat, path: &Path) -> io::Result<()> {
        let mut h = header(st, EntryType::Directory);
        self.tar.append_data(&mut h, path, io::empty())?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in rustix::fs::Dir::read_from(&fd)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let name = OsStr::from_bytes(&n);
            self.entry(fd.as_fd(), name, &path.join(name))?;
        }
        Ok(())
    }

    /// A regular file, opened by name and checked to be the inode looked
    /// at; exactly its size is written even if it shrinks meanwhile.
    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        path: &Path,
    ) -> io::Result<()> {
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                let mut h = header(st, EntryType::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, path, first);
            }
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Err(e) if vanished(&e) => return Ok(()),
            r => r?,
        };
        let now = rustix::fs::fstat(&fd)?;
        if (now.st_dev, now.st_ino) != key
            || FileType::from_raw_mode(now.st_mode) != FileType::RegularFile
        {
            return Ok(());
        }
        if st.st_nlink > 1 {
            self.links.insert(key, path.to_path_buf());
        }
        if let Some(cap) = capability(&fd)? {
            self.tar
                .append_pax_extensions([(CAPABILITY_PAX, cap.as_slice())])?;
        }
        let mut h = header(&now, EntryType::Regular);
        let size = now.st_size.max(0) as u64;
        h.set_size(size);
        let data = std::fs::File::from(fd)
            .take(size)
            .chain(io::repeat(0))
            .take(size);
        self.tar.append_data(&mut h, path, data)
    }
}

/// The pax record of a file's capabilities.
pub const CAPABILITY_PAX: &str = "SCHILY.xattr.security.capability";

/// A file's `security.capability`, if it has one.
fn capability(fd: &OwnedFd) -> io::Result<Option<Vec<u8>>> {
    // A vfs_cap_data is at most 24 bytes.
    let mut buf = [0u8; 64];
    match rustix::fs::fgetxattr(fd, "security.capability", &mut buf) {
        Ok(n) => Ok(Some(buf[..n].to_vec())),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A header with the object's mode, owner and mtime.
fn header(st: &Stat, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}
