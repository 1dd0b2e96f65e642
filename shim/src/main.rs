//! berth-shim binary: one per container, started by berthd.
//!
//! ```text
//! berth-shim start  --namespace NS --id ID --bundle DIR --address SOCK
//! berth-shim serve  --namespace NS --id ID --bundle DIR --address SOCK   (run by start)
//! berth-shim delete --namespace NS --id ID --bundle DIR [--address SOCK]
//! ```
//!
//! `start` binds the socket and re-executes the binary as `serve` with the
//! listener as fd 3; `serve` puts itself in a new session (so it outlives
//! berthd and its terminal), becomes a child subreaper and serves the Task
//! API until Shutdown. `delete` cleans up after a shim that died.
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use berth_shim::server::{self, cleanup, Ident};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::stat::{fstat, SFlag};

/// The fd on which `serve` finds its listener.
const LISTEN_FD: i32 = 3;

const USAGE: &str =
    "usage: berth-shim start|serve|delete --namespace NS --id ID --bundle DIR [--address SOCK]";

fn main() -> ExitCode {
    let mut argv = std::env::args_os().skip(1);
    let cmd = argv.next().map(|c| c.to_string_lossy().into_owned());
    let result = match cmd.as_deref() {
        Some("--version" | "version") => {
            println!("berth-shim {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(cmd @ ("start" | "serve" | "delete")) => match parse(argv) {
            Ok(ident) => match cmd {
                "start" => start(&ident),
                "serve" => serve(ident),
                _ => delete(&ident),
            },
            Err(e) => Err(e),
        },
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim {}: {e}", cmd.unwrap_or_default());
            ExitCode::FAILURE
        }
    }
}

/// `--flag value` and `--flag=value`; paths are made absolute (serve
/// changes directory to /).
fn parse(args: impl Iterator<Item = OsString>) -> Result<Ident, String> {
    let (mut namespace, mut id, mut bundle, mut address) = (None, None, None, None);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("invalid argument {a:?}"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(OsString::from(v))),
            None => (arg, None),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value")),
        };
        let slot = match flag.as_str() {
            "--namespace" => &mut namespace,
            "--id" => &mut id,
            "--bundle" => &mut bundle,
            "--address" => &mut address,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        };
        *slot = Some(value);
    }
    let text = |v: Option<OsString>, name: &str| -> Result<String, String> {
        v.and_then(|v| v.into_string().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
    };
    let absolute = |p: OsString| std::path::absolute(PathBuf::from(p)).map_err(|e| e.to_string());
    Ok(Ident {
        namespace: text(namespace, "namespace")?,
        id: text(id, "id")?,
        bundle: absolute(bundle.ok_or_else(|| format!("--bundle is required\n{USAGE}"))?)?,
        address: address.map(absolute).transpose()?,
    })
}

