//! Who may enter berthd's directories: the one table of modes under ROOT and STATE.
//!
//! ROOT holds unpacked images — their device nodes and setuid-root files included — and STATE
//! holds every running container's root file system, mounted. If any local user can traverse
//! down to them, that user can open an image's `/dev/kmsg` (mode 0666) or run its setuid-root
//! shell from the host: docker's CVE-2021-41091. So nothing below ROOT or STATE is reachable
//! but by berthd's own user (root); the two tops differ only where something must pass through.
//!
//! Every mode is set explicitly after creating a directory (the umask would otherwise decide),
//! and an existing directory is tightened at start-up: a root made by an older berthd, or by
//! hand, would otherwise stay 0755. Tightening only takes bits away, never adds them, so an
//! administrator's stricter choice stands.
//!
//! Directories made later, while serving (a container's directory, a task bundle, an ingest),
//! are [`PRIVATE`] too, through [`private_dir`]. The snapshotter keeps its own root
//! (`snapshots/<backend>/`) at 0700 itself: it is a library that must be safe without berthd.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::config::Config;
use crate::error::{IoContext, ManagerError, Result};

/// Only berthd's own user (root) may list or traverse.
pub const PRIVATE: u32 = 0o700;

/// Which tree a directory is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// `--root`, default /var/lib/berth.
    Root,
    /// `--state`, default /run/berth.
    State,
}

/// One directory berthd makes at start-up, and the most its mode may allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dir {
    pub base: Base,
    /// Relative to the base; "" is the base itself.
    pub rel: &'static str,
    pub mode: u32,
}

const fn dir(base: Base, rel: &'static str, mode: u32) -> Dir {
    Dir { base, rel, mode }
}

/// berthd's directories, each parent before its children.
pub const DIRS: &[Dir] = &[
    // root:root 0710, as docker's /var/lib/docker: no one else may list or traverse it. The
    // group bit is kept for a remapped root's group (user namespaces, where ROOT's group becomes
    // the remapped root's), which must traverse to its containers; today the group is root.
    dir(Base::Root, "", 0o710),
    // Image layers, configs and manifests (a build's secrets may be in them) and half-written
    // downloads.
    dir(Base::Root, "content", PRIVATE),
    dir(Base::Root, "content/blobs", PRIVATE),
    dir(Base::Root, "content/blobs/sha256", PRIVATE),
    dir(Base::Root, "content/ingest", PRIVATE),
    // Every snapshotter's root: unpacked layers with their device nodes and setuid files, and
    // containers' writable upper dirs. The overlay mounts are made by root, and overlayfs looks
    // files up with the mounter's credentials, so a container's non-root user needs no access.
    dir(Base::Root, "snapshots", PRIVATE),
    // Containers' OCI specs (their environment, secrets included), hosts files and logs; the
    // files a container sees are bind-mounted into it by root.
    dir(Base::Root, "containers", PRIVATE),
    // Mount points where berthd looks into a rootfs (its users database).
    dir(Base::Root, "tmp", PRIVATE),
    // Volumes' data (volumes/<name>/_data, 0755 inside): containers bind it, so no one else
    // needs to pass.
    dir(Base::Root, "volumes", PRIVATE),
    // 0711: others may pass through but not list. The API socket lives here by default
    // (STATE/berth.sock, 0660), and a member of its group must be able to reach it.
    dir(Base::State, "", 0o711),
    // The shims' sockets: only berthd dials them.
    dir(Base::State, "s", PRIVATE),
    // Task bundles, each with its container's rootfs mounted at rootfs/: the most direct way
    // into a running container's files from the host.
    dir(Base::State, "tasks", PRIVATE),
    // berth-init, bind-mounted into --init containers by the shim, which runs as root.
    dir(Base::State, "bin", PRIVATE),
    // The shims' compiled seccomp filters.
    dir(Base::State, "cache", PRIVATE),
];

impl Dir {
    /// Where this directory is under `config`'s root and state.
    pub fn path(&self, config: &Config) -> PathBuf {
        let base = match self.base {
            Base::Root => &config.root,
            Base::State => &config.state,
        };
        if self.rel.is_empty() {
            base.clone()
        } else {
            base.join(self.rel)
        }
    }
}

/// Creates every directory of [`DIRS`] with its mode, and tightens the ones that exist.
pub fn prepare(config: &Config) -> Result<()> {
    for d in DIRS {
        let path = d.path(config);
        if d.rel.is_empty() {
            // What is above ROOT and STATE is the system's, with the system's modes.
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).ctx(|| format!("create {}", parent.display()))?;
            }
        }
        ensure_dir(&path, d.mode)?;
    }
    Ok(())
}

/// Creates `path` (and any missing parent) [`PRIVATE`], or tightens it if it exists.
pub fn private_dir(path: &Path) -> Result<()> {
    ensure_dir(path, PRIVATE)
}

