//! The local side of `cp`, with docker's archive rules (docker's
//! pkg/archive copy.go, learned from, not copied): what a source path
//! names (CopyInfo), where a copy lands (the destination's directory and
//! the name the archive's top entry takes there), packing a local path
//! and unpacking a container's archive under the name it must take.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::CliError;

/// What a path of one side of a copy is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    /// The name the top entry takes instead of the path's own base (a
    /// followed link keeps the name it was asked by).
    pub rebase_name: Option<String>,
}

/// Go's filepath.Clean: one `/` between names, `.` dropped, `..` taken
/// back lexically (and dropped at `/`), "." for nothing.
pub fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if out.last().is_some_and(|p| *p != "..") => {
                out.pop();
            }
            ".." if abs => {}
            p => out.push(p),
        }
    }
    match (abs, out.is_empty()) {
        (true, _) => format!("/{}", out.join("/")),
        (false, true) => ".".into(),
        (false, false) => out.join("/"),
    }
}

/// Go's filepath.Base.
pub fn base(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match (path.is_empty(), t.is_empty()) {
        (true, _) => ".".into(),
        (false, true) => "/".into(),
        _ => t.rsplit('/').next().unwrap_or(".").into(),
    }
}

/// Go's filepath.Dir.
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".into(),
    }
}

fn has_trailing_sep(path: &str) -> bool {
    path.ends_with('/')
}

fn specifies_current_dir(path: &str) -> bool {
    base(path) == "."
}

/// A path that can only name a directory.
pub fn asserts_directory(path: &str) -> bool {
    has_trailing_sep(path) || specifies_current_dir(path)
}

/// `clean`'d, with the trailing `/` or `/.` of `original` put back.
pub fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut p = cleaned.to_string();
    if specifies_current_dir(original) && !specifies_current_dir(&p) {
        if !has_trailing_sep(&p) {
            p.push('/');
        }
        p.push('.');
    } else if has_trailing_sep(original) && !has_trailing_sep(&p) {
        p.push('/');
    }
    p
}

/// The directory of a path and its last name, `.` kept as a name.
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str(if cleaned.ends_with('/') { "." } else { "/." });
    }
    (dir(&cleaned), base(&cleaned))
}

/// `resolved` given `path`'s trailing marks, and the name to rebase to
/// when the last names differ.
pub fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut r = resolved.to_string();
    if has_trailing_sep(path) && !has_trailing_sep(&r) {
        r.push('/');
    }
    if specifies_current_dir(path) && !specifies_current_dir(&r) {
        r.push_str(if r.ends_with('/') { "." } else { "/." });
    }
    let rebase = (base(path) != base(&r)).then(|| base(path));
    (r, rebase)
}

/// An absolute local path, `..` taken back, trailing marks kept.
pub fn absolute_local(path: &str) -> Result<String, CliError> {
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(|e| CliError::io("current directory", e))?;
        format!("{}/{path}", cwd.display())
    };
    Ok(preserve_trailing(&clean(&abs), path))
}

/// Go's error text for a failed syscall on a path: "lstat P: no such file
/// or directory".
pub fn go_error(op: &str, path: &str, e: &io::Error) -> CliError {
    let mut why = e.to_string();
    if let Some(i) = why.find(" (os error") {
        why.truncate(i);
    }
    let why = match why.chars().next() {
        Some(c) => c.to_lowercase().collect::<String>() + &why[c.len_utf8()..],
        None => why,
    };
    CliError::Cp(format!("{op} {path}: {why}"))
}

fn canonical(path: &str) -> Result<String, CliError> {
    fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| go_error("lstat", path, &e))
}

/// A local source: its directory's symlinks resolved, the last name
/// followed only with `-L` (docker's CopyInfoSourcePath).
pub fn source_info(path: &str, follow: bool) -> Result<CopyInfo, CliError> {
    let (resolved, rebase) = if follow {
        rebase_name(path, &canonical(path)?)
    } else {
        let (d, b) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("./", path),
        };
        let resolved = format!("{}/{b}", canonical(d)?);
        let rebase = (has_trailing_sep(path) && base(path) != base(&resolved)).then(|| base(path));
        (resolved, rebase)
    };
    let st = fs::symlink_metadata(&resolved).map_err(|e| go_error("lstat", &resolved, &e))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: st.is_dir(),
        rebase_name: rebase,
    })
}

