//! Paths inside a container's root, resolved by the kernel within that root
//! and held open, so the operation that follows acts on the object that was
//! resolved and not on a path string that an image's symlinks (or a running
//! container, for anything done while it runs) could send elsewhere.
//!
//! Resolution is openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
//! from an O_PATH descriptor of the root: symlinks are followed as if the
//! root were `/`, `..` stops at it, and /proc's magic links are refused.
//! Kernels older than 5.6 have no openat2; for them [`walk`] does the same
//! one component at a time on descriptors (O_NOFOLLOW, readlinkat, a restart
//! from the root for absolute targets), never on a joined string.
//!
//! What is made inside the root is made relative to a resolved directory's
//! descriptor (`mkdirat`, `mknodat`, `symlinkat`, `unlinkat`, `fchownat` on a
//! single name), and mount(2) gets `/proc/self/fd/N` of the resolved target,
//! which the kernel follows to that very object. A descriptor opened before
//! a mount names what the mount covers: anything done to the new mount
//! (remount, propagation) resolves the path again.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, Mode, SFlag};

/// More symlinks than this on one path is a loop (the kernel's limit is 40;
/// securejoin's 255 is kept for the walk).
const MAX_LINKS: usize = 255;

/// openat2 fails with EAGAIN when a rename or mount raced the lookup.
const RETRIES: usize = 16;

/// Set once openat2 answered ENOSYS: the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor that a successful open call
    // has just returned and that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Open a directory that serves as a root (O_PATH, the final component
/// followed: the caller names it by a path it trusts).
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    openat(None, path, flags, Mode::empty())
        .map(owned)
        .map_err(errno)
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

/// Open `path` inside `root` with `flags` (O_PATH for a handle, O_RDONLY to
/// read), following symlinks within the root, the last one too.
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match open_kernel(root, path, flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    walk(root, path, flags, None)
}

fn open_kernel(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let rel: PathBuf = parts(path).into_iter().collect();
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut tries = 0;
    loop {
        match openat2(root.as_raw_fd(), &rel, how) {
            Ok(fd) => return Ok(owned(fd)),
            Err(Errno::EAGAIN) if tries < RETRIES => tries += 1,
            Err(e) => return Err(errno(e)),
        }
    }
}

/// The lookup without openat2: one component at a time on descriptors, with
/// openat2's rules (symlinks resolved inside the root, `..` clamped at it).
/// Magic links cannot be met: every component is opened O_NOFOLLOW and a
/// symlink's target is read as text, never followed by the kernel. With
/// `mkdir`, a missing component is made as a directory of that mode in the
/// directory it was looked for in (a dangling symlink's target too, inside
/// the root, as runc's MkdirAllInRoot does).
pub fn walk(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    mkdir: Option<Mode>,
) -> io::Result<OwnedFd> {
    let step = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut pending = parts(path);
    // The directories from the root down to the current one.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            stack.pop();
            continue;
        }
        let dir = stack.last().map_or(root.as_raw_fd(), |d| d.as_raw_fd());
        let fd = match (
            openat(Some(dir), part.as_os_str(), step, Mode::empty()),
            mkdir,
        ) {
            (Ok(fd), _) => owned(fd),
            (Err(Errno::ENOENT), Some(mode)) => {
                match mkdirat(Some(dir), part.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(errno(e)),
                }
                owned(openat(Some(dir), part.as_os_str(), step, Mode::empty()).map_err(errno)?)
            }
            (Err(e), _) => return Err(errno(e)),
        };
        let st = fstat(fd.as_raw_fd()).map_err(errno)?;
        match SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) {
            SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(errno(Errno::ELOOP));
                }
                let target = readlinkat(Some(fd.as_raw_fd()), "").map_err(errno)?;
                let target = Path::new(&target);
                if target.is_absolute() {
                    stack.clear();
                }
                let mut next = parts(target);
                next.extend(pending);
                pending = next;
            }
            SFlag::S_IFDIR => stack.push(fd),
            _ if !pending.is_empty() => return Err(errno(Errno::ENOTDIR)),
            _ => {
                return finish(dir, &part, fd, flags);
            }
        }
    }
    let last = match stack.pop() {
        Some(fd) => fd,
        None => root.try_clone_to_owned()?,
    };
    if flags.contains(OFlag::O_PATH) {
        return Ok(last);
    }
    // A directory asked for with another mode: reopen what was resolved.
    owned_reopen(&last, flags)
}

