//! Round trip: changes made in an active snapshot → write_diff → apply_layer onto a fresh
//! snapshot of the same parent → the two trees are identical. Run on both backends.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::*;
use crate::testsuite::{require_root, Mounted};
use crate::{apply_layer, Labels};

#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<i64>,
    content: Vec<u8>,
    rdev: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Everything a layer should carry about every path under `root` (root itself excluded).
fn snapshot_tree(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("list") {
            let path = e.expect("entry").path();
            let md = fs::symlink_metadata(&path).expect("stat");
            let ft = md.file_type();
            let (kind, content) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else if ft.is_symlink() {
                let t = fs::read_link(&path).expect("readlink");
                ("symlink", t.into_os_string().into_encoded_bytes())
            } else if ft.is_file() {
                ("file", fs::read(&path).expect("read"))
            } else {
                ("special", Vec::new())
            };
            out.insert(
                path.strip_prefix(root).expect("prefix").to_path_buf(),
                Node {
                    kind: kind.into(),
                    mode: md.mode(),
                    uid: md.uid(),
                    gid: md.gid(),
                    // Layers carry whole seconds; symlink times are not restored by every tool.
                    mtime: (!ft.is_symlink()).then_some(md.mtime()),
                    content,
                    rdev: md.rdev(),
                    xattrs: xattrs(&path),
                },
            );
        }
    }
    out
}

fn base_layer() -> Vec<u8> {
    crate::apply::tests::Layer::new()
        .dir("etc")
        .file("etc/passwd", "root:x:0:0")
        .file("etc/delete-me", "bye")
        .file_owned("etc/owned", "o", 0o600, 1000, 1000)
        .dir("tree")
        .file("tree/a", "a")
        .dir("tree/sub")
        .file("tree/sub/b", "b")
        .dir("replace-dir")
        .file("replace-dir/inner", "i")
        .file("replace-file", "f")
        .dir("opaque")
        .file("opaque/old", "old")
        .symlink("link", "etc/passwd")
        .build()
}

fn modify(root: &Path) {
    let w = |p: &str, c: &str| fs::write(root.join(p), c).expect(p);
    w("etc/passwd", "root:x:0:0\nuser:x:1000:1000");
    fs::remove_file(root.join("etc/delete-me")).expect("rm");
    w("new-file", "new");
    fs::create_dir_all(root.join("new-dir/deep")).expect("mkdir");
    w("new-dir/deep/f", "deep");
    fs::remove_dir_all(root.join("tree")).expect("rm tree");
    fs::remove_dir_all(root.join("replace-dir")).expect("rm dir");
    w("replace-dir", "now a file");
    fs::remove_file(root.join("replace-file")).expect("rm file");
    fs::create_dir(root.join("replace-file")).expect("mkdir");
    w("replace-file/x", "x");
    fs::remove_dir_all(root.join("opaque")).expect("rm opaque");
    fs::create_dir(root.join("opaque")).expect("mkdir opaque");
    w("opaque/new", "n");
    fs::set_permissions(root.join("etc/owned"), fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::lchown(root.join("etc/owned"), Some(2000), Some(2001)).expect("chown");
    fs::remove_file(root.join("link")).expect("rm link");
    symlink("/etc/./owned/", root.join("link")).expect("symlink");
    fs::hard_link(root.join("new-file"), root.join("new-hardlink")).expect("hardlink");
    xattr::set(root.join("new-file"), "user.k", b"v").expect("xattr");
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
}

fn round_trip(backend: &str) {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sn = crate::open(backend, dir.path()).expect("open");
    let m = sn
        .prepare("base-key", None, Labels::new())
        .expect("prepare");
    apply_layer(&m, base_layer().as_slice()).expect("apply base");
    sn.commit("base", "base-key", Labels::new())
        .expect("commit");

    let work = sn
        .prepare("work", Some("base"), Labels::new())
        .expect("prepare work");
    {
        let m = Mounted::new(&work);
        modify(m.path());
    }
    let mut layer = Vec::new();
    let stats = write_diff(&*sn, "work", &mut layer).expect("write_diff");
    assert_eq!(stats.size, layer.len() as u64);
    assert_eq!(
        stats.diff_id,
        format!("sha256:{}", hex::encode(Sha256::digest(&layer)))
    );
    let mut again = Vec::new();
    write_diff(&*sn, "work", &mut again).expect("write_diff again");
    assert_eq!(layer, again, "diffs must be deterministic");

    // Unchanged files stay out of the layer.
    let names: Vec<String> = tar::Archive::new(layer.as_slice())
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert!(!names.iter().any(|n| n == "tree/sub/b"), "{names:?}");
    assert!(names.iter().any(|n| n == "etc/.wh.delete-me"), "{names:?}");
    assert!(names.iter().any(|n| n == ".wh.tree"), "{names:?}");
    let opaque = if backend == "overlayfs" {
        "opaque/.wh..wh..opq"
    } else {
        "opaque/.wh.old"
    };
    assert!(names.iter().any(|n| n == opaque), "{names:?}");

    let fresh = sn
        .prepare("fresh", Some("base"), Labels::new())
        .expect("prepare fresh");
    let applied = apply_layer(&fresh, layer.as_slice()).expect("apply diff");
    assert_eq!(applied, stats);

    let a = Mounted::new(&sn.mounts("work").expect("mounts"));
    let b = Mounted::new(&fresh);
    let (ta, tb) = (snapshot_tree(a.path()), snapshot_tree(b.path()));
    for (p, n) in &ta {
        assert_eq!(Some(n), tb.get(p), "{backend}: {} differs", p.display());
    }
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert_eq!(
        fs::metadata(b.join("new-file")).expect("stat").ino(),
        fs::metadata(b.join("new-hardlink")).expect("stat").ino(),
        "hard link preserved"
    );
}

#[test]
fn round_trip_overlayfs() {
    round_trip("overlayfs");
}

#[test]
fn round_trip_native() {
    round_trip("native");
}

#[test]
fn diff_of_a_committed_snapshot_is_refused() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sn = crate::open("native", dir.path()).expect("open");
    sn.prepare("k", None, Labels::new()).expect("prepare");
    sn.commit("c", "k", Labels::new()).expect("commit");
    let err = write_diff(&*sn, "c", &mut Vec::new()).expect_err("committed");
    assert_eq!(err.kind(), crate::ErrorKind::FailedPrecondition);
    let mut n = 0;
    sn.walk(&mut |_| {
        n += 1;
        Ok(())
    })
    .expect("walk");
    assert_eq!(n, 1, "no temporary views left behind");
}