/// Creates `path` with exactly `mode`, or takes off an existing directory's mode the bits
/// `mode` does not allow. Missing parents are created with `mode` too (less what the umask
/// takes off).
pub fn ensure_dir(path: &Path, mode: u32) -> Result<()> {
    let md = match fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(path)
                .ctx(|| format!("create {}", path.display()))?;
            // The umask took bits off `mode`; put exactly `mode` back.
            return set_mode(path, mode);
        }
        Err(e) => return Err(ManagerError::io(format!("stat {}", path.display()), e)),
    };
    if !md.is_dir() {
        return Err(ManagerError::FailedPrecondition(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    if let Some(why) = ownership_risk(md.uid(), md.gid(), md.mode(), mode) {
        warn!(path = %path.display(), uid = md.uid(), gid = md.gid(), "{why}");
    }
    if let Some(new) = tightened(md.mode(), mode) {
        set_mode(path, new)?;
        warn!(
            path = %path.display(),
            from = format!("{:04o}", md.mode() & 0o7777),
            to = format!("{new:04o}"),
            "tightened the mode of a directory other users could enter"
        );
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {:04o} {}", mode, path.display()))
}

/// The mode an existing directory with `current` (an `st_mode`) gets under `policy`: its own
/// less the bits the policy does not allow, special bits included; `None` when it allows no
/// more than the policy already.
pub fn tightened(current: u32, policy: u32) -> Option<u32> {
    let now = current & 0o7777;
    let new = now & policy;
    (new != now).then_some(new)
}

/// Why a directory's owner defeats its mode, if it does: another owner can loosen it again,
/// and a group bit the policy keeps lets in whichever group the directory has.
fn ownership_risk(uid: u32, gid: u32, current: u32, policy: u32) -> Option<&'static str> {
    let me = nix::unistd::geteuid().as_raw();
    let my_group = nix::unistd::getegid().as_raw();
    if uid != me {
        return Some("a berthd directory is owned by another user, who can open it up again");
    }
    if gid != my_group && current & policy & 0o070 != 0 {
        return Some("a berthd directory's group is not berthd's: its members may enter it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightening_only_takes_bits_away() {
        // The reported case: a 0755 root and snapshot directories.
        assert_eq!(tightened(0o40755, 0o710), Some(0o710));
        assert_eq!(tightened(0o40755, PRIVATE), Some(0o700));
        assert_eq!(tightened(0o40777, 0o711), Some(0o711));
        assert_eq!(tightened(0o40750, PRIVATE), Some(0o700));
        // Special bits are not part of any policy.
        assert_eq!(tightened(0o41777, 0o711), Some(0o711));
        assert_eq!(tightened(0o42700, PRIVATE), Some(0o700));
        // Already within the policy: untouched, even when stricter.
        assert_eq!(tightened(0o40710, 0o710), None);
        assert_eq!(tightened(0o40700, 0o710), None);
        assert_eq!(tightened(0o40700, 0o711), None);
        assert_eq!(tightened(0o40500, PRIVATE), None);
    }

    #[test]
    fn the_table_keeps_everything_below_the_tops_private() {
        let roots: Vec<&Dir> = DIRS.iter().filter(|d| d.rel.is_empty()).collect();
        assert_eq!(roots.len(), 2, "one entry for ROOT, one for STATE");
        for d in DIRS {
            // No one but the owner may ever list; only the tops let anyone through.
            assert_eq!(d.mode & 0o044, 0, "{d:?} is listable by others");
            assert_eq!(d.mode & 0o7000, 0, "{d:?} has special bits");
            if !d.rel.is_empty() {
                assert_eq!(d.mode, PRIVATE, "{d:?}");
            }
        }
        let root = DIRS
            .iter()
            .find(|d| d.base == Base::Root && d.rel.is_empty());
        assert_eq!(root.map(|d| d.mode), Some(0o710));
        let state = DIRS
            .iter()
            .find(|d| d.base == Base::State && d.rel.is_empty());
        assert_eq!(state.map(|d| d.mode), Some(0o711));
        // Parents come first, so each directory is made inside one already secured.
        for (i, d) in DIRS.iter().enumerate() {
            if let Some((parent, _)) = d.rel.rsplit_once('/') {
                let at = DIRS
                    .iter()
                    .position(|p| p.base == d.base && p.rel == parent);
                assert!(matches!(at, Some(j) if j < i), "{d:?} before its parent");
            } else if !d.rel.is_empty() {
                let top = DIRS
                    .iter()
                    .position(|p| p.base == d.base && p.rel.is_empty());
                assert!(matches!(top, Some(j) if j < i), "{d:?} before its base");
            }
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn prepare_creates_exact_modes_and_tightens_existing_ones() {
        let t = tempfile::tempdir().unwrap();
        let config = Config {
            root: t.path().join("var/lib/berth"),
            state: t.path().join("run/berth"),
            ..Config::default()
        };
        prepare(&config).unwrap();
        for d in DIRS {
            assert_eq!(mode(&d.path(&config)), d.mode, "{d:?}");
        }
        // Above ROOT is the system's: not made private.
        assert_eq!(mode(&t.path().join("var/lib")) & 0o005, 0o005);

        // A root left open (an older berthd, or by hand) is closed again; a stricter mode stays.
        for d in DIRS {
            let p = d.path(&config);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let tmp = config.root.join("tmp");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o500)).unwrap();
        prepare(&config).unwrap();
        for d in DIRS
            .iter()
            .filter(|d| d.base != Base::Root || d.rel != "tmp")
        {
            assert_eq!(mode(&d.path(&config)), d.mode, "{d:?}");
        }
        assert_eq!(mode(&tmp), 0o500);
    }

    #[test]
    fn private_dirs_are_private_all_the_way_down_and_refuse_files() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("containers/default/abc");
        private_dir(&deep).unwrap();
        assert_eq!(mode(&deep), PRIVATE);
        assert_eq!(mode(&t.path().join("containers/default")) & 0o077, 0);
        let f = t.path().join("file");
        fs::write(&f, b"").unwrap();
        let err = private_dir(&f).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }
}
