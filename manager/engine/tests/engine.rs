//! Engine-level tests: load, save, import, tag, rmi and GC without gRPC.
//! They need root (overlay mounts, whiteout device nodes).

use std::io::{Cursor, Write};
use std::path::Path;

use berth_engine::config::Config;
use berth_engine::engine::Engine;
use berth_engine::image::import::{import, ImportOptions};
use berth_engine::image::{load, save};
use serde_json::json;
use sha2::{Digest as _, Sha256};

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (overlay mounts): run them as root"
    );
}

fn engine(dir: &Path, snapshotter: &str) -> Engine {
    require_root();
    Engine::open(Config {
        root: dir.join("root"),
        state: dir.join("state"),
        address: format!("unix://{}/s.sock", dir.display()),
        snapshotter: snapshotter.into(),
        log_level: "debug".into(),
        ..Config::default()
    })
    .unwrap()
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// A layer tar with the given (path, contents) files.
fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, p, *c).unwrap();
    }
    b.into_inner().unwrap()
}

/// A docker < 25 style docker-save archive.
fn legacy_archive(tag: &str, layers: &[Vec<u8>]) -> (Vec<u8>, String) {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cid = sha(&config);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |p: &str, c: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, p, c).unwrap();
    };
    let mut paths = vec![];
    for (i, l) in layers.iter().enumerate() {
        let p = format!("l{i}/layer.tar");
        add(&p, l);
        paths.push(p);
    }
    let cpath = format!("{}.json", &cid[7..]);
    add(&cpath, &config);
    let manifest =
        serde_json::to_vec(&json!([{"Config": cpath, "RepoTags": [tag], "Layers": paths}]))
            .unwrap();
    add("manifest.json", &manifest);
    (b.into_inner().unwrap(), cid)
}

fn snapshot_count(e: &Engine) -> usize {
    let mut n = 0;
    e.test_snapshotter()
        .walk(&mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    n
}

fn blob_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("root/content/blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn load_save_roundtrip_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "overlayfs");
    let base = layer(&[("a.txt", b"a"), ("b.txt", b"b")]);
    let top = layer(&[("c.txt", b"c"), (".wh.a.txt", b"")]);
    let (archive, id) = legacy_archive("busybox:latest", &[base.clone(), top]);
    let r = load::load(e.images(), "default", Cursor::new(&archive)).unwrap();
    assert_eq!(r.names, vec!["busybox:latest"]);
    let imgs = e.images().list_images("default", None).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].id(), id);
    assert_eq!(imgs[0].layers.len(), 2);

    // A second image sharing the base layer reuses its snapshot.
    let (archive2, _) = legacy_archive("other:1", &[base, layer(&[("d", b"d")])]);
    load::load(e.images(), "default", Cursor::new(&archive2)).unwrap();
    let snaps = e.test_list_snapshots("default").unwrap();
    assert_eq!(snaps.len(), 3, "the shared base is one snapshot");

    // Save, remove, load back: same ID.
    let mut out = Vec::new();
    save::save(e.images(), "default", &["busybox".into()], &mut out).unwrap();
    let (untagged, deleted) = e
        .images()
        .remove_image("default", "busybox", false)
        .unwrap();
    assert_eq!(untagged, vec!["busybox:latest"]);
    assert_eq!(deleted, vec![id.clone()]);
    let r = load::load(e.images(), "default", Cursor::new(&out)).unwrap();
    assert_eq!(r.names, vec!["busybox:latest"]);
    assert_eq!(
        e.images()
            .resolve_image("default", "busybox")
            .unwrap()
            .0
            .id(),
        id
    );

    // Remove everything: nothing is left on disk.
    e.images()
        .remove_image("default", "busybox", false)
        .unwrap();
    e.images()
        .remove_image("default", "other:1", false)
        .unwrap();
    e.test_prune().unwrap();
    assert_eq!(blob_count(dir.path()), 0);
    assert!(e.test_list_snapshots("default").unwrap().is_empty());
    assert_eq!(snapshot_count(&e), 0);
}

