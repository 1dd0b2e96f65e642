//! `berth version`, `berth info` (`system info`) and `berth system prune`.

use berth_proto::v1::{InfoRequest, InfoResponse, PruneRequest, PruneResponse, VersionRequest};
use serde::Serialize;
use serde_json::Value;

use super::{confirm, print, Ctx};
use crate::cli::{Format, InfoArgs, PruneArgs};
use crate::error::CliError;
use crate::format::{json_line, prune_report};

const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `system prune` asks before it starts.
const PRUNE_WARNING: &str = "WARNING! This will remove every blob and snapshot that no image, \
                             container or lease references, in all namespaces.";

/// The client's part first (docker prints it even when the daemon is down),
/// then the server's.
pub async fn version(ctx: &Ctx) -> Result<(), CliError> {
    let mut client_part = String::from("Client:\n");
    client_part.push_str(&field("Version:", CLIENT_VERSION));
    client_part.push_str(&field("API version:", "v1"));
    client_part.push_str(&field(
        "OS/Arch:",
        &format!(
            "{}/{}",
            std::env::consts::OS,
            go_arch(std::env::consts::ARCH)
        ),
    ));
    print(&client_part)?;
    let client = ctx.connect().await?;
    let server = client
        .system()
        .version(VersionRequest {})
        .await?
        .into_inner();
    let mut out = String::from("\nServer:\n");
    out.push_str(&field("Version:", &server.version));
    out.push_str(&field("API version:", &server.api_version));
    if !server.revision.is_empty() {
        out.push_str(&field("Git commit:", &server.revision));
    }
    print(&out)
}

/// Architecture names as docker and OCI spell them.
fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// " Label:            value" with docker's column for the values.
fn field(label: &str, value: &str) -> String {
    format!(" {label:<18}{value}\n")
}

pub async fn info(ctx: &Ctx, args: &InfoArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    let info = client.system().info(InfoRequest {}).await?.into_inner();
    let text = match args.format {
        Format::Json => render_info_json(&info, &ctx.namespace)?,
        Format::Table => render_info(&info, ctx),
    };
    print(&text)
}

fn render_info(info: &InfoResponse, ctx: &Ctx) -> String {
    let mut out = String::from("Client:\n");
    out.push_str(&format!(" Version:    {CLIENT_VERSION}\n"));
    out.push_str(&format!(" Host:       {}\n", ctx.host));
    out.push_str(&format!(" Namespace:  {}\n", ctx.namespace));
    out.push_str("\nServer:\n");
    let lines = [
        ("Server Version", info.version.clone()),
        ("Namespaces", info.namespaces.to_string()),
        ("Images", info.images.to_string()),
        ("Blobs", info.blobs.to_string()),
        ("Containers", info.containers.to_string()),
        ("Snapshotter", info.snapshotter.clone()),
        ("Cgroup Version", info.cgroup_version.clone()),
        ("Kernel Version", info.kernel.clone()),
        ("Root Dir", info.root.clone()),
        ("State Dir", info.state.clone()),
    ];
    for (label, value) in lines {
        out.push_str(&format!(" {label}: {value}\n"));
    }
    out.push_str("\nEffective config:\n");
    for line in info.config_toml.lines() {
        out.push_str(&format!(" {line}\n"));
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InfoJson<'a> {
    blobs: i64,
    cgroup_version: &'a str,
    /// The effective config, as an object (the TOML as a string if it does
    /// not parse).
    config: Value,
    containers: i64,
    images: i64,
    kernel_version: &'a str,
    namespace: &'a str,
    namespaces: i64,
    root: &'a str,
    server_version: &'a str,
    snapshotter: &'a str,
    state: &'a str,
}

fn render_info_json(info: &InfoResponse, namespace: &str) -> Result<String, CliError> {
    let config = toml::from_str::<Value>(&info.config_toml)
        .unwrap_or_else(|_| Value::String(info.config_toml.clone()));
    json_line(&InfoJson {
        blobs: info.blobs,
        cgroup_version: &info.cgroup_version,
        config,
        containers: info.containers,
        images: info.images,
        kernel_version: &info.kernel,
        namespace,
        namespaces: info.namespaces,
        root: &info.root,
        server_version: &info.version,
        snapshotter: &info.snapshotter,
        state: &info.state,
    })
    .map_err(|source| CliError::Json {
        context: "encode info".into(),
        source,
    })
}

pub async fn prune(ctx: &Ctx, args: &PruneArgs) -> Result<(), CliError> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(());
    }
    let client = ctx.connect().await?;
    let response = client.system().prune(PruneRequest {}).await?.into_inner();
    print(&render_prune(&response))
}

fn render_prune(response: &PruneResponse) -> String {
    prune_report(
        &[
            ("Deleted blobs:", &response.removed_blobs),
            ("Deleted snapshots:", &response.removed_snapshots),
        ],
        response.reclaimed_bytes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_report() {
        let response = PruneResponse {
            removed_blobs: vec!["sha256:aa".into()],
            removed_snapshots: vec!["sha256:c1".into()],
            reclaimed_bytes: 4_261_274,
        };
        assert_eq!(
            render_prune(&response),
            "Deleted blobs:\nsha256:aa\n\nDeleted snapshots:\nsha256:c1\n\nTotal reclaimed space: 4.26MB\n"
        );
        assert_eq!(
            render_prune(&PruneResponse::default()),
            "Total reclaimed space: 0B\n"
        );
    }

    #[test]
    fn info_json_parses_the_config() {
        let info = InfoResponse {
            root: "/var/lib/berth".into(),
            snapshotter: "overlayfs".into(),
            config_toml: "root = \"/var/lib/berth\"\nlog_level = \"info\"\n".into(),
            images: 2,
            ..Default::default()
        };
        let out = render_info_json(&info, "default").unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Root"], "/var/lib/berth");
        assert_eq!(v["Config"]["log_level"], "info");
        assert_eq!(v["Images"], 2);
        assert_eq!(v["Namespace"], "default");
    }

    #[test]
    fn info_text_shows_the_effective_config() {
        let info = InfoResponse {
            root: "/var/lib/berth".into(),
            config_toml: "root = \"/var/lib/berth\"\n".into(),
            ..Default::default()
        };
        let ctx = Ctx {
            host: "unix:///run/berth/berth.sock".into(),
            namespace: "default".into(),
        };
        let out = render_info(&info, &ctx);
        assert!(out.contains("\n Root Dir: /var/lib/berth\n"), "{out}");
        assert!(
            out.ends_with("Effective config:\n root = \"/var/lib/berth\"\n"),
            "{out}"
        );
    }
}
