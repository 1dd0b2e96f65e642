//! Setting file metadata without following symlinks: owner, mode, times, xattrs, device nodes.
//! Shared by layer apply and the native backend's tree copy.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// The xattr namespace overlayfs keeps its own state in; never copied from layers or lower
/// trees, so a layer cannot plant redirects or opaque markers of its own choosing.
pub(crate) const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

pub(crate) fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

pub(crate) fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// chmod; callers guarantee `path` is not a symlink (Linux cannot chmod a symlink).
pub(crate) fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
}

/// Sets atime and mtime of `path` itself (not a symlink's target).
pub(crate) fn set_times(path: &Path, atime: TimeSpec, mtime: TimeSpec) -> io::Result<()> {
    nix::sys::stat::utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(errno)
}

/// Creates a device node, fifo or socket node; `kind` is the `S_IFMT` part of a mode.
pub(crate) fn mknod(path: &Path, kind: SFlag, mode: u32, major: u64, minor: u64) -> io::Result<()> {
    let dev = nix::sys::stat::makedev(major, minor);
    nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(mode & 0o7777), dev).map_err(errno)
}

/// True for errors that mean "this file system or file type does not take xattrs".
pub(crate) fn xattr_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTSUP) | Some(libc::EPERM) | Some(libc::EINVAL)
    )
}

/// Copies the xattrs of `src` to `dst` (both not followed), except overlayfs' own.
pub(crate) fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let names = match xattr::list(src) {
        Ok(n) => n,
        Err(e) if xattr_unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if name.to_string_lossy().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Some(value) = xattr::get(src, &name)? {
            match xattr::set(dst, &name, &value) {
                Ok(()) => {}
                // user.* xattrs cannot be set on symlinks; the kernel says EPERM.
                Err(e) if xattr_unsupported(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
