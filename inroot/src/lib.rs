//! Paths inside a directory tree that berth does not control — a container's
//! rootfs, unpacked from an image full of symlinks, or the root of a running
//! container that can rename, swap and symlink anything in it — resolved so
//! that no symlink, `..` or race between a check and an use can lead outside
//! that root. The shim (building a rootfs) and berthd (reading a running
//! container's users) both use it: one implementation to audit, one suite.
//!
//! A path is resolved from a descriptor of the root, never joined onto a
//! host path string: openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
//! follows symlinks as if the root were `/` (absolute targets restart at the
//! root, `..` stops at it) and refuses /proc's magic links. Mount points
//! inside the root are crossed (no RESOLVE_NO_XDEV): a container's volumes
//! are part of what its processes see. Kernels before 5.6 have no openat2;
//! for them [`walk`] applies the same rules one component at a time on
//! descriptors (the rule of filepath-securejoin, which runc uses).
//!
//! What is resolved is an O_PATH descriptor. The caller acts on it: `*at`
//! calls on one checked name ([`check_name`]) in a resolved directory, or a
//! path call on [`proc_path`], which the kernel follows to exactly that
//! object (mount(2) targets, a reopen for reading). Opening an O_PATH
//! descriptor says nothing of its type, so [`RootDir::open_regular`] checks
//! for a regular file before anything opens it: a device node or fifo
//! planted where a file is expected is never opened (opening some devices
//! acts; opening a fifo blocks).
//!
//! This crate must not learn about containers, images or mounts: it only
//! resolves, makes directories and opens files.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// More symlinks than this on one lookup is a loop (the kernel's limit).
const MAX_LINKS: usize = 40;

/// openat2 fails with EAGAIN when a rename or mount raced a `..`; after this
/// many tries the walk, which does not depend on such races, takes over.
const RETRIES: usize = 16;

/// Set once openat2 answered ENOSYS: the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A directory opened as the root that paths are resolved in.
#[derive(Debug)]
pub struct RootDir(OwnedFd);

impl RootDir {
    /// Opens `path` as a root. The path itself is followed: the caller names
    /// it by a host path it trusts (a mount point berth made, `/` after
    /// pivot_root).
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(RootDir(rustix::fs::open(path, flags, Mode::empty())?))
    }

    /// Opens `name` relative to the trusted directory `dir` as a root,
    /// following it (`root` under a `/proc/<pid>` descriptor is a magic
    /// link to that process's root, which is the point).
    pub fn open_at(dir: impl AsFd, name: &str) -> io::Result<RootDir> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(RootDir(rustix::fs::openat(
            dir,
            name,
            flags,
            Mode::empty(),
        )?))
    }

    /// An O_PATH descriptor of `path` resolved inside the root, the last
    /// component followed too.
    pub fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        resolve(self.0.as_fd(), path)
    }

    /// `path`, resolved inside the root, open for reading if it is a
    /// regular file; `None` when it is anything else (a directory, device,
    /// fifo or socket), which is then never opened.
    pub fn open_regular(&self, path: &Path) -> io::Result<Option<File>> {
        reopen_regular(&self.resolve(path)?)
    }

    /// The contents of the regular file `path` (at most `max` bytes);
    /// `None` when it is missing (or a parent is not a directory, or a
    /// link loops) or is not a regular file.
    pub fn read_regular(&self, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        let file = match self.open_regular(path) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut buf = Vec::new();
        file.take(max).read_to_end(&mut buf)?;
        Ok(Some(buf))
    }
}

impl AsFd for RootDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<RootDir> for OwnedFd {
    fn from(r: RootDir) -> OwnedFd {
        r.0
    }
}

/// A lookup's "not there": missing, a parent that is not a directory, or a
/// symlink loop.
pub fn is_missing(e: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::NOENT | Errno::NOTDIR | Errno::LOOP)
    )
}

/// `path` (absolute or relative, taken as inside the root) as the
/// components a lookup takes: names and `..`; `/` and `.` dropped.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// An O_PATH descriptor of `path` resolved inside `root` (see the crate
/// doc): openat2 where the kernel has it, the walk otherwise.
pub fn resolve(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match open_kernel(root, path) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // A lookup that kept racing renames (EAGAIN), or one the kernel
            // caught climbing out through a moved directory (EXDEV): the
            // walk's `..` climbs what it walked, not the live tree.
            Err(Errno::AGAIN | Errno::XDEV) => {}
            r => return r.map_err(io::Error::from),
        }
    }
    walk(root, path, None)
}

fn open_kernel(root: BorrowedFd<'_>, path: &Path) -> rustix::io::Result<OwnedFd> {
    let rel: PathBuf = parts(path).into_iter().collect();
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, &rel, flags, Mode::empty(), how) {
            Err(Errno::AGAIN) if tries < RETRIES => tries += 1,
            r => return r,
        }
    }
}

