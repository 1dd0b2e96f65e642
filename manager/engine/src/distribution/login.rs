//! `login` (credentials checked against the registry's challenge: basic
//! auth, or the bearer token service it names) and `search` (the v1 search
//! API where a registry has one, else its v2 catalog filtered by the term).

use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::errors::unreachable;
use super::hosts::{self, Connection, DOCKER_HUB};
use super::RegistryCredentials;
use crate::config::Config;
use crate::error::{ManagerError, Result};

/// The key docker stores Docker Hub credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A login server as typed → (registry name, the key credentials are kept under).
pub fn normalize_server(server: &str) -> Result<(String, String)> {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_ascii_lowercase();
    if matches!(
        host.as_str(),
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        return Ok((DOCKER_HUB.to_string(), DOCKER_HUB_KEY.to_string()));
    }
    if host.contains(char::is_whitespace) || host.contains('@') {
        return Err(ManagerError::InvalidArgument(format!(
            "invalid registry server {server:?}"
        )));
    }
    Ok((host.clone(), host))
}

/// Connects to a registry's own endpoint (no mirror).
async fn connect(config: &Config, registry: &str) -> Result<Connection> {
    let config = config.clone();
    let registry = registry.to_string();
    let ep = tokio::task::spawn_blocking(move || hosts::endpoints(&config, &registry))
        .await??
        .pop()
        .ok_or_else(|| ManagerError::Internal("no registry endpoint".into()))?;
    ep.connect(1).await
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn parse(h: &str) -> Option<Challenge> {
        let h = h.trim();
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        let mut params = Vec::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let (k, after) = rest.split_once('=')?;
            let after = after.trim_start();
            let (v, tail) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            params.push((k.trim().to_ascii_lowercase(), v.to_string()));
            rest = tail.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks `username`/`password` against `server`; returns the key to keep
/// them under.
pub async fn login(
    config: &Config,
    server: &str,
    username: &str,
    password: &str,
) -> Result<String> {
    let (registry, key) = normalize_server(server)?;
    if username.is_empty() || password.is_empty() {
        return Err(ManagerError::InvalidArgument(
            "login needs a username and a password".into(),
        ));
    }
    let conn = connect(config, &registry).await?;
    let auth = RegistryAuth::Basic(username.to_string(), password.to_string());
    let url = format!("{}/v2/", conn.base);
    let res = authorized_get(&conn, &url, &[], &auth, "login").await?;
    let host = &conn.endpoint.host;
    match res.status() {
        s if s.is_success() => Ok(key),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(refused(host, "login")),
        s => Err(ManagerError::Unavailable(format!(
            "login to {host}: {url} answered HTTP {s}"
        ))),
    }
}

fn refused(host: &str, what: &str) -> ManagerError {
    ManagerError::Unauthenticated(format!(
        "{what} at {host} failed: unauthorized: incorrect username or password"
    ))
}

/// A GET that answers the registry's challenge: basic auth with the
/// credentials, or a token from the service a bearer challenge names (for
/// the scope it names: `registry:catalog:*` for the catalog, say). The
/// response is returned as the registry gave it, 401 included when there
/// are no credentials to try; a token service refusing the credentials is
/// an error.
async fn authorized_get(
    conn: &Connection,
    url: &str,
    query: &[(&str, String)],
    auth: &RegistryAuth,
    what: &str,
) -> Result<reqwest::Response> {
    let host = &conn.endpoint.host;
    let get = || conn.http.get(url).query(query);
    let first = match auth {
        RegistryAuth::Bearer(t) => return send(host, get().bearer_auth(t)).await,
        _ => send(host, get()).await?,
    };
    if first.status() != StatusCode::UNAUTHORIZED {
        return Ok(first);
    }
    let Some(challenge) = challenge_of(&first) else {
        return Ok(first);
    };
    match (challenge.scheme.as_str(), auth) {
        ("basic", RegistryAuth::Basic(u, p)) => send(host, get().basic_auth(u, Some(p))).await,
        ("basic", _) => Ok(first),
        ("bearer", _) => {
            let token = bearer_token(conn, &challenge, auth, what).await?;
            send(host, get().bearer_auth(token)).await
        }
        (other, _) => Err(ManagerError::Unimplemented(format!(
            "{what} at {host}: unsupported authentication scheme {other:?}"
        ))),
    }
}

/// Sends a request; a registry that cannot be reached is named.
async fn send(host: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    req.send().await.map_err(|e| unreachable(host, &e))
}

/// The challenge of a 401 answer, if it has one we can read.
fn challenge_of(res: &reqwest::Response) -> Option<Challenge> {
    let header = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Challenge::parse(header)
}

/// A token from the service a bearer challenge names, for the service and
/// scope it names, asked for with the credentials when there are some.
async fn bearer_token(
    conn: &Connection,
    challenge: &Challenge,
    auth: &RegistryAuth,
    what: &str,
) -> Result<String> {
    let host = &conn.endpoint.host;
    let realm = challenge.param("realm").ok_or_else(|| {
        ManagerError::Unavailable(format!("{what} at {host}: bearer challenge without realm"))
    })?;
    let mut token_query: Vec<(&str, String)> = Vec::new();
    if let Some(svc) = challenge.param("service") {
        token_query.push(("service", svc.to_string()));
    }
    if let Some(scope) = challenge.param("scope") {
        token_query.push(("scope", scope.to_string()));
    }
    let mut req = conn.http.get(realm);
    if let RegistryAuth::Basic(u, p) = auth {
        token_query.push(("account", u.clone()));
        req = req.basic_auth(u, Some(p));
    }
    let res = send(host, req.query(&token_query)).await?;
    match res.status() {
        s if s.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(refused(host, what)),
        s => {
            return Err(ManagerError::Unavailable(format!(
                "{what} at {host}: the token service answered HTTP {s}"
            )))
        }
    }
    let token: TokenAnswer = res.json().await.map_err(|e| {
        ManagerError::Unavailable(format!("{what} at {host}: unreadable token: {e}"))
    })?;
    token.token.or(token.access_token).ok_or_else(|| {
        ManagerError::Unavailable(format!("{what} at {host}: the token service sent no token"))
    })
}

/// A token service's answer (docker's and OAuth's field names).
#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// One search hit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Hit {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u32,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct V1Results {
    #[serde(default)]
    results: Vec<Hit>,
}

/// Splits a search term: "host[:port]/term" searches that registry.
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            return (first.to_string(), rest.to_string());
        }
    }
    (DOCKER_HUB.to_string(), term.to_string())
}