#[test]
fn bad_archives_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "native");
    let (archive, _) = legacy_archive("x:1", &[layer(&[("a", &[7u8; 5000])])]);
    // Truncated.
    let err = load::load(
        e.images(),
        "default",
        Cursor::new(&archive[..archive.len() / 2]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("truncated"), "{err}");
    // An escaping layer entry.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..10].copy_from_slice(b"../../evil");
    h.set_cksum();
    evil.append(&h, &b"x"[..]).unwrap();
    let evil = evil.into_inner().unwrap();
    let (archive, _) = legacy_archive("x:1", &[layer(&[("ok", b"1")]), evil]);
    let err = load::load(e.images(), "default", Cursor::new(&archive))
        .unwrap_err()
        .to_string();
    assert!(err.contains("escapes"), "{err}");
    assert!(e.images().list_images("default", None).unwrap().is_empty());
    assert!(e.test_list_content("default").unwrap().is_empty());
    assert_eq!(blob_count(dir.path()), 0);
    assert_eq!(snapshot_count(&e), 0, "no snapshot survives a failed load");
}

#[test]
fn import_with_changes() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "overlayfs");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer(&[("bin/x", b"x")])).unwrap();
    let tarball = gz.finish().unwrap();
    let opts = ImportOptions {
        reference: Some("imported:v1".into()),
        changes: vec!["CMD [\"/bin/x\"]".into()],
        message: "hello".into(),
        platform: None,
    };
    let r = import(e.images(), "default", &opts, Cursor::new(tarball)).unwrap();
    assert_eq!(r.name.as_deref(), Some("imported:v1"));
    let (rec, _) = e.images().resolve_image("default", "imported:v1").unwrap();
    assert_eq!(
        rec.layers[0].blob.media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&e.images().read_json_blob(rec.id()).unwrap()).unwrap();
    assert_eq!(cfg["history"][0]["comment"], "hello");
    assert_eq!(cfg["rootfs"]["diff_ids"][0], json!(rec.layers[0].diff_id));
    // A bad reference is refused before any data is read.
    let bad = ImportOptions {
        reference: Some("Bad Name".into()),
        ..Default::default()
    };
    let err = import(e.images(), "default", &bad, Cursor::new(vec![1u8; 10])).unwrap_err();
    assert!(
        err.to_string().contains("invalid reference format"),
        "{err}"
    );
}

/// Image operations publish docker's events on the engine's bus: a load, a
/// tag, an untag and a delete, in that order, with the image's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_operations_publish_events() {
    use berth_engine::events::Scope;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "overlayfs");
    let mut events = e.subscribe();
    let (archive, _) = legacy_archive("ev:1", &[layer(&[("a", b"1")])]);
    let chunks = futures::stream::iter([Ok(archive)]);
    e.images().image_load("default", chunks).await.unwrap();
    e.images()
        .image_tag("default", "ev:1", "ev:2")
        .await
        .unwrap();
    let removed = e
        .images()
        .image_remove("default", "ev:1", false)
        .await
        .unwrap();
    assert_eq!(removed.untagged, ["ev:1"]);
    e.images()
        .image_remove("default", "ev:2", false)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        assert_eq!(ev.scope, Scope::Image);
        assert_eq!(ev.namespace, "default");
        seen.push((ev.action.name(), ev.attributes["name"].clone()));
    }
    assert_eq!(seen[0], ("load", "ev:1".to_string()));
    assert_eq!(seen[1].0, "tag");
    assert!(seen[1].1.ends_with("ev:2"), "{seen:?}");
    assert_eq!(seen[2], ("untag", "ev:1".to_string()));
    assert_eq!(seen[3], ("untag", "ev:2".to_string()));
    assert_eq!(seen[4].0, "delete");
    assert!(seen[4].1.starts_with("sha256:"), "{seen:?}");
}
