//! A conformance suite every `Snapshotter` backend must pass (containerd's
//! `snapshots/testsuite` in spirit). Enabled by the `testsuite` feature; the crate's own tests
//! run it against the overlayfs and native backends.
//!
//! Call [`run_all`] with a constructor that opens the backend at a given root; it is called
//! again on the same root to test persistence, after the previous instance was dropped.
//! The suite mounts for real and therefore needs root; it fails (rather than skipping) without.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{mount_all, unmount, ErrorKind, Kind, Labels, Mount, SnapshotError, Snapshotter};

/// Opens a backend rooted at the given directory.
pub type Constructor<'a> = &'a dyn Fn(&Path) -> Box<dyn Snapshotter>;

/// One conformance case.
pub type Case = fn(Constructor<'_>);

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("lifecycle", lifecycle),
    ("parent_chain", parent_chain),
    ("already_exists", already_exists),
    ("not_found_and_preconditions", not_found_and_preconditions),
    ("remove_with_children", remove_with_children),
    ("walk_lists_all", walk_lists_all),
    ("usage_counts", usage_counts),
    ("persists_across_reopen", persists_across_reopen),
    ("remove_deletes_directories", remove_deletes_directories),
    ("arbitrary_keys", arbitrary_keys),
    ("orphans_cleaned_at_open", orphans_cleaned_at_open),
];

/// Runs every case, each in a fresh temporary root.
pub fn run_all(new: Constructor<'_>) {
    require_root();
    for (name, case) in CASES {
        eprintln!("snapshotter testsuite: {name}");
        case(new);
    }
}

/// Fails with a clear message when not root: these tests mount.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the snapshotter testsuite mounts file systems and must run as root"
    );
}

/// A temporary directory with the snapshot's mounts on it; unmounted on drop.
pub struct Mounted {
    dir: tempfile::TempDir,
}

