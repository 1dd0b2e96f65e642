//! `berth network ...` against a fake Networks service: what reaches the
//! daemon, docker's output, and exit codes (125 for berth's own failures
//! and the daemon's refusals, 1 when some of several `rm` targets failed).

mod common;

use common::networks::NET_ID;
use common::{Daemon, Service};

async fn start() -> Daemon {
    common::start(&[Service::Networks]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sends_the_request_and_prints_the_id() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&[
            "network",
            "create",
            "--subnet",
            "10.90.0.0/24",
            "--gateway",
            "10.90.0.254",
            "--internal",
            "--label",
            "team=web",
            "--label",
            "tier",
            "appnet",
        ])
        .await;
    assert_eq!((code, out), (0, format!("{NET_ID}\n")), "{err}");
    {
        let state = d.fake.state.lock().unwrap();
        let create = &state.network_creates[0];
        assert_eq!(create.name, "appnet");
        assert_eq!(create.driver, "bridge");
        assert_eq!(create.subnet, "10.90.0.0/24");
        assert_eq!(create.gateway, "10.90.0.254");
        assert!(create.internal);
        assert_eq!(create.labels["team"], "web");
        assert_eq!(create.labels["tier"], "");
        assert!(state.namespaces.iter().all(|n| n == "default"));
    }

    let (code, out, _) = d.berth(&["network", "create", "plain"]).await;
    assert_eq!((code, out), (0, format!("{NET_ID}\n")));
    let plain = d.fake.state.lock().unwrap().network_creates[1].clone();
    assert_eq!((plain.subnet.as_str(), plain.gateway.as_str()), ("", ""));
    assert!(!plain.internal);

    // The daemon's refusal: docker's line and exit code.
    let (code, out, err) = d.berth(&["network", "create", "taken"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Error response from daemon: network with name taken already exists\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_create_and_connect_values_send_nothing() {
    let d = start().await;
    for (args, want) in [
        (
            &["network", "create", "--gateway", "10.0.0.1", "x"][..],
            "Error: every ip-range or gateway must have a corresponding subnet\n",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.1.0.0/16",
                "--gateway",
                "10.2.0.1",
                "x",
            ],
            "Error: no matching subnet for gateway 10.2.0.1\n",
        ),
        (
            &["network", "create", "--subnet", "10.1.0.0", "x"],
            "Error: invalid subnet: invalid CIDR address: 10.1.0.0\n",
        ),
        (
            &["network", "create", "--subnet", "fd00::/64", "x"],
            "Error: IPv6 subnets are not supported: fd00::/64 (berth's networks are IPv4 only)\n",
        ),
        (
            &["network", "connect", "--ip", "10.1", "app", "web"],
            "Error: invalid argument \"10.1\" for \"--ip\" flag: failed to parse IP: \"10.1\"\n",
        ),
        (
            &["network", "ls", "--format", "{{.Name"],
            "Error: template parsing error",
        ),
        (&["network", "create"], "Error: "),
        (&["network", "rm"], "Error: "),
    ] {
        let (code, out, err) = d.berth(args).await;
        assert_eq!((code, out.as_str()), (125, ""), "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(d.fake.calls().is_empty(), "{:?}", d.fake.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_prints_dockers_table() {
    let d = start().await;
    let (code, out, err) = d.berth(&["network", "ls"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "\
NETWORK ID     NAME      DRIVER    SCOPE
cccccccccccc   app       bridge    local
bbbbbbbbbbbb   bridge    bridge    local
dddddddddddd   host      host      local
aaaaaaaaaaaa   none      null      local
"
    );
    let (_, out, _) = d
        .berth(&[
            "network",
            "list",
            "-q",
            "-f",
            "driver=bridge",
            "--filter",
            "name=app",
        ])
        .await;
    assert_eq!(
        out,
        "cccccccccccc\nbbbbbbbbbbbb\ndddddddddddd\naaaaaaaaaaaa\n"
    );
    assert_eq!(
        d.fake.state.lock().unwrap().network_filters,
        ["driver=bridge", "name=app"]
    );
    let (_, out, _) = d.berth(&["network", "ls", "--no-trunc", "-q"]).await;
    assert_eq!(out.lines().next(), Some("c".repeat(64).as_str()));
    let (_, out, _) = d
        .berth(&["network", "ls", "--format", "{{.Name}} {{.Labels}}"])
        .await;
    assert_eq!(out, "app team=web\nbridge \nhost \nnone \n");
    let (_, out, _) = d
        .berth(&["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"])
        .await;
    assert!(
        out.starts_with("NAME      DRIVER\napp       bridge\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_prints_the_array_then_errors() {
    let d = start().await;
    let (code, out, err) = d.berth(&["network", "inspect", "app"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("[\n    {\n        \"Name\": \"app\",\n"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.78.0.0/24");

    let (code, out, _) = d
        .berth(&["network", "inspect", "-f", "{{.Name}} {{.Driver}}", "app"])
        .await;
    assert_eq!((code, out.as_str()), (0, "app bridge\n"));

    let (code, out, err) = d.berth(&["network", "inspect", "app", "nope"]).await;
    assert_eq!(code, 125);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(err, "Error: network nope not found\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_of_several_names_reports_each() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&["network", "rm", "a", "nope", "bridge", "b", "busy"])
        .await;
    assert_eq!((code, out.as_str()), (1, "a\nb\n"));
    assert_eq!(
        err,
        "Error: network nope not found\n\
         Error: bridge is a pre-defined network and cannot be removed\n\
         Error: error while removing network: network busy has active endpoints\n"
    );
    assert_eq!(
        d.fake.calls(),
        [
            "remove a",
            "remove nope",
            "remove bridge",
            "remove b",
            "remove busy"
        ]
    );
    // -f: a network that is not there is no failure.
    let (code, out, err) = d.berth(&["network", "remove", "-f", "nope", "c"]).await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "c\n", ""));
    let (code, _, err) = d.berth(&["network", "rm", "-f", "bridge"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("pre-defined"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_disconnect() {
    let d = start().await;
    let (code, out, err) = d
        .berth(&[
            "network",
            "connect",
            "--ip",
            "10.78.0.9",
            "--alias",
            "db",
            "--alias",
            "sql",
            "app",
            "web",
        ])
        .await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let (code, out, err) = d
        .berth(&["network", "disconnect", "-f", "app", "web"])
        .await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    {
        let state = d.fake.state.lock().unwrap();
        let c = &state.connects[0];
        assert_eq!((c.network.as_str(), c.container.as_str()), ("app", "web"));
        assert_eq!(c.ipv4_address, "10.78.0.9");
        assert_eq!(c.aliases, ["db", "sql"]);
        let dc = &state.disconnects[0];
        assert_eq!((dc.network.as_str(), dc.container.as_str()), ("app", "web"));
        assert!(dc.force);
    }
    let (code, _, err) = d.berth(&["network", "connect", "nope", "web"]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "Error response from daemon: network nope not found\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_asks_unless_forced() {
    let d = start().await;
    // No terminal to ask on: refused, nothing removed.
    let (code, out, err) = d.berth(&["network", "prune"]).await;
    assert_eq!((code, out.as_str()), (125, ""));
    assert!(err.contains("use -f"), "{err}");
    assert!(d.fake.calls().is_empty());

    let (code, out, err) = d
        .berth(&["network", "prune", "-f", "--filter", "until=24h"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Deleted Networks:\napp\nold\n\n");
    assert_eq!(d.fake.state.lock().unwrap().network_filters, ["until=24h"]);
}
