//! `berth network ...`: docker's network verbs, flags and help texts.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Create a network
    Create(NetworkCreateArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Remove all unused networks
    Prune(NetworkPruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network (berth has "bridge")
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long, value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Name of the network
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output: "table", "json", "table TEMPLATE" or a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Networks to inspect
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    /// Networks to remove
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string")]
    pub ip: Option<String>,
    /// The network
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    /// The network
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn network(args: &[&str]) -> NetworkCommand {
        let mut argv = vec!["berth", "network"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Network(n),
                ..
            }) => n,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn verbs_and_flags() {
        match network(&[
            "create",
            "--subnet",
            "10.9.0.0/24",
            "--gateway=10.9.0.254",
            "--internal",
            "--label",
            "a=b",
            "net1",
        ]) {
            NetworkCommand::Create(c) => {
                assert_eq!(c.driver, "bridge");
                assert_eq!(c.subnet, ["10.9.0.0/24"]);
                assert_eq!(c.gateway, ["10.9.0.254"]);
                assert!(c.internal);
                assert_eq!((c.label, c.name), (vec!["a=b".into()], "net1".into()));
            }
            other => panic!("{other:?}"),
        }
        match network(&["create", "-d", "overlay", "--subnet", "a,b", "x"]) {
            NetworkCommand::Create(c) => {
                assert_eq!(c.driver, "overlay");
                assert_eq!(c.subnet, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        for args in [&["ls", "-q"][..], &["list", "--no-trunc", "-f", "name=x"]] {
            assert!(matches!(network(args), NetworkCommand::Ls(_)), "{args:?}");
        }
        match network(&["rm", "-f", "a", "b"]) {
            NetworkCommand::Rm(r) => assert!(r.force && r.networks == ["a", "b"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(network(&["remove", "a"]), NetworkCommand::Rm(_)));
        match network(&["connect", "--ip", "10.9.0.5", "--alias", "db", "net1", "c1"]) {
            NetworkCommand::Connect(c) => {
                assert_eq!(c.ip.as_deref(), Some("10.9.0.5"));
                assert_eq!(c.alias, ["db"]);
                assert_eq!((c.network.as_str(), c.container.as_str()), ("net1", "c1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            network(&["disconnect", "-f", "net1", "c1"]),
            NetworkCommand::Disconnect(NetworkDisconnectArgs { force: true, .. })
        ));
        assert!(matches!(
            network(&["prune", "-f", "--filter", "until=1h"]),
            NetworkCommand::Prune(NetworkPruneArgs { force: true, .. })
        ));
        assert!(matches!(
            network(&["inspect", "-f", "{{.Name}}", "a", "b"]),
            NetworkCommand::Inspect(_)
        ));
        for bad in [
            &["berth", "network", "create"][..],
            &["berth", "network", "rm"],
            &["berth", "network", "connect", "net1"],
            &["berth", "network", "inspect"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
