//! The `berth` binary against a fake berthd on a unix socket: what a user
//! sees on stdout, stderr and in the exit code, and what reaches the daemon
//! (namespace header, archive bytes in 1 MiB chunks, atomic save).

mod common;

use std::pin::Pin;
use std::process::Output;
use std::sync::{Arc, Mutex};

use berth_proto::v1::images_server::{Images, ImagesServer};
use berth_proto::v1::system_server::{System, SystemServer};
use berth_proto::v1::*;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

const ID: &str = "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";

#[derive(Default)]
struct Seen {
    namespaces: Vec<String>,
    load_chunks: Vec<usize>,
    import_header: Option<ImportHeader>,
    import_bytes: usize,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    fn note<T>(&self, req: &Request<T>) {
        let ns = req
            .metadata()
            .get(berth_proto::NAMESPACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_owned();
        self.seen.lock().unwrap().namespaces.push(ns);
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<DataChunk, Status>> + Send>>;
type ProgressStream = Pin<Box<dyn Stream<Item = Result<TransferProgress, Status>> + Send>>;

fn no_such(reference: &str) -> Status {
    Status::not_found(format!("No such image: {reference}"))
}

#[tonic::async_trait]
impl Images for Fake {
    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        self.note(&req);
        Ok(Response::new(ListImagesResponse {
            images: vec![ImageSummary {
                id: ID.into(),
                repository: "busybox".into(),
                tag: "latest".into(),
                created: "2020-01-01T00:00:00Z".into(),
                size: 4_261_274,
                ..Default::default()
            }],
        }))
    }

    async fn get(&self, req: Request<GetImageRequest>) -> Result<Response<ImageDetail>, Status> {
        self.note(&req);
        let reference = req.into_inner().reference;
        if reference != "busybox" {
            return Err(no_such(&reference));
        }
        let config = serde_json::json!({
            "created": "2020-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:d1"]},
            "history": [
                {"created": "2020-01-01T00:00:00Z", "created_by": "ADD file:x in / "},
                {"created": "2020-01-01T00:00:00Z", "created_by": "CMD [\"sh\"]", "empty_layer": true}
            ]
        });
        Ok(Response::new(ImageDetail {
            id: ID.into(),
            repo_tags: vec!["busybox:latest".into()],
            config_json: serde_json::to_vec(&config).unwrap(),
            layers: vec![Layer {
                diff_id: "sha256:d1".into(),
                unpacked_size: 4_261_274,
                ..Default::default()
            }],
            size: 4_261_274,
            ..Default::default()
        }))
    }

    async fn tag(&self, req: Request<TagImageRequest>) -> Result<Response<Image>, Status> {
        self.note(&req);
        Ok(Response::new(Image::default()))
    }

    async fn remove(
        &self,
        req: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        self.note(&req);
        let reference = req.into_inner().reference;
        if reference != "busybox" {
            return Err(no_such(&reference));
        }
        Ok(Response::new(RemoveImageResponse {
            untagged: vec!["busybox:latest".into()],
            deleted: vec![ID.into()],
        }))
    }

