//! Distribution end to end against real registries: Debian's
//! `docker-registry` (distribution v2), started by each test on 127.0.0.1
//! with its own storage, over plain HTTP (insecure, like any registry on
//! 127.0.0.0/8) or over TLS with a CA the test makes and htpasswd basic auth.
//! Push, remove, pull back, run, compare digests; login, logout and the
//! credentials file; a corrupt layer, a registry that is down and a pull cut
//! half-way (a proxy in the test); a multi-platform index; search; `run`
//! pulling a missing image; bad references; gzip, zstd and uncompressed
//! layers; a Docker Hub mirror (the daemon's proxy variables point at a
//! closed port, so it cannot reach Docker Hub itself); a CA that did not
//! sign the registry's certificate; progress on a terminal and on a pipe;
//! cross-repository mounts. Each test has its own registry and berthd, so
//! they run in parallel. Nothing talks to anything but 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use berth_tests::fixture::{
    busybox_rootfs_tar, random_layer, sha256, ImageBuilder, ImageSpec, LayerBuilder, Layout,
};
use berth_tests::registry::{says_unauthorized, ProxiedBusybox, Proxy, ProxyMode, Registry};
use berth_tests::{
    assert_error_line, check_ok, output_ok, require_tool, run, wait_for_within, Daemon, DaemonOpts,
};
use serde_json::{json, Value};

/// How long a test waits for the proxy or berthd to get somewhere.
const SLOW: Duration = Duration::from_secs(30);

/// Whether `out` has a line "ID: STATUS" for one of `ids`.
fn out_has_layer_line(out: &str, ids: &[&str], status: &str) -> bool {
    ids.iter()
        .any(|id| out.lines().any(|l| l.trim() == format!("{id}: {status}")))
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// The fixtures themselves, proved with skopeo: the plain registry serves
/// what skopeo pushes (the HTTP helpers agree with skopeo), the proxy passes,
/// corrupts, cuts and refuses, and the TLS registry wants its CA and its
/// password.
#[test]
fn registry_and_proxy_fixtures_work_with_skopeo() {
    let skopeo = require_tool("skopeo", "skopeo");
    let reg = Registry::plain_with_busybox();
    assert!(reg.catalog().contains(&"busybox".to_string()));
    let digest = reg.manifest_digest("busybox", "latest").expect("manifest");
    let info = reg.skopeo_inspect("busybox:latest", false);
    assert_eq!(info["Digest"], json!(digest));
    assert_eq!(reg.manifest_digest("busybox", "nosuchtag"), None);
    let layers = reg.layer_digests("busybox", "latest");
    assert_eq!(layers.len(), 1);
    let layer = &layers[0];

    let proxy = Proxy::start(&reg.host());
    let tmp = tempfile::tempdir().unwrap();
    // skopeo copy from the proxy into the directory `n`.
    let copy = |n: &str| {
        let mut cmd = Command::new(&skopeo);
        cmd.args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/busybox:latest", proxy.host()))
            .arg(format!("dir:{}", tmp.path().join(n).display()));
        cmd
    };
    output_ok(&mut copy("pass"));
    let got = std::fs::read(tmp.path().join("pass").join(&layer[7..])).unwrap();
    assert_eq!(
        &sha256(&got),
        layer,
        "the proxy changed a blob in pass mode"
    );
    assert!(
        proxy
            .requests()
            .contains(&format!("GET /v2/busybox/blobs/{layer}")),
        "{:?}",
        proxy.requests()
    );

    proxy.set_mode(ProxyMode::Corrupt(layer.clone()));
    let out = copy("corrupt").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a corrupt layer was accepted");
    assert!(stderr.contains(&layer[7..]), "{stderr}");
    assert!(proxy.corrupted() >= 1);

    // skopeo may resume a cut download by itself; either way the next copy
    // succeeds and the cut happened once.
    proxy.set_mode(ProxyMode::CutOnce(layer.clone()));
    let _ = copy("cut").output().unwrap();
    assert_eq!(proxy.cuts(), 1);
    output_ok(&mut copy("after-cut"));
    assert_eq!(proxy.cuts(), 1);

    // A stalled download holds until its client goes away.
    proxy.set_mode(ProxyMode::StallOnce(layer.clone()));
    let mut stalled = copy("stalled")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_within("the stall", SLOW, || proxy.stalls() == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(stalled.try_wait().unwrap().is_none(), "skopeo did not wait");
    stalled.kill().unwrap();
    stalled.wait().unwrap();
    output_ok(&mut copy("after-stall"));

    proxy.set_mode(ProxyMode::Down);
    let out = Command::new(&skopeo)
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/busybox:latest", proxy.host()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("connection refused"), "{stderr}");
    proxy.set_mode(ProxyMode::Pass);
    output_ok(&mut copy("up-again"));

    let tls = Registry::tls_with_auth("alice", "s3cret-pw");
    tls.seed_busybox("busybox:latest");
    let info = tls.skopeo_inspect("busybox:latest", false);
    assert_eq!(
        info["Digest"],
        json!(digest),
        "same manifest in both registries"
    );
    let inspect_with = |flags: &[String]| {
        let out = Command::new(&skopeo)
            .arg("inspect")
            .args(flags)
            .arg(format!("docker://{}/busybox:latest", tls.host()))
            .output()
            .unwrap();
        assert!(!out.status.success(), "skopeo inspect {flags:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let cert_dir = tls.skopeo_flags("")[0].clone();
    let stderr = inspect_with(&[cert_dir, "--creds=alice:wrong".into()]);
    assert!(says_unauthorized(&stderr), "{stderr}");
    let stderr = inspect_with(&["--creds=alice:s3cret-pw".into()]);
    assert!(
        stderr.contains("certificate") || stderr.contains("x509"),
        "the system roots trusted the test CA: {stderr}"
    );
}

/// Push the busybox fixture, remove it, pull it back, run it; the digests
/// agree everywhere.
#[test]
fn push_rmi_pull_run_plain_http() {
    let reg = Registry::plain();
    let d = Daemon::with_busybox();
    let id = d.image_id("busybox:latest");
    let name = format!("{}/busybox:latest", reg.host());
    d.ok(&["tag", "busybox:latest", &name]);

    let out = d.ok(&["push", &name]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/busybox]",
            reg.host()
        )),
        "{out}"
    );
    let digest = berth_tests::registry::pushed_digest(&out, "latest");
    assert_eq!(
        reg.manifest_digest("busybox", "latest"),
        Some(digest.clone())
    );
    let layers = reg.layer_digests("busybox", "latest");
    assert_eq!(layers.len(), 1);
    let short = &layers[0][7..19];
    // docker names a pushed layer by its diff ID, a pulled one by its blob
    // digest; they are the same unless the push compressed the layer.
    let diff_id = d.image_inspect(&name)["RootFS"]["Layers"][0]
        .as_str()
        .expect("diff ID")
        .to_string();
    assert!(
        out_has_layer_line(&out, &[short, &diff_id[7..19]], "Pushed"),
        "{out}"
    );
    let config = reg.manifest("busybox", "latest")["config"]["digest"].clone();
    assert_eq!(
        config,
        json!(id),
        "the image ID is the pushed config's digest"
    );
    assert!(
        d.image_inspect(&name)["RepoDigests"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("{}/busybox@{digest}", reg.host()))),
        "{}",
        d.image_inspect(&name)
    );

    // The registry has the layer: a second push does not send it again.
    let out = d.ok(&["push", &name]);
    assert!(
        out_has_layer_line(&out, &[short, &diff_id[7..19]], "Layer already exists"),
        "{out}"
    );
    assert_eq!(berth_tests::registry::pushed_digest(&out, "latest"), digest);

    d.ok(&["rmi", "busybox:latest", &name]);
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");

    let out = d.ok(&["pull", &name]);
    assert!(out.contains(&format!("{short}: Pull complete")), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(name.as_str()), "{out}");
    // No byte counts when stdout is not a terminal.
    assert!(!out.contains("Downloading"), "{out}");
    assert_eq!(d.image_id(&name), id);
    let info = d.image_inspect(&name);
    assert_eq!(info["RepoTags"], json!([name]));
    assert_eq!(
        info["RepoDigests"],
        json!([format!("{}/busybox@{digest}", reg.host())])
    );
    let table = d.ok(&["images", "--digests"]);
    assert!(table.contains(&digest), "{table}");

    let out = d.ok(&["run", "--rm", &name, "echo", "pulled and running"]);
    assert_eq!(out, "pulled and running\n");

    let out = d.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    let out = d.ok(&["pull", "-q", &name]);
    assert_eq!(out, format!("{name}\n"));

    // By digest, too.
    let by_digest = format!("{}/busybox@{digest}", reg.host());
    d.ok(&["rmi", &name]);
    d.ok(&["pull", &by_digest]);
    assert_eq!(d.image_id(&by_digest), id);
    d.ok(&["run", "--rm", &by_digest, "true"]);
    d.assert_no_containers_left();
}

