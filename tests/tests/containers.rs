//! Containers end to end: run in the foreground and detached, exit codes,
//! output routing, the process environment (env, user, workdir, hostname),
//! the security profile (capabilities, seccomp, masked paths, read-only
//! rootfs, only fds 0-2), cgroup limits and OOM, --init, --runtime runc,
//! --network none, the lifecycle verbs (stop, kill, restart, start, rm,
//! rename, wait, top, logs, ps, inspect) and what bad input gets. Every test
//! ends by checking that no process, cgroup, mount or task state is left.

use std::time::{Duration, Instant};

use berth_tests::fixture::busybox_image;
use berth_tests::{run, run_sh, wait_for, Daemon};
use serde_json::json;

/// The container's cgroup directory in the v1 controller (or the unified
/// tree on cgroup v2) that holds `file`.
fn cgroup_file(d: &Daemon, id: &str, file: &str) -> String {
    for dir in d.cgroup_dirs() {
        let p = dir.join(format!("default-{id}")).join(file);
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.trim().to_string();
        }
    }
    panic!("no cgroup file {file} for {id} under {:?}", d.cgroup_dirs());
}

#[test]
fn run_foreground_output_and_exit_codes() {
    let d = Daemon::with_busybox();
    let (code, out, _) = run(&d, &["run", "--rm", "busybox", "echo", "hello world"]);
    assert_eq!((code, out.as_str()), (0, "hello world\n"));

    // stdout and stderr stay apart.
    let (code, out, err) = run_sh(&d, &[], "echo out; echo err >&2; exit 3");
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");

    // A code from a process that died of a signal (128 + N) passes through
    // (the outer shell must not exec the inner one, which would be PID 1 and
    // immune to the signal).
    let (code, _, _) = run_sh(&d, &[], "sh -c 'kill -9 $$'; exit $?");
    assert_eq!(code, 137);

    // The image's CMD (sh) with no input exits 0.
    let (code, _, _) = run(&d, &["run", "--rm", "busybox"]);
    assert_eq!(code, 0);

    // Output of many lines arrives whole and in order.
    let (code, out, _) = run(&d, &["run", "--rm", "busybox", "seq", "1", "20000"]);
    assert_eq!(code, 0);
    let expected: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert!(out == expected, "seq output differs ({} bytes)", out.len());

    d.assert_all_removed();
}

#[test]
fn command_not_found_or_not_executable() {
    let d = Daemon::with_busybox();
    let (code, err) = d.fail(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("nosuchcmd"), "{err}");
    assert!(err.contains("not found"), "{err}");

    let (code, err) = d.fail(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(code, 126, "{err}");
    assert!(err.to_lowercase().contains("permission denied"), "{err}");

    let (code, err) = d.fail(&["run", "--rm", "busybox", "/tmp"]);
    assert_eq!(code, 126, "{err}");

    // Without --rm the container stays, exited with the code and the error.
    let (code, _) = d.fail(&["run", "--name", "broken", "busybox", "nosuchcmd"]);
    assert_eq!(code, 127);
    let st = &d.inspect("broken")["State"];
    assert_eq!(st["ExitCode"], 127, "{st}");
    assert_eq!(st["Running"], false);
    assert!(
        st["Error"].as_str().unwrap_or("").contains("nosuchcmd"),
        "{st}"
    );
    d.ok(&["rm", "broken"]);
    d.assert_all_removed();
}

#[test]
fn process_environment() {
    let d = Daemon::with_busybox();
    let script =
        "echo $FOO; echo $FROMFILE; pwd; id -u; id -g; id -G; hostname; echo $PATH; echo $HOME";
    let envfile = d.dir.path().join("env.list");
    std::fs::write(&envfile, "# comment\n\nFROMFILE=yes\n").unwrap();
    let (code, out, err) = run_sh(
        &d,
        &[
            "-e",
            "FOO=bar baz",
            "--env-file",
            &envfile.display().to_string(),
            "-w",
            "/tmp",
            "-u",
            "alice",
            "-h",
            "myhost",
        ],
        script,
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "bar baz",
            "yes",
            "/tmp",
            "1000",
            "1000",
            "1000 10",
            "myhost",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "/home/alice"
        ],
        "{out}"
    );

    // uid:gid that is not in passwd is fine; the default hostname is the
    // short id.
    let id = d.run_d(&[
        "-u",
        "4242:4343",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; hostname",
    ]);
    assert_eq!(id.len(), 64, "{id}");
    d.ok(&["wait", &id]);
    let logs = d.ok(&["logs", &id]);
    assert_eq!(logs, format!("4242\n4343\n{}\n", &id[..12]));
    d.ok(&["rm", &id]);

    // --entrypoint replaces the image's entrypoint; "" clears it.
    let (code, out, _) = run(
        &d,
        &["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"],
    );
    assert_eq!((code, out.as_str()), (0, "a b\n"));
    d.assert_no_containers_left();
}

