//! `berth login` and `berth logout`, with docker's flags, prompts and
//! messages. berthd checks the credentials against the registry (Login);
//! the CLI keeps them ([`crate::credentials`]) and sends them with each
//! pull, push and search.

use std::io::{self, Read, Write};

use berth_proto::v1::{LoginRequest, LoginResponse};
use tonic::Code;

use super::{print, Ctx};
use crate::cli::{LoginArgs, LogoutArgs};
use crate::client::Client;
use crate::credentials::{self, ConfigFile, Credentials};
use crate::error::{CliError, DAEMON_PREFIX};
use crate::registry;
use crate::terminal::Prompt;

const LOGIN_SUCCEEDED: &str = "Login Succeeded";

pub async fn login(ctx: &Ctx, args: &LoginArgs) -> Result<(), CliError> {
    if args.password.is_some() && args.password_stdin {
        return Err(CliError::Invalid(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(CliError::Invalid(
            "Must provide --username with --password-stdin".into(),
        ));
    }
    if args.password.is_some() {
        warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let password = if args.password_stdin {
        Some(password_from_stdin()?)
    } else {
        args.password.clone()
    }
    .filter(|p| !p.is_empty());
    let server = args.server.clone().unwrap_or_default();
    let key = registry::credential_key(&server);
    // A config file that cannot be read is reported before anything is
    // asked, and is never overwritten.
    let mut file = ConfigFile::load(&credentials::default_path()?)?;
    let stored = file.get(&key)?;
    let client = ctx.connect().await?;

    if args.username.is_none() && password.is_none() {
        if let Some(stored) = stored
            .clone()
            .filter(|c| !c.username.is_empty() && !c.password.is_empty())
        {
            print("Authenticating with existing credentials...\n")?;
            match verify(&client, &server, &stored).await {
                Ok(response) => return keep(&mut file, &key, stored, response),
                Err(status) if status.code() == Code::Unauthenticated => {
                    warn("Stored credentials invalid or expired")
                }
                Err(status) => warn(&format!(
                    "Login did not succeed, error: {DAEMON_PREFIX}{}",
                    CliError::Daemon(status)
                )),
            }
        }
    }

    let stored_user = stored.map(|c| c.username).unwrap_or_default();
    let creds = ask(args.username.as_deref(), password, &stored_user)?;
    let response = verify(&client, &server, &creds)
        .await
        .map_err(CliError::Daemon)?;
    keep(&mut file, &key, creds, response)
}

/// docker's `--password-stdin`: all of stdin, less one trailing newline.
fn password_from_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::io("read the password from stdin", e))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// The username and password, asking on the terminal for what the flags
/// left out.
fn ask(
    username: Option<&str>,
    password: Option<String>,
    stored_user: &str,
) -> Result<Credentials, CliError> {
    if let (Some(username), Some(password)) = (username, &password) {
        return checked(username.trim().to_owned(), password.clone());
    }
    let mut tty = Prompt::open().map_err(|_| {
        CliError::Invalid("Cannot perform an interactive login from a non TTY device".into())
    })?;
    let username = match username {
        Some(u) => u.trim().to_owned(),
        None => {
            let question = if stored_user.is_empty() {
                "Username: ".to_owned()
            } else {
                format!("Username ({stored_user}): ")
            };
            let answer = tty
                .ask(&question)
                .map_err(|e| CliError::io("read the username", e))?;
            match answer.trim() {
                "" => stored_user.to_owned(),
                typed => typed.to_owned(),
            }
        }
    };
    if username.is_empty() {
        return Err(CliError::Invalid("Non-null Username Required".into()));
    }
    let password = match password {
        Some(p) => p,
        None => tty
            .ask_secret("Password: ")
            .map_err(|e| CliError::io("read the password", e))?,
    };
    checked(username, password)
}

/// docker's refusals of an empty username or password.
fn checked(username: String, password: String) -> Result<Credentials, CliError> {
    if username.is_empty() {
        return Err(CliError::Invalid("Non-null Username Required".into()));
    }
    if password.is_empty() {
        return Err(CliError::Invalid("Password Required".into()));
    }
    Ok(Credentials {
        username,
        password,
        identity_token: String::new(),
    })
}

async fn verify(
    client: &Client,
    server: &str,
    creds: &Credentials,
) -> Result<LoginResponse, tonic::Status> {
    client
        .images()
        .login(LoginRequest {
            server: server.to_owned(),
            username: creds.username.clone(),
            password: creds.password.clone(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Files the accepted credentials and says so. With an identity token the
/// password is not kept (docker's rule).
fn keep(
    file: &mut ConfigFile,
    key: &str,
    mut creds: Credentials,
    response: LoginResponse,
) -> Result<(), CliError> {
    if !response.identity_token.is_empty() {
        creds.identity_token = response.identity_token;
        creds.password.clear();
    }
    file.set(key, &creds);
    file.save()?;
    if !creds.password.is_empty() {
        warn(&format!(
            "WARNING! Your password will be stored unencrypted in {}.",
            file.path().display()
        ));
    }
    let status = if response.status.is_empty() {
        LOGIN_SUCCEEDED
    } else {
        &response.status
    };
    print(&format!("{status}\n"))
}

pub fn logout(args: &LogoutArgs) -> Result<(), CliError> {
    let key = registry::credential_key(args.server.as_deref().unwrap_or_default());
    let mut file = ConfigFile::load(&credentials::default_path()?)?;
    if !file.remove(&key) {
        return print(&format!("Not logged in to {key}\n"));
    }
    print(&format!("Removing login credentials for {key}\n"))?;
    file.save()?;
    Ok(())
}

fn warn(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}
