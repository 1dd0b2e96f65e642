//! Image fixtures built in memory: layer tars, a busybox root filesystem
//! from the host's static busybox, and image archives in docker's legacy
//! docker-save layout or the OCI layout docker 25+ writes — with optional
//! tampering, so bad-input tests are built by the same code as good ones.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

/// "sha256:<hex>" of bytes.
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Builds a layer tar entry by entry.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode);
        self.b
            .append_data(&mut h, path, std::io::empty())
            .expect("tar dir");
        self
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> Self {
        self.file_mode(path, data, 0o644);
        self
    }

    fn file_mode(&mut self, path: &str, data: &[u8], mode: u32) {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, mode);
        self.b.append_data(&mut h, path, data).expect("tar file");
    }

    pub fn exec(mut self, path: &str, data: &[u8]) -> Self {
        self.file_mode(path, data, 0o755);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777);
        self.b
            .append_link(&mut h, path, target)
            .expect("tar symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0, 0o644);
        self.b
            .append_link(&mut h, path, target)
            .expect("tar hardlink");
        self
    }

    /// An OCI whiteout deleting `path` from the layers below.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, b"")
    }

    /// A regular file whose raw name is written as given, bypassing the
    /// tar crate's checks: for entries like "../../evil".
    pub fn raw_file(mut self, raw_name: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644);
        let name = raw_name.as_bytes();
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        self.b.append(&h, data).expect("tar raw");
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.b.into_inner().expect("tar finish")
    }
}

/// A root filesystem with the host's static busybox: /bin/busybox, a
/// symlink per applet, /etc/passwd, /etc/group, /tmp (1777), /root.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    let busybox = crate::require_busybox();
    let bin = std::fs::read(&busybox).expect("read busybox");
    let list = std::process::Command::new(&busybox)
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    let mut l = LayerBuilder::new()
        .dir("bin", 0o755)
        .dir("sbin", 0o755)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .dir("usr/sbin", 0o755)
        .dir("etc", 0o755)
        .dir("root", 0o700)
        .dir("tmp", 0o1777)
        .dir("proc", 0o555)
        .dir("dev", 0o755)
        .dir("sys", 0o555)
        .exec("bin/busybox", &bin)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n\
alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .file(
            "etc/group",
            b"root:x:0:\nwheel:x:10:alice\nalice:x:1000:\nnogroup:x:65534:\n",
        );
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let depth = applet.matches('/').count();
        let target = format!("{}bin/busybox", "../".repeat(depth));
        l = l.symlink(applet, &target);
    }
    l.build()
}

/// The layout of an image archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// docker < 25: `<id>/layer.tar`, `<id>.json`, `manifest.json`.
    Legacy,
    /// docker 25+ / OCI: `oci-layout`, `index.json`, `blobs/sha256/...`,
    /// plus `manifest.json`.
    Oci,
}

/// How to spoil an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Cut the archive to this fraction of its length (percent).
    Truncate(usize),
    /// Change a byte of the first layer after its digest was taken.
    LayerBytes,
    /// Change the manifest blob after its digest was taken (OCI layout).
    ManifestBytes,
    /// Give the first layer this media type (OCI layout).
    LayerMediaType(String),
}

/// One image of an archive.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub tags: Vec<String>,
    pub layers: Vec<Vec<u8>>,
    pub cmd: Vec<String>,
    /// The config's Env; PATH by default, as docker images have.
    pub env: Vec<String>,
    pub created: String,
    /// The history's "created_by" of each layer ("layer N" when missing).
    pub created_by: Vec<String>,
    /// More fields of the config's "config" object (User, Entrypoint,
    /// WorkingDir, StopSignal, ExposedPorts, ...).
    pub config_extra: Vec<(String, serde_json::Value)>,
}

impl ImageSpec {
    pub fn new(tag: &str, layers: Vec<Vec<u8>>) -> Self {
        ImageSpec {
            tags: if tag.is_empty() {
                vec![]
            } else {
                vec![tag.to_string()]
            },
            layers,
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            created: "2024-01-02T03:04:05Z".into(),
            created_by: vec![],
            config_extra: vec![],
        }
    }