/// The last component, a non-directory, opened as asked: O_PATH is the
/// descriptor in hand; anything else is opened again from its parent,
/// O_NOFOLLOW so a swap since the check fails rather than escapes.
fn finish(dir: RawFd, name: &OsStr, fd: OwnedFd, flags: OFlag) -> io::Result<OwnedFd> {
    if flags.contains(OFlag::O_DIRECTORY) {
        return Err(errno(Errno::ENOTDIR));
    }
    if flags.contains(OFlag::O_PATH) {
        return Ok(fd);
    }
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(Some(dir), name, flags, Mode::empty())
        .map(owned)
        .map_err(errno)
}

/// A resolved directory opened again with `flags` ("." from itself).
fn owned_reopen(dir: &OwnedFd, flags: OFlag) -> io::Result<OwnedFd> {
    openat(
        Some(dir.as_raw_fd()),
        ".",
        flags | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(errno)
}

/// The single name `name` must be to be made in a directory: no `/`, not
/// `.` or `..`, not empty.
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

/// `mkdir -p` of `path` inside `root`, each missing directory made with
/// `mode` by name in its resolved parent; the O_PATH descriptor of the
/// directory. The common case (it exists) is one openat2.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> io::Result<OwnedFd> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open(root, path, dir_flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        r => return r,
    }
    walk(root, path, dir_flags, Some(mode))
}

/// The directory that holds `path` (made when missing) and its last name.
pub fn parent_of<'p>(root: BorrowedFd<'_>, path: &'p Path) -> io::Result<(OwnedFd, &'p OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a path with no file name"))?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((
        mkdir_all(root, parent, Mode::from_bits_truncate(0o755))?,
        name,
    ))
}

/// Whether `name` in `dir` is a symlink itself (missing: false).
pub fn is_symlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(st.st_mode & libc::S_IFMT == libc::S_IFLNK),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(errno(e)),
    }
}

