//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published
//! ports as docker prints them, read from its inspect object's
//! `NetworkSettings.Ports` (`{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort":
//! "32768"}], "81/tcp": null}`): every mapping as `80/tcp -> 0.0.0.0:32768`,
//! or one port's host addresses; lines in docker's natural order.

use std::collections::BTreeMap;
use std::process::ExitCode;

use berth_proto::v1::InspectContainerRequest;
use serde::Deserialize;

use super::super::{print, report, Ctx};
use super::status::join_host_port;
use super::EXIT_SOME_FAILED;
use crate::cli::PortArgs;
use crate::error::CliError;
use crate::flags::network::parse_u16;
use crate::format::natural_cmp;

/// Container port ("80/tcp") → its host bindings (null when only exposed).
type Ports = BTreeMap<String, Option<Vec<HostBinding>>>;

/// The part of a container's inspect object `port` reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    #[serde(default)]
    network_settings: Option<NetworkSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettings {
    #[serde(default)]
    ports: Option<Ports>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostBinding {
    #[serde(default)]
    host_ip: String,
    #[serde(default)]
    host_port: String,
}

pub async fn port(ctx: &Ctx, args: &PortArgs) -> Result<ExitCode, CliError> {
    // A bad port is refused before anything is asked of berthd.
    let wanted = args.private_port.as_deref().map(port_key).transpose()?;
    let client = ctx.connect().await?;
    let json = client
        .containers()
        .inspect(InspectContainerRequest {
            id: args.container.clone(),
            size: false,
        })
        .await?
        .into_inner()
        .json;
    let inspected: Inspected = serde_json::from_str(&json).map_err(|source| CliError::Json {
        context: format!("container {}: bad inspect JSON", args.container),
        source,
    })?;
    let ports = inspected
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let lines = match &wanted {
        None => all_lines(&ports),
        Some(key) => match one_port(&ports, key) {
            Some(lines) => lines,
            None => {
                // docker's words, with the port as the user typed it.
                let typed = args.private_port.as_deref().unwrap_or_default();
                report(&CliError::Invalid(format!(
                    "No public port '{typed}' published for {}",
                    args.container
                )));
                return Ok(ExitCode::from(EXIT_SOME_FAILED));
            }
        },
    };
    print(&lines)?;
    Ok(ExitCode::SUCCESS)
}

/// "80" → "80/tcp", "53/udp" as is; the port must be a number, as docker
/// checks it.
fn port_key(typed: &str) -> Result<String, CliError> {
    let (port, proto) = typed.split_once('/').unwrap_or((typed, ""));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    parse_u16(port).map_err(|why| CliError::Invalid(format!("invalid port ({port}): {why}")))?;
    Ok(format!("{port}/{proto}"))
}

/// Every published port, `80/tcp -> 0.0.0.0:32768`, one a line.
fn all_lines(ports: &Ports) -> String {
    let lines = ports.iter().flat_map(|(port, bindings)| {
        bindings
            .iter()
            .flatten()
            .map(move |b| format!("{port} -> {}", join_host_port(&b.host_ip, &b.host_port)))
    });
    sorted_lines(lines.collect())
}

/// The host addresses of one port; `None` when it is not published.
fn one_port(ports: &Ports, key: &str) -> Option<String> {
    let bindings = ports.get(key)?.as_ref()?;
    Some(sorted_lines(
        bindings
            .iter()
            .map(|b| join_host_port(&b.host_ip, &b.host_port))
            .collect(),
    ))
}

fn sorted_lines(mut lines: Vec<String>) -> String {
    lines.sort_by(|a, b| natural_cmp(a, b));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(json: &str) -> Ports {
        let inspected: Inspected = serde_json::from_str(json).unwrap();
        inspected
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default()
    }

    const SAMPLE: &str = r#"{"Id":"x","NetworkSettings":{"Ports":{
        "443/tcp":[{"HostIp":"0.0.0.0","HostPort":"8443"}],
        "80/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"},{"HostIp":"127.0.0.1","HostPort":"8080"}],
        "81/tcp":null,
        "53/udp":[{"HostIp":"0.0.0.0","HostPort":"5353"}]}}}"#;

    #[test]
    fn every_mapping_in_dockers_order() {
        assert_eq!(
            all_lines(&ports(SAMPLE)),
            "53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:32768\n\
             80/tcp -> 127.0.0.1:8080\n443/tcp -> 0.0.0.0:8443\n"
        );
        assert_eq!(all_lines(&ports(r#"{"NetworkSettings":{"Ports":{}}}"#)), "");
        assert_eq!(all_lines(&ports(r#"{"NetworkSettings":{}}"#)), "");
        assert_eq!(all_lines(&ports(r#"{"Id":"x"}"#)), "");
    }

    #[test]
    fn one_port_and_its_errors() {
        let p = ports(SAMPLE);
        assert_eq!(
            one_port(&p, &port_key("80").unwrap()).as_deref(),
            Some("0.0.0.0:32768\n127.0.0.1:8080\n")
        );
        assert_eq!(
            one_port(&p, &port_key("53/udp").unwrap()).as_deref(),
            Some("0.0.0.0:5353\n")
        );
        assert_eq!(one_port(&p, "81/tcp"), None);
        assert_eq!(one_port(&p, "53/tcp"), None);
        assert_eq!(
            port_key("http").unwrap_err().to_string(),
            "invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
    }
}
