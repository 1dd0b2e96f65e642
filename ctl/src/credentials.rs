//! The user's registry credentials, kept by the CLI (berthd stores none):
//! `$BERTH_CONFIG/config.json`, else `~/.berth/config.json`, in the format
//! of ~/.docker/config.json: `{"auths": {"<key>": {"auth": base64("user:pass"),
//! "identitytoken": "..."}}}`. Keys are [`crate::registry`]'s. Every other
//! key of the file is kept as it was, in its place.
//!
//! The file is written whole under a temporary name (mode 0600, in a
//! directory made 0700) and renamed over the old one, so a crash leaves the
//! old file or the new one, never half of one, and never a moment when the
//! secrets are readable by others. It is a few hundred bytes, read and
//! written with blocking calls before or after the only request a command
//! makes.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use berth_proto::v1::RegistryAuth;
use serde_json::{Map, Value};

use crate::registry;

/// The environment variable naming the directory of config.json.
pub const CONFIG_ENV: &str = "BERTH_CONFIG";
/// The directory under $HOME otherwise.
const CONFIG_DIR: &str = ".berth";
const CONFIG_FILE: &str = "config.json";
const AUTHS: &str = "auths";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot find the credentials file: neither {CONFIG_ENV} nor HOME is set")]
    NoHome,
    #[error("read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a valid config file: {why}", path.display())]
    Parse { path: PathBuf, why: String },
    #[error("invalid auth entry {key:?} in {}: {why}", path.display())]
    BadEntry {
        path: PathBuf,
        key: String,
        why: String,
    },
    #[error("write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What is stored for one registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Given by a login whose token service issued one; the password is
    /// then not kept (docker's rule).
    pub identity_token: String,
}

impl Credentials {
    /// The credentials as a request carries them.
    pub fn to_auth(&self) -> RegistryAuth {
        RegistryAuth {
            username: self.username.clone(),
            password: self.password.clone(),
            identity_token: self.identity_token.clone(),
            registry_token: String::new(),
        }
    }

    fn to_entry(&self) -> Value {
        let mut entry = Map::new();
        if !self.username.is_empty() || !self.password.is_empty() {
            let pair = format!("{}:{}", self.username, self.password);
            entry.insert("auth".into(), Value::String(BASE64.encode(pair)));
        }
        if !self.identity_token.is_empty() {
            entry.insert(
                "identitytoken".into(),
                Value::String(self.identity_token.clone()),
            );
        }
        Value::Object(entry)
    }

    /// Reads an entry: docker's `auth`, or the older separate `username`
    /// and `password` fields.
    fn from_entry(entry: &Value) -> Result<Credentials, String> {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut creds = Credentials {
            username: field("username"),
            password: field("password"),
            identity_token: field("identitytoken"),
        };
        let auth = field("auth");
        if !auth.is_empty() {
            let bytes = BASE64
                .decode(auth.trim())
                .map_err(|e| format!("auth is not base64: {e}"))?;
            let text = String::from_utf8(bytes).map_err(|_| "auth is not UTF-8".to_owned())?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| "auth is not \"user:password\"".to_owned())?;
            creds.username = user.to_owned();
            creds.password = pass.to_owned();
        }
        Ok(creds)
    }
}

/// Where config.json is: `$BERTH_CONFIG/config.json`, else
/// `$HOME/.berth/config.json`.
pub fn default_path() -> Result<PathBuf, CredentialsError> {
    path_from(std::env::var_os(CONFIG_ENV), std::env::var_os("HOME"))
}

