//! `berth volume ...`: docker's volume verbs, flags and help texts.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Remove all unused local volumes
    Prune(VolumePruneArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Name of the volume (a random one when left out)
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. 'dangling=true')
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print volumes using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Volumes to inspect
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    /// Volumes to remove
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Provide filter values (e.g. 'label=<label>')
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

    fn volume(args: &[&str]) -> VolumeCommand {
        let mut argv = vec!["berth", "volume"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Volume(v),
                ..
            }) => v,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn verbs_and_flags() {
        match volume(&[
            "create",
            "-o",
            "type=tmpfs",
            "--opt=device=tmpfs",
            "--label",
            "a=b",
            "v1",
        ]) {
            VolumeCommand::Create(c) => {
                assert_eq!(c.driver, "local");
                assert_eq!(c.opt, ["type=tmpfs", "device=tmpfs"]);
                assert_eq!(c.label, ["a=b"]);
                assert_eq!(c.name.as_deref(), Some("v1"));
            }
            other => panic!("{other:?}"),
        }
        match volume(&["create", "-d", "nfs"]) {
            VolumeCommand::Create(c) => assert_eq!((c.driver.as_str(), c.name), ("nfs", None)),
            other => panic!("{other:?}"),
        }
        match volume(&["ls", "-q", "-f", "dangling=true", "--filter", "name=a"]) {
            VolumeCommand::Ls(l) => assert!(l.quiet && l.filter == ["dangling=true", "name=a"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(volume(&["list"]), VolumeCommand::Ls(_)));
        match volume(&["rm", "-f", "a", "b"]) {
            VolumeCommand::Rm(r) => assert!(r.force && r.volumes == ["a", "b"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(volume(&["remove", "a"]), VolumeCommand::Rm(_)));
        match volume(&["inspect", "-f", "{{.Name}}", "a", "b"]) {
            VolumeCommand::Inspect(i) => {
                assert_eq!(i.format.as_deref(), Some("{{.Name}}"));
                assert_eq!(i.volumes, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        match volume(&["prune", "-f", "--filter", "label=a"]) {
            VolumeCommand::Prune(p) => assert!(p.force && p.filter == ["label=a"]),
            other => panic!("{other:?}"),
        }
        for bad in [
            &["berth", "volume", "rm"][..],
            &["berth", "volume", "inspect"],
            &["berth", "volume", "create", "a", "b"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