/// A local destination: symlinks at it followed (a dangling one names what
/// to create); its parent must exist (docker's CopyInfoDestinationPath).
pub fn destination_info(path: &str) -> Result<CopyInfo, CliError> {
    let mut path = path.to_string();
    for _ in 0..=10 {
        match fs::symlink_metadata(&path) {
            Ok(st) if st.file_type().is_symlink() => {
                let target = fs::read_link(&path).map_err(|e| go_error("readlink", &path, &e))?;
                let target = target.to_string_lossy();
                path = if target.starts_with('/') {
                    target.into_owned()
                } else {
                    clean(&format!("{}/{target}", split_path_dir_entry(&path).0))
                };
            }
            Ok(st) => {
                return Ok(CopyInfo {
                    path,
                    exists: true,
                    is_dir: st.is_dir(),
                    rebase_name: None,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = split_path_dir_entry(&path).0;
                let st = fs::metadata(&parent).map_err(|e| go_error("stat", &parent, &e))?;
                if !st.is_dir() {
                    return Err(CliError::Cp("not a directory".into()));
                }
                return Ok(CopyInfo {
                    path,
                    ..Default::default()
                });
            }
            Err(e) => return Err(go_error("lstat", &path, &e)),
        }
    }
    Err(CliError::Cp(format!("too many symlinks in {path}")))
}

/// Where an archive of `src` is extracted for `dst`, and the name its top
/// entry takes there (docker's PrepareArchiveCopy).
pub fn prepare(src: &CopyInfo, dst: &CopyInfo) -> Result<(String, String), CliError> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let src_base = src
        .rebase_name
        .clone()
        .unwrap_or_else(|| split_path_dir_entry(&src.path).1);
    match (dst.exists, dst.is_dir, src.is_dir) {
        (true, true, _) => Ok((dst.path.clone(), src_base)),
        (true, false, true) => Err(CliError::Cp("cannot copy directory".into())),
        (false, _, false) if asserts_directory(&dst.path) => {
            Err(CliError::Cp("no such directory".into()))
        }
        _ => Ok((dst_dir, dst_base)),
    }
}

/// A tar stream of the local `src` with its top entry named `top`.
pub fn pack(src: &CopyInfo, top: &str, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let path = src.path.trim_end_matches("/.");
    if src.is_dir {
        tar.append_dir_all(top, path)?;
    } else {
        tar.append_path_with_name(path, top)?;
    }
    tar.into_inner()?.flush()
}

/// `name` with its first component `old` replaced by `new` (`.` as `old`:
/// every entry is under it).
pub fn rebase(name: &Path, old: &str, new: &str) -> PathBuf {
    if old == new {
        return name.to_path_buf();
    }
    let rest: PathBuf = if old == "." {
        name.components()
            .filter(|c| *c != Component::CurDir)
            .collect()
    } else {
        match name.strip_prefix(old) {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => return name.to_path_buf(),
        }
    };
    Path::new(new).join(rest)
}

/// Extracts a container's archive (top entry `old`) into `dir` under the
/// name `new`: files replace files, directories merge, a directory never
/// replaces a non-directory nor the reverse; no entry lands outside `dir`
/// (a symlink an earlier entry made is not followed out of it). Files are
/// the caller's own: ownership is not restored.
pub fn unpack(archive: impl Read, dir: &str, old: &str, new: &str) -> Result<(), CliError> {
    let root = fs::canonicalize(dir).map_err(|e| go_error("stat", dir, &e))?;
    let mut ar = tar::Archive::new(archive);
    let bad = |e: io::Error| CliError::io("read the archive", e);
    let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = rebase(&entry.path().map_err(bad)?, old, new);
        let target = inside(&root, &name)?;
        if target == root {
            continue;
        }
        let kind = entry.header().entry_type();
        clear(&target, kind.is_dir())?;
        if kind.is_hard_link() {
            let link = entry.link_name().map_err(bad)?.unwrap_or_default();
            let from = inside(&root, &rebase(&link, old, new))?;
            fs::hard_link(&from, &target)
                .map_err(|e| go_error("link", &target.to_string_lossy(), &e))?;
            continue;
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        // docker's copy out sets the archive's xattrs (file capabilities).
        entry.set_unpack_xattrs(true);
        entry
            .unpack(&target)
            .map_err(|e| CliError::io(format!("extract {}", target.display()), e))?;
        if kind.is_dir() {
            dirs.push((target, entry.header().mtime().unwrap_or(0)));
        }
    }
    // Directory times last, deepest first: their entries changed them.
    for (dir, mtime) in dirs.iter().rev() {
        set_mtime(dir, *mtime)?;
    }
    Ok(())
}

fn set_mtime(dir: &Path, mtime: u64) -> Result<(), CliError> {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
    fs::File::open(dir)
        .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t)))
        .map_err(|e| CliError::io(format!("set the times of {}", dir.display()), e))
}

