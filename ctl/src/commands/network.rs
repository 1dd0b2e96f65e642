//! `berth network create|ls|inspect|rm|connect|disconnect|prune`: docker's
//! network verbs over berthd's Networks service. `ls` prints docker's
//! NETWORK ID, NAME, DRIVER, SCOPE table sorted by name (and takes
//! `--format` as `ps` does); `inspect` prints the objects berthd shapes as
//! docker's; `rm` goes on past failures and exits 1 if any failed.
//! `create` checks `--subnet` and `--gateway` as docker's CLI does before
//! asking berthd; berthd checks the rest (overlaps, names, drivers).

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use berth_proto::v1::{
    ConnectNetworkRequest, CreateNetworkRequest, DisconnectNetworkRequest, InspectNetworkRequest,
    ListNetworksRequest, Network, PruneNetworksRequest, RemoveNetworkRequest,
};
use tonic::Code;

use super::container::exit_after;
use super::listing::ListFormat;
use super::{confirm, inspect, print, report, Ctx};
use crate::cli::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkInspectArgs,
    NetworkLsArgs, NetworkPruneArgs, NetworkRmArgs,
};
use crate::error::CliError;
use crate::flags::env::build_labels;
use crate::flags::network::ipv4;
use crate::flags::FlagError;
use crate::format::{go_time_string, natural_cmp, short_id};
use crate::template::Json;