#[test]
fn security_profile() {
    let d = Daemon::with_busybox();
    let status = |extra: &[&str]| -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "cat", "/proc/self/status"]);
        let (code, out, err) = run(&d, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let field = |s: &str, name: &str| -> String {
        s.lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{name} missing in {s}"))
    };
    let default = status(&[]);
    assert_eq!(field(&default, "CapEff"), "00000000a80425fb");
    assert_eq!(field(&default, "CapBnd"), "00000000a80425fb");
    assert_eq!(field(&default, "NoNewPrivs"), "0");
    assert_eq!(field(&default, "Seccomp"), "2");

    let dropped = status(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]);
    assert_eq!(field(&dropped, "CapEff"), "0000000000001000");
    let nnp = status(&["--security-opt", "no-new-privileges"]);
    assert_eq!(field(&nnp, "NoNewPrivs"), "1");
    let unconfined = status(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(field(&unconfined, "Seccomp"), "0");
    let privileged = status(&["--privileged"]);
    assert_eq!(field(&privileged, "Seccomp"), "0");
    let host_bnd = field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd",
    );
    assert_eq!(field(&privileged, "CapEff"), host_bnd);

    // The default seccomp profile refuses what docker's refuses, even as root.
    let (code, out, _) = run_sh(&d, &[], "unshare -m true 2>&1; echo rc=$?");
    assert_eq!(code, 0);
    assert!(out.contains("rc=1"), "unshare should be refused: {out}");

    // A custom profile from a file.
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let pfile = d.dir.path().join("profile.json");
    std::fs::write(&pfile, profile.to_string()).unwrap();
    let opt = format!("seccomp={}", pfile.display());
    let (code, out, _) = run_sh(
        &d,
        &["--security-opt", &opt],
        "mkdir /tmp/x 2>&1; echo rc=$?",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("rc=1") && out.contains("not permitted"),
        "{out}"
    );
    let (code, err) = d.fail(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/nonexistent.json",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("/nonexistent.json"), "{err}");

    // Masked and read-only paths, read-only rootfs, and only fds 0, 1, 2.
    let script = "wc -c < /proc/timer_list; echo x > /proc/sys/kernel/hostname 2>/dev/null || echo ro-proc-sys; ls /proc/self/fd | tr '\\n' ' '";
    let (code, out, err) = run_sh(&d, &[], script);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/timer_list not masked: {out}");
    assert_eq!(lines[1], "ro-proc-sys", "{out}");
    assert_eq!(
        lines[2].trim(),
        "0 1 2 3",
        "fds leaked into the container: {out}"
    );

    let (code, out, _) = run_sh(&d, &["--read-only"], "touch /x 2>&1; echo rc=$?");
    assert_eq!(code, 0);
    assert!(
        out.contains("Read-only file system") && out.contains("rc=1"),
        "{out}"
    );

    // /dev has docker's devices, /sys is read-only.
    let (code, out, _) = run_sh(
        &d,
        &[],
        "ls /dev | tr '\\n' ' '; touch /sys/x 2>/dev/null || echo ro-sys",
    );
    assert_eq!(code, 0);
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(
            out.split_whitespace().any(|e| e == dev),
            "/dev/{dev} missing: {out}"
        );
    }
    assert!(out.contains("ro-sys"), "{out}");

    // The device cgroup allows only docker's standard nodes: a node made
    // for another device cannot be opened.
    let (code, out, _) = run_sh(
        &d,
        &[],
        "mknod /tmp/lc c 10 237 && head -c 1 /tmp/lc 2>&1; echo rc=$?",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("not permitted") && out.contains("rc=1"),
        "{out}"
    );
    d.assert_no_containers_left();
}

