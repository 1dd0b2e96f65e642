//! The container verbs of the `berth` binary against a fake Containers
//! service: exit codes (the container's, 126/127 for exec failures, 125 for
//! berth's own, 1 for multi-target verbs), stdout/stderr routing, signal
//! forwarding, and what reaches the daemon.
//!
//! The fake "runs" a container by reading its command as a script: each
//! `out:TEXT` / `err:TEXT` word is a line on stdout / stderr, `exit:N`
//! ends it with code N, `wait-signal` waits for a Kill (exit 128+N).
//! `nosuchcmd` and `/etc/passwd` fail to start with 127 and 126.

mod common;

use common::containers::CONTAINER_ID as ID;
use common::{text, Daemon, Service};

async fn start() -> Daemon {
    common::start(&[Service::Containers]).await
}

const WARNING: &str = "WARNING: your kernel does not support swap limit capabilities\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_routes_output_and_exits_with_the_containers_code() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&[
            "run",
            "--rm",
            "busybox",
            "out:hello",
            "err:oops",
            "out:bye",
            "exit:3",
        ])
        .await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "hello\nbye\n");
    assert_eq!(err, format!("{WARNING}oops\n"));
    assert_eq!(
        d.fake.calls(),
        ["create", &format!("attach {ID}"), &format!("start {ID}")]
    );
    let state = d.fake.state.lock().unwrap();
    let create = &state.creates[0];
    assert!(create.host_config.as_ref().unwrap().auto_remove);
    assert_eq!(
        create.config.as_ref().unwrap().cmd,
        ["out:hello", "err:oops", "out:bye", "exit:3"]
    );
    assert!(state.namespaces.iter().all(|n| n == "default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_detached_prints_the_id() {
    let d = start().await;
    let (code, out, _) = d
        .berth(&["run", "-d", "--name", "web", "busybox", "exit:0"])
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, format!("{ID}\n"));
    assert_eq!(d.fake.calls(), ["create", &format!("start {ID}")]);
    let (code, out, _) = d.berth(&["container", "create", "busybox"]).await;
    assert_eq!((code, out), (0, format!("{ID}\n")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_failures_exit_126_and_127() {
    let d = start().await;
    let (code, out, err) = d.berth(&["run", "--rm", "busybox", "nosuchcmd"]).await;
    assert_eq!(code, 127);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!("{WARNING}Error: exec: \"nosuchcmd\": executable file not found in $PATH\n")
    );
    // --rm: the CLI makes sure the container goes.
    assert_eq!(d.fake.calls().last().unwrap(), &format!("remove {ID} true"));

    let (code, _, err) = d.berth(&["run", "busybox", "/etc/passwd"]).await;
    assert_eq!(code, 126);
    assert!(
        err.ends_with("Error: exec /etc/passwd: permission denied\n"),
        "{err}"
    );
    assert!(!d.fake.calls().last().unwrap().starts_with("remove"));

    let (code, _, _) = d.berth(&["run", "-d", "busybox", "nosuchcmd"]).await;
    assert_eq!(code, 127);
    let (code, _, err) = d.berth(&["start", "-a", "nope"]).await;
    assert_eq!(code, 125);
    assert_eq!(err, "Error: No such container: nope\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berths_own_failures_exit_125() {
    let d = start().await;
    for (args, want) in [
        (
            &["run", "-m", "12x", "busybox"][..],
            "Error: invalid argument \"12x\" for \"-m, --memory\" flag: invalid size: '12x'\n",
        ),
        (&["run", "--cpus", "abc", "busybox"], "--cpus"),
        (&["run", "--no-such-flag", "busybox"], "--no-such-flag"),
        (
            &[
                "create",
                "--security-opt",
                "seccomp=/nonexistent.json",
                "busybox",
            ],
            "/nonexistent.json",
        ),
        (
            &["create", "--env-file", "/no/such/env", "busybox"],
            "/no/such/env",
        ),
        (&["stop", "-t", "soon", "web"], "soon"),
        (
            &["run", "-p", "8080:http", "busybox"],
            "Error: invalid containerPort: http\n",
        ),
        (
            &["create", "-p", "[::1]:8080:80", "busybox"],
            "IPv6 host addresses are not supported",
        ),
        (
            &["run", "--expose", "80:80", "busybox"],
            "Error: invalid port format for --expose: 80:80\n",
        ),
        (
            &["run", "--add-host", "db", "busybox"],
            "Error: invalid argument \"db\" for \"--add-host\" flag: bad format for add-host: \"db\"\n",
        ),
        (&["run", "--dns", "resolver", "busybox"], "--dns"),
        (&["run", "--ip", "10.0.0", "busybox"], "--ip"),
        (&["run", "--link", "a:b:c", "busybox"], "--link"),
        (&["port", "web", "http"], "Error: invalid port (http): "),
    ] {
        let (code, out, err) = d.berth(args).await;
        assert_eq!(code, 125, "{args:?}: {err}");
        assert_eq!(out, "");
        assert!(
            err.starts_with("Error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Nothing reached the daemon.
    assert!(d.fake.calls().is_empty(), "{:?}", d.fake.calls());

    for (args, want) in [
        (
            &["create", "--name", "taken", "busybox"][..],
            "already in use",
        ),
        (
            &["run", "--rm", "--pull", "never", "nosuchimage:1", "true"],
            "No such image: nosuchimage:1",
        ),
        (&["run", "-t", "busybox"], "-t is not supported yet"),
    ] {
        let (code, _, err) = d.berth(args).await;
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_is_forwarded_to_the_container() {
    use std::io::{BufRead, BufReader};
    let d = start().await;
    let mut child = d
        .command(&["run", "busybox", "out:ready", "wait-signal"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = tokio::task::spawn_blocking(move || {
        // The output comes once the signal handlers are in place.
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(child.status.code(), Some(130), "{}", text(&child.stderr));
    assert!(d.fake.calls().contains(&format!("kill {ID} SIGINT")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_target_verbs_go_on_and_exit_1() {
    let d = start().await;
    let (code, out, err) = d.berth(&["stop", "-t", "3", "a", "nope", "b"]).await;
    assert_eq!((code, out.as_str()), (1, "a\nb\n"));
    assert_eq!(err, "Error: No such container: nope\n");
    let (code, out, err) = d.berth(&["kill", "-s", "HUP", "a"]).await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "a\n", ""));
    let (code, out, err) = d.berth(&["rm", "running", "a"]).await;
    assert_eq!((code, out.as_str()), (1, "a\n"));
    assert!(err.contains("cannot remove a running container"), "{err}");
    let (code, _, _) = d.berth(&["rm", "-f", "-v", "running"]).await;
    assert_eq!(code, 0);
    let (code, out, _) = d.berth(&["start", "a", "b"]).await;
    assert_eq!((code, out.as_str()), (0, "a\nb\n"));
    let (code, out, _) = d.berth(&["container", "restart", "a"]).await;
    assert_eq!((code, out.as_str()), (0, "a\n"));
    let (code, out, err) = d.berth(&["wait", "web", "nope", "seven"]).await;
    assert_eq!((code, out.as_str()), (1, "0\n7\n"));
    assert_eq!(err, "Error: No such container: nope\n");
    let calls = d.fake.calls();
    for want in [
        "stop a 3 ",
        "kill a HUP",
        "remove running false",
        "remove running true",
        "restart a -1",
    ] {
        assert!(calls.iter().any(|c| c == want), "{want}: {calls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_split_streams_and_stamp_lines() {
    let d = start().await;
    let (code, out, err) = d.berth(&["logs", "web"]).await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "line1\nline2\n", "err1\n")
    );
    let (_, out, err) = d
        .berth(&["logs", "-t", "--tail", "2", "--since", "10m", "web"])
        .await;
    assert_eq!(
        out,
        "2024-05-01T10:00:00.123456789Z line1\n2024-05-01T10:00:02.500000000Z line2\n"
    );
    assert_eq!(err, "2024-05-01T10:00:01.000000000Z err1\n");
    let request = d.fake.state.lock().unwrap().logs.clone().unwrap();
    assert_eq!(request.tail, 2);
    assert!(request.stdout && request.stderr && !request.follow);
    let since: i64 = request.since.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - 660..=now - 540).contains(&since), "{since}");
    let (code, _, err) = d.berth(&["logs", "nope"]).await;
    assert_eq!(
        (code, err.as_str()),
        (125, "Error: No such container: nope\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_table_quiet_format_and_request() {
    let d = start().await;
    let (code, out, err) = d.berth(&["ps"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let ports = "443/tcp, 0.0.0.0:8080->80/tcp";
    assert_eq!(
        lines[0],
        format!(
            "CONTAINER ID   IMAGE     COMMAND        CREATED       STATUS{}PORTS{}NAMES",
            " ".repeat(30 + 3 - "STATUS".len()),
            " ".repeat(ports.len() + 3 - "PORTS".len())
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "bbbbbbbbbbbb   busybox   \"sleep 1000\"   3 hours ago   Up 2 hours{}{ports}   web",
            " ".repeat(23)
        )
    );
    assert!(
        lines[2].contains("   Exited (137) About an hour ago   "),
        "{out}"
    );

    let (_, out, _) = d
        .berth(&["ps", "-aq", "--filter", "status=exited", "-f", "name=old"])
        .await;
    assert_eq!(out, "bbbbbbbbbbbb\naaaaaaaaaaaa\n");
    let request = d.fake.state.lock().unwrap().list.clone().unwrap();
    assert!(request.all && !request.size);
    assert_eq!(request.filters, ["status=exited", "name=old"]);

    let (_, out, _) = d
        .berth(&["container", "ls", "-n", "1", "--format", "{{.Names}}"])
        .await;
    assert_eq!(out, "web\n");
    assert!(d.fake.state.lock().unwrap().list.as_ref().unwrap().all);

    let (_, out, _) = d
        .berth(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}: {{.Ports}} on {{.Networks}}",
        ])
        .await;
    assert_eq!(out, format!("web: {ports} on bridge\nold:  on \n"));

    let (code, _, err) = d.berth(&["ps", "--format", "{{.Names"]).await;
    assert_eq!(code, 125);
    assert!(err.starts_with("Error: template parsing error"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_top_rename() {
    let d = start().await;
    let (code, out, _) = d
        .berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{json .State}}",
            "web",
        ])
        .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "running 0 {\"Status\":\"running\",\"Running\":true,\"Pid\":42,\"ExitCode\":0}\n"
    );
    let (code, out, _) = d.berth(&["container", "inspect", "-s", "web"]).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Name"], "/web");
    assert!(out.starts_with("[\n    {\n        \"Id\": "), "{out}");
    assert!(d.fake.calls().contains(&"inspect web true".to_owned()));

    // No image service here: an unknown name is an error either way.
    let (code, out, err) = d.berth(&["container", "inspect", "nope"]).await;
    assert_eq!((code, out.as_str()), (125, "[]\n"));
    assert_eq!(err, "Error: No such container: nope\n");

    let (code, out, _) = d.berth(&["top", "web", "-o", "pid,args"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "PID{}CMD\n4242{}sleep 1000\n",
            " ".repeat(17),
            " ".repeat(16)
        )
    );
    let (code, out, _) = d.berth(&["rename", "web", "web2"]).await;
    assert_eq!((code, out.as_str()), (0, ""));
    let calls = d.fake.calls();
    assert!(
        calls.contains(&"top web -o pid,args".to_owned()),
        "{calls:?}"
    );
    assert!(calls.contains(&"rename web web2".to_owned()), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_flags_reach_the_daemon() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&[
            "run",
            "-d",
            "--net",
            "appnet",
            "--network-alias",
            "api",
            "--ip",
            "10.78.0.20",
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "9000-9001:9000-9001/udp",
            "-P",
            "--expose",
            "443",
            "--link",
            "db:database",
            "--dns",
            "10.0.0.53",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:1",
            "--add-host",
            "gw:host-gateway",
            "--domainname",
            "example.org",
            "busybox",
            "exit:0",
        ])
        .await;
    assert_eq!((code, out), (0, format!("{ID}\n")), "{err}");
    let state = d.fake.state.lock().unwrap();
    let create = &state.creates[0];
    let config = create.config.as_ref().unwrap();
    assert_eq!(
        config.exposed_ports,
        ["80/tcp", "9000/udp", "9001/udp", "443/tcp"]
    );
    assert_eq!(config.domainname, "example.org");
    let host = create.host_config.as_ref().unwrap();
    let bindings: Vec<(String, u32, u32, String)> = host
        .port_bindings
        .iter()
        .map(|b| {
            (
                b.host_ip.clone(),
                b.host_port,
                b.container_port,
                b.protocol.clone(),
            )
        })
        .collect();
    assert_eq!(
        bindings,
        [
            ("127.0.0.1".into(), 8080, 80, "tcp".into()),
            (String::new(), 9000, 9000, "udp".into()),
            (String::new(), 9001, 9001, "udp".into()),
        ]
    );
    assert!(host.publish_all_ports);
    assert_eq!(host.network_mode, "appnet");
    assert_eq!(host.network_aliases, ["api"]);
    assert_eq!(host.ipv4_address, "10.78.0.20");
    assert_eq!(host.links, ["db:database"]);
    assert_eq!(host.dns, ["10.0.0.53"]);
    assert_eq!(host.dns_search, ["corp.example"]);
    assert_eq!(host.dns_options, ["ndots:1"]);
    assert_eq!(host.extra_hosts, ["gw:host-gateway"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_prints_dockers_lines() {
    let d = start().await;
    let (code, out, err) = d.berth(&["port", "ported"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "53/udp -> 0.0.0.0:5353\n\
         80/tcp -> 0.0.0.0:32768\n\
         80/tcp -> 127.0.0.1:8000\n\
         8080/tcp -> 0.0.0.0:8080\n"
    );
    let (code, out, _) = d.berth(&["port", "ported", "80"]).await;
    assert_eq!((code, out.as_str()), (0, "0.0.0.0:32768\n127.0.0.1:8000\n"));
    let (code, out, _) = d.berth(&["container", "port", "ported", "53/udp"]).await;
    assert_eq!((code, out.as_str()), (0, "0.0.0.0:5353\n"));
    // Exposed but not published, and not there at all: docker's words, exit 1.
    for port in ["81", "53/tcp", "9999"] {
        let (code, out, err) = d.berth(&["port", "ported", port]).await;
        assert_eq!((code, out.as_str()), (1, ""), "{port}");
        assert_eq!(
            err,
            format!("Error: No public port '{port}' published for ported\n")
        );
    }
    // Nothing published: nothing printed.
    let (code, out, _) = d.berth(&["port", "web"]).await;
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, _, err) = d.berth(&["port", "nope"]).await;
    assert_eq!(
        (code, err.as_str()),
        (125, "Error: No such container: nope\n")
    );
}
