//! docker's rules for a path in a container (daemon/archive.go): taken as
//! absolute, cleaned, with a trailing `/` or `/.` kept (they mean "the
//! directory itself, through a symlink" and "the directory's contents");
//! the directory holding the last name is resolved, the last name itself
//! is not followed unless a trailing `/` or `/.` says so.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_inroot::{is_dir, resolve_path, RootDir};
use rustix::fs::{AtFlags, FileType, Stat};
use rustix::io::Errno;

/// What `docker cp` learns of a path before it copies (docker's
/// X-Docker-Container-Path-Stat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathStat {
    /// The last name of the path as asked (`.` for `/.`, `/` for `/`).
    pub name: String,
    pub size: i64,
    /// st_mode: the file type bits and the permissions.
    pub mode: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// A symlink's target, resolved inside the container to an absolute
    /// path; empty for anything else.
    pub link_target: String,
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        FileType::from_raw_mode(self.mode) == FileType::Directory
    }
}

/// A container path as docker's daemon takes it: absolute and cleaned
/// (`..` stops at `/`), its trailing `/` or `/.` kept.
pub fn absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let mut abs = format!("/{}", parts.join("/"));
    let sep = if abs == "/" { "" } else { "/" };
    if path == "." || path.ends_with("/.") {
        abs.push_str(sep);
        abs.push('.');
    } else if path.ends_with('/') {
        abs.push_str(sep);
    }
    abs
}

/// docker's (Go's) base name of an absolute path: `b` for `/a/b/`, `.`
/// for `/a/.`, `/` for `/`.
pub fn base(abs: &str) -> String {
    let trimmed = abs.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(".").to_string()
}

/// A path located inside a root: the directory holding it and its last
/// name, or (`/`, a trailing `/` or `/.`) the directory itself.
pub struct Located {
    pub abs: String,
    pub dir: OwnedFd,
    pub name: Option<OsString>,
}

impl Located {
    /// Locates `abs` (see [`absolute`]) in `root`.
    pub fn find(root: &RootDir, abs: &str) -> io::Result<Located> {
        let whole = abs == "/" || abs.ends_with('/') || abs.ends_with("/.");
        let (dir_path, name) = if whole {
            (Path::new(abs), None)
        } else {
            let p = Path::new(abs);
            (
                p.parent().unwrap_or(Path::new("/")),
                p.file_name().map(|n| n.to_owned()),
            )
        };
        let dir = root.resolve(dir_path)?;
        if !is_dir(&dir)? {
            return Err(Errno::NOTDIR.into());
        }
        Ok(Located {
            abs: abs.to_string(),
            dir,
            name,
        })
    }

    /// The object's own stat (a symlink's, not its target's).
    pub fn stat(&self) -> io::Result<Stat> {
        Ok(match &self.name {
            Some(n) => rustix::fs::statat(&self.dir, n, AtFlags::SYMLINK_NOFOLLOW)?,
            None => rustix::fs::fstat(&self.dir)?,
        })
    }

    /// docker's stat of the path; `root` resolves a symlink's target.
    pub fn path_stat(&self, root: &RootDir) -> io::Result<PathStat> {
        let st = self.stat()?;
        let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            self.link_target(root)?
        } else {
            String::new()
        };
        Ok(PathStat {
            name: base(&self.abs),
            size: st.st_size,
            mode: st.st_mode,
            mtime: st.st_mtime,
            link_target,
        })
    }

    /// Where the symlink leads inside the root; for a dangling one, its
    /// target taken from the link's directory, as docker's lexical
    /// resolution does.
    fn link_target(&self, root: &RootDir) -> io::Result<String> {
        match resolve_path(root.as_fd(), Path::new(&self.abs)) {
            Ok((_, p)) => Ok(p.to_string_lossy().into_owned()),
            Err(e) if berth_inroot::is_missing(&e) => {
                let name = self.name.as_deref().unwrap_or_default();
                let target = rustix::fs::readlinkat(&self.dir, name, Vec::new())?;
                let parent = Path::new(&self.abs).parent().unwrap_or(Path::new("/"));
                let joined: PathBuf = parent.join(target.to_string_lossy().as_ref());
                Ok(absolute(&joined.to_string_lossy()))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_docker_trailing_marks() {
        assert_eq!(absolute("etc"), "/etc");
        assert_eq!(absolute("/etc/"), "/etc/");
        assert_eq!(absolute("/etc/."), "/etc/.");
        assert_eq!(absolute("/a/../../etc//x"), "/etc/x");
        assert_eq!(absolute(""), "/");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("."), "/.");
        assert_eq!(absolute("/."), "/.");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/a/b/."), ".");
        assert_eq!(base("/a"), "a");
        assert_eq!(base("/"), "/");
    }
}
