//! The daemon's configuration: one typed struct with every default in one
//! place. The file (/etc/berth/config.toml) is read first; flags override it.

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            root: PathBuf::from("/var/lib/berth"),
            state: PathBuf::from("/run/berth"),
            address: "unix:///run/berth/berth.sock".to_string(),
            snapshotter: "overlayfs".to_string(),
            log_level: "info".to_string(),
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

    /// The effective configuration as TOML, for `berth info`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Creates the root and state directories.
    pub fn create_dirs(&self) -> Result<()> {
        for d in [&self.root, &self.state] {
            std::fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        Ok(())
    }
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
    fn missing_default_file_is_fine() {
        let c = Config::load(Path::new("/nonexistent/berth.toml"), false).unwrap();
        assert_eq!(c, Config::default());
        assert!(Config::load(Path::new("/nonexistent/berth.toml"), true).is_err());
    }
}