/// `root/name` once its directory (made if missing) is known to be inside
/// `root` with every symlink resolved.
fn inside(root: &Path, name: &Path) -> Result<PathBuf, CliError> {
    let mut rel = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            _ => {
                return Err(CliError::Cp(format!(
                    "invalid archive entry {}",
                    name.display()
                )))
            }
        }
    }
    let target = root.join(&rel);
    let Some(parent) = target.parent().filter(|_| !rel.as_os_str().is_empty()) else {
        return Ok(target);
    };
    fs::create_dir_all(parent).map_err(|e| go_error("mkdir", &parent.to_string_lossy(), &e))?;
    let real =
        fs::canonicalize(parent).map_err(|e| go_error("stat", &parent.to_string_lossy(), &e))?;
    if !real.starts_with(root) {
        return Err(CliError::Cp(format!(
            "invalid archive entry {}: outside of {}",
            name.display(),
            root.display()
        )));
    }
    Ok(real.join(target.file_name().unwrap_or_default()))
}

/// Makes room for an entry at `target` (docker's NoOverwriteDirNonDir).
fn clear(target: &Path, is_dir: bool) -> Result<(), CliError> {
    let Ok(st) = fs::symlink_metadata(target) else {
        return Ok(());
    };
    let shown = target.to_string_lossy();
    match (st.is_dir(), is_dir) {
        (true, true) => Ok(()),
        (true, false) => Err(CliError::Cp(format!(
            "cannot overwrite directory {shown:?} with non-directory"
        ))),
        (false, true) => Err(CliError::Cp(format!(
            "cannot overwrite non-directory {shown:?} with directory"
        ))),
        (false, false) => fs::remove_file(target).map_err(|e| go_error("remove", &shown, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_rules() {
        assert_eq!(clean("/a//b/./../c/"), "/a/c");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean(""), ".");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_path_dir_entry("b"), (".".into(), "b".into()));
        assert_eq!(preserve_trailing("/x/d", "d/."), "/x/d/.");
        assert_eq!(preserve_trailing("/x/d", "d/"), "/x/d/");
        assert!(asserts_directory("/x/"));
        assert!(asserts_directory("/x/."));
        assert!(!asserts_directory("/x"));
        assert_eq!(
            rebase_name("/data/link/", "/data/target"),
            ("/data/target/".into(), Some("link".into()))
        );
        assert_eq!(rebase_name("/a/f", "/a/f"), ("/a/f".into(), None));
    }

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: None,
        }
    }

    #[test]
    fn where_a_copy_lands() {
        let file = info("/src/f", true, false);
        let dir = info("/src/d", true, true);
        let contents = info("/src/d/.", true, true);
        let into = info("/dst", true, true);
        assert_eq!(prepare(&file, &into).unwrap(), ("/dst".into(), "f".into()));
        assert_eq!(
            prepare(&contents, &into).unwrap(),
            ("/dst".into(), ".".into())
        );
        let new = info("/dst/new", false, false);
        assert_eq!(prepare(&dir, &new).unwrap(), ("/dst".into(), "new".into()));
        assert_eq!(prepare(&file, &new).unwrap(), ("/dst".into(), "new".into()));
        let onto_file = info("/dst/file", true, false);
        assert_eq!(
            prepare(&file, &onto_file).unwrap(),
            ("/dst".into(), "file".into())
        );
        assert_eq!(
            prepare(&dir, &onto_file).unwrap_err().to_string(),
            "cannot copy directory"
        );
        let new_dir = info("/dst/new/", false, false);
        assert_eq!(
            prepare(&file, &new_dir).unwrap_err().to_string(),
            "no such directory"
        );
    }

    #[test]
    fn rebasing_names() {
        assert_eq!(rebase(Path::new("d/a"), "d", "new"), PathBuf::from("new/a"));
        assert_eq!(rebase(Path::new("d"), "d", "new"), PathBuf::from("new"));
        assert_eq!(rebase(Path::new("dd/a"), "d", "new"), PathBuf::from("dd/a"));
        assert_eq!(
            rebase(Path::new("a/b"), ".", "new"),
            PathBuf::from("new/a/b")
        );
        assert_eq!(rebase(Path::new("."), ".", "new"), PathBuf::from("new"));
    }
}
