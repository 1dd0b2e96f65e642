//! `berth load`: docker-save archives (the legacy layout of docker < 25 and
//! the OCI layout docker 25+ writes) and OCI image layout tarballs, gzip or
//! zstd compressed or not, read as one stream.
//!
//! Large files stream straight into the content store while the archive is
//! read (their digests are computed on the way); small ones (manifests,
//! configs) are kept in memory until the archive's index is known. Then
//! every blob is checked against the digest that refers to it, layers are
//! unpacked, and everything is recorded in one batch. Any failure releases
//! what the load created: no image, blob or snapshot is left behind.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};

use rand::Rng;
use serde::Deserialize;
use tracing::info;

use super::lease::Lease;
use super::manifest::{ConfigInfo, Index, Manifest};
use super::media::{self, Compression};
use super::{unpack, NewImage};
use crate::content::{Committed, ContentStore, Digest};
use crate::core::OnCore;
use crate::error::{ManagerError, Result};
use crate::image::Images;
use crate::reference::Reference;
use crate::store::Descriptor;

/// Files up to this size are kept in memory while the archive is read.
const SMALL_FILE: u64 = 4 << 20;

/// What a load produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadResult {
    /// Names given, in familiar form ("busybox:latest").
    pub names: Vec<String>,
    /// IDs of found loaded without a name.
    pub ids: Vec<String>,
}

/// Loads an archive into namespace `ns`.
pub fn load(images: &Images, ns: &str, input: impl Read) -> Result<LoadResult> {
    let mut lease = Lease::new(images, ns);
    let mut files = read_archive(images, &mut lease, input)?;
    let found = files.found(images, &mut lease)?;
    let (result, new_images) = unpack_images(images, &mut lease, found)?;
    let unused = unused_blobs(&lease, &new_images);
    images.commit_images(ns, lease, new_images)?;
    images.core().release(ns, &unused, &[])?;
    info!(ns, names = ?result.names, ids = ?result.ids, "loaded images");
    Ok(result)
}

/// Unpacks each image's layers; returns what the load reports and the
/// found to record.
fn unpack_images(
    images: &Images,
    lease: &mut Lease<'_>,
    found: Vec<FoundImage>,
) -> Result<(LoadResult, Vec<NewImage>)> {
    let mut result = LoadResult::default();
    let mut new_images = Vec::new();
    for img in found {
        let layers = unpack::unpack(images, lease, &img.layers, &img.diff_ids)?;
        if img.names.is_empty() {
            result.ids.push(img.config.digest.clone());
        }
        result
            .names
            .extend(img.names.iter().map(Reference::familiar));
        new_images.push(NewImage {
            target: img.target,
            manifest: img.manifest,
            config: img.config,
            layers,
            created: img.created,
            names: img.names,
            extra: Vec::new(),
        });
    }
    Ok((result, new_images))
}

/// Blobs the load stored that no image references (every large file of
/// the archive is stored as it streams by), to release once the found
/// are recorded.
fn unused_blobs(lease: &Lease<'_>, found: &[NewImage]) -> Vec<String> {
    let referenced: std::collections::BTreeSet<String> = found
        .iter()
        .flat_map(|i| {
            [&i.target, &i.manifest, &i.config]
                .into_iter()
                .chain(i.layers.iter().map(|l| &l.blob))
                .map(|d| d.digest.clone())
        })
        .collect();
    lease
        .created_blobs()
        .iter()
        .filter(|d| !referenced.contains(*d))
        .cloned()
        .collect()
}

/// An image found in the archive, before unpacking.
struct FoundImage {
    target: Descriptor,
    manifest: Descriptor,
    config: Descriptor,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    created: Option<String>,
    names: Vec<Reference>,
}

enum FileData {
    Small(Vec<u8>),
    Blob(Committed),
}

/// The files of an archive: small ones in memory, large ones already in
/// the content store; links resolved on lookup.
struct ArchiveFiles {
    files: HashMap<String, FileData>,
    links: HashMap<String, String>,
    /// Files already put in the content store, by path.
    committed: HashMap<String, Committed>,
}

fn corrupt(e: io::Error) -> ManagerError {
    ManagerError::InvalidArchive(format!("truncated or corrupt archive: {e}"))
}

