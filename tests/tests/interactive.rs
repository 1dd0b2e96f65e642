//! Interactive containers end to end, through a real pseudo-terminal
//! (tests/src/pty.rs) as a user's terminal emulator would drive them:
//! `run -it` shells (typing, output, window size at start and on resize,
//! ^C reaching the container's foreground process, the exit code, the
//! terminal restored), detaching with the keys and attaching again,
//! several clients, a client killed mid-stream, an attach after a berthd
//! restart, pipes with -i (stdout and stderr apart), exec with and without
//! a tty (exit codes, -e/-u/-w, -d, a stopped container, an exec killed
//! when its container stops), docker's sig-proxy, and runc. Every test
//! ends with the harness's leak checks.

use std::time::{Duration, Instant};

use berth_tests::{check_fail, run_stdin, wait_exit_within, wait_for, Daemon};
use serde_json::Value;

const EXIT: Duration = Duration::from_secs(30);

/// The busybox shell's prompt as root.
const PROMPT: &str = "# ";

#[test]
fn run_it_is_a_working_shell() {
    let d = Daemon::with_busybox();
    let mut t = d.pty(&["run", "-it", "--rm", "--name", "sh", "busybox", "sh"]);
    t.expect(PROMPT);
    // The command is echoed by the container's pty, its output follows.
    t.send("echo hel''lo\r");
    t.expect("hello\r\n");
    t.expect(PROMPT);
    t.send("tty\r");
    let tty = t.expect(PROMPT);
    assert!(
        tty.contains("/dev/pts/") || tty.contains("/dev/console"),
        "{tty}"
    );
    // The window size from the start, then after a resize (SIGWINCH).
    t.send("stty size\r");
    t.expect("30 100\r\n");
    t.resize(120, 40);
    // The resize reaches the container asynchronously: ask until it shows.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        t.send("stty size\r");
        let seen = t.expect(PROMPT);
        if seen.contains("40 120") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resize never arrived: {seen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // ^C reaches the container's foreground process, not berth.
    t.send("sleep 1000\r");
    std::thread::sleep(Duration::from_millis(500));
    t.send("\x03");
    t.expect(PROMPT);
    t.send("echo status=$?\r");
    t.expect("status=130");
    t.expect(PROMPT);
    // ^Z stops the foreground job (the shell has job control on its pty).
    t.send("sleep 1000\r");
    std::thread::sleep(Duration::from_millis(500));
    t.send("\x1a");
    t.expect(PROMPT);
    t.send("echo status=$?\r");
    t.expect("status=148");
    t.expect(PROMPT);
    t.send("kill -9 %1\r");
    t.expect(PROMPT);
    // ^D is end-of-file for the reading process.
    t.send("cat\r");
    std::thread::sleep(Duration::from_millis(300));
    t.send("abc\r");
    t.expect("abc\r\nabc\r\n");
    t.send("\x04");
    t.expect(PROMPT);
    t.send("echo status=$?\r");
    t.expect("status=0");
    t.expect(PROMPT);
    // The shell's exit code is berth's, and the terminal is cooked again.
    t.send("exit 3\r");
    let st = t.wait(EXIT);
    assert_eq!(st.code(), Some(3), "{}", t.output());
    assert!(t.is_cooked(), "the terminal was left in raw mode");
    d.assert_all_removed();
}

#[test]
fn detach_attach_again_and_exit() {
    let d = Daemon::with_busybox();
    let mut t = d.pty(&["run", "-it", "--name", "dt", "busybox", "sh"]);
    t.expect(PROMPT);
    t.send("echo o''ne\r");
    t.expect("one\r\n");
    t.expect(PROMPT);
    // ctrl-p ctrl-q: berth leaves, the container runs on.
    t.send("\x10\x11");
    let st = t.wait(EXIT);
    assert_eq!(st.code(), Some(0), "{}", t.output());
    assert!(t.is_cooked(), "the terminal was left in raw mode");
    assert_eq!(d.inspect("dt")["State"]["Running"], true);
    let c = d.inspect("dt")["Config"].clone();
    assert_eq!(
        (
            &c["Tty"],
            &c["OpenStdin"],
            &c["StdinOnce"],
            &c["AttachStdin"]
        ),
        (
            &Value::Bool(true),
            &Value::Bool(true),
            &Value::Bool(true),
            &Value::Bool(true)
        )
    );

    // Attach again, with other detach keys, and detach with those.
    let mut a = d.pty(&["attach", "--detach-keys", "ctrl-x,x", "dt"]);
    a.send("echo t''wo\r");
    a.expect("two\r\n");
    // ctrl-p ctrl-q are plain keys now: they reach the shell.
    a.send("\x10\x11echo th''ree\r");
    a.expect("three\r\n");
    a.send("\x18x");
    assert_eq!(a.wait(EXIT).code(), Some(0), "{}", a.output());
    assert!(a.is_cooked());
    assert_eq!(d.inspect("dt")["State"]["Running"], true);

    // Two clients at once: both see the output, either may type.
    let mut one = d.pty(&["attach", "dt"]);
    let mut two = d.pty(&["attach", "dt"]);
    // Both are connected once each sees the other's typing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        one.send(format!("echo pi''ng{n}\r"));
        one.expect(&format!("ping{n}\r\n"));
        if two.output().contains(&format!("ping{n}\r\n")) {
            break;
        }
        assert!(Instant::now() < deadline, "the second client sees nothing");
        std::thread::sleep(Duration::from_millis(200));
    }
    two.send("echo from''-two\r");
    one.expect("from-two\r\n");
    // The exit reaches every client; each exits with the code.
    two.send("exit 3\r");
    assert_eq!(one.wait(EXIT).code(), Some(3), "{}", one.output());
    assert_eq!(two.wait(EXIT).code(), Some(3), "{}", two.output());
    assert!(one.is_cooked() && two.is_cooked());
    let st = &d.inspect("dt")["State"];
    assert_eq!(
        (&st["Running"], &st["ExitCode"]),
        (&Value::Bool(false), &Value::from(3))
    );

    // Attaching to a stopped container is docker's error.
    let (code, err) = d.fail(&["attach", "dt"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("You cannot attach to a stopped container"),
        "{err}"
    );
    d.ok(&["rm", "dt"]);
    d.assert_no_containers_left();
}

#[test]
fn a_killed_client_leaves_the_container_healthy() {
    let mut d = Daemon::with_busybox();
    let id = d.ok(&["run", "-dit", "--name", "kk", "busybox", "sh"]);
    let id = id.trim();
    let mut a = d.pty(&["attach", "kk"]);
    a.send("echo f''irst\r");
    a.expect("first\r\n");
    a.expect(PROMPT);
    // The client dies mid-stream while the container writes.
    a.send("while true; do echo tick; sleep 0.05; done\r");
    a.expect("tick\r\n");
    a.kill();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.inspect(id)["State"]["Running"], true);
    // A new client gets the same shell back.
    let mut b = d.pty(&["attach", "kk"]);
    b.expect("tick\r\n");
    b.send("\x03");
    b.expect(PROMPT);
    b.send("echo a''live\r");
    b.expect("alive\r\n");
    b.send("\x10\x11");
    assert_eq!(b.wait(EXIT).code(), Some(0), "{}", b.output());
    assert_eq!(d.inspect(id)["State"]["Running"], true);
    // After a berthd restart the shim still holds the stdio: attach again.
    d.restart();
    let mut c = d.pty(&["attach", "kk"]);
    c.send("echo after-re''start\r");
    c.expect("after-restart\r\n");
    c.send("exit 6\r");
    assert_eq!(c.wait(EXIT).code(), Some(6), "{}", c.output());
    d.ok(&["rm", "kk"]);
    d.assert_no_containers_left();
}

