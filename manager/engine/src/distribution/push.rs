//! `push`: a local image → its registry. Layers go up concurrently; a blob
//! the registry has already is not sent (HEAD), and one it has in another
//! repository is mounted from there (the repositories a blob came from or
//! went to are kept as labels on its content record, as containerd does).
//! Then the config, then the manifest under the tag, byte for byte as
//! stored, so the pushed digest is the local one.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::errors::OciDistributionError;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info};

use super::errors::map;
use super::hosts::{self, Connection};
use super::progress::{short_id, Meter, Progress};
use super::RegistryCredentials;
use crate::content::Digest;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::image::Images;
use crate::reference::Reference;
use crate::store::{schema, Batch, ContentRecord, Descriptor, ImageRecord};

/// Label prefix on content records: `<prefix><registry host>` = the
/// repositories there that hold the blob, comma-separated.
pub const SOURCE_LABEL: &str = "berth.distribution.source.";

/// What to push: a local image by name, and the registry's credentials.
#[derive(Clone, Debug)]
pub struct PushRequest {
    pub name: String,
    pub auth: RegistryCredentials,
}

/// What a push did.
#[derive(Clone, Debug, Serialize)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

impl Pushed {
    /// docker's closing line: "latest: digest: sha256:… size: 528".
    pub fn status_line(&self) -> String {
        format!("{}: digest: {} size: {}", self.tag, self.digest, self.size)
    }
}

/// Pushes the image named `req.name` in `ns` to its registry. Blocks: call
/// it on a blocking thread (it drives the runtime `rt` for network I/O).
pub fn push(
    images: &Images,
    ns: &str,
    req: &PushRequest,
    progress: &Progress,
    rt: &Handle,
) -> Result<Pushed> {
    let reference = push_reference(&req.name)?;
    let rec = local_image(images, ns, &reference)?;
    let _guard = images.op_guard();
    let tag = reference.tag().unwrap_or("latest").to_string();
    let target = Target::connect(images, &reference, &req.auth, rt)?;
    progress.status(
        "",
        format!("The push refers to repository [{}]", reference.repository()),
    );
    // Layers, top first as docker lists them, then the config.
    let layers: Vec<Descriptor> = rec.layers.iter().rev().map(|l| l.blob.clone()).collect();
    for l in &layers {
        progress.status(&short_id(&l.digest), "Preparing");
    }
    target.upload_blobs(images, ns, &layers, &rec.config, progress, rt)?;
    let (digest, size) = target.push_manifest(images, &rec.manifest, rt)?;
    let mut blobs: Vec<&Descriptor> = layers.iter().collect();
    blobs.push(&rec.config);
    blobs.push(&rec.manifest);
    record_sources(
        images,
        ns,
        &target.host,
        &target.repo,
        blobs.iter().map(|d| d.digest.as_str()),
    )?;
    info!(reference = %target.full, %digest, "pushed");
    Ok(Pushed { tag, digest, size })
}

/// The name to push: a tag (the default one if none is given).
fn push_reference(name: &str) -> Result<Reference> {
    let reference = Reference::parse(name)?;
    if reference.digest().is_some() {
        return Err(ManagerError::InvalidArgument(format!(
            "cannot push a digest reference ({name}): push a tag"
        )));
    }
    Ok(reference.with_default_tag())
}

/// The image record the name points at; an image ID does not do.
fn local_image(images: &Images, ns: &str, reference: &Reference) -> Result<ImageRecord> {
    match images.resolve_image(ns, &reference.to_string()) {
        Ok((rec, false)) => Ok(rec),
        Ok((_, true)) | Err(ManagerError::NoSuchImage(_)) => Err(ManagerError::NotFound(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        ))),
        Err(e) => Err(e),
    }
}

/// The repository pushed to, connected.
struct Target {
    conn: Arc<Connection>,
    image: oci_client::Reference,
    host: String,
    /// The full name pushed.
    full: String,
    /// The repository's path at the registry.
    repo: String,
    uploads: usize,
    with_credentials: bool,
}

impl Target {
    fn connect(
        images: &Images,
        reference: &Reference,
        auth: &RegistryCredentials,
        rt: &Handle,
    ) -> Result<Target> {
        let full = reference.to_string();
        let ep = hosts::endpoints(images.config(), reference.domain())?
            .pop()
            .ok_or_else(|| ManagerError::Internal("no registry endpoint".into()))?;
        let uploads = images.config().max_concurrent_uploads.max(1);
        let conn = Arc::new(rt.block_on(ep.connect(uploads))?);
        let image = oci_client::Reference::try_from(full.clone())
            .map_err(|e| ManagerError::InvalidArgument(format!("{full}: {e}")))?;
        rt.block_on(
            conn.oci
                .store_auth_if_needed(image.resolve_registry(), &auth.to_oci()),
        );
        Ok(Target {
            conn,
            image,
            host: ep.host.clone(),
            full,
            repo: reference.path().to_string(),
            uploads,
            with_credentials: !auth.is_anonymous(),
        })
    }

