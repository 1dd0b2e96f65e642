//! The arguments of the registry verbs: pull, push, login, logout, search,
//! with docker's flag names and help texts.

use clap::Args;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository (not supported by berth)
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Fetch every platform of a multi-platform image (the chosen one is unpacked)
    #[arg(long = "all-platforms")]
    pub all_platforms: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to pull
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to push
    #[arg(value_name = "NAME[:TAG]")]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long, value_name = "string")]
    pub username: Option<String>,
    /// Password
    #[arg(short, long, value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// The registry (Docker Hub when left out)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when left out)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-official=BOOL, is-automated=BOOL)
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results (1 to 100; 25 when left out)
    #[arg(long, value_name = "int")]
    pub limit: Option<u32>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// What to search for; "HOST[:PORT]/TERM" searches that registry
    #[arg(value_name = "TERM")]
    pub term: String,
}
