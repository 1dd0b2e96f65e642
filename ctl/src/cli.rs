//! The command line, as clap derive definitions: docker's verbs and flags.
//!
//! `-H/--host` and `-n/--namespace` are global, so they may come before or
//! after the subcommand. `history` has docker's own `-H/--human`, so it
//! declares `--host` (long only) under the same argument id: clap then skips
//! propagating the global `-H` into it and still carries a `--host` given
//! there up to [`Cli::host`].

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

mod container;
mod distribution;
mod network;
mod volume;

pub use container::*;
pub use distribution::*;
pub use network::*;
pub use volume::*;

/// Where berthd listens unless -H or BERTH_HOST says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// berth: a container engine's command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version = concat!("version ", env!("CARGO_PKG_VERSION")),
    about = "A container engine's command-line client (talks to berthd)",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///PATH)
    #[arg(
        short = 'H',
        long = "host",
        id = "host",
        global = true,
        env = "BERTH_HOST",
        default_value = DEFAULT_HOST,
        value_name = "HOST"
    )]
    pub host: String,

    /// Namespace to act in
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "BERTH_NAMESPACE",
        default_value = berth_proto::DEFAULT_NAMESPACE,
        value_name = "NAME"
    )]
    pub namespace: String,

    #[command(subcommand)]
    pub command: Command,
}

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns (the default)
    #[default]
    Table,
    /// One JSON object per line
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the berth client and berthd versions
    Version,
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage berthd itself
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage namespaces
    #[command(subcommand, visible_alias = "ns")]
    Namespace(NamespaceCommand),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Search a registry for images
    Search(SearchArgs),
    /// Load images from a tar archive (docker save or OCI layout)
    Load(LoadArgs),
    /// Save images to a tar archive
    Save(SaveArgs),
    /// Create an image from a root filesystem tarball
    Import(ImportArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Remove images
    Rmi(RmiArgs),
    /// Display detailed information on containers or images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Inspect the content store
    #[command(subcommand)]
    Content(ContentCommand),
    /// Inspect snapshots
    #[command(subcommand, visible_alias = "snapshots")]
    Snapshot(SnapshotCommand),
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove every blob and snapshot nothing references
    Prune(PruneArgs),
    /// Show berth disk usage
    Df(DfArgs),
}

