//! Docker image references (`busybox`, `localhost:5000/app:v1`,
//! `registry.example.com/a/b@sha256:…`), parsed once at the edge into a
//! [`Reference`] that cannot hold an invalid name.
//!
//! The grammar is docker/distribution's (`reference.go`, `regexp.go`,
//! `normalize.go`), hand-written so that every refusal carries a reason:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] path
//! domain           := host [":" port]
//! host             := domain-name | "[" ipv6 "]"
//! domain-name      := component ("." component)*     ; [a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! port             := [0-9]+
//! path             := path-component ("/" path-component)*
//! path-component   := alnum (separator alnum)*        ; alnum = [a-z0-9]+
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [\w][\w.-]{0,127}
//! digest           := algorithm ":" hex               ; sha256/64, sha384/96, sha512/128, lower-case hex
//! ```
//!
//! Normalization follows docker's `ParseNormalizedNamed`: the first
//! component is a domain only when it contains `.` or `:`, is `localhost`,
//! or has upper-case letters; otherwise the name lives on `docker.io`, and
//! a single-component Docker Hub name gets the `library/` namespace.
//! `index.docker.io` is folded into `docker.io`. No tag is defaulted by
//! parsing: [`Reference::with_default_tag`] does that where docker does.

use std::fmt;
use std::str::FromStr;

/// The registry that names without a domain live on.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The old name of Docker Hub, folded into [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Docker Hub's namespace for official images.
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// docker/distribution limits the path (the name without its domain).
const PATH_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A string that is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {reason}: {input:?}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

impl ReferenceError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        ReferenceError {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// A normalized image reference: always has a domain and a path, and
/// optionally a tag, a digest, or both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses `s` the way the docker CLI does, normalizing familiar names:
    /// `busybox` becomes `docker.io/library/busybox` (with no tag).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError::new(s, reason);
        if s.is_empty() {
            return Err(err("repository name must have at least one component"));
        }
        if is_identifier(s) {
            // An image ID typed where a name belongs: docker refuses it so
            // that IDs and names can never be confused.
            return Err(err("cannot specify 64-byte hexadecimal strings"));
        }

        // Neither names nor tags may contain '@', so the first one starts
        // the digest.
        let (named, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        let (domain, remainder) = split_docker_domain(named);
        // Paths never contain ':', so the first one after the domain starts
        // the tag.
        let (path, tag) = match remainder.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (remainder.as_str(), None),
        };

        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase"));
        }
        check_domain(&domain).map_err(|r| err(&r))?;
        check_path(path).map_err(|r| err(&r))?;
        if path.len() > PATH_MAX {
            return Err(err(&format!(
                "repository name must not be more than {PATH_MAX} characters"
            )));
        }
        if let Some(t) = tag {
            check_tag(t).map_err(|r| err(&r))?;
        }
        if let Some(d) = digest {
            check_digest(d).map_err(|r| err(&r))?;
        }
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Alias of [`Reference::parse`], under docker's name for it.
    pub fn parse_normalized_named(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }

    /// Adds the `latest` tag when the reference has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The registry, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as docker shows it: `busybox`, `user/app`,
    /// `localhost:5000/app`.
    ///
    /// Unlike docker, a Docker Hub path whose first component would itself
    /// be read as a domain (`docker.io/foo.com/bar`) keeps `docker.io/`, so
    /// that parsing the familiar form always gives back the same reference.
    pub fn familiar_repository(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.repository();
        }
        if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            if !rest.contains('/') {
                return rest.to_string();
            }
        }
        match self.path.split_once('/') {
            Some((first, _)) if looks_like_domain(first) => self.repository(),
            _ => self.path.clone(),
        }
    }

    /// The reference as docker shows it: `busybox:latest`,
    /// `busybox@sha256:…`, `localhost:5000/a/b:v1`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with `tag`; a digest, if any, is kept.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(tag).map_err(|r| ReferenceError::new(tag, r))?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository with `digest`; a tag, if any, is kept.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        check_digest(digest).map_err(|r| ReferenceError::new(digest, r))?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
    }
}

