//! The system calls the container init makes while it builds the
//! container's filesystem, behind a trait (as youki does): the real
//! implementation calls the kernel, the recording fake lets unit tests check
//! which mounts happen, in which order and with which flags, without root.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::unistd::{chown, fchdir, pivot_root, sethostname, Gid, Uid};

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
    /// `mkdir -p`, mode 0755; existing directories are fine.
    fn mkdir_all(&self, path: &Path) -> io::Result<()>;
    /// Create an empty file (a bind-mount target) unless it exists.
    fn create_file(&self, path: &Path) -> io::Result<()>;
    fn symlink(&self, original: &Path, link: &Path) -> io::Result<()>;
    /// Remove a file or symlink; missing is fine.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> io::Result<()>;
    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()>;
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

    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        if path.is_dir() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path)
    }

    fn create_file(&self, path: &Path) -> io::Result<()> {
        if path.symlink_metadata().is_ok() {
            return Ok(());
        }
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map(drop)
    }

    fn symlink(&self, original: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(original, link)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> io::Result<()> {
        mknod(path, kind, Mode::from_bits_truncate(mode), dev).map_err(errno)
    }

    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        chown(path, uid.map(Uid::from_raw), gid.map(Gid::from_raw)).map_err(errno)
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
    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        self.record(format!("mkdir {}", path.display()));
        Ok(())
    }
    fn create_file(&self, path: &Path) -> io::Result<()> {
        self.record(format!("touch {}", path.display()));
        Ok(())
    }
    fn symlink(&self, original: &Path, link: &Path) -> io::Result<()> {
        self.record(format!("symlink {} {}", original.display(), link.display()));
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.record(format!("rm {}", path.display()));
        Ok(())
    }
    fn mknod(&self, path: &Path, kind: SFlag, mode: u32, dev: u64) -> io::Result<()> {
        if self.mknod_eperm {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let t = if kind == SFlag::S_IFBLK { 'b' } else { 'c' };
        let (maj, min) = (libc::major(dev), libc::minor(dev));
        self.record(format!("mknod {} {t} {maj}:{min} {mode:o}", path.display()));
        Ok(())
    }
    fn chown(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
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