/// Login over TLS (the daemon trusts the test's CA through certs_dir) with
/// basic auth: a wrong password is refused and nothing is stored; the right
/// one is stored docker's way with mode 0600; push, pull and search then
/// work; logout forgets.
#[test]
fn login_push_pull_logout_tls_basic_auth() {
    let reg = Registry::tls_with_auth("alice", "s3cret-pw");
    let certs = tempfile::tempdir().unwrap();
    let certs_dir = reg.write_certs_dir(certs.path());
    let d = Daemon::start_with(DaemonOpts {
        config: Some(format!("certs_dir = \"{}\"\n", certs_dir.display())),
        ..Default::default()
    });
    d.load_busybox();
    let id = d.image_id("busybox:latest");
    let host = reg.host();
    let name = format!("{host}/busybox:latest");
    d.ok(&["tag", "busybox:latest", &name]);

    // Not logged in: the registry refuses.
    let (_, stderr) = d.fail(&["push", &name]);
    assert!(says_unauthorized(&stderr), "{stderr}");

    // A wrong password: a clear error, nothing stored.
    let out = d.login(&host, "alice", "wrong-pw");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "login with a wrong password succeeded"
    );
    assert!(stderr.contains("Error"), "{stderr}");
    assert!(says_unauthorized(&stderr), "{stderr}");
    d.assert_not_logged_in(&host);

    let out = d.login(&host, "alice", "s3cret-pw");
    let stdout = check_ok(&["login"], &out);
    assert!(stdout.contains("Login Succeeded"), "{stdout}");
    let file = d.client_config_dir().join("config.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.json mode {mode:o}");
    let dir_mode = std::fs::metadata(d.client_config_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "config dir mode {dir_mode:o}");
    let c = d.credentials().unwrap();
    assert_eq!(
        c["auths"][&host]["auth"],
        json!(BASE64.encode(b"alice:s3cret-pw")),
        "{c}"
    );

    let out = d.ok(&["push", &name]);
    let digest = berth_tests::registry::pushed_digest(&out, "latest");
    let info = reg.skopeo_inspect("busybox:latest", false);
    assert_eq!(info["Digest"], json!(digest));

    d.ok(&["rmi", "busybox:latest", &name]);
    let out = d.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(d.image_id(&name), id);
    assert_eq!(
        d.ok(&["run", "--rm", &name, "echo", "over tls"]),
        "over tls\n"
    );

    let out = d.ok(&["search", &format!("{host}/busy")]);
    assert!(out.contains("busybox"), "{out}");

    // Other keys of the file survive logout.
    let mut c = d.credentials().unwrap();
    c["berthTestKeep"] = json!("kept");
    std::fs::write(&file, serde_json::to_vec(&c).unwrap()).unwrap();
    let c = d.logout_ok(&host);
    assert_eq!(c["berthTestKeep"], json!("kept"));
    let out = d.ok(&["logout", &host]);
    assert!(out.contains(&format!("Not logged in to {host}")), "{out}");

    // Logged out: pulling is refused again.
    d.ok(&["rmi", &name]);
    let (_, stderr) = d.fail(&["pull", &name]);
    assert!(says_unauthorized(&stderr), "{stderr}");
    assert!(!d.has_image(&name));
    d.assert_no_containers_left();
}