fn path_from(
    config_dir: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, CredentialsError> {
    let nonempty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = nonempty(config_dir) {
        return Ok(dir.join(CONFIG_FILE));
    }
    let home = nonempty(home).ok_or(CredentialsError::NoHome)?;
    Ok(home.join(CONFIG_DIR).join(CONFIG_FILE))
}

/// config.json as read, with its `auths` changed in place.
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl ConfigFile {
    /// Reads the file; a missing (or empty) one is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, CredentialsError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(CredentialsError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let parse_error = |why: String| CredentialsError::Parse {
            path: path.to_owned(),
            why,
        };
        let doc = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(&text).map_err(|e| parse_error(e.to_string()))? {
                Value::Object(doc) => doc,
                _ => return Err(parse_error("not a JSON object".into())),
            }
        };
        if doc.get(AUTHS).is_some_and(|a| !a.is_object()) {
            return Err(parse_error(format!("\"{AUTHS}\" is not an object")));
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            doc,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get(AUTHS).and_then(Value::as_object)
    }

    /// The keys of the file that stand for `key`: itself, and entries
    /// written another way (with a scheme or path, or another of Docker
    /// Hub's names), as docker's lookups allow.
    fn keys_for(&self, key: &str) -> Vec<String> {
        let Some(auths) = self.auths() else {
            return Vec::new();
        };
        let mut keys: Vec<String> = auths.keys().filter(|k| *k == key).cloned().collect();
        keys.extend(
            auths
                .keys()
                .filter(|k| *k != key && registry::credential_key(k) == key)
                .cloned(),
        );
        keys
    }

    /// The credentials filed under `key` (a key of [`crate::registry`]).
    pub fn get(&self, key: &str) -> Result<Option<Credentials>, CredentialsError> {
        let found = self.keys_for(key).into_iter().next();
        let Some((found, entry)) = found.and_then(|k| {
            let entry = self.auths()?.get(&k)?;
            Some((k, entry))
        }) else {
            return Ok(None);
        };
        Credentials::from_entry(entry)
            .map(Some)
            .map_err(|why| CredentialsError::BadEntry {
                path: self.path.clone(),
                key: found,
                why,
            })
    }

    /// Files `creds` under `key`, replacing any entry for the same registry.
    pub fn set(&mut self, key: &str, creds: &Credentials) {
        self.remove(key);
        let auths = self
            .doc
            .entry(AUTHS)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(auths) = auths {
            auths.insert(key.to_owned(), creds.to_entry());
        }
    }

    /// Removes every entry for `key`'s registry; false if there was none.
    pub fn remove(&mut self, key: &str) -> bool {
        let keys = self.keys_for(key);
        if let Some(Value::Object(auths)) = self.doc.get_mut(AUTHS) {
            for k in &keys {
                auths.remove(k);
            }
        }
        !keys.is_empty()
    }

    /// Writes the file atomically, mode 0600 (its directory made 0700 if
    /// it is new), tab-indented as docker writes it.
    pub fn save(&self) -> Result<(), CredentialsError> {
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| CredentialsError::Write { path, source }
        };
        // Through a symlinked config.json to the file it points at, so the
        // link stays a link (docker does the same).
        let target = match fs::canonicalize(&self.path) {
            Ok(real) => real,
            Err(_) => self.path.clone(),
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(write_error(&dir))?;
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(&self.doc, &mut serializer).map_err(|e| {
            CredentialsError::Write {
                path: target.clone(),
                source: io::Error::other(e),
            }
        })?;
        text.push(b'\n');
        let temp = TempPath(dir.join(format!(".{CONFIG_FILE}.tmp-{}", std::process::id())));
        // A temp file left by a killed run with the same pid is stale.
        let _ = fs::remove_file(&temp.0);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp.0)
            .map_err(write_error(&temp.0))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(write_error(&temp.0))?;
        drop(file);
        fs::rename(&temp.0, &target).map_err(write_error(&target))?;
        std::mem::forget(temp);
        Ok(())
    }
}