    /// Sets a field of the config's "config" object.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.config_extra.push((key.to_string(), value));
        self
    }

    fn config(&self, diff_ids: &[String]) -> Vec<u8> {
        let history: Vec<_> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let by = self
                    .created_by
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("/bin/sh -c #(nop) layer {i}"));
                json!({"created": self.created, "created_by": by})
            })
            .chain(std::iter::once(json!({
                "created": self.created,
                "created_by": format!("/bin/sh -c #(nop) CMD {:?}", self.cmd),
                "empty_layer": true
            })))
            .collect();
        let mut config = json!({"Cmd": self.cmd, "Env": self.env});
        for (k, v) in &self.config_extra {
            config[k] = v.clone();
        }
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .expect("config json")
    }
}

/// Writes image archives.
pub struct ImageBuilder {
    pub layout: Layout,
    pub gzip: bool,
    pub images: Vec<ImageSpec>,
    pub tamper: Tamper,
}

impl ImageBuilder {
    pub fn new(layout: Layout, images: Vec<ImageSpec>) -> Self {
        ImageBuilder {
            layout,
            gzip: false,
            images,
            tamper: Tamper::None,
        }
    }

    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    pub fn tamper(mut self, t: Tamper) -> Self {
        self.tamper = t;
        self
    }

    /// The archive's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = tar::Builder::new(Vec::new());
        let mut written = std::collections::BTreeSet::new();
        let mut add = |out: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
            if written.insert(path.to_string()) {
                let mut h = tar::Header::new_ustar();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(0);
                out.append_data(&mut h, path, data).expect("archive entry");
            }
        };
        let mut manifest_json = Vec::new();
        let mut index = Vec::new();
        let mut repositories: std::collections::BTreeMap<
            String,
            serde_json::Map<String, serde_json::Value>,
        > = Default::default();
        for (n, img) in self.images.iter().enumerate() {
            let diff_ids: Vec<String> = img.layers.iter().map(|l| sha256(l)).collect();
            let config = img.config(&diff_ids);
            let config_digest = sha256(&config);
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            for (i, layer) in img.layers.iter().enumerate() {
                let mut bytes = layer.clone();
                let digest = sha256(&bytes);
                if n == 0 && i == 0 && self.tamper == Tamper::LayerBytes {
                    let k = bytes.len() / 3;
                    bytes[k] ^= 0xff;
                }
                let media_type = match &self.tamper {
                    Tamper::LayerMediaType(mt) if n == 0 && i == 0 => mt.clone(),
                    _ => "application/vnd.oci.image.layer.v1.tar".to_string(),
                };
                let path = match self.layout {
                    Layout::Legacy => format!("{}/layer.tar", &digest[7..]),
                    Layout::Oci => format!("blobs/sha256/{}", &digest[7..]),
                };
                add(&mut out, &path, &bytes);
                if self.layout == Layout::Legacy {
                    // docker < 25 also wrote a v1 "json" and "VERSION" per
                    // layer directory; loaders must ignore them.
                    let dir = &digest[7..];
                    add(&mut out, &format!("{dir}/VERSION"), b"1.0");
                    let v1 = json!({"id": dir, "created": img.created});
                    add(
                        &mut out,
                        &format!("{dir}/json"),
                        &serde_json::to_vec(&v1).expect("v1 json"),
                    );
                }
                layer_paths.push(path);
                layer_descs
                    .push(json!({"mediaType": media_type, "digest": digest, "size": layer.len()}));
            }
            let config_path = match self.layout {
                Layout::Legacy => format!("{}.json", &config_digest[7..]),
                Layout::Oci => format!("blobs/sha256/{}", &config_digest[7..]),
            };
            add(&mut out, &config_path, &config);
            if let Some(top) = layer_paths.last() {
                let top = top.split('/').next().unwrap_or_default().to_string();
                for t in &img.tags {
                    if let Some((repo, tag)) =
                        t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/'))
                    {
                        repositories
                            .entry(repo.to_string())
                            .or_default()
                            .insert(tag.to_string(), json!(top.clone()));
                    }
                }
            }
            manifest_json
                .push(json!({"Config": config_path, "RepoTags": img.tags, "Layers": layer_paths}));
            if self.layout == Layout::Oci {
                let manifest = serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
                    "layers": layer_descs,
                }))
                .expect("manifest json");
                let mdigest = sha256(&manifest);
                let mut mbytes = manifest.clone();
                if n == 0 && self.tamper == Tamper::ManifestBytes {
                    // Same length, different bytes.
                    let k = mbytes.iter().position(|&b| b == b'2').expect("a 2");
                    mbytes[k] = b'3';
                }
                add(
                    &mut out,
                    &format!("blobs/sha256/{}", &mdigest[7..]),
                    &mbytes,
                );
                let tag = img.tags.first().cloned();
                let mut entry = json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": mdigest,
                    "size": manifest.len(),
                });
                if let Some(t) = tag {
                    let full = if t.contains('/') {
                        t.clone()
                    } else {
                        format!("docker.io/library/{t}")
                    };
                    entry["annotations"] = json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": t.rsplit(':').next().unwrap_or("latest"),
                    });
                }
                index.push(entry);
            }
        }
        if self.layout == Layout::Oci {
            let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index})).expect("index");
            add(&mut out, "index.json", &idx);
            add(&mut out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        }
        let mj = serde_json::to_vec(&manifest_json).expect("manifest.json");
        add(&mut out, "manifest.json", &mj);
        if self.layout == Layout::Legacy && !repositories.is_empty() {
            let r = serde_json::to_vec(&repositories).expect("repositories");
            add(&mut out, "repositories", &r);
        }
        let mut bytes = out.into_inner().expect("archive");
        if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).expect("gzip");
            bytes = gz.finish().expect("gzip");
        }
        if let Tamper::Truncate(pct) = self.tamper {
            bytes.truncate(bytes.len() * pct / 100);
        }
        bytes
    }

    /// Writes the archive to a file.
    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, self.build()).expect("write archive");
    }
}