impl fmt::Display for Reference {
    /// The full normalized form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Whether `s` is a sha256 digest in canonical form: `sha256:` and 64
/// lower-case hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_identifier)
}

/// 64 lower-case hex digits: an image ID without its algorithm.
fn is_identifier(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a first path component is to be read as a registry domain.
fn looks_like_domain(first: &str) -> bool {
    first == "localhost"
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// Splits a name (possibly with its tag) into domain and the rest,
/// following docker's `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        // A single component is always a Docker Hub name, even `localhost`
        // or `example.com`; it may carry a tag, so its ':' is no port.
        None => (DEFAULT_DOMAIN, name),
        Some((first, rest)) if first == LEGACY_DEFAULT_DOMAIN => (DEFAULT_DOMAIN, rest),
        Some((first, rest)) if looks_like_domain(first) => (first, rest),
        Some(_) => (DEFAULT_DOMAIN, name),
    };
    let rest = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{rest}")
    } else {
        rest.to_string()
    };
    (domain.to_string(), rest)
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid domain {domain:?}: {why}"));
    let port = if let Some(inner) = domain.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return bad("missing ']' after IPv6 address");
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad("IPv6 address must be hex digits and ':'");
        }
        match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return bad("unexpected characters after IPv6 address"),
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        for label in host.split('.') {
            let bytes = label.as_bytes();
            let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
                return bad("empty host name component");
            };
            if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
                return bad("host name components must start and end with a letter or digit");
            }
            if !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            {
                return bad("host name components may contain only letters, digits and '-'");
            }
        }
        port
    };
    match port {
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => {
            bad("port must be a decimal number")
        }
        _ => Ok(()),
    }
}

fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        check_path_component(component)
            .map_err(|why| format!("invalid path component {component:?}: {why}"))?;
    }
    Ok(())
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `.`, `_`, `__` or `-+`.
fn check_path_component(c: &str) -> Result<(), &'static str> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return Err("empty component");
    }
    let mut i = 0;
    loop {
        // An alphanumeric run, which must not be empty.
        let start = i;
        while bytes.get(i).is_some_and(|&b| alnum(b)) {
            i += 1;
        }
        if i == start {
            return Err(if start == 0 {
                "must start with a lower-case letter or digit"
            } else {
                "separators must be followed by a lower-case letter or digit"
            });
        }
        // Then a separator, or the end.
        match bytes.get(i) {
            None => return Ok(()),
            Some(b'.') => i += 1,
            Some(b'_') => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            Some(b'-') => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            Some(_) => {
                return Err("only lower-case letters, digits, '.', '_', '__' and '-' are allowed")
            }
        }
    }
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err("empty tag".into());
    };
    if bytes.len() > TAG_MAX {
        return Err(format!("tag must not be more than {TAG_MAX} characters"));
    }
    if !word(first) {
        return Err(format!(
            "invalid tag {tag:?}: must start with a letter, digit or '_'"
        ));
    }
    if !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        return Err(format!(
            "invalid tag {tag:?}: only letters, digits, '_', '.' and '-' are allowed"
        ));
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("invalid digest {digest:?}: expected algorithm:hex"));
    };
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algorithm:?}")),
    };
    if hex.len() != want || !is_lower_hex(hex) {
        return Err(format!(
            "invalid digest {digest:?}: {algorithm} needs {want} lower-case hex digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn d() -> String {
        format!("sha256:{H}")
    }

    /// input, domain, path, tag, digest, familiar(), Display.
    type ValidCase<'a> = (
        String,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
        String,
    );

    #[test]
    fn valid_references() {
        let dg = d();
        let cases: Vec<ValidCase> = vec![
            (
                "busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
                "busybox".into(),
                "docker.io/library/busybox".into(),
            ),
            (
                "busybox:1.36".into(),
                "docker.io",
                "library/busybox",
                Some("1.36"),
                None,
                "busybox:1.36".into(),
                "docker.io/library/busybox:1.36".into(),
            ),
            (
                "library/busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
                "busybox".into(),
                "docker.io/library/busybox".into(),
            ),
            (
                "docker.io/busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
                "busybox".into(),
                "docker.io/library/busybox".into(),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                "docker.io",
                "library/busybox",
                Some("latest"),
                None,
                "busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "index.docker.io/busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
                "busybox".into(),
                "docker.io/library/busybox".into(),
            ),
            (
                "index.docker.io/user/app:v2".into(),
                "docker.io",
                "user/app",
                Some("v2"),
                None,
                "user/app:v2".into(),
                "docker.io/user/app:v2".into(),
            ),
            (
                "user/app".into(),
                "docker.io",
                "user/app",
                None,
                None,
                "user/app".into(),
                "docker.io/user/app".into(),
            ),
            (
                "library/a/b".into(),
                "docker.io",
                "library/a/b",
                None,
                None,
                "library/a/b".into(),
                "docker.io/library/a/b".into(),
            ),
            (
                "localhost/foo".into(),
                "localhost",
                "foo",
                None,
                None,
                "localhost/foo".into(),
                "localhost/foo".into(),
            ),
            (
                "localhost:5000/foo/bar:v1".into(),
                "localhost:5000",
                "foo/bar",
                Some("v1"),
                None,
                "localhost:5000/foo/bar:v1".into(),
                "localhost:5000/foo/bar:v1".into(),
            ),
            (
                "127.0.0.1:5000/x".into(),
                "127.0.0.1:5000",
                "x",
                None,
                None,
                "127.0.0.1:5000/x".into(),
                "127.0.0.1:5000/x".into(),
            ),
            (
                "[::1]:5000/x".into(),
                "[::1]:5000",
                "x",
                None,
                None,
                "[::1]:5000/x".into(),
                "[::1]:5000/x".into(),
            ),
            (
                "[2001:db8::1]/x:t".into(),
                "[2001:db8::1]",
                "x",
                Some("t"),
                None,
                "[2001:db8::1]/x:t".into(),
                "[2001:db8::1]/x:t".into(),
            ),
            (
                "example:5000/x".into(),
                "example:5000",
                "x",
                None,
                None,
                "example:5000/x".into(),
                "example:5000/x".into(),
            ),
            (
                format!("registry.example.com/a/b/c@{dg}"),
                "registry.example.com",
                "a/b/c",
                None,
                Some(dg.as_str()),
                format!("registry.example.com/a/b/c@{dg}"),
                format!("registry.example.com/a/b/c@{dg}"),
            ),
            (
                format!("foo:tag@{dg}"),
                "docker.io",
                "library/foo",
                Some("tag"),
                Some(dg.as_str()),
                format!("foo:tag@{dg}"),
                format!("docker.io/library/foo:tag@{dg}"),
            ),
            (
                format!("busybox@{dg}"),
                "docker.io",
                "library/busybox",
                None,
                Some(dg.as_str()),
                format!("busybox@{dg}"),
                format!("docker.io/library/busybox@{dg}"),
            ),
            (
                "a__b".into(),
                "docker.io",
                "library/a__b",
                None,
                None,
                "a__b".into(),
                "docker.io/library/a__b".into(),
            ),
            (
                "a-b--c".into(),
                "docker.io",
                "library/a-b--c",
                None,
                None,
                "a-b--c".into(),
                "docker.io/library/a-b--c".into(),
            ),
            (
                "a.b".into(),
                "docker.io",
                "library/a.b",
                None,
                None,
                "a.b".into(),
                "docker.io/library/a.b".into(),
            ),
            (
                "a_b-c/d.e__f".into(),
                "docker.io",
                "a_b-c/d.e__f",
                None,
                None,
                "a_b-c/d.e__f".into(),
                "docker.io/a_b-c/d.e__f".into(),
            ),
            (
                "0/1".into(),
                "docker.io",
                "0/1",
                None,
                None,
                "0/1".into(),
                "docker.io/0/1".into(),
            ),
            // An upper-case first component is a domain, as in docker.
            (
                "UPPER/x".into(),
                "UPPER",
                "x",
                None,
                None,
                "UPPER/x".into(),
                "UPPER/x".into(),
            ),
            (
                "Registry.Example.com/x".into(),
                "Registry.Example.com",
                "x",
                None,
                None,
                "Registry.Example.com/x".into(),
                "Registry.Example.com/x".into(),
            ),
            // Single components are Docker Hub names, whatever they look like.
            (
                "localhost".into(),
                "docker.io",
                "library/localhost",
                None,
                None,
                "localhost".into(),
                "docker.io/library/localhost".into(),
            ),
            (
                "localhost:5000".into(),
                "docker.io",
                "library/localhost",
                Some("5000"),
                None,
                "localhost:5000".into(),
                "docker.io/library/localhost:5000".into(),
            ),
            (
                "foo:UPPER_tag.1-x".into(),
                "docker.io",
                "library/foo",
                Some("UPPER_tag.1-x"),
                None,
                "foo:UPPER_tag.1-x".into(),
                "docker.io/library/foo:UPPER_tag.1-x".into(),
            ),
            // Docker Hub paths whose first component reads as a domain keep
            // their domain in the familiar form (docker would drop it).
            (
                "docker.io/foo.com/bar".into(),
                "docker.io",
                "foo.com/bar",
                None,
                None,
                "docker.io/foo.com/bar".into(),
                "docker.io/foo.com/bar".into(),
            ),
        ];
        for (input, domain, path, tag, digest, familiar, display) in cases {
            let r =
                Reference::parse(&input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(r.domain(), domain, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest(), digest, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            assert_eq!(r.to_string(), display, "{input}");
            // Both printed forms parse back to the same reference.
            assert_eq!(
                Reference::parse(&r.familiar()).ok(),
                Some(r.clone()),
                "{input}"
            );
            assert_eq!(r.to_string().parse::<Reference>().ok(), Some(r), "{input}");
        }
    }

    #[test]
    fn invalid_references() {
        let dg = d();
        let long_tag = format!("foo:{}", "t".repeat(129));
        let long_path = format!("a/{}", "b".repeat(254));
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "at least one component"),
            ("Busybox".into(), "must be lowercase"),
            ("busyBox:1".into(), "must be lowercase"),
            ("user/App".into(), "must be lowercase"),
            ("localhost:5000/Foo".into(), "must be lowercase"),
            ("foo:".into(), "empty tag"),
            (":tag".into(), "invalid path component \"\""),
            ("foo::bar".into(), "invalid tag \":bar\""),
            ("foo@sha256:abc".into(), "needs 64"),
            (format!("foo@sha256:{}", H.to_uppercase()), "lower-case hex"),
            (format!("foo@md5:{H}"), "unsupported digest algorithm"),
            ("foo@".into(), "expected algorithm:hex"),
            (format!("foo@{dg}@{dg}"), "needs 64"),
            ("-foo".into(), "must start with"),
            ("foo-".into(), "separators must be followed"),
            ("foo/".into(), "invalid path component \"\""),
            ("/foo".into(), "invalid path component \"\""),
            ("foo//bar".into(), "invalid path component \"\""),
            ("foo:a b".into(), "invalid tag"),
            ("foo bar".into(), "only lower-case letters"),
            ("a___b".into(), "separators must be followed"),
            ("a._b".into(), "separators must be followed"),
            ("a..b".into(), "separators must be followed"),
            (long_tag, "not be more than 128"),
            (long_path, "not be more than 255"),
            (H.into(), "64-byte hexadecimal"),
            ("foo:.tag".into(), "must start with"),
            ("foo:-tag".into(), "must start with"),
            ("localhost:/foo".into(), "port must be a decimal number"),
            ("localhost:50a/foo".into(), "port must be a decimal number"),
            ("exa_mple.com/foo".into(), "invalid domain"),
            // docker reads this as a domain-less path; we refuse it, since a
            // first component with '.' is always taken for a domain.
            ("a_b.c/foo".into(), "invalid domain"),
            ("-example.com/foo".into(), "invalid domain"),
            ("example..com/foo".into(), "empty host name component"),
            ("example.com./foo".into(), "empty host name component"),
            ("[::1/foo".into(), "missing ']'"),
            ("[]:5000/foo".into(), "IPv6 address"),
            ("[fe80::1%eth0]/foo".into(), "IPv6 address"),
            ("[::1]x/foo".into(), "after IPv6"),
            ("::1/foo".into(), "empty host name component"),
            ("héllo".into(), "only lower-case letters"),
            ("foo:tag/bar".into(), "port must be a decimal number"),
        ];
        for (input, want) in cases {
            match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} should be refused, got {r}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("invalid reference format: "), "{msg}");
                    assert!(msg.contains(want), "{input:?}: {msg:?} lacks {want:?}");
                }
            }
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        let tag = "t".repeat(128);
        let r = Reference::parse(&format!("foo:{tag}")).ok();
        assert_eq!(r.as_ref().and_then(Reference::tag), Some(tag.as_str()));
        // The limit is on the path, as in docker/distribution, not on the
        // domain plus path.
        let path = format!("a/{}", "b".repeat(253));
        let r = Reference::parse(&format!("registry.example.com/{path}")).ok();
        assert_eq!(r.as_ref().map(Reference::path), Some(path.as_str()));
    }

    #[test]
    fn default_tag_only_when_untagged_and_undigested() {
        let p = |s: &str| {
            Reference::parse(s)
                .map(Reference::with_default_tag)
                .map(|r| r.to_string())
        };
        assert_eq!(
            p("busybox").ok().as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            p("busybox:1").ok().as_deref(),
            Some("docker.io/library/busybox:1")
        );
        let dg = d();
        assert_eq!(
            p(&format!("busybox@{dg}")).ok(),
            Some(format!("docker.io/library/busybox@{dg}"))
        );
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("localhost:5000/app:v1").ok();
        let r = r.as_ref().map(|r| r.with_tag("v2"));
        assert_eq!(
            r.and_then(Result::ok).map(|r| r.familiar()).as_deref(),
            Some("localhost:5000/app:v2")
        );
        let base = Reference::parse("busybox:1").ok();
        let Some(base) = base else {
            panic!("busybox:1 parses")
        };
        let dg = d();
        assert_eq!(
            base.with_digest(&dg).map(|r| r.familiar()).ok(),
            Some(format!("busybox:1@{dg}"))
        );
        let e = base
            .with_tag("bad tag")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("invalid reference format"), "{e}");
        assert!(base.with_tag("").is_err());
        assert!(base.with_digest("sha256:abc").is_err());
        assert_eq!(base.repository(), "docker.io/library/busybox");
        assert_eq!(base.familiar_repository(), "busybox");
    }

    #[test]
    fn digest_predicate() {
        assert!(is_digest(&d()));
        assert!(!is_digest(H));
        assert!(!is_digest(&format!("sha256:{}", H.to_uppercase())));
        assert!(!is_digest(&format!("sha512:{H}")));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(""));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "@",
            ":",
            "/",
            "[",
            "]",
            "[:",
            "a@b:c",
            "é/é:é@é",
            "\u{0}",
            "a:b:c/d",
            "[::1]",
            "@sha256:",
        ] {
            let _ = Reference::parse(s);
        }
    }
}
