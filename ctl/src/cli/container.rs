//! The container verbs' arguments, with docker's flag names, short forms
//! and help texts. `run` and `create` share [`ContainerOptions`]; they take
//! `-h` as `--hostname` as docker does, so their help is `--help` only.

use clap::{ArgAction, Args, Subcommand, ValueEnum};

use super::ImageInspectArgs;

/// `berth container ...`: docker's management command for containers.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(PsArgs),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]"
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
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
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
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
}

/// The flags `run` and `create` share.
#[derive(Debug, Args, Default)]
pub struct ContainerOptions {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub cpu_shares: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Connect a container to a network: bridge (the default), host, none,
    /// container:NAME|ID, or a network's name or id
    #[arg(long, visible_alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "list"
    )]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "ip")]
    pub ip: Option<String>,
    /// Publish a container's port(s) to the host ([IP:][HOSTPORT:]CONTAINERPORT[/PROTO])
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Add link to another container (NAME[:ALIAS])
    #[arg(long, value_name = "list")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Runtime to use for this container
    #[arg(long, value_name = "string")]
    pub runtime: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<i32>,
    /// Log driver options (max-size, max-file)
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_enum, default_value_t, value_name = "string")]
    pub pull: PullPolicy,
    /// The image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_command: Vec<String>,
}

/// When `run` and `create` pull the image (docker's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PullPolicy {
    /// Pull when the image is not there
    #[default]
    Missing,
    /// Pull before creating, always
    Always,
    /// Never pull
    Never,
}

impl ContainerOptions {
    pub fn image(&self) -> &str {
        self.image_and_command
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub stream: StreamFlags,
    #[command(flatten)]
    pub options: ContainerOptions,
}

/// What `run` and `attach` take for a session with the container's stdio.
#[derive(Debug, Args)]
pub struct StreamFlags {
    /// Proxy all received signals to the process
    #[arg(
        long = "sig-proxy",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub options: ContainerOptions,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Containers to start
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    #[command(flatten)]
    pub stream: StreamFlags,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_enum, default_value_t, value_name = "string")]
    pub pull: PullPolicy,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    /// Containers to stop
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    /// Containers to restart
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Containers to kill
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers to remove
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers to wait for
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

/// `cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-` or `SRC_PATH|- CONTAINER:DEST_PATH`.
#[derive(Debug, Args)]
#[command(
    override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    #[arg(value_name = "SRC", allow_hyphen_values = true)]
    pub source: String,
    #[arg(value_name = "DEST", allow_hyphen_values = true)]
    pub destination: String,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container's current name or id
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// One container port (PORT or PORT/PROTO)
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub private_port: Option<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "int", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Filter output based on conditions provided (status=, name=, ancestor=, id=, label=, exited=)
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output: "table", "json", "table TEMPLATE" or a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Namespace to act in; -n means --last here
    #[arg(long = "namespace", id = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(
        short = 'n',
        long,
        value_name = "string",
        default_value = "all",
        allow_hyphen_values = true
    )]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Namespace to act in; -n means --tail here
    #[arg(long = "namespace", id = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
}

/// `berth inspect`: containers or images.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of this type
    #[arg(long = "type", value_enum, value_name = "string")]
    pub kind: Option<ObjectType>,
    /// Names or ids of containers or images
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// What `inspect --type` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectType {
    Container,
    Image,
    Volume,
}

/// `berth container inspect`.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Containers to inspect
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

impl From<&ContainerInspectArgs> for InspectArgs {
    fn from(a: &ContainerInspectArgs) -> Self {
        InspectArgs {
            format: a.format.clone(),
            size: a.size,
            kind: Some(ObjectType::Container),
            names: a.names.clone(),
        }
    }
}