/// Normalizes a path inside the archive: no leading "./" or "/", no "."
/// components, ".." resolved lexically.
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn read_archive(images: &Images, lease: &mut Lease<'_>, input: impl Read) -> Result<ArchiveFiles> {
    let mut out = ArchiveFiles {
        files: HashMap::new(),
        links: HashMap::new(),
        committed: HashMap::new(),
    };
    // Large files are committed (fsync, digest, rename) on a second thread
    // while the stream goes on, so syncing one blob overlaps receiving the
    // next.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(String, crate::content::Writer, u64)>();
        let committer = scope.spawn(move || {
            rx.into_iter()
                .map(|(path, w, size)| (path, w.commit(None, Some(size))))
                .collect::<Vec<_>>()
        });
        let read = read_entries(images, &mut out, input, &tx);
        drop(tx);
        let committed = committer
            .join()
            .map_err(|_| ManagerError::Internal("the blob committer panicked".into()))?;
        let mut first_err = None;
        for (path, res) in committed {
            match res {
                Ok(c) => {
                    lease.add_blob(&c);
                    out.files.insert(path, FileData::Blob(c));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        read?;
        first_err.map_or(Ok(()), Err)
    })?;
    Ok(out)
}

/// Copies with a 1 MiB buffer (io::copy's 8 KiB one costs a hash update and
/// a buffered write per 8 KiB).
fn copy_large(from: &mut impl Read, to: &mut impl io::Write) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        to.write_all(&buf[..n])
            .map_err(|e| ManagerError::io("write blob", e))?;
    }
}

type CommitQueue = std::sync::mpsc::Sender<(String, crate::content::Writer, u64)>;

fn read_entries(
    images: &Images,
    out: &mut ArchiveFiles,
    input: impl Read,
    commits: &CommitQueue,
) -> Result<()> {
    let mut archive = tar::Archive::new(TailTracker::new(decompressed(input)?));
    let spill = Spill {
        content: images.content(),
        load_id: rand::thread_rng().gen(),
        commits,
    };
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                take_file(out, &mut entry, path, &spill)?;
            }
            tar::EntryType::Symlink => {
                let resolved = symlink_target(&entry, &path);
                out.links.insert(path, resolved);
            }
            tar::EntryType::Link => {
                out.links.insert(path, normalize(&link_name(&entry)));
            }
            _ => {}
        }
    }
    let tracker = archive.into_inner();
    if !tracker.ended_with_zero_block() {
        return Err(ManagerError::InvalidArchive(
            "truncated archive: it ends before the end-of-archive marker".into(),
        ));
    }
    Ok(())
}

/// The archive stream, decompressed if its first bytes say it is.
fn decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(1 << 20, input);
    let head = buf.fill_buf().map_err(corrupt)?;
    if head.is_empty() {
        return Err(ManagerError::InvalidArchive("the archive is empty".into()));
    }
    Ok(match Compression::detect(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(buf).map_err(corrupt)?),
        Compression::None => Box::new(buf),
    })
}

/// Where large files go while the archive is read: each into a content
/// store writer, then to the committer thread.
struct Spill<'a> {
    content: &'a ContentStore,
    load_id: u64,
    commits: &'a CommitQueue,
}

impl Spill<'_> {
    fn send(&self, path: String, from: &mut impl Read, size: u64) -> Result<()> {
        let mut w = self
            .content
            .writer(&format!("load-{:016x}-{path}", self.load_id))?;
        copy_large(from, &mut w)?;
        self.commits
            .send((path, w, size))
            .map_err(|_| ManagerError::Internal("the blob committer stopped".into()))
    }
}

/// A regular file: kept in memory when small, else spilled to the store.
fn take_file<R: Read>(
    out: &mut ArchiveFiles,
    entry: &mut tar::Entry<'_, R>,
    path: String,
    spill: &Spill<'_>,
) -> Result<()> {
    let size = entry.size();
    if size > SMALL_FILE {
        return spill.send(path, entry, size);
    }
    let mut v = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut v).map_err(corrupt)?;
    out.files.insert(path, FileData::Small(v));
    Ok(())
}

