//! `pull`: a reference → an index or manifest → the platform's manifest →
//! its config → its layers, downloaded concurrently into the content store
//! (digests verified as they stream) and unpacked in order while they
//! arrive → the image named.
//!
//! The driver runs on a blocking thread holding the pull's lease (so garbage
//! collection waits for it); network I/O runs on the runtime, and each
//! download's disk writes on a blocking thread of its own. Small documents
//! (manifests, configs) belong to the lease and go when the pull fails;
//! verified layer blobs and committed layer snapshots are kept (unnamed,
//! until `prune`), so a repeated pull reuses them. An interrupted pull
//! leaves no partial blob: ingests and half-applied snapshots are removed
//! when the operation fails or, after a crash, when berthd starts.

use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::client::{BlobResponse, SizedStream};
use oci_client::secrets::RegistryAuth;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::errors::map;
use super::hosts::{self, Connection, Endpoint};
use super::progress::{short_id, Meter, MeteredReader, Progress};
use super::tail::Tail;
use super::RegistryCredentials;
use crate::content::Digest;
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::image::lease::Lease;
use crate::image::manifest::{ConfigInfo, Index, Manifest, PlatformSpec};
use crate::image::unpack::{chain_ids, extract, unpacked};
use crate::image::Images;
use crate::image::{media, NewImage};
use crate::reference::Reference;
use crate::store::{schema, Descriptor, ImageRecord, LayerRecord};

/// Manifest media types a pull accepts, preferred first.
const ACCEPT: &[&str] = &[
    media::OCI_INDEX,
    media::DOCKER_MANIFEST_LIST,
    media::OCI_MANIFEST,
    media::DOCKER_MANIFEST,
];

/// Largest manifest or config accepted (docker's limit for manifests).
const MAX_DOCUMENT: u64 = 4 << 20;

/// What to pull.
#[derive(Clone, Debug)]
pub struct PullRequest {
    pub reference: Reference,
    pub platform: Option<PlatformSpec>,
    pub all_platforms: bool,
    pub auth: RegistryCredentials,
}

/// What a pull did.
#[derive(Clone, Debug, Serialize)]
pub struct Pulled {
    /// The full name now pointing at the image.
    pub name: String,
    /// The digest the reference resolved to.
    pub digest: String,
    pub image_id: String,
    pub up_to_date: bool,
}

/// One registry endpoint, connected, with the reference's top document.
struct Source {
    conn: Arc<Connection>,
    /// The reference as oci-client knows it (mirror set when it is one).
    image: oci_client::Reference,
    host: String,
    auth: RegistryAuth,
    with_credentials: bool,
}

/// Pulls `req` into namespace `ns`. Blocks: call it on a blocking thread
/// (it drives the runtime `rt` for network I/O).
pub fn pull(
    images: &Images,
    ns: &str,
    req: &PullRequest,
    progress: &Progress,
    rt: &Handle,
) -> Result<Pulled> {
    let reference = req.reference.clone().with_default_tag();
    let label = reference
        .tag()
        .or(reference.digest())
        .unwrap_or("latest")
        .to_string();
    progress.status(&label, format!("Pulling from {}", reference.path()));
    let endpoints = hosts::endpoints(images.config(), reference.domain())?;
    let concurrency = images.config().max_concurrent_downloads.max(1);
    let mut last_err = None;
    for ep in endpoints {
        let mirror = ep.mirror_of.is_some();
        match rt.block_on(open_source(&ep, &reference, &req.auth, concurrency)) {
            Ok((src, top)) => {
                return Pull {
                    images,
                    ns,
                    req,
                    reference: &reference,
                    src: &src,
                    progress,
                    rt,
                }
                .run(top)
            }
            Err(e) if mirror => {
                warn!(mirror = %ep.host, error = %e, "mirror failed; trying the next endpoint");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ManagerError::Internal("no registry endpoint".into())))
}

/// Connects to one endpoint and fetches the reference's top document.
async fn open_source(
    ep: &Endpoint,
    reference: &Reference,
    auth: &RegistryCredentials,
    concurrency: usize,
) -> Result<(Source, Bytes)> {
    let conn = ep.connect(concurrency).await?;
    let mut image = oci_client::Reference::try_from(reference.to_string())
        .map_err(|e| ManagerError::InvalidArgument(format!("{reference}: {e}")))?;
    if ep.mirror_of.is_some() {
        image.set_mirror_registry(ep.host.clone());
    }
    let src = Source {
        conn: Arc::new(conn),
        image,
        host: ep.host.clone(),
        auth: auth.to_oci(),
        with_credentials: !auth.is_anonymous(),
    };
    let top = src
        .conn
        .oci
        .pull_manifest_raw(&src.image, &src.auth, ACCEPT)
        .await
        .map_err(|e| map(e, &src.host, &reference.to_string(), src.with_credentials))?;
    Ok((src, top.0))
}

/// One pull from a chosen source.
struct Pull<'a> {
    images: &'a Images,
    ns: &'a str,
    req: &'a PullRequest,
    reference: &'a Reference,
    src: &'a Source,
    progress: &'a Progress,
    rt: &'a Handle,
}

