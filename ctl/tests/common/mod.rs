//! The fake berthd every CLI test file runs the `berth` binary against: one
//! fake of each service (containers.rs, images.rs, networks.rs, system.rs,
//! all on the one [`Fake`] and its [`fake::State`]), served on a unix socket in a
//! temporary directory; a test file picks which services its daemon has.

#![allow(dead_code)]

pub mod containers;
pub mod fake;
pub mod images;
pub mod networks;
mod system;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_proto::v1::containers_server::ContainersServer;
use berth_proto::v1::images_server::ImagesServer;
use berth_proto::v1::networks_server::NetworksServer;
use berth_proto::v1::system_server::SystemServer;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use fake::Fake;

/// A service the fake daemon can serve. One it does not serve answers
/// Unimplemented, as a berthd without it would.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    Containers,
    Images,
    Networks,
    System,
}

/// A running fake daemon; dropping it stops the server (and removes the
/// directory with the socket).
pub struct Daemon {
    dir: tempfile::TempDir,
    host: String,
    pub fake: Fake,
    server: tokio::task::JoinHandle<()>,
}

/// Serves `services` of a fresh [`Fake`] on a socket in a new directory.
pub async fn start(services: &[Service]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("berth.sock");
    let incoming = UnixListenerStream::new(UnixListener::bind(&sock).unwrap());
    let fake = Fake::default();
    let serves = |service| services.contains(&service).then(|| fake.clone());
    let server = tonic::transport::Server::builder()
        .add_optional_service(serves(Service::Containers).map(ContainersServer::new))
        .add_optional_service(serves(Service::Images).map(ImagesServer::new))
        .add_optional_service(serves(Service::Networks).map(NetworksServer::new))
        .add_optional_service(serves(Service::System).map(SystemServer::new))
        .serve_with_incoming(incoming);
    let server = tokio::spawn(async move {
        server.await.unwrap();
    });
    Daemon {
        host: format!("unix://{}", sock.display()),
        dir,
        fake,
        server,
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Daemon {
    /// The test's own directory (the socket is in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The credentials directory of the binary (BERTH_CONFIG), inside
    /// [`Daemon::dir`], so no test reads or writes the user's.
    pub fn config_dir(&self) -> PathBuf {
        self.dir().join("berth-config")
    }

    /// The binary, pointed at this daemon, with no namespace from the
    /// environment and piped stdout and stderr.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env("BERTH_HOST", &self.host)
            .env("BERTH_CONFIG", self.config_dir())
            .env_remove("BERTH_NAMESPACE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the binary off the runtime (the fake daemon lives on it),
    /// feeding it `stdin`.
    pub async fn output(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
        let mut cmd = self.command(args);
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

    /// Runs the binary with no stdin: (exit code, stdout, stderr).
    pub async fn berth(&self, args: &[&str]) -> (i32, String, String) {
        split(self.output(args, None).await)
    }

    /// Runs the binary with `stdin`: (exit code, stdout, stderr).
    pub async fn berth_stdin(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        split(self.output(args, Some(stdin.as_bytes().to_vec())).await)
    }
}

fn split(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
