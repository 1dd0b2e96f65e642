//! `berth`: the command-line client of berthd. It owns argument parsing,
//! the connection to berthd's unix socket and docker-like output; it holds no
//! engine logic and never touches berthd's files: everything goes through
//! the native gRPC API in berth-proto.
//!
//! Every failure is one "Error: ..." line on stderr and exit code 125 (like
//! docker's own failures), except that berthd's refusal of a pull, push,
//! login or search reads "Error response from daemon: ..." and exits 1, as
//! docker's does; `content verify` exits 1 when a blob is bad.
//! Container verbs follow docker: `run` and `start -a` exit with the
//! container's code (126/127 when its command cannot be executed or is not
//! found), verbs over several containers (and `network rm` over several
//! networks) exit 1 when any of them failed, and `port` exits 1 when the
//! port is not published.
#![deny(unsafe_code)]

mod cli;
mod client;
mod commands;
mod credentials;
mod error;
mod flags;
mod format;
mod progress;
mod registry;
mod stream;
mod template;
mod terminal;

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use cli::{
    Cli, Command, ContainerCommand, ContentCommand, ImageCommand, InspectArgs, NamespaceCommand,
    NetworkCommand, SnapshotCommand, SystemCommand, VolumeCommand,
};
use commands::container::{
    attach, cp, create, exec, kill, logs, port, ps, rename, rm, run as run_cmd, start, stop, top,
    wait,
};
use commands::{
    content, history, images, import, inspect, load_save, login, namespace, network, pull, push,
    search, snapshot, system, volume, Ctx,
};
use error::{CliError, EXIT_FAILURE};

/// Exit code of `content verify` when a blob is bad.
const EXIT_BAD_CONTENT: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return report_usage(&err),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::io("start the async runtime", e)),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &CliError) -> ExitCode {
    if !matches!(err, CliError::Reported) {
        let _ = writeln!(std::io::stderr(), "{}{err}", err.prefix());
    }
    ExitCode::from(err.exit_code())
}

/// Exit code for a clap outcome: help and version are successes (as is
/// docker's bare `docker` / `docker image`, which print help); anything
/// else is a usage error.
fn usage_exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        _ => EXIT_FAILURE,
    }
}

/// Help and version go out as clap renders them; a usage error becomes one
/// "Error: ..." line.
fn report_usage(err: &clap::Error) -> ExitCode {
    let code = usage_exit_code(err.kind());
    if code == 0 {
        let _ = err.print();
    } else {
        let _ = writeln!(std::io::stderr(), "Error: {}", usage_line(err));
    }
    ExitCode::from(code)
}