    async fn load(
        &self,
        req: Request<Streaming<DataChunk>>,
    ) -> Result<Response<LoadImagesResponse>, Status> {
        self.note(&req);
        let mut stream = req.into_inner();
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            total += chunk.data.len();
            self.seen.lock().unwrap().load_chunks.push(chunk.data.len());
        }
        if total < 100 {
            return Err(Status::invalid_argument("archive is truncated"));
        }
        Ok(Response::new(LoadImagesResponse {
            loaded_names: vec!["busybox:latest".into()],
            loaded_ids: vec![ID.into()],
        }))
    }

    type SaveStream = ChunkStream;

    async fn save(&self, req: Request<SaveImagesRequest>) -> Result<Response<ChunkStream>, Status> {
        self.note(&req);
        let refs = req.into_inner().references;
        let mut items: Vec<Result<DataChunk, Status>> = vec![
            Ok(DataChunk {
                data: b"part one;".to_vec(),
            }),
            Ok(DataChunk {
                data: b"part two".to_vec(),
            }),
        ];
        if refs.iter().any(|r| r == "fails-midway") {
            items.push(Err(Status::internal("disk on fire")));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn import(
        &self,
        req: Request<Streaming<ImportRequest>>,
    ) -> Result<Response<ImportImageResponse>, Status> {
        self.note(&req);
        let mut stream = req.into_inner();
        while let Some(msg) = stream.next().await {
            match msg?.payload {
                Some(import_request::Payload::Header(h)) => {
                    self.seen.lock().unwrap().import_header = Some(h)
                }
                Some(import_request::Payload::Data(d)) => {
                    let mut seen = self.seen.lock().unwrap();
                    if seen.import_header.is_none() {
                        return Err(Status::invalid_argument("data before header"));
                    }
                    seen.import_bytes += d.len();
                }
                None => {}
            }
        }
        Ok(Response::new(ImportImageResponse {
            id: ID.into(),
            name: String::new(),
        }))
    }

    // The registry verbs have their own fake (distribution.rs).
    type PullStream = ProgressStream;

    async fn pull(
        &self,
        _req: Request<PullImageRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    type PushStream = ProgressStream;

    async fn push(
        &self,
        _req: Request<PushImageRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn login(&self, _req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn search(
        &self,
        _req: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}

#[tonic::async_trait]
impl System for Fake {
    async fn version(
        &self,
        req: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        self.note(&req);
        Ok(Response::new(VersionResponse {
            version: "9.9.9".into(),
            api_version: "v1".into(),
            revision: String::new(),
        }))
    }

    async fn info(&self, _req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }

    async fn prune(&self, _req: Request<PruneRequest>) -> Result<Response<PruneResponse>, Status> {
        Err(Status::unimplemented("not in this fake"))
    }
}

struct Daemon {
    dir: tempfile::TempDir,
    host: String,
    fake: Fake,
}

async fn start() -> Daemon {
    let (socket, incoming) = common::bind();
    let fake = Fake::default();
    let server = tonic::transport::Server::builder()
        .add_service(ImagesServer::new(fake.clone()))
        .add_service(SystemServer::new(fake.clone()))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    Daemon {
        host: socket.host,
        dir: socket.dir,
        fake,
    }
}

async fn berth(daemon: &Daemon, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    common::berth(&daemon.host, args, stdin).await
}

use common::text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_table_and_namespace_header() {
    let d = start().await;
    let out = berth(&d, &["images", "-n", "k8s.io"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE"
    );
    assert!(
        lines[1].starts_with("busybox      latest    a416a98b71e2   "),
        "{stdout}"
    );
    assert!(lines[1].ends_with(" years ago   4.26MB"), "{stdout}");
    assert_eq!(d.fake.seen.lock().unwrap().namespaces, vec!["k8s.io"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_streams_in_mib_chunks() {
    let d = start().await;
    let archive = d.dir.path().join("a.tar");
    std::fs::write(&archive, vec![0u8; (1 << 20) * 2 + 5]).unwrap();
    let out = berth(&d, &["load", "-i", archive.to_str().unwrap()], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Loaded image: busybox:latest\nLoaded image ID: {ID}\n")
    );
    let seen = d.fake.seen.lock().unwrap();
    assert_eq!(seen.load_chunks, vec![1 << 20, 1 << 20, 5]);
    assert_eq!(seen.namespaces, vec!["default"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_from_stdin_and_daemon_errors() {
    let d = start().await;
    let out = berth(&d, &["image", "load"], Some(vec![1u8; 500])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Loaded image: busybox:latest\n"));

    let out = berth(&d, &["load"], Some(b"tiny".to_vec())).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: archive is truncated\n");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_is_atomic() {
    let d = start().await;
    let dest = d.dir.path().join("out.tar");
    let out = berth(&d, &["save", "-o", dest.to_str().unwrap(), "busybox"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), b"part one;part two");

    let failed = d.dir.path().join("failed.tar");
    let out = berth(
        &d,
        &[
            "save",
            "-o",
            failed.to_str().unwrap(),
            "busybox",
            "fails-midway",
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: disk on fire\n");
    assert!(!failed.exists());
    let leftovers: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sends_the_header_first() {
    let d = start().await;
    let out = berth(
        &d,
        &["import", "-c", "CMD [\"sh\"]", "-m", "hello", "-", "app:v1"],
        Some(vec![9u8; 3000]),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID}\n"));
    let seen = d.fake.seen.lock().unwrap();
    let header = seen.import_header.clone().unwrap();
    assert_eq!(header.reference, "app:v1");
    assert_eq!(header.changes, vec!["CMD [\"sh\"]"]);
    assert_eq!(header.message, "hello");
    assert_eq!(seen.import_bytes, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmi_reports_each_failure_and_goes_on() {
    let d = start().await;
    let out = berth(&d, &["rmi", "nope", "busybox"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: No such image: nope\n");
    assert_eq!(
        text(&out.stdout),
        format!("Untagged: busybox:latest\nDeleted: {ID}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_and_history() {
    let d = start().await;
    let out = berth(&d, &["inspect", "busybox"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["Id"], ID);
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");

    let out = berth(&d, &["image", "inspect", "missing"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(text(&out.stderr), "Error: No such image: missing\n");

    // Plain `inspect` tries a container first; this fake has no Containers
    // service, so it falls through to the image.
    let out = berth(&d, &["inspect", "-f", "{{.Id}} {{.Os}}", "busybox"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID} linux\n"));
    let out = berth(&d, &["inspect", "missing"], None).await;
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error: No such object: missing\n");

    let out = berth(&d, &["history", "busybox", "-H=false"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{stdout}");
    assert!(
        lines[1].starts_with("a416a98b71e2   2020-01-01T00:00:00Z   CMD [\"sh\"]"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("<missing>      2020-01-01T00:00:00Z   ADD file:x in /"),
        "{stdout}"
    );
    assert!(lines[2].contains("   4261274"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_unimplemented_calls() {
    let d = start().await;
    let out = berth(&d, &["version"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Server:\n Version:          9.9.9\n"),
        "{stdout}"
    );

    // A service the fake lacks: tonic's status, printed as one line.
    let out = berth(&d, &["ns", "ls"], None).await;
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("Error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
