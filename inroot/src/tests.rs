//! The lookup's rules, for openat2 and the walk alike: every escape we
//! know of clamped to the root, loops and missing paths, directories made
//! through symlinks inside the root, and only regular files opened.

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
        ("walk", |r, p| walk(r, p, None)),
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
            real(&open(root.as_fd(), Path::new(p)).unwrap_or_else(|e| panic!("{name} {p}: {e}")))
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
        let b = real(&walk(root.as_fd(), Path::new(p), None).unwrap());
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

#[test]
fn mkdir_all_makes_directories_inside_the_root_through_symlinks() {
    let t = Tree::new();
    let r = t.root();
    let outside = t.secret();
    // An image's /dev aiming out of its rootfs, relative and absolute; the
    // targets do not exist inside the root, so the walk makes them there.
    let up = "../".repeat(20) + outside.to_str().unwrap().trim_start_matches('/');
    symlink(&up, r.join("dev")).unwrap();
    symlink(&outside, r.join("abs")).unwrap();
    symlink("/usr/lib", r.join("lib")).unwrap();
    let root = RootDir::open(&r).unwrap();
    let inside = r.join(outside.strip_prefix("/").unwrap());
    let d = mkdir_all(root.as_fd(), Path::new("/dev/pts"), 0o755).unwrap();
    assert_eq!(real(&d), inside.join("pts"));
    let d = mkdir_all(root.as_fd(), Path::new("/abs/x/y"), 0o755).unwrap();
    assert_eq!(real(&d), inside.join("x/y"));
    let d = mkdir_all(root.as_fd(), Path::new("/lib/new"), 0o755).unwrap();
    assert_eq!(real(&d), r.join("usr/lib/new"));
    let d = mkdir_all(root.as_fd(), Path::new("/etc"), 0o755).unwrap();
    assert_eq!(real(&d), r.join("etc"));
    // The host directory the links named holds only what it had.
    let names: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["passwd"]);
    assert_eq!(
        errno(mkdir_all(root.as_fd(), Path::new("/etc/passwd"), 0o755)),
        Some(libc::ENOTDIR)
    );
    let (dir, name) = parent_of(root.as_fd(), Path::new("/dev/ptmx")).unwrap();
    assert_eq!(name, "ptmx");
    assert_eq!(real(&dir), inside);
}

#[test]
fn symlinks_and_names() {
    let t = Tree::new();
    let r = t.root();
    symlink("proc", r.join("sys")).unwrap();
    fs::create_dir(r.join("proc")).unwrap();
    symlink("/", r.join("etc/root")).unwrap();
    let root = RootDir::open(&r).unwrap();
    let link = |p: &str| is_symlink(root.as_fd(), Path::new(p)).unwrap();
    assert!(link("/sys"));
    assert!(!link("/proc"));
    assert!(link("/etc/root"));
    assert!(!link("/etc"));
    assert!(!link("/none/x"));
    assert!(!link("/"));
    for bad in ["", ".", "..", "a/b"] {
        assert!(check_name(OsStr::new(bad)).is_err(), "{bad:?}");
    }
    assert!(check_name(OsStr::new("ptmx")).is_ok());
    assert_eq!(
        root.read_regular(Path::new("/sys/../etc/passwd"), 100)
            .unwrap()
            .as_deref(),
        Some(&b"ROOT\n"[..])
    );
    assert_eq!(
        root.read_regular(Path::new("/etc/passwd"), 2)
            .unwrap()
            .as_deref(),
        Some(&b"RO"[..])
    );
    assert_eq!(root.read_regular(Path::new("/nope/x"), 100).unwrap(), None);
    assert_eq!(
        root.read_regular(Path::new("/etc/passwd/x"), 100).unwrap(),
        None
    );
}

#[test]
fn resolve_path_names_where_links_lead_inside_the_root() {
    let t = Tree::new();
    let r = t.root();
    symlink("/etc", r.join("usr/lib/etc-abs")).unwrap();
    symlink("../../etc/passwd", r.join("usr/lib/pw")).unwrap();
    symlink("../../../../../..", r.join("usr/up")).unwrap();
    let root = RootDir::open(&r).unwrap();
    let at = |p: &str| resolve_path(root.as_fd(), Path::new(p)).unwrap();
    let (fd, path) = at("usr/lib/etc-abs/passwd");
    assert_eq!(path, Path::new("/etc/passwd"));
    assert_eq!(real(&fd), r.join("etc/passwd"));
    assert_eq!(at("/usr/lib/pw").1, Path::new("/etc/passwd"));
    // `..` above the root stays at the root, in the name too.
    let (fd, path) = at("usr/up/etc");
    assert_eq!(path, Path::new("/etc"));
    assert_eq!(real(&fd), r.join("etc"));
    assert_eq!(at("/").1, Path::new("/"));
    assert!(is_missing(
        &resolve_path(root.as_fd(), Path::new("nope/x")).unwrap_err()
    ));
}