impl From<&ImageInspectArgs> for InspectArgs {
    fn from(a: &ImageInspectArgs) -> Self {
        InspectArgs {
            format: a.format.clone(),
            size: false,
            kind: Some(ObjectType::Image),
            names: a.images.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn dash_n_is_last_in_ps_and_tail_in_logs() {
        let cli = parse(&["berth", "ps", "-n", "2"]);
        assert_eq!(cli.namespace, berth_proto::DEFAULT_NAMESPACE);
        match cli.command {
            Command::Ps(p) => assert_eq!(p.last, Some(2)),
            other => panic!("{other:?}"),
        }
        let cli = parse(&["berth", "-n", "k8s.io", "ps", "-a"]);
        assert_eq!(cli.namespace, "k8s.io");
        let cli = parse(&["berth", "ps", "--namespace", "other", "-l"]);
        assert_eq!(cli.namespace, "other");
        let cli = parse(&["berth", "logs", "-n", "5", "-t", "web"]);
        assert_eq!(cli.namespace, berth_proto::DEFAULT_NAMESPACE);
        match cli.command {
            Command::Logs(l) => {
                assert_eq!((l.tail.as_str(), l.timestamps), ("5", true));
                assert_eq!(l.container, "web");
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["berth", "-n", "x", "logs", "web"]);
        assert_eq!(cli.namespace, "x");
        match cli.command {
            Command::Logs(l) => assert_eq!(l.tail, "all"),
            other => panic!("{other:?}"),
        }
        // Other verbs keep the global -n.
        assert_eq!(parse(&["berth", "stop", "-n", "y", "web"]).namespace, "y");
    }

    #[test]
    fn run_takes_dash_h_as_hostname() {
        let cli = parse(&["berth", "run", "-h", "myhost", "-d", "--rm", "busybox"]);
        match cli.command {
            Command::Run(r) => {
                assert!(r.detach && r.stream.sig_proxy);
                assert_eq!(r.options.hostname.as_deref(), Some("myhost"));
                assert!(r.options.rm);
                assert_eq!(r.options.image(), "busybox");
                assert!(r.options.command().is_empty());
            }
            other => panic!("{other:?}"),
        }
        let err = Cli::try_parse_from(["berth", "run", "--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let cli = parse(&["berth", "run", "--sig-proxy=false", "busybox"]);
        match cli.command {
            Command::Run(r) => assert!(!r.stream.sig_proxy),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn management_command_aliases() {
        for args in [
            &["berth", "container", "ls", "-a"][..],
            &["berth", "container", "list"],
            &["berth", "container", "ps", "-q"],
        ] {
            assert!(
                matches!(
                    parse(args).command,
                    Command::Container(ContainerCommand::Ls(_))
                ),
                "{args:?}"
            );
        }
        assert!(matches!(
            parse(&["berth", "container", "remove", "-f", "-v", "a", "b"]).command,
            Command::Container(ContainerCommand::Rm(RmArgs {
                force: true,
                volumes: true,
                ..
            }))
        ));
        assert!(matches!(
            parse(&["berth", "container", "run", "-h", "h", "busybox", "true"]).command,
            Command::Container(ContainerCommand::Run(_))
        ));
        assert!(matches!(
            parse(&["berth", "container", "inspect", "-f", "{{.Id}}", "a"]).command,
            Command::Container(ContainerCommand::Inspect(_))
        ));
    }

    #[test]
    fn interactive_verbs() {
        match parse(&[
            "berth",
            "run",
            "-it",
            "--detach-keys",
            "ctrl-x",
            "busybox",
            "sh",
        ])
        .command
        {
            Command::Run(r) => {
                assert!(r.options.tty && r.options.interactive && r.stream.sig_proxy);
                assert_eq!(r.stream.detach_keys.as_deref(), Some("ctrl-x"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "attach", "--no-stdin", "--sig-proxy=false", "web"]).command {
            Command::Attach(a) => {
                assert!(a.no_stdin && !a.stream.sig_proxy);
                assert_eq!((a.container.as_str(), a.stream.detach_keys), ("web", None));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "berth", "exec", "-it", "-u", "1", "-w", "/tmp", "-e", "A=1", "web", "ls", "-l",
        ])
        .command
        {
            Command::Exec(e) => {
                assert!(e.tty && e.interactive && !e.detach && !e.privileged);
                assert_eq!(
                    (e.user.as_deref(), e.workdir.as_deref()),
                    (Some("1"), Some("/tmp"))
                );
                assert_eq!(e.env, ["A=1"]);
                // Flags after the command belong to it.
                assert_eq!(
                    (e.container.as_str(), e.command.as_slice()),
                    ("web", &["ls".to_string(), "-l".to_string()][..])
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["berth", "container", "exec", "-d", "web", "true"]).command,
            Command::Container(ContainerCommand::Exec(ExecArgs { detach: true, .. }))
        ));
        assert!(matches!(
            parse(&["berth", "container", "attach", "web"]).command,
            Command::Container(ContainerCommand::Attach(_))
        ));
        match parse(&["berth", "start", "-ai", "web"]).command {
            Command::Start(s) => assert!(s.attach && s.interactive),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verb_flags() {
        match parse(&["berth", "stop", "-t", "0", "-s", "USR1", "a", "b"]).command {
            Command::Stop(s) => {
                assert_eq!((s.time, s.signal.as_deref()), (Some(0), Some("USR1")));
                assert_eq!(s.containers, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "restart", "--timeout", "3", "a"]).command {
            Command::Restart(r) => assert_eq!(r.time, Some(3)),
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "top", "web", "-o", "pid,args"]).command {
            Command::Top(t) => assert_eq!(t.ps_args, ["-o", "pid,args"]),
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "inspect", "--type", "container", "-s", "a"]).command {
            Command::Inspect(i) => {
                assert_eq!(i.kind, Some(ObjectType::Container));
                assert!(i.size);
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            &["berth", "run"][..],
            &["berth", "run", "--no-such-flag", "busybox"],
            &["berth", "stop"],
            &["berth", "stop", "-t", "x", "a"],
            &["berth", "rename", "a"],
            &["berth", "inspect", "--type", "plugin", "a"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
