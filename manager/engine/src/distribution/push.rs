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
use oci_client::secrets::RegistryAuth;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info};

use super::errors::map;
use super::hosts::{self, Connection};
use super::progress::{short_id, Meter, Progress};
use crate::content::Digest;
use crate::engine::Engine;
use crate::error::{ManagerError, Result};
use crate::reference::Reference;
use crate::store::{schema, Batch, ContentRecord, Descriptor};

/// Label prefix on content records: `<prefix><registry host>` = the
/// repositories there that hold the blob, comma-separated.
pub const SOURCE_LABEL: &str = "berth.distribution.source.";

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

/// Pushes the image named `name` in `ns` to its registry. Blocks: call it
/// on a blocking thread.
pub fn push(
    engine: &Engine,
    ns: &str,
    name: &str,
    auth: &RegistryAuth,
    progress: &Progress,
    rt: &Handle,
) -> Result<Pushed> {
    let reference = Reference::parse(name)?;
    if reference.digest().is_some() {
        return Err(ManagerError::InvalidArgument(format!(
            "cannot push a digest reference ({name}): push a tag"
        )));
    }
    let reference = reference.with_default_tag();
    let full = reference.to_string();
    let rec = match engine.resolve_image(ns, &full) {
        Ok((rec, false)) => rec,
        Ok((_, true)) | Err(ManagerError::NoSuchImage(_)) => {
            return Err(ManagerError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar()
            )))
        }
        Err(e) => return Err(e),
    };
    let _guard = engine.op_guard();
    let tag = reference.tag().unwrap_or("latest").to_string();
    let ep = hosts::endpoints(engine.config(), reference.domain())?
        .pop()
        .ok_or_else(|| ManagerError::Internal("no registry endpoint".into()))?;
    let host = ep.host.clone();
    let with_credentials = !matches!(auth, RegistryAuth::Anonymous);
    let uploads = engine.config().max_concurrent_uploads.max(1);
    let conn = Arc::new(rt.block_on(ep.connect(uploads))?);
    let image = oci_client::Reference::try_from(full.clone())
        .map_err(|e| ManagerError::InvalidArgument(format!("{full}: {e}")))?;
    rt.block_on(
        conn.oci
            .store_auth_if_needed(image.resolve_registry(), auth),
    );
    progress.status(
        "",
        format!("The push refers to repository [{}]", reference.repository()),
    );

    // Layers, top first as docker lists them, then the config.
    let layers: Vec<Descriptor> = rec.layers.iter().rev().map(|l| l.blob.clone()).collect();
    for l in &layers {
        progress.status(&short_id(&l.digest), "Preparing");
    }
    let sem = Arc::new(Semaphore::new(uploads));
    let repo = reference.path().to_string();
    let mut tasks = Vec::new();
    for (i, l) in layers
        .iter()
        .chain(std::iter::once(&rec.config))
        .enumerate()
    {
        let job = UploadJob {
            engine: engine.clone(),
            ns: ns.to_string(),
            conn: conn.clone(),
            image: image.clone(),
            host: host.clone(),
            repo: repo.clone(),
            desc: l.clone(),
            quiet: i == layers.len(),
            with_credentials,
            progress: progress.clone(),
        };
        let sem = sem.clone();
        tasks.push(rt.spawn(async move { job.run(sem).await }));
    }
    let mut first_err = None;
    for t in tasks {
        let r = rt
            .block_on(t)
            .unwrap_or_else(|e| Err(ManagerError::Internal(format!("upload task: {e}"))));
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    let manifest = engine
        .content()
        .read_blob(&Digest::parse(&rec.manifest.digest)?)?;
    let content_type = reqwest::header::HeaderValue::from_str(&rec.manifest.media_type)
        .map_err(|e| ManagerError::Internal(format!("manifest media type: {e}")))?;
    let size = manifest.len() as u64;
    let digest = Digest::of(&manifest).to_string();
    rt.block_on(conn.oci.push_manifest_raw(&image, manifest, content_type))
        .map_err(|e| map(e, &host, &full, with_credentials))?;
    let mut blobs: Vec<&Descriptor> = layers.iter().collect();
    blobs.push(&rec.config);
    blobs.push(&rec.manifest);
    record_sources(
        engine,
        ns,
        &host,
        &repo,
        blobs.iter().map(|d| d.digest.as_str()),
    )?;
    info!(reference = %full, %digest, "pushed");
    Ok(Pushed { tag, digest, size })
}

/// Adds `repo` at `host` to the source labels of the blobs' content records.
pub fn record_sources<'a>(
    engine: &Engine,
    ns: &str,
    host: &str,
    repo: &str,
    digests: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let key = format!("{SOURCE_LABEL}{host}");
    let mut b = Batch::default();
    for d in digests {
        let k = schema::content_key(ns, d);
        let Some(mut rec) = engine.store().get::<ContentRecord>(&k)? else {
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
    engine.store().apply(b)
}

/// One blob to upload, owned (it runs on the runtime).
struct UploadJob {
    engine: Engine,
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
                    .map_err(|e| ManagerError::Internal(e.to_string()))?
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
            .engine
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
            .engine
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