#[test]
fn pipes_with_dash_i() {
    let d = Daemon::with_busybox();
    let (code, out, err) = run_stdin(&d, &["run", "-i", "--rm", "busybox", "cat"], b"hi\n");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "hi\n", ""));

    // Without -t, stdout and stderr stay apart; stdin's end closes the
    // container's stdin (StdinOnce).
    let (code, out, err) = run_stdin(
        &d,
        &[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "wc -l; echo oops >&2; exit 4",
        ],
        b"a\nb\nc\n",
    );
    assert_eq!(code, 4);
    assert_eq!(out.trim(), "3");
    assert_eq!(err, "oops\n");

    // A large input arrives whole.
    let big: Vec<u8> = (0..200_000).map(|i| b'a' + (i % 26) as u8).collect();
    let (code, out, _) = run_stdin(
        &d,
        &["run", "-i", "--rm", "busybox", "sh", "-c", "wc -c"],
        &big,
    );
    assert_eq!((code, out.trim()), (0, "200000"));

    // -it needs a terminal on stdin (docker's error, exit 1); -t alone
    // does not.
    let out = d.berth_stdin(&["run", "-it", "--rm", "busybox", "true"], b"");
    let (code, err) = check_fail(&["run", "-it"], &out);
    assert_eq!(code, 1);
    assert!(err.contains("the input device is not a TTY"), "{err}");
    let (code, out, _) = run_stdin(&d, &["run", "-t", "--rm", "busybox", "tty"], b"");
    assert_eq!(code, 0);
    assert!(
        out.starts_with("/dev/pts/") || out.starts_with("/dev/console"),
        "{out:?}"
    );
    // The container's pty turns "\n" into "\r\n".
    assert!(out.ends_with("\r\n"), "{out:?}");
    d.assert_all_removed();
}

