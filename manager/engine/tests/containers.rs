//! Engine-level container tests that need no shim: create, records,
//! names, bad input, ps, inspect, logs of a stopped container, rmi and
//! garbage collection. They need root (overlay mounts).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use berth_engine::container::create::CreateOptions;
use berth_engine::container::list::ListOptions;
use berth_engine::container::logs::LogsOptions;
use berth_engine::container::wait::WaitCondition;
use berth_engine::image::load;
use berth_engine::ErrorKind;
use berth_tests::fixture::{busybox_image, ImageBuilder, Layout};
use serde_json::json;
use support::*;

#[test]
fn create_records_everything_and_rm_leaves_nothing() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "echo hi"]);
        o.config.labels.insert("app".into(), "web".into());
        o.config.env = vec!["FOO=bar".into()];
        let c = create(&env, o).await;
        assert_eq!(c.id.len(), 64);
        let rec = env.c().lookup_container(NS, &c.id).unwrap();
        assert!(rec.name.contains('_'), "generated name {}", rec.name);
        assert_eq!(rec.hostname, &c.id[..12]);
        assert_eq!(rec.path, "sh");
        assert_eq!(rec.args, ["-c", "echo hi"]);
        assert_eq!(rec.snapshot_key, c.id);
        let (img, _) = env.e().images().resolve_image(NS, "busybox").unwrap();
        assert_eq!(rec.image_id, img.id());
        // The rootfs snapshot: active, on the image's top layer.
        let info = env.e().test_snapshotter().stat(&c.id).unwrap();
        assert_eq!(info.kind, berth_snapshotter::Kind::Active);
        assert_eq!(
            info.parent.as_deref(),
            Some(img.layers[0].chain_id.as_str())
        );
        assert!(env
            .e()
            .test_list_snapshots(NS)
            .unwrap()
            .iter()
            .any(|(r, _, _)| r.key == c.id));
        // The stored spec and the empty log.
        let dir = env
            .dir
            .path()
            .join(format!("root/containers/{NS}/{}", c.id));
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(spec["process"]["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(spec["hostname"], &c.id[..12]);
        assert_eq!(spec["root"]["path"], "rootfs");
        assert!(spec["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("FOO=bar")));
        assert!(spec["linux"]["seccomp"].is_object(), "default seccomp");
        let log = dir.join(format!("{}-json.log", c.id));
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        assert_eq!(rec.log_path, log);
        // Nothing mounted once create returns.
        assert!(env.mounts().is_empty(), "{:?}", env.mounts());

        // ps: not running, so only with all; inspect: docker's shape.
        let ps = |all| {
            env.c().list_containers(
                NS,
                ListOptions {
                    all,
                    size: true,
                    filters: vec![],
                },
            )
        };
        assert!(ps(false).await.unwrap().is_empty());
        let l = ps(true).await.unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].id, c.id);
        assert!(l[0].size_root_fs.unwrap() > 0);
        let v = env.inspect(&rec.name, true).await;
        assert_eq!(v["Id"], c.id.as_str());
        assert_eq!(v["State"]["Status"], "created");
        assert_eq!(v["Name"], format!("/{}", rec.name));
        assert_eq!(v["Config"]["Labels"]["app"], "web");
        assert_eq!(v["Config"]["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(v["GraphDriver"]["Name"], "overlayfs");
        assert!(v["GraphDriver"]["Data"]["UpperDir"].is_string());

        // Not running: kill and top refuse, stop is a no-op, wait is done.
        let e = env.c().kill_container(NS, &c.id, "").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert_eq!(e.to_string(), format!("container {} is not running", c.id));
        let e = env.c().top_container(NS, &c.id, &[]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        env.c().stop_container(NS, &c.id, -1, "").await.unwrap();
        let w = env
            .c()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .await
            .unwrap();
        assert_eq!(w.wait().await.unwrap().code, 0);

        // A "removed" waiter wakes when rm is done.
        let w = env
            .c()
            .wait_container(NS, &c.id, WaitCondition::Removed)
            .await
            .unwrap();
        let waiting = tokio::spawn(w.wait());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        env.c()
            .remove_container(NS, &c.id[..12], false)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let e = env
            .c()
            .inspect_container(NS, &c.id, false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("No such container: {}", c.id));
    });
    env.assert_no_containers(image_snaps);
    assert!(env.e().test_list_snapshots(NS).unwrap().len() == image_snaps);
}

#[test]
fn users_resolve_from_the_image() {
    let env = Env::new("native");
    env.load(busybox_image("busybox:latest").with("User", json!("alice")));
    rt().block_on(async {
        let spec_of = |id: &str| -> serde_json::Value {
            let p = env
                .dir
                .path()
                .join(format!("root/containers/{NS}/{id}/config.json"));
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        // The image's USER.
        let c = create(&env, opts(&["id"])).await;
        assert_eq!(
            spec_of(&c.id)["process"]["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10]})
        );
        let cases: &[(&str, serde_json::Value)] = &[
            ("root", json!({"uid": 0, "gid": 0})),
            ("nobody", json!({"uid": 65534, "gid": 65534})),
            ("1234:5678", json!({"uid": 1234, "gid": 5678})),
            ("alice:nogroup", json!({"uid": 1000, "gid": 65534})),
        ];
        for (user, want) in cases {
            let mut o = opts(&["id"]);
            o.config.user = user.to_string();
            let c = create(&env, o).await;
            assert_eq!(&spec_of(&c.id)["process"]["user"], want, "{user}");
            let v = env.inspect(&c.id, false).await;
            assert_eq!(v["Config"]["User"], *user);
        }
    });
}

#[test]
fn bad_input_leaves_nothing() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    let host_dir = env.dir.path().display().to_string();
    rt().block_on(async {
        type Case = (
            &'static str,
            Box<dyn Fn(&mut CreateOptions)>,
            ErrorKind,
            String,
        );
        let cases: Vec<Case> = vec![
            (
                "unknown user",
                Box::new(|o| o.config.user = "nosuch".into()),
                ErrorKind::InvalidArgument,
                "unable to find user nosuch: no matching entries in passwd file".into(),
            ),
            (
                "unknown group",
                Box::new(|o| o.config.user = "root:nogrp".into()),
                ErrorKind::InvalidArgument,
                "unable to find group nogrp: no matching entries in group file".into(),
            ),
            (
                "missing image",
                Box::new(|o| o.config.image = "nosuch:1".into()),
                ErrorKind::NotFound,
                "No such image: nosuch:1".into(),
            ),
            (
                "bad volume name",
                Box::new(|o| o.host_config.binds = vec!["x:/data".into()]),
                ErrorKind::InvalidArgument,
                "includes invalid characters for a local volume name".into(),
            ),
            (
                "bad mode",
                Box::new(|o| o.host_config.binds = vec!["vol:/data:zz".into()]),
                ErrorKind::InvalidArgument,
                "invalid mode: zz".into(),
            ),
            (
                "volumes-from an unknown container",
                Box::new(|o| o.host_config.volumes_from = vec!["nosuch".into()]),
                ErrorKind::NotFound,
                "No such container: nosuch".into(),
            ),
            (
                "missing bind source",
                Box::new(|o| o.host_config.binds = vec!["/nonexistent/x:/data".into()]),
                ErrorKind::InvalidArgument,
                "bind source path does not exist: /nonexistent/x".into(),
            ),
            (
                "unknown network",
                Box::new(|o| o.host_config.network_mode = "nosuchnet".into()),
                ErrorKind::NotFound,
                "network nosuchnet not found".into(),
            ),
            (
                "relative workdir",
                Box::new(|o| o.config.working_dir = "rel".into()),
                ErrorKind::InvalidArgument,
                "the working directory 'rel' is invalid".into(),
            ),
            (
                "bad name",
                Box::new(|o| o.name = "a b".into()),
                ErrorKind::InvalidArgument,
                "Invalid container name (a b)".into(),
            ),
            (
                "bad capability",
                Box::new(|o| o.host_config.cap_add = vec!["FLY".into()]),
                ErrorKind::InvalidArgument,
                "unknown capability".into(),
            ),
            (
                "bad stop signal",
                Box::new(|o| o.config.stop_signal = "SIGNOPE".into()),
                ErrorKind::InvalidArgument,
                "Invalid signal: SIGNOPE".into(),
            ),
            (
                "bad security opt",
                Box::new(|o| o.host_config.security_opt = vec!["seccomp=/x.json".into()]),
                ErrorKind::InvalidArgument,
                "Invalid --security-opt".into(),
            ),
            (
                "bad runtime",
                Box::new(|o| o.host_config.runtime = "nosuch-runtime".into()),
                ErrorKind::InvalidArgument,
                "unknown or invalid runtime name: nosuch-runtime".into(),
            ),
            (
                "bind onto /",
                Box::new(move |o| o.host_config.binds = vec![format!("{host_dir}:/")]),
                ErrorKind::InvalidArgument,
                "destination can't be '/'".into(),
            ),
        ];
        for (what, f, kind, msg) in cases {
            let mut o = opts(&["true"]);
            f(&mut o);
            let Err(e) = env.c().create_container(NS, o).await else {
                panic!("{what}: created");
            };
            assert_eq!(e.kind(), kind, "{what}: {e}");
            assert!(e.to_string().contains(&msg), "{what}: {e}");
        }
        env.assert_no_containers(image_snaps);

        // A taken name: the second create fails, the first stays.
        let mut o = opts(&["true"]);
        o.name = "web".into();
        let first = create(&env, o.clone()).await;
        o.name = "/web".into();
        let e = env.c().create_container(NS, o).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(e
            .to_string()
            .contains("\"/web\" is already in use by container"));
        assert_eq!(env.c().container_records(NS).unwrap().len(), 1);
        assert_eq!(env.snapshots().len(), image_snaps + 1);
        // The same name in another namespace is fine.
        let archive = ImageBuilder::new(Layout::Oci, vec![busybox_image("busybox:latest")]).build();
        load::load(env.e().images(), "other", std::io::Cursor::new(archive)).unwrap();
        let mut o = opts(&["true"]);
        o.name = "web".into();
        let other = env.c().create_container("other", o).await.unwrap();
        env.c()
            .remove_container("other", "web", false)
            .await
            .unwrap();
        assert!(env.c().lookup_container("other", &other.id).is_err());
        env.c()
            .remove_container(NS, &first.id, false)
            .await
            .unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn names_lookup_and_rename() {
    let env = Env::new("native");
    env.load_busybox();
    rt().block_on(async {
        let mut ids = Vec::new();
        for name in ["a1", "b2"] {
            let mut o = opts(&["true"]);
            o.name = name.into();
            ids.push(create(&env, o).await.id);
        }
        let e = env.e();
        assert_eq!(
            e.containers().lookup_container(NS, "a1").unwrap().id,
            ids[0]
        );
        assert_eq!(
            e.containers().lookup_container(NS, "/b2").unwrap().id,
            ids[1]
        );
        assert_eq!(
            e.containers()
                .lookup_container(NS, &ids[1][..12])
                .unwrap()
                .name,
            "b2"
        );
        assert_eq!(
            e.containers()
                .lookup_container(NS, "zz")
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        // An id prefix both share (if they share one) is ambiguous.
        let common = ids[0]
            .chars()
            .zip(ids[1].chars())
            .take_while(|(a, b)| a == b)
            .count();
        if common > 0 {
            let e = e
                .containers()
                .lookup_container(NS, &ids[0][..common])
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        }
        let err = e
            .containers()
            .rename_container(NS, "a1", "b2")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        e.containers()
            .rename_container(NS, "a1", "c3")
            .await
            .unwrap();
        assert_eq!(
            e.containers().lookup_container(NS, "c3").unwrap().id,
            ids[0]
        );
        // (Not a lookup of "a1": a random id may start with those two.)
        assert!(e
            .containers()
            .container_records(NS)
            .unwrap()
            .iter()
            .all(|c| c.name != "a1"));
        let err = e
            .containers()
            .rename_container(NS, "c3", "bad name")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        // ps filters.
        let ps = |f: &[&str]| {
            e.containers().list_containers(
                NS,
                ListOptions {
                    all: true,
                    size: false,
                    filters: f.iter().map(|s| s.to_string()).collect(),
                },
            )
        };
        assert_eq!(ps(&["name=c3"]).await.unwrap().len(), 1);
        assert_eq!(ps(&["status=created"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["status=running"]).await.unwrap().len(), 0);
        assert_eq!(ps(&["ancestor=busybox"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["ancestor=busybox:latest"]).await.unwrap().len(), 2);
        assert_eq!(ps(&["ancestor=alpine"]).await.unwrap().len(), 0);
        assert_eq!(
            ps(&[&format!("id={}", &ids[1][..8])]).await.unwrap()[0].name,
            "b2"
        );
        assert!(ps(&["bogus=1"]).await.is_err());
        // Newest first.
        let l = ps(&[]).await.unwrap();
        assert_eq!(l[0].id, ids[1]);
    });
}

#[test]
fn rmi_refuses_an_image_a_container_uses_and_gc_keeps_its_snapshot() {
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let c = create(&env, opts(&["true"])).await;
        let e = env
            .e()
            .images()
            .remove_image(NS, "busybox", false)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(
            e.to_string()
                .contains(&format!("container {} is using it", &c.id[..12])),
            "{e}"
        );
        // Forced: the image goes, the container and its snapshot stay,
        // through garbage collection too.
        env.e().images().remove_image(NS, "busybox", true).unwrap();
        env.e().test_prune().unwrap();
        assert!(env.e().test_snapshotter().stat(&c.id).is_ok());
        assert!(env.e().test_snapshotter().mounts(&c.id).is_ok());
        // Its parent chain is kept for it.
        assert_eq!(env.snapshots().len(), 2);
        env.c().remove_container(NS, &c.id, false).await.unwrap();
        env.e().test_prune().unwrap();
        assert!(env.snapshots().is_empty(), "{:?}", env.snapshots());
    });
}

/// Writes docker json-file lines.
fn log_lines(entries: &[(&str, &str, u32)]) -> String {
    entries
        .iter()
        .map(|(stream, text, sec)| {
            json!({"log": text, "stream": stream, "time": format!("2026-01-01T00:00:{sec:02}.000000001Z")})
                .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn logs_of_a_stopped_container_across_rotated_files() {
    let env = Env::new("native");
    env.load_busybox();
    rt().block_on(async {
        let c = create(&env, opts(&["true"])).await;
        let log = env.c().lookup_container(NS, &c.id).unwrap().log_path;
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
        std::fs::write(
            rotated(2),
            log_lines(&[("stdout", "a\n", 1), ("stderr", "b\n", 2)]),
        )
        .unwrap();
        std::fs::write(rotated(1), log_lines(&[("stdout", "c\n", 3)])).unwrap();
        std::fs::write(
            &log,
            log_lines(&[("stderr", "d\n", 4), ("stdout", "e\n", 5)]),
        )
        .unwrap();
        let read = |o: LogsOptions| async {
            let mut rx = env.c().container_logs(NS, &c.id, o).await.unwrap();
            let mut out = Vec::new();
            while let Some(e) = rx.recv().await {
                let e = e.unwrap();
                out.push(format!(
                    "{}:{}",
                    e.stream,
                    String::from_utf8_lossy(&e.data).trim()
                ));
            }
            out
        };
        let all = LogsOptions {
            tail: -1,
            stdout: true,
            stderr: true,
            // Follow on a stopped container ends after the history.
            follow: true,
            ..Default::default()
        };
        assert_eq!(
            read(all.clone()).await,
            ["stdout:a", "stderr:b", "stdout:c", "stderr:d", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                tail: 2,
                ..all.clone()
            })
            .await,
            ["stderr:d", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                stderr: false,
                ..all.clone()
            })
            .await,
            ["stdout:a", "stdout:c", "stdout:e"]
        );
        assert_eq!(
            read(LogsOptions {
                since: "2026-01-01T00:00:03Z".into(),
                until: "2026-01-01T00:00:05Z".into(),
                ..all.clone()
            })
            .await,
            ["stdout:c", "stderr:d"]
        );
        let e = env
            .c()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    since: "yesterday".into(),
                    ..all
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        // rm removes the rotated files too.
        env.c().remove_container(NS, &c.id, false).await.unwrap();
        assert!(!log.exists() && !rotated(1).exists());
    });
}
