//! The registry verbs of the `berth` binary (pull, push, login, logout,
//! search, and the pull `run`/`create` make) against a fake Images service:
//! what a user sees without a terminal, the exit codes, the credentials
//! file, and the credentials that reach the daemon.

mod common;
mod fake_containers;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use berth_proto::v1::containers_server::ContainersServer;
use berth_proto::v1::images_server::{Images, ImagesServer};
use berth_proto::v1::*;
use common::text;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

type ChunkStream = Pin<Box<dyn Stream<Item = Result<DataChunk, Status>> + Send>>;
type ProgressStream = Pin<Box<dyn Stream<Item = Result<TransferProgress, Status>> + Send>>;

const LAYER: &str = "a3ed95caeb02";
const DIGEST: &str = "sha256:4be429a5fbb2e71ae7958bfa558bc637cf3a61baf40a708cb8fff532b39e52d0";

#[derive(Default)]
struct Seen {
    pulls: Vec<PullImageRequest>,
    pushes: Vec<PushImageRequest>,
    logins: Vec<LoginRequest>,
    searches: Vec<SearchRequest>,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
    containers: fake_containers::Fake,
}

fn event(id: &str, status: &str) -> TransferProgress {
    TransferProgress {
        id: id.into(),
        status: status.into(),
        ..Default::default()
    }
}

fn counts(status: &str, current: u64) -> TransferProgress {
    TransferProgress {
        current,
        total: 2_000_000,
        ..event(LAYER, status)
    }
}

/// What berthd streams for a pull of `repo` (docker's sequence).
fn pull_events(repo: &str, full: &str) -> Vec<Result<TransferProgress, Status>> {
    vec![
        Ok(event("latest", &format!("Pulling from {repo}"))),
        Ok(event(LAYER, "Pulling fs layer")),
        Ok(counts("Downloading", 0)),
        Ok(counts("Downloading", 1_000_000)),
        Ok(event(LAYER, "Verifying Checksum")),
        Ok(event(LAYER, "Download complete")),
        Ok(counts("Extracting", 2_000_000)),
        Ok(event(LAYER, "Pull complete")),
        Ok(event("", &format!("Digest: {DIGEST}"))),
        Ok(event(
            "",
            &format!("Status: Downloaded newer image for {repo}:latest"),
        )),
        Ok(TransferProgress {
            result: Some(transfer_progress::Result::Pull(PullResult {
                reference: full.into(),
                digest: DIGEST.into(),
                image_id: DIGEST.into(),
                up_to_date: false,
            })),
            ..event("", "")
        }),
    ]
}

fn stream(items: Vec<Result<TransferProgress, Status>>) -> Response<ProgressStream> {
    Response::new(Box::pin(tokio_stream::iter(items)))
}

fn is_alice(auth: Option<&RegistryAuth>) -> bool {
    auth.is_some_and(|a| a.username == "alice" && a.password == "pw")
}

#[tonic::async_trait]
impl Images for Fake {
    type PullStream = ProgressStream;

    async fn pull(
        &self,
        req: Request<PullImageRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let req = req.into_inner();
        self.seen.lock().unwrap().pulls.push(req.clone());
        match req.reference.as_str() {
            "busybox" | "busybox:latest" => Ok(stream(pull_events(
                "library/busybox",
                "docker.io/library/busybox:latest",
            ))),
            "alpine" => {
                self.containers
                    .state
                    .lock()
                    .unwrap()
                    .images
                    .push("alpine".into());
                Ok(stream(pull_events(
                    "library/alpine",
                    "docker.io/library/alpine:latest",
                )))
            }
            "127.0.0.1:5000/private" if is_alice(req.auth.as_ref()) => Ok(stream(pull_events(
                "private",
                "127.0.0.1:5000/private:latest",
            ))),
            "127.0.0.1:5000/private" => Err(Status::unauthenticated(
                "pull access denied for 127.0.0.1:5000/private: authentication required",
            )),
            "127.0.0.1:5999/down" => Err(Status::unavailable(
                "cannot reach registry 127.0.0.1:5999: connection refused",
            )),
            "corrupt" => {
                let mut events = pull_events("library/corrupt", "");
                events.truncate(4);
                events.push(Err(Status::data_loss(format!(
                    "blob {DIGEST}: the bytes do not match the digest"
                ))));
                Ok(stream(events))
            }
            "noresult" => Ok(stream(vec![Ok(event("", "Digest: x"))])),
            other => Err(Status::not_found(format!(
                "pull access denied for {other}, repository does not exist"
            ))),
        }
    }