/// A registry that serves a layer whose bytes do not match its digest: the
/// pull fails naming the digest and nothing of that layer is kept; once the
/// registry serves it right, the pull works.
#[test]
fn corrupt_layer_fails_naming_digest_and_stores_nothing() {
    let fx = ProxiedBusybox::start(ProxyMode::Corrupt);
    let d = Daemon::start();

    let (_, stderr) = d.fail(&["pull", &fx.name]);
    assert!(fx.proxy.corrupted() >= 1, "the proxy corrupted nothing");
    assert!(
        stderr.contains(&fx.layer),
        "the error does not name {}: {stderr}",
        fx.layer
    );
    assert!(!d.has_image(&fx.name));
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
    assert!(!d.has_blob(&fx.layer), "the corrupt layer was stored");
    let content = d.ok(&["content", "ls", "-q"]);
    assert!(!content.contains(&fx.layer), "{content}");
    assert!(d.entries("content/ingest").is_empty(), "ingests left");

    fx.proxy.set_mode(ProxyMode::Pass);
    d.ok(&["pull", &fx.name]);
    assert!(d.has_blob(&fx.layer));
    assert_eq!(d.ok(&["run", "--rm", &fx.name, "echo", "ok"]), "ok\n");
    d.assert_no_containers_left();
}

