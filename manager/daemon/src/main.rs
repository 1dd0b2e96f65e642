//! berthd: the berth manager daemon.
#![deny(unsafe_code)]

mod api;
mod start;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_engine::config::{Config, Overrides, DEFAULT_CONFIG_PATH};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// berth's manager daemon: images, content, snapshots and the API.
#[derive(Parser, Debug)]
#[command(name = "berthd", version, about)]
struct Args {
    /// Persistent state directory [default: /var/lib/berth]
    #[arg(long)]
    root: Option<PathBuf>,
    /// Runtime state directory [default: /run/berth]
    #[arg(long)]
    state: Option<PathBuf>,
    /// API address, unix:///path [default: unix:///run/berth/berth.sock]
    #[arg(long, short = 'a')]
    address: Option<String>,
    /// Configuration file [default: /etc/berth/config.toml]
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// error, warn, info, debug or trace [default: info]
    #[arg(long, short = 'l')]
    log_level: Option<String>,
    /// Snapshotter: overlayfs or native [default: overlayfs]
    #[arg(long)]
    snapshotter: Option<String>,
    /// cgroup that containers' cgroups are created under [default: berth]
    #[arg(long)]
    cgroup_parent: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match &args.config {
        Some(p) => Config::load(p, true),
        None => Config::load(std::path::Path::new(DEFAULT_CONFIG_PATH), false),
    }
    .unwrap_or_else(|e| {
        eprintln!("berthd: {e}");
        std::process::exit(1)
    });
    config.apply(Overrides {
        root: args.root,
        state: args.state,
        address: args.address,
        snapshotter: args.snapshotter,
        log_level: args.log_level,
        cgroup_parent: args.cgroup_parent,
    });
    let filter = EnvFilter::try_new(format!(
        "{},sled=warn,h2=warn,tower=warn,hyper=warn",
        config.log_level
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(start::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e}");
            ExitCode::FAILURE
        }
    }
}
