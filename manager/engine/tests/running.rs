//! Engine-level tests of containers that run: they need root, cgroups and
//! the shim binary (target/debug/berth-shim: `cargo build -p berth-shim`).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use berth_engine::container::attach::AttachEvent;
use berth_engine::container::logs::LogsOptions;
use berth_engine::container::record::bundle_dir;
use berth_engine::container::wait::WaitCondition;
use berth_engine::engine::Engine;
use berth_engine::ErrorKind;
use support::*;

#[test]
fn run_output_exit_code_and_cleanup() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["sh", "-c", "echo out; echo err >&2; exit 3"])).await;
        let (out, err, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!(out, "out\n");
        assert_eq!(err, "err\n");
        assert_eq!(exit.code, 3);
        let v = env.inspect(&c.id, false).await;
        assert_eq!(v["State"]["Status"], "exited");
        assert_eq!(v["State"]["ExitCode"], 3);
        assert_eq!(v["State"]["Running"], false);
        assert_ne!(v["State"]["StartedAt"], "0001-01-01T00:00:00Z");
        assert_ne!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
        // Logs after the exit.
        let mut rx = env
            .c()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    tail: -1,
                    stdout: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let e = rx.recv().await.unwrap().unwrap();
        assert_eq!(e.data, b"out\n");
        assert!(rx.recv().await.is_none());
        // Wait on an exited container is immediate.
        let w = env
            .c()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .await
            .unwrap();
        assert_eq!(w.wait().await.unwrap().code, 3);
        // A second run appends to the same log.
        let (out, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!((out.as_str(), exit.code), ("out\n", 3));
        env.c().remove_container(NS, &c.id, false).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn command_not_found_is_127_and_rm_removes() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["nosuch"])).await;
        let e = env.c().start_container(NS, &c.id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        match &e {
            berth_engine::ManagerError::StartFailed { exit_code, message } => {
                assert_eq!(*exit_code, 127);
                assert!(message.contains("nosuch"), "{message}");
            }
            other => panic!("not a start failure: {other}"),
        }
        let v = env.inspect(&c.id, false).await;
        assert_eq!(v["State"]["ExitCode"], 127);
        assert!(v["State"]["Error"].as_str().unwrap().contains("nosuch"));
        assert_eq!(v["State"]["Running"], false);
        env.c().remove_container(NS, &c.id, false).await.unwrap();

        // With --rm, a failed start removes the container.
        let mut o = opts(&["/etc/passwd"]);
        o.host_config.auto_remove = true;
        let c = create(&env, o).await;
        let w = env
            .c()
            .wait_container(NS, &c.id, WaitCondition::Removed)
            .await
            .unwrap();
        let e = env.c().start_container(NS, &c.id).await.unwrap_err();
        assert!(
            matches!(
                e,
                berth_engine::ManagerError::StartFailed { exit_code: 126, .. }
            ),
            "{e}"
        );
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), w.wait())
                .await
                .unwrap()
                .unwrap()
                .code,
            126
        );
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn stop_timeout_and_signals() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let e = env.e();
        // A process that ignores SIGTERM: stop kills it after the timeout.
        let c = create(&env, opts(&["sh", "-c", "trap '' TERM; exec sleep 1000"])).await;
        e.containers().start_container(NS, &c.id).await.unwrap();
        let rec = e.containers().lookup_container(NS, &c.id).unwrap();
        assert!(rec.state.running());
        assert!(rec.state.pid > 0);
        // docker's 304 and 409 (gRPC: FailedPrecondition for both).
        let err = e.containers().start_container(NS, &c.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotModified);
        let err = e
            .containers()
            .remove_container(NS, &c.id, false)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err
            .to_string()
            .contains("container is running: stop the container before removing or force remove"));
        let t0 = std::time::Instant::now();
        e.containers()
            .stop_container(NS, &c.id, 1, "")
            .await
            .unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(1));
        let rec = e.containers().lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        assert_eq!(rec.state.exit_code, 137);

        e.containers()
            .remove_container(NS, &c.id, false)
            .await
            .unwrap();

        // A clean stop: SIGTERM reaches the process; kill -s USR1 too.
        let script =
            "trap 'exit 7' TERM; trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done";
        let c = create(&env, opts(&["sh", "-c", script])).await;
        for (how, code) in [("stop", 7), ("USR1", 42), ("10", 42)] {
            let mut out = e
                .containers()
                .attach_container(NS, &c.id, true, false)
                .await
                .unwrap();
            e.containers().start_container(NS, &c.id).await.unwrap();
            // The traps are set once it printed.
            assert!(matches!(out.recv().await, Some(AttachEvent::Output(_))));
            if how == "stop" {
                e.containers()
                    .stop_container(NS, &c.id, 10, "")
                    .await
                    .unwrap();
            } else {
                e.containers().kill_container(NS, &c.id, how).await.unwrap();
            }
            loop {
                match out.recv().await {
                    Some(AttachEvent::Exit(x)) => {
                        assert_eq!(x.code, code, "{how}");
                        break;
                    }
                    Some(_) => {}
                    None => panic!("no exit"),
                }
            }
            let x = e
                .containers()
                .wait_container(NS, &c.id, WaitCondition::NotRunning)
                .await
                .unwrap();
            assert_eq!(x.wait().await.unwrap().code, code);
        }
        e.containers()
            .remove_container(NS, &c.id, false)
            .await
            .unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn containers_survive_an_engine_restart() {
    require_shim();
    let mut env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    let (running, exits, dies);
    {
        let rt1 = rt();
        (running, exits, dies) = rt1.block_on(async {
            let e = env.e();
            let a = create(&env, opts(&["sleep", "1000"])).await.id;
            let b = create(&env, opts(&["sh", "-c", "sleep 1; exit 5"]))
                .await
                .id;
            let c = create(&env, opts(&["sleep", "1000"])).await.id;
            for id in [&a, &b, &c] {
                e.containers().start_container(NS, id).await.unwrap();
            }
            (a, b, c)
        });
        // berthd goes away (its monitors with it); containers stay.
        drop(rt1);
        env.engine = None;
    }
    // While it is down: b exits on its own; c's shim is killed.
    std::thread::sleep(Duration::from_millis(1500));
    let bundle = |id: &str| {
        let c = env.config("overlayfs");
        bundle_dir(&c, NS, id)
    };
    let shim_pid: i32 = std::fs::read_to_string(bundle(&dies).join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    env.engine = Some(Engine::open(env.config("overlayfs")).unwrap());
    rt().block_on(async {
        let e = env.e();
        e.containers().recover_containers().await.unwrap();
        let a = e.containers().lookup_container(NS, &running).unwrap();
        assert!(a.state.running(), "{:?}", a.state);
        let b = e.containers().lookup_container(NS, &exits).unwrap();
        assert_eq!((b.state.running(), b.state.exit_code), (false, 5));
        let c = e.containers().lookup_container(NS, &dies).unwrap();
        assert!(!c.state.running());
        assert_eq!(c.state.exit_code, 137);
        assert!(c.state.error.contains("shim died"), "{:?}", c.state);
        // The reconnected container is manageable.
        e.containers()
            .stop_container(NS, &running, 0, "")
            .await
            .unwrap();
        for id in [&running, &exits, &dies] {
            e.containers()
                .remove_container(NS, id, false)
                .await
                .unwrap();
        }
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn a_new_network_namespace_has_only_loopback() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        // Only a private network namespace: lo, nothing else.
        let (out, _, code) = run(&env, opts(&["cat", "/proc/net/dev"])).await;
        assert_eq!(code, 0);
        assert!(out.contains("lo:") && !out.contains("eth0"), "{out}");
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn memory_limit_oom_is_reported() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "tail /dev/zero"]);
        o.host_config.resources.memory = Some(8 << 20);
        o.host_config.resources.memory_swap = Some(8 << 20);
        let c = create(&env, o).await;
        let (_, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!((exit.code, exit.oom_killed), (137, true));
        let v = env.inspect(&c.id, false).await;
        assert_eq!(v["State"]["OOMKilled"], true);
        assert_eq!(v["State"]["ExitCode"], 137);
        assert_eq!(v["HostConfig"]["Memory"], 8 << 20);
        env.c().remove_container(NS, &c.id, false).await.unwrap();
    });
}