#[test]
fn cgroup_limits_and_oom() {
    let d = Daemon::with_busybox();
    let id = d.run_d(&[
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "10",
        "--cpu-shares",
        "512",
        "busybox",
        "sleep",
        "1000",
    ]);
    let v2 = d.cgroup_dirs().iter().all(|p| {
        p.starts_with("/sys/fs/cgroup/unified") || !p.starts_with("/sys/fs/cgroup/memory")
    }) && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        assert_eq!(cgroup_file(&d, &id, "memory.max"), "67108864");
        assert_eq!(cgroup_file(&d, &id, "cpu.max"), "50000 100000");
        assert_eq!(cgroup_file(&d, &id, "pids.max"), "10");
    } else {
        assert_eq!(cgroup_file(&d, &id, "memory.limit_in_bytes"), "67108864");
        assert_eq!(cgroup_file(&d, &id, "cpu.cfs_quota_us"), "50000");
        assert_eq!(cgroup_file(&d, &id, "cpu.shares"), "512");
        assert_eq!(cgroup_file(&d, &id, "pids.max"), "10");
    }
    // The container sees its own cgroup tree, read-only.
    let (code, out, _) = run_sh(
        &d,
        &[],
        "ls /sys/fs/cgroup | head -1; touch /sys/fs/cgroup/x 2>/dev/null || echo ro",
    );
    assert_eq!(code, 0);
    assert!(out.contains("ro"), "{out}");
    d.ok(&["rm", "-f", &id]);

    // A process past its memory limit is OOM killed: exit 137, OOMKilled.
    let out = d.berth(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "exec tail /dev/zero",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = &d.inspect("oom")["State"];
    assert_eq!(st["OOMKilled"], true, "{st}");
    assert_eq!(st["ExitCode"], 137);
    d.ok(&["rm", "oom"]);

    // Bad values are refused before anything is made.
    for (flag, value) in [
        ("-m", "12x"),
        ("--cpus", "abc"),
        ("--pids-limit", "x"),
        ("-m", "1k"),
    ] {
        let (code, err) = d.fail(&["run", "--rm", flag, value, "busybox", "true"]);
        assert_eq!(code, 125, "{flag} {value}: {err}");
    }
    d.assert_all_removed();
}

#[test]
fn detached_lifecycle() {
    let d = Daemon::with_busybox();
    let id = d.run_d(&["--name", "web", "busybox", "sleep", "1000"]);
    assert_eq!(id.len(), 64);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let ps = d.ok(&["ps"]);
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().expect("a row");
    assert!(row.starts_with(&id[..12]), "{row}");
    assert!(
        row.contains("busybox") && row.contains("Up ") && row.trim_end().ends_with("web"),
        "{row}"
    );

    let info = d.inspect("web");
    assert_eq!(info["Id"], id.as_str());
    assert_eq!(info["Name"], "/web");
    assert_eq!(info["State"]["Status"], "running");
    assert_eq!(info["State"]["Running"], true);
    let pid = info["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "web"]).trim(),
        "running"
    );

    // By unique prefix.
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Name}}", &id[..6]]).trim(),
        "/web"
    );

    let top = d.ok(&["top", "web"]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");

    // rm refuses a running container.
    let (code, err) = d.fail(&["rm", "web"]);
    assert_ne!(code, 0);
    assert!(err.contains("running"), "{err}");

    // sleep as PID 1 ignores SIGTERM: stop waits -t, then kills.
    let t = Instant::now();
    d.ok(&["stop", "-t", "1", "web"]);
    assert!(t.elapsed() >= Duration::from_millis(900));
    let st = &d.inspect("web")["State"];
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], 137);
    assert_ne!(st["FinishedAt"], "0001-01-01T00:00:00Z");
    assert!(
        d.ok(&["ps"]).lines().count() == 1,
        "stopped container listed without -a"
    );
    let row = d.ok(&["ps", "-a"]);
    assert!(row.contains("Exited (137)"), "{row}");

    // start runs it again; restart; kill with a signal.
    d.ok(&["start", "web"]);
    assert_eq!(d.inspect("web")["State"]["Running"], true);
    d.ok(&["restart", "-t", "0", "web"]);
    assert_eq!(d.inspect("web")["State"]["Running"], true);
    d.ok(&["kill", "-s", "KILL", "web"]);
    assert_eq!(d.ok(&["wait", "web"]).trim(), "137");
    let (_, err) = d.fail(&["kill", "web"]);
    assert!(err.contains("not running"), "{err}");

    d.ok(&["rename", "web", "web2"]);
    assert_eq!(d.inspect("web2")["Id"], id.as_str());
    let (code, err) = d.fail(&["inspect", "web"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("no such"), "{err}");

    // rm -f of a running container.
    d.ok(&["start", "web2"]);
    d.ok(&["rm", "-f", "web2"]);
    d.assert_all_removed();
}

