//! The daemon's configuration: one typed struct with every default in one
//! place. The file (/etc/berth/config.toml) is read first; flags override it.
//!
//! Defaults:
//!
//! | key               | default                      |
//! |-------------------|------------------------------|
//! | `root`            | `/var/lib/berth`             |
//! | `state`           | `/run/berth`                 |
//! | `address`         | `unix:///run/berth/berth.sock` |
//! | `snapshotter`     | `overlayfs`                  |
//! | `log_level`       | `info`                       |
//! | `cgroup_parent`   | `berth` (containers get `/<cgroup_parent>/<ns>-<id>`) |
//! | `default_runtime` | `""`: the shim's built-in runtime |
//! | `[runtimes]`      | empty; `runc` is looked up in PATH when not listed |
//! | `shim`            | `""`: the `berth-shim` next to the berthd executable |
//! | `log_max_size`    | 20 MiB (a container's log rotates past it; 0 never) |
//! | `log_max_files`   | 5 rotated files kept besides the live one |
//! | `insecure_registries` | empty; registries (`host[:port]` or a CIDR) reached over plain HTTP or unverified TLS. 127.0.0.0/8 and ::1 are always insecure unless `certs_dir` has a directory for them |
//! | `registry_mirrors` | empty; URLs tried before Docker Hub for docker.io images |
//! | `certs_dir`       | `/etc/berth/certs.d` (`HOST[:PORT]/ca.crt`, docker's layout) |
//! | `max_concurrent_downloads` | 6 layers at a time per pull |
//! | `max_concurrent_uploads` | 5 layers at a time per push |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, ManagerError, Result};

/// Default path of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/berth/config.toml";

/// berthd's effective configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Persistent state: metadata, content, snapshots. Default /var/lib/berth.
    pub root: PathBuf,
    /// Runtime state: sockets, shim state. Default /run/berth.
    pub state: PathBuf,
    /// The gRPC address, `unix:///path`. Default unix:///run/berth/berth.sock.
    pub address: String,
    /// The snapshotter: "overlayfs" (default) or "native".
    pub snapshotter: String,
    /// Log level: error, warn, info (default), debug, trace.
    pub log_level: String,
    /// The cgroup every container's cgroup is created under. Default "berth".
    pub cgroup_parent: String,
    /// The runtime containers use when they name none: "" is the shim's
    /// built-in runtime, anything else a name from `runtimes` (or "runc").
    pub default_runtime: String,
    /// OCI runtime binaries by name, e.g. `crun = "/usr/bin/crun"`. A name
    /// not listed here is looked up in PATH (so `--runtime runc` works).
    pub runtimes: BTreeMap<String, PathBuf>,
    /// The berth-shim binary; empty is the one next to berthd.
    pub shim: PathBuf,
    /// A container's log file rotates when it grows past this many bytes
    /// (0: never). Default 20 MiB.
    pub log_max_size: u64,
    /// Rotated log files kept besides the live one. Default 5.
    pub log_max_files: u32,
    /// Registries reached over plain HTTP or without TLS verification:
    /// `host[:port]` or a CIDR. Loopback registries need no entry.
    pub insecure_registries: Vec<String>,
    /// Mirrors of Docker Hub (`http://host:port` or `https://...`), tried in
    /// order before it for docker.io images.
    pub registry_mirrors: Vec<String>,
    /// Per-registry TLS files: `<certs_dir>/<host[:port]>/ca.crt`.
    pub certs_dir: PathBuf,
    /// Layers downloaded at once by one pull.
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once by one push.
    pub max_concurrent_uploads: usize,
    /// The default bridge network's Linux bridge. Default "berth0".
    pub bridge: String,
    /// The default bridge network's subnet (its first address is the
    /// bridge's). Default 10.77.0.0/16: not docker0's 172.17.0.0/16.
    pub bridge_subnet: String,
    /// Where user-defined networks created without `--subnet` get theirs:
    /// each pool is cut into subnets of `size` bits.
    pub default_address_pools: Vec<AddressPool>,
    /// The nftables table (family inet) holding berthd's NAT and
    /// isolation rules. Default "berth".
    pub firewall_table: String,
}

