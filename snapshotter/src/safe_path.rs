//! Checking untrusted paths (from layers and archives) before the applier writes them under a root.
//! A path into a container's root that a running container can change is resolved with
//! `berth_inroot` instead: these checks hold only while one writer owns the tree.
//!
//! The rules: the path is cleaned lexically (absolute paths are re-rooted, `.` dropped, `..`
//! resolved) and refused if a `..` climbs above the root; then no *existing* component above
//! the last may be a symlink or a non-directory, because writing through it would follow the
//! link. Symlinks are never followed, not even ones that point inside the root: a layer's
//! symlink targets are meant for the container's view of the tree, not the host's.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Escape {
    /// A `..` climbs above the root.
    ClimbsOut,
    /// A component above the last (relative to the root) is a symlink.
    ThroughSymlink(PathBuf),
    /// A component above the last exists but is not a directory.
    NotADirectory(PathBuf),
}

impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Escape::ClimbsOut => f.write_str("escapes the snapshot root"),
            Escape::ThroughSymlink(p) => write!(
                f,
                "escapes the snapshot root through the symlink {:?}",
                p.display().to_string()
            ),
            Escape::NotADirectory(p) => write!(
                f,
                "escapes the snapshot root: its parent {:?} is not a directory",
                p.display().to_string()
            ),
        }
    }
}

/// Lexically cleans `untrusted` into a path relative to the root (empty = the root itself).
pub fn clean_relative(untrusted: &Path) -> Result<PathBuf, Escape> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in untrusted.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(Escape::ClimbsOut);
                }
            }
            Component::Normal(n) => parts.push(n),
        }
    }
    Ok(parts.iter().collect())
}

/// Checks that every existing component of `rel` above the last is a real directory under
/// `root`. Components after the first missing one cannot be symlinks yet.
pub fn check_parents(root: &Path, rel: &Path) -> Result<(), Escape> {
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    let mut cur = PathBuf::new();
    for c in parent.components() {
        cur.push(c);
        match std::fs::symlink_metadata(root.join(&cur)) {
            Ok(m) if m.file_type().is_symlink() => return Err(Escape::ThroughSymlink(cur)),
            Ok(m) if !m.is_dir() => return Err(Escape::NotADirectory(cur)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => return Err(Escape::NotADirectory(cur)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        let ok = |p: &str| clean_relative(Path::new(p)).expect(p);
        assert_eq!(ok("/etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(ok("./a/./b/"), PathBuf::from("a/b"));
        assert_eq!(ok("a/../b"), PathBuf::from("b"));
        assert_eq!(ok("/"), PathBuf::new());
    }

    #[test]
    fn climbing_out_is_refused() {
        for p in ["../x", "a/../../x", "..", "./../x"] {
            assert_eq!(clean_relative(Path::new(p)), Err(Escape::ClimbsOut), "{p}");
        }
    }

    /// What the layer applier checks before it writes `untrusted` under `root`.
    fn check(root: &Path, untrusted: &str) -> Result<(), Escape> {
        check_parents(root, &clean_relative(Path::new(untrusted))?)
    }

    #[test]
    fn symlink_parents_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).expect("symlink");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        assert_eq!(
            check(dir.path(), "link/passwd"),
            Err(Escape::ThroughSymlink(PathBuf::from("link")))
        );
        assert!(check(dir.path(), "link").is_ok());
        assert_eq!(check(dir.path(), "/d/x/y"), Ok(()));
    }
}
