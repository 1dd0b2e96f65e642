//! The system calls the container init makes while it builds the
//! container's filesystem, behind a trait (as youki does): the real
//! implementation calls the kernel, the recording fake lets unit tests check
//! which mounts happen, in which order and with which flags, without root.
//!
//! Nothing inside the container's root is touched through a path string:
//! a path is first resolved within the root ([`Syscall::resolve`], openat2's
//! RESOLVE_IN_ROOT, see [`berth_inroot`]) into an [`InRoot`] handle, and
//! what follows is done on that handle: `*at` calls on one name in a
//! resolved directory, or mount(2) on `/proc/self/fd/N`.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, mknodat, Mode, SFlag};
use nix::unistd::{
    fchdir, fchownat, pivot_root, sethostname, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags,
};

use berth_inroot as inroot;

/// A path of the container's, resolved inside its root and held open
/// (O_PATH), so what is done next is done to what was resolved.
#[derive(Debug)]
pub struct InRoot {
    /// `None` only in the recording fake.
    fd: Option<OwnedFd>,
    /// The host path it was asked for, for messages (and the fake's record).
    shown: PathBuf,
}

impl InRoot {
    /// What path-taking calls (mount(2), statvfs) get: /proc/self/fd/N,
    /// which the kernel follows to exactly this object.
    pub fn path(&self) -> PathBuf {
        match &self.fd {
            Some(fd) => inroot::proc_path(fd.as_fd()),
            None => self.shown.clone(),
        }
    }

    /// The path as asked for, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.fd
            .as_ref()
            .map(|f| f.as_fd())
            .ok_or_else(|| io::Error::other("a recorded handle has no descriptor"))
    }
}

/// What [`Syscall::resolve`] makes when the path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing: a missing path is ENOENT.
    Nothing,
    /// `mkdir -p`, mode 0755.
    Dir,
    /// The parent directories and an empty 0644 file (a bind-mount target).
    File,
}

/// What the init does to the filesystem and its namespaces.
pub trait Syscall {
    /// mount(2); `None` source/fstype/data are passed as NULL.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// Make `new_root` the root and detach the old one (runc's
    /// `pivot_root(".", ".")` trick, which needs no directory for the old root).
    fn pivot_root(&self, new_root: &Path) -> io::Result<()>;
    /// Open `path` (a host path berth trusts: the rootfs, or `/` after
    /// pivot_root) as the root paths are resolved in.
    fn open_root(&self, path: &Path) -> io::Result<InRoot>;
    /// `path` (a container path) resolved inside `root`: symlinks followed
    /// as if `root` were `/`, `..` stopped at it, no magic links; what
    /// `create` asks for is made when missing.
    fn resolve(&self, root: &InRoot, path: &Path, create: Create) -> io::Result<InRoot>;
    /// Whether `path` inside `root` is itself a symlink (its parents
    /// resolved inside the root); missing is false.
    fn is_symlink(&self, root: &InRoot, path: &Path) -> io::Result<bool>;
    /// Whether a resolved handle is a directory.
    fn is_dir(&self, h: &InRoot) -> io::Result<bool>;
    /// Create an empty file `name` in `dir` unless it exists (not following
    /// a symlink there); its handle.
    fn create_file_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<InRoot>;
    fn symlink_at(&self, original: &Path, dir: &InRoot, name: &OsStr) -> io::Result<()>;
    /// Remove the file or symlink `name` in `dir`; missing is fine.
    fn remove_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<()>;
    fn mknod_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        kind: SFlag,
        mode: u32,
        dev: u64,
    ) -> io::Result<()>;
    /// chown `name` in `dir`, not following a symlink.
    fn chown_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()>;
    /// The per-mount flags (ro, nosuid, nodev, noexec, ...) of the mount
    /// holding `path`; a remount must keep the ones that are locked.
    fn mount_flags(&self, path: &Path) -> io::Result<MsFlags>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    /// Bring the loopback interface of the current network namespace up.
    fn loopback_up(&self) -> io::Result<()>;
    /// Write a whole file that already exists (sysctls, /proc/self/*).
    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
}

/// The kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSyscall;

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// `root`'s shown path with the container path `path` under it, for
/// messages only (never opened).
fn shown(root: &InRoot, path: &Path) -> PathBuf {
    root.shown.join(path.strip_prefix("/").unwrap_or(path))
}