/// A temporary file removed on drop (when the write or rename failed).
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The credentials to send to the registry under `key`; anonymous when
/// there are none. A config file that cannot be read is not worth failing a
/// pull over: docker warns and goes on, and so does this.
pub fn auth_for(key: &str) -> RegistryAuth {
    let found = default_path()
        .and_then(|path| ConfigFile::load(&path))
        .and_then(|file| file.get(key));
    match found {
        Ok(creds) => creds.map(|c| c.to_auth()).unwrap_or_default(),
        Err(e) => {
            let _ = writeln!(io::stderr(), "WARNING: Error loading config file: {e}");
            RegistryAuth::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::registry::DOCKER_HUB_KEY;

    fn creds(user: &str, pass: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: pass.into(),
            identity_token: String::new(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn path_from_the_environment() {
        assert_eq!(
            path_from(Some("/etc/b".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/etc/b/config.json")
        );
        assert_eq!(
            path_from(None, Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.berth/config.json")
        );
        assert_eq!(
            path_from(Some("".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.berth/config.json")
        );
        assert!(matches!(
            path_from(None, None),
            Err(CredentialsError::NoHome)
        ));
    }

    #[test]
    fn write_read_remove_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg");
        let path = dir.join("config.json");
        let mut file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.get(DOCKER_HUB_KEY).unwrap(), None);
        file.set("127.0.0.1:5000", &creds("alice", "s3:cret"));
        file.save().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);

        let text = fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        // docker's format: base64 of "user:password".
        assert_eq!(
            doc["auths"]["127.0.0.1:5000"]["auth"],
            BASE64.encode("alice:s3:cret")
        );
        assert!(text.contains("\n\t\"auths\""), "{text}");

        let mut file = ConfigFile::load(&path).unwrap();
        assert_eq!(
            file.get("127.0.0.1:5000").unwrap(),
            Some(creds("alice", "s3:cret"))
        );
        assert!(file.remove("127.0.0.1:5000"));
        assert!(!file.remove("127.0.0.1:5000"));
        file.save().unwrap();
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.get("127.0.0.1:5000").unwrap(), None);
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("config.json")]);
    }

    #[test]
    fn an_existing_file_becomes_private_and_keeps_other_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        fs::write(
            &path,
            r#"{"psFormat": "table {{.ID}}", "auths": {"other.example": {"auth": "eDp5", "email": "x@y"}}, "credHelpers": {"gcr.io": "gcr"}}"#,
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let mut file = ConfigFile::load(&path).unwrap();
        file.set(DOCKER_HUB_KEY, &creds("bob", "pw"));
        file.save().unwrap();
        assert_eq!(mode(&path), 0o600);
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        assert_eq!(doc["credHelpers"]["gcr.io"], "gcr");
        assert_eq!(doc["auths"]["other.example"]["email"], "x@y");
        assert_eq!(
            doc["auths"][DOCKER_HUB_KEY]["auth"],
            BASE64.encode("bob:pw")
        );
        // Keys keep their order.
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["psFormat", "auths", "credHelpers"]);
        assert_eq!(
            ConfigFile::load(&path)
                .unwrap()
                .get("other.example")
                .unwrap(),
            Some(creds("x", "y"))
        );
    }

    #[test]
    fn entries_written_other_ways_are_found_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        let old = BASE64.encode("old:pw");
        fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://127.0.0.1:5000/v2/": {{"auth": "{old}"}}, "docker.io": {{"auth": "{old}"}}}}}}"#
            ),
        )
        .unwrap();
        let mut file = ConfigFile::load(&path).unwrap();
        assert_eq!(
            file.get("127.0.0.1:5000").unwrap(),
            Some(creds("old", "pw"))
        );
        assert_eq!(file.get(DOCKER_HUB_KEY).unwrap(), Some(creds("old", "pw")));
        file.set("127.0.0.1:5000", &creds("new", "pw2"));
        let auths = file.auths().unwrap();
        assert!(!auths.contains_key("https://127.0.0.1:5000/v2/"));
        assert_eq!(
            file.get("127.0.0.1:5000").unwrap(),
            Some(creds("new", "pw2"))
        );
        assert!(file.remove(DOCKER_HUB_KEY));
        assert_eq!(file.get(DOCKER_HUB_KEY).unwrap(), None);
    }

    #[test]
    fn identity_tokens_are_kept_without_the_password() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        let mut file = ConfigFile::load(&path).unwrap();
        let with_token = Credentials {
            username: "carol".into(),
            password: String::new(),
            identity_token: "refresh-me".into(),
        };
        file.set(DOCKER_HUB_KEY, &with_token);
        file.save().unwrap();
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"][DOCKER_HUB_KEY]["identitytoken"], "refresh-me");
        let got = ConfigFile::load(&path)
            .unwrap()
            .get(DOCKER_HUB_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(got, with_token);
        assert_eq!(got.to_auth().identity_token, "refresh-me");
    }

    #[test]
    fn broken_files_are_errors_not_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            ConfigFile::load(&path),
            Err(CredentialsError::Parse { .. })
        ));
        fs::write(&path, r#"{"auths": []}"#).unwrap();
        assert!(matches!(
            ConfigFile::load(&path),
            Err(CredentialsError::Parse { .. })
        ));
        fs::write(&path, r#"{"auths": {"h": {"auth": "!!"}}}"#).unwrap();
        let err = ConfigFile::load(&path).unwrap().get("h").unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        fs::write(&path, "").unwrap();
        assert_eq!(ConfigFile::load(&path).unwrap().get("h").unwrap(), None);
    }

    #[test]
    fn a_symlinked_file_stays_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        let link = tmp.path().join("config.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut file = ConfigFile::load(&link).unwrap();
        file.set("h:1", &creds("u", "p"));
        file.save().unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            ConfigFile::load(&real).unwrap().get("h:1").unwrap(),
            Some(creds("u", "p"))
        );
    }
}
