//! The `--init` binary: berth-init (manager/init/berth-init.rs, built by
//! manager/build.rs as a static executable) is embedded in berthd and
//! written to `STATE/bin/berth-init` at start-up, from where each `--init`
//! container gets it bind-mounted read-only at [`super::spec::INIT_PATH`]
//! (docker does the same with docker-init).
//!
//! Embedding it keeps berthd a single file to install and guarantees the
//! init matches the daemon's version.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The static berth-init executable.
pub const BERTH_INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Writes [`BERTH_INIT`] to `STATE/bin/berth-init` (mode 0755) unless an
/// identical file is already there, and returns its path.
///
/// The write is atomic (temporary file, fsync, rename), so a container being
/// started while berthd upgrades the file sees either the old or the new
/// binary, never a torn one. Blocking: call it at start-up or from
/// `spawn_blocking`.
pub fn install(state_dir: &Path) -> io::Result<PathBuf> {
    let dir = state_dir.join("bin");
    let path = dir.join("berth-init");
    if is_current(&path)? {
        return Ok(path);
    }
    fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".berth-init.{}.tmp", std::process::id()));
    let result = write_file(&tmp, BERTH_INIT).and_then(|()| fs::rename(&tmp, &path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable.
    fs::File::open(&dir)?.sync_all()?;
    Ok(path)
}

/// Whether `path` already holds this build's init with mode 0755.
fn is_current(path: &Path) -> io::Result<bool> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_file()
        || meta.len() != BERTH_INIT.len() as u64
        || meta.permissions().mode() & 0o7777 != 0o755
    {
        return Ok(false);
    }
    Ok(fs::read(path)? == BERTH_INIT)
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(path)?;
    // The umask may have removed bits from the mode given at creation.
    file.set_permissions(fs::Permissions::from_mode(0o755))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn installed() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = install(dir.path()).expect("install berth-init");
        (dir, path)
    }

    #[test]
    fn install_writes_an_executable_copy_once() {
        let (dir, path) = installed();
        assert_eq!(path, dir.path().join("bin/berth-init"));
        assert_eq!(fs::read(&path).expect("read"), BERTH_INIT);
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
        let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).expect("stat"));

        // Unchanged: left alone.
        install(dir.path()).expect("reinstall");
        let again = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).expect("stat"));
        assert_eq!(inode, again);

        // Different content: replaced.
        fs::write(&path, b"old").expect("overwrite");
        install(dir.path()).expect("repair");
        assert_eq!(fs::read(&path).expect("read"), BERTH_INIT);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("bin"))
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("berth-init")]);
    }

    #[test]
    fn exits_with_the_child_exit_code() {
        let (_dir, init) = installed();
        let status = Command::new(&init)
            .args(["--", "sh", "-c", "exit 3"])
            .status()
            .expect("run berth-init");
        assert_eq!(status.code(), Some(3));
        let status = Command::new(&init)
            .args(["sh", "-c", "kill -INT $$"])
            .status()
            .expect("run");
        assert_eq!(
            status.code(),
            Some(130),
            "128 + SIGINT for a signalled child"
        );
    }

    #[test]
    fn missing_command_exits_127() {
        let (_dir, init) = installed();
        let out = Command::new(&init)
            .arg("/nonexistent/cmd")
            .output()
            .expect("run berth-init");
        assert_eq!(out.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cmd"));
    }

    #[test]
    fn forwards_sigterm_to_the_child() {
        let (_dir, init) = installed();
        let mut child = Command::new(&init)
            .args(["sleep", "5"])
            .spawn()
            .expect("spawn");
        // Let it fork and exec sleep first.
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
        let status = child.wait().expect("wait");
        assert_eq!(
            status.code(),
            Some(143),
            "sleep killed by SIGTERM: 128 + 15"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    /// A grandchild orphaned by its parent is re-parented to berth-init (PID 1
    /// in a container; a subreaper here) and must not stay a zombie.
    #[test]
    fn reaps_orphaned_zombies() {
        let (_dir, init) = installed();
        let mut child = Command::new(&init)
            .args(["sh", "-c", "sh -c 'true &'; sleep 1"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        let init_pid = child.id() as i32;
        std::thread::sleep(Duration::from_millis(500));
        let zombies = zombie_children(init_pid);
        let status = child.wait().expect("wait");
        assert!(
            zombies.is_empty(),
            "zombies left under berth-init: {zombies:?}"
        );
        assert_eq!(status.code(), Some(0));
    }

    /// Pids of zombie processes whose parent is `parent`.
    fn zombie_children(parent: i32) -> Vec<i32> {
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) S ppid ...": comm may contain spaces, so split after ')'.
            let Some((head, tail)) = stat.rsplit_once(')') else {
                continue;
            };
            let mut fields = tail.split_whitespace();
            let (state, ppid) = (
                fields.next(),
                fields.next().and_then(|p| p.parse::<i32>().ok()),
            );
            if state == Some("Z") && ppid == Some(parent) {
                if let Some(pid) = head.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    found.push(pid);
                }
            }
        }
        found
    }

    #[test]
    fn is_statically_linked() {
        let (_dir, init) = installed();
        let out = match Command::new("file").arg("-b").arg(&init).output() {
            Ok(out) => out,
            Err(e) => panic!("this test needs the `file` command: {e}"),
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("static"), "berth-init is not static: {text}");
        assert!(
            !text.contains("interpreter"),
            "berth-init needs a dynamic loader: {text}"
        );
    }
}