impl Syscall for RealSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        mount(source, target, fstype, flags, data).map_err(errno)
    }

    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let old = open("/", flags, Mode::empty()).map_err(errno)?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        let old = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(old) };
        let new = open(new_root, flags, Mode::empty()).map_err(errno)?;
        // SAFETY: as above.
        let new = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) };
        fchdir(new.as_raw_fd()).map_err(errno)?;
        // Stacks the old root under the new one at "."; the old root is
        // then reached through its fd and detached, so no directory for it
        // is needed inside the (possibly read-only) rootfs.
        pivot_root(".", ".").map_err(errno)?;
        fchdir(old.as_raw_fd()).map_err(errno)?;
        // rslave first so the detach does not propagate to the host.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(errno)?;
        umount2(".", MntFlags::MNT_DETACH).map_err(errno)?;
        std::env::set_current_dir("/")
    }

    fn open_root(&self, path: &Path) -> io::Result<InRoot> {
        Ok(InRoot {
            fd: Some(inroot::RootDir::open(path)?.into()),
            shown: path.to_owned(),
        })
    }

    fn resolve(&self, root: &InRoot, path: &Path, create: Create) -> io::Result<InRoot> {
        let r = root.fd()?;
        let fd = match create {
            Create::Nothing => inroot::resolve(r, path)?,
            Create::Dir => inroot::mkdir_all(r, path, 0o755)?,
            Create::File => match inroot::resolve(r, path) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let (dir, name) = inroot::parent_of(r, path)?;
                    let dir = InRoot {
                        fd: Some(dir),
                        shown: PathBuf::new(),
                    };
                    drop(self.create_file_at(&dir, name)?);
                    inroot::resolve(r, path)?
                }
                fd => fd?,
            },
        };
        Ok(InRoot {
            fd: Some(fd),
            shown: shown(root, path),
        })
    }

    fn is_symlink(&self, root: &InRoot, path: &Path) -> io::Result<bool> {
        inroot::is_symlink(root.fd()?, path)
    }

    fn is_dir(&self, h: &InRoot) -> io::Result<bool> {
        let st = fstat(h.fd()?.as_raw_fd()).map_err(errno)?;
        Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }

    fn create_file_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<InRoot> {
        let d = dir.fd()?.as_raw_fd();
        let name = inroot::check_name(name)?;
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        match openat(Some(d), name, flags, Mode::from_bits_truncate(0o644)) {
            // SAFETY: openat returned a new descriptor that nothing else owns.
            Ok(fd) => drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }),
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(errno(e)),
        }
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(Some(d), name, flags, Mode::empty()).map_err(errno)?;
        Ok(InRoot {
            // SAFETY: as above.
            fd: Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }),
            shown: dir.shown.join(name),
        })
    }

    fn symlink_at(&self, original: &Path, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        let name = inroot::check_name(name)?;
        symlinkat(original, Some(dir.fd()?.as_raw_fd()), name).map_err(errno)
    }

    fn remove_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        let name = inroot::check_name(name)?;
        match unlinkat(
            Some(dir.fd()?.as_raw_fd()),
            name,
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(errno(e)),
        }
    }

    fn mknod_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        kind: SFlag,
        mode: u32,
        dev: u64,
    ) -> io::Result<()> {
        let name = inroot::check_name(name)?;
        let perm = Mode::from_bits_truncate(mode);
        mknodat(Some(dir.fd()?.as_raw_fd()), name, kind, perm, dev).map_err(errno)
    }

    fn chown_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        let name = inroot::check_name(name)?;
        fchownat(
            Some(dir.fd()?.as_raw_fd()),
            name,
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(errno)
    }

    fn mount_flags(&self, path: &Path) -> io::Result<MsFlags> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: statvfs is plain data; all-zero is a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: c is a NUL-terminated path and st a valid out-pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let table = [
            (libc::ST_RDONLY, MsFlags::MS_RDONLY),
            (libc::ST_NOSUID, MsFlags::MS_NOSUID),
            (libc::ST_NODEV, MsFlags::MS_NODEV),
            (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (libc::ST_NOATIME, MsFlags::MS_NOATIME),
            (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (libc::ST_RELATIME, MsFlags::MS_RELATIME),
        ];
        Ok(table
            .iter()
            .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
            .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        sethostname(name).map_err(errno)
    }

    fn loopback_up(&self) -> io::Result<()> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a new descriptor owned by nothing else.
        let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        // SAFETY: ifreq is plain data; all-zero is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads into the ifreq we own.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the flags member of the union was just filled by the kernel.
        unsafe {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        f.write_all(contents)
    }
}

/// Records every call as one line instead of making it (unit tests).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakeSyscall {
    pub calls: std::cell::RefCell<Vec<String>>,
    /// Targets whose remount fails with EPERM unless it keeps nosuid and
    /// nodev (locked flags, as in a user namespace).
    pub locked: Vec<std::path::PathBuf>,
    /// mknod fails with EPERM (as in a user namespace).
    pub mknod_eperm: bool,
}