/// A registry that is down: pull and push fail with an error naming its
/// address; when it is back, both work.
#[test]
fn registry_down_names_the_address() {
    let reg = Registry::plain();
    let proxy = Proxy::start(&reg.host());
    let d = Daemon::with_busybox();
    let host = proxy.host();
    let name = format!("{host}/busybox:latest");
    d.ok(&["tag", "busybox:latest", &name]);

    proxy.set_mode(ProxyMode::Down);
    let (code, stderr) = d.fail(&["push", &name]);
    assert_ne!(code, 0);
    assert!(stderr.contains(&host), "{stderr}");
    d.ok(&["rmi", &name]);
    let (_, stderr) = d.fail(&["pull", &name]);
    assert!(stderr.contains(&host), "{stderr}");
    assert!(!d.has_image(&name));

    proxy.set_mode(ProxyMode::Pass);
    d.ok(&["tag", "busybox:latest", &name]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", "busybox:latest", &name]);
    d.ok(&["pull", &name]);
    assert_eq!(d.ok(&["run", "--rm", &name, "echo", "back"]), "back\n");

    // A registry that was never there at all.
    let gone = format!("127.0.0.1:{}", berth_tests::registry::free_port());
    let (_, stderr) = d.fail(&["pull", &format!("{gone}/busybox:latest")]);
    assert!(stderr.contains(&gone), "{stderr}");
    d.assert_no_containers_left();
}

/// A pull whose layer download is cut half-way: berthd retries it from where
/// it stopped, and the pull completes.
#[test]
fn pull_cut_half_way_is_retried_and_repeated() {
    let fx = ProxiedBusybox::start(ProxyMode::CutOnce);
    let digest = fx.registry.manifest_digest("busybox", "latest").unwrap();
    let d = Daemon::start();

    // The download breaks off half-way; berthd retries it from where it
    // stopped (docker's "Retrying in N seconds") and the pull completes.
    let out = d.ok(&["pull", &fx.name]);
    assert_eq!(fx.proxy.cuts(), 1, "the proxy cut nothing");
    assert!(
        out.contains(&format!("{}: Retrying in 1 second", &fx.layer[7..19])),
        "{out}"
    );
    assert!(d.log().contains("retrying"), "{}", d.log());
    // Pulling again finds everything there.
    let again = d.ok(&["pull", &fx.name]);
    assert!(again.contains("Image is up to date"), "{again}");
    assert_eq!(fx.proxy.cuts(), 1);
    let info = d.image_inspect(&fx.name);
    assert_eq!(
        info["RepoDigests"],
        json!([format!("{}/busybox@{digest}", fx.proxy.host())])
    );
    assert!(d.has_blob(&fx.layer));
    d.assert_content_verifies();
    assert_eq!(d.ok(&["run", "--rm", &fx.name, "echo", "whole"]), "whole\n");
    d.assert_no_containers_left();
}

/// A link that keeps breaking: after its retries the pull fails, naming
/// the blob, names nothing and keeps no partial blob; once the link holds,
/// pulling again completes.
#[test]
fn pull_that_keeps_breaking_fails_then_repeated_succeeds() {
    let fx = ProxiedBusybox::start(ProxyMode::CutAlways);
    let d = Daemon::start();

    let (code, stderr) = d.fail(&["pull", &fx.name]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("broke off"), "{stderr}");
    assert!(stderr.contains(&fx.layer), "{stderr}");
    // The first try and three retries.
    assert_eq!(fx.proxy.cuts(), 4);
    assert!(!d.has_image(&fx.name), "a failed pull named the image");
    assert!(!d.has_blob(&fx.layer));
    assert_eq!(d.entries("content/ingest"), Vec::<String>::new());

    fx.proxy.set_mode(ProxyMode::Pass);
    let out = d.ok(&["pull", &fx.name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", &fx.name, "echo", "whole"]), "whole\n");
    d.assert_no_containers_left();
}

/// berthd killed with SIGKILL in the middle of a layer download: nothing is
/// named, the store is sound after a restart, and pulling again completes.
#[test]
fn pull_interrupted_by_killing_berthd_then_repeated_succeeds() {
    let fx = ProxiedBusybox::start(ProxyMode::StallOnce);
    let mut d = Daemon::start();

    let pull = d.spawn(&["pull", &fx.name]);
    wait_for_within("the layer download to stall", SLOW, || {
        fx.proxy.stalls() == 1
    });
    d.kill();
    let out = pull.wait_with_output().unwrap();
    assert!(!out.status.success(), "the pull survived its daemon");

    d.start_again();
    assert!(
        !d.has_image(&fx.name),
        "an interrupted pull named the image"
    );
    assert!(!d.has_blob(&fx.layer), "half a layer was committed");
    let out = d.ok(&["pull", &fx.name]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert!(d.has_blob(&fx.layer));
    d.assert_content_verifies();
    assert_eq!(
        d.ok(&["run", "--rm", &fx.name, "echo", "intact"]),
        "intact\n"
    );
    d.assert_no_containers_left();
}

/// The client killed in the middle of a layer download: berthd cancels the
/// pull, as docker does: nothing is named, no partial blob or ingest stays,
/// and pulling again completes.
#[test]
fn pull_cancelled_when_the_client_goes_away() {
    let fx = ProxiedBusybox::start(ProxyMode::StallOnce);
    let d = Daemon::start();

    let mut pull = d.spawn(&["pull", &fx.name]);
    wait_for_within("the layer download to stall", SLOW, || {
        fx.proxy.stalls() == 1
    });
    pull.kill().unwrap();
    pull.wait().unwrap();
    wait_for_within("berthd to cancel the pull", SLOW, || {
        d.log().contains("cancelled: the client went away")
    });
    wait_for_within("the ingest to go", SLOW, || {
        d.entries("content/ingest").is_empty()
    });
    assert!(!d.has_image(&fx.name), "a cancelled pull named the image");
    assert!(!d.has_blob(&fx.layer));

    let out = d.ok(&["pull", &fx.name]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", &fx.name, "echo", "again"]), "again\n");
    d.assert_no_containers_left();
}

/// The host's architecture in OCI terms, and another one.
fn host_and_other_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "arm64"),
        "aarch64" => ("arm64", "amd64"),
        a => panic!("no OCI architecture known for {a}"),
    }
}

/// Writes a blob into an OCI layout; returns its descriptor.
fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&digest[7..]), bytes).unwrap();
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// An OCI layout in `dir` whose image `tag` is an index of two images,
/// linux/amd64 and linux/arm64: each the busybox layer plus a layer whose
/// /platform names its architecture.
fn multi_platform_layout(dir: &Path, tag: &str) {
    let busybox = busybox_rootfs_tar();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let marker = LayerBuilder::new()
            .file("platform", format!("{arch}\n").as_bytes())
            .build();
        let layer_type = "application/vnd.oci.image.layer.v1.tar";
        let layers = vec![
            put_blob(dir, layer_type, &busybox),
            put_blob(dir, layer_type, &marker),
        ];
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&busybox), sha256(&marker)]},
            "history": [{"created_by": "busybox"}, {"created_by": format!("platform {arch}")}],
        }))
        .unwrap();
        let config = put_blob(dir, "application/vnd.oci.image.config.v1+json", &config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        }))
        .unwrap();
        let mut desc = put_blob(dir, "application/vnd.oci.image.manifest.v1+json", &manifest);
        desc["platform"] = json!({"architecture": arch, "os": "linux"});
        entries.push(desc);
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let mut desc = put_blob(dir, "application/vnd.oci.image.index.v1+json", &index);
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A multi-platform index (pushed with skopeo --all): pull picks the host's
/// platform, --platform another, --all-platforms fetches both; an unknown
/// platform is a clear error.
#[test]
fn multi_platform_index_picks_the_platform() {
    let reg = Registry::plain();
    let layout = tempfile::tempdir().unwrap();
    multi_platform_layout(layout.path(), "v1");
    reg.skopeo_copy_in(
        &format!("oci:{}:v1", layout.path().display()),
        "multi:v1",
        &["--all"],
    );
    let index = reg.manifest("multi", "v1");
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    let (host_arch, other_arch) = host_and_other_arch();
    // The digests as the registry has them: skopeo compresses the layers
    // (and so rewrites the manifests) on the way in.
    let other_manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == json!(other_arch))
        .expect("the other platform's manifest")["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let other_marker = reg
        .layer_digests("multi", &other_manifest)
        .pop()
        .expect("the /platform layer");

    let d = Daemon::start();
    let name = format!("{}/multi:v1", reg.host());
    d.ok(&["pull", &name]);
    let info = d.image_inspect(&name);
    assert_eq!(info["Architecture"], json!(host_arch), "{info}");
    assert_eq!(info["Os"], json!("linux"));
    assert_eq!(
        d.ok(&["run", "--rm", &name, "cat", "/platform"]),
        format!("{host_arch}\n")
    );
    let blobs = d.ok(&["content", "ls", "-q"]);
    assert!(
        !blobs.contains(&other_marker),
        "the other platform's layer was fetched"
    );
    let host_id = info["Id"].clone();

    let out = d.ok(&["pull", "--platform", &format!("linux/{other_arch}"), &name]);
    let info = d.image_inspect(&name);
    assert_eq!(info["Architecture"], json!(other_arch), "{out}\n{info}");
    assert_ne!(info["Id"], host_id);
    assert!(d.ok(&["content", "ls", "-q"]).contains(&other_marker));

    let (_, stderr) = d.fail(&["pull", "--platform", "linux/s390x", &name]);
    assert!(stderr.contains("s390x"), "{stderr}");
    assert_eq!(d.image_inspect(&name)["Architecture"], json!(other_arch));

    // --all-platforms: every platform's blobs, the host's image named.
    let d2 = Daemon::start();
    d2.ok(&["pull", "--all-platforms", &name]);
    assert_eq!(d2.image_inspect(&name)["Architecture"], json!(host_arch));
    let blobs = d2.ok(&["content", "ls", "-q"]);
    assert!(blobs.contains(&other_manifest), "{blobs}");
    assert!(blobs.contains(&other_marker), "{blobs}");
    d.assert_no_containers_left();
}

