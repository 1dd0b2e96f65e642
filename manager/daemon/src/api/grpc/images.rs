//! Images service: translation between the proto messages and the engine.

use super::status::OrStatus;

use berth_proto::v1::{
    images_server, import_request, transfer_progress, DataChunk, Descriptor as PDescriptor,
    GetImageRequest, Image as PImage, ImageDetail as PImageDetail, ImageSummary as PImageSummary,
    ImportImageResponse, ImportRequest, Layer, ListImagesRequest, ListImagesResponse,
    LoadImagesResponse, LoginRequest as PLoginRequest, LoginResponse, PullImageRequest, PullResult,
    PushImageRequest, PushResult, RegistryAuth, RemoveImageRequest, RemoveImageResponse,
    SaveImagesRequest, SearchRequest, SearchResponse, SearchResult, TagImageRequest,
};
use tonic::{Request, Response, Status, Streaming};

use super::namespace;
use super::stream::{bytes_of, chunks, transfer, ChunkStream, ProgressStream};
use berth_engine::distribution::api::LoginRequest;
use berth_engine::distribution::pull::PullRequest;
use berth_engine::distribution::push::PushRequest;
use berth_engine::distribution::RegistryCredentials;
use berth_engine::engine::Engine;
use berth_engine::error::ManagerError;
use berth_engine::image::api::{ImageDetail, ImageSummary, ImageView};
use berth_engine::image::import::ImportOptions;
use berth_engine::image::manifest::PlatformSpec;
use berth_engine::reference::Reference;
use berth_engine::store::{Descriptor, LayerRecord};

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

fn image(v: ImageView) -> PImage {
    PImage {
        name: v.name,
        target: Some(desc(&v.target)),
        created_at: v.created_at,
        updated_at: v.updated_at,
        labels: v.labels.into_iter().collect(),
    }
}

pub(super) fn summary(s: ImageSummary) -> PImageSummary {
    PImageSummary {
        image: Some(image(s.image)),
        id: s.id,
        repository: s.repository,
        tag: s.tag,
        created: s.created,
        size: s.size as i64,
        repo_digests: s.repo_digests,
    }
}

fn layer(l: LayerRecord) -> Layer {
    Layer {
        blob: Some(desc(&l.blob)),
        diff_id: l.diff_id,
        chain_id: l.chain_id,
        unpacked_size: l.unpacked_size as i64,
    }
}

fn detail(d: ImageDetail) -> PImageDetail {
    PImageDetail {
        id: d.id,
        repo_tags: d.repo_tags,
        repo_digests: d.repo_digests,
        manifest: Some(desc(&d.manifest)),
        manifest_json: d.manifest_json,
        config_json: d.config_json,
        layers: d.layers.into_iter().map(layer).collect(),
        size: d.size as i64,
        image: Some(image(d.image)),
        snapshotter: d.snapshotter,
        unpacked: d.unpacked,
    }
}

/// The proto's credentials as the engine's.
fn credentials(a: Option<&RegistryAuth>) -> Result<RegistryCredentials, Status> {
    match a {
        None => Ok(RegistryCredentials::Anonymous),
        Some(a) => RegistryCredentials::from_fields(
            &a.username,
            &a.password,
            &a.identity_token,
            &a.registry_token,
        )
        .or_status(),
    }
}

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
            .images()
            .image_list(&ns, &r.reference)
            .await
            .or_status()?
            .into_iter()
            .map(summary)
            .collect();
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn get(&self, req: Request<GetImageRequest>) -> Result<Response<PImageDetail>, Status> {
        let ns = namespace(&req)?;
        let reference = req.into_inner().reference;
        let d = self
            .engine
            .images()
            .image_inspect(&ns, &reference)
            .await
            .or_status()?;
        Ok(Response::new(detail(d)))
    }

    async fn tag(&self, req: Request<TagImageRequest>) -> Result<Response<PImage>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let v = self
            .engine
            .images()
            .image_tag(&ns, &r.source, &r.target)
            .await
            .or_status()?;
        Ok(Response::new(image(v)))
    }

    async fn remove(
        &self,
        req: Request<RemoveImageRequest>,
    ) -> Result<Response<RemoveImageResponse>, Status> {
        let ns = namespace(&req)?;
        let r = req.into_inner();
        let removed = self
            .engine
            .images()
            .image_remove(&ns, &r.reference, r.force)
            .await
            .or_status()?;
        Ok(Response::new(RemoveImageResponse {
            untagged: removed.untagged,
            deleted: removed.deleted,
        }))
    }

    async fn load(
        &self,
        req: Request<Streaming<DataChunk>>,
    ) -> Result<Response<LoadImagesResponse>, Status> {
        let ns = namespace(&req)?;
        let archive = bytes_of(req.into_inner(), |c: DataChunk| Some(c.data));
        let res = self
            .engine
            .images()
            .image_load(&ns, archive)
            .await
            .or_status()?;
        Ok(Response::new(LoadImagesResponse {
            loaded_names: res.names,
            loaded_ids: res.ids,
        }))
    }

    type SaveStream = ChunkStream;

    async fn save(
        &self,
        req: Request<SaveImagesRequest>,
    ) -> Result<Response<Self::SaveStream>, Status> {
        let ns = namespace(&req)?;
        let refs = req.into_inner().references;
        let bytes = self
            .engine
            .images()
            .image_save(&ns, refs)
            .await
            .or_status()?;
        Ok(Response::new(chunks(bytes)))
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
        let archive = bytes_of(stream, |m: ImportRequest| match m.payload {
            Some(import_request::Payload::Data(d)) => Some(d),
            _ => None,
        });
        let res = self
            .engine
            .images()
            .image_import(&ns, opts, archive)
            .await
            .or_status()?;
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
            auth: credentials(r.auth.as_ref())?,
        };
        let engine = self.engine.clone();
        Ok(Response::new(transfer(
            move |progress| async move { engine.images().image_pull(&ns, request, progress).await },
            |p| {
                let result = transfer_progress::Result::Pull(PullResult {
                    reference: p.name,
                    digest: p.digest,
                    image_id: p.image_id,
                    up_to_date: p.up_to_date,
                });
                (String::new(), result)
            },
        )))
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
        let request = PushRequest {
            name: r.reference,
            auth: credentials(r.auth.as_ref())?,
        };
        let engine = self.engine.clone();
        Ok(Response::new(transfer(
            move |progress| async move { engine.images().image_push(&ns, request, progress).await },
            |p| {
                let line = p.status_line();
                let result = transfer_progress::Result::Push(PushResult {
                    tag: p.tag,
                    digest: p.digest,
                    size: p.size,
                });
                (line, result)
            },
        )))
    }

    async fn login(&self, req: Request<PLoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let r = req.into_inner();
        let server = self
            .engine
            .images()
            .registry_login(LoginRequest {
                server: r.server,
                username: r.username,
                password: r.password,
            })
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
        let auth = credentials(r.auth.as_ref())?;
        let hits = self
            .engine
            .images()
            .registry_search(&r.term, r.limit, &auth)
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
