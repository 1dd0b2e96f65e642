//! Tests of layer apply: compression detection, whiteout conversion, metadata, and refusal of
//! hostile layers. Layers are built in memory; hostile paths are written into raw headers
//! because the tar crate refuses to create them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;
use crate::testsuite::{require_root, Mounted};
use crate::{ErrorKind, Labels, Snapshotter};

/// An in-memory layer tar.
pub(crate) struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut h = Self::header(EntryType::Directory, 0o755, 0);
        self.0
            .append_data(&mut h, path, std::io::empty())
            .expect("dir");
        self
    }

    pub fn file(self, path: &str, content: &str) -> Self {
        self.file_owned(path, content, 0o644, 0, 0)
    }

    pub fn file_owned(mut self, path: &str, content: &str, mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(EntryType::Regular, mode, content.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.0
            .append_data(&mut h, path, content.as_bytes())
            .expect("file");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target).expect("symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, path, target).expect("hardlink");
        self
    }

    pub fn node(mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(kind, 0o640, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.0
            .append_data(&mut h, path, std::io::empty())
            .expect("node");
        self
    }

    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .expect("pax");
        self
    }

    /// An entry whose name and link name are written verbatim (no validation).
    pub fn raw(mut self, kind: EntryType, path: &str, link: &str, content: &str) -> Self {
        let mut h = Self::header(kind, 0o644, content.len() as u64);
        let old = h.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, content.as_bytes()).expect("raw entry");
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.0.into_inner().expect("finish tar")
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A plain directory target `root/` next to a `sentinel/` that must never change.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("root")).expect("root");
        fs::create_dir(dir.path().join("sentinel")).expect("sentinel");
        fs::write(dir.path().join("sentinel/file"), "secret").expect("sentinel file");
        Sandbox { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }
    fn mounts(&self) -> Vec<Mount> {
        vec![crate::overlay::bind(&self.root(), false)]
    }
    fn sentinel_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.sentinel())
            .expect("list sentinel")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file")]);
        assert_eq!(
            fs::read_to_string(self.sentinel().join("file")).expect("read sentinel"),
            "secret"
        );
        assert_eq!(
            fs::metadata(self.sentinel().join("file"))
                .expect("stat")
                .nlink(),
            1,
            "something hard-linked the sentinel"
        );
    }
}

#[test]
fn compression_is_detected_and_diff_id_is_of_the_tar() {
    let tar = Layer::new().dir("d").file("d/f", "hello").build();
    for (name, data) in [
        ("plain", tar.clone()),
        ("gzip", gzip(&tar)),
        ("zstd", zstd(&tar)),
    ] {
        let sb = Sandbox::new();
        let stats = apply_layer(&sb.mounts(), data.as_slice()).expect(name);
        assert_eq!(stats.diff_id, sha(&tar), "{name}");
        assert_eq!(stats.size, tar.len() as u64, "{name}");
        assert_eq!(
            fs::read_to_string(sb.root().join("d/f")).expect(name),
            "hello"
        );
    }
}

