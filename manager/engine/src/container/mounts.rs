//! A container's mounts beside its rootfs, as docker's MountPoints: parsed
//! once at create from `-v`, `--mount`, `--tmpfs` and `--volumes-from`
//! (docker's syntax and its messages), kept in the record, and turned into
//! the OCI spec's mounts. The resolution (which volume, which container) is
//! in [`super::volumes`]; this file is the pure part.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ManagerError, Result};

/// What kind of mount a [`MountPoint`] is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

/// One of the container's mounts, as docker's inspect shows it (`Mounts`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountPoint {
    #[serde(rename = "type")]
    pub kind: MountType,
    /// The volume's name (volumes only).
    pub name: String,
    /// The host path: a bind's source, a volume's `_data`; "" for tmpfs.
    pub source: String,
    /// Absolute, cleaned, inside the container.
    pub destination: String,
    /// "local" for volumes.
    pub driver: String,
    /// The mode as given (`-v`'s third field; "z" for a named `-v` volume
    /// without one, as docker shows it).
    pub mode: String,
    pub rw: bool,
    /// Binds only: "rprivate" unless given.
    pub propagation: String,
    /// A new volume gets the image's content at the destination
    /// (`nocopy`/`volume-nocopy` turn it off).
    pub copy_data: bool,
    /// The volume is created for this container (`-v /path`, an image
    /// VOLUME, `--mount type=volume` without a source).
    pub anonymous: bool,
    /// tmpfs: mount(8) data ("size=..", "mode=..").
    pub tmpfs_options: Vec<String>,
    /// `--mount ...,volume-opt=K=V,volume-label=K=V` for a volume created
    /// now.
    pub volume_options: BTreeMap<String, String>,
    pub volume_labels: BTreeMap<String, String>,
}

/// docker's propagation modes.
const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn invalid(msg: String) -> ManagerError {
    ManagerError::InvalidArgument(msg)
}