/// berth search finds what the registry's catalog lists, filtered by the
/// term, within the limit.
#[test]
fn search_lists_pushed_repositories() {
    let reg = Registry::plain();
    for name in ["busybox:latest", "tools/busybox:1", "other:latest"] {
        reg.seed_busybox(name);
    }
    let d = Daemon::start();
    let host = reg.host();
    let out = d.ok(&["search", "--format", "{{.Name}}", &format!("{host}/busy")]);
    let mut names: Vec<String> = out
        .lines()
        .map(|l| l.trim().trim_start_matches(&format!("{host}/")).to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["busybox", "tools/busybox"], "{out}");

    let out = d.ok(&["search", &format!("{host}/busy")]);
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("DESCRIPTION"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");

    let out = d.ok(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        &format!("{host}/busy"),
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = d.ok(&[
        "search",
        "--format",
        "{{.Name}}",
        &format!("{host}/nothing-like-it"),
    ]);
    assert_eq!(out.trim(), "");
}

/// `berth run` pulls an image it lacks first (like docker); --pull never
/// does not; --pull always pulls even when it has it.
#[test]
fn run_pulls_a_missing_image() {
    let reg = Registry::plain_with_busybox();
    let d = Daemon::start();
    let name = format!("{}/busybox:latest", reg.host());

    let (code, _, stderr) = run(&d, &["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(code, 125, "{stderr}");
    assert_error_line(&["run"], &stderr);
    assert!(!d.has_image(&name));

    let (code, stdout, stderr) = run(&d, &["run", "--rm", &name, "echo", "fetched"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "fetched\n");
    assert!(
        stderr.contains(&format!("Unable to find image '{name}' locally")),
        "{stderr}"
    );
    assert!(d.has_image(&name));

    // Present now: no pull, no message.
    let (code, _, stderr) = run(&d, &["run", "--rm", &name, "true"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("Unable to find image"), "{stderr}");

    let (code, _, stderr) = run(&d, &["run", "--rm", "--pull", "always", &name, "true"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("Unable to find image"), "{stderr}");
    assert!(
        stderr.contains("up to date") || stderr.contains("Digest:"),
        "{stderr}"
    );

    // create pulls too.
    d.ok(&["rmi", &name]);
    let (code, _, stderr) = run(&d, &["create", "--name", "c1", &name]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Unable to find image"), "{stderr}");
    d.ok(&["rm", "c1"]);

    // A missing tag: the pull's error, not a container.
    let missing = format!("{}/busybox:nosuchtag", reg.host());
    let (code, _, stderr) = run(&d, &["run", "--rm", &missing, "true"]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("Unable to find image"), "{stderr}");
    assert_error_line(&["run"], &stderr);
    d.assert_all_removed();
}

/// Bad references and missing images fail with one clear error, before or
/// after asking the (local) registry.
#[test]
fn bad_references_fail_clearly() {
    let reg = Registry::plain_with_busybox();
    let d = Daemon::start();
    let host = reg.host();
    // All on 127.0.0.1, so that even a parser that let one through would not
    // leave the machine.
    for bad in [
        format!("{host}/BusyBox:latest"),
        format!("{host}/busybox:bad:tag"),
        format!("{host}/busybox@sha256:1234"),
        format!("{host}//busybox"),
        format!("{host}/busybox:"),
        format!("{host}/busy box"),
    ] {
        let (code, stderr) = d.fail(&["pull", &bad]);
        assert_ne!(code, 0, "pull {bad}: {stderr}");
        assert!(
            lower(&stderr).contains("invalid") || lower(&stderr).contains("reference"),
            "pull {bad}: {stderr}"
        );
        let (_, stderr) = d.fail(&["push", &bad]);
        assert!(!stderr.is_empty(), "push {bad}");
    }
    let (_, stderr) = d.fail(&["pull", ""]);
    assert!(!stderr.is_empty());

    let (_, stderr) = d.fail(&["pull", &format!("{host}/nosuchrepo:latest")]);
    assert!(stderr.contains("nosuchrepo"), "{stderr}");
    let (_, stderr) = d.fail(&["pull", &format!("{host}/busybox:nosuchtag")]);
    assert!(stderr.contains("nosuchtag"), "{stderr}");
    let (_, stderr) = d.fail(&["push", &format!("{host}/notlocal:latest")]);
    assert!(
        lower(&stderr).contains("no such image") || lower(&stderr).contains("does not exist"),
        "{stderr}"
    );
    let (_, stderr) = d.fail(&[
        "pull",
        "--platform",
        "not a platform",
        &format!("{host}/busybox"),
    ]);
    assert!(lower(&stderr).contains("platform"), "{stderr}");
    d.assert_empty();
}

/// The first bytes of a blob in a plain registry.
fn blob_head(reg: &Registry, repo: &str, digest: &str, n: usize) -> Vec<u8> {
    let r = berth_tests::registry::http(
        &reg.host(),
        "GET",
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
    )
    .expect("GET blob");
    assert_eq!(r.status, 200, "GET blob {digest}: {r:?}");
    r.body.into_iter().take(n).collect()
}

/// Whether a blob's first bytes are those of its format.
type BlobMagic = fn(&[u8]) -> bool;

/// Layers compressed with zstd (in an OCI manifest) and uncompressed
/// layers, as skopeo pushes them, next to skopeo's default gzip: each pulled
/// into a fresh berthd (so that its layer is really decompressed and
/// unpacked, not found already unpacked): the same image, and it runs.
/// Each variant goes to a registry of its own: skopeo 1.9 reuses a blob it
/// has pushed there in another compression (it mounted the gzip layer for
/// a zstd push), so one registry would not hold what the test means.
/// Checked at the registry: the manifests' layer media types and the blobs'
/// first bytes.
#[test]
fn pull_gzip_zstd_and_uncompressed_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = berth_tests::registry::busybox_oci_archive(tmp.path());
    let diff_id = sha256(&busybox_rootfs_tar());
    // (what, skopeo's flags, the layer's media type, its first bytes).
    let cases: [(&str, &[&str], &str, BlobMagic); 3] = [
        (
            "gzip",
            &[],
            "application/vnd.oci.image.layer.v1.tar+gzip",
            |h| h.starts_with(&[0x1f, 0x8b]),
        ),
        (
            "zstd",
            &["--format", "oci", "--dest-compress-format", "zstd"],
            "application/vnd.oci.image.layer.v1.tar+zstd",
            |h| h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        ),
        (
            "uncompressed",
            // --dest-decompress applies to the dir transport only; to a
            // registry skopeo compresses an uncompressed layer unless it
            // must keep the manifest (and so the layers) as they are.
            &["--preserve-digests"],
            "application/vnd.oci.image.layer.v1.tar",
            |h| h.get(257..262) == Some(b"ustar".as_slice()),
        ),
    ];
    let mut ids = Vec::new();
    for (what, flags, media_type, magic) in cases {
        let reg = Registry::plain();
        reg.skopeo_copy_in(
            &format!("oci-archive:{}:latest", archive.display()),
            "busybox:latest",
            flags,
        );
        // What the registry holds is what the test meant to push.
        let manifest = reg.manifest("busybox", "latest");
        assert_eq!(
            manifest["mediaType"],
            json!("application/vnd.oci.image.manifest.v1+json"),
            "{what}: {manifest}"
        );
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], json!(media_type), "{what}: {manifest}");
        let digest = layer["digest"].as_str().expect("layer digest");
        assert!(
            magic(&blob_head(&reg, "busybox", digest, 512)),
            "{what}: the layer blob is not {media_type}"
        );

        let d = Daemon::start();
        let name = format!("{}/busybox:latest", reg.host());
        let out = d.ok(&["pull", &name]);
        assert!(
            out.contains(&format!("{}: Pull complete", &digest[7..19])),
            "{what}: {out}"
        );
        assert!(d.has_blob(digest));
        let info = d.image_inspect(&name);
        assert_eq!(info["RootFS"]["Layers"], json!([diff_id]), "{what}: {info}");
        ids.push(info["Id"].clone());
        assert_eq!(
            d.ok(&["run", "--rm", &name, "echo", what, "layers"]),
            format!("{what} layers\n")
        );
        d.assert_no_containers_left();
    }
    // The config is the same whatever the layers' compression.
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

/// A daemon whose Docker Hub mirror is `mirror` ("http://127.0.0.1:PORT")
/// and that cannot reach anything else.
fn daemon_with_mirror(mirror: &str) -> Daemon {
    let d = Daemon::start_with(DaemonOpts {
        config: Some(format!("registry_mirrors = [\"{mirror}\"]\n")),
        ..Default::default()
    });
    // The safety net is in place before anything is pulled.
    let environ = std::fs::read(format!("/proc/{}/environ", d.pid())).unwrap_or_default();
    let environ = String::from_utf8_lossy(&environ);
    for &(k, v) in berth_tests::LOOPBACK_ONLY {
        assert!(
            environ.split('\0').any(|e| e == format!("{k}={v}")),
            "berthd runs without {k}={v}"
        );
    }
    d
}

/// `registry_mirrors`: `berth pull busybox` is served by the mirror (a
/// plain registry holding library/busybox:latest) and named as Docker Hub's
/// image. With the mirror down the pull falls back to the origin, which it
/// cannot reach (the proxy variables send it to a closed port): a prompt
/// error saying what it could not reach, nothing stored.
#[test]
fn registry_mirror_serves_docker_hub_pulls() {
    let mirror = Registry::plain();
    mirror.seed_busybox("library/busybox:latest");
    let digest = mirror
        .manifest_digest("library/busybox", "latest")
        .expect("seeded");
    let d = daemon_with_mirror(&format!("http://{}", mirror.host()));

    let out = d.ok(&["pull", "busybox"]);
    assert!(out.contains("Using default tag: latest"), "{out}");
    assert!(
        out.contains("latest: Pulling from library/busybox"),
        "{out}"
    );
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for busybox:latest"),
        "{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("docker.io/library/busybox:latest"),
        "{out}"
    );
    let log = mirror.log();
    assert!(
        log.contains("/v2/library/busybox/manifests/latest"),
        "the mirror was not asked:\n{log}"
    );
    let full = d.image_inspect("docker.io/library/busybox:latest");
    assert_eq!(full["Id"], d.image_inspect("busybox")["Id"]);
    assert!(
        full["RepoDigests"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r
                .as_str()
                .is_some_and(|r| r.ends_with(&format!("busybox@{digest}"))))),
        "{full}"
    );
    let images = d.ok(&["images"]);
    assert!(
        images.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[0] == "busybox" && f[1] == "latest"
        }),
        "{images}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "from the mirror"]),
        "from the mirror\n"
    );
    let out = d.ok(&["pull", "busybox"]);
    assert!(
        out.contains("Status: Image is up to date for busybox:latest"),
        "{out}"
    );
    assert!(
        !d.log().contains("index.docker.io"),
        "berthd went past a working mirror:\n{}",
        d.log()
    );
    d.assert_no_containers_left();

    // The mirror down: the origin, through the dead proxy.
    let closed = format!("127.0.0.1:{}", berth_tests::registry::free_port());
    let d2 = daemon_with_mirror(&format!("http://{closed}"));
    let started = Instant::now();
    let (_, stderr) = d2.fail(&["pull", "busybox"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "the failing pull took {took:?}: {stderr}"
    );
    assert!(
        stderr.contains("index.docker.io") || stderr.contains("127.0.0.1:1"),
        "the error does not say what it could not reach: {stderr}"
    );
    let log = d2.log();
    assert!(
        log.contains(&closed) && log.contains("index.docker.io"),
        "berthd did not try the mirror {closed}, then the origin:\n{log}"
    );
    assert!(!d2.has_image("busybox"));
    d2.assert_empty();
}

/// Makes a CA certificate (with the openssl CLI) that signed nothing the
/// registries serve, as `<dir>/ca.crt`.
fn make_unrelated_ca(dir: &Path) {
    let openssl = require_tool("openssl", "openssl");
    std::fs::create_dir_all(dir).unwrap();
    output_ok(
        Command::new(openssl)
            .current_dir(dir)
            .args(["req", "-x509", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-keyout", "other-ca.key", "-out", "ca.crt", "-days", "7"])
            .args(["-subj", "/CN=berth test: some other CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
    std::fs::remove_file(dir.join("other-ca.key")).unwrap();
}

/// A certificate error in words a user understands.
fn says_bad_certificate(stderr: &str) -> bool {
    let s = lower(stderr);
    s.contains("certificate") || s.contains("unknown issuer") || s.contains("unknownissuer")
}

/// A TLS registry whose certs_dir entry holds another CA: pull and login
/// fail with a certificate error (not an authentication one), nothing is
/// stored; with the registry's own CA in its place both work.
#[test]
fn wrong_ca_fails_with_a_certificate_error() {
    let reg = Registry::tls_with_auth("alice", "s3cret-pw");
    reg.seed_busybox("busybox:latest");
    let certs = tempfile::tempdir().unwrap();
    let certs_dir = certs.path().join("certs.d");
    make_unrelated_ca(&certs_dir.join(reg.host()));
    let d = Daemon::start_with(DaemonOpts {
        config: Some(format!("certs_dir = \"{}\"\n", certs_dir.display())),
        ..Default::default()
    });
    let host = reg.host();
    let name = format!("{host}/busybox:latest");

    let (_, stderr) = d.fail(&["pull", &name]);
    assert!(says_bad_certificate(&stderr), "{stderr}");
    assert!(!says_unauthorized(&stderr), "{stderr}");
    assert!(!d.has_image(&name));

    let out = d.login(&host, "alice", "s3cret-pw");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "login trusted the wrong CA");
    assert_error_line(&["login"], &stderr);
    assert!(says_bad_certificate(&stderr), "{stderr}");
    d.assert_not_logged_in(&host);
    d.assert_empty();

    // The registry's own CA: the same daemon now gets in.
    reg.write_certs_dir(certs.path());
    let out = d.login(&host, "alice", "s3cret-pw");
    let stdout = check_ok(&["login"], &out);
    assert!(stdout.contains("Login Succeeded"), "{stdout}");
    d.ok(&["pull", &name]);
    assert_eq!(
        d.ok(&["run", "--rm", &name, "echo", "trusted"]),
        "trusted\n"
    );
    d.assert_no_containers_left();
}

/// Puts an image of `layers` layers of `mib` MiB of random bytes each into
/// the registry as `name` with skopeo.
fn seed_random(reg: &Registry, name: &str, layers: usize, mib: usize) {
    let spec = ImageSpec::new(
        "random:latest",
        (0..layers)
            .map(|i| random_layer(&format!("layer{i}"), mib, 1))
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("random-oci.tar");
    ImageBuilder::new(Layout::Oci, vec![spec]).write_to(&p);
    reg.skopeo_push_archive(&p, "latest", name);
}

/// Whether `s` holds an ANSI control sequence that moves the cursor up
/// (ESC [ n A), as a redraw in place does.
fn has_cursor_up(s: &str) -> bool {
    s.split("\x1b[").skip(1).any(|seq| {
        seq.trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('A')
    })
}

/// The rows of the last frame a progress display drew on a terminal `cols`
/// wide, and what was printed after it: the text after the last control
/// sequence (the move to the frame's first row), cut into rows (indicatif
/// pads every row to the terminal's width instead of ending it).
fn final_screen(out: &str, cols: usize) -> Vec<String> {
    let last = out.rsplit("\x1b[").next().unwrap_or_default();
    let last = last.trim_start_matches(|c: char| c.is_ascii_digit());
    let frame: Vec<char> = last.strip_prefix('A').unwrap_or(last).chars().collect();
    frame
        .chunks(cols)
        .map(|row| row.iter().collect::<String>().trim_end().to_string())
        .filter(|row| !row.is_empty())
        .collect()
}

/// Runs `berth ARGS` on a 120x40 pty until it exits; returns what the
/// terminal showed, once the reference berth prints last has arrived.
fn pull_on_a_pty(d: &Daemon, args: &[&str], last_line: &str) -> String {
    let mut pty = d.pty_sized(args, 120, 40);
    let status = pty.wait(Duration::from_secs(120));
    let end = format!("{last_line}\r\n");
    // The command exited; what it wrote may still be on its way.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pty.output().ends_with(&end) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = pty.output();
    assert!(status.success(), "berth {args:?} failed ({status}):\n{out}");
    assert!(
        out.ends_with(&end),
        "berth {args:?} did not end with {last_line}:\n{out}"
    );
    out
}

/// Pull progress like docker's: on a terminal one line per layer redrawn
/// in place (cursor movement, the byte phases while they run) ending in
/// "Pull complete"; on a pipe plain lines only (no escape sequences, no
/// byte counts); `-q` prints only the reference, on either.
#[test]
fn pull_progress_on_a_terminal_and_on_a_pipe() {
    let reg = Registry::plain();
    seed_random(&reg, "random:latest", 4, 3);
    let name = format!("{}/random:latest", reg.host());
    let shorts: Vec<String> = reg
        .layer_digests("random", "latest")
        .iter()
        .map(|d| d[7..19].to_string())
        .collect();
    assert_eq!(shorts.len(), 4);

    // A pipe: docker's plain lines.
    let d = Daemon::start();
    let out = d.ok(&["pull", &name]);
    assert!(!out.contains('\x1b'), "escape sequences on a pipe: {out:?}");
    for word in ["Downloading", "Extracting", "MB/"] {
        assert!(!out.contains(word), "byte counts on a pipe: {out}");
    }
    for s in &shorts {
        assert!(
            out.lines().any(|l| l == format!("{s}: Pull complete")),
            "{out}"
        );
    }
    for l in out.lines() {
        let known = l == "latest: Pulling from random"
            || l.starts_with("Digest: sha256:")
            || l.starts_with("Status: Downloaded newer image for ")
            || l == name
            || shorts.iter().any(|s| l.starts_with(&format!("{s}: ")));
        assert!(known, "an unexpected line {l:?} in:\n{out}");
    }
    d.ok(&["rmi", &name]);
    assert_eq!(d.ok(&["pull", "-q", &name]), format!("{name}\n"));
    assert!(d.has_image(&name));

    // A terminal: the layers' lines redrawn in place, bars while bytes
    // move, and at the end docker's screen.
    let d2 = Daemon::start();
    let digest = reg.manifest_digest("random", "latest").expect("seeded");
    let out = pull_on_a_pty(&d2, &["pull", &name], &name);
    assert!(has_cursor_up(&out), "no redraw in place: {out:?}");
    assert!(
        out.contains("Downloading [") || out.contains("Extracting ["),
        "no layer was drawn with a bar: {out:?}"
    );
    let mut want: Vec<String> = shorts
        .iter()
        .map(|s| format!("{s}: Pull complete"))
        .collect();
    want.push(format!("Digest: {digest}"));
    want.push(format!("Status: Downloaded newer image for {name}"));
    want.push(name.clone());
    assert_eq!(final_screen(&out, 120), want, "{out:?}");
    d2.ok(&["rmi", &name]);
    let out = pull_on_a_pty(&d2, &["pull", "-q", &name], &name);
    assert_eq!(out, format!("{name}\r\n"));
}

/// A push of an image whose blobs the registry holds in another
/// repository: they are mounted from there ("Mounted from <repo>"), not
/// sent again, and the manifest is the same.
#[test]
fn push_mounts_blobs_from_another_repository() {
    let reg = Registry::plain_with_busybox();
    let digest = reg.manifest_digest("busybox", "latest").expect("seeded");
    let layer = reg.layer_digests("busybox", "latest").remove(0);
    let short = &layer[7..19];
    let host = reg.host();
    let d = Daemon::start();
    let src = format!("{host}/busybox:latest");
    d.ok(&["pull", &src]);

    // Pulled from busybox: mounted from busybox.
    let copy = format!("{host}/copies/busybox:v1");
    d.ok(&["tag", &src, &copy]);
    let out = d.ok(&["push", &copy]);
    assert!(
        out_has_layer_line(&out, &[short], "Mounted from busybox"),
        "{out}"
    );
    assert!(!out.contains("Pushed"), "{out}");
    assert_eq!(berth_tests::registry::pushed_digest(&out, "v1"), digest);
    assert_eq!(
        reg.manifest_digest("copies/busybox", "v1"),
        Some(digest.clone())
    );
    let log = reg.log();
    assert!(
        log.contains("mount=") && log.contains("from=busybox"),
        "no mount request:\n{log}"
    );

    // Pushed to copies/busybox: a third repository mounts from one of them.
    let third = format!("{host}/third:latest");
    d.ok(&["tag", &src, &third]);
    let out = d.ok(&["push", &third]);
    assert!(
        out_has_layer_line(&out, &[short], "Mounted from busybox")
            || out_has_layer_line(&out, &[short], "Mounted from copies/busybox"),
        "{out}"
    );
    assert_eq!(reg.manifest_digest("third", "latest"), Some(digest));

    // What was mounted is whole: a fresh daemon pulls and runs it.
    let d2 = Daemon::start();
    d2.ok(&["pull", &third]);
    assert_eq!(
        d2.ok(&["run", "--rm", &third, "echo", "mounted"]),
        "mounted\n"
    );
    d2.assert_no_containers_left();
}