/// Searches a registry for `term`.
pub async fn search(
    config: &Config,
    term: &str,
    limit: u32,
    auth: &RegistryCredentials,
) -> Result<Vec<Hit>> {
    let auth = &auth.to_oci();
    let (registry, query) = split_term(term.trim());
    if query.is_empty() {
        return Err(ManagerError::InvalidArgument(
            "search: the term is empty".into(),
        ));
    }
    let limit = match limit {
        0 => 25,
        n if n > 100 => {
            return Err(ManagerError::InvalidArgument(format!(
                "limit {n} is outside the range of [1, 100]"
            )))
        }
        n => n,
    };
    let conn = connect(config, &registry).await?;
    let host = conn.endpoint.host.clone();
    let res = authorized_get(
        &conn,
        &format!("{}/v1/search", conn.base),
        &[("q", query.clone()), ("n", limit.to_string())],
        auth,
        "search",
    )
    .await?;
    match res.status() {
        s if s.is_success() => {
            let v: V1Results = res.json().await.map_err(|e| {
                ManagerError::Unavailable(format!("search at {host}: unreadable answer: {e}"))
            })?;
            return Ok(v.results.into_iter().take(limit as usize).collect());
        }
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            // distribution answers 401 for every unknown path when it
            // requires auth: try the catalog, which says more.
        }
        s => {
            return Err(ManagerError::Unavailable(format!(
                "search at {host}: HTTP {s}"
            )))
        }
    }
    catalog_search(&conn, &query, limit, auth).await
}

/// The v2 catalog, filtered by `query` (case-insensitive substring).
async fn catalog_search(
    conn: &Connection,
    query: &str,
    limit: u32,
    auth: &RegistryAuth,
) -> Result<Vec<Hit>> {
    let host = &conn.endpoint.host;
    let url = format!("{}/v2/_catalog", conn.base);
    let needle = query.to_ascii_lowercase();
    let mut hits = Vec::new();
    let mut last: Option<String> = None;
    // At most 10 pages of 1000 names.
    for _ in 0..10 {
        let mut q = vec![("n", "1000".to_string())];
        if let Some(l) = &last {
            q.push(("last", l.clone()));
        }
        let res = authorized_get(conn, &url, &q, auth, "search").await?;
        match res.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "registry {host} offers neither a search API (/v1/search) nor a catalog (/v2/_catalog)"
                )))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(ManagerError::Unauthenticated(format!(
                    "search at {host}: unauthorized: the catalog needs credentials with access to it (berth login {host})"
                )))
            }
            s => {
                return Err(ManagerError::Unavailable(format!(
                    "search at {host}: the catalog answered HTTP {s}"
                )))
            }
        }
        let page: Catalog = res.json().await.map_err(|e| {
            ManagerError::Unavailable(format!("search at {host}: unreadable catalog: {e}"))
        })?;
        let n = page.repositories.len();
        last = page.repositories.last().cloned();
        for r in page.repositories {
            if r.to_ascii_lowercase().contains(&needle) && hits.len() < limit as usize {
                hits.push(Hit {
                    name: format!("{host}/{r}"),
                    ..Hit::default()
                });
            }
        }
        if n < 1000 || hits.len() >= limit as usize {
            break;
        }
    }
    Ok(hits)
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_normalize_like_docker() {
        for hub in [
            "",
            "docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
        ] {
            assert_eq!(normalize_server(hub).unwrap().1, DOCKER_HUB_KEY, "{hub:?}");
        }
        assert_eq!(
            normalize_server("https://127.0.0.1:5000/v2/").unwrap(),
            ("127.0.0.1:5000".to_string(), "127.0.0.1:5000".to_string())
        );
        assert!(normalize_server("a b").is_err());
    }

    #[test]
    fn challenges_parse() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        let b = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn search_terms_name_their_registry() {
        assert_eq!(
            split_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
    }
}