#[test]
fn entries_keep_their_metadata() {
    require_root();
    let tar = Layer::new()
        .dir("./")
        .dir("bin")
        .file_owned("bin/tool", "#!/bin/sh\n", 0o4755, 1000, 1001)
        .hardlink("bin/tool2", "bin/tool")
        .symlink("bin/sh", "/bin/busybox")
        .node("dev-null", EntryType::Char, 1, 3)
        .node("blk", EntryType::Block, 7, 0)
        .node("fifo", EntryType::Fifo, 0, 0)
        .pax(&[
            ("SCHILY.xattr.user.note", b"v1"),
            ("mtime", b"1234567890.5"),
        ])
        .file("with-xattr", "x")
        .raw(EntryType::Regular, "/abs/re-rooted", "", "r")
        .build();
    let sb = Sandbox::new();
    apply_layer(&sb.mounts(), tar.as_slice()).expect("apply");
    let r = sb.root();
    let md = fs::symlink_metadata(r.join("bin/tool")).expect("tool");
    assert_eq!(md.mode() & 0o7777, 0o4755);
    assert_eq!((md.uid(), md.gid()), (1000, 1001));
    assert_eq!(md.mtime(), 1_600_000_000);
    assert_eq!(md.nlink(), 2);
    assert_eq!(
        fs::symlink_metadata(r.join("bin/tool2"))
            .expect("tool2")
            .ino(),
        md.ino()
    );
    assert_eq!(
        fs::read_link(r.join("bin/sh")).expect("link"),
        PathBuf::from("/bin/busybox")
    );
    let dev = fs::symlink_metadata(r.join("dev-null")).expect("dev");
    assert!(dev.file_type().is_char_device());
    assert_eq!(dev.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(dev.mode() & 0o7777, 0o640);
    assert!(fs::symlink_metadata(r.join("blk"))
        .expect("blk")
        .file_type()
        .is_block_device());
    assert!(fs::symlink_metadata(r.join("fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    let x = fs::symlink_metadata(r.join("with-xattr")).expect("xattr file");
    assert_eq!(x.mtime(), 1_234_567_890);
    assert_eq!(x.mtime_nsec(), 500_000_000);
    assert_eq!(
        xattr::get(r.join("with-xattr"), "user.note")
            .expect("getxattr")
            .as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        fs::read_to_string(r.join("abs/re-rooted")).expect("re-rooted"),
        "r"
    );
    assert_eq!(
        fs::metadata(r.join("bin")).expect("bin").mtime(),
        1_600_000_000
    );
    sb.sentinel_untouched();
}

fn lower_layer() -> Vec<u8> {
    Layer::new()
        .dir("etc")
        .file("etc/keep", "k")
        .file("etc/gone", "g")
        .dir("opq")
        .file("opq/old", "o")
        .dir("opq/sub")
        .file("opq/sub/old2", "o2")
        .build()
}

fn upper_layer() -> Vec<u8> {
    Layer::new()
        .file("etc/.wh.gone", "")
        .dir("opq")
        .file("opq/.wh..wh..opq", "")
        .file("opq/new", "n")
        .file("fresh/.wh.never-existed", "")
        .build()
}

fn check_merged(root: &Path) {
    assert_eq!(
        fs::read_to_string(root.join("etc/keep")).expect("keep"),
        "k"
    );
    assert!(
        fs::symlink_metadata(root.join("etc/gone")).is_err(),
        "whiteout ignored"
    );
    assert_eq!(fs::read_to_string(root.join("opq/new")).expect("new"), "n");
    let names: Vec<_> = fs::read_dir(root.join("opq"))
        .expect("opq")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("new")],
        "opaque dir kept lower entries"
    );
}

fn snapshotter(backend: &str, root: &Path) -> Box<dyn Snapshotter> {
    crate::open(backend, root).expect("open snapshotter")
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sn = snapshotter("overlayfs", dir.path());
    let m = sn.prepare("l1", None, Labels::new()).expect("prepare");
    apply_layer(&m, lower_layer().as_slice()).expect("apply lower");
    sn.commit("base", "l1", Labels::new()).expect("commit");
    let m = sn
        .prepare("l2", Some("base"), Labels::new())
        .expect("prepare");
    apply_layer(&m, upper_layer().as_slice()).expect("apply upper");
    let upper = PathBuf::from(m[0].upperdir().expect("upperdir"));
    let wh = fs::symlink_metadata(upper.join("etc/gone")).expect("whiteout device");
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        xattr::get(upper.join("opq"), "trusted.overlay.opaque")
            .expect("xattr")
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(
        !upper.join("etc/keep").exists(),
        "lower files are not copied up"
    );
    assert!(!upper.join("etc/.wh.gone").exists());
    let mounted = Mounted::new(&m);
    check_merged(mounted.path());
}

#[test]
fn whiteouts_delete_on_native() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let sn = snapshotter("native", dir.path());
    let m = sn.prepare("l1", None, Labels::new()).expect("prepare");
    apply_layer(&m, lower_layer().as_slice()).expect("apply lower");
    sn.commit("base", "l1", Labels::new()).expect("commit");
    let m = sn
        .prepare("l2", Some("base"), Labels::new())
        .expect("prepare");
    apply_layer(&m, upper_layer().as_slice()).expect("apply upper");
    check_merged(Path::new(&m[0].source));
    assert!(!Path::new(&m[0].source).join("etc/.wh.gone").exists());
}

fn refused(sb: &Sandbox, layer: Vec<u8>, entry: &str) {
    let err = apply_layer(&sb.mounts(), layer.as_slice()).expect_err(entry);
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{msg}");
    assert!(msg.contains("escapes"), "{msg}");
    assert!(msg.contains(entry), "message should name {entry:?}: {msg}");
    sb.sentinel_untouched();
}

#[test]
fn escaping_entries_are_refused() {
    let sb = Sandbox::new();
    let s = sb.sentinel().display().to_string();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            Layer::new()
                .raw(EntryType::Regular, "../sentinel/x", "", "pwn")
                .build(),
            "../sentinel/x",
        ),
        (
            Layer::new()
                .raw(EntryType::Regular, "a/../../sentinel/x", "", "pwn")
                .build(),
            "a/../../sentinel/x",
        ),
        (
            Layer::new()
                .raw(EntryType::Directory, "../sentinel/d", "", "")
                .build(),
            "../sentinel/d",
        ),
        (
            Layer::new()
                .symlink("link", &s)
                .file("link/x", "pwn")
                .build(),
            "link/x",
        ),
        (
            Layer::new().symlink("link2", &s).dir("link2/sub").build(),
            "link2/sub",
        ),
        (
            Layer::new()
                .symlink("l", "../sentinel")
                .file("l/x", "pwn")
                .build(),
            "l/x",
        ),
        (
            Layer::new()
                .symlink("l3", "../sentinel")
                .file("l3/.wh.file", "")
                .build(),
            "l3/.wh.file",
        ),
        (
            Layer::new()
                .symlink("l4", "../sentinel")
                .file("l4/.wh..wh..opq", "")
                .build(),
            "l4/.wh..wh..opq",
        ),
        (
            Layer::new()
                .raw(EntryType::Link, "h", "../sentinel/file", "")
                .build(),
            "\"h\" links to \"../sentinel/file\"",
        ),
        (
            Layer::new()
                .symlink("l5", &s)
                .hardlink("h2", "l5/file")
                .build(),
            "\"h2\" links to \"l5/file\"",
        ),
        (
            Layer::new()
                .raw(EntryType::Regular, "../.wh.sentinel", "", "")
                .build(),
            "../.wh.sentinel",
        ),
    ];
    for (layer, entry) in cases {
        refused(&sb, layer, entry);
    }
    // The symlinks themselves may point anywhere; only writing through them is refused.
    let ok = Layer::new()
        .symlink("etc-link", "/etc")
        .symlink("up", "../../..")
        .build();
    apply_layer(&sb.mounts(), ok.as_slice()).expect("symlink targets are free");
    sb.sentinel_untouched();
}

