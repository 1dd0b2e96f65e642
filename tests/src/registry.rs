//! Registries for the distribution tests: Debian's `docker-registry`
//! (distribution v2.8) started on 127.0.0.1 with a temp config and storage,
//! over plain HTTP or over TLS (a CA and a server certificate the test makes
//! with the openssl CLI) with htpasswd basic auth, or over plain HTTP with
//! bearer tokens from a [`TokenServer`] (`auth: token:`); and [`Proxy`], a small
//! HTTP/1.1 proxy in front of a plain registry that can corrupt or cut a
//! blob download, or refuse connections, so the tests see what a client of a
//! broken registry sees. Nothing here talks to anything but 127.0.0.1.

mod http;
mod proxy;
mod token;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use http::{http, HttpResponse};
pub use proxy::{Proxy, ProxyMode};
pub use token::{TokenRequest, TokenServer};

pub use crate::net::free_tcp_port as free_port;
use crate::{output_ok, require_tool};

/// How long a registry or the proxy gets to come up.
const STARTUP: Duration = Duration::from_secs(20);

/// A docker-registry (distribution v2) on 127.0.0.1, killed on drop.
pub struct Registry {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    /// (user, password) of the htpasswd file, for TLS registries.
    creds: Option<(String, String)>,
    /// The token server of a token-auth registry.
    token: Option<TokenServer>,
}

impl Registry {
    /// A registry over plain HTTP without authentication.
    pub fn plain() -> Registry {
        Self::start(None, None)
    }

    /// A [`Registry::plain`] holding the busybox fixture as
    /// `busybox:latest`.
    pub fn plain_with_busybox() -> Registry {
        let reg = Self::plain();
        reg.seed_busybox("busybox:latest");
        reg
    }

    /// A registry over TLS (a server certificate for IP 127.0.0.1 signed by
    /// a CA made for it, see [`Registry::ca_path`]) that wants htpasswd basic
    /// auth with this one user.
    pub fn tls_with_auth(user: &str, password: &str) -> Registry {
        Self::start(Some((user.to_string(), password.to_string())), None)
    }

    /// A registry over plain HTTP that wants bearer tokens from its own
    /// [`TokenServer`] (see [`Registry::token_server`]), which gives this one
    /// user every action and anyone else `pull` only.
    pub fn with_token_auth(user: &str, password: &str) -> Registry {
        Self::start(None, Some(TokenServer::start(user, password)))
    }

    fn start(creds: Option<(String, String)>, token: Option<TokenServer>) -> Registry {
        let bin = require_tool("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("storage")).expect("storage dir");
        if let Some((user, password)) = &creds {
            make_certs(dir.path());
            // docker-registry accepts bcrypt hashes only; the lowest cost
            // keeps every authenticated request cheap.
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n"))
                .expect("htpasswd");
        }
        let mut r = Registry {
            dir,
            child: None,
            port: 0,
            creds,
            token,
        };
        // Another test may take the free port between our probe and the
        // registry's bind: try a few.
        for _ in 0..5 {
            r.port = free_port();
            std::fs::write(r.config_path(), r.config()).expect("registry config");
            let log = std::fs::File::create(r.log_path()).expect("registry log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(r.config_path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            r.child = Some(child);
            if r.wait_ready() {
                if r.creds.is_some() {
                    // skopeo's --cert-dir layout: <dir>/ca.crt.
                    r.write_certs_dir(r.dir.path());
                }
                return r;
            }
            r.kill();
        }
        panic!("docker-registry did not start:\n{}", r.log());
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn config(&self) -> String {
        let d = self.dir.path().display();
        let mut c = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {d}/storage\n  delete:\n    enabled: true\n\
             \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{}\n",
            self.port
        );
        if self.creds.is_some() {
            c.push_str(&format!(
                "  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n\
                 auth:\n  htpasswd:\n    realm: berth-test\n    path: {d}/htpasswd\n"
            ));
        }
        if let Some(t) = &self.token {
            c.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                t.realm(),
                t.service(),
                t.issuer(),
                t.cert_path().display()
            ));
        }
        c
    }