/// A layer of the image being pulled.
struct LayerJob {
    desc: Descriptor,
    diff_id: String,
    chain: String,
    id: String,
    download: Option<Download>,
}

/// A download under way.
struct Download {
    tail: Arc<Tail>,
    handle: JoinHandle<Result<()>>,
}

/// Aborts the downloads still running when the pull returns early.
struct Downloads(Vec<tokio::task::AbortHandle>);

impl Drop for Downloads {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// The manifest chosen for the platform, and the other platforms' with
/// `--all-platforms`.
struct Chosen {
    desc: Descriptor,
    manifest: Manifest,
    others: Vec<Descriptor>,
}

/// The image config, stored.
struct StoredConfig {
    desc: Descriptor,
    info: ConfigInfo,
}

/// The other platforms' documents (stored) and layers (to download).
#[derive(Default)]
struct OtherPlatforms {
    documents: Vec<Descriptor>,
    layers: Vec<Descriptor>,
}

impl Pull<'_> {
    fn run(&self, top: Bytes) -> Result<Pulled> {
        let mut lease = Lease::new(self.images, self.ns);
        let (top_desc, top_type) = self.store_top(&mut lease, &top)?;
        let chosen = self.choose_manifest(&mut lease, &top, &top_desc, &top_type)?;
        let config = self.fetch_config(&mut lease, &chosen.manifest)?;
        let name = self.reference.to_string();
        if self.up_to_date(&name, &top_desc, &chosen.desc, &chosen.manifest)?
            && chosen.others.is_empty()
        {
            lease.finish();
            return Ok(self.report(name, top_desc, config.desc, true));
        }
        let others = self.fetch_other_platforms(&mut lease, &chosen.others)?;
        let layers = self.fetch_layers(&chosen.manifest, &config.info, &others.layers)?;
        self.commit(lease, &top_desc, chosen, &config, layers, others)?;
        info!(reference = %name, digest = %top_desc.digest, "pulled");
        Ok(self.report(name, top_desc, config.desc, false))
    }

    /// Checks the top document against a digest reference, and stores it.
    fn store_top(&self, lease: &mut Lease<'_>, top: &[u8]) -> Result<(Descriptor, String)> {
        let top_digest = Digest::of(top);
        if let Some(want) = self.reference.digest() {
            if want != top_digest.as_str() {
                return Err(ManagerError::DataLoss(format!(
                    "{}: the registry {} sent a manifest that hashes to {top_digest}",
                    self.reference, self.src.host
                )));
            }
        }
        let top_type = document_type(top, &self.reference.to_string())?;
        let top_desc = self.store_document(lease, top, &top_type)?;
        Ok((top_desc, top_type))
    }

