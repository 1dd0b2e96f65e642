//! Images service: translation between the proto messages and the engine.

use super::status::OrStatus;
use std::io;
use std::pin::Pin;

use berth_proto::v1::{
    images_server, import_request, transfer_progress, DataChunk, Descriptor as PDescriptor,
    GetImageRequest, Image as PImage, ImageDetail, ImageSummary, ImportImageResponse,
    ImportRequest, Layer, ListImagesRequest, ListImagesResponse, LoadImagesResponse, LoginRequest,
    LoginResponse, PullImageRequest, PullResult, PushImageRequest, PushResult, RemoveImageRequest,
    RemoveImageResponse, SaveImagesRequest, SearchRequest, SearchResponse, SearchResult,
    TagImageRequest, TransferProgress,
};
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use super::stream::{ChannelReader, ChannelWriter};
use super::{blocking, namespace};
use berth_engine::distribution;
use berth_engine::distribution::progress::Progress;
use berth_engine::distribution::pull::{self, PullRequest};
use berth_engine::distribution::{login, push};
use berth_engine::engine::Engine;
use berth_engine::error::ManagerError;
use berth_engine::image::import::ImportOptions;
use berth_engine::image::manifest::PlatformSpec;
use berth_engine::image::{familiar_name, import, load, save};
use berth_engine::reference::Reference;
use berth_engine::store::{Descriptor, ImageRecord};

pub struct Images {
    engine: Engine,
}

impl Images {
    pub fn new(engine: Engine) -> Self {
        Images { engine }
    }
}

fn desc(d: &Descriptor) -> PDescriptor {
    PDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size as i64,
        annotations: d.annotations.clone().into_iter().collect(),
    }
}

fn image(r: &ImageRecord) -> PImage {
    PImage {
        name: r.name.clone(),
        target: Some(desc(&r.target)),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
        labels: r.labels.clone().into_iter().collect(),
    }
}

fn repo_digest(r: &ImageRecord) -> Option<String> {
    if r.is_dangling() {
        return None;
    }
    Reference::parse(&r.name)
        .ok()
        .map(|n| format!("{}@{}", n.familiar_repository(), r.target.digest))
}

fn summary(r: &ImageRecord) -> ImageSummary {
    let (repository, tag) = match Reference::parse(&r.name) {
        Ok(n) if !r.is_dangling() => (
            n.familiar_repository(),
            n.tag().unwrap_or("<none>").to_string(),
        ),
        _ => ("<none>".to_string(), "<none>".to_string()),
    };
    ImageSummary {
        image: Some(image(r)),
        id: r.id().to_string(),
        repository,
        tag,
        created: r.created.clone().unwrap_or_default(),
        size: r.size() as i64,
        repo_digests: repo_digest(r).into_iter().collect(),
    }
}

/// Forwards a client stream of chunks into a blocking reader.
fn pump<T, F>(mut stream: Streaming<T>, data: F) -> ChannelReader
where
    T: Send + 'static,
    F: Fn(T) -> Option<Vec<u8>> + Send + 'static,
{
    let (tx, reader) = ChannelReader::new();
    tokio::spawn(async move {
        loop {
            let item = match stream.message().await {
                Ok(Some(m)) => match data(m) {
                    Some(d) => Ok(d),
                    None => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unexpected message in the data stream",
                    )),
                },
                Ok(None) => break,
                Err(e) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("the client stream broke: {}", e.message()),
                )),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    reader
}

type SaveStream = Pin<Box<dyn Stream<Item = Result<DataChunk, Status>> + Send>>;

