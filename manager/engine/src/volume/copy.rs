//! Copy-up: a new, empty volume mounted over a path that has content in
//! the image gets that content before the container first runs (docker
//! does it at create), with owners, modes, times, extended attributes,
//! symlinks (as links), device nodes and fifos, and hard links within the
//! copy. A volume that holds anything is never written to.
//!
//! The source is a directory descriptor the caller resolved inside the
//! container's root (berth-inroot), so the image's symlinks never lead the
//! copy out of it; below it nothing is followed: only real directories are
//! descended into.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{lchown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{mknodat, utimensat, AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use crate::error::{IoContext, Result};

/// Copies the directory `src` (an O_PATH descriptor) into `data` if `data`
/// is empty; whether it copied.
pub fn copy_up(src: impl AsFd, data: &Path) -> Result<bool> {
    let empty = fs::read_dir(data)
        .ctx(|| format!("read {}", data.display()))?
        .next()
        .is_none();
    if !empty {
        return Ok(false);
    }
    let src = berth_inroot::proc_path(src.as_fd());
    let meta = fs::metadata(&src).ctx(|| "stat the image's directory".to_string())?;
    if !meta.is_dir() {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_dir(&src, data, &mut links)
        .ctx(|| format!("copy the image's files into {}", data.display()))?;
    copy_attrs(&src, data, &meta)
        .ctx(|| format!("copy the image's owner onto {}", data.display()))?;
    Ok(true)
}

/// Copies the entries of `src` into the existing directory `dst`.
fn copy_dir(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> io::Result<()> {
    for e in fs::read_dir(src)? {
        let e = e?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let meta = fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&to)?;
            copy_dir(&from, &to, links)?;
        } else if meta.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &to)?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), to.clone());
            copy_entry(&from, &to, &meta)?;
        } else {
            copy_entry(&from, &to, &meta)?;
        }
        copy_attrs(&from, &to, &meta)?;
    }
    Ok(())
}

/// Makes the non-directory `to` as `from` is.
fn copy_entry(from: &Path, to: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        symlink(fs::read_link(from)?, to)
    } else if ft.is_file() {
        fs::copy(from, to).map(|_| ())
    } else {
        let kind = if ft.is_fifo() {
            FileType::Fifo
        } else if ft.is_char_device() {
            FileType::CharacterDevice
        } else if ft.is_block_device() {
            FileType::BlockDevice
        } else {
            // A socket is a live object, not content: docker skips it too.
            return Ok(());
        };
        let mode = Mode::from_raw_mode(meta.mode() & 0o7777);
        mknodat(CWD, to, kind, mode, meta.rdev()).map_err(io::Error::from)
    }
}

/// Owner, mode, extended attributes and times of `from` onto `to`.
fn copy_attrs(from: &Path, to: &Path, meta: &fs::Metadata) -> io::Result<()> {
    lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        // After the chown, which clears setuid and setgid bits.
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        for name in xattr::list(from)? {
            if let Some(value) = xattr::get(from, &name)? {
                xattr::set(to, &name, &value)?;
            }
        }
    }
    let ts = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}