#[test]
fn stop_signal_init_and_runtime_runc() {
    let d = Daemon::with_busybox();
    // The image's STOPSIGNAL is what stop sends.
    d.load_image(
        busybox_image("trapper:latest")
            .with("StopSignal", json!("SIGUSR1"))
            .with(
                "Cmd",
                json!([
                    "sh",
                    "-c",
                    "trap 'echo got-usr1; exit 5' USR1; echo ready; while true; do sleep 0.1; done"
                ]),
            ),
    );
    let id = d.run_d(&["trapper"]);
    wait_for("ready", || d.ok(&["logs", &id]).contains("ready"));
    d.ok(&["stop", "-t", "10", &id]);
    assert_eq!(d.inspect(&id)["State"]["ExitCode"], 5);
    assert!(d.ok(&["logs", &id]).contains("got-usr1"));
    d.ok(&["rm", &id]);

    // --init: berth-init is PID 1 and forwards SIGTERM, so stop is quick.
    let (code, out, err) = run(
        &d,
        &["run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"],
    );
    assert_eq!(code, 0, "{err}");
    let pid1 = out
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap_or("");
    assert!(pid1.contains("berth-init"), "{out}");
    let id = d.run_d(&["--init", "busybox", "sleep", "1000"]);
    let t = Instant::now();
    d.ok(&["stop", "-t", "20", &id]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "SIGTERM was not forwarded"
    );
    assert_eq!(d.inspect(&id)["State"]["ExitCode"], 143);
    d.ok(&["rm", &id]);

    // The same bundle through runc.
    berth_tests::require_tool("runc", "runc");
    let (code, out, err) = run_sh(
        &d,
        &["--runtime", "runc"],
        "echo from-runc; hostname; exit 4",
    );
    assert_eq!(code, 4, "{err}");
    assert!(out.starts_with("from-runc\n"), "{out}");
    let id = d.run_d(&["--runtime", "runc", "busybox", "sleep", "1000"]);
    assert_eq!(d.inspect(&id)["State"]["Running"], true);
    d.ok(&["rm", "-f", &id]);
    let (code, _) = d.fail(&["run", "--rm", "--runtime", "runc", "busybox", "nosuchcmd"]);
    assert_eq!(code, 127);
    d.assert_no_containers_left();
}