/// The lookup without openat2, with its rules: one component at a time,
/// each opened O_PATH | O_NOFOLLOW from the descriptor of its parent; a
/// symlink's target is read (readlinkat) and walked in its place, from the
/// root again when absolute; `..` goes back up the directories walked and
/// stops at the root. The kernel never follows a link here, so magic links
/// cannot be met, and nothing is ever looked up by a joined string.
///
/// With `mkdir`, a missing component is made as a directory of that mode by
/// name in the directory it was looked for in — a dangling symlink's target
/// too, inside the root, as runc's MkdirAllInRoot does.
pub fn walk(root: BorrowedFd<'_>, path: &Path, mkdir: Option<Mode>) -> io::Result<OwnedFd> {
    walk_named(root, path, mkdir).map(|(fd, _)| fd)
}

/// [`walk`] (no directory made), and where it ended as an absolute path
/// inside the root with every symlink resolved: what `docker cp` reports
/// as a link's target. The name is only ever shown or resolved again from
/// the root; the descriptor is what the lookup reached.
pub fn resolve_path(root: BorrowedFd<'_>, path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let (fd, names) = walk_named(root, path, None)?;
    let mut abs = PathBuf::from("/");
    abs.extend(names);
    Ok((fd, abs))
}

fn walk_named(
    root: BorrowedFd<'_>,
    path: &Path,
    mkdir: Option<Mode>,
) -> io::Result<(OwnedFd, Vec<OsString>)> {
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut pending = parts(path);
    // The directories from the root (excluded) down to the current one,
    // and their names.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut names: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            stack.pop();
            names.pop();
            continue;
        }
        let dir = stack.last().map_or(root, |d| d.as_fd());
        let fd = match (rustix::fs::openat(dir, &part, step, Mode::empty()), mkdir) {
            (Err(Errno::NOENT), Some(mode)) => {
                match rustix::fs::mkdirat(dir, &part, mode) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rustix::fs::openat(dir, &part, step, Mode::empty())?
            }
            (r, _) => r?,
        };
        let st = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP.into());
                }
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    stack.clear();
                    names.clear();
                }
                let mut next = parts(target);
                next.extend(pending);
                pending = next;
            }
            FileType::Directory => {
                stack.push(fd);
                names.push(part);
            }
            // A file with more to walk under it (`..` included, as the
            // kernel has it).
            _ if !pending.is_empty() => return Err(Errno::NOTDIR.into()),
            _ => {
                names.push(part);
                return Ok((fd, names));
            }
        }
    }
    match stack.pop() {
        Some(fd) => Ok((fd, names)),
        None => Ok((root.try_clone_to_owned()?, names)),
    }
}

/// `mkdir -p` of `path` inside `root`, each missing directory made with
/// `mode` by name in its resolved parent; the O_PATH descriptor of the
/// directory. The common case (it exists) is one openat2.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    let fd = match resolve(root, path) {
        Err(e) if Errno::from_io_error(&e) == Some(Errno::NOENT) => {
            walk(root, path, Some(Mode::from_raw_mode(mode)))?
        }
        r => r?,
    };
    if !is_dir(&fd)? {
        return Err(Errno::NOTDIR.into());
    }
    Ok(fd)
}

/// The directory that holds `path` (made, 0755, when missing) and `path`'s
/// last name, checked.
pub fn parent_of<'p>(root: BorrowedFd<'_>, path: &'p Path) -> io::Result<(OwnedFd, &'p OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a path with no file name"))?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((mkdir_all(root, parent, 0o755)?, check_name(name)?))
}

/// Whether `path` inside `root` is a symlink itself, its parents resolved
/// within the root (a missing path or parent: false).
pub fn is_symlink(root: BorrowedFd<'_>, path: &Path) -> io::Result<bool> {
    let Some(name) = path.file_name() else {
        return Ok(false);
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = match resolve(root, parent) {
        Ok(dir) => dir,
        Err(e) if is_missing(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(FileType::from_raw_mode(st.st_mode) == FileType::Symlink),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether a descriptor is a directory.
pub fn is_dir(fd: &impl AsFd) -> io::Result<bool> {
    let st = rustix::fs::fstat(fd)?;
    Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// The single name `name` must be to be made or removed in a directory by
/// an `*at` call: not empty, not `.` or `..`, no `/`.
pub fn check_name(name: &OsStr) -> io::Result<&OsStr> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name"),
        ));
    }
    Ok(name)
}

/// What a path-taking call (mount(2), statvfs) gets to act on `fd`'s
/// object: the kernel follows /proc/self/fd/N to exactly that file.
pub fn proc_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The regular file `fd` (an O_PATH descriptor) open for reading, or `None`
/// when it is not a regular file. The type is checked on the descriptor in
/// hand and the file is then reopened through /proc/self/fd, which names
/// that very inode: no path is resolved again, so nothing can be swapped in
/// between the check and the open.
fn reopen_regular(fd: &OwnedFd) -> io::Result<Option<File>> {
    let st = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC;
    let path = proc_path(fd.as_fd());
    let file = rustix::fs::open(&path, flags, Mode::empty())?;
    // What /proc gave back must be the file checked (it is, unless /proc
    // is not procfs).
    let again = rustix::fs::fstat(&file)?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other(format!(
            "{} reopened another file than the one resolved (is /proc mounted?)",
            path.display()
        )));
    }
    Ok(Some(File::from(file)))
}

#[cfg(test)]
mod tests;