#[tonic::async_trait]
impl images_server::Images for Images {
    async fn list(
        &self,
        req: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let images = self
            .engine
            .list_images(&ns, Some(&r.reference))
            .or_status()?
            .iter()
            .map(summary)
            .collect();
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn get(&self, req: Request<GetImageRequest>) -> Result<Response<ImageDetail>, Status> {
        let ns = namespace(&req)?;
        let engine = self.engine.clone();
        let reference = req.into_inner().reference;
        let detail = blocking(move || {
            let (rec, _) = engine.resolve_image(&ns, &reference)?;
            let all = engine.records_of(&ns, rec.id())?;
            let manifest_json = engine.read_json_blob(&rec.manifest.digest)?;
            let config_json = engine.read_json_blob(&rec.config.digest)?;
            let unpacked = rec
                .layers
                .iter()
                .all(|l| engine.snapshotter().stat(&l.chain_id).is_ok());
            Ok(ImageDetail {
                id: rec.id().to_string(),
                repo_tags: all.iter().filter_map(familiar_name).collect(),
                repo_digests: all.iter().filter_map(repo_digest).collect(),
                manifest: Some(desc(&rec.manifest)),
                manifest_json,
                config_json,
                layers: rec
                    .layers
                    .iter()
                    .map(|l| Layer {
                        blob: Some(desc(&l.blob)),
                        diff_id: l.diff_id.clone(),
                        chain_id: l.chain_id.clone(),
                        unpacked_size: l.unpacked_size as i64,
                    })
                    .collect(),
                size: rec.size() as i64,
                image: Some(image(&rec)),
                snapshotter: rec.snapshotter.clone(),
                unpacked,
            })
        })
        .await?;
        Ok(Response::new(detail))
    }

    async fn tag(&self, req: Request<TagImageRequest>) -> Result<Response<PImage>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let rec = self
            .engine
            .tag_image(&ns, &r.source, &r.target)
            .or_status()?;
        Ok(Response::new(image(&rec)))
    }

    async fn remove(
        &self,
        req: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let engine = self.engine.clone();
        let (untagged, deleted) =
            blocking(move || engine.remove_image(&ns, &r.reference, r.force)).await?;
        Ok(Response::new(RemoveImageResponse { untagged, deleted }))
    }

    async fn load(
        &self,
        req: Request<Streaming<DataChunk>>,
    ) -> Result<Response<LoadImagesResponse>, Status> {
        let ns = namespace(&req)?;
        let reader = pump(req.into_inner(), |c: DataChunk| Some(c.data));
        let engine = self.engine.clone();
        let res = blocking(move || load::load(&engine, &ns, reader)).await?;
        Ok(Response::new(LoadImagesResponse {
            loaded_names: res.names,
            loaded_ids: res.ids,
        }))
    }

    type SaveStream = SaveStream;

