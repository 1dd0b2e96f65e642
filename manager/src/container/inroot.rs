//! Opening a path inside a directory tree that berthd does not control — a
//! container's root, while the container runs and can rename, swap and
//! symlink anything in it — so that no symlink, `..` or race between a
//! check and an open can make berthd reach a file outside that root.
//!
//! A path is resolved from a descriptor of the root, never joined onto a
//! host path string: openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
//! follows symlinks as if the root were `/` (absolute targets restart at the
//! root, `..` stops at it) and refuses /proc's magic links. Mount points
//! inside the root are crossed (no RESOLVE_NO_XDEV): a container's volumes
//! are part of what its processes see. Kernels before 5.6 have no openat2;
//! for them [`walk_in_root`] applies the same rules one component at a time
//! on descriptors (the rule of filepath-securejoin, as the shim's own
//! `runtime/inroot.rs` does; berthd and the shim share no code).
//!
//! What is resolved is an O_PATH descriptor: opening it says nothing of its
//! type, so [`RootDir::open_regular`] checks that it is a regular file
//! before anything opens it for reading. A device node or fifo planted where
//! a file is expected is never opened by berthd (opening some devices, such
//! as a watchdog, acts; opening a fifo blocks).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
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
    /// it by a host path it trusts (a mount point berthd made).
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

    /// An O_PATH descriptor of `rel` resolved inside the root, the last
    /// component followed too.
    pub fn resolve(&self, rel: &Path) -> io::Result<OwnedFd> {
        open_in_root(self.0.as_fd(), rel)
    }

    /// `rel`, resolved inside the root, open for reading if it is a regular
    /// file; `None` when it is anything else (a directory, device, fifo or
    /// socket), which is then never opened.
    pub fn open_regular(&self, rel: &Path) -> io::Result<Option<File>> {
        reopen_regular(&self.resolve(rel)?)
    }
}

impl AsFd for RootDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
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

/// An O_PATH descriptor of `rel` resolved inside `root` (see the module
/// doc): openat2 where the kernel has it, the walk otherwise.
pub fn open_in_root(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match open_kernel(root, rel) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // A lookup that kept racing renames (EAGAIN), or one the kernel
            // caught climbing out through a moved directory (EXDEV): the
            // walk's `..` climbs what it walked, not the live tree.
            Err(Errno::AGAIN | Errno::XDEV) => {}
            r => return r.map_err(io::Error::from),
        }
    }
    walk_in_root(root, rel)
}

