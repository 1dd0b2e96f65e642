//! Bearer tokens end to end: Debian's `docker-registry` in `auth: token:`
//! mode over plain HTTP on 127.0.0.1 (insecure by default), its tokens from
//! the test's own token server (`berth_tests::registry::TokenServer`: JWTs
//! signed with a certificate the registry trusts; the one user gets every
//! action, anyone else `pull` only). Anonymous pulls go through an anonymous
//! token; an anonymous push is refused; login checks the password at the
//! token endpoint; a logged-in push asks for `pull,push`. The token server
//! records what was asked, so the tests see the scopes berthd requested.
//! Nothing talks to anything but 127.0.0.1.

use std::process::{Command, Output};

use berth_tests::registry::{says_unauthorized, Registry, TokenRequest};
use berth_tests::{check_ok, output_ok, require_tool, Daemon};
use serde_json::{json, Value};

const USER: &str = "tokuser";
const PASSWORD: &str = "t0ken-pw";

/// The manifest digest the registry holds for `name`, by skopeo as the
/// token server's user.
fn registry_digest(reg: &Registry, name: &str) -> String {
    reg.skopeo_inspect(name, false)["Digest"]
        .as_str()
        .expect("Digest")
        .to_string()
}

/// Asserts the daemon refused berth `args` (which ran with output `out`)
/// as docker prints it: exit 1 and "Error response from daemon: ...";
/// returns stderr.
fn refused_by_daemon(args: &[&str], out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "berth {args:?}: want exit 1:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("Error response from daemon: ")),
        "berth {args:?}: no 'Error response from daemon:' line: {stderr}"
    );
    stderr
}

/// The token requests that asked for `scope`.
fn asking(reqs: &[TokenRequest], scope: &str) -> Vec<TokenRequest> {
    reqs.iter()
        .filter(|r| r.scopes.iter().any(|s| s == scope))
        .cloned()
        .collect()
}

/// The fixture itself, proved with skopeo: the user pushes (asking for
/// `pull,push`), anyone pulls with an anonymous token, an anonymous push
/// and a wrong password are refused.
#[test]
fn token_registry_fixture_works_with_skopeo() {
    let skopeo = require_tool("skopeo", "skopeo");
    let reg = Registry::with_token_auth(USER, PASSWORD);
    let tokens = reg.token_server();
    reg.seed_busybox("busybox:latest");
    let reqs = tokens.requests();
    let push = asking(&reqs, "repository:busybox:pull,push");
    assert!(
        push.iter().any(|r| r.status == 200
            && r.user.as_deref() == Some(USER)
            && r.granted == ["repository:busybox:pull,push"]),
        "{reqs:?}"
    );
    let digest = registry_digest(&reg, "busybox:latest");

    tokens.clear();
    let tmp = tempfile::tempdir().unwrap();
    let out = output_ok(
        Command::new(&skopeo)
            .args(["inspect", "--tls-verify=false", "--no-creds"])
            .arg(format!("docker://{}/busybox:latest", reg.host())),
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["Digest"], json!(digest));
    let reqs = tokens.requests();
    assert!(
        asking(&reqs, "repository:busybox:pull")
            .iter()
            .any(|r| r.status == 200 && r.user.is_none()),
        "{reqs:?}"
    );

    let out = Command::new(&skopeo)
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-no-creds",
        ])
        .arg(format!(
            "oci-archive:{}:latest",
            berth_tests::registry::busybox_oci_archive(tmp.path()).display()
        ))
        .arg(format!("docker://{}/anon:latest", reg.host()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an anonymous push was accepted");
    assert!(says_unauthorized(&stderr), "{stderr}");

    let out = Command::new(&skopeo)
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("--creds={USER}:wrong"))
        .arg(format!("docker://{}/busybox:latest", reg.host()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong password was accepted");
    assert!(says_unauthorized(&stderr), "{stderr}");
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| r.status == 401 && r.user.as_deref() == Some(USER)),
        "{:?}",
        tokens.requests()
    );
}

/// Without any login, berth pulls a public repository through an anonymous
/// token whose scope names the repository, and runs it.
#[test]
fn anonymous_pull_uses_an_anonymous_token() {
    let reg = Registry::with_token_auth(USER, PASSWORD);
    reg.seed_busybox("library/busybox:latest");
    let digest = registry_digest(&reg, "library/busybox:latest");
    let tokens = reg.token_server();
    tokens.clear();
    let d = Daemon::start();
    let name = format!("{}/library/busybox:latest", reg.host());

    let out = d.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let reqs = tokens.requests();
    assert!(
        !reqs.is_empty(),
        "berthd pulled without asking the token server"
    );
    assert!(
        asking(&reqs, "repository:library/busybox:pull")
            .iter()
            .any(|r| r.status == 200 && r.user.is_none() && r.service.is_some()),
        "no anonymous token for repository:library/busybox:pull: {reqs:?}"
    );
    assert!(
        reqs.iter()
            .all(|r| r.user.is_none() && r.scopes.iter().all(|s| !s.contains("push"))),
        "an anonymous pull asked for more: {reqs:?}"
    );
    assert!(d.credentials().is_none(), "a pull stored credentials");
    let info = d.image_inspect(&name);
    assert_eq!(
        info["RepoDigests"],
        json!([format!("{}/library/busybox@{digest}", reg.host())])
    );
    assert_eq!(
        d.ok(&["run", "--rm", &name, "echo", "public pull"]),
        "public pull\n"
    );
    d.assert_no_containers_left();
}