#[test]
fn exec_runs_in_the_container() {
    let d = Daemon::with_busybox();
    let id = d.run_d(&[
        "--name",
        "ex",
        "-e",
        "FROM_RUN=1",
        "-w",
        "/srv",
        "busybox",
        "sleep",
        "1000",
    ]);
    // Output, stderr apart, the exit code.
    let out = d.berth(&["exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // The container's env, cwd, user, namespaces; -e, -w, -u.
    let env = d.ok(&["exec", "ex", "env"]);
    assert!(env.contains("FROM_RUN=1"), "{env}");
    assert!(!env.contains("TERM="), "{env}");
    assert_eq!(d.ok(&["exec", "ex", "pwd"]), "/srv\n");
    assert_eq!(d.ok(&["exec", "ex", "hostname"]).trim(), &id[..12]);
    let ps = d.ok(&["exec", "ex", "ps", "-o", "pid,comm"]);
    assert!(
        ps.contains("1 sleep"),
        "not in the container's pid namespace: {ps}"
    );
    let out = d.ok(&[
        "exec",
        "-e",
        "X=y",
        "-e",
        "FROM_RUN=2",
        "-w",
        "/tmp",
        "-u",
        "1:2",
        "ex",
        "sh",
        "-c",
        "echo $X $FROM_RUN; pwd; id -u; id -g",
    ]);
    assert_eq!(out, "y 2\n/tmp\n1\n2\n");
    // The container's security profile: no CAP_SYS_ADMIN unless privileged.
    let caps = |args: &[&str]| {
        let out = d.ok(args);
        let line = out
            .lines()
            .find(|l| l.starts_with("CapEff:"))
            .unwrap_or_default()
            .to_string();
        u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).unwrap_or(0)
    };
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(
        caps(&["exec", "ex", "cat", "/proc/self/status"]) & CAP_SYS_ADMIN,
        0
    );
    assert_ne!(
        caps(&["exec", "--privileged", "ex", "cat", "/proc/self/status"]) & CAP_SYS_ADMIN,
        0
    );
    // stdin with -i.
    let (code, out, _) = run_stdin(
        &d,
        &["exec", "-i", "ex", "sh", "-c", "cat; echo done"],
        b"in\n",
    );
    assert_eq!((code, out.as_str()), (0, "in\ndone\n"));
    // A command that cannot run: docker's codes.
    let (code, err) = d.fail(&["exec", "ex", "nosuchcmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (code, _) = d.fail(&["exec", "ex", "/etc/passwd"]);
    assert_eq!(code, 126);
    // -d returns at once; the process runs on.
    let started = Instant::now();
    assert_eq!(
        d.ok(&["exec", "-d", "ex", "sh", "-c", "sleep 2; touch /tmp/done"]),
        ""
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    wait_for("the detached exec", || {
        d.berth(&["exec", "ex", "test", "-e", "/tmp/done"])
            .status
            .success()
    });
    d.ok(&["stop", "-t", "1", "ex"]);
    // Exec on a stopped container: docker's message and exit code.
    let (code, err) = d.fail(&["exec", "ex", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("container {id} is not running")),
        "{err}"
    );
    let (code, err) = d.fail(&["exec", "nosuch", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: nosuch"), "{err}");
    d.ok(&["rm", "ex"]);
    d.assert_no_containers_left();
}

#[test]
fn exec_with_a_tty_and_when_the_container_stops() {
    let d = Daemon::with_busybox();
    d.ok(&["run", "-d", "--name", "et", "busybox", "sleep", "1000"]);
    // exec -it: a shell on a pty of the client's size.
    let mut t = d.pty(&["exec", "-it", "et", "sh"]);
    t.expect(PROMPT);
    t.send("tty; stty size; echo TERM=$TERM\r");
    t.expect("/dev/pts/");
    t.expect("30 100\r\n");
    t.expect("TERM=xterm\r\n");
    t.send("exit 5\r");
    assert_eq!(t.wait(EXIT).code(), Some(5), "{}", t.output());
    assert!(t.is_cooked());
    // -t without a terminal, piped: the pty's output.
    let (code, out, _) = run_stdin(&d, &["exec", "-t", "et", "echo", "x"], b"");
    assert_eq!((code, out.as_str()), (0, "x\r\n"));
    let out = d.berth_stdin(&["exec", "-it", "et", "true"], b"");
    let (code, err) = check_fail(&["exec", "-it"], &out);
    assert_eq!(code, 1);
    assert!(err.contains("the input device is not a TTY"), "{err}");

    // An exec still running when its container stops is killed (137).
    let mut exec = d.spawn(&["exec", "et", "sleep", "1000"]);
    wait_for("the exec to run", || {
        d.inspect("et")["ExecIDs"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    d.ok(&["kill", "et"]);
    let st = wait_exit_within(&mut exec, EXIT).expect("the exec client did not end");
    assert_eq!(st.code(), Some(137));
    d.ok(&["rm", "et"]);
    d.assert_no_containers_left();
}

#[test]
fn signals_reach_a_foreground_container() {
    let d = Daemon::with_busybox();
    let wait_exit = |child: &mut std::process::Child| {
        wait_exit_within(child, EXIT).expect("berth run did not exit")
    };
    let sigint = |child: &std::process::Child| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("kill");
    };
    // SIGINT to `berth run` is forwarded: the container's process gets it.
    let mut run = d.spawn(&[
        "run",
        "--rm",
        "--name",
        "s1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo caught; exit 7' INT; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_for("s1 to run", || d.is_running("s1"));
    std::thread::sleep(Duration::from_millis(300));
    sigint(&run);
    assert_eq!(wait_exit(&mut run).code(), Some(7));
    // With --init, a plain `sleep` stops on it too (130).
    let mut run = d.spawn(&[
        "run", "--rm", "--init", "--name", "s2", "busybox", "sleep", "1000",
    ]);
    wait_for("s2 to run", || d.is_running("s2"));
    std::thread::sleep(Duration::from_millis(300));
    sigint(&run);
    assert_eq!(wait_exit(&mut run).code(), Some(130));
    // --sig-proxy=false: the signal ends berth, not the container.
    let mut run = d.spawn(&[
        "run",
        "--sig-proxy=false",
        "--name",
        "s3",
        "busybox",
        "sleep",
        "1000",
    ]);
    wait_for("s3 to run", || d.is_running("s3"));
    sigint(&run);
    let st = wait_exit(&mut run);
    assert_ne!(st.code(), Some(0));
    assert!(d.is_running("s3"));
    d.ok(&["rm", "-f", "s3"]);
    d.assert_all_removed();
}

#[test]
fn runc_too() {
    berth_tests::require_tool("runc", "runc");
    let d = Daemon::with_busybox();
    let (code, out, _) = run_stdin(
        &d,
        &["run", "-i", "--rm", "--runtime", "runc", "busybox", "cat"],
        b"hi\n",
    );
    assert_eq!((code, out.as_str()), (0, "hi\n"));
    // A pty through runc's console socket.
    let mut t = d.pty(&["run", "-it", "--rm", "--runtime", "runc", "busybox", "sh"]);
    t.expect(PROMPT);
    t.send("tty; stty size\r");
    t.expect("/dev/pts/");
    t.expect("30 100\r\n");
    t.send("exit 4\r");
    assert_eq!(t.wait(EXIT).code(), Some(4), "{}", t.output());
    assert!(t.is_cooked());
    // exec through `runc exec`.
    d.ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "rx",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = d.berth(&["exec", "rx", "sh", "-c", "echo in; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in\n");
    let (code, out, _) = run_stdin(&d, &["exec", "-t", "rx", "tty"], b"");
    assert_eq!(code, 0);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    d.ok(&["rm", "-f", "rx"]);
    d.assert_no_containers_left();
}

#[test]
fn bad_detach_keys_and_stdio_in_inspect() {
    let d = Daemon::with_busybox();
    let (code, err) = d.fail(&["run", "--rm", "--detach-keys", "ctrl-1", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Invalid detach keys (ctrl-1) provided"),
        "{err}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "--rm left the container");
    // A container created with -i -t shows it in inspect.
    d.ok(&["create", "-it", "--name", "cc", "busybox"]);
    let c = d.inspect("cc")["Config"].clone();
    for k in [
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "AttachStdin",
        "AttachStdout",
    ] {
        assert_eq!(c[k], true, "{k}");
    }
    d.ok(&["rm", "cc"]);
    d.assert_no_containers_left();
}