/// The busybox image: one layer from the host's static busybox, CMD ["sh"].
pub fn busybox_image(tag: &str) -> ImageSpec {
    let mut spec = ImageSpec::new(tag, vec![busybox_rootfs_tar()]);
    spec.created_by = vec!["ADD busybox-static rootfs in / (berth make-image)".into()];
    spec
}

/// The busybox image as a docker-save archive.
pub fn busybox_archive(layout: Layout, tag: &str) -> Vec<u8> {
    ImageBuilder::new(layout, vec![busybox_image(tag)]).build()
}

/// A layer of `files` files of `mib` MiB each of incompressible bytes.
pub fn random_layer(name: &str, files: usize, mib: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut l = LayerBuilder::new().dir(name, 0o755);
    let mut buf = vec![0u8; mib << 20];
    for i in 0..files {
        rand::thread_rng().fill_bytes(&mut buf);
        l = l.file(&format!("{name}/file{i}"), &buf);
    }
    l.build()
}

/// Entries for the tests of what other users can reach: device nodes, and files with any mode
/// (setuid and setgid bits included), all owned by root.
impl LayerBuilder {
    /// A character device node `major:minor` with `mode` (e.g. 1:3, /dev/null, 0o666).
    pub fn char_device(mut self, path: &str, major: u32, minor: u32, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Char, 0, mode);
        h.set_device_major(major).expect("device major");
        h.set_device_minor(minor).expect("device minor");
        self.b
            .append_data(&mut h, path, std::io::empty())
            .expect("tar char device");
        self
    }

    /// A regular file with `mode`, e.g. 0o4755 for a setuid-root executable.
    pub fn file_with_mode(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        self.file_mode(path, data, mode);
        self
    }
}