/// A range user-defined networks take their subnets from (docker's
/// default-address-pools).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    /// A CIDR, e.g. "10.78.0.0/15".
    pub base: String,
    /// The prefix length of each subnet cut from it, e.g. 24.
    pub size: u8,
}

/// Default of [`Config::log_max_size`].
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20 << 20;
/// Default of [`Config::log_max_files`].
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;

impl Default for Config {
    fn default() -> Self {
        Config {
            root: PathBuf::from("/var/lib/berth"),
            state: PathBuf::from("/run/berth"),
            address: "unix:///run/berth/berth.sock".to_string(),
            snapshotter: "overlayfs".to_string(),
            log_level: "info".to_string(),
            cgroup_parent: "berth".to_string(),
            default_runtime: String::new(),
            runtimes: BTreeMap::new(),
            shim: PathBuf::new(),
            log_max_size: DEFAULT_LOG_MAX_SIZE,
            log_max_files: DEFAULT_LOG_MAX_FILES,
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
            certs_dir: PathBuf::from("/etc/berth/certs.d"),
            max_concurrent_downloads: 6,
            max_concurrent_uploads: 5,
            bridge: "berth0".to_string(),
            bridge_subnet: "10.77.0.0/16".to_string(),
            default_address_pools: vec![AddressPool {
                base: "10.78.0.0/15".to_string(),
                size: 24,
            }],
            firewall_table: "berth".to_string(),
        }
    }
}

/// Values given on the command line; each one set overrides the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub root: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub address: Option<String>,
    pub snapshotter: Option<String>,
    pub log_level: Option<String>,
    pub cgroup_parent: Option<String>,
}