    /// The platform's manifest: the top document, or the index's entry for
    /// the platform (fetched and stored).
    fn choose_manifest(
        &self,
        lease: &mut Lease<'_>,
        top: &[u8],
        top_desc: &Descriptor,
        top_type: &str,
    ) -> Result<Chosen> {
        if !media::is_index(top_type) {
            if self.req.platform.is_some() {
                debug!("--platform given for a single-platform image");
            }
            return Ok(Chosen {
                desc: top_desc.clone(),
                manifest: Manifest::parse(top, &top_desc.digest)?,
                others: Vec::new(),
            });
        }
        let index = Index::parse(top, "the image index")?;
        let want = self.req.platform.clone().unwrap_or_else(PlatformSpec::host);
        let entry = index.entry_for(&want).ok_or_else(|| {
            ManagerError::NotFound(format!(
                "no matching manifest for {want} in the manifest list entries of {}",
                self.reference
            ))
        })?;
        let chosen = entry.descriptor.clone();
        let others = if self.req.all_platforms {
            index
                .manifests
                .iter()
                .map(|e| e.descriptor.clone())
                .filter(|d| d.digest != chosen.digest && media::is_manifest(&d.media_type))
                .collect()
        } else {
            Vec::new()
        };
        let bytes = self.fetch_document(&chosen)?;
        let desc = self.store_document(lease, &bytes, &chosen.media_type)?;
        Ok(Chosen {
            desc,
            manifest: Manifest::parse(&bytes, &chosen.digest)?,
            others,
        })
    }

    /// Fetches and stores the config, checked against the platform asked
    /// for and the manifest's layers.
    fn fetch_config(&self, lease: &mut Lease<'_>, manifest: &Manifest) -> Result<StoredConfig> {
        let config_bytes = self.fetch_document(&manifest.config)?;
        let desc = self.store_document(lease, &config_bytes, &manifest.config.media_type)?;
        if let Some(want) = &self.req.platform {
            check_config_platform(&config_bytes, want, self.reference)?;
        }
        let info = ConfigInfo::parse(&config_bytes, &desc.digest)?;
        if info.diff_ids.len() != manifest.layers.len() {
            return Err(ManagerError::InvalidArgument(format!(
                "{}: the manifest lists {} layers but the config has {} diff IDs",
                self.reference,
                manifest.layers.len(),
                info.diff_ids.len()
            )));
        }
        Ok(StoredConfig { desc, info })
    }

    /// Other platforms: their documents now, their layers with ours.
    fn fetch_other_platforms(
        &self,
        lease: &mut Lease<'_>,
        others: &[Descriptor],
    ) -> Result<OtherPlatforms> {
        let mut out = OtherPlatforms::default();
        for d in others {
            let bytes = self.fetch_document(d)?;
            out.documents
                .push(self.store_document(lease, &bytes, &d.media_type)?);
            let m = Manifest::parse(&bytes, &d.digest)?;
            let c = self.fetch_document(&m.config)?;
            out.documents
                .push(self.store_document(lease, &c, &m.config.media_type)?);
            out.layers.extend(m.layers);
        }
        Ok(out)
    }

    /// Downloads the layers missing (ours and `extra_layers`) concurrently
    /// and unpacks ours in order, each as its bytes arrive.
    fn fetch_layers(
        &self,
        manifest: &Manifest,
        info: &ConfigInfo,
        extra_layers: &[Descriptor],
    ) -> Result<Vec<LayerRecord>> {
        let chains = chain_ids(&info.diff_ids);
        let mut jobs = layer_jobs(manifest, info, &chains);
        let sem = Arc::new(Semaphore::new(
            self.images.config().max_concurrent_downloads.max(1),
        ));
        let mut started: BTreeSet<String> = BTreeSet::new();
        let mut aborts = Downloads(Vec::new());
        for job in &mut jobs {
            let have_blob = self.have_blob(&job.desc)?;
            if have_blob && unpacked(self.images, &job.chain).is_some() {
                self.progress.status(&job.id, "Already exists");
                continue;
            }
            self.progress.status(&job.id, "Pulling fs layer");
            if !have_blob && started.insert(job.desc.digest.clone()) {
                let d = self.start_download(&job.desc, &sem);
                aborts.0.push(d.handle.abort_handle());
                job.download = Some(d);
            }
        }
        let mut extra_downloads = Vec::new();
        for d in extra_layers {
            if !self.have_blob(d)? && started.insert(d.digest.clone()) {
                let dl = self.start_download(d, &sem);
                aborts.0.push(dl.handle.abort_handle());
                extra_downloads.push(dl);
            }
        }
        let mut layers: Vec<LayerRecord> = Vec::with_capacity(jobs.len());
        for (i, mut job) in jobs.into_iter().enumerate() {
            let parent = i.checked_sub(1).map(|p| chains[p].as_str());
            let size = self.unpack(job.download.take(), &job, parent)?;
            layers.push(LayerRecord {
                blob: job.desc.clone(),
                diff_id: job.diff_id,
                chain_id: job.chain,
                unpacked_size: size,
            });
        }
        for dl in extra_downloads {
            self.finish_download(dl)?;
        }
        drop(aborts);
        Ok(layers)
    }

