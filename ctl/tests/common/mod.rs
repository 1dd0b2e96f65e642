//! What the fake-daemon tests share: running the `berth` binary against a
//! fake berthd served on a unix socket in a temporary directory.

#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

/// A socket in a fresh directory and the `-H` value that names it.
pub struct Socket {
    pub dir: tempfile::TempDir,
    pub host: String,
}

/// Binds a socket; the caller serves `incoming` with its fake services.
pub fn bind() -> (Socket, UnixListenerStream) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("berth.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    (
        Socket {
            host: format!("unix://{}", sock.display()),
            dir,
        },
        UnixListenerStream::new(listener),
    )
}

/// The binary, pointed at `host`, with no namespace from the environment.
pub fn command(host: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .env("BERTH_HOST", host)
        .env_remove("BERTH_NAMESPACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the binary off the runtime (the fake daemon lives on it).
pub async fn berth(host: &str, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    run(command(host, args), stdin).await
}

/// Runs a prepared command off the runtime, feeding it `stdin`.
pub async fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().unwrap();
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