#[test]
fn follow_sees_every_line_across_rotations_and_ends_at_exit() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let mut o = opts(&[
            "sh",
            "-c",
            "i=1; while [ $i -le 60 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); sleep 0.02; done; echo done >&2",
        ]);
        o.host_config.log_max_size = 2000;
        o.host_config.log_max_files = 2;
        let c = create(&env, o).await;
        env.c().start_container(NS, &c.id).await.unwrap();
        let mut rx = env.c().container_logs(
                NS,
                &c.id,
                LogsOptions {
                    follow: true,
                    tail: -1,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut lines = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while let Some(e) = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("follow did not end after the exit")
        {
            lines.push(String::from_utf8(e.unwrap().data).unwrap());
        }
        let want: Vec<String> = (1..=60)
            .map(|i| format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"))
            .chain(std::iter::once("done\n".to_string()))
            .collect();
        assert_eq!(lines, want);
        // The exit is recorded; rotation kept at most 2 old files.
        let rec = env.c().lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", rec.log_path.display()));
        assert!(rotated(1).exists() && rotated(2).exists() && !rotated(3).exists());
        // --tail after the exit reads the end across files.
        let mut rx = env.c().container_logs(
                NS,
                &c.id,
                LogsOptions {
                    tail: 2,
                    stdout: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut tail = Vec::new();
        while let Some(e) = rx.recv().await {
            tail.push(String::from_utf8(e.unwrap().data).unwrap());
        }
        assert_eq!(tail, &want[58..60]);
        env.c().remove_container(NS, &c.id, false).await.unwrap();
    });
}

#[test]
fn an_external_runtime_runs_the_same_bundle() {
    require_shim();
    if berth_engine::config::find_in_path("runc").is_none() {
        eprintln!("runc is not installed: skipped (apt-get install runc)");
        return;
    }
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut o = opts(&["sh", "-c", "echo via runc; hostname; exit 3"]);
        o.host_config.runtime = "runc".into();
        let c = create(&env, o).await;
        let (out, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!(out, format!("via runc\n{}\n", &c.id[..12]));
        assert_eq!(exit.code, 3);
        // Stop and rm -f of a running runc container.
        let v = env.inspect(&c.id, false).await;
        assert_eq!(v["HostConfig"]["Runtime"], "runc");
        env.c().remove_container(NS, &c.id, false).await.unwrap();
        let mut o = opts(&["sleep", "1000"]);
        o.host_config.runtime = "runc".into();
        let c = create(&env, o).await;
        env.c().start_container(NS, &c.id).await.unwrap();
        env.c().stop_container(NS, &c.id, 1, "").await.unwrap();
        assert_eq!(
            env.c().lookup_container(NS, &c.id).unwrap().state.exit_code,
            137
        );
        env.c().start_container(NS, &c.id).await.unwrap();
        env.c().remove_container(NS, &c.id, true).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn a_shim_that_dies_is_noticed_and_cleaned_up() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let c = create(&env, opts(&["sleep", "1000"])).await;
        env.c().start_container(NS, &c.id).await.unwrap();
        let w = env
            .c()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .await
            .unwrap();
        let bundle = bundle_dir(env.e().test_config(), NS, &c.id);
        let shim_pid: i32 = std::fs::read_to_string(bundle.join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim_pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(20), w.wait())
            .await
            .expect("the dead shim was not noticed")
            .unwrap();
        assert_eq!(exit.code, 137);
        assert!(exit.error.contains("shim died"), "{exit:?}");
        let rec = env.c().lookup_container(NS, &c.id).unwrap();
        assert!(!rec.state.running());
        assert!(rec.task.is_none());
        // The container's processes went with it (berth-shim delete).
        env.c().remove_container(NS, &c.id, false).await.unwrap();
    });
    env.assert_no_containers(image_snaps);
}

#[test]
fn followers_end_when_berthd_stops_and_containers_go_on() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    rt().block_on(async {
        let e = env.e();
        let c = create(&env, opts(&["sleep", "1000"])).await;
        let mut attach = e
            .containers()
            .attach_container(NS, &c.id, true, true)
            .await
            .unwrap();
        e.containers().start_container(NS, &c.id).await.unwrap();
        let mut logs = e
            .containers()
            .container_logs(
                NS,
                &c.id,
                LogsOptions {
                    follow: true,
                    tail: -1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let w = e
            .containers()
            .wait_container(NS, &c.id, WaitCondition::NotRunning)
            .await
            .unwrap();
        e.begin_shutdown();
        let within = Duration::from_secs(5);
        let err = tokio::time::timeout(within, w.wait())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        match tokio::time::timeout(within, attach.recv()).await.unwrap() {
            Some(AttachEvent::Error(m)) => assert!(m.contains("shutting down"), "{m}"),
            other => panic!("attach: {other:?}"),
        }
        let err = tokio::time::timeout(within, logs.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(e
            .containers()
            .lookup_container(NS, &c.id)
            .unwrap()
            .state
            .running());
        e.containers()
            .remove_container(NS, &c.id, true)
            .await
            .unwrap();
    });
}

/// A container's life is published on the engine's bus with docker's
/// action names and attributes: create, start, die (exitCode), destroy.
#[test]
fn container_lifecycle_events_are_published() {
    require_shim();
    let env = Env::new("overlayfs");
    env.load_busybox();
    let image_snaps = env.snapshots().len();
    rt().block_on(async {
        let mut events = env.e().subscribe();
        let c = create(&env, opts(&["sh", "-c", "exit 5"])).await;
        let (_, _, exit) = attach_and_start(&env, &c.id).await;
        assert_eq!(exit.code, 5);
        env.c().remove_container(NS, &c.id, false).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .expect("an event within 5 s")
                .unwrap()
                .unwrap();
            assert_eq!(ev.id, c.id);
            assert_eq!(ev.namespace, NS);
            assert!(ev.attributes["image"].contains("busybox"), "{ev:?}");
            assert!(!ev.attributes["name"].is_empty(), "{ev:?}");
            seen.push((ev.action.name(), ev.attributes.get("exitCode").cloned()));
        }
        assert_eq!(
            seen,
            [
                ("create", None),
                ("start", None),
                ("die", Some("5".to_string())),
                ("destroy", None)
            ]
        );
    });
    env.assert_no_containers(image_snaps);
}