    /// Records the image (named by the reference when it has a tag or a
    /// digest) and where its blobs came from.
    fn commit(
        &self,
        lease: Lease<'_>,
        top_desc: &Descriptor,
        chosen: Chosen,
        config: &StoredConfig,
        layers: Vec<LayerRecord>,
        others: OtherPlatforms,
    ) -> Result<()> {
        let named = if self.reference.tag().is_some() || self.reference.digest().is_some() {
            vec![self.reference.clone()]
        } else {
            vec![]
        };
        let recorded: Vec<String> = layers
            .iter()
            .map(|l| l.blob.digest.clone())
            .chain([config.desc.digest.clone(), chosen.desc.digest.clone()])
            .collect();
        let mut extra = others.documents;
        extra.extend(others.layers);
        self.images.commit_images(
            self.ns,
            lease,
            vec![NewImage {
                target: top_desc.clone(),
                manifest: chosen.desc,
                config: config.desc.clone(),
                layers,
                created: config.info.created.clone(),
                names: named,
                extra,
            }],
        )?;
        super::push::record_sources(
            self.images,
            self.ns,
            &self.src.host,
            self.reference.path(),
            recorded.iter().map(String::as_str),
        )
    }

    /// The closing lines, and what the pull did.
    fn report(
        &self,
        name: String,
        top_desc: Descriptor,
        config_desc: Descriptor,
        up_to_date: bool,
    ) -> Pulled {
        self.progress
            .status("", format!("Digest: {}", top_desc.digest));
        let what = if up_to_date {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        self.progress
            .status("", format!("Status: {what} {}", self.reference.familiar()));
        Pulled {
            name,
            digest: top_desc.digest,
            image_id: config_desc.digest,
            up_to_date,
        }
    }

    /// Whether the name already points at this content (the same platform's
    /// manifest of the same index), all of it present.
    fn up_to_date(
        &self,
        name: &str,
        top: &Descriptor,
        manifest_desc: &Descriptor,
        manifest: &Manifest,
    ) -> Result<bool> {
        let Some(rec) = self
            .images
            .store()
            .get::<ImageRecord>(&schema::image_key(self.ns, name))?
        else {
            return Ok(false);
        };
        if rec.target.digest != top.digest
            || rec.manifest.digest != manifest_desc.digest
            || rec.layers.len() != manifest.layers.len()
        {
            return Ok(false);
        }
        for l in &rec.layers {
            if !self.have_blob(&l.blob)? || unpacked(self.images, &l.chain_id).is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn have_blob(&self, d: &Descriptor) -> Result<bool> {
        Ok(self.images.content().exists(&Digest::parse(&d.digest)?))
    }

    /// Fetches a manifest or config (small, read whole), digest verified.
    fn fetch_document(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let digest = Digest::parse(&d.digest)?;
        if self.images.content().exists(&digest) {
            return self.images.content().read_blob(&digest);
        }
        if d.size > MAX_DOCUMENT {
            return Err(ManagerError::InvalidArgument(format!(
                "{}: {} is {} bytes, larger than the {} bytes a manifest or config may have",
                self.reference, d.digest, d.size, MAX_DOCUMENT
            )));
        }
        let what = format!("{}@{}", self.reference.repository(), d.digest);
        let bytes = self.rt.block_on(async {
            if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
                let image = self.src.image.clone_with_digest(d.digest.clone());
                let accept: Vec<&str> = vec![d.media_type.as_str()];
                self.src
                    .conn
                    .oci
                    .pull_manifest_raw(&image, &self.src.auth, &accept)
                    .await
                    .map(|(b, _)| b.to_vec())
            } else {
                let mut out: Vec<u8> = Vec::with_capacity(d.size as usize);
                self.src
                    .conn
                    .oci
                    .pull_blob(&self.src.image, d.digest.as_str(), &mut out)
                    .await
                    .map(|()| out)
            }
        });
        let bytes = bytes.map_err(|e| map(e, &self.src.host, &what, self.src.with_credentials))?;
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(ManagerError::DataLoss(format!(
                "{what}: the registry {} sent content that hashes to {actual}",
                self.src.host
            )));
        }
        Ok(bytes)
    }

    /// Stores a small document under the lease.
    fn store_document(
        &self,
        lease: &mut Lease<'_>,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Descriptor> {
        let c = self
            .images
            .content()
            .write_blob(&format!("pull-doc-{}", Digest::of(bytes)), bytes)?;
        lease.add_blob(&c);
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest: c.digest.to_string(),
            size: c.size,
            annotations: Default::default(),
        })
    }

    /// Starts downloading a layer blob into the content store.
    fn start_download(&self, desc: &Descriptor, sem: &Arc<Semaphore>) -> Download {
        let tail = Tail::new();
        let job = DownloadJob {
            images: self.images.clone(),
            conn: self.src.conn.clone(),
            image: self.src.image.clone(),
            host: self.src.host.clone(),
            with_credentials: self.src.with_credentials,
            what: format!("{}@{}", self.reference.repository(), desc.digest),
            desc: desc.clone(),
            tail: tail.clone(),
            progress: self.progress.clone(),
        };
        let sem = sem.clone();
        let handle = self.rt.spawn(async move {
            let r = job.run(sem).await;
            if let Err(e) = &r {
                job.tail.finish(Err(e.to_string()));
            }
            r
        });
        Download { tail, handle }
    }

    /// Waits for a download's result.
    fn finish_download(&self, dl: Download) -> Result<()> {
        self.rt.block_on(dl.handle)?
    }

    /// Unpacks one layer (reading its download as it arrives, or the blob
    /// already stored) and commits it; returns its unpacked size.
    fn unpack(
        &self,
        download: Option<Download>,
        job: &LayerJob,
        parent: Option<&str>,
    ) -> Result<u64> {
        if let Some(size) = unpacked(self.images, &job.chain) {
            if let Some(dl) = download {
                self.finish_download(dl)?;
            }
            self.progress.status(&job.id, "Pull complete");
            return Ok(size);
        }
        let mut meter = Meter::new(self.progress, &job.id, "Extracting", job.desc.size);
        if let Some(dl) = &download {
            meter = meter.after(&dl.tail);
        }
        let source: Box<dyn std::io::Read + '_> = match &download {
            Some(dl) => Box::new(dl.tail.reader()),
            None => Box::new(
                self.images
                    .content()
                    .open_blob(&Digest::parse(&job.desc.digest)?)?,
            ),
        };
        let reader = MeteredReader {
            inner: source,
            meter,
        };
        let result = extract(
            self.images,
            parent,
            &job.chain,
            BufReader::with_capacity(1 << 20, reader),
            &job.desc.digest,
            &job.diff_id,
        );
        // The download's own error says more than the unpacker's.
        if let Some(dl) = download {
            self.finish_download(dl)?;
        }
        let size = result?.commit()?;
        self.progress.status(&job.id, "Pull complete");
        Ok(size)
    }
}

