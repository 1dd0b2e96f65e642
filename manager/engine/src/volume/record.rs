//! A volume's record and the checks on what names it: docker's name rule
//! for local volumes and the local driver's options.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ManagerError, Result};

/// The one driver berth has.
pub const LOCAL: &str = "local";

/// Where a volume is in its life. A record is written `Creating` before
/// its directory exists and `Removing` before its directory goes, so at
/// start-up an interrupted create or remove is undone or finished
/// (recover.rs) and record and directory never disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeState {
    Creating,
    #[default]
    Ready,
    Removing,
}

/// One volume (daemon-wide, as docker's are: every namespace sees it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// `None` when none were given (inspect shows null, as docker does for
    /// a volume a container made).
    pub labels: Option<BTreeMap<String, String>>,
    /// The local driver's `-o` options (type, device, o).
    pub options: Option<BTreeMap<String, String>>,
    /// RFC 3339.
    pub created_at: String,
    /// Made for a container (`-v /path`, an image's VOLUME): a random name,
    /// removed by `rm -v`, `run --rm` and `volume prune`.
    pub anonymous: bool,
    pub state: VolumeState,
}

impl VolumeRecord {
    /// The local driver's mount, when its options ask for one.
    pub fn local_mount(&self) -> Option<LocalMount> {
        LocalMount::of(self.options.as_ref()?)
    }
}

/// `ROOT/volumes/<name>`.
pub fn volume_dir(config: &Config, name: &str) -> PathBuf {
    config.root.join("volumes").join(name)
}

/// `ROOT/volumes/<name>/_data`: what containers see.
pub fn data_dir(config: &Config, name: &str) -> PathBuf {
    volume_dir(config, name).join("_data")
}

/// docker's rule for a local volume's name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let ok = first_ok
        && !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c));
    if ok {
        return Ok(());
    }
    Err(ManagerError::InvalidArgument(format!(
        "create {name}: {name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// A driver name: only "local" (or empty) is known.
pub fn check_driver(name: &str, driver: &str) -> Result<String> {
    match driver {
        "" | LOCAL => Ok(LOCAL.to_string()),
        other => Err(ManagerError::NotFound(format!(
            "create {name}: error looking up volume plugin {other}: plugin \"{other}\" not found"
        ))),
    }
}

/// The local driver's options, as docker's local driver checks them.
pub fn check_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    let bad = |m: String| ManagerError::InvalidArgument(format!("create {name}: {m}"));
    for key in opts.keys() {
        if !["type", "device", "o"].contains(&key.as_str()) {
            return Err(bad(format!("invalid option key: {key:?}")));
        }
    }
    let required: &[(&str, &[&str])] = &[
        ("device", &["type"]),
        ("type", &["device"]),
        ("o", &["device", "type"]),
    ];
    for (opt, needs) in required {
        if opts.contains_key(*opt) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(bad(format!("missing required option: {missing:?}")));
            }
        }
    }
    Ok(())
}

/// What the local driver mounts on `_data`: `mount -t TYPE -o O DEVICE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMount {
    pub fstype: String,
    pub device: String,
    pub options: String,
}

impl LocalMount {
    fn of(opts: &BTreeMap<String, String>) -> Option<LocalMount> {
        let device = opts.get("device")?;
        Some(LocalMount {
            fstype: opts.get("type").cloned().unwrap_or_default(),
            device: device.clone(),
            options: opts.get("o").cloned().unwrap_or_default(),
        })
    }

    /// `o=` split as mount(8) does: the flags it knows, the rest as the
    /// file system's data.
    pub fn flags_and_data(&self) -> (nix::mount::MsFlags, String) {
        use nix::mount::MsFlags as F;
        let mut flags = F::empty();
        let mut data = Vec::new();
        for o in self.options.split(',').filter(|o| !o.is_empty()) {
            let (set, clear) = match o {
                "ro" => (F::MS_RDONLY, F::empty()),
                "rw" => (F::empty(), F::MS_RDONLY),
                "bind" => (F::MS_BIND, F::empty()),
                "rbind" => (F::MS_BIND | F::MS_REC, F::empty()),
                "nosuid" => (F::MS_NOSUID, F::empty()),
                "suid" => (F::empty(), F::MS_NOSUID),
                "nodev" => (F::MS_NODEV, F::empty()),
                "dev" => (F::empty(), F::MS_NODEV),
                "noexec" => (F::MS_NOEXEC, F::empty()),
                "exec" => (F::empty(), F::MS_NOEXEC),
                "sync" => (F::MS_SYNCHRONOUS, F::empty()),
                "noatime" => (F::MS_NOATIME, F::empty()),
                "relatime" => (F::MS_RELATIME, F::empty()),
                "strictatime" => (F::MS_STRICTATIME, F::empty()),
                "nodiratime" => (F::MS_NODIRATIME, F::empty()),
                "defaults" => (F::empty(), F::empty()),
                other => {
                    data.push(other);
                    continue;
                }
            };
            flags.insert(set);
            flags.remove(clear);
        }
        (flags, data.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names() {
        for ok in ["ab", "a1", "My_vol.2-x", "0a"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "a", "-ab", ".ab", "a b", "a/b", "a:b", "_ab"] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("includes invalid characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn drivers() {
        assert_eq!(check_driver("v", "").unwrap(), "local");
        let e = check_driver("v", "nfs").unwrap_err();
        assert_eq!(
            e.to_string(),
            "create v: error looking up volume plugin nfs: plugin \"nfs\" not found"
        );
    }

    #[test]
    fn options() {
        check_options("v", &opts(&[])).unwrap();
        check_options("v", &opts(&[("type", "tmpfs"), ("device", "tmpfs")])).unwrap();
        let e = check_options("v", &opts(&[("size", "1")])).unwrap_err();
        assert_eq!(e.to_string(), "create v: invalid option key: \"size\"");
        let e = check_options("v", &opts(&[("type", "tmpfs")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "create v: missing required option: \"device\""
        );
        let e = check_options("v", &opts(&[("o", "size=1m"), ("device", "x")])).unwrap_err();
        assert_eq!(e.to_string(), "create v: missing required option: \"type\"");
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        use nix::mount::MsFlags as F;
        let m = LocalMount {
            fstype: "tmpfs".into(),
            device: "tmpfs".into(),
            options: "size=1m,nosuid,uid=1000,ro".into(),
        };
        let (flags, data) = m.flags_and_data();
        assert_eq!(flags, F::MS_NOSUID | F::MS_RDONLY);
        assert_eq!(data, "size=1m,uid=1000");
    }
}