/// Lexically cleans an absolute path (no `.`, `..`, repeated or trailing
/// slashes); a relative one is docker's "mount path must be absolute".
pub fn clean_target(kind: MountType, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{path}' mount path must be absolute",
            kind.as_str()
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(invalid(format!(
            "invalid mount config for type \"{}\": invalid specification: destination can't be '/'",
            kind.as_str()
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The words of a `-v` mode: ro|rw, nocopy, z|Z, a propagation.
#[derive(Debug, Default, PartialEq, Eq)]
struct VolumeMode {
    rw: bool,
    nocopy: bool,
    propagation: Option<String>,
}

fn parse_mode(mode: &str) -> Result<VolumeMode> {
    let mut m = VolumeMode {
        rw: true,
        ..Default::default()
    };
    let (mut rw_seen, mut label_seen) = (false, false);
    for w in mode.split(',') {
        let dup = match w {
            "ro" | "rw" => std::mem::replace(&mut rw_seen, true),
            "z" | "Z" => std::mem::replace(&mut label_seen, true),
            "nocopy" => std::mem::replace(&mut m.nocopy, true),
            p if PROPAGATIONS.contains(&p) => m.propagation.replace(p.to_string()).is_some(),
            _ => true,
        };
        if dup {
            return Err(invalid(format!("invalid mode: {mode}")));
        }
        if w == "ro" {
            m.rw = false;
        }
    }
    Ok(m)
}

/// `-v` parsed: a mount point (bind or named volume) or an anonymous
/// volume's destination (docker puts those in Config.Volumes).
#[derive(Debug, PartialEq, Eq)]
pub enum VolumeFlag {
    Mount(MountPoint),
    Anonymous(String),
}

/// docker's `-v SRC:DST[:MODE]` / `-v DST`: SRC is a host path (absolute)
/// or a volume name.
pub fn parse_volume_flag(spec: &str) -> Result<VolumeFlag> {
    let bad = || invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] if !dst.is_empty() => {
            let dst = clean_target(MountType::Volume, dst)
                .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
            return Ok(VolumeFlag::Anonymous(dst));
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(bad()),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(bad());
    }
    let kind = if src.starts_with('/') {
        MountType::Bind
    } else {
        MountType::Volume
    };
    let destination = clean_target(kind, dst)
        .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
    let m = if mode.is_empty() {
        parse_mode("rw")?
    } else {
        parse_mode(mode)?
    };
    if kind == MountType::Bind && m.nocopy {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    if kind == MountType::Volume {
        crate::volume::validate_name(src)?;
    }
    Ok(VolumeFlag::Mount(MountPoint {
        kind,
        name: if kind == MountType::Volume {
            src.to_string()
        } else {
            String::new()
        },
        source: if kind == MountType::Bind {
            src.to_string()
        } else {
            String::new()
        },
        destination,
        driver: String::new(),
        mode: if mode.is_empty() && kind == MountType::Volume {
            "z".into()
        } else {
            mode.to_string()
        },
        rw: m.rw,
        propagation: match kind {
            MountType::Bind => m.propagation.unwrap_or_else(|| "rprivate".into()),
            _ => String::new(),
        },
        copy_data: !m.nocopy,
        ..Default::default()
    }))
}

/// What `--mount` collected before the checks that need every key.
#[derive(Default)]
struct MountFields {
    kind: String,
    source: String,
    target: String,
    read_only: bool,
    volume_opts: bool,
    nocopy: bool,
    bind_opts: bool,
    propagation: Option<String>,
    tmpfs_opts: bool,
    tmpfs: Vec<String>,
    driver: String,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

fn parse_bool(key: &str, v: &str) -> std::result::Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// docker's RAMInBytes: "64m", "1g", "512k", "100" (binary units).
fn ram_in_bytes(v: &str) -> Option<u64> {
    let s = v.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.strip_suffix('i').unwrap_or(unit) {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

impl MountFields {
    /// One `key[=value]` field.
    fn field(&mut self, field: &str) -> std::result::Result<(), String> {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => self.read_only = true,
                "volume-nocopy" => {
                    self.volume_opts = true;
                    self.nocopy = true;
                }
                "bind-nonrecursive" => self.bind_opts = true,
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            return Ok(());
        };
        self.keyed(&key, value, field)
    }

    fn keyed(&mut self, key: &str, value: &str, field: &str) -> std::result::Result<(), String> {
        let kv = |v: &str| match v.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (v.to_string(), String::new()),
        };
        match key {
            "type" => self.kind = value.to_ascii_lowercase(),
            "source" | "src" => self.source = value.to_string(),
            "target" | "dst" | "destination" => self.target = value.to_string(),
            "readonly" | "ro" => self.read_only = parse_bool(key, value)?,
            "consistency" => {}
            "bind-propagation" => {
                self.bind_opts = true;
                self.propagation = Some(value.to_ascii_lowercase());
            }
            "bind-nonrecursive" => {
                self.bind_opts = true;
                parse_bool(key, value)?;
            }
            "volume-nocopy" => {
                self.volume_opts = true;
                self.nocopy = parse_bool(key, value)
                    .map_err(|_| format!("invalid value for volume-nocopy: {value}"))?;
            }
            "volume-label" | "volume-driver" | "volume-opt" => {
                self.volume_opts = true;
                match key {
                    "volume-label" => drop(self.labels.insert(kv(value).0, kv(value).1)),
                    "volume-driver" => self.driver = value.to_string(),
                    _ => drop(self.options.insert(kv(value).0, kv(value).1)),
                }
            }
            "tmpfs-size" | "tmpfs-mode" => {
                self.tmpfs_opts = true;
                let bad = || format!("invalid value for {key}: {value}");
                let opt = if key == "tmpfs-size" {
                    format!("size={}", ram_in_bytes(value).ok_or_else(bad)?)
                } else {
                    let mode = u32::from_str_radix(value, 8).map_err(|_| bad())?;
                    format!("mode={mode:o}")
                };
                self.tmpfs.push(opt);
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
        Ok(())
    }

    /// The checks docker's CLI makes once every field is in.
    fn check(&self) -> std::result::Result<(), String> {
        if self.target.is_empty() {
            return Err("target is required".into());
        }
        let mixes = [
            (self.volume_opts, "volume", "volume-*"),
            (self.bind_opts, "bind", "bind-*"),
            (self.tmpfs_opts, "tmpfs", "tmpfs-*"),
        ];
        for (set, kind, opts) in mixes {
            if set && self.kind != kind {
                return Err(format!(
                    "cannot mix '{opts}' options with mount type '{}'",
                    self.kind
                ));
            }
        }
        Ok(())
    }
}

/// docker's `--mount` (CSV fields, as docker's CLI reads them).
pub fn parse_mount_flag(spec: &str) -> Result<MountPoint> {
    let flag_err = |m: String| {
        invalid(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: {m}"
        ))
    };
    let mut f = MountFields {
        kind: "volume".into(),
        ..Default::default()
    };
    for field in csv_fields(spec).map_err(flag_err)? {
        f.field(&field).map_err(flag_err)?;
    }
    f.check().map_err(flag_err)?;
    mount_point(f)
}

/// The daemon's checks of a `--mount`, then its mount point.
fn mount_point(f: MountFields) -> Result<MountPoint> {
    let kind = match f.kind.as_str() {
        "bind" => MountType::Bind,
        "volume" => MountType::Volume,
        "tmpfs" => MountType::Tmpfs,
        other => {
            return Err(invalid(format!(
                "invalid mount config for type \"{other}\": mount type unknown"
            )))
        }
    };
    let cfg = |m: &str| {
        invalid(format!(
            "invalid mount config for type \"{}\": {m}",
            kind.as_str()
        ))
    };
    let destination = clean_target(kind, &f.target)?;
    match kind {
        MountType::Bind if f.source.is_empty() => {
            return Err(cfg("field Source must not be empty"))
        }
        MountType::Bind if !f.source.starts_with('/') => {
            return Err(cfg(&format!(
                "invalid mount path: '{}' mount path must be absolute",
                f.source
            )))
        }
        MountType::Tmpfs if !f.source.is_empty() => return Err(cfg("field Source must be empty")),
        MountType::Volume if !f.source.is_empty() => crate::volume::validate_name(&f.source)?,
        _ => {}
    }
    if let Some(p) = f
        .propagation
        .as_deref()
        .filter(|p| !PROPAGATIONS.contains(p))
    {
        return Err(cfg(&format!("invalid propagation mode: {p}")));
    }
    if kind == MountType::Volume {
        crate::volume::record::check_driver(&f.source, &f.driver)?;
    }
    let anonymous = kind == MountType::Volume && f.source.is_empty();
    Ok(MountPoint {
        kind,
        name: if kind == MountType::Volume {
            f.source.clone()
        } else {
            String::new()
        },
        source: if kind == MountType::Bind {
            f.source
        } else {
            String::new()
        },
        destination,
        mode: String::new(),
        rw: !f.read_only,
        propagation: match kind {
            MountType::Bind => f.propagation.unwrap_or_else(|| "rprivate".into()),
            _ => String::new(),
        },
        copy_data: !f.nocopy,
        anonymous,
        tmpfs_options: f.tmpfs,
        volume_options: f.options,
        volume_labels: f.labels,
        ..Default::default()
    })
}

/// One CSV record (docker's CLI reads `--mount` with encoding/csv, so a
/// field may be quoted to hold a comma).
fn csv_fields(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if cur.is_empty() => quoted = true,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("parse error: extraneous or missing \" in quoted-field".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// docker's `--tmpfs PATH[:OPTIONS]`: the destination and its mount(8)
/// options.
pub fn parse_tmpfs_flag(spec: &str) -> Result<(String, String)> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let dst = clean_target(MountType::Tmpfs, path)
        .map_err(|e| invalid(format!("invalid tmpfs specification: '{spec}': {e}")))?;
    Ok((dst, opts.to_string()))
}

/// docker's `--volumes-from CONTAINER[:ro|rw]`: the container and the mode
/// that overrides its mounts' (None keeps theirs).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.split_once(':') {
        None if !spec.is_empty() => Ok((spec.to_string(), None)),
        Some((c, "rw")) if !c.is_empty() => Ok((c.to_string(), Some(true))),
        Some((c, "ro")) if !c.is_empty() => Ok((c.to_string(), Some(false))),
        Some((_, m)) => Err(invalid(format!("invalid mode: {m}"))),
        None => Err(invalid("invalid volumes-from specification: ''".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn volume_flags() {
        let VolumeFlag::Mount(m) = parse_volume_flag("data:/d/").unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.kind, m.name.as_str(), m.destination.as_str()),
            (MountType::Volume, "data", "/d")
        );
        assert_eq!((m.mode.as_str(), m.rw, m.copy_data), ("z", true, true));
        let VolumeFlag::Mount(m) = parse_volume_flag("data:/d:ro,nocopy").unwrap() else {
            panic!()
        };
        assert!(!m.rw && !m.copy_data && m.mode == "ro,nocopy");
        let VolumeFlag::Mount(m) = parse_volume_flag("/src:/d:ro").unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.kind, m.source.as_str(), m.propagation.as_str()),
            (MountType::Bind, "/src", "rprivate")
        );
        let VolumeFlag::Mount(m) = parse_volume_flag("/src:/d:rshared").unwrap() else {
            panic!()
        };
        assert_eq!(m.propagation, "rshared");
        assert_eq!(
            parse_volume_flag("/data").unwrap(),
            VolumeFlag::Anonymous("/data".into())
        );
        assert_eq!(
            err(parse_volume_flag("a:b:c:d")),
            "invalid volume specification: 'a:b:c:d'"
        );
        assert_eq!(
            err(parse_volume_flag(":/d")),
            "invalid volume specification: ':/d'"
        );
        assert_eq!(err(parse_volume_flag("v:/d:xx")), "invalid mode: xx");
        assert_eq!(err(parse_volume_flag("v:/d:ro,rw")), "invalid mode: ro,rw");
        assert_eq!(
            err(parse_volume_flag("/s:/d:nocopy")),
            "invalid mode: nocopy"
        );
        assert!(err(parse_volume_flag("v:rel")).contains("'rel' mount path must be absolute"));
        assert!(err(parse_volume_flag("rel")).contains("'rel' mount path must be absolute"));
        assert!(err(parse_volume_flag("v:/")).contains("destination can't be '/'"));
        assert!(err(parse_volume_flag("a b:/d")).contains("includes invalid characters"));
    }

    #[test]
    fn mount_flags() {
        let m = parse_mount_flag("type=bind,src=/s,target=/d,readonly,bind-propagation=rslave")
            .unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.rw, m.propagation.as_str()),
            (MountType::Bind, "/s", false, "rslave")
        );
        let m = parse_mount_flag("source=vol,destination=/d,volume-nocopy,volume-opt=type=tmpfs")
            .unwrap();
        assert_eq!(
            (m.kind, m.name.as_str(), m.copy_data),
            (MountType::Volume, "vol", false)
        );
        assert_eq!(
            m.volume_options.get("type").map(String::as_str),
            Some("tmpfs")
        );
        let m = parse_mount_flag("type=volume,dst=/d").unwrap();
        assert!(m.anonymous && m.name.is_empty());
        let m = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(m.tmpfs_options, ["size=1048576", "mode=1770"]);
        let p = "invalid argument \"type=bind,foo=1,dst=/d\" for \"--mount\" flag: ";
        assert_eq!(
            err(parse_mount_flag("type=bind,foo=1,dst=/d")),
            format!("{p}unexpected key 'foo' in 'foo=1'")
        );
        assert!(err(parse_mount_flag("type=bind,src=/s")).ends_with("target is required"));
        assert!(err(parse_mount_flag("type=bind,bogus,dst=/d"))
            .ends_with("invalid field 'bogus' must be a key=value pair"));
        assert!(
            err(parse_mount_flag("type=bind,src=/s,dst=/d,volume-nocopy"))
                .ends_with("cannot mix 'volume-*' options with mount type 'bind'")
        );
        assert!(err(parse_mount_flag("type=volume,dst=/d,tmpfs-size=1m"))
            .ends_with("cannot mix 'tmpfs-*' options with mount type 'volume'"));
        assert!(err(parse_mount_flag("type=tmpfs,dst=/d,tmpfs-size=lots"))
            .ends_with("invalid value for tmpfs-size: lots"));
        assert!(err(parse_mount_flag("type=bind,dst=/d,ro=maybe"))
            .ends_with("invalid value for ro: maybe"));
        assert_eq!(
            err(parse_mount_flag("type=nfs,dst=/d")),
            "invalid mount config for type \"nfs\": mount type unknown"
        );
        assert_eq!(
            err(parse_mount_flag("type=bind,dst=/d")),
            "invalid mount config for type \"bind\": field Source must not be empty"
        );
        assert_eq!(
            err(parse_mount_flag("type=tmpfs,src=x,dst=/d")),
            "invalid mount config for type \"tmpfs\": field Source must be empty"
        );
        assert!(err(parse_mount_flag("type=bind,src=/s,dst=rel"))
            .contains("'rel' mount path must be absolute"));
        assert!(err(parse_mount_flag("src=vol,dst=/d,volume-driver=nfs"))
            .contains("plugin \"nfs\" not found"));
        let m = parse_mount_flag("type=bind,\"src=/a,b\",dst=/d").unwrap();
        assert_eq!(m.source, "/a,b");
    }

    #[test]
    fn tmpfs_and_volumes_from() {
        assert_eq!(
            parse_tmpfs_flag("/t:size=1m,mode=700").unwrap(),
            ("/t".into(), "size=1m,mode=700".into())
        );
        assert!(err(parse_tmpfs_flag("t")).contains("must be absolute"));
        assert_eq!(parse_volumes_from("c").unwrap(), ("c".into(), None));
        assert_eq!(
            parse_volumes_from("c:ro").unwrap(),
            ("c".into(), Some(false))
        );
        assert_eq!(err(parse_volumes_from("c:xx")), "invalid mode: xx");
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("x"), None);
    }
}
