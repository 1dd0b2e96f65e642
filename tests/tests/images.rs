//! Images end to end: load (both layouts, gzip, file and stdin), images,
//! tag, rmi, inspect, history, shared layers, save (checked with skopeo and
//! umoci), import with --change, content ls/verify and prune.

use berth_tests::fixture::{
    busybox_archive, busybox_image, busybox_rootfs_tar, ImageBuilder, ImageSpec, LayerBuilder,
    Layout,
};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_tests::{check_ok, output_ok, poll, require_tool, Daemon, DaemonOpts};
use serde_json::Value;

fn gz_bytes(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b).unwrap();
    gz.finish().unwrap()
}

fn load_inspect_rmi(d: &Daemon) {
    for (layout, gzip) in [
        (Layout::Legacy, false),
        (Layout::Oci, false),
        (Layout::Legacy, true),
        (Layout::Oci, true),
    ] {
        let mut b = ImageBuilder::new(
            layout,
            vec![ImageSpec::new("busybox:latest", vec![busybox_rootfs_tar()])],
        );
        if gzip {
            b = b.gzip();
        }
        let p = d.write_file("bb.tar", &b.build());
        let out = d.ok(&["load", "-i", &p]);
        assert_eq!(
            out.trim(),
            "Loaded image: busybox:latest",
            "{layout:?} gzip={gzip}"
        );
        let table = d.ok(&["images"]);
        let mut lines = table.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap()
            .split("  ")
            .filter(|s| !s.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
        let row = lines.next().expect("a row");
        assert!(
            row.starts_with("busybox") && row.contains("latest"),
            "{row}"
        );
        let info = d.image_inspect("busybox");
        assert_eq!(info["Config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 1);
        assert_eq!(info["RepoTags"], serde_json::json!(["busybox:latest"]));
        let id = info["Id"].as_str().unwrap().to_string();
        assert_eq!(d.ok(&["images", "-q"]).trim(), &id[7..19]);
        let out = d.ok(&["rmi", "busybox"]);
        assert!(out.contains("Untagged: busybox:latest"), "{out}");
        assert!(out.contains(&format!("Deleted: {id}")), "{out}");
        d.assert_empty();
    }
}

#[test]
fn load_inspect_rmi_overlayfs() {
    let d = Daemon::start();
    load_inspect_rmi(&d);
}

#[test]
fn load_inspect_rmi_native() {
    let d = Daemon::start_with(DaemonOpts::snapshotter("native"));
    load_inspect_rmi(&d);
}

#[test]
fn load_from_stdin_tag_and_json() {
    let d = Daemon::start();
    let out = d.berth_stdin(
        &["load"],
        &busybox_archive(Layout::Legacy, "busybox:latest"),
    );
    let out = check_ok(&["load"], &out);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    // The OCI layout, gzipped, from stdin: the same image again.
    let id = d.image_inspect("busybox")["Id"].clone();
    let gz = ImageBuilder::new(Layout::Oci, vec![busybox_image("busybox:latest")])
        .gzip()
        .build();
    let out = d.berth_stdin(&["image", "load"], &gz);
    let out = check_ok(&["image", "load"], &out);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(
        d.image_inspect("busybox")["Id"],
        id,
        "same content, same ID"
    );
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
    // The name now points at the OCI manifest; the one it replaced is
    // referenced by nothing and must not linger (layer + config + manifest).
    let blobs = d.ok(&["content", "ls", "-q"]);
    assert_eq!(
        blobs.lines().count(),
        3,
        "re-loading busybox:latest from another layout left the replaced manifest blob behind:\n{blobs}"
    );
    d.ok(&["tag", "busybox", "localhost:5000/team/app:v1"]);
    d.ok(&["image", "tag", "busybox:latest", "other"]);
    let lines: Vec<Value> = d
        .ok(&["images", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let repos: Vec<&str> = lines
        .iter()
        .map(|l| l["Repository"].as_str().unwrap())
        .collect();
    assert!(
        repos.contains(&"localhost:5000/team/app") && repos.contains(&"other"),
        "{repos:?}"
    );
    assert!(
        lines.iter().all(|l| l["ID"] == lines[0]["ID"]),
        "one image, three names"
    );
    // Filter by repository.
    let f = d.ok(&["images", "other"]);
    assert_eq!(f.lines().count(), 2, "{f}");
    // rmi of one name of several only untags.
    let out = d.ok(&["rmi", "other"]);
    assert!(
        out.contains("Untagged: other:latest") && !out.contains("Deleted"),
        "{out}"
    );
    // rmi by ID with several names needs -f.
    let id = d.image_inspect("busybox")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, err) = d.fail(&["rmi", &id[7..19]]);
    assert_eq!(code, 125);
    assert!(err.contains("must be forced"), "{err}");
    let out = d.ok(&["rmi", "-f", &id[7..19]]);
    assert!(out.contains("Deleted:"), "{out}");
    d.assert_empty();
    // Unknown image.
    let (_, err) = d.fail(&["rmi", "nosuch"]);
    assert!(
        err.contains("No such image") && err.contains("nosuch"),
        "{err}"
    );
    let (_, err) = d.fail(&["image", "inspect", "nosuch:1"]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn shared_layers_are_stored_once_and_history() {
    let d = Daemon::start();
    let base = busybox_rootfs_tar();
    let top1 = LayerBuilder::new()
        .file("hello", b"one")
        .whiteout("bin/vi")
        .build();
    let top2 = LayerBuilder::new().file("hello", b"two").build();
    let a = ImageBuilder::new(
        Layout::Oci,
        vec![
            ImageSpec::new("app:one", vec![base.clone(), top1]),
            ImageSpec::new("app:two", vec![base, top2]),
        ],
    );
    let p = d.write_file("two.tar", &a.build());
    let out = d.ok(&["load", "-i", &p]);
    assert!(out.contains("app:one") && out.contains("app:two"), "{out}");
    // Three snapshots: one base shared by two tops.
    let snaps = d.ok(&["snapshot", "ls"]);
    assert_eq!(snaps.lines().count(), 1 + 3, "{snaps}");
    // The base blob is held once.
    let blobs = d.ok(&["content", "ls", "-q"]);
    let n = blobs.lines().count();
    assert_eq!(
        n,
        1 + 2 + 2 + 2,
        "base + 2 tops + 2 configs + 2 manifests:\n{blobs}"
    );
    assert_eq!(d.blob_files().len(), n);
    // History: newest first, CMD row empty, layers sized.
    let h = d.ok(&["history", "app:one"]);
    let rows: Vec<&str> = h.lines().collect();
    assert!(rows[0].starts_with("IMAGE"), "{h}");
    assert_eq!(rows.len(), 1 + 3, "{h}");
    assert!(rows[1].contains("CMD") && rows[1].contains("0B"), "{h}");
    assert!(rows[3].contains("<missing>"), "{h}");
    // Removing one image keeps the shared base.
    d.ok(&["rmi", "app:one"]);
    assert_eq!(d.ok(&["snapshot", "ls"]).lines().count(), 1 + 2);
    d.ok(&["content", "verify"]);
    d.ok(&["rmi", "app:two"]);
    d.assert_empty();
}

#[test]
fn save_roundtrip_with_skopeo_and_umoci() {
    let skopeo = require_tool("skopeo", "skopeo");
    let umoci = require_tool("umoci", "umoci");
    let d = Daemon::start();
    let p = d.write_file("bb.tar", &busybox_archive(Layout::Legacy, "busybox:latest"));
    d.ok(&["load", "-i", &p]);
    let id = d.image_inspect("busybox")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = d.dir.path().join("saved.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);

    let out = output_ok(Command::new(&skopeo).args([
        "inspect",
        "--config",
        &format!("docker-archive:{}", saved.display()),
    ]));
    let cfg: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["sh"]));
    // skopeo sees the same config (its digest is the image ID) and layers.
    let skopeo_json = |transport: &str, extra: &[&str]| -> Vec<u8> {
        output_ok(
            Command::new(&skopeo)
                .arg("inspect")
                .args(extra)
                .arg(format!("{transport}:{}", saved.display())),
        )
        .stdout
    };
    let raw_cfg = skopeo_json("docker-archive", &["--raw", "--config"]);
    assert_eq!(
        berth_tests::fixture::sha256(&raw_cfg),
        id,
        "config digest is the image ID"
    );
    let info = d.image_inspect("busybox");
    let sk: Value = serde_json::from_slice(&skopeo_json("docker-archive", &[])).unwrap();
    assert_eq!(
        sk["Layers"].as_array().unwrap().len(),
        info["RootFS"]["Layers"].as_array().unwrap().len()
    );
    assert_eq!(
        sk["Layers"], info["RootFS"]["Layers"],
        "uncompressed layers: digests are diff IDs"
    );
    // The archive is an OCI layout too (docker 25+ writes both).
    let raw_cfg = skopeo_json("oci-archive", &["--raw", "--config"]);
    assert_eq!(
        berth_tests::fixture::sha256(&raw_cfg),
        id,
        "oci-archive config digest"
    );

    let layout = d.dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    output_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-xf")
            .arg(&saved),
    );
    output_ok(Command::new(&skopeo).args(["inspect", &format!("oci:{}:latest", layout.display())]));
    let bundle = d.dir.path().join("bundle");
    output_ok(
        Command::new(&umoci)
            .args(["unpack", "--image", &format!("{}:latest", layout.display())])
            .arg(&bundle),
    );
    assert!(bundle.join("rootfs/bin/busybox").exists());

    // rmi, then load what save wrote: the same image ID.
    d.ok(&["rmi", "busybox"]);
    d.assert_empty();
    let out = d.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("busybox:latest"), "{out}");
    assert_eq!(d.image_inspect("busybox")["Id"].as_str().unwrap(), id);
    // save to stdout works too, and a missing image writes no file.
    let out = d.berth(&["save", "busybox"]);
    assert!(out.status.success() && out.stdout.len() > 1_000_000);
    let bad = d.dir.path().join("bad.tar");
    let (_, err) = d.fail(&["save", "-o", bad.to_str().unwrap(), "nosuch"]);
    assert!(err.contains("No such image"), "{err}");
    assert!(!bad.exists());
}

#[test]
fn import_with_changes() {
    let d = Daemon::start();
    let rootfs = busybox_rootfs_tar();
    let p = d.write_file("rootfs.tar", &rootfs);
    let out = d.ok(&[
        "import",
        "-c",
        "CMD [\"sh\", \"-c\", \"echo hi\"]",
        "-c",
        "ENV A=1 B=two",
        "-c",
        "WORKDIR /srv",
        "-c",
        "EXPOSE 80 53/udp",
        "-c",
        "ENTRYPOINT [\"/bin/env\"]",
        "-m",
        "my message",
        &p,
        "imported:v1",
    ]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let info = d.image_inspect("imported:v1");
    let c = &info["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/env"]));
    assert_eq!(c["WorkingDir"], "/srv");
    let env = c["Env"].as_array().unwrap();
    assert!(
        env.contains(&"A=1".into()) && env.contains(&"B=two".into()),
        "{env:?}"
    );
    let ports = c["ExposedPorts"].as_object().unwrap();
    assert!(
        ports.contains_key("80/tcp") && ports.contains_key("53/udp"),
        "{ports:?}"
    );
    assert_eq!(info["Comment"], "my message");
    assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 1);

    // gzip from stdin, untagged.
    let out = d.berth_stdin(&["import", "-"], &gz_bytes(&rootfs));
    let id = check_ok(&["import", "-"], &out);
    assert!(id.trim().starts_with("sha256:"));
    let table = d.ok(&["images"]);
    assert!(table.contains("<none>"), "{table}");
    // The same layer: one snapshot for both images.
    assert_eq!(d.ok(&["snapshot", "ls"]).lines().count(), 1 + 1);

    // gzip from a file, and plain from stdin, each with CMD ["sh"].
    let gzp = d.write_file("rootfs.tar.gz", &gz_bytes(&rootfs));
    d.ok(&[
        "image",
        "import",
        "--change",
        "CMD [\"sh\"]",
        &gzp,
        "imported:gz",
    ]);
    assert_eq!(
        d.image_inspect("imported:gz")["Config"]["Cmd"],
        serde_json::json!(["sh"])
    );
    let out = d.berth_stdin(
        &["import", "-c", "CMD [\"sh\"]", "-", "imported:stdin"],
        &rootfs,
    );
    check_ok(&["import", "-", "imported:stdin"], &out);
    assert_eq!(
        d.image_inspect("imported:stdin")["Config"]["Cmd"],
        serde_json::json!(["sh"])
    );
    assert_eq!(
        d.image_inspect("imported:stdin")["RootFS"]["Layers"],
        d.image_inspect("imported:gz")["RootFS"]["Layers"],
        "the same rootfs, gzipped or not, is the same layer"
    );
    assert_eq!(d.ok(&["snapshot", "ls"]).lines().count(), 1 + 1);
    d.ok(&["rmi", "imported:gz", "imported:stdin"]);

    // Bad --change and bad reference: clear errors, nothing added.
    let before = d.ok(&["content", "ls", "-q"]);
    let (code, err) = d.fail(&["import", "-c", "FROB x", &p, "x:1"]);
    assert_eq!(code, 125);
    assert!(err.contains("unknown instruction FROB"), "{err}");
    let (_, err) = d.fail(&["import", &p, "Bad:Ref:x"]);
    assert!(err.contains("invalid reference format"), "{err}");
    assert_eq!(d.ok(&["content", "ls", "-q"]), before);
    d.ok(&["rmi", "imported:v1"]);
    d.ok(&["rmi", id.trim()]);
    d.assert_empty();
}

#[test]
fn content_verify_and_prune() {
    let d = Daemon::start();
    let p = d.write_file("bb.tar", &busybox_archive(Layout::Oci, "busybox:latest"));
    d.ok(&["load", "-i", &p]);
    let out = d.ok(&["content", "verify"]);
    assert!(out.contains("OK sha256:"), "{out}");
    // Corrupt the config blob on disk: verify names it and exits 1.
    let id = d.image_inspect("busybox")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = d.root().join("content/blobs/sha256").join(&id[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let out = d.berth(&["content", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("BAD {id}")), "{text}");
    bytes[0] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    d.ok(&["content", "verify"]);

    // Blobs nobody references (left by a killed load, say) are pruned.
    let stray = d.root().join("content/blobs/sha256").join("0".repeat(64));
    std::fs::write(&stray, b"stray").unwrap();
    let out = d.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(!stray.exists(), "stray blob pruned");
    assert!(
        d.ok(&["images"]).contains("busybox"),
        "referenced image kept"
    );
    d.ok(&["content", "verify"]);
    // Without -f and without a terminal, prune refuses.
    let (_, err) = d.fail(&["system", "prune"]);
    assert!(err.contains("-f"), "{err}");
    d.ok(&["rmi", "busybox"]);
    eprintln!(
        "after the kill: ingest {:?}, blobs {}",
        d.entries("content/ingest"),
        d.blob_files().len()
    );
    d.ok(&["system", "prune", "-f"]);
    d.assert_empty();
}

#[test]
fn images_survive_a_restart() {
    let mut d = Daemon::start();
    let p = d.write_file("bb.tar", &busybox_archive(Layout::Legacy, "busybox:latest"));
    d.ok(&["load", "-i", &p]);
    let before = d.ok(&["images"]);
    d.restart();
    assert_eq!(d.ok(&["images"]), before);
    d.ok(&["content", "verify"]);
    d.ok(&["rmi", "busybox"]);
    d.assert_empty();
}

#[test]
fn load_archives_written_by_skopeo() {
    // Archives from another tool: skopeo's OCI archives (no manifest.json;
    // layers plain, gzip and zstd) and its docker-archive writer.
    let skopeo = require_tool("skopeo", "skopeo");
    let d = Daemon::start();
    let rootfs = busybox_rootfs_tar();
    let diff_id = berth_tests::fixture::sha256(&rootfs);
    let src = d.write_file(
        "src.tar",
        &ImageBuilder::new(
            Layout::Legacy,
            vec![ImageSpec::new("busybox:latest", vec![rootfs])],
        )
        .build(),
    );
    let cases: [(&str, &[&str]); 4] = [
        ("oci-archive", &[]),
        (
            "oci-archive",
            &["--dest-compress", "--dest-compress-format", "gzip"],
        ),
        (
            "oci-archive",
            &["--dest-compress", "--dest-compress-format", "zstd"],
        ),
        ("docker-archive", &[]),
    ];
    for (i, (transport, flags)) in cases.into_iter().enumerate() {
        let dst = d.dir.path().join(format!("skopeo-{i}.tar"));
        output_ok(
            Command::new(&skopeo)
                .args(["copy", "-q"])
                .args(flags)
                .arg(format!("docker-archive:{src}"))
                .arg(format!("{transport}:{}:busybox:latest", dst.display())),
        );
        let out = d.ok(&["load", "-i", dst.to_str().unwrap()]);
        assert!(
            out.contains("busybox:latest"),
            "{transport} {flags:?}: {out}"
        );
        let info = d.image_inspect("busybox:latest");
        assert_eq!(
            info["RootFS"]["Layers"],
            serde_json::json!([diff_id]),
            "{transport} {flags:?}"
        );
        assert_eq!(info["Config"]["Cmd"], serde_json::json!(["sh"]));
        d.ok(&["rmi", "busybox:latest"]);
        d.assert_empty();
    }
}

/// SIGKILLs berthd while it loads a big archive, as soon as `watch` (a
/// directory under the root) has an entry; after a restart the store shows
/// no partial image, and prune leaves no blob, ingest, snapshot or mount.
fn kill_during_load(watch: &str) {
    let mut d = Daemon::start();
    let layers = (0..4)
        .map(|i| berth_tests::fixture::random_layer(&format!("l{i}"), 8, 1))
        .collect();
    let p = d.write_file(
        "big.tar",
        &ImageBuilder::new(Layout::Oci, vec![ImageSpec::new("big:1", layers)]).build(),
    );
    let load = d.spawn(&["load", "-i", &p]);
    poll(
        Duration::from_secs(30),
        Duration::from_millis(2),
        || !d.entries(watch).is_empty(),
        || format!("{watch} never got an entry during the load"),
    );
    d.kill();
    eprintln!(
        "killed with: ingest {:?}, blobs {}, snapshot dirs {:?}, mounts {:?}",
        d.entries("content/ingest"),
        d.blob_files().len(),
        d.entries("snapshots/overlayfs/snapshots"),
        d.mounts()
    );
    let _ = load.wait_with_output();
    d.start_again();
    if !d.ok(&["images", "-q"]).trim().is_empty() {
        // The load won the race and finished: then it is a whole image.
        eprintln!("the load finished before the kill");
        d.ok(&["content", "verify"]);
        d.ok(&["rmi", "big:1"]);
    }
    d.ok(&["system", "prune", "-f"]);
    d.assert_empty();
}

#[test]
fn a_load_killed_while_writing_blobs_leaves_nothing_after_prune() {
    kill_during_load("content/blobs/sha256");
}

#[test]
fn a_load_killed_while_unpacking_leaves_nothing_after_prune() {
    kill_during_load("snapshots/overlayfs/snapshots");
}

/// A client that dies in the middle of `berth load` leaves nothing: the
/// daemon sees the stream break and releases what the load had created,
/// without waiting for a prune.
#[test]
fn a_client_killed_mid_load_leaves_nothing() {
    use std::io::Write as _;
    let d = Daemon::start();
    let layers = (0..3)
        .map(|i| berth_tests::fixture::random_layer(&format!("l{i}"), 8, 1))
        .collect();
    let archive = ImageBuilder::new(Layout::Legacy, vec![ImageSpec::new("big:1", layers)]).build();
    let mut child = d
        .cmd()
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // More than the first layer, so a blob is committed before the cut.
    stdin.write_all(&archive[..archive.len() * 2 / 3]).unwrap();
    stdin.flush().unwrap();
    poll(
        Duration::from_secs(30),
        Duration::from_millis(5),
        || !d.blob_files().is_empty(),
        || "no blob was ever committed".into(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    // The daemon notices and cleans up on its own.
    poll(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || d.blob_files().is_empty() && d.entries("content/ingest").is_empty(),
        || {
            format!(
                "the aborted load left {:?} and ingests {:?}",
                d.blob_files(),
                d.entries("content/ingest")
            )
        },
    );
    d.assert_empty();
    // And the daemon is healthy: the same archive loads whole.
    let p = d.write_file("big.tar", &archive);
    assert!(d.ok(&["load", "-i", &p]).contains("big:1"));
    d.ok(&["rmi", "big:1"]);
    d.assert_empty();
}

/// `system df`: docker's summary counts and sizes, and `-v`'s sections, for
/// one image, a running container and a stopped one that wrote 1 MB.
#[test]
fn system_df_counts_images_and_containers() {
    let d = Daemon::with_busybox();
    d.run_d(&["--name", "up", "busybox", "sleep", "600"]);
    d.ok(&[
        "run",
        "--name",
        "wrote",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/blob",
        "bs=1000",
        "count=1000",
    ]);
    let out = d.ok(&["system", "df"]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{out}"
    );
    assert_eq!(lines[1][..3], ["Images", "1", "1"], "{out}");
    // Only the stopped container's 1 MB is reclaimable.
    assert_eq!(lines[2][..3], ["Containers", "2", "1"], "{out}");
    assert!(lines[2][3].ends_with("MB"), "{out}");
    let reclaimable = lines[2][4];
    assert!(
        reclaimable.ends_with("(99%)") || reclaimable.ends_with("(100%)"),
        "{out}"
    );
    assert_eq!(lines[4], ["Build Cache", "0", "0", "0B", "0B"], "{out}");
    let typed = d.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert!(typed.starts_with("Images=1\nContainers=2\n"), "{typed}");
    let v = d.ok(&["system", "df", "-v"]);
    assert!(v.starts_with("Images space usage:\n\nREPOSITORY"), "{v}");
    assert!(v.contains("\nbusybox "), "{v}");
    assert!(v.contains("\nContainers space usage:\n\n"), "{v}");
    assert!(v.contains(" wrote\n") && v.contains(" up\n"), "{v}");
    let (code, err) = d.fail(&["system", "df", "-v", "--format", "{{.Type}}"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("the verbose and the format options conflict"),
        "{err}"
    );
    d.ok(&["rm", "-f", "up", "wrote"]);
    d.assert_no_containers_left();
}