#[cfg(test)]
impl FakeSyscall {
    fn record(&self, s: String) {
        self.calls.borrow_mut().push(s);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

#[cfg(test)]
impl Syscall for FakeSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let keeps_locked = flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        if flags.contains(MsFlags::MS_REMOUNT)
            && !keeps_locked
            && self.locked.iter().any(|p| p == target)
        {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        self.record(format!(
            "mount {} {} {} {} {}",
            source.map_or("-".into(), |s| s.display().to_string()),
            target.display(),
            fstype.unwrap_or("-"),
            super::mounts::flag_names(flags),
            data.unwrap_or("-"),
        ));
        Ok(())
    }
    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        self.record(format!("pivot_root {}", new_root.display()));
        Ok(())
    }
    fn open_root(&self, path: &Path) -> io::Result<InRoot> {
        Ok(InRoot {
            fd: None,
            shown: path.to_owned(),
        })
    }
    fn resolve(&self, root: &InRoot, path: &Path, create: Create) -> io::Result<InRoot> {
        // The fake resolves for real on the test's tree (a temp dir), making
        // what is asked for there, and records what the kernel would do.
        let dir = inroot::RootDir::open(&root.shown)?;
        let fd = match create {
            Create::Nothing => inroot::resolve(dir.as_fd(), path)?,
            Create::Dir => inroot::mkdir_all(dir.as_fd(), path, 0o755)?,
            Create::File => {
                let (parent, name) = inroot::parent_of(dir.as_fd(), path)?;
                let parent = fs::read_link(inroot::proc_path(parent.as_fd()))?;
                self.record(format!("mkdir {}", parent.display()));
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(parent.join(name))?;
                inroot::resolve(dir.as_fd(), path)?
            }
        };
        let shown = fs::read_link(inroot::proc_path(fd.as_fd()))?;
        match create {
            Create::Nothing => {}
            Create::Dir => self.record(format!("mkdir {}", shown.display())),
            Create::File => self.record(format!("touch {}", shown.display())),
        }
        Ok(InRoot { fd: None, shown })
    }
    fn is_symlink(&self, root: &InRoot, path: &Path) -> io::Result<bool> {
        inroot::is_symlink(inroot::RootDir::open(&root.shown)?.as_fd(), path)
    }
    fn is_dir(&self, h: &InRoot) -> io::Result<bool> {
        fs::metadata(&h.shown).map(|m| m.is_dir())
    }
    fn create_file_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<InRoot> {
        let shown = dir.shown.join(name);
        self.record(format!("touch {}", shown.display()));
        Ok(InRoot { fd: None, shown })
    }
    fn symlink_at(&self, original: &Path, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        let link = dir.shown.join(name);
        self.record(format!("symlink {} {}", original.display(), link.display()));
        Ok(())
    }
    fn remove_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        self.record(format!("rm {}", dir.shown.join(name).display()));
        Ok(())
    }
    fn mknod_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        kind: SFlag,
        mode: u32,
        dev: u64,
    ) -> io::Result<()> {
        if self.mknod_eperm {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let t = if kind == SFlag::S_IFBLK { 'b' } else { 'c' };
        let (maj, min) = (libc::major(dev), libc::minor(dev));
        let path = dir.shown.join(name);
        self.record(format!("mknod {} {t} {maj}:{min} {mode:o}", path.display()));
        Ok(())
    }
    fn chown_at(
        &self,
        dir: &InRoot,
        name: &OsStr,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        let path = dir.shown.join(name);
        self.record(format!("chown {} {uid:?} {gid:?}", path.display()));
        Ok(())
    }
    fn mount_flags(&self, _path: &Path) -> io::Result<MsFlags> {
        Ok(MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.record(format!("hostname {name}"));
        Ok(())
    }
    fn loopback_up(&self) -> io::Result<()> {
        self.record("lo up".into());
        Ok(())
    }
    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.record(format!(
            "write {} {}",
            path.display(),
            String::from_utf8_lossy(contents)
        ));
        Ok(())
    }
}

/// Gives the heap's free pages back to the kernel. Creating a container
/// (libseccomp's compiler above all) grows the heap by about a megabyte
/// that stays resident, unused, for the shim's whole life otherwise.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks;
    // it takes no pointers from us and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