impl Mounted {
    pub fn new(mounts: &[Mount]) -> Self {
        let dir = tempfile::tempdir().expect("create mount point");
        mount_all(mounts, dir.path()).expect("mount snapshot");
        Mounted { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount(self.dir.path());
    }
}

fn kind_of(r: Result<impl std::fmt::Debug, SnapshotError>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Prepares `key` on `parent`, writes `files` (path, content; content "" deletes), commits
/// it as `name`.
pub fn commit_layer(
    sn: &dyn Snapshotter,
    name: &str,
    parent: Option<&str>,
    files: &[(&str, &str)],
) {
    let key = format!("prepare-{name}");
    let mounts = sn.prepare(&key, parent, Labels::new()).expect("prepare");
    {
        let m = Mounted::new(&mounts);
        for (path, content) in files {
            let p = m.join(path);
            if content.is_empty() {
                fs::remove_file(&p).expect("delete file");
            } else {
                if let Some(d) = p.parent() {
                    fs::create_dir_all(d).expect("mkdir");
                }
                fs::write(&p, content).expect("write file");
            }
        }
    }
    sn.commit(name, &key, Labels::new()).expect("commit");
}

fn read(m: &Mounted, path: &str) -> Option<String> {
    fs::read_to_string(m.join(path)).ok()
}

pub fn lifecycle(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    let mounts = sn
        .prepare("active", None, labels(&[("a", "1")]))
        .expect("prepare");
    assert_eq!(sn.mounts("active").expect("mounts"), mounts);
    let info = sn.stat("active").expect("stat");
    assert_eq!(info.kind, Kind::Active);
    assert_eq!(info.parent, None);
    assert_eq!(info.labels, labels(&[("a", "1")]));
    {
        let m = Mounted::new(&mounts);
        fs::write(m.join("hello"), "world").expect("write through active mount");
    }
    sn.commit("base", "active", labels(&[("b", "2")]))
        .expect("commit");
    assert_eq!(kind_of(sn.stat("active")), ErrorKind::NotFound);
    let info = sn.stat("base").expect("stat committed");
    assert_eq!(info.kind, Kind::Committed);
    assert_eq!(info.labels, labels(&[("b", "2")]));
    assert_eq!(kind_of(sn.mounts("base")), ErrorKind::FailedPrecondition);

    let vm = sn.view("view", Some("base"), Labels::new()).expect("view");
    assert_eq!(sn.stat("view").expect("stat view").kind, Kind::View);
    {
        let m = Mounted::new(&vm);
        assert_eq!(read(&m, "hello").as_deref(), Some("world"));
        assert!(
            fs::write(m.join("new"), "x").is_err(),
            "a view must be read-only"
        );
    }
    assert_eq!(
        kind_of(sn.commit("x", "view", Labels::new())),
        ErrorKind::FailedPrecondition
    );
    sn.remove("view").expect("remove view");
    assert_eq!(kind_of(sn.stat("view")), ErrorKind::NotFound);

    let cm = sn
        .prepare("child", Some("base"), Labels::new())
        .expect("prepare child");
    let m = Mounted::new(&cm);
    assert_eq!(read(&m, "hello").as_deref(), Some("world"));
    fs::write(m.join("hello"), "changed").expect("write child");
    drop(m);
    // The committed parent does not change when a child does.
    let vm = sn.view("view2", Some("base"), Labels::new()).expect("view");
    let m = Mounted::new(&vm);
    assert_eq!(read(&m, "hello").as_deref(), Some("world"));
    drop(m);
    assert_eq!(
        sn.stat("child").expect("stat").parent.as_deref(),
        Some("base")
    );
}

pub fn parent_chain(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    commit_layer(
        &*sn,
        "l1",
        None,
        &[("a", "1"), ("dir/x", "x1"), ("gone", "g")],
    );
    commit_layer(&*sn, "l2", Some("l1"), &[("b", "2"), ("dir/x", "x2")]);
    commit_layer(&*sn, "l3", Some("l2"), &[("c", "3"), ("gone", "")]);
    let mounts = sn
        .prepare("top", Some("l3"), Labels::new())
        .expect("prepare");
    let m = Mounted::new(&mounts);
    assert_eq!(read(&m, "a").as_deref(), Some("1"));
    assert_eq!(read(&m, "b").as_deref(), Some("2"));
    assert_eq!(read(&m, "c").as_deref(), Some("3"));
    assert_eq!(read(&m, "dir/x").as_deref(), Some("x2"));
    assert_eq!(read(&m, "gone"), None, "a deleted file must stay deleted");
    fs::write(m.join("d"), "4").expect("write top");
    drop(m);
    for parent in ["l1", "l3"] {
        let key = format!("view-{parent}");
        let vm = sn.view(&key, Some(parent), Labels::new()).expect("view");
        let m = Mounted::new(&vm);
        assert_eq!(read(&m, "a").as_deref(), Some("1"));
        assert_eq!(read(&m, "d"), None, "views must not see active changes");
        if parent == "l3" {
            assert_eq!(read(&m, "c").as_deref(), Some("3"));
            assert_eq!(read(&m, "gone"), None);
        } else {
            assert_eq!(read(&m, "b"), None);
            assert_eq!(read(&m, "gone").as_deref(), Some("g"));
        }
    }
}

pub fn already_exists(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    commit_layer(&*sn, "base", None, &[("f", "1")]);
    sn.prepare("k", Some("base"), Labels::new())
        .expect("prepare");
    assert_eq!(
        kind_of(sn.prepare("k", None, Labels::new())),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind_of(sn.view("k", None, Labels::new())),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind_of(sn.prepare("base", None, Labels::new())),
        ErrorKind::AlreadyExists
    );
    sn.view("v", Some("base"), Labels::new()).expect("view");
    assert_eq!(
        kind_of(sn.prepare("v", None, Labels::new())),
        ErrorKind::AlreadyExists
    );
    for name in ["base", "v", "k"] {
        let err = sn
            .commit(name, "k", Labels::new())
            .expect_err("name in use");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(
            err.to_string().contains(name),
            "message names the key: {err}"
        );
    }
    // The failed commits left the active snapshot intact.
    assert_eq!(sn.stat("k").expect("stat").kind, Kind::Active);
}

pub fn not_found_and_preconditions(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    let err = sn.stat("nope").expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nope"));
    assert_eq!(kind_of(sn.usage("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(sn.mounts("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(sn.remove("nope")), ErrorKind::NotFound);
    assert_eq!(
        kind_of(sn.commit("n", "nope", Labels::new())),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(sn.prepare("k", Some("missing-parent"), Labels::new())),
        ErrorKind::NotFound
    );
    sn.prepare("active", None, Labels::new()).expect("prepare");
    assert_eq!(
        kind_of(sn.prepare("k", Some("active"), Labels::new())),
        ErrorKind::FailedPrecondition,
        "an active snapshot cannot be a parent"
    );
    sn.view("v", None, Labels::new()).expect("view");
    assert_eq!(
        kind_of(sn.view("k", Some("v"), Labels::new())),
        ErrorKind::FailedPrecondition,
        "a view cannot be a parent"
    );
    assert_eq!(
        kind_of(sn.prepare("", None, Labels::new())),
        ErrorKind::InvalidArgument
    );
    // Nothing was created by the failures.
    let mut n = 0;
    sn.walk(&mut |_| {
        n += 1;
        Ok(())
    })
    .expect("walk");
    assert_eq!(n, 2);
}

pub fn remove_with_children(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    commit_layer(&*sn, "base", None, &[("f", "1")]);
    commit_layer(&*sn, "mid", Some("base"), &[("g", "2")]);
    sn.prepare("child", Some("mid"), Labels::new())
        .expect("prepare");
    let err = sn.remove("mid").expect_err("has children");
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("mid"));
    assert_eq!(kind_of(sn.remove("base")), ErrorKind::FailedPrecondition);
    sn.remove("child").expect("remove child");
    sn.remove("mid").expect("remove mid");
    sn.remove("base").expect("remove base");
}

pub fn walk_lists_all(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    commit_layer(&*sn, "c1", None, &[("f", "1")]);
    sn.prepare("a1", Some("c1"), labels(&[("x", "y")]))
        .expect("prepare");
    sn.view("v1", Some("c1"), Labels::new()).expect("view");
    let mut seen = Vec::new();
    sn.walk(&mut |i| {
        seen.push((i.name.clone(), i.kind, i.parent.clone()));
        Ok(())
    })
    .expect("walk");
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            ("a1".to_string(), Kind::Active, Some("c1".to_string())),
            ("c1".to_string(), Kind::Committed, None),
            ("v1".to_string(), Kind::View, Some("c1".to_string())),
        ]
    );
    // walk may call back into the snapshotter, and its errors stop the walk.
    let mut calls = 0;
    let r = sn.walk(&mut |i| {
        calls += 1;
        sn.stat(&i.name).map(|_| ())?;
        Err(SnapshotError::not_found("stop"))
    });
    assert!(r.is_err());
    assert_eq!(calls, 1);
}

pub fn usage_counts(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    let mounts = sn.prepare("a", None, Labels::new()).expect("prepare");
    let empty = sn.usage("a").expect("usage");
    {
        let m = Mounted::new(&mounts);
        fs::write(m.join("big"), vec![7u8; 256 * 1024]).expect("write");
        fs::create_dir(m.join("d")).expect("mkdir");
        fs::write(m.join("d/small"), "x").expect("write");
    }
    let u = sn.usage("a").expect("usage");
    assert!(u.size >= empty.size + 256 * 1024, "{u:?} vs {empty:?}");
    assert_eq!(u.inodes, empty.inodes + 3, "{u:?} vs {empty:?}");
    sn.commit("c", "a", Labels::new()).expect("commit");
    assert_eq!(sn.usage("c").expect("usage"), u);
}

pub fn persists_across_reopen(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let (before, mounts) = {
        let sn = new(root.path());
        commit_layer(&*sn, "base", None, &[("f", "persist")]);
        let mounts = sn
            .prepare("work key", Some("base"), labels(&[("l", "v")]))
            .expect("prepare");
        (sn.stat("work key").expect("stat"), mounts)
    };
    let sn = new(root.path());
    assert_eq!(sn.stat("work key").expect("stat after reopen"), before);
    assert_eq!(sn.mounts("work key").expect("mounts"), mounts);
    assert_eq!(sn.stat("base").expect("stat").kind, Kind::Committed);
    let m = Mounted::new(&mounts);
    assert_eq!(read(&m, "f").as_deref(), Some("persist"));
    drop(m);
    // New snapshots get fresh directories.
    let fresh = sn.prepare("fresh", None, Labels::new()).expect("prepare");
    assert_ne!(fresh, mounts);
    let m = Mounted::new(&fresh);
    assert_eq!(read(&m, "f"), None);
}

fn snapshot_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("snapshots"))
        .expect("list snapshots dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn remove_deletes_directories(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    assert!(snapshot_dirs(root.path()).is_empty());
    commit_layer(&*sn, "base", None, &[("f", "1")]);
    sn.prepare("a", Some("base"), Labels::new())
        .expect("prepare");
    sn.view("v", Some("base"), Labels::new()).expect("view");
    assert_eq!(snapshot_dirs(root.path()).len(), 3);
    for key in ["a", "v", "base"] {
        sn.remove(key).expect("remove");
    }
    assert!(
        snapshot_dirs(root.path()).is_empty(),
        "left behind: {:?}",
        snapshot_dirs(root.path())
    );
}

pub fn arbitrary_keys(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    let sn = new(root.path());
    let key = "extract-1234 sha256:abcd/../../etc x";
    let name = "sha256:0123456789abcdef";
    sn.prepare(key, None, Labels::new())
        .expect("prepare odd key");
    sn.commit(name, key, Labels::new()).expect("commit");
    sn.prepare("../../escape", Some(name), Labels::new())
        .expect("prepare");
    assert_eq!(
        sn.stat("../../escape").expect("stat").parent.as_deref(),
        Some(name)
    );
    assert!(!root
        .path()
        .parent()
        .expect("parent")
        .join("escape")
        .exists());
}

pub fn orphans_cleaned_at_open(new: Constructor<'_>) {
    let root = tempfile::tempdir().expect("tempdir");
    {
        let sn = new(root.path());
        sn.prepare("keep", None, Labels::new()).expect("prepare");
    }
    let orphan = root.path().join("snapshots/999999");
    fs::create_dir_all(orphan.join("fs/sub")).expect("make orphan");
    let sn = new(root.path());
    assert!(
        !orphan.exists(),
        "orphaned snapshot directory survived open"
    );
    sn.stat("keep").expect("kept snapshot survives");
    assert_eq!(snapshot_dirs(root.path()).len(), 1);
}
