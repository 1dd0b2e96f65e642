//! Finding the container's command inside its root and exec'ing it, with
//! docker's words and exit codes for the failures: 127 when the command
//! cannot be found, 126 when it is found but cannot be run. The messages
//! are Go's `exec.LookPath` ones, which docker shows as they are.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;

/// Exit code for a command that is not there.
pub const NOT_FOUND: i32 = 127;
/// Exit code for a command that is there but cannot be run.
pub const CANNOT_EXECUTE: i32 = 126;

/// Why the command cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailure {
    pub code: i32,
    pub message: String,
}

/// An errno in Go's words ("no such file or directory").
pub fn errno_text(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => d.to_owned(),
    }
}

/// Whether `path` can be executed by this process: Ok, or why not.
fn check(path: &Path, shown: &str) -> Result<(), ExecFailure> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        ExecFailure {
            code: if errno == Errno::ENOENT || errno == Errno::ENOTDIR {
                NOT_FOUND
            } else {
                CANNOT_EXECUTE
            },
            message: format!(
                "exec: \"{shown}\": stat {}: {}",
                path.display(),
                errno_text(errno)
            ),
        }
    })?;
    let denied = || ExecFailure {
        code: CANNOT_EXECUTE,
        message: format!("exec: \"{shown}\": permission denied"),
    };
    if meta.is_dir() {
        return Err(ExecFailure {
            code: CANNOT_EXECUTE,
            message: format!("exec: \"{shown}\": is a directory"),
        });
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(denied());
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| denied())?;
    // SAFETY: c is a NUL-terminated path; faccessat only reads it.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
    if r != 0 {
        return Err(denied());
    }
    Ok(())
}

/// Resolve `arg0` the way the container's process would be found: a name
/// with a slash as it is (relative to the cwd), a bare name along `path`
/// (the PATH of the process env). Runs in the init after pivot_root and the
/// user switch, so permissions are the container user's.
pub fn resolve(arg0: &str, path: &str) -> Result<CString, ExecFailure> {
    let cstring = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecFailure {
            code: NOT_FOUND,
            message: format!("exec: \"{arg0}\": invalid name"),
        })
    };
    if arg0.is_empty() {
        return Err(ExecFailure {
            code: NOT_FOUND,
            message: "exec: \"\": executable file not found in $PATH".to_owned(),
        });
    }
    if arg0.contains('/') {
        let p = Path::new(arg0);
        check(p, arg0)?;
        return cstring(p);
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if check(&candidate, arg0).is_ok() {
            return cstring(&candidate);
        }
    }
    Err(ExecFailure {
        code: NOT_FOUND,
        message: format!("exec: \"{arg0}\": executable file not found in $PATH"),
    })
}

/// execve; returns only on failure, with docker's code for it.
pub fn exec(path: &CStr, args: &[CString], env: &[CString]) -> ExecFailure {
    let e = match nix::unistd::execve(path, args, env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    ExecFailure {
        code: if e == Errno::ENOENT {
            NOT_FOUND
        } else {
            CANNOT_EXECUTE
        },
        message: format!("exec {}: {}", path.to_string_lossy(), errno_text(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lookups_give_docker_codes_and_messages() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        let data = bin.join("data");
        fs::write(&data, "x").unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o644)).unwrap();
        let path = format!("/nonexistent:{}", bin.display());

        assert_eq!(
            resolve("tool", &path).unwrap().as_bytes(),
            tool.as_os_str().as_bytes()
        );
        let e = resolve("nosuch", &path).unwrap_err();
        assert_eq!(e.code, 127);
        assert_eq!(
            e.message,
            "exec: \"nosuch\": executable file not found in $PATH"
        );
        // Not executable on PATH: skipped, so "not found" like Go's LookPath.
        assert_eq!(resolve("data", &path).unwrap_err().code, 127);

        let d = data.to_str().unwrap();
        let e = resolve(d, &path).unwrap_err();
        assert_eq!(
            (e.code, e.message),
            (126, format!("exec: \"{d}\": permission denied"))
        );
        let b = bin.to_str().unwrap();
        let e = resolve(b, &path).unwrap_err();
        assert_eq!(
            (e.code, e.message),
            (126, format!("exec: \"{b}\": is a directory"))
        );
        let e = resolve("/no/such", &path).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                127,
                "exec: \"/no/such\": stat /no/such: no such file or directory"
            )
        );
    }
}