#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// List namespaces
    #[command(visible_alias = "list")]
    Ls(NamespaceLsArgs),
    /// Create a namespace
    Create(NamespaceCreateArgs),
    /// Remove namespaces
    #[command(visible_alias = "remove")]
    Rm(NamespaceRmArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Load images from a tar archive (docker save or OCI layout)
    Load(LoadArgs),
    /// Save images to a tar archive
    Save(SaveArgs),
    /// Create an image from a root filesystem tarball
    Import(ImportArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Remove images
    #[command(visible_alias = "rmi", visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// List the blobs of the namespace
    #[command(visible_alias = "list")]
    Ls(ContentLsArgs),
    /// Re-hash every blob and report the bad ones
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// List snapshots
    #[command(visible_alias = "list")]
    Ls(SnapshotLsArgs),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Pretty-print the summary using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NamespaceLsArgs {
    /// Only display names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct NamespaceCreateArgs {
    /// Name of the namespace
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NamespaceRmArgs {
    /// Names of the namespaces
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only images matching REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of stdin
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<String>,
    /// Suppress progress output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "INSTR")]
    pub changes: Vec<String>,
    /// Commit message for the imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Platform (os/arch[/variant]) of the image
    #[arg(long)]
    pub platform: Option<String>,
    /// Tarball to import, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub source: String,
    /// Name for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// New name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Images to remove
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// `berth image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Image to show
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Print sizes and dates in human readable format
    #[arg(
        short = 'H',
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub human: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Daemon socket to connect to (unix:///PATH); -H means --human here
    #[arg(long = "host", id = "host", value_name = "HOST")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct ContentLsArgs {
    /// Only display digests
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SnapshotLsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_before_or_after_the_subcommand() {
        let before = parse(&["berth", "-H", "unix:///a.sock", "-n", "x", "images"]);
        assert_eq!(before.host, "unix:///a.sock");
        assert_eq!(before.namespace, "x");
        let after = parse(&[
            "berth",
            "images",
            "-H",
            "unix:///b.sock",
            "--namespace",
            "y",
        ]);
        assert_eq!(after.host, "unix:///b.sock");
        assert_eq!(after.namespace, "y");
        let nested = parse(&["berth", "image", "ls", "--host", "/c.sock"]);
        assert_eq!(nested.host, "/c.sock");
    }

    #[test]
    fn history_takes_dash_h_as_human_and_long_host() {
        let cli = parse(&[
            "berth",
            "history",
            "-H=false",
            "--host",
            "unix:///h.sock",
            "img",
        ]);
        assert_eq!(cli.host, "unix:///h.sock");
        match cli.command {
            Command::History(h) => {
                assert!(!h.human);
                assert_eq!(h.image, "img");
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["berth", "-H", "unix:///g.sock", "image", "history", "img"]);
        assert_eq!(cli.host, "unix:///g.sock");
        match cli.command {
            Command::Image(ImageCommand::History(h)) => assert!(h.human),
            other => panic!("{other:?}"),
        }
        let cli = parse(&["berth", "history", "--human=false", "img"]);
        match cli.command {
            Command::History(h) => assert!(!h.human),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aliases() {
        assert!(matches!(
            parse(&["berth", "ns", "list"]).command,
            Command::Namespace(NamespaceCommand::Ls(_))
        ));
        assert!(matches!(
            parse(&["berth", "snapshots", "ls"]).command,
            Command::Snapshot(SnapshotCommand::Ls(_))
        ));
        assert!(matches!(
            parse(&["berth", "image", "rm", "-f", "a"]).command,
            Command::Image(ImageCommand::Rm(RmiArgs { force: true, .. }))
        ));
        assert!(matches!(
            parse(&["berth", "system", "info", "--format", "json"]).command,
            Command::System(SystemCommand::Info(InfoArgs {
                format: Format::Json
            }))
        ));
    }

    #[test]
    fn registry_verbs() {
        match parse(&[
            "berth",
            "pull",
            "-q",
            "--platform",
            "linux/arm64",
            "busybox",
        ])
        .command
        {
            Command::Pull(p) => {
                assert!(p.quiet && !p.all_tags && !p.all_platforms);
                assert_eq!(p.platform.as_deref(), Some("linux/arm64"));
                assert_eq!(p.reference, "busybox");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["berth", "image", "pull", "-a", "x"]).command,
            Command::Image(ImageCommand::Pull(PullArgs { all_tags: true, .. }))
        ));
        assert!(matches!(
            parse(&["berth", "image", "push", "-q", "x"]).command,
            Command::Image(ImageCommand::Push(PushArgs { quiet: true, .. }))
        ));
        match parse(&["berth", "login", "-u", "me", "--password-stdin", "h:5000"]).command {
            Command::Login(l) => {
                assert_eq!(l.username.as_deref(), Some("me"));
                assert!(l.password_stdin && l.password.is_none());
                assert_eq!(l.server.as_deref(), Some("h:5000"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["berth", "logout"]).command,
            Command::Logout(LogoutArgs { server: None })
        ));
        match parse(&[
            "berth",
            "search",
            "--limit",
            "5",
            "-f",
            "stars=3",
            "--filter",
            "is-official=true",
            "--no-trunc",
            "busy",
        ])
        .command
        {
            Command::Search(s) => {
                assert_eq!(s.limit, Some(5));
                assert_eq!(s.filter, ["stars=3", "is-official=true"]);
                assert!(s.no_trunc);
                assert_eq!(s.term, "busy");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_and_create_pull_policy() {
        let policy = |args: &[&str]| match parse(args).command {
            Command::Run(r) => r.options.pull,
            Command::Create(c) => c.options.pull,
            other => panic!("{other:?}"),
        };
        assert_eq!(policy(&["berth", "run", "busybox"]), PullPolicy::Missing);
        assert_eq!(
            policy(&["berth", "run", "--pull", "always", "busybox"]),
            PullPolicy::Always
        );
        assert_eq!(
            policy(&["berth", "create", "--pull=never", "busybox"]),
            PullPolicy::Never
        );
        assert!(Cli::try_parse_from(["berth", "run", "--pull", "sometimes", "x"]).is_err());
    }

    #[test]
    fn import_flags() {
        let cli = parse(&[
            "berth",
            "import",
            "-c",
            "CMD [\"sh\"]",
            "--change",
            "ENV A=1",
            "-m",
            "msg",
            "-",
            "x:y",
        ]);
        match cli.command {
            Command::Import(i) => {
                assert_eq!(i.changes, vec!["CMD [\"sh\"]", "ENV A=1"]);
                assert_eq!(i.message.as_deref(), Some("msg"));
                assert_eq!(i.source, "-");
                assert_eq!(i.reference.as_deref(), Some("x:y"));
            }
            other => panic!("{other:?}"),
        }
    }
}