    async fn save(
        &self,
        req: Request<SaveImagesRequest>,
    ) -> Result<Response<Self::SaveStream>, Status> {
        let ns = namespace(&req)?;
        let refs = req.into_inner().references;
        // Resolve first, so a bad reference is the call's error rather than
        // an error in the middle of the stream.
        for r in &refs {
            self.engine.resolve_image(&ns, r).or_status()?;
        }
        let (tx, rx) = mpsc::channel(8);
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx.clone());
            if let Err(e) = save::save(&engine, &ns, &refs, &mut w) {
                warn!(error = %e, "save failed");
                let _ = tx.blocking_send(Err(super::status::to_status(e)));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn import(
        &self,
        req: Request<Streaming<ImportRequest>>,
    ) -> Result<Response<ImportImageResponse>, Status> {
        let ns = namespace(&req)?;
        let mut stream = req.into_inner();
        let header = match stream.message().await? {
            Some(ImportRequest {
                payload: Some(import_request::Payload::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "import: the first message must carry the header",
                ))
            }
        };
        let opts = ImportOptions {
            reference: Some(header.reference).filter(|s| !s.is_empty()),
            changes: header.changes,
            message: header.message,
            platform: Some(header.platform).filter(|s| !s.is_empty()),
        };
        let reader = pump(stream, |m: ImportRequest| match m.payload {
            Some(import_request::Payload::Data(d)) => Some(d),
            _ => None,
        });
        let engine = self.engine.clone();
        let res = blocking(move || import::import(&engine, &ns, &opts, reader)).await?;
        Ok(Response::new(ImportImageResponse {
            id: res.id,
            name: res.name.unwrap_or_default(),
        }))
    }

    type PullStream = ProgressStream;

    async fn pull(
        &self,
        req: Request<PullImageRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        // Refuse bad input before the stream starts.
        let reference = Reference::parse(&r.reference)
            .map_err(ManagerError::from)
            .or_status()?;
        let platform = match r.platform.trim() {
            "" => None,
            p => Some(PlatformSpec::parse(p).or_status()?),
        };
        let request = PullRequest {
            reference,
            platform,
            all_platforms: r.all_platforms,
            auth: distribution::auth_from_proto(r.auth.as_ref()).or_status()?,
        };
        let engine = self.engine.clone();
        let what = format!("pull of {}", request.reference);
        Ok(Response::new(transfer(what, move |progress, rt| {
            let p = pull::pull(&engine, &ns, &request, progress, rt)?;
            let result = transfer_progress::Result::Pull(PullResult {
                reference: p.name,
                digest: p.digest,
                image_id: p.image_id,
                up_to_date: p.up_to_date,
            });
            Ok((String::new(), result))
        })))
    }

    type PushStream = ProgressStream;

    async fn push(
        &self,
        req: Request<PushImageRequest>,
    ) -> Result<Response<Self::PushStream>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        Reference::parse(&r.reference)
            .map_err(ManagerError::from)
            .or_status()?;
        let auth = distribution::auth_from_proto(r.auth.as_ref()).or_status()?;
        let engine = self.engine.clone();
        let what = format!("push of {}", r.reference);
        Ok(Response::new(transfer(what, move |progress, rt| {
            let p = push::push(&engine, &ns, &r.reference, &auth, progress, rt)?;
            let line = format!("{}: digest: {} size: {}", p.tag, p.digest, p.size);
            let result = transfer_progress::Result::Push(PushResult {
                tag: p.tag,
                digest: p.digest,
                size: p.size,
            });
            Ok((line, result))
        })))
    }

    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let r = req.into_inner();
        let server = login::login(self.engine.config(), &r.server, &r.username, &r.password)
            .await
            .or_status()?;
        Ok(Response::new(LoginResponse {
            status: "Login Succeeded".into(),
            server,
            identity_token: String::new(),
        }))
    }

    async fn search(
        &self,
        req: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let r = req.into_inner();
        let auth = distribution::auth_from_proto(r.auth.as_ref()).or_status()?;
        let hits = login::search(self.engine.config(), &r.term, r.limit, &auth)
            .await
            .or_status()?;
        Ok(Response::new(SearchResponse {
            results: hits
                .into_iter()
                .map(|h| SearchResult {
                    name: h.name,
                    description: h.description,
                    star_count: h.star_count,
                    is_official: h.is_official,
                    is_automated: h.is_automated,
                })
                .collect(),
        }))
    }
}

type ProgressStream = Pin<Box<dyn Stream<Item = Result<TransferProgress, Status>> + Send>>;

/// Runs a pull or push on a blocking thread (it drives the runtime for its
/// network I/O) and streams its progress: the last event carries the
/// result and its line; a failure ends the stream with its status.
fn transfer<F>(what: String, op: F) -> ProgressStream
where
    F: FnOnce(
            &Progress,
            &tokio::runtime::Handle,
        ) -> berth_engine::error::Result<(String, transfer_progress::Result)>
        + Send
        + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let progress = Progress::new(tx.clone());
        match op(&progress, &rt) {
            Ok((line, result)) => progress.result(line, result),
            Err(e) => {
                warn!(error = %e, "{what} failed");
                let _ = tx.send(Err(super::status::to_status(e)));
            }
        }
    });
    Box::pin(UnboundedReceiverStream::new(rx))
}
