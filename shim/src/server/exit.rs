//! The exit status: how a wait status becomes docker's exit code, and the
//! bundle's `exit` file, written durably before any Wait returns so that
//! berthd finds the real exit code even if it was down when it happened.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use berth_proto::shim::v1::ExitStatus;
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// The exit file's name in the bundle.
pub const EXIT_FILE: &str = "exit";

/// `{"exit_code":0,"exited_at":"<rfc3339 nanos>","oom_killed":false,"pid":123}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub exited_at: String,
    pub oom_killed: bool,
    pub pid: u32,
}

impl ExitRecord {
    pub fn to_proto(&self) -> ExitStatus {
        ExitStatus {
            exit_code: self.exit_code,
            exited_at: self.exited_at.clone(),
            oom_killed: self.oom_killed,
            pid: self.pid,
        }
    }
}

/// The pid and exit code of a finished process: its status, or 128+N when
/// signal N killed it. `None` for stops and continues.
pub fn exit_code(status: WaitStatus) -> Option<(i32, i32)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

/// Writes `bundle/exit`: a temporary file, fsync, rename, fsync of the
/// directory, so a reader sees either nothing or the whole record.
pub fn write(bundle: &Path, rec: &ExitRecord) -> io::Result<()> {
    let tmp = bundle.join(".exit.tmp");
    let json = serde_json::to_vec(rec).map_err(io::Error::other)?;
    let mut f = File::create(&tmp)?;
    f.write_all(&json)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, bundle.join(EXIT_FILE))?;
    File::open(bundle)?.sync_all()
}

/// The exit file, if the shim wrote one.
pub fn read(bundle: &Path) -> Option<ExitRecord> {
    let b = fs::read(bundle.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn codes_are_dockers() {
        let p = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(p, 3)), Some((7, 3)));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGTERM, false)),
            Some((7, 143))
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, true)),
            Some((7, 137))
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn exit_file_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()), None);
        let rec = ExitRecord {
            exit_code: 137,
            exited_at: "2026-11-23T10:00:00.123456789Z".into(),
            oom_killed: true,
            pid: 42,
        };
        write(d.path(), &rec).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join(EXIT_FILE)).unwrap(),
            r#"{"exit_code":137,"exited_at":"2026-11-23T10:00:00.123456789Z","oom_killed":true,"pid":42}"#
        );
        assert_eq!(read(d.path()), Some(rec));
        assert!(!d.path().join(".exit.tmp").exists());
    }
}