/// The path a symlink at `path` points to, relative to the archive root.
fn symlink_target<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> String {
    let target = link_name(entry);
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    if target.starts_with('/') {
        normalize(&target)
    } else {
        normalize(&format!("{dir}/{target}"))
    }
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl ArchiveFiles {
    fn resolve<'a>(&'a self, path: &'a str) -> &'a str {
        let mut p = path;
        for _ in 0..16 {
            match self.links.get(p) {
                Some(t) => p = t,
                None => break,
            }
        }
        p
    }

    fn get(&self, path: &str) -> Option<&FileData> {
        self.files.get(self.resolve(&normalize(path)))
    }

    /// The bytes of a small file (a manifest, config or index).
    fn small(&self, path: &str) -> Result<Vec<u8>> {
        match self.get(path) {
            Some(FileData::Small(b)) => Ok(b.clone()),
            Some(FileData::Blob(_)) => Err(ManagerError::InvalidArchive(format!(
                "{path} is too large for a manifest or config"
            ))),
            None => Err(missing(path)),
        }
    }

    /// Puts a file into the content store (once) and checks it against the
    /// digest that refers to it.
    fn commit(
        &mut self,
        images: &Images,
        lease: &mut Lease<'_>,
        path: &str,
        claimed: Option<&str>,
    ) -> Result<Committed> {
        let key = self.resolve(&normalize(path)).to_string();
        let c = if let Some(c) = self.committed.get(&key) {
            c.clone()
        } else {
            let c = match self.files.get(&key) {
                None => return Err(missing(path)),
                Some(FileData::Blob(c)) => c.clone(),
                Some(FileData::Small(bytes)) => {
                    let actual = Digest::of(bytes);
                    if let Some(want) = claimed {
                        if want != actual.as_str() {
                            return Err(mismatch(path, want, &actual));
                        }
                    }
                    let c = images.content().write_blob(&format!("load-{key}"), bytes)?;
                    lease.add_blob(&c);
                    c
                }
            };
            self.committed.insert(key, c.clone());
            c
        };
        if let Some(want) = claimed {
            if want != c.digest.as_str() {
                return Err(mismatch(path, want, &c.digest));
            }
        }
        Ok(c)
    }

    /// The compression of a file's first bytes.
    fn compression(&self, images: &Images, path: &str) -> Result<Compression> {
        match self.get(path) {
            Some(FileData::Small(b)) => Ok(Compression::detect(b)),
            Some(FileData::Blob(c)) => {
                let mut head = [0u8; 4];
                let mut f = images.content().open_blob(&c.digest)?;
                let n = f
                    .read(&mut head)
                    .map_err(|e| ManagerError::io("read layer", e))?;
                Ok(Compression::detect(&head[..n]))
            }
            None => Err(missing(path)),
        }
    }

    /// The found of whichever layout the archive has.
    fn found(&mut self, images: &Images, lease: &mut Lease<'_>) -> Result<Vec<FoundImage>> {
        let found = if self.get("index.json").is_some() && self.get("oci-layout").is_some() {
            self.oci_images(images, lease)?
        } else if self.get("manifest.json").is_some() {
            self.legacy_images(images, lease)?
        } else {
            return Err(ManagerError::InvalidArchive(
                "found neither manifest.json nor index.json: not a docker save archive or OCI image layout".into(),
            ));
        };
        if found.is_empty() {
            return Err(ManagerError::InvalidArchive(
                "the archive holds no image".into(),
            ));
        }
        Ok(found)
    }

    /// Images of an OCI image layout (and docker 25+ archives).
    fn oci_images(&mut self, images: &Images, lease: &mut Lease<'_>) -> Result<Vec<FoundImage>> {
        let layout: serde_json::Value = serde_json::from_slice(&self.small("oci-layout")?)
            .map_err(|e| ManagerError::InvalidArchive(format!("oci-layout: {e}")))?;
        if layout.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(ManagerError::InvalidArchive(
                "oci-layout: unsupported imageLayoutVersion (want 1.0.0)".into(),
            ));
        }
        let index = Index::parse(&self.small("index.json")?, "index.json")?;
        let tags_by_config = self.tags_by_config()?;
        let mut out = Vec::new();
        for entry in &index.manifests {
            let target = entry.descriptor.clone();
            let (manifest_desc, manifest) = self.entry_manifest(images, lease, &target)?;
            let mut names: Vec<Reference> = annotated_name(&target)?.into_iter().collect();
            for t in tags_by_config
                .get(&manifest.config.digest)
                .into_iter()
                .flatten()
            {
                names.push(Reference::parse(t)?.with_default_tag());
            }
            names.dedup();
            let cpath = blob_path(&manifest.config.digest);
            let img = self.found_image(
                images,
                lease,
                target,
                manifest_desc,
                manifest,
                &cpath,
                names,
            )?;
            out.push(img);
        }
        Ok(out)
    }

    /// docker 25+ also writes manifest.json with the RepoTags of each
    /// config: those tags by config digest (none without the file).
    fn tags_by_config(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut tags_by_config: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if self.get("manifest.json").is_some() {
            for e in self.legacy_entries()? {
                if let Some(d) = e.config.strip_prefix("blobs/sha256/") {
                    tags_by_config
                        .entry(format!("sha256:{d}"))
                        .or_default()
                        .extend(e.repo_tags.unwrap_or_default());
                }
            }
        }
        Ok(tags_by_config)
    }

    /// The manifest an index.json entry stands for (the entry itself, or
    /// the host platform's entry of a nested index), checked against its
    /// descriptor and committed, the nested index with it.
    fn entry_manifest(
        &mut self,
        images: &Images,
        lease: &mut Lease<'_>,
        target: &Descriptor,
    ) -> Result<(Descriptor, Manifest)> {
        Digest::parse(&target.digest)?;
        let target_path = blob_path(&target.digest);
        let bytes = self.small(&target_path)?;
        check_blob(&target_path, target, &bytes)?;
        let manifest_desc = if media::is_index(&target.media_type) {
            let nested = Index::parse(&bytes, &target_path)?;
            let (os, arch, _) = media::host_platform();
            let chosen = nested.host_entry().ok_or_else(|| {
                ManagerError::NotFound(format!(
                    "index {} has no manifest for platform {os}/{arch}",
                    target.digest
                ))
            })?;
            self.commit(images, lease, &target_path, Some(&target.digest))?;
            chosen.descriptor.clone()
        } else if media::is_manifest(&target.media_type) {
            target.clone()
        } else {
            return Err(ManagerError::UnsupportedMediaType {
                media_type: target.media_type.clone(),
                what: format!("index.json entry {}", target.digest),
            });
        };
        let mpath = blob_path(&manifest_desc.digest);
        let mbytes = self.small(&mpath)?;
        check_blob(&mpath, &manifest_desc, &mbytes)?;
        let manifest = Manifest::parse(&mbytes, &format!("manifest {}", manifest_desc.digest))?;
        self.commit(images, lease, &mpath, Some(&manifest_desc.digest))?;
        Ok((manifest_desc, manifest))
    }

    fn legacy_entries(&self) -> Result<Vec<LegacyEntry>> {
        serde_json::from_slice(&self.small("manifest.json")?)
            .map_err(|e| ManagerError::InvalidArchive(format!("manifest.json: {e}")))
    }

    /// Images of a docker-save archive in the layout of docker < 25: a
    /// manifest is built for each (Docker v2 schema 2), as containerd does.
    fn legacy_images(&mut self, images: &Images, lease: &mut Lease<'_>) -> Result<Vec<FoundImage>> {
        let mut out = Vec::new();
        for e in self.legacy_entries()? {
            let config = self.commit(images, lease, &e.config, None)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let comp = self.compression(images, l)?;
                let c = self.commit(images, lease, l, None)?;
                layers.push(Descriptor {
                    media_type: comp.docker_layer_type().to_string(),
                    digest: c.digest.to_string(),
                    size: c.size,
                    annotations: Default::default(),
                });
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(media::DOCKER_MANIFEST.into()),
                config: Descriptor {
                    media_type: media::DOCKER_CONFIG.into(),
                    digest: config.digest.to_string(),
                    size: config.size,
                    annotations: Default::default(),
                },
                layers,
                annotations: None,
            };
            let desc = lease.store_json(
                &format!("load-manifest-{}", config.digest),
                media::DOCKER_MANIFEST,
                &manifest,
            )?;
            let names = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t).map(Reference::with_default_tag))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            out.push(self.found_image(
                images,
                lease,
                desc.clone(),
                desc,
                manifest,
                &e.config,
                names,
            )?);
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn found_image(
        &mut self,
        images: &Images,
        lease: &mut Lease<'_>,
        target: Descriptor,
        manifest_desc: Descriptor,
        manifest: Manifest,
        cpath: &str,
        names: Vec<Reference>,
    ) -> Result<FoundImage> {
        let config_bytes = self.small(cpath)?;
        check_blob(cpath, &manifest.config, &config_bytes)?;
        self.commit(images, lease, cpath, Some(&manifest.config.digest))?;
        let info = ConfigInfo::parse(&config_bytes, &format!("config {}", manifest.config.digest))?;
        for l in &manifest.layers {
            let lpath = blob_path(&l.digest);
            let c = if self.get(&lpath).is_some() {
                self.commit(images, lease, &lpath, Some(&l.digest))?
            } else {
                // Legacy manifests we built point at committed blobs.
                let d = Digest::parse(&l.digest)?;
                if !images.content().exists(&d) {
                    return Err(missing(&lpath));
                }
                Committed {
                    digest: d,
                    size: l.size,
                    created: false,
                }
            };
            if c.size != l.size {
                return Err(ManagerError::InvalidArchive(format!(
                    "layer {} is {} bytes but its descriptor says {}",
                    l.digest, c.size, l.size
                )));
            }
        }
        Ok(FoundImage {
            target,
            manifest: manifest_desc,
            config: manifest.config.clone(),
            layers: manifest.layers.clone(),
            diff_ids: info.diff_ids,
            created: info.created,
            names,
        })
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// The name an index.json entry's annotations give: containerd's, else a
/// full name in OCI's (a bare tag such as "latest" names no repository).
fn annotated_name(target: &Descriptor) -> Result<Option<Reference>> {
    let ann = &target.annotations;
    if let Some(n) = ann.get("io.containerd.image.name") {
        return Ok(Some(Reference::parse(n)?.with_default_tag()));
    }
    match ann.get("org.opencontainers.image.ref.name") {
        Some(n) if n.contains('/') || n.contains(':') => {
            Ok(Some(Reference::parse(n)?.with_default_tag()))
        }
        _ => Ok(None),
    }
}

fn missing(path: &str) -> ManagerError {
    ManagerError::InvalidArchive(format!("{path} is referenced but missing from the archive"))
}

fn mismatch(path: &str, want: &str, actual: &Digest) -> ManagerError {
    ManagerError::DigestMismatch {
        what: path.to_string(),
        expected: want.to_string(),
        actual: actual.to_string(),
    }
}

/// Checks in-memory bytes against their descriptor's digest and size.
fn check_blob(path: &str, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
    let actual = Digest::of(bytes);
    if actual.as_str() != desc.digest {
        return Err(mismatch(path, &desc.digest, &actual));
    }
    if desc.size != bytes.len() as u64 {
        return Err(ManagerError::InvalidArchive(format!(
            "{path} is {} bytes but its descriptor says {}",
            bytes.len(),
            desc.size
        )));
    }
    Ok(())
}

/// Remembers the last 512 bytes read, to tell an archive that ended with
/// its end-of-archive marker from one cut short at an entry boundary.
struct TailTracker<R> {
    inner: R,
    tail: [u8; 512],
    total: u64,
}

impl<R: Read> TailTracker<R> {
    fn new(inner: R) -> Self {
        TailTracker {
            inner,
            tail: [0xff; 512],
            total: 0,
        }
    }

    fn ended_with_zero_block(&self) -> bool {
        self.total >= 1024 && self.tail.iter().all(|&b| b == 0)
    }
}

impl<R: Read> Read for TailTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        if n >= 512 {
            self.tail.copy_from_slice(&got[n - 512..]);
        } else if n > 0 {
            self.tail.rotate_left(n);
            self.tail[512 - n..].copy_from_slice(got);
        }
        self.total += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./manifest.json"), "manifest.json");
        assert_eq!(normalize("/a/./b/../c"), "a/c");
        assert_eq!(normalize("../../x"), "x");
    }

    #[test]
    fn tail_tracker_sees_the_end_marker() {
        let mut data = vec![1u8; 2048];
        data.extend([0u8; 1024]);
        let mut t = TailTracker::new(&data[..]);
        let mut sink = Vec::new();
        let mut small = [0u8; 100];
        // Mixed read sizes.
        let n = t.read(&mut small).unwrap();
        sink.extend(&small[..n]);
        io::copy(&mut t, &mut sink).unwrap();
        assert!(t.ended_with_zero_block());
        let mut t = TailTracker::new(&data[..2048]);
        io::copy(&mut t, &mut Vec::new()).unwrap();
        assert!(!t.ended_with_zero_block());
    }
}