    /// Uploads the layers and the config concurrently; the first failure
    /// is the push's, once every upload has ended.
    fn upload_blobs(
        &self,
        images: &Images,
        ns: &str,
        layers: &[Descriptor],
        config: &Descriptor,
        progress: &Progress,
        rt: &Handle,
    ) -> Result<()> {
        let sem = Arc::new(Semaphore::new(self.uploads));
        let mut tasks = Vec::new();
        for (i, l) in layers.iter().chain(std::iter::once(config)).enumerate() {
            let job = UploadJob {
                images: images.clone(),
                ns: ns.to_string(),
                conn: self.conn.clone(),
                image: self.image.clone(),
                host: self.host.clone(),
                repo: self.repo.clone(),
                desc: l.clone(),
                quiet: i == layers.len(),
                with_credentials: self.with_credentials,
                progress: progress.clone(),
            };
            let sem = sem.clone();
            tasks.push(rt.spawn(async move { job.run(sem).await }));
        }
        let mut first_err = None;
        for t in tasks {
            let r = rt.block_on(t).unwrap_or_else(|e| Err(e.into()));
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Puts the manifest under the tag, byte for byte as stored; returns
    /// its digest and size.
    fn push_manifest(
        &self,
        images: &Images,
        manifest: &Descriptor,
        rt: &Handle,
    ) -> Result<(String, u64)> {
        let bytes = images
            .content()
            .read_blob(&Digest::parse(&manifest.digest)?)?;
        let content_type = reqwest::header::HeaderValue::from_str(&manifest.media_type)
            .map_err(ManagerError::MediaTypeHeader)?;
        let size = bytes.len() as u64;
        let digest = Digest::of(&bytes).to_string();
        rt.block_on(
            self.conn
                .oci
                .push_manifest_raw(&self.image, bytes, content_type),
        )
        .map_err(|e| map(e, &self.host, &self.full, self.with_credentials))?;
        Ok((digest, size))
    }
}

/// Adds `repo` at `host` to the source labels of the blobs' content records.
pub fn record_sources<'a>(
    images: &Images,
    ns: &str,
    host: &str,
    repo: &str,
    digests: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let key = format!("{SOURCE_LABEL}{host}");
    let mut b = Batch::default();
    for d in digests {
        let k = schema::content_key(ns, d);
        let Some(mut rec) = images.store().get::<ContentRecord>(&k)? else {
            continue;
        };
        let mut repos: Vec<String> = rec
            .labels
            .get(&key)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        if repos.iter().any(|r| r == repo) {
            continue;
        }
        repos.push(repo.to_string());
        rec.labels.insert(key.clone(), repos.join(","));
        b.put(&k, &rec)?;
    }
    images.store().apply(b)
}

/// One blob to upload, owned (it runs on the runtime).
struct UploadJob {
    images: Images,
    ns: String,
    conn: Arc<Connection>,
    image: oci_client::Reference,
    host: String,
    repo: String,
    desc: Descriptor,
    /// The config: no progress lines, as docker shows none.
    quiet: bool,
    with_credentials: bool,
    progress: Progress,
}

impl UploadJob {
    fn status(&self, s: &str) {
        if !self.quiet {
            self.progress.status(&short_id(&self.desc.digest), s);
        }
    }

    async fn run(&self, sem: Arc<Semaphore>) -> Result<()> {
        let _permit = match sem.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.status("Waiting");
                sem.acquire_owned()
                    .await
                    .map_err(ManagerError::LimitClosed)?
            }
        };
        let what = format!("{}@{}", self.repo, self.desc.digest);
        let fail = |e| map(e, &self.host, &what, self.with_credentials);
        let oci = &self.conn.oci;
        if oci
            .blob_exists(&self.image, &self.desc.digest)
            .await
            .map_err(fail)?
        {
            self.status("Layer already exists");
            return Ok(());
        }
        for source in self.sources()? {
            let from = oci_client::Reference::with_tag(
                self.image.registry().to_string(),
                source.clone(),
                "latest".into(),
            );
            match oci.mount_blob(&self.image, &from, &self.desc.digest).await {
                Ok(()) => {
                    self.status(&format!("Mounted from {source}"));
                    return Ok(());
                }
                Err(e) => {
                    debug!(digest = %self.desc.digest, %source, error = %e, "mount refused; uploading")
                }
            }
        }
        let stream = self.read_blob()?;
        oci.push_blob_stream(&self.image, stream, &self.desc.digest, Some(self.desc.size))
            .await
            .map_err(fail)?;
        self.status("Pushed");
        Ok(())
    }

    /// Other repositories of the same registry known to hold the blob.
    fn sources(&self) -> Result<Vec<String>> {
        let rec = self
            .images
            .store()
            .get::<ContentRecord>(&schema::content_key(&self.ns, &self.desc.digest))?;
        Ok(rec
            .and_then(|r| {
                r.labels
                    .get(&format!("{SOURCE_LABEL}{}", self.host))
                    .cloned()
            })
            .map(|v| {
                v.split(',')
                    .filter(|r| !r.is_empty() && *r != self.repo)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The blob as a stream of chunks, read on a blocking thread.
    fn read_blob(
        &self,
    ) -> Result<
        impl futures::Stream<Item = std::result::Result<Bytes, OciDistributionError>> + Send + 'static,
    > {
        let mut file = self
            .images
            .content()
            .open_blob(&Digest::parse(&self.desc.digest)?)?;
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let mut meter = Meter::new(
            &self.progress,
            &short_id(&self.desc.digest),
            "Pushing",
            self.desc.size,
        );
        let quiet = self.quiet;
        tokio::task::spawn_blocking(move || loop {
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if !quiet {
                        meter.add(n as u64);
                    }
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|r| r.map_err(OciDistributionError::IoError)))
    }
}
