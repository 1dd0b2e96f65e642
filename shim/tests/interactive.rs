//! berth-shim's interactive side end to end, as root, with runc and the
//! built-in runtime: Attach streams (stdin in, output out, several clients,
//! a client that never reads), ptys (tty, sizes, ResizePty) and execs
//! (output, exit codes, env, user, cwd, the container's seccomp, 126/127,
//! a pty, killed with the container).

#[allow(dead_code)]
#[macro_use]
mod common;

use std::time::Duration;

use berth_proto::shim::v1::{
    attach_input, attach_output, AttachInput, AttachOpen, AttachOutput, CloseIoRequest,
    ExecRequest, PidsRequest, ResizePtyRequest, Status as TaskStatus, StdStream,
};
use common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};

const STEP: Duration = Duration::from_secs(20);

/// One Attach stream, from the client's side.
struct Client {
    tx: Option<mpsc::Sender<AttachInput>>,
    rx: Streaming<AttachOutput>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    dropped: u64,
}

async fn attach(client: &mut TaskClient<Channel>, id: &str, exec_id: &str, stdin: bool) -> Client {
    let (tx, rx) = mpsc::channel(16);
    tx.send(AttachInput {
        msg: Some(attach_input::Msg::Open(AttachOpen {
            id: id.into(),
            exec_id: exec_id.into(),
            stdin,
            stdout: true,
            stderr: true,
        })),
    })
    .await
    .unwrap();
    let mut rx = client
        .attach(ReceiverStream::new(rx))
        .await
        .unwrap_or_else(|s| panic!("attach {exec_id:?}: {s:?}"))
        .into_inner();
    let first = tokio::time::timeout(STEP, rx.message())
        .await
        .expect("attached in time")
        .unwrap()
        .unwrap();
    assert_eq!(first.event, Some(attach_output::Event::Attached(true)));
    Client {
        tx: Some(tx),
        rx,
        stdout: Vec::new(),
        stderr: Vec::new(),
        dropped: 0,
    }
}

impl Client {
    async fn send(&self, data: &str) {
        self.tx
            .as_ref()
            .unwrap()
            .send(AttachInput {
                msg: Some(attach_input::Msg::Stdin(data.as_bytes().to_vec())),
            })
            .await
            .unwrap();
    }

    async fn close_stdin(&self) {
        self.tx
            .as_ref()
            .unwrap()
            .send(AttachInput {
                msg: Some(attach_input::Msg::CloseStdin(true)),
            })
            .await
            .unwrap();
    }

    /// The next event; false at the end of the stream.
    async fn next(&mut self) -> bool {
        let msg = tokio::time::timeout(STEP, self.rx.message())
            .await
            .expect("attach output in time")
            .unwrap_or_else(|s| panic!("attach stream: {s:?}"));
        match msg.and_then(|m| m.event) {
            Some(attach_output::Event::Output(o)) if o.stream == StdStream::Stdout as i32 => {
                self.stdout.extend_from_slice(&o.data)
            }
            Some(attach_output::Event::Output(o)) => {
                assert_eq!(o.stream, StdStream::Stderr as i32);
                self.stderr.extend_from_slice(&o.data)
            }
            Some(attach_output::Event::Dropped(n)) => self.dropped += n,
            Some(attach_output::Event::Attached(_)) => panic!("attached twice"),
            None => return false,
        }
        true
    }

