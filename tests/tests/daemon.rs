//! berthd itself: flags, the root lock, the socket, config file vs flags,
//! clean shutdown, and the CLI's errors when it cannot reach a daemon.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use berth_tests::{bin, check_fail, Daemon, DaemonOpts};

#[test]
fn lock_socket_mode_and_clean_shutdown() {
    let mut d = Daemon::start();
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode");

    // A second berthd on the same root refuses to start and says why.
    let out = Command::new(bin("berthd"))
        .arg("--root")
        .arg(d.root())
        .arg("--state")
        .arg(d.dir.path().join("state2"))
        .arg("--address")
        .arg(format!("unix://{}/other.sock", d.dir.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another berthd"), "{err}");
    assert!(err.contains("berthd.lock"), "{err}");
    // The first one still answers.
    d.ok(&["version"]);

    // SIGTERM: exit 0 and the socket is gone.
    let st = d.stop().expect("status");
    assert!(st.success(), "berthd exit status {st}");
    assert!(!d.socket().exists(), "socket left behind");
}

#[test]
fn config_file_and_flags() {
    // The file chooses the native snapshotter...
    let d = Daemon::start_with(DaemonOpts {
        config: Some("snapshotter = \"native\"\nlog_level = \"info\"\n".into()),
        ..Default::default()
    });
    assert_eq!(d.info()["Snapshotter"], "native");
    drop(d);
    // ...and a flag overrides the file.
    let d = Daemon::start_with(DaemonOpts {
        config: Some("snapshotter = \"native\"\n".into()),
        ..DaemonOpts::snapshotter("overlayfs")
    });
    let info = d.ok(&["info"]);
    assert!(info.contains("Snapshotter: overlayfs"), "{info}");
    assert!(info.contains("snapshotter = \"overlayfs\""), "{info}");
}

#[test]
fn bad_config_and_missing_config_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "snapshoter = \"x\"\n").unwrap();
    for args in [
        vec!["--config".to_string(), cfg.display().to_string()],
        vec!["--config".into(), "/nonexistent/berth.toml".into()],
        vec![
            "--snapshotter".into(),
            "zfs-nope".into(),
            "--root".into(),
            dir.path().join("r").display().to_string(),
            "--address".into(),
            format!("unix://{}/s.sock", dir.path().display()),
        ],
    ] {
        let out = Command::new(bin("berthd")).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("berthd:"), "{args:?}: {err}");
    }
}

#[test]
fn cli_errors() {
    // Unknown flag: one line, exit 125.
    let out = Command::new(bin("berth"))
        .arg("--badflag")
        .output()
        .unwrap();
    let (code, _) = check_fail(&["--badflag"], &out);
    assert_eq!(code, 125);
    // No daemon at the address.
    let out = Command::new(bin("berth"))
        .args(["-H", "unix:///nonexistent/berth.sock", "images"])
        .output()
        .unwrap();
    let (code, err) = check_fail(&["images"], &out);
    assert_eq!(code, 125);
    assert!(err.contains("/nonexistent/berth.sock"), "{err}");
    // BERTH_HOST is honoured.
    let out = Command::new(bin("berth"))
        .env("BERTH_HOST", "unix:///nonexistent/env.sock")
        .arg("images")
        .output()
        .unwrap();
    let (_, err) = check_fail(&["images"], &out);
    assert!(err.contains("/nonexistent/env.sock"), "{err}");
    // Only unix sockets.
    let out = Command::new(bin("berth"))
        .args(["-H", "tcp://127.0.0.1:1", "images"])
        .output()
        .unwrap();
    let (code, _) = check_fail(&["images"], &out);
    assert_eq!(code, 125);
}

#[test]
fn namespaces_scope_images() {
    let d = Daemon::start();
    let archive = berth_tests::fixture::busybox_archive(
        berth_tests::fixture::Layout::Legacy,
        "busybox:latest",
    );
    let p = d.write_file("bb.tar", &archive);
    d.ok(&["-n", "team-a", "load", "-i", &p]);
    assert!(d.ok(&["-n", "team-a", "images"]).contains("busybox"));
    assert_eq!(d.ok(&["images", "-q"]).trim(), "", "default sees nothing");
    let ls = d.ok(&["namespace", "ls"]);
    assert!(ls.contains("team-a") && ls.contains("default"), "{ls}");
    // rm refuses a namespace that holds an image.
    let (code, err) = d.fail(&["namespace", "rm", "team-a"]);
    assert_eq!(code, 125);
    assert!(err.contains("not empty"), "{err}");
    d.ok(&["-n", "team-a", "rmi", "busybox"]);
    d.ok(&["namespace", "rm", "team-a"]);
    assert!(!d.ok(&["namespace", "ls"]).contains("team-a"));
    // create / duplicate / bad name
    d.ok(&["namespace", "create", "k8s.io"]);
    assert!(d
        .fail(&["namespace", "create", "k8s.io"])
        .1
        .contains("already exists"));
    assert!(d
        .fail(&["namespace", "create", "Bad_NS"])
        .1
        .contains("invalid namespace"));
    assert!(d
        .fail(&["-n", "Bad/NS", "images"])
        .1
        .contains("invalid namespace"));
}