/// Whether `path` inside `root` is a symlink itself, its parents resolved
/// within the root (a missing path or parent: false).
pub fn is_symlink(root: BorrowedFd<'_>, path: &Path) -> io::Result<bool> {
    let Some(name) = path.file_name() else {
        return Ok(false);
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    match open(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(dir) => is_symlink_at(dir.as_fd(), name),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What mount(2) and other path calls take to act on `fd`'s object: the
/// kernel follows /proc/self/fd/N to exactly that file.
pub fn proc_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Read a regular file inside `root` (at most `max` bytes); `None` when it
/// is missing or not a regular file. The file is resolved to an O_PATH
/// handle and checked before it is opened for reading: an image's fifo
/// would block the open, and opening a device node can act.
pub fn read_file(root: &Path, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let root = open_root(root)?;
    let fd = match open(root.as_fd(), path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let st = fstat(fd.as_raw_fd()).map_err(errno)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    // The handle's own object, opened for reading (a regular file: the
    // magic link is the kernel's, not the image's).
    let flags = OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let file = openat(None, &proc_path(fd.as_fd()), flags, Mode::empty()).map_err(errno)?;
    let mut buf = Vec::new();
    std::fs::File::from(owned(file)).take(max).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    type Open = fn(BorrowedFd<'_>, &Path, OFlag) -> io::Result<OwnedFd>;

    /// Both lookups, so the walk is tested on kernels that have openat2.
    fn opens() -> [Open; 2] {
        fn walk_only(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
            walk(root, path, flags, None)
        }
        [open_kernel, walk_only]
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        fs::read_link(proc_path(fd.as_fd())).unwrap()
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        symlink("../../../../..", r.join("etc/up")).unwrap();
        symlink("/../../etc", r.join("escape")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        symlink("/proc/self/root", r.join("magic")).unwrap();
        t
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tree();
        let r = t.path();
        let root = open_root(r).unwrap();
        for open in opens() {
            let o = |p: &str| real(&open(root.as_fd(), Path::new(p), OFlag::O_PATH).unwrap());
            assert_eq!(o("/lib"), r.join("usr/lib"));
            assert_eq!(o("/etc/up/etc"), r.join("etc"));
            assert_eq!(o("/escape/passwd"), r.join("etc/passwd"));
            assert_eq!(o("/../../../etc"), r.join("etc"));
            assert_eq!(o("/"), r.to_path_buf());
            assert_eq!(o(""), r.to_path_buf());
            let e = open(root.as_fd(), Path::new("/loop1/x"), OFlag::O_PATH).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
            let e = open(root.as_fd(), Path::new("/missing"), OFlag::O_PATH).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            let e = open(root.as_fd(), Path::new("/etc/passwd/x"), OFlag::O_PATH).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
            // /proc/self/root taken as a path inside the root: no /proc here.
            let e = open(root.as_fd(), Path::new("/magic"), OFlag::O_PATH).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        }
    }

    #[test]
    fn a_read_goes_through_the_resolved_file() {
        let t = tree();
        let r = t.path();
        let passwd = read_file(r, Path::new("/escape/passwd"), 1 << 20).unwrap();
        assert_eq!(passwd.as_deref(), Some(&b"root:x:0:0::/root:/bin/sh\n"[..]));
        assert_eq!(read_file(r, Path::new("/etc"), 100).unwrap(), None);
        assert_eq!(read_file(r, Path::new("/nope/x"), 100).unwrap(), None);
        // A fifo is not opened (the open would block).
        nix::unistd::mkfifo(&r.join("etc/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        assert_eq!(read_file(r, Path::new("/etc/fifo"), 100).unwrap(), None);
        let root = open_root(r).unwrap();
        let fd = walk(
            root.as_fd(),
            Path::new("/escape/passwd"),
            OFlag::O_RDONLY,
            None,
        )
        .unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut fs::File::from(fd), &mut s).unwrap();
        assert!(s.starts_with("root:"));
    }

    #[test]
    fn mkdir_all_creates_inside_the_root_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        let t = tree();
        let r = t.path();
        // An image's /dev pointing out of the rootfs, relative and absolute.
        let up = "../".repeat(20) + outside.path().to_str().unwrap().trim_start_matches('/');
        symlink(&up, r.join("dev")).unwrap();
        symlink(outside.path(), r.join("abs")).unwrap();
        let root = open_root(r).unwrap();
        let mode = Mode::from_bits_truncate(0o755);
        let d = mkdir_all(root.as_fd(), Path::new("/dev/pts"), mode).unwrap();
        // The dangling link's target is made inside the root.
        assert_eq!(
            real(&d),
            r.join(outside.path().strip_prefix("/").unwrap())
                .join("pts")
        );
        let d = mkdir_all(root.as_fd(), Path::new("/abs/x/y"), mode).unwrap();
        assert!(real(&d).starts_with(r), "{}", real(&d).display());
        let d = mkdir_all(root.as_fd(), Path::new("/lib/new"), mode).unwrap();
        assert_eq!(real(&d), r.join("usr/lib/new"));
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        let (dir, name) = parent_of(root.as_fd(), Path::new("/dev/ptmx")).unwrap();
        assert_eq!(name, "ptmx");
        assert!(real(&dir).starts_with(r));
        assert!(is_symlink(root.as_fd(), Path::new("/dev")).unwrap());
        assert!(!is_symlink(root.as_fd(), Path::new("/etc")).unwrap());
        assert!(!is_symlink(root.as_fd(), Path::new("/none/x")).unwrap());
        assert!(check_name(OsStr::new("..")).is_err());
        assert!(check_name(OsStr::new("a/b")).is_err());
        assert!(check_name(OsStr::new("ptmx")).is_ok());
    }
}