impl Config {
    /// Reads the config file. A missing file is fine when it is the default
    /// path (`required` false) and an error when the user named it.
    pub fn load(path: &Path, required: bool) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default())
            }
            Err(e) => {
                return Err(ManagerError::io(
                    format!("read config {}", path.display()),
                    e,
                ))
            }
        };
        Self::parse(&text)
            .map_err(|e| ManagerError::InvalidArgument(format!("config {}: {e}", path.display())))
    }

    /// Parses TOML config text.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: Overrides) {
        if let Some(v) = o.root {
            self.root = v;
        }
        if let Some(v) = o.state {
            self.state = v;
        }
        if let Some(v) = o.address {
            self.address = v;
        }
        if let Some(v) = o.snapshotter {
            self.snapshotter = v;
        }
        if let Some(v) = o.log_level {
            self.log_level = v;
        }
        if let Some(v) = o.cgroup_parent {
            self.cgroup_parent = v;
        }
    }

    /// The cgroup parent without surrounding slashes; refuses `..` and
    /// empty components so a container's cgroup stays under it.
    pub fn cgroup_parent(&self) -> Result<String> {
        let p = self.cgroup_parent.trim_matches('/');
        if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(ManagerError::InvalidArgument(format!(
                "invalid cgroup_parent {:?}: use a relative cgroup path such as \"berth\"",
                self.cgroup_parent
            )));
        }
        Ok(p.to_string())
    }

    /// The berth-shim binary: the configured one, else `berth-shim` next to
    /// the running executable.
    pub fn shim_path(&self) -> Result<PathBuf> {
        if !self.shim.as_os_str().is_empty() {
            return Ok(self.shim.clone());
        }
        let exe = std::env::current_exe().ctx(|| "find the berthd executable".to_string())?;
        Ok(exe.with_file_name("berth-shim"))
    }

    /// The binary of a runtime name: "" is the default runtime, and the
    /// built-in one (`None`) when that is "" too. A name is looked up in
    /// `runtimes`, then in PATH.
    pub fn runtime_binary(&self, name: &str) -> Result<Option<PathBuf>> {
        let name = if name.is_empty() {
            self.default_runtime.as_str()
        } else {
            name
        };
        if name.is_empty() {
            return Ok(None);
        }
        if let Some(p) = self.runtimes.get(name) {
            return Ok(Some(p.clone()));
        }
        let unknown = || {
            ManagerError::InvalidArgument(format!(
                "unknown or invalid runtime name: {name} (configure it under [runtimes] or install it in PATH)"
            ))
        };
        if name.contains('/') {
            return Err(unknown());
        }
        find_in_path(name).map(Some).ok_or_else(unknown)
    }

    /// The unix socket path of `address`.
    pub fn socket_path(&self) -> Result<PathBuf> {
        let p = self
            .address
            .strip_prefix("unix://")
            .unwrap_or(&self.address);
        if !p.starts_with('/') {
            return Err(ManagerError::InvalidArgument(format!(
                "address {:?}: only unix:///absolute/path sockets are supported",
                self.address
            )));
        }
        Ok(PathBuf::from(p))
    }

    /// Where shim sockets live: `STATE/s`.
    pub fn shim_socket_dir(&self) -> PathBuf {
        self.state.join("s")
    }

    /// The effective configuration as TOML, for `berth info`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// The first executable file called `name` in PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let mut c = Config::parse("root = \"/tmp/r\"\nsnapshotter = \"native\"\n").unwrap();
        assert_eq!(c.root, PathBuf::from("/tmp/r"));
        assert_eq!(c.state, PathBuf::from("/run/berth"));
        c.apply(Overrides {
            snapshotter: Some("overlayfs".into()),
            ..Default::default()
        });
        assert_eq!(c.snapshotter, "overlayfs");
        assert_eq!(c.root, PathBuf::from("/tmp/r"));
    }

    #[test]
    fn unknown_key_is_an_error() {
        assert!(Config::parse("rooot = \"/x\"").is_err());
    }

    #[test]
    fn socket_path() {
        let c = Config::default();
        assert_eq!(
            c.socket_path().unwrap(),
            PathBuf::from("/run/berth/berth.sock")
        );
        let c = Config {
            address: "tcp://1.2.3.4:5".into(),
            ..Config::default()
        };
        assert!(c.socket_path().is_err());
    }

    #[test]
    fn container_settings() {
        let c = Config::default();
        assert_eq!(c.cgroup_parent().unwrap(), "berth");
        assert_eq!(c.log_max_size, 20 << 20);
        assert_eq!(c.log_max_files, 5);
        assert_eq!(c.runtime_binary("").unwrap(), None);
        assert!(c.runtime_binary("no-such-runtime-here").is_err());
        assert!(c.runtime_binary("../x").is_err());
        assert!(c.shim_path().unwrap().ends_with("berth-shim"));
        let mut c = Config::parse(
            "cgroup_parent = \"/test/x/\"\ndefault_runtime = \"crun\"\n[runtimes]\ncrun = \"/opt/crun\"\n",
        )
        .unwrap();
        assert_eq!(c.cgroup_parent().unwrap(), "test/x");
        assert_eq!(
            c.runtime_binary("").unwrap(),
            Some(PathBuf::from("/opt/crun"))
        );
        assert_eq!(
            c.runtime_binary("crun").unwrap(),
            Some(PathBuf::from("/opt/crun"))
        );
        // sh is in PATH on every machine these tests run on.
        assert!(c.runtime_binary("sh").unwrap().is_some());
        c.apply(Overrides {
            cgroup_parent: Some("other".into()),
            ..Default::default()
        });
        assert_eq!(c.cgroup_parent().unwrap(), "other");
        for bad in ["", "/", "a/../b", "a//b"] {
            c.cgroup_parent = bad.into();
            assert!(c.cgroup_parent().is_err(), "{bad:?}");
        }
        // The effective config prints back and parses.
        let c = Config::default();
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn missing_default_file_is_fine() {
        let c = Config::load(Path::new("/nonexistent/berth.toml"), false).unwrap();
        assert_eq!(c, Config::default());
        assert!(Config::load(Path::new("/nonexistent/berth.toml"), true).is_err());
    }
}