    /// Reads until stdout contains `want`.
    async fn until(&mut self, want: &str) -> String {
        while !String::from_utf8_lossy(&self.stdout).contains(want) {
            assert!(
                self.next().await,
                "output ended without {want:?}: {:?}",
                String::from_utf8_lossy(&self.stdout)
            );
        }
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Reads to the end of the stream.
    async fn finish(&mut self) {
        while self.next().await {}
    }

    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

async fn create(fx: &Fixture, client: &mut TaskClient<Channel>, req: CreateTaskRequest) {
    client
        .create(req)
        .await
        .unwrap_or_else(|s| panic!("create: {s:?}\nshim log:\n{}", fx.shim_log()));
}

/// Starts the process (`exec_id`; "" for the init) and returns its pid.
async fn start(fx: &Fixture, client: &mut TaskClient<Channel>, exec_id: &str) -> u32 {
    client
        .start(StartRequest {
            id: fx.id.clone(),
            exec_id: exec_id.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("start {exec_id:?}: {s:?}\nshim log:\n{}", fx.shim_log()))
        .into_inner()
        .pid
}

async fn wait_exit(client: &mut TaskClient<Channel>, id: &str, exec_id: &str) -> i32 {
    tokio::time::timeout(
        STEP,
        client.wait(WaitRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        }),
    )
    .await
    .expect("exit in time")
    .unwrap()
    .into_inner()
    .exit_code
}

/// `cat` echoes what two attached clients get; a third client that goes
/// away does not disturb them; close_stdin ends cat and the streams; the
/// log has everything too.
async fn attach_stdin(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sh", "-c", "cat; echo done >&2"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let mut req = fx.create_request();
    req.stdin = true;
    create(&fx, &mut client, req).await;
    // Attached before Start: nothing is missed.
    let mut a = attach(&mut client, &fx.id, "", true).await;
    let mut b = attach(&mut client, &fx.id, "", false).await;
    let gone = attach(&mut client, &fx.id, "", true).await;
    client.start(start_req(&fx.id)).await.unwrap();
    drop(gone);
    a.send("hello\n").await;
    a.until("hello\n").await;
    b.until("hello\n").await;
    // b did not open stdin: its bytes are refused, and its stream ends so.
    b.send("no\n").await;
    let refused = loop {
        match tokio::time::timeout(STEP, b.rx.message()).await.unwrap() {
            Err(s) => break s,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("b's stream ended without the refusal"),
        }
    };
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    a.send("world\n").await;
    a.close_stdin().await;
    a.finish().await;
    assert_eq!(a.out(), "hello\nworld\n");
    assert_eq!(a.err(), "done\n");
    assert_eq!(wait_exit(&mut client, &fx.id, "").await, 0);
    let logs: Vec<(String, String)> = fx
        .log_lines()
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_owned(),
                l["log"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        logs.contains(&("stdout".into(), "hello\n".into())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&("stderr".into(), "done\n".into())),
        "{logs:?}"
    );
    // Attaching after the output ended: attached, then the end.
    let mut late = attach(&mut client, &fx.id, "", false).await;
    assert!(!late.next().await);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// A pty: the shell's tty is the container's /dev/pts/0 (and /dev/console),
/// its size the one asked for, ResizePty changes it, the exit code is the
/// shell's, and the log gets the pty's output as stdout.
async fn pty(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sh"], true, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    let mut req = fx.create_request();
    req.terminal = true;
    // config.json must say so too (runc needs it).
    let refused = client.create(req.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    edit_config(&fx, |spec| spec["process"]["terminal"] = json!(true));
    req.stdin = true;
    req.width = 81;
    req.height = 25;
    create(&fx, &mut client, req).await;
    let mut a = attach(&mut client, &fx.id, "", true).await;
    client.start(start_req(&fx.id)).await.unwrap();
    a.send("tty; stty size; echo ma''rk1\n").await;
    let out = a.until("mark1").await;
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("25 81"), "{out:?}");
    assert!(a.stderr.is_empty(), "a pty has no stderr");
    client
        .resize_pty(ResizePtyRequest {
            id: fx.id.clone(),
            exec_id: String::new(),
            width: 100,
            height: 30,
        })
        .await
        .unwrap();
    a.send("stty size; [ /dev/console -ef /dev/pts/0 ] && echo con''sole; echo ma''rk2\n")
        .await;
    let out = a.until("mark2").await;
    assert!(out.contains("30 100"), "{out:?}");
    assert!(
        out.contains("console\r\n"),
        "/dev/console is not the pty: {out:?}"
    );
    // close_stdin closes nothing on a pty: the shell still answers.
    a.close_stdin().await;
    client
        .close_io(CloseIoRequest {
            id: fx.id.clone(),
            exec_id: String::new(),
        })
        .await
        .unwrap();
    a.send("echo ma''rk3; exit 3\n").await;
    a.until("mark3").await;
    a.finish().await;
    assert_eq!(wait_exit(&mut client, &fx.id, "").await, 3);
    let log: String = fx
        .log_lines()
        .iter()
        .map(|l| {
            assert_eq!(l["stream"], "stdout");
            l["log"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(log.contains("/dev/pts/0"), "{log:?}");
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// An OCI process object for an exec.
fn process(args: &[&str], uid: u32, cwd: &str, env: &[&str]) -> String {
    let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]);
    let mut e = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
    e.extend_from_slice(env);
    json!({
        "terminal": false,
        "user": {"uid": uid, "gid": uid},
        "args": args,
        "env": e,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": true
    })
    .to_string()
}

fn exec_req(id: &str, exec_id: &str, spec_json: String) -> ExecRequest {
    ExecRequest {
        id: id.into(),
        exec_id: exec_id.into(),
        spec_json,
        ..Default::default()
    }
}

/// Changes the fixture's config.json.
fn edit_config(fx: &Fixture, edit: impl FnOnce(&mut Value)) {
    let path = fx.bundle().join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut spec);
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
}

/// Adds a seccomp profile that refuses mkdir to the fixture's config.json.
fn deny_mkdir(fx: &Fixture) {
    edit_config(fx, |spec| {
        spec["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        })
    });
}

/// Execs in a running container: output (not logged), exit code, env,
/// user, cwd, namespaces, cgroup, the container's seccomp; 126/127; a pty;
/// kill and delete; exec ids and states.
async fn exec(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sleep", "100"], true, None);
    deny_mkdir(&fx);
    let (mut client, shim_pid) = fx.start_shim().await;
    create(&fx, &mut client, fx.create_request()).await;
    let early = client
        .exec(exec_req(&fx.id, "early", process(&["true"], 0, "/", &[])))
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(
        early.message(),
        format!("container {} is not running", fx.id)
    );
    client.start(start_req(&fx.id)).await.unwrap();

    let script = "echo out; echo err >&2; pwd; id -u; echo $FOO; hostname; \
                  mkdir /dev/shm/d || echo nomkdir; exit 7";
    client
        .exec(exec_req(
            &fx.id,
            "e1",
            process(&["sh", "-c", script], 1000, "/tmp", &["FOO=bar"]),
        ))
        .await
        .unwrap();
    let dup = client
        .exec(exec_req(&fx.id, "e1", process(&["true"], 0, "/", &[])))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let state = client
        .state(StateRequest {
            id: fx.id.clone(),
            exec_id: "e1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, TaskStatus::Created as i32);
    let mut a = attach(&mut client, &fx.id, "e1", false).await;
    let pid = start(&fx, &mut client, "e1").await;
    assert!(pid > 0);
    a.finish().await;
    assert_eq!(wait_exit(&mut client, &fx.id, "e1").await, 7);
    assert_eq!(a.out(), "out\n/tmp\n1000\nbar\nshimtest\nnomkdir\n");
    assert!(a.err().starts_with("err\n"), "{:?}", a.err());
    let state = client
        .state(StateRequest {
            id: fx.id.clone(),
            exec_id: "e1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, TaskStatus::Stopped as i32);
    assert_eq!(state.pid, pid);
    assert_eq!(state.exit.unwrap().exit_code, 7);
    let del = client
        .delete(DeleteRequest {
            id: fx.id.clone(),
            exec_id: "e1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(del.exit_code, 7);
    let gone = client
        .state(StateRequest {
            id: fx.id.clone(),
            exec_id: "e1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    // Exec output is not logged.
    assert!(fx.log_lines().is_empty(), "{:?}", fx.log_lines());

    // Commands that cannot run: the init's codes and messages.
    for (eid, args, code, message) in [
        (
            "nf",
            "nosuch",
            "127",
            "exec: \"nosuch\": executable file not found in $PATH",
        ),
        (
            "ne",
            "/notexec",
            "126",
            "exec: \"/notexec\": permission denied",
        ),
    ] {
        client
            .exec(exec_req(&fx.id, eid, process(&[args], 0, "/", &[])))
            .await
            .unwrap();
        let s = client
            .start(StartRequest {
                id: fx.id.clone(),
                exec_id: eid.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
        assert_eq!(s.message(), message);
        assert_eq!(s.metadata().get("berth-exit-code").unwrap(), code);
        assert_eq!(wait_exit(&mut client, &fx.id, eid).await.to_string(), code);
    }

    // Open stdin: what the client sends, then end-of-file.
    let mut req = exec_req(&fx.id, "cat", process(&["cat"], 0, "/", &[]));
    req.stdin = true;
    client.exec(req).await.unwrap();
    let mut c = attach(&mut client, &fx.id, "cat", true).await;
    c.send("ping\n").await;
    client
        .start(StartRequest {
            id: fx.id.clone(),
            exec_id: "cat".into(),
        })
        .await
        .unwrap();
    c.until("ping\n").await;
    c.close_stdin().await;
    c.finish().await;
    assert_eq!(wait_exit(&mut client, &fx.id, "cat").await, 0);
    assert_eq!(c.out(), "ping\n");

    // A pty, sized at start; the tty is the container's.
    let mut req = exec_req(
        &fx.id,
        "tty",
        process(&["sh", "-c", "tty; stty size"], 0, "/", &[]),
    );
    req.terminal = true;
    req.width = 50;
    req.height = 20;
    client.exec(req).await.unwrap();
    let mut t = attach(&mut client, &fx.id, "tty", false).await;
    client
        .start(StartRequest {
            id: fx.id.clone(),
            exec_id: "tty".into(),
        })
        .await
        .unwrap_or_else(|s| panic!("start tty: {s:?}\nshim log:\n{}", fx.shim_log()));
    t.finish().await;
    assert_eq!(wait_exit(&mut client, &fx.id, "tty").await, 0);
    assert!(t.out().contains("/dev/pts/"), "{:?}", t.out());
    assert!(t.out().contains("20 50"), "{:?}", t.out());

    // A long one: in the cgroup, resizable only with a pty, not deletable
    // while it runs, killed by a signal.
    client
        .exec(exec_req(
            &fx.id,
            "long",
            process(&["sleep", "100"], 0, "/", &[]),
        ))
        .await
        .unwrap();
    let long = client
        .start(StartRequest {
            id: fx.id.clone(),
            exec_id: "long".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .pid;
    let pids = client
        .pids(PidsRequest { id: fx.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .pids;
    assert!(pids.contains(&long), "{pids:?} lacks {long}");
    let resize = client
        .resize_pty(ResizePtyRequest {
            id: fx.id.clone(),
            exec_id: "long".into(),
            width: 10,
            height: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(resize.code(), Code::FailedPrecondition);
    let busy = client
        .delete(DeleteRequest {
            id: fx.id.clone(),
            exec_id: "long".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Code::FailedPrecondition);
    client
        .kill(KillRequest {
            id: fx.id.clone(),
            exec_id: "long".into(),
            signal: libc::SIGTERM as u32,
            all: false,
        })
        .await
        .unwrap();
    assert_eq!(wait_exit(&mut client, &fx.id, "long").await, 143);
    // The container was never disturbed.
    let state = client.state(state_req(&fx.id)).await.unwrap().into_inner();
    assert_eq!(state.status, TaskStatus::Running as i32);

    client
        .kill(kill_req(&fx.id, libc::SIGKILL as u32, false))
        .await
        .unwrap();
    assert_eq!(wait_exit(&mut client, &fx.id, "").await, 137);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// An exec that runs when the container's init exits is killed and
/// reported (137), even without a pid namespace to take it down; exec on
/// the stopped container is refused.
async fn exec_killed_with_container(runtime: &'static str) {
    let fx = Fixture::new(runtime);
    fx.config(&["sleep", "100"], false, None);
    let (mut client, shim_pid) = fx.start_shim().await;
    create(&fx, &mut client, fx.create_request()).await;
    client.start(start_req(&fx.id)).await.unwrap();
    client
        .exec(exec_req(
            &fx.id,
            "e",
            process(&["sleep", "100"], 0, "/", &[]),
        ))
        .await
        .unwrap();
    let mut a = attach(&mut client, &fx.id, "e", false).await;
    let pid = start(&fx, &mut client, "e").await;
    client
        .kill(kill_req(&fx.id, libc::SIGKILL as u32, false))
        .await
        .unwrap();
    assert_eq!(wait_exit(&mut client, &fx.id, "e").await, 137);
    assert_eq!(wait_exit(&mut client, &fx.id, "").await, 137);
    a.finish().await;
    wait_gone(pid as i32, "the exec after its container exited");
    let refused = client
        .exec(exec_req(&fx.id, "late", process(&["true"], 0, "/", &[])))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(
        refused.message(),
        format!("container {} is not running", fx.id)
    );
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

/// 8 MiB written while one client never reads: the container is not slowed
/// down to a stop, the log gets every byte, and the slow client gets what
/// fit in its queue plus the count of what it missed.
async fn slow_client(runtime: &'static str) {
    const TOTAL: usize = 8 << 20;
    let fx = Fixture::new(runtime);
    fx.config(
        &[
            "sh",
            "-c",
            &format!("head -c {TOTAL} /dev/zero | tr '\\0' x"),
        ],
        true,
        None,
    );
    let (mut client, shim_pid) = fx.start_shim().await;
    create(&fx, &mut client, fx.create_request()).await;
    let mut slow = attach(&mut client, &fx.id, "", false).await;
    client.start(start_req(&fx.id)).await.unwrap();
    assert_eq!(wait_exit(&mut client, &fx.id, "").await, 0);
    let logged: usize = fx
        .log_lines()
        .iter()
        .map(|l| l["log"].as_str().unwrap().len())
        .sum();
    assert_eq!(logged, TOTAL);
    slow.finish().await;
    assert!(slow.dropped > 0, "nothing was dropped");
    assert!(slow.stdout.iter().all(|&b| b == b'x'));
    assert_eq!(slow.stdout.len() as u64 + slow.dropped, TOTAL as u64);
    delete_and_shutdown(&fx, &mut client, shim_pid).await;
}

scenarios!(
    attach_stdin,
    pty,
    exec,
    exec_killed_with_container,
    slow_client
);