fn open_kernel(root: BorrowedFd<'_>, rel: &Path) -> rustix::io::Result<OwnedFd> {
    let rel: PathBuf = parts(rel).into_iter().collect();
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, &rel, flags, Mode::empty(), resolve) {
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
pub fn walk_in_root(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut pending = parts(rel);
    // The directories from the root (excluded) down to the current one.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            stack.pop();
            continue;
        }
        let dir = stack.last().map_or(root, |d| d.as_fd());
        let fd = rustix::fs::openat(dir, part.as_os_str(), step, Mode::empty())?;
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
                }
                let mut next = parts(target);
                next.extend(pending);
                pending = next;
            }
            FileType::Directory => stack.push(fd),
            // A file with more to walk under it (`..` included, as the
            // kernel has it).
            _ if !pending.is_empty() => return Err(Errno::NOTDIR.into()),
            _ => return Ok(fd),
        }
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => root.try_clone_to_owned(),
    }
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
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = rustix::fs::open(path.as_str(), flags, Mode::empty())?;
    // What /proc gave back must be the file checked (it is, unless /proc
    // is not procfs).
    let again = rustix::fs::fstat(&file)?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other(format!(
            "{path} reopened another file than the one resolved (is /proc mounted?)"
        )));
    }
    Ok(Some(File::from(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    type Open = fn(BorrowedFd<'_>, &Path) -> io::Result<OwnedFd>;

    /// openat2 and the walk, each called directly, so the walk is tested on
    /// kernels that have openat2.
    fn opens() -> [(&'static str, Open); 2] {
        [
            ("openat2", |r, p| open_kernel(r, p).map_err(io::Error::from)),
            ("walk", walk_in_root),
        ]
    }

    /// Where a descriptor really is.
    fn real(fd: &OwnedFd) -> PathBuf {
        fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    fn errno(r: io::Result<OwnedFd>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    /// A root inside `outer`, and beside it (outside the root) a "host"
    /// file every escape below would reach: `outer/secret/passwd`.
    struct Tree {
        outer: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            let outer = tempfile::tempdir().unwrap();
            let o = outer.path();
            fs::create_dir_all(o.join("secret")).unwrap();
            fs::write(o.join("secret/passwd"), "HOST\n").unwrap();
            let r = o.join("root");
            fs::create_dir_all(r.join("etc")).unwrap();
            fs::create_dir_all(r.join("usr/lib")).unwrap();
            fs::write(r.join("etc/passwd"), "ROOT\n").unwrap();
            Tree { outer }
        }
        fn root(&self) -> PathBuf {
            self.outer.path().join("root")
        }
        fn secret(&self) -> PathBuf {
            self.outer.path().join("secret")
        }
    }

    #[test]
    fn escapes_are_clamped_to_the_root() {
        let t = Tree::new();
        let r = t.root();
        let secret = t.secret();
        let secret_str = secret.to_str().unwrap();
        // The host directory's path, made inside the root too: where links
        // naming it absolutely must land.
        let planted = r.join(secret_str.trim_start_matches('/'));
        fs::create_dir_all(&planted).unwrap();
        fs::write(planted.join("passwd"), "PLANTED\n").unwrap();
        fs::create_dir_all(r.join("secret")).unwrap();
        fs::write(r.join("secret/passwd"), "INSIDE\n").unwrap();
        symlink("/../../..", r.join("up")).unwrap();
        symlink("../../../../../../../../secret", r.join("rel")).unwrap();
        symlink(&secret, r.join("abs")).unwrap();
        symlink(format!("/../../../../..{secret_str}"), r.join("absdots")).unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        symlink("../etc/passwd", r.join("usr/pw")).unwrap();
        let root = RootDir::open(&r).unwrap();
        for (name, open) in opens() {
            let o = |p: &str| {
                real(
                    &open(root.as_fd(), Path::new(p)).unwrap_or_else(|e| panic!("{name} {p}: {e}")),
                )
            };
            assert_eq!(o("etc/passwd"), r.join("etc/passwd"), "{name}");
            assert_eq!(o("/etc/passwd"), r.join("etc/passwd"), "{name}");
            // `/etc -> /../../..` style: the link climbs to the root, no further.
            assert_eq!(o("up"), r, "{name}");
            assert_eq!(o("up/etc/passwd"), r.join("etc/passwd"), "{name}");
            assert_eq!(o("rel/passwd"), r.join("secret/passwd"), "{name}");
            // Absolute targets (with or without `..`) start at the root.
            assert_eq!(o("abs/passwd"), planted.join("passwd"), "{name}");
            assert_eq!(o("absdots/passwd"), planted.join("passwd"), "{name}");
            // `..` chains in the path itself.
            assert_eq!(o("../../../etc/passwd"), r.join("etc/passwd"), "{name}");
            assert_eq!(
                o("etc/../../../etc/./passwd"),
                r.join("etc/passwd"),
                "{name}"
            );
            assert_eq!(o("lib/../../.."), r, "{name}");
            assert_eq!(o("lib"), r.join("usr/lib"), "{name}");
            assert_eq!(o("usr/pw"), r.join("etc/passwd"), "{name}");
            assert_eq!(o(""), r, "{name}");
            assert_eq!(o("/"), r, "{name}");
        }
    }

    #[test]
    fn loops_missing_and_not_directories() {
        let t = Tree::new();
        let r = t.root();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        symlink("self", r.join("self")).unwrap();
        symlink("/nowhere", r.join("dangling")).unwrap();
        // Looked up inside the root: there is no /proc there.
        symlink("/proc/self/root", r.join("magic")).unwrap();
        let root = RootDir::open(&r).unwrap();
        for (name, open) in opens() {
            let e = |p: &str| errno(open(root.as_fd(), Path::new(p)));
            assert_eq!(e("loop1"), Some(libc::ELOOP), "{name}");
            assert_eq!(e("loop1/x"), Some(libc::ELOOP), "{name}");
            assert_eq!(e("self"), Some(libc::ELOOP), "{name}");
            assert_eq!(e("dangling"), Some(libc::ENOENT), "{name}");
            assert_eq!(e("missing/passwd"), Some(libc::ENOENT), "{name}");
            assert_eq!(e("etc/passwd/x"), Some(libc::ENOTDIR), "{name}");
            assert_eq!(e("etc/passwd/.."), Some(libc::ENOTDIR), "{name}");
            assert_eq!(e("magic/etc"), Some(libc::ENOENT), "{name}");
        }
    }

    #[test]
    fn the_kernel_and_the_walk_agree() {
        let t = Tree::new();
        let r = t.root();
        symlink("/etc", r.join("etc2")).unwrap();
        symlink("etc2/../usr/./lib", r.join("weird")).unwrap();
        let root = RootDir::open(&r).unwrap();
        for p in [
            "etc2/passwd",
            "weird",
            "weird/../../etc2/passwd",
            "usr/lib/..",
        ] {
            let a = real(&open_kernel(root.as_fd(), Path::new(p)).unwrap());
            let b = real(&walk_in_root(root.as_fd(), Path::new(p)).unwrap());
            assert_eq!(a, b, "{p}");
        }
    }

    #[test]
    fn only_regular_files_are_opened() {
        let t = Tree::new();
        let r = t.root();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            r.join("etc/fifo"),
            FileType::Fifo,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        symlink("fifo", r.join("etc/group")).unwrap();
        let root = RootDir::open(&r).unwrap();
        let mut s = String::new();
        root.open_regular(Path::new("etc/passwd"))
            .unwrap()
            .expect("a regular file")
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "ROOT\n");
        // A fifo opened for reading would block: it is refused unopened.
        assert!(root.open_regular(Path::new("etc/group")).unwrap().is_none());
        assert!(root.open_regular(Path::new("etc")).unwrap().is_none());
        let e = root.open_regular(Path::new("etc/shadow")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
