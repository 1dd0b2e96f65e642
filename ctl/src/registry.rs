//! Which registry a name points at, docker's way, and the key its
//! credentials are filed under. berthd parses references for real; the CLI
//! only needs enough of docker's rules to pick the credentials to send and
//! to print names as docker does ("busybox:latest", "docker.io/library/x").

/// The key Docker Hub's credentials are filed under (docker's IndexServer).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The domain of a name without one.
const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's older name, folded into [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";
/// The tag of a name without tag or digest.
pub const DEFAULT_TAG: &str = "latest";

/// Host names that all mean Docker Hub when given to login or logout.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// docker's `ConvertToHostname`: a URL's scheme and path dropped.
pub fn hostname(server: &str) -> &str {
    let stripped = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"))
        .unwrap_or(server);
    stripped.split('/').next().unwrap_or(stripped)
}

/// The key of a login or logout SERVER argument: Docker Hub's for no server
/// or any of its names, else `host[:port]`.
pub fn credential_key(server: &str) -> String {
    let host = hostname(server.trim());
    if host.is_empty() || DOCKER_HUB_HOSTS.contains(&host) {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host.to_owned()
    }
}

/// The credential key of a registry domain as [`split_docker_domain`]
/// gives it.
fn key_of_domain(domain: &str) -> String {
    if domain == DEFAULT_DOMAIN {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// docker's `splitDockerDomain`: the first path component is a domain when
/// it holds '.' or ':', is "localhost", or has upper case; otherwise the
/// name is on Docker Hub, under "library/" when it has one component.
pub fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_owned();
    }
    let remainder = if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        format!("{OFFICIAL_PREFIX}{remainder}")
    } else {
        remainder
    };
    (domain, remainder)
}

/// The credential key of the registry an image reference points at.
pub fn key_of_reference(reference: &str) -> String {
    key_of_domain(&split_docker_domain(reference).0)
}

/// The credential key of a search term: "host[:port]/term" searches that
/// registry (docker's `splitReposSearchTerm`: no upper-case rule), anything
/// else Docker Hub.
pub fn key_of_search_term(term: &str) -> String {
    match term.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            key_of_domain(if first == LEGACY_DEFAULT_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                first
            })
        }
        _ => DOCKER_HUB_KEY.to_owned(),
    }
}

/// A reference cut into its name, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn parts(reference: &str) -> Parts<'_> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    // A ':' after the last '/' starts the tag; one before it is a port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => Parts {
            name: &rest[..last_slash + i],
            tag: Some(&rest[last_slash + i + 1..]),
            digest,
        },
        None => Parts {
            name: rest,
            tag: None,
            digest,
        },
    }
}

/// True when the reference has neither tag nor digest (docker then says
/// "Using default tag: latest").
pub fn is_name_only(reference: &str) -> bool {
    let p = parts(reference);
    p.tag.is_none() && p.digest.is_none()
}

/// The name, tag and digest put back together, ":latest" added when there
/// is neither tag nor digest.
fn with_default_tag(name: &str, p: &Parts<'_>) -> String {
    let mut out = name.to_owned();
    match (p.tag, p.digest) {
        (None, None) => {
            out.push(':');
            out.push_str(DEFAULT_TAG);
        }
        (tag, digest) => {
            if let Some(tag) = tag {
                out.push(':');
                out.push_str(tag);
            }
            if let Some(digest) = digest {
                out.push('@');
                out.push_str(digest);
            }
        }
    }
    out
}

/// docker's `FamiliarString(TagNameOnly(ref))`: "busybox:latest" for
/// "docker.io/library/busybox", "127.0.0.1:5000/app:latest" for
/// "127.0.0.1:5000/app".
pub fn familiar(reference: &str) -> String {
    let p = parts(reference);
    let (domain, remainder) = split_docker_domain(p.name);
    let name = if domain == DEFAULT_DOMAIN {
        remainder
            .strip_prefix(OFFICIAL_PREFIX)
            .filter(|r| !r.contains('/'))
            .unwrap_or(&remainder)
            .to_owned()
    } else {
        format!("{domain}/{remainder}")
    };
    with_default_tag(&name, &p)
}