/// Binds the socket, starts `serve` with it, records where it is, prints
/// the address and returns: berthd waits for this to exit, then dials.
fn start(ident: &Ident) -> Result<(), String> {
    let address = ident.address.as_ref().ok_or("--address is required")?;
    if let Some(dir) = address.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match fs::remove_file(address) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(format!(
                "cannot remove the stale socket {}: {e}",
                address.display()
            ))
        }
        _ => {}
    }
    let listener = UnixListener::bind(address)
        .map_err(|e| format!("cannot listen on {}: {e}", address.display()))?;
    // dup2 onto fd 3 leaves the copy without close-on-exec, so exactly that
    // fd reaches the child; fd 3 may already be the listener.
    let fd = listener.as_raw_fd();
    if fd != LISTEN_FD {
        nix::unistd::dup2(fd, LISTEN_FD).map_err(|e| format!("dup2: {e}"))?;
    }
    fcntl(LISTEN_FD, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| format!("fcntl: {e}"))?;
    let log_path = ident.bundle.join("shim.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("berth-shim")
        .arg("serve")
        .arg("--namespace")
        .arg(&ident.namespace)
        .arg("--id")
        .arg(&ident.id)
        .arg("--bundle")
        .arg(&ident.bundle)
        .arg("--address")
        .arg(address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    new_session(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the shim server: {e}"))?;
    let write = |name: &str, text: String| {
        let p = ident.bundle.join(name);
        fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    let written = write("address", address.to_string_lossy().into_owned())
        .and_then(|()| write("shim.pid", child.id().to_string()));
    if let Err(e) = written {
        // A shim berthd cannot find must not live on.
        let _ = child.kill();
        let _ = child.wait();
        let _ = fs::remove_file(address);
        return Err(e);
    }
    println!("{}", address.display());
    Ok(())
}

/// Makes the child a session leader before it execs, so it is in its own
/// session by the time `start` returns (berthd's signals and terminal no
/// longer reach it).
#[allow(unsafe_code)]
fn new_session(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // makes the setsid system call, which is async-signal-safe; it touches
    // no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

/// The server process (a session leader already): a subreaper, the
/// listener from fd 3.
fn serve(ident: Ident) -> Result<(), String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    // Nothing of the shim should pin berthd's working directory's mount.
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let listener = inherited_listener()?;
    close_on_exec_inherited();
    server::serve(listener, ident).map_err(|e| e.to_string())
}

/// Whatever else berthd's process leaked into `start` must not reach the
/// runtime or the container: every inherited fd above 3 gets close-on-exec.
fn close_on_exec_inherited() {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > LISTEN_FD)
        .collect();
    for fd in fds {
        // The directory's own fd is closed by now: EBADF is fine.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

/// Takes fd 3, checked to be a socket, and marks it close-on-exec so it does
/// not leak into the runtime and the container.
#[allow(unsafe_code)]
fn inherited_listener() -> Result<UnixListener, String> {
    let st =
        fstat(LISTEN_FD).map_err(|e| format!("fd {LISTEN_FD}: {e} (run by `berth-shim start`)"))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(format!(
            "fd {LISTEN_FD} is not a socket (run by `berth-shim start`)"
        ));
    }
    fcntl(LISTEN_FD, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| format!("fcntl: {e}"))?;
    // SAFETY: fd 3 is open (fstat succeeded), is a socket, and nothing else in
    // this process refers to it: `start` passed it for this process to own.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FD) };
    Ok(UnixListener::from(fd))
}

/// Cleans up after a dead shim and prints its exit status JSON.
fn delete(ident: &Ident) -> Result<(), String> {
    let (record, errors) = cleanup::delete_dead(ident);
    let json = serde_json::to_string(&record).map_err(|e| e.to_string())?;
    println!("{json}");
    if errors.is_empty() {
        return Ok(());
    }
    let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> impl Iterator<Item = OsString> {
        v.iter().map(OsString::from).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let ident = parse(args(&[
            "--namespace",
            "default",
            "--id=abc",
            "--bundle",
            "/run/b",
            "--address=/run/s/x.sock",
        ]))
        .unwrap();
        assert_eq!(ident.namespace, "default");
        assert_eq!(ident.id, "abc");
        assert_eq!(ident.bundle, PathBuf::from("/run/b"));
        assert_eq!(ident.address, Some(PathBuf::from("/run/s/x.sock")));
    }

    #[test]
    fn relative_paths_become_absolute() {
        let ident = parse(args(&["--namespace", "n", "--id", "i", "--bundle", "b"])).unwrap();
        assert!(ident.bundle.is_absolute());
        assert_eq!(ident.address, None);
    }

    #[test]
    fn bad_command_lines_are_refused() {
        let e = parse(args(&["--namespace", "n", "--bundle", "/b"])).unwrap_err();
        assert!(e.starts_with("--id is required"), "{e}");
        let e = parse(args(&["--id", "i", "--nope", "x"])).unwrap_err();
        assert!(e.starts_with("unknown flag --nope"), "{e}");
        let e = parse(args(&["--id"])).unwrap_err();
        assert_eq!(e, "--id needs a value");
    }
}