/// What a download task needs, owned (it runs on the runtime).
struct DownloadJob {
    images: Images,
    conn: Arc<Connection>,
    image: oci_client::Reference,
    host: String,
    with_credentials: bool,
    what: String,
    desc: Descriptor,
    tail: Arc<Tail>,
    progress: Progress,
}

impl DownloadJob {
    async fn run(&self, sem: Arc<Semaphore>) -> Result<()> {
        let id = short_id(&self.desc.digest);
        let _permit = match sem.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.progress.status(&id, "Waiting");
                sem.acquire_owned()
                    .await
                    .map_err(ManagerError::LimitClosed)?
            }
        };
        let (tx, rx) = mpsc::channel::<Bytes>(32);
        let writer = {
            let images = self.images.clone();
            let desc = self.desc.clone();
            let tail = self.tail.clone();
            let progress = self.progress.clone();
            let host = self.host.clone();
            tokio::task::spawn_blocking(move || {
                write_blob(&images, &desc, rx, &tail, &progress, &host)
            })
        };
        if let Err(e) = self.fetch(&id, &tx).await {
            self.tail.finish(Err(e.to_string()));
            drop(tx);
            let _ = writer.await;
            return Err(e);
        }
        drop(tx);
        writer.await?
    }

    /// Streams the blob to the writer. A connection that fails or breaks
    /// off is retried (after 1, 2 and 4 s, as docker retries) from where it
    /// stopped: a range request, or the whole blob with what the writer has
    /// skipped when the registry ignores ranges. Range requests also keep
    /// the client from hashing the stream again: the content store's writer
    /// verifies it.
    async fn fetch(&self, id: &str, tx: &mpsc::Sender<Bytes>) -> Result<()> {
        let mut sent: u64 = 0;
        let mut retries = 0u32;
        loop {
            let Some(broke) = self.attempt(&mut sent, tx).await? else {
                return Ok(());
            };
            if retries == 3 {
                return Err(broke);
            }
            let wait = 1u64 << retries;
            retries += 1;
            self.back_off(id, broke, wait).await?;
        }
    }

    /// One request for the blob from byte `sent` on, streamed to the
    /// writer. None when it is all sent (or the writer stopped: its error
    /// says why); the failure when the request may be retried.
    async fn attempt(
        &self,
        sent: &mut u64,
        tx: &mpsc::Sender<Bytes>,
    ) -> Result<Option<ManagerError>> {
        let response = match self
            .conn
            .oci
            .pull_blob_stream_partial(&self.image, self.desc.digest.as_str(), *sent, None)
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return match map(e, &self.host, &self.what, self.with_credentials) {
                    e @ ManagerError::Unavailable(_) => Ok(Some(e)),
                    other => Err(other),
                }
            }
        };
        let (stream, skip) = match response {
            BlobResponse::Full(s) => (s, *sent),
            BlobResponse::Partial(s) => (s, 0),
        };
        self.forward(stream, skip, sent, tx).await
    }

    /// Sends a response's bytes to the writer, less the first `skip` (what
    /// the writer has when the registry ignored the range), counting them
    /// in `sent`. Returns as [`DownloadJob::attempt`] does.
    async fn forward(
        &self,
        mut stream: SizedStream,
        mut skip: u64,
        sent: &mut u64,
        tx: &mpsc::Sender<Bytes>,
    ) -> Result<Option<ManagerError>> {
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                () = self.progress.client_gone() => {
                    return Err(ManagerError::Unavailable(format!(
                        "pull of {} cancelled: the client went away",
                        self.what
                    )))
                }
            };
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            match chunk {
                Ok(mut b) => {
                    let k = skip.min(b.len() as u64) as usize;
                    skip -= k as u64;
                    let b = b.split_off(k);
                    if b.is_empty() {
                        continue;
                    }
                    *sent += b.len() as u64;
                    if tx.send(b).await.is_err() {
                        // The writer stopped; its error says why.
                        return Ok(None);
                    }
                }
                Err(e) => {
                    return Ok(Some(ManagerError::Unavailable(format!(
                        "registry {}: download of {} broke off after {sent} bytes: {}",
                        self.host,
                        self.what,
                        super::errors::root_cause(&e)
                    ))));
                }
            }
        }
    }

    /// Waits `wait` seconds before a retry, saying so; gives up with
    /// `broke` if the client goes away meanwhile.
    async fn back_off(&self, id: &str, broke: ManagerError, wait: u64) -> Result<()> {
        warn!(error = %broke, retry_in_s = wait, "download failed; retrying");
        self.progress.status(
            id,
            format!(
                "Retrying in {wait} second{}",
                if wait == 1 { "" } else { "s" }
            ),
        );
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(wait)) => Ok(()),
            () = self.progress.client_gone() => Err(broke),
        }
    }
}