/// The full name: "docker.io/library/busybox:latest".
pub fn normalized(reference: &str) -> String {
    let p = parts(reference);
    let (domain, remainder) = split_docker_domain(p.name);
    with_default_tag(&format!("{domain}/{remainder}"), &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str) -> (String, String) {
        split_docker_domain(name)
    }

    #[test]
    fn domains_docker_s_way() {
        let hub = |r: &str| ("docker.io".to_owned(), r.to_owned());
        assert_eq!(split("busybox"), hub("library/busybox"));
        assert_eq!(split("user/app"), hub("user/app"));
        assert_eq!(split("docker.io/busybox"), hub("library/busybox"));
        assert_eq!(split("index.docker.io/user/app"), hub("user/app"));
        assert_eq!(split("a/b/c"), hub("a/b/c"));
        assert_eq!(
            split("127.0.0.1:5000/busybox"),
            ("127.0.0.1:5000".into(), "busybox".into())
        );
        assert_eq!(split("localhost/app"), ("localhost".into(), "app".into()));
        assert_eq!(
            split("ghcr.io/org/app"),
            ("ghcr.io".into(), "org/app".into())
        );
        assert_eq!(split("myhost:80/x"), ("myhost:80".into(), "x".into()));
        // Upper case can only be a host name.
        assert_eq!(split("MyHost/app"), ("MyHost".into(), "app".into()));
        assert_eq!(split("myhost/app"), hub("myhost/app"));
    }

    #[test]
    fn keys_of_references() {
        for (reference, key) in [
            ("busybox", DOCKER_HUB_KEY),
            ("busybox:1.36", DOCKER_HUB_KEY),
            ("library/busybox@sha256:abc", DOCKER_HUB_KEY),
            ("docker.io/library/busybox:latest", DOCKER_HUB_KEY),
            ("index.docker.io/user/app", DOCKER_HUB_KEY),
            ("127.0.0.1:5000/busybox:v1", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            (
                "registry.example.com/team/app@sha256:abc",
                "registry.example.com",
            ),
        ] {
            assert_eq!(key_of_reference(reference), key, "{reference}");
        }
    }

    #[test]
    fn keys_of_login_servers() {
        for (server, key) in [
            ("", DOCKER_HUB_KEY),
            ("docker.io", DOCKER_HUB_KEY),
            ("index.docker.io", DOCKER_HUB_KEY),
            ("registry-1.docker.io", DOCKER_HUB_KEY),
            ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
            ("https://registry-1.docker.io/v2/", DOCKER_HUB_KEY),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("http://127.0.0.1:5000", "127.0.0.1:5000"),
            (
                "https://myregistry.example:8443/v2/",
                "myregistry.example:8443",
            ),
            ("localhost", "localhost"),
        ] {
            assert_eq!(credential_key(server), key, "{server:?}");
        }
    }

    #[test]
    fn keys_of_search_terms() {
        assert_eq!(key_of_search_term("busybox"), DOCKER_HUB_KEY);
        assert_eq!(key_of_search_term("user/app"), DOCKER_HUB_KEY);
        assert_eq!(key_of_search_term("127.0.0.1:5000/busy"), "127.0.0.1:5000");
        assert_eq!(key_of_search_term("localhost/x"), "localhost");
        assert_eq!(key_of_search_term("index.docker.io/x"), DOCKER_HUB_KEY);
    }

    #[test]
    fn familiar_and_full_names() {
        for (reference, fam, full) in [
            (
                "busybox",
                "busybox:latest",
                "docker.io/library/busybox:latest",
            ),
            (
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
            ),
            ("user/app", "user/app:latest", "docker.io/user/app:latest"),
            (
                "127.0.0.1:5000/app",
                "127.0.0.1:5000/app:latest",
                "127.0.0.1:5000/app:latest",
            ),
            (
                "localhost:5000/a/b:v2",
                "localhost:5000/a/b:v2",
                "localhost:5000/a/b:v2",
            ),
            (
                "busybox@sha256:abc",
                "busybox@sha256:abc",
                "docker.io/library/busybox@sha256:abc",
            ),
            (
                "busybox:1@sha256:abc",
                "busybox:1@sha256:abc",
                "docker.io/library/busybox:1@sha256:abc",
            ),
        ] {
            assert_eq!(familiar(reference), fam, "{reference}");
            assert_eq!(normalized(reference), full, "{reference}");
        }
        assert!(is_name_only("busybox"));
        assert!(is_name_only("127.0.0.1:5000/app"));
        assert!(!is_name_only("127.0.0.1:5000/app:v1"));
        assert!(!is_name_only("busybox@sha256:abc"));
    }
}