    /// Waits until the registry answers; false if it exited (a port clash).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = self.log();
                if log.contains("address already in use") {
                    return false;
                }
                panic!("docker-registry exited early:\n{log}");
            }
            let up = if self.is_tls() {
                // The listener is created just before serving: a connection
                // means it answers (skopeo in the fixture test proves TLS).
                TcpStream::connect(self.host()).is_ok()
            } else {
                // A token-auth registry challenges even /v2/.
                let want = if self.token.is_some() { 401 } else { 200 };
                http(&self.host(), "GET", "/v2/", &[]).is_ok_and(|r| r.status == want)
            };
            if up {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer in {STARTUP:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it serves TLS (and wants basic auth).
    pub fn is_tls(&self) -> bool {
        self.creds.is_some()
    }

    /// The user and password it accepts (TLS registries).
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The token server of a [`Registry::with_token_auth`] registry.
    pub fn token_server(&self) -> &TokenServer {
        self.token.as_ref().expect("not a token-auth registry")
    }

    /// The CA certificate that signed the server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        assert!(self.is_tls(), "a plain registry has no CA");
        self.dir.path().join("ca.crt")
    }

    /// Writes `<dir>/certs.d/HOST:PORT/ca.crt` (docker's and berthd's
    /// `certs_dir` layout) and returns `<dir>/certs.d`.
    pub fn write_certs_dir(&self, dir: &Path) -> PathBuf {
        let certs = dir.join("certs.d");
        let host_dir = certs.join(self.host());
        std::fs::create_dir_all(&host_dir).expect("certs.d");
        std::fs::copy(self.ca_path(), host_dir.join("ca.crt")).expect("copy ca.crt");
        certs
    }

    /// Where the registry keeps its blobs and repositories.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// skopeo's flags for this registry, for a source (`"src-"`), a
    /// destination (`"dest-"`) or `inspect` (`""`): no TLS verification for
    /// a plain registry (and the token server's user for a token-auth one);
    /// the CA and the credentials for a TLS one.
    pub fn skopeo_flags(&self, prefix: &str) -> Vec<String> {
        match &self.creds {
            None => {
                let mut flags = vec![format!("--{prefix}tls-verify=false")];
                if let Some(t) = &self.token {
                    let (u, p) = t.creds();
                    flags.push(format!("--{prefix}creds={u}:{p}"));
                }
                flags
            }
            Some((u, p)) => vec![
                format!(
                    "--{prefix}cert-dir={}",
                    self.dir.path().join("certs.d").join(self.host()).display()
                ),
                format!("--{prefix}creds={u}:{p}"),
            ],
        }
    }

    /// Puts the busybox fixture into the registry as `name` with skopeo
    /// (so that tests of pull do not depend on berth push).
    pub fn seed_busybox(&self, name: &str) {
        let tmp = tempfile::tempdir().expect("tempdir");
        self.skopeo_push_archive(&busybox_oci_archive(tmp.path()), "latest", name);
    }

    /// Copies an OCI archive (as [`crate::fixture::ImageBuilder`] writes
    /// them, OCI layout) to `<this registry>/<name>` with skopeo; `tag` is the
    /// archive's image to copy (its `org.opencontainers.image.ref.name`).
    pub fn skopeo_push_archive(&self, archive: &Path, tag: &str, name: &str) {
        self.skopeo_copy_in(
            &format!("oci-archive:{}:{tag}", archive.display()),
            name,
            &[],
        );
    }

    /// `skopeo copy --quiet FLAGS SOURCE <this registry>/<name>` (SOURCE
    /// in skopeo's transport:reference form), which must succeed.
    pub fn skopeo_copy_in(&self, source: &str, name: &str, flags: &[&str]) {
        let skopeo = require_tool("skopeo", "skopeo");
        let mut cmd = Command::new(skopeo);
        cmd.arg("copy")
            .arg("--quiet")
            .args(flags)
            .args(self.skopeo_flags("dest-"))
            .arg(source)
            .arg(format!("docker://{}/{name}", self.host()));
        run_ok(&mut cmd);
    }

    /// `skopeo inspect` of `<this registry>/<name>` (`--raw`: the manifest
    /// or index as stored).
    pub fn skopeo_inspect(&self, name: &str, raw: bool) -> serde_json::Value {
        let skopeo = require_tool("skopeo", "skopeo");
        let mut cmd = Command::new(skopeo);
        cmd.arg("inspect").args(self.skopeo_flags(""));
        if raw {
            cmd.arg("--raw");
        }
        cmd.arg(format!("docker://{}/{name}", self.host()));
        let out = run_ok(&mut cmd);
        serde_json::from_str(&out).expect("skopeo inspect json")
    }

    /// The digest the registry gives for a manifest (HEAD with every
    /// manifest media type accepted); None if it has no such manifest. Plain
    /// registries only.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Option<String> {
        assert!(!self.is_tls(), "manifest_digest speaks plain HTTP");
        let r = http(
            &self.host(),
            "HEAD",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", MANIFEST_TYPES)],
        )
        .expect("HEAD manifest");
        (r.status == 200).then(|| {
            r.header("docker-content-digest")
                .expect("Docker-Content-Digest")
                .to_string()
        })
    }

    /// The manifest (or index) as stored. Plain registries only.
    pub fn manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        assert!(!self.is_tls(), "manifest speaks plain HTTP");
        let r = http(
            &self.host(),
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", MANIFEST_TYPES)],
        )
        .expect("GET manifest");
        assert_eq!(r.status, 200, "GET manifest {repo}:{reference}: {r:?}");
        serde_json::from_slice(&r.body).expect("manifest json")
    }

    /// The layer digests of the manifest `repo:reference`. Plain registries
    /// only.
    pub fn layer_digests(&self, repo: &str, reference: &str) -> Vec<String> {
        self.manifest(repo, reference)["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("digest").to_string())
            .collect()
    }

    /// The repositories of the v2 catalog. Plain registries only.
    pub fn catalog(&self) -> Vec<String> {
        assert!(!self.is_tls(), "catalog speaks plain HTTP");
        let r = http(&self.host(), "GET", "/v2/_catalog", &[]).expect("GET catalog");
        assert_eq!(r.status, 200, "catalog: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("catalog json");
        v["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops the registry (SIGKILL): its port refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- docker-registry {} log ----\n{}",
                self.host(),
                self.log()
            );
        }
    }
}

