//! Joining a container path onto the rootfs without leaving it: symlinks
//! met on the way are resolved as if the rootfs were `/`, so
//! `/etc/x -> /../../host` stays inside (the same rule as
//! filepath-securejoin, which runc uses). The container is not running while
//! its mounts are made, so only the image's own symlinks matter here.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// More symlinks than this on one path is a loop.
const MAX_LINKS: usize = 255;

/// `root` joined with `unsafe_path` with every existing symlink resolved
/// inside `root`. Missing components are kept as they are (the caller
/// creates them).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = parts(unsafe_path);
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(&resolved).join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut next = parts(&target);
                next.extend(pending);
                pending = next;
            }
            _ => resolved.push(&part),
        }
    }
    Ok(root.join(resolved))
}

/// The normal and `..` components of a path (`/` and `.` dropped).
fn parts(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        symlink("../../../../..", r.join("etc/up")).unwrap();
        symlink("/../../etc", r.join("escape")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();

        let j = |p: &str| secure_join(r, Path::new(p)).unwrap();
        assert_eq!(j("/lib/x"), r.join("usr/lib/x"));
        assert_eq!(j("/etc/up/tmp"), r.join("tmp"));
        assert_eq!(j("/escape/passwd"), r.join("etc/passwd"));
        assert_eq!(j("/../../../etc"), r.join("etc"));
        assert_eq!(j("/new/dir"), r.join("new/dir"));
        assert_eq!(j("/"), r.to_path_buf());
        let e = secure_join(r, Path::new("/loop1/x")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }
}
