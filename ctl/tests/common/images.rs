//! The fake Images service: a busybox image that lists, inspects, saves,
//! loads and imports, and a registry to pull from, push to, log in to and
//! search, streaming docker's progress lines. Pulling `alpine` makes it an
//! image Containers' create accepts.

use std::pin::Pin;

use berth_proto::v1::images_server::Images;
use berth_proto::v1::*;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::fake::Fake;

pub const IMAGE_ID: &str =
    "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";
/// The layer of a pull's and a push's progress lines.
pub const LAYER: &str = "a3ed95caeb02";
/// The digest a pull and a push report.
pub const DIGEST: &str = "sha256:4be429a5fbb2e71ae7958bfa558bc637cf3a61baf40a708cb8fff532b39e52d0";

type ChunkStream = Pin<Box<dyn Stream<Item = Result<DataChunk, Status>> + Send>>;
type ProgressStream = Pin<Box<dyn Stream<Item = Result<TransferProgress, Status>> + Send>>;

fn no_such(reference: &str) -> Status {
    Status::not_found(format!("No such image: {reference}"))
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
    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        self.note(&req, "image list".into());
        Ok(Response::new(ListImagesResponse {
            images: vec![ImageSummary {
                id: IMAGE_ID.into(),
                repository: "busybox".into(),
                tag: "latest".into(),
                created: "2020-01-01T00:00:00Z".into(),
                size: 4_261_274,
                ..Default::default()
            }],
        }))
    }

    async fn get(&self, req: Request<GetImageRequest>) -> Result<Response<ImageDetail>, Status> {
        self.note(&req, format!("image get {}", req.get_ref().reference));
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
            id: IMAGE_ID.into(),
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
        self.note(&req, "image tag".into());
        Ok(Response::new(Image::default()))
    }

    async fn remove(
        &self,
        req: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        self.note(&req, format!("image remove {}", req.get_ref().reference));
        let reference = req.into_inner().reference;
        if reference != "busybox" {
            return Err(no_such(&reference));
        }
        Ok(Response::new(RemoveImageResponse {
            untagged: vec!["busybox:latest".into()],
            deleted: vec![IMAGE_ID.into()],
        }))
    }

    async fn load(
        &self,
        req: Request<Streaming<DataChunk>>,
    ) -> Result<Response<LoadImagesResponse>, Status> {
        self.note(&req, "image load".into());
        let mut stream = req.into_inner();
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            total += chunk.data.len();
            self.state
                .lock()
                .unwrap()
                .load_chunks
                .push(chunk.data.len());
        }
        if total < 100 {
            return Err(Status::invalid_argument("archive is truncated"));
        }
        Ok(Response::new(LoadImagesResponse {
            loaded_names: vec!["busybox:latest".into()],
            loaded_ids: vec![IMAGE_ID.into()],
        }))
    }

    type SaveStream = ChunkStream;

    async fn save(&self, req: Request<SaveImagesRequest>) -> Result<Response<ChunkStream>, Status> {
        self.note(&req, "image save".into());
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
        self.note(&req, "image import".into());
        let mut stream = req.into_inner();
        while let Some(msg) = stream.next().await {
            match msg?.payload {
                Some(import_request::Payload::Header(h)) => {
                    self.state.lock().unwrap().import_header = Some(h)
                }
                Some(import_request::Payload::Data(d)) => {
                    let mut state = self.state.lock().unwrap();
                    if state.import_header.is_none() {
                        return Err(Status::invalid_argument("data before header"));
                    }
                    state.import_bytes += d.len();
                }
                None => {}
            }
        }
        Ok(Response::new(ImportImageResponse {
            id: IMAGE_ID.into(),
            name: String::new(),
        }))
    }

    type PullStream = ProgressStream;

    async fn pull(
        &self,
        req: Request<PullImageRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        self.note(&req, format!("image pull {}", req.get_ref().reference));
        let req = req.into_inner();
        self.state.lock().unwrap().pulls.push(req.clone());
        match req.reference.as_str() {
            "busybox" | "busybox:latest" => Ok(stream(pull_events(
                "library/busybox",
                "docker.io/library/busybox:latest",
            ))),
            "alpine" => {
                self.state.lock().unwrap().images.push("alpine".into());
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
        self.note(&req, format!("image push {}", req.get_ref().reference));
        let req = req.into_inner();
        self.state.lock().unwrap().pushes.push(req.clone());
        if req.reference != "127.0.0.1:5000/busybox" {
            return Err(no_such(&req.reference));
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
        self.note(&req, format!("image login {}", req.get_ref().server));
        let req = req.into_inner();
        self.state.lock().unwrap().logins.push(req.clone());
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
        self.note(&req, format!("image search {}", req.get_ref().term));
        let req = req.into_inner();
        self.state.lock().unwrap().searches.push(req.clone());
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
}
