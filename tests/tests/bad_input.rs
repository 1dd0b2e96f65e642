//! Bad input: each case gives a clear error naming what is wrong, exit 125,
//! and leaves no image, blob, snapshot or ingest behind, and nothing
//! outside the snapshot.

use berth_tests::fixture::{
    busybox_rootfs_tar, ImageBuilder, ImageSpec, LayerBuilder, Layout, Tamper,
};
use berth_tests::{find_named, Daemon, DaemonOpts};

fn load_fails(d: &Daemon, archive: &[u8], want: &[&str]) {
    let p = d.write_file("bad.tar", archive);
    let (code, err) = d.fail(&["load", "-i", &p]);
    assert_eq!(code, 125, "{err}");
    for w in want {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    d.assert_empty();
}

fn small_image(layers: Vec<Vec<u8>>) -> ImageSpec {
    ImageSpec::new("bad:1", layers)
}

fn layer() -> Vec<u8> {
    LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/x", &[7u8; 20_000])
        .build()
}

fn bad_archives(d: &Daemon) {
    for layout in [Layout::Legacy, Layout::Oci] {
        for pct in [30, 70, 99] {
            let a = ImageBuilder::new(
                layout,
                vec![small_image(vec![busybox_rootfs_tar(), layer()])],
            )
            .tamper(Tamper::Truncate(pct))
            .build();
            load_fails(d, &a, &["truncated"]);
        }
        // gzip cut short.
        let a = ImageBuilder::new(layout, vec![small_image(vec![layer()])])
            .gzip()
            .tamper(Tamper::Truncate(60))
            .build();
        load_fails(d, &a, &["truncated"]);
        // A layer whose bytes do not match its digest.
        let good = layer();
        let want = berth_tests::fixture::sha256(&good);
        let a = ImageBuilder::new(layout, vec![small_image(vec![good])])
            .tamper(Tamper::LayerBytes)
            .build();
        load_fails(d, &a, &["digest mismatch", &want]);
    }
    // A manifest whose bytes do not match the index's digest.
    let a = ImageBuilder::new(Layout::Oci, vec![small_image(vec![layer()])])
        .tamper(Tamper::ManifestBytes)
        .build();
    load_fails(d, &a, &["digest mismatch", "sha256:"]);
    // An unknown layer media type.
    let a = ImageBuilder::new(Layout::Oci, vec![small_image(vec![layer()])])
        .tamper(Tamper::LayerMediaType("application/x-lz4-tarball".into()))
        .build();
    load_fails(
        d,
        &a,
        &["unsupported media type", "application/x-lz4-tarball"],
    );
    // Not an archive at all / no manifest.
    load_fails(
        d,
        b"this is not a tar archive at all, not even close.........",
        &["archive"],
    );
    let only_layer = LayerBuilder::new().file("a", b"b").build();
    load_fails(d, &only_layer, &["manifest.json"]);
    // An invalid RepoTag.
    let a = ImageBuilder::new(
        Layout::Legacy,
        vec![ImageSpec::new("Bad Tag", vec![layer()])],
    )
    .build();
    load_fails(d, &a, &["invalid reference format"]);
}

/// Asserts no file named "evil" was written anywhere: not in the daemon's
/// directory (root, state, snapshots) and not at the host's /.
fn assert_no_sentinel(d: &Daemon) {
    let found = find_named(d.dir.path(), "evil");
    assert!(
        found.is_empty(),
        "a file was written outside the snapshot: {found:?}"
    );
    assert!(!std::path::Path::new("/evil").exists(), "/evil was written");
}

fn escaping_layers(d: &Daemon) {
    let cases = [
        (
            LayerBuilder::new()
                .file("ok", b"1")
                .raw_file("../../evil", b"x")
                .build(),
            "../../evil",
        ),
        (
            LayerBuilder::new()
                .raw_file("a/../../../evil", b"x")
                .build(),
            "a/../../../evil",
        ),
        // Symlinked parents: absolute, and relative climbing out.
        (
            LayerBuilder::new()
                .symlink("link", "/")
                .file("link/evil", b"x")
                .build(),
            "link/evil",
        ),
        (
            LayerBuilder::new()
                .symlink("up", "../../..")
                .file("up/evil", b"x")
                .build(),
            "up/evil",
        ),
        (
            LayerBuilder::new()
                .dir("d", 0o755)
                .symlink("d/up", "../../../..")
                .file("d/up/evil", b"x")
                .build(),
            "d/up/evil",
        ),
        // A hardlink to a file outside.
        (
            LayerBuilder::new()
                .hardlink("evil-link", "../../../../../etc/passwd")
                .build(),
            "evil-link",
        ),
    ];
    for (evil, entry) in cases {
        for layout in [Layout::Legacy, Layout::Oci] {
            let a =
                ImageBuilder::new(layout, vec![small_image(vec![layer(), evil.clone()])]).build();
            load_fails(d, &a, &["escapes", entry]);
            assert_no_sentinel(d);
        }
    }
    // A symlink in a lower layer, used as a parent by an upper layer. In the
    // image's own view "/" is its root, so refusing it and writing it inside
    // the snapshot are both safe; writing it anywhere else is not.
    let lower = LayerBuilder::new().symlink("out", "/").build();
    let upper = LayerBuilder::new().file("out/evil", b"x").build();
    let a = ImageBuilder::new(Layout::Oci, vec![small_image(vec![lower, upper])]).build();
    let p = d.write_file("cross.tar", &a);
    let out = d.berth(&["load", "-i", &p]);
    if out.status.success() {
        eprintln!("cross-layer symlink parent: loaded (written inside the snapshot)");
        let snapshots = d.root().join("snapshots");
        let outside: Vec<_> = find_named(d.dir.path(), "evil")
            .into_iter()
            .filter(|f| !f.starts_with(&snapshots))
            .collect();
        assert!(
            outside.is_empty(),
            "written outside the snapshots: {outside:?}"
        );
        assert!(!std::path::Path::new("/evil").exists(), "/evil was written");
        d.ok(&["rmi", "bad:1"]);
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("escapes") && err.contains("out/evil"), "{err}");
    }
    d.assert_empty();
    assert_no_sentinel(d);
    // The same through import.
    let evil = LayerBuilder::new().raw_file("../../evil", b"x").build();
    let p = d.write_file("evil.tar", &evil);
    let (code, err) = d.fail(&["import", &p, "evil:1"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("escapes") && err.contains("../../evil"),
        "{err}"
    );
    d.assert_empty();
    assert_no_sentinel(d);
}

#[test]
fn bad_archives_overlayfs() {
    let d = Daemon::start();
    bad_archives(&d);
}

#[test]
fn escaping_layers_overlayfs() {
    let d = Daemon::start();
    escaping_layers(&d);
}

#[test]
fn escaping_layers_native() {
    let d = Daemon::start_with(DaemonOpts::snapshotter("native"));
    escaping_layers(&d);
}

#[test]
fn bad_references() {
    let d = Daemon::start();
    let a = ImageBuilder::new(Layout::Legacy, vec![small_image(vec![layer()])]).build();
    let p = d.write_file("ok.tar", &a);
    d.ok(&["load", "-i", &p]);
    for bad in [
        "UPPER:tag:x",
        "foo::bar",
        "a//b",
        ":tag",
        "a b",
        "x@sha256:12",
    ] {
        let (code, err) = d.fail(&["tag", "bad:1", bad]);
        assert_eq!(code, 125, "{bad}");
        assert!(err.contains("invalid reference format"), "{bad}: {err}");
    }
    let (_, err) = d.fail(&["image", "inspect", "Nope"]);
    assert!(
        err.contains("invalid reference format") || err.contains("No such image"),
        "{err}"
    );
    d.ok(&["rmi", "bad:1"]);
    d.assert_empty();
}
