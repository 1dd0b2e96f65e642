//! berth-shim end to end, as root: the real binary is started with `start`
//! on a busybox bundle and driven over its socket with the Task API, as
//! berthd does. Each scenario runs with runc (the external runtime path)
//! and with the built-in runtime.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_proto::shim::v1::{
    CloseIoRequest, ExecRequest, InfoRequest, PauseRequest, PidsRequest, ResumeRequest,
    ShutdownRequest, StatsRequest, Status as TaskStatus,
};
use common::*;
use serde_json::Value;
use tonic::Code;

/// Create → Start → Wait (several waiters, before and after the exit) →
/// exit code, exit file, json-file log, State, Delete, Shutdown.
async fn lifecycle(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sh", "-c", "echo out; echo err >&2; exit 3"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;

    // The shim is nobody's child here and leads its own session.
    assert_ne!(parent_of(shim_pid), std::process::id() as i32);
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(shim_pid))).unwrap();
    assert_ne!(sid, nix::unistd::getsid(None).unwrap());
    assert_eq!(sid.as_raw(), shim_pid);

    let info = client
        .info(InfoRequest { id: fx.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.shim_pid as i32, shim_pid);
    assert_eq!(info.task_pid, 0);

    let created = client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner();
    assert!(created.pid > 0);
    let init_pid = std::fs::read_to_string(fx.bundle().join("init.pid")).unwrap();
    assert_eq!(init_pid.trim(), created.pid.to_string());
    assert!(is_mounted(&fx.rootfs()));
    let state = client.state(state_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(state.status, TaskStatus::Created as i32);
    assert_eq!(state.pid, created.pid);

    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let mut c = client.clone();
            let id = fx.id.clone();
            tokio::spawn(async move { c.wait(wait_req(&id)).await })
        })
        .collect();
    let started = client.start(start_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(started.pid, created.pid);
    for w in waiters {
        let exit = w.await.unwrap().unwrap().into_inner();
        assert_eq!(exit.exit_code, 3);
        assert_eq!(exit.pid, created.pid);
        assert!(!exit.oom_killed);
        // The exit file is on disk before Wait returns.
        let file: Value =
            serde_json::from_slice(&std::fs::read(fx.bundle().join("exit")).unwrap()).unwrap();
        assert_eq!(file["exit_code"], 3);
        assert_eq!(file["exited_at"], exit.exited_at.as_str());
    }
    let late = client.wait(wait_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(late.exit_code, 3);

    let lines = fx.log_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let find = |stream: &str| {
        lines
            .iter()
            .find(|l| l["stream"] == stream)
            .unwrap_or_else(|| panic!("no {stream} line in {lines:?}"))
    };
    assert_eq!(find("stdout")["log"], "out\n");
    assert_eq!(find("stderr")["log"], "err\n");
    assert!(find("stdout")["time"].as_str().unwrap().ends_with('Z'));

    let state = client.state(state_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(state.status, TaskStatus::Stopped as i32);
    assert_eq!(state.exit.unwrap().exit_code, 3);

    // Shutdown is refused until the task is deleted.
    let refused = client
        .shutdown(ShutdownRequest {
            id: fx.id.clone(),
            now: false,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// SIGTERM reaches a process that is not a pid namespace's init: 143.
/// Pids, Stats, Pause/Resume on the way; Delete refused while running.
async fn kill_term(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sleep", "100"], false, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let created = client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner();
    client.start(start_req(&fx.id)).await.unwrap();
    let pids = client
        .pids(PidsRequest { id: fx.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .pids;
    assert_eq!(pids, vec![created.pid]);
    let stats = client
        .stats(StatsRequest { id: fx.id.clone() })
        .await
        .unwrap()
        .into_inner();
    // An exited runc helper may still count until the shim has reaped it.
    assert!(stats.pids_current >= 1, "{stats:?}");
    assert!(stats.memory_usage > 0);

    // The shim stays single-threaded (the runtime forks from it).
    let status = std::fs::read_to_string(format!("/proc/{shim_pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(field("Threads:"), "1", "{status}");
    eprintln!(
        "shim ({}) VmRSS with a running task: {}",
        runtime_name(runtime),
        field("VmRSS:")
    );

    client
        .pause(PauseRequest { id: fx.id.clone() })
        .await
        .unwrap();
    let state = client.state(state_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(state.status, TaskStatus::Paused as i32);
    client
        .resume(ResumeRequest { id: fx.id.clone() })
        .await
        .unwrap();

    let refused = client.delete(delete_req(&fx.id)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    client
        .kill(kill_req(&fx.id, libc::SIGTERM as u32, false))
        .await
        .unwrap();
    let exit = client.wait(wait_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(exit.exit_code, 143);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// Kill(all) takes every process of the container; the init of a pid
/// namespace dies by SIGKILL: 137.
async fn kill_all(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sh", "-c", "sleep 100 & sleep 100 & wait"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
    client.start(start_req(&fx.id)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = client
            .pids(PidsRequest { id: fx.id.clone() })
            .await
            .unwrap()
            .into_inner()
            .pids;
        if pids.len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "pids: {pids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .kill(kill_req(&fx.id, libc::SIGKILL as u32, true))
        .await
        .unwrap();
    let exit = client.wait(wait_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(exit.exit_code, 137);
    assert!(!exit.oom_killed);
    // A signal to a finished process is NotFound, as containerd says.
    let gone = client
        .kill(kill_req(&fx.id, libc::SIGTERM as u32, false))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// A process over its memory limit is OOM-killed: 137 and oom_killed.
async fn oom(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["tail", "/dev/zero"], true, Some(16 << 20));
    let (mut client, shim_pid) = fx.start_shim().await;
    client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
    client.start(start_req(&fx.id)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), client.wait(wait_req(&fx.id)))
        .await
        .expect("tail /dev/zero was not OOM-killed within 30s")
        .unwrap()
        .into_inner();
    assert_eq!(exit.exit_code, 137);
    assert!(exit.oom_killed);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// A command that cannot be executed: FAILED_PRECONDITION with docker's
/// message and berth-exit-code, at Create (runc checks then) or Start.
async fn exec_failure(runtime: &'static str, args: &[&str], code: &str, message: &str) {
    let fx = Fixture::new(runtime);
    fx.config(args, true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let status = match client.create(fx.create_request()).await {
        Err(s) => {
            // Nothing is left of a failed create.
            assert!(!is_mounted(&fx.rootfs()));
            s
        }
        Ok(_) => client
            .start(start_req(&fx.id))
            .await
            .expect_err("start of a command that cannot run"),
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.message(), message);
    assert_eq!(
        status.metadata().get("berth-exit-code").unwrap(),
        code,
        "{status:?}"
    );
    if client.state(state_req(&fx.id)).await.is_ok() {
        delete_and_shutdown(&fx, &mut client, shim_pid).await;
    } else {
        client
            .shutdown(ShutdownRequest {
                id: fx.id.clone(),
                now: false,
            })
            .await
            .unwrap();
        wait_gone(shim_pid, "the shim after Shutdown");
        fx.assert_cleaned();
    }
}

async fn not_found(runtime: &'static str) {
    exec_failure(
        runtime,
        &["nosuch"],
        "127",
        "exec: \"nosuch\": executable file not found in $PATH",
    )
    .await;
}

async fn not_executable(runtime: &'static str) {
    exec_failure(
        runtime,
        &["/notexec"],
        "126",
        "exec: \"/notexec\": permission denied",
    )
    .await;
}

/// log_max_size rotates the log: log, log.1, log.2 and no more.
async fn rotation(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done",
        ],
        true,
        None,
    );
    let (mut client, shim_pid) = fx.start_shim().await;
    let mut req = fx.create_request();
    req.log_max_size = 1000;
    req.log_max_files = 2;
    client
        .create(req)
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
    client.start(start_req(&fx.id)).await.unwrap();
    assert_eq!(
        client
            .wait(wait_req(&fx.id))
            .await
            .unwrap()
            .into_inner()
            .exit_code,
        0
    );
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", fx.log().display()));
    for p in [fx.log(), rotated(1), rotated(2)] {
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert!(len > 0 && len <= 1000, "{} is {len} bytes", p.display());
    }
    assert!(!rotated(3).exists());
    let live = fx.log_lines();
    assert_eq!(live.last().unwrap()["log"], "line199\n");
    let older = read_lines(&rotated(1));
    let last_older = older.last().unwrap()["log"].as_str().unwrap().to_owned();
    let first_live = live[0]["log"].as_str().unwrap();
    let num = |s: &str| s.trim().trim_start_matches("line").parse::<u32>().unwrap();
    assert_eq!(num(&last_older) + 1, num(first_live));
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// A shim killed with SIGKILL: `berth-shim delete` kills the container,
/// removes its cgroup, unmounts the rootfs, removes the socket and prints
/// exit 137.
async fn dead_shim(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sleep", "100"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let created = client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner();
    client.start(start_req(&fx.id)).await.unwrap();
    drop(client);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(shim_pid, "the killed shim");
    assert!(
        !is_gone(created.pid as i32),
        "the container died with its shim"
    );

    let out = Command::new(shim_bin())
        .arg("delete")
        .args(fx.shim_args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth-shim delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exit: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["pid"], created.pid);
    assert!(exit["exited_at"].as_str().unwrap().ends_with('Z'));
    wait_gone(
        created.pid as i32,
        "the container init after berth-shim delete",
    );
    fx.assert_cleaned();
    assert!(!fx.socket().exists());
}

/// Delete of a created, never started task kills it first (exit 137).
async fn delete_created(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sleep", "100"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let created = client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner();
    let del = client
        .delete(delete_req(&fx.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.exit_code, 137);
    wait_gone(created.pid as i32, "the created init after Delete");
    fx.assert_cleaned();
    // Delete again answers the same.
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// stdin is a pipe the shim holds open until CloseIo; a bad exec request
/// is refused.
async fn stdin_close(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["cat"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let mut req = fx.create_request();
    req.stdin = true;
    client
        .create(req)
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
    client.start(start_req(&fx.id)).await.unwrap();
    let exec = client
        .exec(ExecRequest {
            id: fx.id.clone(),
            exec_id: "e1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(exec.code(), Code::InvalidArgument, "{exec:?}");
    // cat is still reading.
    let still = tokio::time::timeout(
        Duration::from_millis(200),
        client.clone().wait(wait_req(&fx.id)),
    )
    .await;
    assert!(still.is_err(), "cat exited with stdin open");
    client
        .close_io(CloseIoRequest {
            id: fx.id.clone(),
            exec_id: String::new(),
        })
        .await
        .unwrap();
    let exit = client.wait(wait_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(exit.exit_code, 0);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// The shim is a subreaper: a process the container left behind is
/// re-parented to it and reaped when it ends; its output still reaches the
/// log, which is drained before the exit is reported.
async fn orphans(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    // No pid namespace: the background sleep outlives the init.
    fx.config(
        &["sh", "-c", "(sleep 0.3; echo late) & echo early; exit 5"],
        false,
        None,
    );
    let (mut client, shim_pid) = fx.start_shim().await;
    client
        .create(fx.create_request())
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
    client.start(start_req(&fx.id)).await.unwrap();
    let exit = client.wait(wait_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(exit.exit_code, 5);
    let logs: Vec<String> = fx
        .log_lines()
        .iter()
        .map(|l| l["log"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logs, ["early\n", "late\n"]);
    // Nothing the container started is left as the shim's zombie.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let zombies = zombie_children(shim_pid);
        if zombies.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "unreaped: {zombies:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

fn zombie_children(parent: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = rest.split(' ');
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<i32>().ok()));
        if state == Some("Z") && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

scenarios!(
    lifecycle,
    kill_term,
    kill_all,
    oom,
    not_found,
    not_executable,
    rotation,
    dead_shim,
    delete_created,
    stdin_close,
    orphans
);