#[test]
fn logs_follow_tail_timestamps_and_restart() {
    let mut d = Daemon::with_busybox();
    let id = d.run_d(&[
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; echo err$i >&2; done",
    ]);
    assert_eq!(d.ok(&["wait", &id]).trim(), "0");
    let out = d.berth(&["logs", &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line1\nline2\nline3\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err1\nerr2\nerr3\n");
    // The last line is the last one the shim read: stdout and stderr are
    // two pipes, so which of "line3" and "err3" came last is a race.
    let tail = d.berth(&["logs", "--tail", "1", &id]);
    let (tail_out, tail_err) = (
        String::from_utf8_lossy(&tail.stdout),
        String::from_utf8_lossy(&tail.stderr),
    );
    assert!(
        (tail_out == "line3\n" && tail_err.is_empty())
            || (tail_out.is_empty() && tail_err == "err3\n"),
        "not one last line: {tail_out:?} {tail_err:?}"
    );
    let ts = d.ok(&["logs", "-t", &id]);
    let first = ts.lines().next().unwrap();
    let (stamp, text) = first.split_once(' ').unwrap();
    assert_eq!(text, "line1");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );

    // follow streams until the container stops.
    let id2 = d.run_d(&["busybox", "sh", "-c", "echo a; sleep 1; echo b"]);
    let t = Instant::now();
    let out = d.ok(&["logs", "-f", &id2]);
    assert_eq!(out, "a\nb\n");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(d.ok(&["logs", "--tail", "1", &id2]), "b\n");

    // Logs survive a berthd restart.
    d.restart();
    assert_eq!(d.ok(&["logs", &id]).lines().count(), 3);
    d.ok(&["rm", &id, &id2]);
    d.assert_no_containers_left();
}

#[test]
fn log_rotation() {
    let d = Daemon::with_busybox();
    let id = d.run_d(&[
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "seq 1 5000",
    ]);
    assert_eq!(d.ok(&["wait", &id]).trim(), "0");
    let dir = d.root().join("containers/default").join(&id);
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-json.log"))
        .collect();
    assert!(
        files.len() <= 3,
        "more files than max-file allows: {files:?}"
    );
    assert!(files.len() >= 2, "no rotation happened: {files:?}");
    for f in &files {
        let len = std::fs::metadata(dir.join(f)).unwrap().len();
        assert!(len < 20 * 1024, "{f} is {len} bytes");
    }
    // What is left is the end of the output, in order.
    let logs = d.ok(&["logs", &id]);
    assert!(
        logs.ends_with("4999\n5000\n"),
        "{}",
        &logs[logs.len().saturating_sub(50)..]
    );
    let nums: Vec<u32> = logs.lines().map(|l| l.parse().unwrap()).collect();
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "lines out of order"
    );
    d.ok(&["rm", &id]);
    d.assert_no_containers_left();
}