/// Writes a downloading blob into the content store (a blocking thread),
/// telling the tail how far it got, then verifies and commits it.
fn write_blob(
    images: &Images,
    desc: &Descriptor,
    mut rx: mpsc::Receiver<Bytes>,
    tail: &Tail,
    progress: &Progress,
    host: &str,
) -> Result<()> {
    let id = short_id(&desc.digest);
    let digest = Digest::parse(&desc.digest)?;
    let reference = format!(
        "pull-{}-{:08x}",
        desc.digest,
        rand::thread_rng().gen::<u32>()
    );
    let result = (|| {
        let mut w = images.content().writer(&reference)?;
        tail.open(&w.data_path())
            .map_err(|e| ManagerError::io("open the download for reading", e))?;
        let mut meter = Meter::new(progress, &id, "Downloading", desc.size);
        while let Some(chunk) = rx.blocking_recv() {
            if w.len() + chunk.len() as u64 > desc.size {
                return Err(ManagerError::DataLoss(format!(
                    "blob {} from {host}: the registry sent more than its {} bytes",
                    desc.digest, desc.size
                )));
            }
            w.write_all(&chunk)
                .and_then(|()| w.flush())
                .map_err(|e| ManagerError::io(format!("write blob {}", desc.digest), e))?;
            tail.advance(chunk.len() as u64);
            meter.add(chunk.len() as u64);
        }
        progress.status(&id, "Verifying Checksum");
        match w.commit(Some(&digest), Some(desc.size)) {
            Ok(_) => Ok(()),
            Err(ManagerError::DigestMismatch { actual, .. }) => Err(ManagerError::DataLoss(format!(
                "blob {} from {host} failed verification: its content hashes to {actual}; nothing was stored",
                desc.digest
            ))),
            Err(ManagerError::FailedPrecondition(m)) => Err(ManagerError::DataLoss(format!(
                "blob {} from {host}: {m}",
                desc.digest
            ))),
            Err(e) => Err(e),
        }
    })();
    match &result {
        Ok(()) => {
            tail.finish(Ok(()));
            progress.status(&id, "Download complete");
        }
        Err(e) => tail.finish(Err(e.to_string())),
    }
    result
}

