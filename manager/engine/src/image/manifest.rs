//! The JSON documents of an image: manifests, indexes and the few parts of
//! the config berthd reads. Parsed leniently (unknown fields ignored) but
//! checked for what berthd relies on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::media;
use crate::error::{ManagerError, Result};
use crate::store::Descriptor;

/// An image manifest (OCI or Docker v2 schema 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// A platform of an index entry.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An index entry: a descriptor with an optional platform.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexEntry {
    #[serde(flatten)]
    pub descriptor: Descriptor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OCI index or Docker manifest list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<IndexEntry>,
}

impl Manifest {
    /// Parses and checks a manifest: schema version 2, known config and
    /// layer media types.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            ManagerError::InvalidArchive(format!("{what}: not a valid image manifest: {e}"))
        })?;
        if m.schema_version != 2 {
            return Err(ManagerError::InvalidArchive(format!(
                "{what}: unsupported manifest schema version {}",
                m.schema_version
            )));
        }
        if let Some(mt) = &m.media_type {
            if !media::is_manifest(mt) {
                return Err(ManagerError::UnsupportedMediaType {
                    media_type: mt.clone(),
                    what: what.to_string(),
                });
            }
        }
        if !media::is_config(&m.config.media_type) {
            return Err(ManagerError::UnsupportedMediaType {
                media_type: m.config.media_type.clone(),
                what: format!("the config of {what}"),
            });
        }
        for l in &m.layers {
            if !media::is_layer(&l.media_type) {
                return Err(ManagerError::UnsupportedMediaType {
                    media_type: l.media_type.clone(),
                    what: format!("layer {}", l.digest),
                });
            }
        }
        Ok(m)
    }
}

impl Index {
    /// Parses an index.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Index> {
        serde_json::from_slice(bytes).map_err(|e| {
            ManagerError::InvalidArchive(format!("{what}: not a valid image index: {e}"))
        })
    }

    /// The entry for the host platform, if any.
    pub fn host_entry(&self) -> Option<&IndexEntry> {
        self.entry_for(&PlatformSpec::host())
    }

    /// The image manifest for `want`: same OS and architecture, the
    /// variant when one is asked for (arm64's default v8 matches none); an
    /// entry without a platform matches anything, after the others.
    pub fn entry_for(&self, want: &PlatformSpec) -> Option<&IndexEntry> {
        let manifests = || {
            self.manifests
                .iter()
                .filter(|e| media::is_manifest(&e.descriptor.media_type))
        };
        let exact = manifests().find(|e| {
            e.platform.as_ref().is_some_and(|p| {
                p.os == want.os && p.architecture == want.architecture && want.variant_matches(p)
            })
        });
        exact.or_else(|| manifests().find(|e| e.platform.is_none()))
    }
}

/// A platform asked for: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// The platform berthd runs on.
    pub fn host() -> PlatformSpec {
        let (os, arch, _) = media::host_platform();
        PlatformSpec {
            os: os.into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]` (docker's --platform); `arch` alone means linux.
    pub fn parse(s: &str) -> Result<PlatformSpec> {
        let bad = || {
            ManagerError::InvalidArgument(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/arm64"
            ))
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if parts.iter().any(|p| !ok(p)) {
            return Err(bad());
        }
        let (os, arch, variant) = match parts[..] {
            [arch] => ("linux", arch, None),
            [os, arch] => (os, arch, None),
            [os, arch, v] => (os, arch, Some(v)),
            _ => return Err(bad()),
        };
        let arch = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        Ok(PlatformSpec {
            os: os.to_ascii_lowercase(),
            architecture: arch,
            variant: variant.map(|v| v.to_ascii_lowercase()),
        })
    }

    fn variant_matches(&self, p: &Platform) -> bool {
        let default = |arch: &str| match arch {
            "arm64" => Some("v8"),
            _ => None,
        };
        match &self.variant {
            None => true,
            Some(v) => p.variant.as_deref().or(default(&p.architecture)) == Some(v.as_str()),
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What berthd reads from an image config.
#[derive(Clone, Debug)]
pub struct ConfigInfo {
    pub diff_ids: Vec<String>,
    pub created: Option<String>,
}

impl ConfigInfo {
    /// Reads the diff IDs and creation time of a config.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ConfigInfo> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            ManagerError::InvalidArchive(format!("{what}: not a valid image config: {e}"))
        })?;
        let diff_ids = v
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ManagerError::InvalidArchive(format!("{what}: image config has no rootfs.diff_ids"))
            })?
            .iter()
            .map(|d| {
                d.as_str()
                    .filter(|s| crate::content::Digest::parse(s).is_ok())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ManagerError::InvalidArchive(format!("{what}: invalid diff ID {d}"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let created = v.get("created").and_then(Value::as_str).map(str::to_string);
        Ok(ConfigInfo { diff_ids, created })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_media_types_are_checked() {
        let good = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
          "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":1},
          "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:01","size":2}]}"#;
        assert!(Manifest::parse(good, "m").is_ok());
        let bad = String::from_utf8_lossy(good).replace("tar+gzip", "tar+lz4");
        let err = Manifest::parse(bad.as_bytes(), "m")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported media type"), "{err}");
        assert!(err.contains("tar+lz4"), "{err}");
    }

    #[test]
    fn index_picks_host() {
        let (os, arch, _) = media::host_platform();
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{m}","digest":"sha256:aa","size":1,"platform":{{"os":"linux","architecture":"s390x-nope"}}}},
            {{"mediaType":"{m}","digest":"sha256:bb","size":1,"platform":{{"os":"{os}","architecture":"{arch}"}}}}]}}"#,
            m = media::OCI_MANIFEST
        );
        let i = Index::parse(idx.as_bytes(), "i").unwrap();
        assert_eq!(i.host_entry().unwrap().descriptor.digest, "sha256:bb");
    }

    #[test]
    fn platforms_parse_and_match() {
        let p = PlatformSpec::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(PlatformSpec::parse("arm64").unwrap().os, "linux");
        assert_eq!(
            PlatformSpec::parse("linux/x86_64").unwrap().architecture,
            "amd64"
        );
        for bad in ["", "linux/", "a/b/c/d", "linux/am d64"] {
            assert!(PlatformSpec::parse(bad).is_err(), "{bad:?}");
        }
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{m}","digest":"sha256:aa","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{m}","digest":"sha256:bb","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
            {{"mediaType":"{m}","digest":"sha256:cc","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
            m = media::OCI_MANIFEST
        );
        let i = Index::parse(idx.as_bytes(), "i").unwrap();
        let pick = |s: &str| {
            i.entry_for(&PlatformSpec::parse(s).unwrap())
                .map(|e| e.descriptor.digest.clone())
        };
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:aa"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:bb"));
        assert_eq!(pick("linux/arm/v6"), None);
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("sha256:cc"));
        assert_eq!(pick("linux/s390x"), None);
    }

    #[test]
    fn config_diff_ids() {
        let c = br#"{"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        let ci = ConfigInfo::parse(c, "c").unwrap();
        assert_eq!(ci.diff_ids.len(), 1);
        assert!(ConfigInfo::parse(b"{}", "c").is_err());
    }
}