    type PushStream = ProgressStream;

    async fn push(
        &self,
        req: Request<PushImageRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let req = req.into_inner();
        self.seen.lock().unwrap().pushes.push(req.clone());
        if req.reference != "127.0.0.1:5000/busybox" {
            return Err(Status::not_found(format!(
                "No such image: {}",
                req.reference
            )));
        }
        Ok(stream(vec![
            Ok(event(
                "",
                "The push refers to repository [127.0.0.1:5000/busybox]",
            )),
            Ok(event(LAYER, "Preparing")),
            Ok(TransferProgress {
                current: 100,
                total: 200,
                ..event(LAYER, "Pushing")
            }),
            Ok(event(LAYER, "Pushed")),
            Ok(TransferProgress {
                result: Some(transfer_progress::Result::Push(PushResult {
                    tag: "latest".into(),
                    digest: DIGEST.into(),
                    size: 527,
                })),
                ..event("", &format!("latest: digest: {DIGEST} size: 527"))
            }),
        ]))
    }

    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let req = req.into_inner();
        self.seen.lock().unwrap().logins.push(req.clone());
        if req.username != "alice" || req.password != "pw" {
            return Err(Status::unauthenticated(
                "unauthorized: incorrect username or password",
            ));
        }
        Ok(Response::new(LoginResponse {
            status: "Login Succeeded".into(),
            server: req.server,
            identity_token: String::new(),
        }))
    }

    async fn search(
        &self,
        req: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let req = req.into_inner();
        self.seen.lock().unwrap().searches.push(req.clone());
        if req.term.starts_with("127.0.0.1:5999/") {
            return Err(Status::failed_precondition(
                "registry 127.0.0.1:5999 offers neither search nor catalog",
            ));
        }
        Ok(Response::new(SearchResponse {
            results: vec![
                SearchResult {
                    name: "busybox".into(),
                    description: "Busybox base image.".into(),
                    star_count: 3300,
                    is_official: true,
                    is_automated: false,
                },
                SearchResult {
                    name: "radial/busyboxplus".into(),
                    description: "Full-chain, Internet enabled, busybox made from scratch.".into(),
                    star_count: 54,
                    is_official: false,
                    is_automated: false,
                },
            ],
        }))
    }

    async fn list(
        &self,
        _req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn get(&self, _req: Request<GetImageRequest>) -> Result<Response<ImageDetail>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn tag(&self, _req: Request<TagImageRequest>) -> Result<Response<Image>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn remove(
        &self,
        _req: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn load(
        &self,
        _req: Request<Streaming<DataChunk>>,
    ) -> Result<Response<LoadImagesResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    type SaveStream = ChunkStream;

    async fn save(
        &self,
        _req: Request<SaveImagesRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn import(
        &self,
        _req: Request<Streaming<ImportRequest>>,
    ) -> Result<Response<ImportImageResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}

struct Daemon {
    socket: common::Socket,
    fake: Fake,
}

async fn start() -> Daemon {
    let (socket, incoming) = common::bind();
    let fake = Fake::default();
    let server = tonic::transport::Server::builder()
        .add_service(ImagesServer::new(fake.clone()))
        .add_service(ContainersServer::new(fake.containers.clone()))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    Daemon { socket, fake }
}

impl Daemon {
    /// The credentials directory of these tests (BERTH_CONFIG).
    fn config_dir(&self) -> std::path::PathBuf {
        self.socket.dir.path().join("berth-config")
    }

    /// Runs the binary with BERTH_CONFIG pointing into the test's
    /// directory; (exit code, stdout, stderr).
    async fn berth(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut cmd = common::command(&self.socket.host, args);
        cmd.env("BERTH_CONFIG", self.config_dir());
        let out = common::run(cmd, stdin.map(|s| s.as_bytes().to_vec())).await;
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    fn pulls(&self) -> Vec<PullImageRequest> {
        self.fake.seen.lock().unwrap().pulls.clone()
    }
}

fn pull_lines(repo: &str) -> String {
    format!(
        "latest: Pulling from {repo}\n\
         {LAYER}: Pulling fs layer\n\
         {LAYER}: Verifying Checksum\n\
         {LAYER}: Download complete\n\
         {LAYER}: Pull complete\n\
         Digest: {DIGEST}\n\
         Status: Downloaded newer image for {repo}:latest\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_prints_docker_s_lines_then_the_reference() {
    let d = start().await;
    let (code, out, err) = d.berth(&["pull", "busybox"], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "Using default tag: latest\n{}docker.io/library/busybox:latest\n",
            pull_lines("library/busybox")
        )
    );
    assert_eq!(err, "");

    let (code, out, err) = d
        .berth(
            &[
                "image",
                "pull",
                "-q",
                "--platform",
                "linux/arm64",
                "busybox:latest",
            ],
            None,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "docker.io/library/busybox:latest\n");
    let pulls = d.pulls();
    assert_eq!(pulls[1].reference, "busybox:latest");
    assert_eq!(pulls[1].platform, "linux/arm64");
    assert!(!pulls[1].all_platforms);
    // No credentials: an anonymous pull.
    assert_eq!(pulls[1].auth, Some(RegistryAuth::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_failures_are_the_daemon_s_with_exit_1() {
    let d = start().await;
    let (code, out, err) = d.berth(&["pull", "corrupt:1"], None).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "Error response from daemon: pull access denied for corrupt:1, repository does not exist\n"
        )
    );
    assert_eq!(out, "");

    let (code, out, err) = d.berth(&["pull", "corrupt"], None).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        format!("Using default tag: latest\nlatest: Pulling from library/corrupt\n{LAYER}: Pulling fs layer\n")
    );
    assert_eq!(
        err,
        format!("Error response from daemon: blob {DIGEST}: the bytes do not match the digest\n")
    );

    let (code, _, err) = d.berth(&["pull", "-q", "127.0.0.1:5999/down"], None).await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error response from daemon: cannot reach registry 127.0.0.1:5999: connection refused\n"
    );

    let (code, _, err) = d.berth(&["pull", "-q", "noresult"], None).await;
    assert_eq!(code, 1);
    assert!(err.contains("without its result"), "{err}");

    let (code, out, err) = d.berth(&["pull", "-a", "busybox"], None).await;
    assert_eq!((code, out.as_str()), (125, ""));
    assert!(
        err.starts_with("Error: pulling every tag") && err.contains("not supported"),
        "{err}"
    );
    assert_eq!(d.pulls().len(), 4);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_what_the_registry_accepted_and_pulls_send_it() {
    let d = start().await;
    let file = d.config_dir().join("config.json");

    // Refused: docker's message, exit 1, nothing stored.
    let (code, out, err) = d
        .berth(
            &["login", "-u", "alice", "--password-stdin", "127.0.0.1:5000"],
            Some("wrong\n"),
        )
        .await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Error response from daemon: unauthorized: incorrect username or password\n"
    );
    assert!(!file.exists());

    let (code, out, err) = d
        .berth(
            &[
                "login",
                "-u",
                "alice",
                "--password-stdin",
                "http://127.0.0.1:5000/v2/",
            ],
            Some("pw\n"),
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Login Succeeded\n");
    assert!(err.contains("stored unencrypted"), "{err}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&d.config_dir()), 0o700);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // base64("alice:pw"), under host:port.
    assert_eq!(doc["auths"]["127.0.0.1:5000"]["auth"], "YWxpY2U6cHc=");
    let logins = d.fake.seen.lock().unwrap().logins.clone();
    assert_eq!(logins[1].server, "http://127.0.0.1:5000/v2/");
    assert_eq!(logins[1].password, "pw");

    // The registry's credentials go with its pulls, and only with them.
    let (code, out, err) = d.berth(&["pull", "127.0.0.1:5000/private"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("\n127.0.0.1:5000/private:latest\n"), "{out}");
    let (code, _, _) = d.berth(&["pull", "-q", "busybox"], None).await;
    assert_eq!(code, 0);
    let pulls = d.pulls();
    let auth = pulls[0].auth.clone().unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("alice", "pw")
    );
    assert_eq!(pulls[1].auth, Some(RegistryAuth::default()));

    let (code, out, _) = d.berth(&["logout", "127.0.0.1:5000"], None).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Removing login credentials for 127.0.0.1:5000\n");
    let (code, out, _) = d.berth(&["logout", "127.0.0.1:5000"], None).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Not logged in to 127.0.0.1:5000\n");
    let (code, out, _) = d.berth(&["logout"], None).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Not logged in to https://index.docker.io/v1/\n");

    let (code, _, err) = d
        .berth(&["pull", "-q", "127.0.0.1:5000/private"], None)
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("authentication required"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flag_rules() {
    let d = start().await;
    let (code, out, err) = d
        .berth(
            &["login", "-u", "alice", "-p", "pw", "127.0.0.1:5000"],
            None,
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Login Succeeded\n");
    assert!(
        err.starts_with(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        ),
        "{err}"
    );

    for (args, want) in [
        (
            &["login", "--password-stdin", "127.0.0.1:5000"][..],
            "Error: Must provide --username with --password-stdin\n",
        ),
        (
            &["login", "-u", "a", "-p", "b", "--password-stdin"],
            "Error: --password and --password-stdin are mutually exclusive\n",
        ),
    ] {
        let (code, out, err) = d.berth(args, Some("pw\n")).await;
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (125, "", want),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_prints_docker_s_lines() {
    let d = start().await;
    let (code, out, err) = d.berth(&["push", "127.0.0.1:5000/busybox"], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "The push refers to repository [127.0.0.1:5000/busybox]\n\
             {LAYER}: Preparing\n\
             {LAYER}: Pushed\n\
             latest: digest: {DIGEST} size: 527\n"
        )
    );
    let (code, out, _) = d
        .berth(&["image", "push", "-q", "127.0.0.1:5000/busybox"], None)
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, "127.0.0.1:5000/busybox:latest\n");
    let (code, _, err) = d.berth(&["push", "nothere"], None).await;
    assert_eq!(code, 1);
    assert_eq!(err, "Error response from daemon: No such image: nothere\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_table_filters_and_limit() {
    let d = start().await;
    let (code, out, err) = d.berth(&["search", "busybox"], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "NAME                 DESCRIPTION                                     STARS     OFFICIAL\n\
         busybox              Busybox base image.                             3300      [OK]\n\
         radial/busyboxplus   Full-chain, Internet enabled, busybox made f…   54        \n"
    );
    let (code, out, _) = d
        .berth(
            &[
                "search",
                "--limit",
                "10",
                "-f",
                "is-official=false",
                "--format",
                "{{.Name}}",
                "127.0.0.1:5000/busy",
            ],
            None,
        )
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, "radial/busyboxplus\n");
    let searches = d.fake.seen.lock().unwrap().searches.clone();
    assert_eq!(searches[1].term, "127.0.0.1:5000/busy");
    assert_eq!(searches[1].limit, 10);

    let (code, _, err) = d.berth(&["search", "--limit", "101", "x"], None).await;
    assert_eq!(code, 125);
    assert_eq!(err, "Error: limit 101 is outside the range of [1, 100]\n");
    let (code, _, err) = d.berth(&["search", "127.0.0.1:5999/x"], None).await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error response from daemon: registry 127.0.0.1:5999 offers neither search nor catalog\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pulls_a_missing_image_first() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&["run", "--rm", "alpine", "out:hi", "exit:0"], None)
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\n");
    assert!(
        err.starts_with(&format!(
            "Unable to find image 'alpine:latest' locally\n{}",
            pull_lines("library/alpine")
        )),
        "{err}"
    );
    // The pull's progress went to stderr, without the final reference.
    assert!(!err.contains("docker.io/library/alpine:latest"), "{err}");
    assert_eq!(d.pulls().len(), 1);
    // Create, refused for the missing image, then again after the pull.
    let creates = d.fake.containers.calls();
    assert_eq!(
        creates.iter().filter(|c| *c == "create").count(),
        2,
        "{creates:?}"
    );

    // Present now: no pull. --pull never: no pull either.
    let (code, _, err) = d.berth(&["create", "alpine"], None).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = d
        .berth(&["create", "--pull", "never", "nosuch"], None)
        .await;
    assert_eq!(code, 125);
    assert!(err.starts_with("Error: No such image: nosuch\n"), "{err}");
    assert_eq!(d.pulls().len(), 1);

    // --pull always pulls even a present image.
    let (code, out, err) = d
        .berth(&["create", "--pull", "always", "busybox"], None)
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{}\n", fake_containers::ID));
    assert!(
        err.starts_with("latest: Pulling from library/busybox\n"),
        "{err}"
    );
    assert_eq!(d.pulls().len(), 2);

    // A refused pull: docker's lines, and run's own exit code.
    let (code, out, err) = d.berth(&["run", "nosuch:2"], None).await;
    assert_eq!((code, out.as_str()), (125, ""));
    assert_eq!(
        err,
        "Unable to find image 'nosuch:2' locally\n\
         Error response from daemon: pull access denied for nosuch:2, repository does not exist\n"
    );
}