/// The layers of a manifest with their diff and chain IDs.
fn layer_jobs(manifest: &Manifest, info: &ConfigInfo, chains: &[String]) -> Vec<LayerJob> {
    manifest
        .layers
        .iter()
        .zip(&info.diff_ids)
        .zip(chains)
        .map(|((desc, diff_id), chain)| LayerJob {
            desc: desc.clone(),
            diff_id: diff_id.clone(),
            chain: chain.clone(),
            id: short_id(&desc.digest),
            download: None,
        })
        .collect()
}

/// The media type of a top-level document: its mediaType, else what its
/// shape says (OCI allows the field to be absent).
fn document_type(bytes: &[u8], what: &str) -> Result<String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ManagerError::InvalidArgument(format!("{what}: not a valid manifest: {e}")))?;
    if v.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(ManagerError::Unimplemented(format!(
            "{what}: Docker Image manifest schema 1 is deprecated and not supported; push the image again with a current client"
        )));
    }
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        if media::is_index(mt) || media::is_manifest(mt) {
            return Ok(mt.to_string());
        }
        return Err(ManagerError::UnsupportedMediaType {
            media_type: mt.to_string(),
            what: what.to_string(),
        });
    }
    if v.get("manifests").is_some() {
        Ok(media::OCI_INDEX.into())
    } else if v.get("layers").is_some() {
        Ok(media::OCI_MANIFEST.into())
    } else {
        Err(ManagerError::InvalidArgument(format!(
            "{what}: neither an image manifest nor an index"
        )))
    }
}

/// `--platform` on a single-platform image: refuse one for another platform,
/// as docker does.
fn check_config_platform(config: &[u8], want: &PlatformSpec, reference: &Reference) -> Result<()> {
    let v: Value = serde_json::from_slice(config).unwrap_or(Value::Null);
    let os = v.get("os").and_then(Value::as_str).unwrap_or("");
    let arch = v.get("architecture").and_then(Value::as_str).unwrap_or("");
    if (!os.is_empty() && os != want.os) || (!arch.is_empty() && arch != want.architecture) {
        return Err(ManagerError::NotFound(format!(
            "image {reference} is for {os}/{arch}, not the requested platform {want}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_types() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(document_type(idx, "x").unwrap(), media::OCI_INDEX);
        let m = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(document_type(m, "x").unwrap(), media::OCI_MANIFEST);
        let d = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}"}}"#,
            media::DOCKER_MANIFEST_LIST
        );
        assert_eq!(
            document_type(d.as_bytes(), "x").unwrap(),
            media::DOCKER_MANIFEST_LIST
        );
        let s1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert!(document_type(s1, "x")
            .unwrap_err()
            .to_string()
            .contains("schema 1"));
        assert!(document_type(b"not json", "x").is_err());
        let odd = br#"{"schemaVersion":2,"mediaType":"text/plain"}"#;
        assert!(document_type(odd, "x").is_err());
    }
}
