//! A token server for docker-registry's `auth: token:` mode (distribution's
//! bearer token flow): `GET /token?service=S&scope=repository:NAME:ACTIONS
//! [&scope=...][&account=U]` answers a JWT the registry verifies against its
//! `rootcertbundle`. RS256, the signing certificate in the header's `x5c`
//! (self-signed: it is the root bundle itself), signed by the openssl CLI.
//!
//! Policy: the one configured user (basic auth on the token request) gets
//! every action it asks for; a request without credentials gets `pull` only
//! (public pulls); wrong credentials get 401. Every request is recorded, so a
//! test can assert which scopes a client asked for.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::json;

use super::http::{copy_body, read_head, Head};
use super::run_ok;
use crate::require_tool;

/// How long a token is valid, in seconds.
const TOKEN_LIFETIME: u64 = 300;

/// One request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The user of the request's basic auth, if it had any.
    pub user: Option<String>,
    /// The `account` query parameter, if any.
    pub account: Option<String>,
    /// The `service` query parameter, if any.
    pub service: Option<String>,
    /// Every scope asked for, as sent ("repository:busybox:pull,push").
    pub scopes: Vec<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// What the token grants: "TYPE:NAME:ACTIONS" per resource (empty when
    /// refused).
    pub granted: Vec<String>,
}

/// What the server signs tokens as, and whom it trusts.
struct Issuer {
    /// PEM private key (RSA 2048) signing the tokens.
    key: PathBuf,
    /// base64 (standard, padded) DER of the signing certificate, for `x5c`.
    cert_der_b64: String,
    service: String,
    issuer: String,
    user: String,
    password: String,
}

struct State {
    shutdown: bool,
    requests: Vec<TokenRequest>,
    /// Clones of open connections, to close them on drop.
    conns: Vec<TcpStream>,
}

struct Shared {
    state: Mutex<State>,
    issuer: Issuer,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bearer token server on 127.0.0.1 (plain HTTP/1.1, a thread per
/// connection), stopped on drop.
pub struct TokenServer {
    dir: tempfile::TempDir,
    port: u16,
    shared: Arc<Shared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    /// Starts a token server that knows one user.
    pub fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::Builder::new()
            .prefix("berth-token-")
            .tempdir()
            .expect("tempdir");
        make_signing_cert(dir.path());
        let pem = std::fs::read_to_string(dir.path().join("token.crt")).expect("token.crt");
        let cert_der_b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("token server addr").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                shutdown: false,
                requests: Vec::new(),
                conns: Vec::new(),
            }),
            issuer: Issuer {
                key: dir.path().join("token.key"),
                cert_der_b64,
                service: "berth-test-registry".into(),
                issuer: "berth-test-token-server".into(),
                user: user.into(),
                password: password.into(),
            },
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, &s));
        TokenServer {
            dir,
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The token endpoint, the registry's `realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.host())
    }

    /// The `service` (the tokens' audience).
    pub fn service(&self) -> &str {
        &self.shared.issuer.service
    }

    /// The tokens' `iss`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer.issuer
    }

    /// The signing certificate, the registry's `rootcertbundle`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("token.crt")
    }

    /// The user and password it accepts.
    pub fn creds(&self) -> (&str, &str) {
        (&self.shared.issuer.user, &self.shared.issuer.password)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every scope asked for so far, in order.
    pub fn scopes(&self) -> Vec<String> {
        self.requests().into_iter().flat_map(|r| r.scopes).collect()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        self.shared.lock().requests.clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.shutdown = true;
            for c in st.conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        // Wake the accept thread.
        let _ = TcpStream::connect(self.host());
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        if std::thread::panicking() {
            eprintln!("---- token server {} requests ----", self.host());
            for r in self.shared.lock().requests.iter() {
                eprintln!("{r:?}");
            }
        }
    }
}

/// An RSA key and a self-signed certificate for it (`token.key`,
/// `token.crt`): the registry trusts the certificate as its root bundle and
/// finds it again in each token's `x5c`.
fn make_signing_cert(dir: &Path) {
    let openssl = require_tool("openssl", "openssl");
    run_ok(
        Command::new(openssl)
            .current_dir(dir)
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-keyout", "token.key", "-out", "token.crt", "-days", "7"])
            .args(["-subj", "/CN=berth test token issuer"]),
    );
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else {
            continue;
        };
        {
            let mut st = shared.lock();
            if st.shutdown {
                return;
            }
            if let Ok(c) = conn.try_clone() {
                st.conns.push(c);
            }
        }
        let s = shared.clone();
        std::thread::spawn(move || {
            // A client that goes away mid-request is not the test's concern.
            let _ = serve(conn, &s);
        });
    }
}

