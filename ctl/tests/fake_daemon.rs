//! The `berth` binary against a fake berthd on a unix socket: what a user
//! sees on stdout, stderr and in the exit code, and what reaches the daemon
//! (namespace header, archive bytes in 1 MiB chunks, atomic save).

mod common;

use common::images::IMAGE_ID as ID;
use common::{text, Daemon, Service};

async fn start() -> Daemon {
    common::start(&[Service::Images, Service::System]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_table_and_namespace_header() {
    let d = start().await;
    let out = d.output(&["images", "-n", "k8s.io"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE"
    );
    assert!(
        lines[1].starts_with("busybox      latest    a416a98b71e2   "),
        "{stdout}"
    );
    assert!(lines[1].ends_with(" years ago   4.26MB"), "{stdout}");
    assert_eq!(d.fake.state.lock().unwrap().namespaces, vec!["k8s.io"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_streams_in_mib_chunks() {
    let d = start().await;
    let archive = d.dir().join("a.tar");
    std::fs::write(&archive, vec![0u8; (1 << 20) * 2 + 5]).unwrap();
    let out = d
        .output(&["load", "-i", archive.to_str().unwrap()], None)
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Loaded image: busybox:latest\nLoaded image ID: {ID}\n")
    );
    let seen = d.fake.state.lock().unwrap();
    assert_eq!(seen.load_chunks, vec![1 << 20, 1 << 20, 5]);
    assert_eq!(seen.namespaces, vec!["default"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_from_stdin_and_daemon_errors() {
    let d = start().await;
    let out = d.output(&["image", "load"], Some(vec![1u8; 500])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Loaded image: busybox:latest\n"));

    let out = d.output(&["load"], Some(b"tiny".to_vec())).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: archive is truncated\n");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_is_atomic() {
    let d = start().await;
    let dest = d.dir().join("out.tar");
    let out = d
        .output(&["save", "-o", dest.to_str().unwrap(), "busybox"], None)
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), b"part one;part two");

    let failed = d.dir().join("failed.tar");
    let out = d
        .output(
            &[
                "save",
                "-o",
                failed.to_str().unwrap(),
                "busybox",
                "fails-midway",
            ],
            None,
        )
        .await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: disk on fire\n");
    assert!(!failed.exists());
    let leftovers: Vec<_> = std::fs::read_dir(d.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sends_the_header_first() {
    let d = start().await;
    let out = d
        .output(
            &["import", "-c", "CMD [\"sh\"]", "-m", "hello", "-", "app:v1"],
            Some(vec![9u8; 3000]),
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID}\n"));
    let seen = d.fake.state.lock().unwrap();
    let header = seen.import_header.clone().unwrap();
    assert_eq!(header.reference, "app:v1");
    assert_eq!(header.changes, vec!["CMD [\"sh\"]"]);
    assert_eq!(header.message, "hello");
    assert_eq!(seen.import_bytes, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmi_reports_each_failure_and_goes_on() {
    let d = start().await;
    let out = d.output(&["rmi", "nope", "busybox"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: No such image: nope\n");
    assert_eq!(
        text(&out.stdout),
        format!("Untagged: busybox:latest\nDeleted: {ID}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_and_history() {
    let d = start().await;
    let out = d.output(&["inspect", "busybox"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["Id"], ID);
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");

    let out = d.output(&["image", "inspect", "missing"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(text(&out.stderr), "Error: No such image: missing\n");

    // Plain `inspect` tries a container first; this fake has no Containers
    // service, so it falls through to the image.
    let out = d
        .output(&["inspect", "-f", "{{.Id}} {{.Os}}", "busybox"], None)
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID} linux\n"));
    let out = d.output(&["inspect", "missing"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: No such object: missing\n");

    let out = d.output(&["history", "busybox", "-H=false"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{stdout}");
    assert!(
        lines[1].starts_with("a416a98b71e2   2020-01-01T00:00:00Z   CMD [\"sh\"]"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("<missing>      2020-01-01T00:00:00Z   ADD file:x in /"),
        "{stdout}"
    );
    assert!(lines[2].contains("   4261274"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_unimplemented_calls() {
    let d = start().await;
    let out = d.output(&["version"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Server:\n Version:          9.9.9\n"),
        "{stdout}"
    );

    // A service the fake lacks: tonic's status, printed as one line.
    let out = d.output(&["ns", "ls"], None).await;
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("Error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