#[test]
fn writing_through_a_lower_layer_symlink_is_refused() {
    require_root();
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let sn = snapshotter("overlayfs", dir.path());
    let m = sn.prepare("l1", None, Labels::new()).expect("prepare");
    let lower = Layer::new()
        .symlink("link", &sb.sentinel().display().to_string())
        .build();
    apply_layer(&m, lower.as_slice()).expect("apply lower");
    sn.commit("base", "l1", Labels::new()).expect("commit");
    let m = sn
        .prepare("l2", Some("base"), Labels::new())
        .expect("prepare");
    let upper = Layer::new().file("link/x", "pwn").build();
    let err = apply_layer(&m, upper.as_slice()).expect_err("through lower symlink");
    assert!(err.to_string().contains("escapes") && err.to_string().contains("link/x"));
    sb.sentinel_untouched();
}

#[test]
fn replacing_entries_never_follows_symlinks() {
    let sb = Sandbox::new();
    let target = sb.sentinel().join("file").display().to_string();
    // A file entry over an existing symlink replaces the link, not its target.
    let layer = Layer::new().symlink("f", &target).file("f", "mine").build();
    apply_layer(&sb.mounts(), layer.as_slice()).expect("apply");
    assert_eq!(fs::read_to_string(sb.root().join("f")).expect("f"), "mine");
    assert!(!fs::symlink_metadata(sb.root().join("f"))
        .expect("f")
        .file_type()
        .is_symlink());
    sb.sentinel_untouched();
}

fn big_layer() -> Vec<u8> {
    let content = "z".repeat(10_000);
    Layer::new()
        .file("a", "first")
        .file("big", &content)
        .file("c", "last")
        .build()
}

fn assert_truncated(data: &[u8], what: &str) {
    let sb = Sandbox::new();
    let err = apply_layer(&sb.mounts(), data).expect_err(what);
    assert!(err.to_string().contains("truncated"), "{what}: {err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn truncated_streams_are_reported() {
    let tar = big_layer();
    assert_truncated(&tar[..3000], "tar cut inside file data");
    assert_truncated(&tar[..700], "tar cut inside a header");
    assert_truncated(&tar[..1024], "tar cut at a block boundary");
    assert_truncated(&[], "empty stream");
    let gz = gzip(&tar);
    assert_truncated(&gz[..gz.len() / 2], "gzip cut in half");
    assert_truncated(&gz[..gz.len() - 4], "gzip without its trailer");
    let zs = zstd(&tar);
    assert_truncated(&zs[..zs.len() / 2], "zstd cut in half");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 3, 511, 512, 513, 4096, 20_000] {
        let mut data = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            data.push(seed as u8);
        }
        let sb = Sandbox::new();
        assert!(
            apply_layer(&sb.mounts(), data.as_slice()).is_err(),
            "len {len}"
        );
        for magic in [&[0x1f, 0x8b][..], &[0x28, 0xb5, 0x2f, 0xfd][..]] {
            let mut d = magic.to_vec();
            d.extend_from_slice(&data);
            assert!(
                apply_layer(&sb.mounts(), d.as_slice()).is_err(),
                "len {len}"
            );
        }
        sb.sentinel_untouched();
    }
    // A valid header followed by a mangled one.
    let mut tar = big_layer();
    tar[1024 + 148] ^= 0xff;
    let sb = Sandbox::new();
    assert!(apply_layer(&sb.mounts(), tar.as_slice()).is_err());
}

#[test]
fn read_only_mounts_are_refused() {
    let sb = Sandbox::new();
    let ro = vec![crate::overlay::bind(&sb.root(), true)];
    let err = apply_layer(&ro, big_layer().as_slice()).expect_err("read-only");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(fs::read_dir(sb.root()).expect("root").next().is_none());
}