/// Every manifest media type a registry may hold.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Runs a command and asserts success; returns stdout.
fn run_ok(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&output_ok(cmd).stdout).into_owned()
}

/// busybox:latest in a plain registry, pulled through a [`Proxy`] in front
/// of it: what the tests of a broken registry start from.
pub struct ProxiedBusybox {
    /// In front of `registry` (dropped first).
    pub proxy: Proxy,
    /// Holds busybox:latest.
    pub registry: Registry,
    /// The digest of busybox's one layer.
    pub layer: String,
    /// `<proxy>/busybox:latest`.
    pub name: String,
}

impl ProxiedBusybox {
    /// The registry and the proxy, in the `mode` made for the layer
    /// (`ProxyMode::Corrupt`, `ProxyMode::CutOnce`...).
    pub fn start(mode: impl FnOnce(String) -> ProxyMode) -> ProxiedBusybox {
        let registry = Registry::plain_with_busybox();
        let layer = registry.layer_digests("busybox", "latest").remove(0);
        let proxy = Proxy::start(&registry.host());
        proxy.set_mode(mode(layer.clone()));
        let name = format!("{}/busybox:latest", proxy.host());
        ProxiedBusybox {
            proxy,
            registry,
            layer,
            name,
        }
    }
}

/// Whether berth's stderr tells of an authentication failure in words a
/// user understands.
pub fn says_unauthorized(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("unauthorized") || s.contains("authentication") || s.contains("incorrect username")
}

/// Makes `ca.crt`/`ca.key` and `server.crt`/`server.key` (for IP 127.0.0.1,
/// signed by the CA) in `dir` with the openssl CLI. P-256 keys: quick to
/// make, and every TLS stack takes them.
fn make_certs(dir: &Path) {
    let openssl = require_tool("openssl", "openssl");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_ok(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.crt", "-days", "7"])
            .args(["-subj", "/CN=berth test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
    run_ok(
        Command::new(&openssl)
            .current_dir(dir)
            .arg("req")
            .args(ec)
            .args(["-keyout", "server.key", "-out", "server.csr"])
            .args(["-subj", "/CN=127.0.0.1"]),
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1\n\
         subjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\n",
    )
    .expect("server.ext");
    run_ok(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt"])
            .args(["-CAkey", "ca.key", "-CAcreateserial", "-days", "7"])
            .args(["-out", "server.crt", "-extfile", "server.ext"]),
    );
}

/// Writes the busybox fixture as an OCI archive (its image "latest").
pub fn busybox_oci_archive(dir: &Path) -> PathBuf {
    let p = dir.join("busybox-oci.tar");
    std::fs::write(
        &p,
        crate::fixture::busybox_archive(crate::fixture::Layout::Oci, "busybox:latest"),
    )
    .expect("write archive");
    p
}

/// The digest of push's last line, "TAG: digest: sha256:... size: N".
pub fn pushed_digest(out: &str, tag: &str) -> String {
    let prefix = format!("{tag}: digest: ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no '{prefix}...' line in push output:\n{out}"));
    let rest = &line[prefix.len()..];
    let (digest, size) = rest.split_once(" size: ").expect("size");
    assert!(size.trim().parse::<u64>().is_ok(), "{line}");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{line}"
    );
    digest.to_string()
}