/// Serves one connection, request by request (clients keep it alive).
fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let Some(raw) = read_head(&mut r)? else {
            return Ok(());
        };
        let req = Head::parse(&raw)?;
        // Nothing the server takes has a body; read it anyway.
        copy_body(
            &mut r,
            &mut std::io::sink(),
            req.request_body(),
            &mut |_: &mut [u8], _| {},
        )?;
        let (status, body, extra) = answer(&req, shared);
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let mut resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for h in extra {
            resp.push_str(&h);
            resp.push_str("\r\n");
        }
        resp.push_str("\r\n");
        w.write_all(resp.as_bytes())?;
        w.write_all(body.as_bytes())?;
        w.flush()?;
        if req.closes() {
            let _ = w.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// (status, JSON body, extra header lines) for one request.
fn answer(req: &Head, shared: &Shared) -> (u16, String, Vec<String>) {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    if req.method != "GET" || path != "/token" {
        return (404, error_body("NOT_FOUND", "no such endpoint"), vec![]);
    }
    let params = parse_query(query);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // One scope parameter may also hold several, space-separated (OAuth 2).
    let scopes: Vec<String> = params
        .iter()
        .filter(|(n, _)| n == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let iss = &shared.issuer;
    let mut rec = TokenRequest {
        user: None,
        account: param("account"),
        service: param("service"),
        scopes: scopes.clone(),
        status: 0,
        granted: vec![],
    };
    let creds = header(req, "authorization").map(basic_credentials);
    let reply = match (&rec.service, creds) {
        (Some(s), _) if *s != iss.service => (
            400,
            error_body("UNSUPPORTED", &format!("unknown service {s:?}")),
            vec![],
        ),
        (_, Some(None)) => (
            401,
            error_body("UNAUTHORIZED", "unreadable authorization header"),
            vec![challenge()],
        ),
        (_, Some(Some((user, password)))) if user != iss.user || password != iss.password => {
            rec.user = Some(user);
            (
                401,
                error_body("UNAUTHORIZED", "incorrect username or password"),
                vec![challenge()],
            )
        }
        (_, creds) => {
            let authenticated = creds.is_some();
            rec.user = creds.flatten().map(|(u, _)| u);
            match grant(&scopes, authenticated) {
                Ok(access) => {
                    rec.granted = access
                        .iter()
                        .map(|a| format!("{}:{}:{}", a.0, a.1, a.2.join(",")))
                        .collect();
                    match sign_token(iss, rec.user.as_deref().unwrap_or(""), &access) {
                        Ok(token) => (200, token_body(&token), vec![]),
                        Err(e) => (500, error_body("INTERNAL", &e), vec![]),
                    }
                }
                Err(bad) => (
                    400,
                    error_body("INVALID_SCOPE", &format!("unreadable scope {bad:?}")),
                    vec![],
                ),
            }
        }
    };
    rec.status = reply.0;
    shared.lock().requests.push(rec);
    reply
}

fn challenge() -> String {
    "WWW-Authenticate: Basic realm=\"berth-test-token\"".into()
}

fn error_body(code: &str, message: &str) -> String {
    json!({"errors": [{"code": code, "message": message}], "details": message}).to_string()
}

fn token_body(token: &str) -> String {
    let issued = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_LIFETIME,
        "issued_at": issued,
    })
    .to_string()
}

fn header<'a>(req: &'a Head, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Basic base64(user:password)` → Some((user, password)); None if it is
/// not readable basic auth.
fn basic_credentials(h: &str) -> Option<(String, String)> {
    let (scheme, b64) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// (type, name, actions) granted per resource, merged across scopes: every
/// action for the user, `pull` only for anyone else. Err: the unreadable
/// scope.
#[allow(clippy::type_complexity)]
fn grant(
    scopes: &[String],
    authenticated: bool,
) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let mut access: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for s in scopes {
        // TYPE:NAME:ACTIONS; a name may hold ':' (a registry host), the
        // actions never do.
        let (ty, rest) = s.split_once(':').ok_or_else(|| s.clone())?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(|| s.clone())?;
        if ty.is_empty() || name.is_empty() {
            return Err(s.clone());
        }
        let entry = access
            .entry((ty.to_string(), name.to_string()))
            .or_default();
        for a in actions.split(',').filter(|a| !a.is_empty()) {
            if (authenticated || a == "pull") && !entry.iter().any(|e| e == a) {
                entry.push(a.to_string());
            }
        }
    }
    Ok(access
        .into_iter()
        .filter(|(_, actions)| !actions.is_empty())
        .map(|((ty, name), actions)| (ty, name, actions))
        .collect())
}

/// A unique token id.
fn jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The signed JWT (RS256) granting `access` to `subject`.
fn sign_token(
    iss: &Issuer,
    subject: &str,
    access: &[(String, String, Vec<String>)],
) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [iss.cert_der_b64]});
    let access: Vec<serde_json::Value> = access
        .iter()
        .map(|(ty, name, actions)| json!({"type": ty, "name": name, "actions": actions}))
        .collect();
    let claims = json!({
        "iss": iss.issuer,
        "sub": subject,
        "aud": iss.service,
        "exp": now + TOKEN_LIFETIME,
        "nbf": now.saturating_sub(1),
        "iat": now,
        "jti": jti(),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = rs256(&iss.key, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") by `openssl dgst`.
fn rs256(key: &Path, data: &[u8]) -> Result<Vec<u8>, String> {
    let openssl = require_tool("openssl", "openssl");
    let mut child = Command::new(openssl)
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run openssl: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("openssl stdin")?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("openssl: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!(
            "openssl dgst -sign failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// `k=v&k=v` with percent-decoding ('+' is a space).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("scope=repository%3Abusy%2Fbox%3Apull%2Cpush&service=a+b&x"),
            vec![
                ("scope".into(), "repository:busy/box:pull,push".into()),
                ("service".into(), "a b".into()),
                ("x".into(), "".into()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn anonymous_gets_pull_only() {
        let scopes = vec![
            "repository:busybox:pull,push".to_string(),
            "repository:busybox:pull".to_string(),
            "registry:catalog:*".to_string(),
        ];
        assert_eq!(
            grant(&scopes, false).unwrap(),
            vec![("repository".into(), "busybox".into(), vec!["pull".into()])]
        );
        assert_eq!(
            grant(&scopes, true).unwrap(),
            vec![
                ("registry".into(), "catalog".into(), vec!["*".into()]),
                (
                    "repository".into(),
                    "busybox".into(),
                    vec!["pull".into(), "push".into()]
                ),
            ]
        );
        assert!(grant(&["nonsense".into()], true).is_err());
    }

    #[test]
    fn basic_auth_reads() {
        assert_eq!(
            basic_credentials("Basic YWxpY2U6czNjOnJldA=="),
            Some(("alice".into(), "s3c:ret".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
    }
}