/// An anonymous push is refused; login checks the password at the token
/// endpoint (a wrong one stores nothing); logged in, push asks for
/// `pull,push` and works; the image comes back by pull with the same
/// digest and runs; after logout, pulls stay public and pushes are refused
/// again.
#[test]
fn login_push_pull_logout_with_bearer_tokens() {
    let reg = Registry::with_token_auth(USER, PASSWORD);
    let tokens = reg.token_server();
    let d = Daemon::with_busybox();
    let id = d.image_id("busybox:latest");
    let host = reg.host();
    let name = format!("{host}/team/busybox:latest");
    let push_scope = "repository:team/busybox:pull,push";
    d.ok(&["tag", "busybox:latest", &name]);

    // Not logged in: an anonymous token carries pull only.
    let stderr = refused_by_daemon(&["push"], &d.berth(&["push", &name]));
    assert!(says_unauthorized(&stderr), "{stderr}");
    let reqs = tokens.requests();
    assert!(
        asking(&reqs, push_scope)
            .iter()
            .any(|r| r.user.is_none() && r.granted.iter().all(|g| !g.contains("push"))),
        "the anonymous push asked for no {push_scope}: {reqs:?}"
    );
    let out = Command::new(require_tool("skopeo", "skopeo"))
        .arg("inspect")
        .args(reg.skopeo_flags(""))
        .arg(format!("docker://{host}/team/busybox:latest"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the anonymous push left a manifest");

    // A wrong password: refused at the token endpoint, nothing stored.
    tokens.clear();
    let stderr = refused_by_daemon(&["login"], &d.login(&host, USER, "wrong-pw"));
    assert!(says_unauthorized(&stderr), "{stderr}");
    let reqs = tokens.requests();
    assert!(
        reqs.iter()
            .any(|r| r.status == 401 && r.user.as_deref() == Some(USER)),
        "login did not ask the token server: {reqs:?}"
    );
    d.assert_not_logged_in(&host);

    let stdout = check_ok(&["login"], &d.login(&host, USER, PASSWORD));
    assert!(stdout.contains("Login Succeeded"), "{stdout}");
    let c = d.credentials().expect("config.json after login");
    assert!(c["auths"].get(&host).is_some(), "{c}");

    // Logged in: a token for pull,push as the user.
    tokens.clear();
    let out = d.ok(&["push", &name]);
    let digest = berth_tests::registry::pushed_digest(&out, "latest");
    let reqs = tokens.requests();
    assert!(
        asking(&reqs, push_scope).iter().any(|r| r.status == 200
            && r.user.as_deref() == Some(USER)
            && r.granted == [push_scope]),
        "no user token for {push_scope}: {reqs:?}"
    );
    assert_eq!(registry_digest(&reg, "team/busybox:latest"), digest);

    d.ok(&["rmi", "busybox:latest", &name]);
    assert!(!d.has_image(&name));
    tokens.clear();
    let out = d.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        asking(&tokens.requests(), "repository:team/busybox:pull")
            .iter()
            .any(|r| r.status == 200 && r.user.as_deref() == Some(USER)),
        "{:?}",
        tokens.requests()
    );
    assert_eq!(d.image_id(&name), id);
    assert_eq!(
        d.image_inspect(&name)["RepoDigests"],
        json!([format!("{host}/team/busybox@{digest}")])
    );
    assert_eq!(
        d.ok(&["run", "--rm", &name, "echo", "over tokens"]),
        "over tokens\n"
    );

    d.logout_ok(&host);

    // Logged out: the repository is still public, pushing is not.
    d.ok(&["rmi", &name]);
    tokens.clear();
    d.ok(&["pull", &name]);
    assert_eq!(d.image_id(&name), id);
    assert!(
        tokens.requests().iter().all(|r| r.user.is_none()),
        "{:?}",
        tokens.requests()
    );
    let stderr = refused_by_daemon(&["push"], &d.berth(&["push", &name]));
    assert!(says_unauthorized(&stderr), "{stderr}");
    d.assert_no_containers_left();
}

/// Logged in, search lists the registry's catalog, which distribution
/// guards with the scope `registry:catalog:*`.
#[test]
fn search_with_bearer_tokens_asks_for_the_catalog_scope() {
    let reg = Registry::with_token_auth(USER, PASSWORD);
    reg.seed_busybox("busybox:latest");
    let tokens = reg.token_server();
    let d = Daemon::start();
    let host = reg.host();
    check_ok(&["login"], &d.login(&host, USER, PASSWORD));
    tokens.clear();
    let out = d.ok(&["search", "--format", "{{.Name}}", &format!("{host}/busy")]);
    assert_eq!(out.trim(), format!("{host}/busybox"), "{out}");
    assert!(
        asking(&tokens.requests(), "registry:catalog:*")
            .iter()
            .any(|r| r.status == 200 && r.user.as_deref() == Some(USER)),
        "{:?}",
        tokens.requests()
    );
}