/// docker's default `network ls` table.
const DEFAULT_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// The header cell of each field, as docker names them.
const HEADERS: &[(&str, &str)] = &[
    ("CreatedAt", "CREATED AT"),
    ("Driver", "DRIVER"),
    ("ID", "NETWORK ID"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("Name", "NAME"),
    ("Scope", "SCOPE"),
];

/// docker's prune warning.
const PRUNE_WARNING: &str =
    "WARNING! This will remove all custom networks not used by at least one container.";

pub async fn create(ctx: &Ctx, args: &NetworkCreateArgs) -> Result<(), CliError> {
    let (subnet, gateway) = ipam(&args.subnet, &args.gateway)?;
    let labels = build_labels(&args.label, &[])?;
    let client = ctx.connect().await?;
    let id = client
        .networks()
        .create(CreateNetworkRequest {
            name: args.name.clone(),
            driver: args.driver.clone(),
            subnet,
            gateway,
            internal: args.internal,
            labels,
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .id;
    print(&format!("{id}\n"))
}

/// `--subnet` and `--gateway` as docker's `consolidateIpam` checks them;
/// berth's networks have one IPv4 subnet.
fn ipam(subnets: &[String], gateways: &[String]) -> Result<(String, String), FlagError> {
    if subnets.len() < gateways.len() {
        return Err(FlagError::Malformed(
            "every ip-range or gateway must have a corresponding subnet".into(),
        ));
    }
    let Some(subnet) = subnets.first() else {
        return Ok(Default::default());
    };
    if subnets.len() > 1 {
        return Err(FlagError::Unsupported(format!(
            "a berth network has one subnet: {}",
            subnets.join(", ")
        )));
    }
    let (base, prefix) = parse_cidr(subnet)?;
    let Some(gateway) = gateways.first() else {
        return Ok((subnet.clone(), String::new()));
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let inside = match gateway.parse::<Ipv4Addr>() {
        Ok(ip) => u32::from(ip) & mask == u32::from(base) & mask,
        Err(_) => false,
    };
    if !inside {
        return Err(FlagError::Malformed(format!(
            "no matching subnet for gateway {gateway}"
        )));
    }
    Ok((subnet.clone(), gateway.clone()))
}

/// "10.89.0.0/24" → its address and prefix length; IPv6 is refused.
fn parse_cidr(subnet: &str) -> Result<(Ipv4Addr, u8), FlagError> {
    let invalid =
        || FlagError::Malformed(format!("invalid subnet: invalid CIDR address: {subnet}"));
    let (addr, prefix) = subnet.split_once('/').ok_or_else(invalid)?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| prefix.bytes().all(|b| b.is_ascii_digit()) && *p <= 128)
        .ok_or_else(invalid)?;
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if prefix <= 32 => Ok((ip, prefix)),
        Ok(IpAddr::V6(_)) => Err(FlagError::Unsupported(format!(
            "IPv6 subnets are not supported: {subnet} (berth's networks are IPv4 only)"
        ))),
        _ => Err(invalid()),
    }
}

pub async fn ls(ctx: &Ctx, args: &NetworkLsArgs) -> Result<(), CliError> {
    // A bad template is reported before anything is asked of berthd.
    let format = ListFormat::parse(args.format.as_deref(), args.quiet, DEFAULT_TABLE)?;
    let client = ctx.connect().await?;
    let networks = client
        .networks()
        .list(ListNetworksRequest {
            filters: args.filter.clone(),
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .networks;
    print(&render_ls(&format, networks, !args.no_trunc)?)
}

fn render_ls(
    format: &ListFormat,
    mut networks: Vec<Network>,
    trunc: bool,
) -> Result<String, CliError> {
    networks.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let rows: Vec<Json> = networks.iter().map(|n| row(n, trunc)).collect();
    format.render(HEADERS, &rows)
}

/// The fields a `network ls` template sees, keys sorted as docker's
/// `--format json` prints them.
fn row(n: &Network, trunc: bool) -> Json {
    let mut labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    Json::object_of_strings([
        ("CreatedAt", go_time_string(&n.created)),
        ("Driver", n.driver.clone()),
        ("ID", if trunc { short_id(&n.id) } else { n.id.clone() }),
        ("IPv6", "false".to_owned()),
        ("Internal", n.internal.to_string()),
        ("Labels", labels.join(",")),
        ("Name", n.name.clone()),
        ("Scope", "local".to_owned()),
    ])
}

pub async fn inspect(ctx: &Ctx, args: &NetworkInspectArgs) -> Result<(), CliError> {
    let template = inspect::template(args.format.as_deref())?;
    let client = ctx.connect().await?;
    let mut networks = client.networks();
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.networks {
        let request = InspectNetworkRequest { id: name.clone() };
        match networks.inspect(request).await {
            Ok(r) => {
                found.push(
                    Json::parse(&r.into_inner().json).map_err(|source| CliError::Json {
                        context: format!("network {name}: bad inspect JSON"),
                        source,
                    })?,
                )
            }
            Err(status) => errors.push(status.into()),
        }
    }
    inspect::finish(&found, &errors, template.as_ref())
}

/// Removes each network in turn, printing its name; failures are reported
/// and the rest still go (exit 1 at the end). With -f a network that is
/// not there is no failure.
pub async fn rm(ctx: &Ctx, args: &NetworkRmArgs) -> Result<ExitCode, CliError> {
    let client = ctx.connect().await?;
    let mut networks = client.networks();
    let mut failed = false;
    for name in &args.networks {
        let request = RemoveNetworkRequest { id: name.clone() };
        match networks.remove(request).await {
            Ok(_) => print(&format!("{name}\n"))?,
            Err(status) if args.force && status.code() == Code::NotFound => {}
            Err(status) => {
                report(&CliError::Daemon(status));
                failed = true;
            }
        }
    }
    Ok(exit_after(failed))
}

pub async fn connect(ctx: &Ctx, args: &NetworkConnectArgs) -> Result<(), CliError> {
    let ipv4_address = args
        .ip
        .as_deref()
        .map(|ip| ipv4("--ip", ip))
        .transpose()?
        .unwrap_or_default();
    let client = ctx.connect().await?;
    client
        .networks()
        .connect_container(ConnectNetworkRequest {
            network: args.network.clone(),
            container: args.container.clone(),
            ipv4_address,
            aliases: args.alias.clone(),
        })
        .await
        .map_err(CliError::Daemon)?;
    Ok(())
}

pub async fn disconnect(ctx: &Ctx, args: &NetworkDisconnectArgs) -> Result<(), CliError> {
    let client = ctx.connect().await?;
    client
        .networks()
        .disconnect_container(DisconnectNetworkRequest {
            network: args.network.clone(),
            container: args.container.clone(),
            force: args.force,
        })
        .await
        .map_err(CliError::Daemon)?;
    Ok(())
}

pub async fn prune(ctx: &Ctx, args: &NetworkPruneArgs) -> Result<(), CliError> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(());
    }
    let client = ctx.connect().await?;
    let deleted = client
        .networks()
        .prune(PruneNetworksRequest {
            filters: args.filter.clone(),
        })
        .await
        .map_err(CliError::Daemon)?
        .into_inner()
        .deleted;
    print(&render_prune(&deleted))
}

/// docker's report: nothing when nothing went, else the names under
/// "Deleted Networks:" and an empty line.
fn render_prune(deleted: &[String]) -> String {
    if deleted.is_empty() {
        return String::new();
    }
    let mut out = String::from("Deleted Networks:\n");
    for name in deleted {
        out.push_str(name);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(id: char, name: &str, driver: &str) -> Network {
        Network {
            id: id.to_string().repeat(64),
            name: name.into(),
            driver: driver.into(),
            created: "2024-05-01T11:59:55.5Z".into(),
            ..Default::default()
        }
    }

    fn list() -> Vec<Network> {
        let mut custom = network('c', "net10", "bridge");
        custom.internal = true;
        custom.labels = [
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]
        .into_iter()
        .collect();
        vec![
            network('a', "none", "null"),
            custom,
            network('b', "bridge", "bridge"),
            network('d', "host", "host"),
            network('e', "net9", "bridge"),
        ]
    }

    fn ls(format: Option<&str>, quiet: bool, trunc: bool) -> String {
        let format = ListFormat::parse(format, quiet, DEFAULT_TABLE).unwrap();
        render_ls(&format, list(), trunc).unwrap()
    }

    #[test]
    fn ls_table_like_docker() {
        assert_eq!(
            ls(None, false, true),
            "\
NETWORK ID     NAME      DRIVER    SCOPE
bbbbbbbbbbbb   bridge    bridge    local
dddddddddddd   host      host      local
eeeeeeeeeeee   net9      bridge    local
cccccccccccc   net10     bridge    local
aaaaaaaaaaaa   none      null      local
"
        );
        assert_eq!(
            ls(None, true, true),
            "bbbbbbbbbbbb\ndddddddddddd\neeeeeeeeeeee\ncccccccccccc\naaaaaaaaaaaa\n"
        );
        let full = ls(None, true, false);
        assert_eq!(full.lines().next(), Some("b".repeat(64).as_str()));
        assert_eq!(
            ls(Some("{{.Name}} {{.Internal}} {{.Labels}}"), false, true),
            "bridge false \nhost false \nnet9 false \nnet10 true a=1,b=2\nnone false \n"
        );
        let json = ls(Some("json"), false, true);
        let first = json.lines().next().unwrap();
        assert_eq!(
            first,
            "{\"CreatedAt\":\"2024-05-01 11:59:55 +0000 UTC\",\"Driver\":\"bridge\",\
             \"ID\":\"bbbbbbbbbbbb\",\"IPv6\":\"false\",\"Internal\":\"false\",\
             \"Labels\":\"\",\"Name\":\"bridge\",\"Scope\":\"local\"}"
        );
    }

    #[test]
    fn subnet_and_gateway_checks() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(ipam(&[], &[]).unwrap(), (String::new(), String::new()));
        assert_eq!(
            ipam(&s(&["10.9.0.0/24"]), &[]).unwrap(),
            ("10.9.0.0/24".into(), String::new())
        );
        assert_eq!(
            ipam(&s(&["10.9.0.0/24"]), &s(&["10.9.0.254"])).unwrap(),
            ("10.9.0.0/24".into(), "10.9.0.254".into())
        );
        assert_eq!(
            ipam(&s(&["0.0.0.0/0"]), &s(&["1.2.3.4"])).unwrap().1,
            "1.2.3.4"
        );
        for (subnets, gateways, want) in [
            (
                &[][..],
                &["10.9.0.1"][..],
                "every ip-range or gateway must have a corresponding subnet",
            ),
            (
                &["10.9.0.0/24"],
                &["10.9.1.1"],
                "no matching subnet for gateway 10.9.1.1",
            ),
            (
                &["10.9.0.0/24"],
                &["gw"],
                "no matching subnet for gateway gw",
            ),
            (
                &["10.9.0.0"],
                &[],
                "invalid subnet: invalid CIDR address: 10.9.0.0",
            ),
            (
                &["10.9.0.0/33"],
                &[],
                "invalid subnet: invalid CIDR address: 10.9.0.0/33",
            ),
            (
                &["fd00::/64"],
                &[],
                "IPv6 subnets are not supported: fd00::/64 (berth's networks are IPv4 only)",
            ),
            (
                &["10.9.0.0/24", "10.8.0.0/24"],
                &[],
                "a berth network has one subnet: 10.9.0.0/24, 10.8.0.0/24",
            ),
        ] {
            let err = ipam(&s(subnets), &s(gateways)).unwrap_err().to_string();
            assert_eq!(err, want, "{subnets:?} {gateways:?}");
        }
    }

    #[test]
    fn prune_report() {
        assert_eq!(render_prune(&[]), "");
        assert_eq!(
            render_prune(&["a".into(), "b".into()]),
            "Deleted Networks:\na\nb\n\n"
        );
    }
}