/// The first line of clap's message without its "error: " prefix, plus
/// where to look for help.
fn usage_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid usage");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{first}; see 'berth --help'")
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let ctx = Ctx {
        host: cli.host,
        namespace: cli.namespace,
    };
    match &cli.command {
        Command::Version => system::version(&ctx).await?,
        Command::Info(args) | Command::System(SystemCommand::Info(args)) => {
            system::info(&ctx, args).await?
        }
        Command::System(SystemCommand::Prune(args)) => system::prune(&ctx, args).await?,
        Command::System(SystemCommand::Df(args)) => commands::df::df(&ctx, args).await?,
        Command::Namespace(NamespaceCommand::Ls(args)) => namespace::ls(&ctx, args).await?,
        Command::Namespace(NamespaceCommand::Create(args)) => namespace::create(&ctx, args).await?,
        Command::Namespace(NamespaceCommand::Rm(args)) => namespace::rm(&ctx, args).await?,
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            images::list(&ctx, args).await?
        }
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            pull::pull(&ctx, args).await?
        }
        Command::Push(args) | Command::Image(ImageCommand::Push(args)) => {
            push::push(&ctx, args).await?
        }
        Command::Login(args) => login::login(&ctx, args).await?,
        Command::Logout(args) => login::logout(args)?,
        Command::Search(args) => search::search(&ctx, args).await?,
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            load_save::load(&ctx, args).await?
        }
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            load_save::save(&ctx, args).await?
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            import::import(&ctx, args).await?
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            images::tag(&ctx, args).await?
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            images::rmi(&ctx, args).await?
        }
        Command::Inspect(args) => inspect::inspect(&ctx, args).await?,
        Command::Image(ImageCommand::Inspect(args)) => {
            inspect::inspect(&ctx, &InspectArgs::from(args)).await?
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            history::history(&ctx, args).await?
        }
        Command::Content(ContentCommand::Ls(args)) => content::ls(&ctx, args).await?,
        Command::Content(ContentCommand::Verify) => {
            if !content::verify(&ctx).await? {
                return Ok(ExitCode::from(EXIT_BAD_CONTENT));
            }
        }
        Command::Snapshot(SnapshotCommand::Ls(args)) => snapshot::ls(&ctx, args).await?,
        Command::Container(command) => return container(&ctx, command).await,
        Command::Network(command) => return network_verb(&ctx, command).await,
        Command::Volume(command) => return volume_verb(&ctx, command).await,
        Command::Run(args) => return run_cmd::run(&ctx, args).await,
        Command::Create(args) => create::create(&ctx, args).await?,
        Command::Start(args) => return start::start(&ctx, args).await,
        Command::Stop(args) => return stop::stop(&ctx, args).await,
        Command::Restart(args) => return stop::restart(&ctx, args).await,
        Command::Kill(args) => return kill::kill(&ctx, args).await,
        Command::Rm(args) => return rm::rm(&ctx, args).await,
        Command::Ps(args) => ps::ps(&ctx, args).await?,
        Command::Logs(args) => logs::logs(&ctx, args).await?,
        Command::Wait(args) => return wait::wait(&ctx, args).await,
        Command::Top(args) => top::top(&ctx, args).await?,
        Command::Rename(args) => rename::rename(&ctx, args).await?,
        Command::Cp(args) => cp::cp(&ctx, args).await?,
        Command::Attach(args) => return attach::attach(&ctx, args).await,
        Command::Exec(args) => return exec::exec(&ctx, args).await,
        Command::Port(args) => return port::port(&ctx, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth container VERB`: the same verbs as the top-level ones.
async fn container(ctx: &Ctx, command: &ContainerCommand) -> Result<ExitCode, CliError> {
    match command {
        ContainerCommand::Ls(args) => ps::ps(ctx, args).await?,
        ContainerCommand::Run(args) => return run_cmd::run(ctx, args).await,
        ContainerCommand::Create(args) => create::create(ctx, args).await?,
        ContainerCommand::Start(args) => return start::start(ctx, args).await,
        ContainerCommand::Stop(args) => return stop::stop(ctx, args).await,
        ContainerCommand::Restart(args) => return stop::restart(ctx, args).await,
        ContainerCommand::Kill(args) => return kill::kill(ctx, args).await,
        ContainerCommand::Rm(args) => return rm::rm(ctx, args).await,
        ContainerCommand::Logs(args) => logs::logs(ctx, args).await?,
        ContainerCommand::Wait(args) => return wait::wait(ctx, args).await,
        ContainerCommand::Top(args) => top::top(ctx, args).await?,
        ContainerCommand::Rename(args) => rename::rename(ctx, args).await?,
        ContainerCommand::Cp(args) => cp::cp(ctx, args).await?,
        ContainerCommand::Inspect(args) => inspect::inspect(ctx, &InspectArgs::from(args)).await?,
        ContainerCommand::Attach(args) => return attach::attach(ctx, args).await,
        ContainerCommand::Exec(args) => return exec::exec(ctx, args).await,
        ContainerCommand::Port(args) => return port::port(ctx, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth network VERB`.
async fn network_verb(ctx: &Ctx, command: &NetworkCommand) -> Result<ExitCode, CliError> {
    match command {
        NetworkCommand::Create(args) => network::create(ctx, args).await?,
        NetworkCommand::Ls(args) => network::ls(ctx, args).await?,
        NetworkCommand::Inspect(args) => network::inspect(ctx, args).await?,
        NetworkCommand::Rm(args) => return network::rm(ctx, args).await,
        NetworkCommand::Connect(args) => network::connect(ctx, args).await?,
        NetworkCommand::Disconnect(args) => network::disconnect(ctx, args).await?,
        NetworkCommand::Prune(args) => network::prune(ctx, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth volume VERB`.
async fn volume_verb(ctx: &Ctx, command: &VolumeCommand) -> Result<ExitCode, CliError> {
    match command {
        VolumeCommand::Create(args) => volume::create(ctx, args).await?,
        VolumeCommand::Ls(args) => volume::ls(ctx, args).await?,
        VolumeCommand::Inspect(args) => return volume::inspect(ctx, args).await,
        VolumeCommand::Rm(args) => return volume::rm(ctx, args).await,
        VolumeCommand::Prune(args) => volume::prune(ctx, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(args: &[&str]) -> clap::Error {
        match Cli::try_parse_from(args) {
            Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_flag_exits_125_with_one_error_line() {
        let err = parse_error(&["berth", "--badflag"]);
        assert_eq!(usage_exit_code(err.kind()), 125);
        let line = usage_line(&err);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("--badflag"), "{line}");
        assert!(!line.starts_with("error:"), "{line}");
    }

    #[test]
    fn other_usage_errors_exit_125() {
        for args in [
            &["berth", "images", "--format", "{{.ID}}"][..],
            &["berth", "save"],
            &["berth", "nosuchcommand"],
            &["berth", "tag", "onlyone"],
        ] {
            assert_eq!(usage_exit_code(parse_error(args).kind()), 125, "{args:?}");
        }
    }

    #[test]
    fn help_and_version_exit_0() {
        for args in [
            &["berth", "--help"][..],
            &["berth", "--version"],
            &["berth", "images", "--help"],
            &["berth"],
        ] {
            assert_eq!(usage_exit_code(parse_error(args).kind()), 0, "{args:?}");
        }
    }

    #[test]
    fn version_flag_reads_like_docker() {
        let err = parse_error(&["berth", "--version"]);
        assert_eq!(
            err.render().to_string().trim_end(),
            format!("berth version {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
