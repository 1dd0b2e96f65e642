//! The registry verbs of the `berth` binary (pull, push, login, logout,
//! search, and the pull `run`/`create` make) against a fake Images service:
//! what a user sees without a terminal, the exit codes, the credentials
//! file, and the credentials that reach the daemon.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_proto::v1::*;
use common::images::{DIGEST, LAYER};
use common::{Daemon, Service};

async fn start() -> Daemon {
    common::start(&[Service::Images, Service::Containers]).await
}

fn pull_lines(repo: &str) -> String {
    format!(
        "latest: Pulling from {repo}\n\
         {LAYER}: Pulling fs layer\n\
         {LAYER}: Verifying Checksum\n\
         {LAYER}: Download complete\n\
         {LAYER}: Pull complete\n\
         Digest: {DIGEST}\n\
         Status: Downloaded newer image for {repo}:latest\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_prints_docker_s_lines_then_the_reference() {
    let d = start().await;
    let (code, out, err) = d.berth(&["pull", "busybox"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "Using default tag: latest\n{}docker.io/library/busybox:latest\n",
            pull_lines("library/busybox")
        )
    );
    assert_eq!(err, "");

    let (code, out, err) = d
        .berth(&[
            "image",
            "pull",
            "-q",
            "--platform",
            "linux/arm64",
            "busybox:latest",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "docker.io/library/busybox:latest\n");
    let pulls = d.fake.pulls();
    assert_eq!(pulls[1].reference, "busybox:latest");
    assert_eq!(pulls[1].platform, "linux/arm64");
    assert!(!pulls[1].all_platforms);
    // No credentials: an anonymous pull.
    assert_eq!(pulls[1].auth, Some(RegistryAuth::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_failures_are_the_daemon_s_with_exit_1() {
    let d = start().await;
    let (code, out, err) = d.berth(&["pull", "corrupt:1"]).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        format!(
            "Error response from daemon: pull access denied for corrupt:1, repository does not exist\n"
        )
    );
    assert_eq!(out, "");

    let (code, out, err) = d.berth(&["pull", "corrupt"]).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        format!("Using default tag: latest\nlatest: Pulling from library/corrupt\n{LAYER}: Pulling fs layer\n")
    );
    assert_eq!(
        err,
        format!("Error response from daemon: blob {DIGEST}: the bytes do not match the digest\n")
    );

    let (code, _, err) = d.berth(&["pull", "-q", "127.0.0.1:5999/down"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error response from daemon: cannot reach registry 127.0.0.1:5999: connection refused\n"
    );

    let (code, _, err) = d.berth(&["pull", "-q", "noresult"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("without its result"), "{err}");

    let (code, out, err) = d.berth(&["pull", "-a", "busybox"]).await;
    assert_eq!((code, out.as_str()), (125, ""));
    assert!(
        err.starts_with("Error: pulling every tag") && err.contains("not supported"),
        "{err}"
    );
    assert_eq!(d.fake.pulls().len(), 4);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_what_the_registry_accepted_and_pulls_send_it() {
    let d = start().await;
    let file = d.config_dir().join("config.json");

    // Refused: docker's message, exit 1, nothing stored.
    let (code, out, err) = d
        .berth_stdin(
            &["login", "-u", "alice", "--password-stdin", "127.0.0.1:5000"],
            "wrong\n",
        )
        .await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Error response from daemon: unauthorized: incorrect username or password\n"
    );
    assert!(!file.exists());

    let (code, out, err) = d
        .berth_stdin(
            &[
                "login",
                "-u",
                "alice",
                "--password-stdin",
                "http://127.0.0.1:5000/v2/",
            ],
            "pw\n",
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Login Succeeded\n");
    assert!(err.contains("stored unencrypted"), "{err}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&d.config_dir()), 0o700);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // base64("alice:pw"), under host:port.
    assert_eq!(doc["auths"]["127.0.0.1:5000"]["auth"], "YWxpY2U6cHc=");
    let logins = d.fake.state.lock().unwrap().logins.clone();
    assert_eq!(logins[1].server, "http://127.0.0.1:5000/v2/");
    assert_eq!(logins[1].password, "pw");

    // The registry's credentials go with its pulls, and only with them.
    let (code, out, err) = d.berth(&["pull", "127.0.0.1:5000/private"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("\n127.0.0.1:5000/private:latest\n"), "{out}");
    let (code, _, _) = d.berth(&["pull", "-q", "busybox"]).await;
    assert_eq!(code, 0);
    let pulls = d.fake.pulls();
    let auth = pulls[0].auth.clone().unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("alice", "pw")
    );
    assert_eq!(pulls[1].auth, Some(RegistryAuth::default()));

    let (code, out, _) = d.berth(&["logout", "127.0.0.1:5000"]).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Removing login credentials for 127.0.0.1:5000\n");
    let (code, out, _) = d.berth(&["logout", "127.0.0.1:5000"]).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Not logged in to 127.0.0.1:5000\n");
    let (code, out, _) = d.berth(&["logout"]).await;
    assert_eq!(code, 0);
    assert_eq!(out, "Not logged in to https://index.docker.io/v1/\n");

    let (code, _, err) = d.berth(&["pull", "-q", "127.0.0.1:5000/private"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("authentication required"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flag_rules() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&["login", "-u", "alice", "-p", "pw", "127.0.0.1:5000"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Login Succeeded\n");
    assert!(
        err.starts_with(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        ),
        "{err}"
    );

    for (args, want) in [
        (
            &["login", "--password-stdin", "127.0.0.1:5000"][..],
            "Error: Must provide --username with --password-stdin\n",
        ),
        (
            &["login", "-u", "a", "-p", "b", "--password-stdin"],
            "Error: --password and --password-stdin are mutually exclusive\n",
        ),
    ] {
        let (code, out, err) = d.berth_stdin(args, "pw\n").await;
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (125, "", want),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_prints_docker_s_lines() {
    let d = start().await;
    let (code, out, err) = d.berth(&["push", "127.0.0.1:5000/busybox"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "The push refers to repository [127.0.0.1:5000/busybox]\n\
             {LAYER}: Preparing\n\
             {LAYER}: Pushed\n\
             latest: digest: {DIGEST} size: 527\n"
        )
    );
    let (code, out, _) = d
        .berth(&["image", "push", "-q", "127.0.0.1:5000/busybox"])
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, "127.0.0.1:5000/busybox:latest\n");
    let (code, _, err) = d.berth(&["push", "nothere"]).await;
    assert_eq!(code, 1);
    assert_eq!(err, "Error response from daemon: No such image: nothere\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_table_filters_and_limit() {
    let d = start().await;
    let (code, out, err) = d.berth(&["search", "busybox"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "NAME                 DESCRIPTION                                     STARS     OFFICIAL\n\
         busybox              Busybox base image.                             3300      [OK]\n\
         radial/busyboxplus   Full-chain, Internet enabled, busybox made f…   54        \n"
    );
    let (code, out, _) = d
        .berth(&[
            "search",
            "--limit",
            "10",
            "-f",
            "is-official=false",
            "--format",
            "{{.Name}}",
            "127.0.0.1:5000/busy",
        ])
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, "radial/busyboxplus\n");
    let searches = d.fake.state.lock().unwrap().searches.clone();
    assert_eq!(searches[1].term, "127.0.0.1:5000/busy");
    assert_eq!(searches[1].limit, 10);

    let (code, _, err) = d.berth(&["search", "--limit", "101", "x"]).await;
    assert_eq!(code, 125);
    assert_eq!(err, "Error: limit 101 is outside the range of [1, 100]\n");
    let (code, _, err) = d.berth(&["search", "127.0.0.1:5999/x"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error response from daemon: registry 127.0.0.1:5999 offers neither search nor catalog\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pulls_a_missing_image_first() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&["run", "--rm", "alpine", "out:hi", "exit:0"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\n");
    assert!(
        err.starts_with(&format!(
            "Unable to find image 'alpine:latest' locally\n{}",
            pull_lines("library/alpine")
        )),
        "{err}"
    );
    // The pull's progress went to stderr, without the final reference.
    assert!(!err.contains("docker.io/library/alpine:latest"), "{err}");
    assert_eq!(d.fake.pulls().len(), 1);
    // Create, refused for the missing image, then again after the pull.
    let creates = d.fake.calls();
    assert_eq!(
        creates.iter().filter(|c| *c == "create").count(),
        2,
        "{creates:?}"
    );

    // Present now: no pull. --pull never: no pull either.
    let (code, _, err) = d.berth(&["create", "alpine"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = d.berth(&["create", "--pull", "never", "nosuch"]).await;
    assert_eq!(code, 125);
    assert!(err.starts_with("Error: No such image: nosuch\n"), "{err}");
    assert_eq!(d.fake.pulls().len(), 1);

    // --pull always pulls even a present image.
    let (code, out, err) = d.berth(&["create", "--pull", "always", "busybox"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{}\n", common::containers::CONTAINER_ID));
    assert!(
        err.starts_with("latest: Pulling from library/busybox\n"),
        "{err}"
    );
    assert_eq!(d.fake.pulls().len(), 2);

    // A refused pull: docker's lines, and run's own exit code.
    let (code, out, err) = d.berth(&["run", "nosuch:2"]).await;
    assert_eq!((code, out.as_str()), (125, ""));
    assert_eq!(
        err,
        "Unable to find image 'nosuch:2' locally\n\
         Error response from daemon: pull access denied for nosuch:2, repository does not exist\n"
    );
}