#[test]
fn names_ids_and_bad_input() {
    let d = Daemon::with_busybox();
    d.ok(&["create", "--name", "taken", "busybox", "true"]);
    let (code, err) = d.fail(&["create", "--name", "taken", "busybox"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("taken") && err.contains("already in use"),
        "{err}"
    );

    let (code, err) = d.fail(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuchuser"), "{err}");

    let (code, err) = d.fail(&["run", "--rm", "--pull", "never", "nosuchimage:1", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuchimage"), "{err}");

    let (code, _) = d.fail(&["run", "--no-such-flag", "busybox"]);
    assert_eq!(code, 125);

    let (code, err) = d.fail(&["start", "nosuchcontainer"]);
    assert_ne!(code, 0);
    assert!(err.contains("nosuchcontainer"), "{err}");

    // 17 ids: two of them share a first hex digit, so that prefix is ambiguous.
    let mut ids = vec![];
    for _ in 0..17 {
        ids.push(d.ok(&["create", "busybox", "true"]).trim().to_string());
    }
    let shared = ids
        .iter()
        .map(|i| &i[..1])
        .find(|p| ids.iter().filter(|i| i.starts_with(*p)).count() > 1)
        .unwrap();
    let (_, err) = d.fail(&["inspect", "--type", "container", shared]);
    assert!(
        err.to_lowercase().contains("multiple") || err.contains("ambiguous"),
        "{err}"
    );

    // Generated names are unique and docker-like.
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut uniq: Vec<&str> = names.lines().collect();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), 18);

    // An image in use is not removed without -f.
    let (_, err) = d.fail(&["rmi", "busybox"]);
    assert!(err.contains("container"), "{err}");

    // Filters.
    assert_eq!(
        d.ok(&["ps", "-aq", "--filter", "name=taken"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        d.ok(&["ps", "-aq", "--filter", "status=created"])
            .lines()
            .count(),
        18
    );
    assert_eq!(
        d.ok(&["ps", "-aq", "--filter", "ancestor=busybox"])
            .lines()
            .count(),
        18
    );
    let all: Vec<String> = d.ok(&["ps", "-aq"]).lines().map(str::to_string).collect();
    let mut args = vec!["rm"];
    args.extend(all.iter().map(String::as_str));
    d.ok(&args);
    d.assert_all_removed();
}

#[test]
fn bind_mounts() {
    let d = Daemon::with_busybox();
    let host = d.dir.path().join("data");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from-host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let (code, out, err) = run_sh(
        &d,
        &["-v", &rw],
        "cat /data/in.txt; echo back > /data/out.txt",
    );
    assert_eq!((code, out.as_str()), (0, "from-host\n"), "{err}");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/data:ro", host.display());
    let (code, out, _) = run_sh(&d, &["-v", &ro], "touch /data/x 2>&1; echo rc=$?");
    assert_eq!(code, 0);
    assert!(out.contains("Read-only") && out.contains("rc=1"), "{out}");
    let (code, err) = d.fail(&["run", "--rm", "-v", "/no/such/dir:/x", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("/no/such/dir"), "{err}");
    d.assert_no_containers_left();
}

#[test]
fn containers_survive_berthd_restarts() {
    let mut d = Daemon::with_busybox();
    let running = d.run_d(&["--name", "keeps", "busybox", "sleep", "1000"]);
    let short = d.run_d(&["--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7"]);
    let doomed = d.run_d(&["--name", "doomed", "busybox", "sleep", "1000"]);
    let pid = d.inspect(&running)["State"]["Pid"].as_i64().unwrap();

    d.kill();
    // While berthd is down: one container exits by itself, one loses its shim.
    std::thread::sleep(Duration::from_millis(1500));
    let shim_pid: i32 = std::fs::read_to_string(
        d.state()
            .join("tasks/default")
            .join(&doomed)
            .join("shim.pid"),
    )
    .expect("shim.pid")
    .trim()
    .parse()
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    d.start_again();

    let st = &d.inspect("keeps")["State"];
    assert_eq!(st["Running"], true, "{st}");
    assert_eq!(
        st["Pid"].as_i64().unwrap(),
        pid,
        "the container was restarted"
    );
    let st = &d.inspect("short")["State"];
    assert_eq!(st["Status"], "exited", "{st}");
    assert_eq!(st["ExitCode"], 7, "{st}");
    let st = &d.inspect("doomed")["State"];
    assert_eq!(st["Running"], false, "{st}");
    assert!(
        !st["Error"].as_str().unwrap_or("").is_empty(),
        "no reason given: {st}"
    );

    // Still manageable.
    d.ok(&["stop", "-t", "1", "keeps"]);
    assert_eq!(d.inspect("keeps")["State"]["ExitCode"], 137);
    d.ok(&["start", "keeps"]);
    d.restart();
    assert_eq!(d.inspect("keeps")["State"]["Running"], true);
    d.ok(&["rm", "-f", "keeps", &short, &doomed]);
    d.assert_no_containers_left();
}

#[test]
fn two_hundred_containers_leave_nothing() {
    let d = Daemon::with_busybox();
    let d = &d;
    std::thread::scope(|s| {
        for worker in 0..4 {
            s.spawn(move || {
                for i in 0..50 {
                    match (worker * 50 + i) % 4 {
                        0 => {
                            let (code, out, _) = run(d, &["run", "--rm", "busybox", "echo", "ok"]);
                            assert_eq!((code, out.as_str()), (0, "ok\n"));
                        }
                        1 => {
                            let (code, _, _) = run_sh(d, &[], "exit 42");
                            assert_eq!(code, 42);
                        }
                        2 => {
                            let id = d.run_d(&["busybox", "sleep", "1000"]);
                            d.ok(&["rm", "-f", &id]);
                        }
                        _ => {
                            let id = d.run_d(&["busybox", "sleep", "1000"]);
                            d.ok(&["kill", &id]);
                            assert_eq!(d.ok(&["wait", &id]).trim(), "137");
                            d.ok(&["rm", &id]);
                        }
                    }
                }
            });
        }
    });
    d.assert_all_removed();
    // The active snapshots went with the containers.
    let snaps = d.ok(&["snapshot", "ls"]);
    assert!(!snaps.contains("Active"), "{snaps}");
}
