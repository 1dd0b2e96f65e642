//! Device nodes in the container's /dev: docker's standard set plus the
//! spec's `linux.devices`, made with mknod or, where mknod is refused (a
//! user namespace), bind-mounted from the host's node; then the ptmx and
//! /dev/fd symlinks. Also the device cgroup rules (cgroup v1): the spec's
//! `linux.resources.devices` in order, then what every container may use,
//! as runc's specconv does.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sys::stat::SFlag;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::sys::{Create, InRoot, Syscall};
use super::{RuntimeError, StepError};

/// One node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Absolute path inside the container.
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

fn standard(name: &str, major: u64, minor: u64) -> Device {
    Device {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: None,
        gid: None,
    }
}

/// The nodes every container gets (runc's AllowedDevices that are created).
pub fn standard_devices() -> Vec<Device> {
    vec![
        standard("null", 1, 3),
        standard("zero", 1, 5),
        standard("full", 1, 7),
        standard("random", 1, 8),
        standard("urandom", 1, 9),
        standard("tty", 5, 0),
    ]
}

/// The standard nodes, then the spec's; a spec device replaces a standard
/// one at the same path.
pub fn devices(spec: &[LinuxDevice]) -> Result<Vec<Device>, RuntimeError> {
    let mut out = Vec::with_capacity(6 + spec.len());
    let mut extra = Vec::with_capacity(spec.len());
    for d in spec {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RuntimeError::Spec(format!(
                    "device {}: type \"a\" is only valid in cgroup rules",
                    d.path().display()
                )))
            }
        };
        if !d.path().is_absolute() {
            return Err(RuntimeError::Spec(format!(
                "device {}: path must be absolute",
                d.path().display()
            )));
        }
        let num = |n: i64, what: &str| {
            u64::try_from(n).map_err(|_| {
                RuntimeError::Spec(format!(
                    "device {}: invalid {what} number {n}",
                    d.path().display()
                ))
            })
        };
        extra.push(Device {
            path: d.path().clone(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid(),
            gid: d.gid(),
        });
    }
    for s in standard_devices() {
        if !extra.iter().any(|d| d.path == s.path) {
            out.push(s);
        }
    }
    out.extend(extra);
    Ok(out)
}

/// Rules every container gets after the spec's (runc's AllowedDevices):
/// mknod of anything, and use of the standard nodes, /dev/console, the
/// ptys and /dev/net/tun.
const ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// One rule in the devices cgroup's words: (allow, "c 1:3 rwm").
pub type Rule = (bool, String);

/// The device cgroup rules for a container: the spec's rules in order,
/// then [`ALLOWED`] and the spec's own device nodes. Without a deny rule in
/// the spec nothing is restricted (docker's spec starts with deny-all).
pub fn cgroup_rules(spec: &[LinuxDeviceCgroup], nodes: &[Device]) -> Vec<Rule> {
    let num = |n: Option<i64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
    let mut out: Vec<Rule> = spec
        .iter()
        .map(|r| {
            let t = match r.typ() {
                None | Some(LinuxDeviceType::A) => "a",
                Some(LinuxDeviceType::B) => "b",
                Some(LinuxDeviceType::P) => "p",
                Some(LinuxDeviceType::C | LinuxDeviceType::U) => "c",
            };
            let access = r.access().as_deref().unwrap_or("rwm");
            let rule = if t == "a" {
                format!("a *:* {access}")
            } else {
                format!("{t} {}:{} {access}", num(r.major()), num(r.minor()))
            };
            (r.allow(), rule)
        })
        .collect();
    // The standard nodes and the spec's devices are allowed too (as runc
    // does); rules the spec already has are not written twice.
    let extra: Vec<Rule> = ALLOWED
        .iter()
        .map(|r| (true, (*r).to_owned()))
        .chain(nodes.iter().filter_map(|d| {
            let t = match d.kind {
                SFlag::S_IFBLK => "b",
                SFlag::S_IFCHR => "c",
                _ => return None,
            };
            Some((true, format!("{t} {}:{} rwm", d.major, d.minor)))
        }))
        .collect();
    for rule in extra {
        if !out.contains(&rule) {
            out.push(rule);
        }
    }
    out
}

/// Write `rules` into a v1 devices cgroup directory.
pub fn apply_rules_v1(dir: &Path, rules: &[Rule]) -> io::Result<()> {
    for (allow, rule) in rules {
        let file = dir.join(if *allow {
            "devices.allow"
        } else {
            "devices.deny"
        });
        std::fs::write(&file, rule).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("write {rule:?} to {}: {e}", file.display()),
            )
        })?;
    }
    Ok(())
}

/// Create `devices` in the rootfs `root` (before pivot_root, so the host's
/// nodes are still reachable at their own paths for the bind fallback).
/// Each node is made by name in its resolved parent directory.
pub fn create(sys: &dyn Syscall, root: &InRoot, devices: &[Device]) -> Result<(), StepError> {
    for d in devices {
        let what = || format!("device {}", d.path.display());
        let (Some(parent), Some(name)) = (d.path.parent(), d.path.file_name()) else {
            return Err(StepError::new(
                what(),
                io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
            ));
        };
        let dir = sys
            .resolve(root, parent, Create::Dir)
            .map_err(StepError::with(|| format!("mkdir {}", parent.display())))?;
        sys.remove_at(&dir, name)
            .map_err(StepError::with(|| format!("remove {}", d.path.display())))?;
        let dev = libc::makedev(d.major as u32, d.minor as u32);
        match sys.mknod_at(&dir, name, d.kind, d.mode, dev) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => bind_host(sys, d, &dir, name)?,
            Err(e) => return Err(StepError::new(format!("mknod {}", d.path.display()), e)),
        }
        if d.uid.is_some() || d.gid.is_some() {
            sys.chown_at(&dir, name, d.uid, d.gid)
                .map_err(StepError::with(|| format!("chown {}", d.path.display())))?;
        }
    }
    Ok(())
}

/// mknod is refused: bind the host's node of the same path instead.
fn bind_host(
    sys: &dyn Syscall,
    d: &Device,
    dir: &InRoot,
    name: &std::ffi::OsStr,
) -> Result<(), StepError> {
    let what = || {
        format!(
            "bind host device {} (mknod not permitted)",
            d.path.display()
        )
    };
    let target = sys
        .create_file_at(dir, name)
        .map_err(StepError::with(what))?;
    sys.mount(Some(&d.path), &target.path(), None, MsFlags::MS_BIND, None)
        .map_err(StepError::with(what))
}

/// /dev/ptmx → pts/ptmx (the devpts instance's own), and /dev/fd,
/// stdin, stdout, stderr → /proc/self/fd, made in the rootfs's resolved
/// /dev (a tmpfs mounted there: the image's /dev cannot be a symlink).
pub fn symlinks(sys: &dyn Syscall, root: &InRoot) -> Result<(), StepError> {
    let dev = sys
        .resolve(root, Path::new("/dev"), Create::Nothing)
        .map_err(StepError::with(|| "open /dev".to_owned()))?;
    sys.remove_at(&dev, "ptmx".as_ref())
        .map_err(StepError::with(|| "remove /dev/ptmx".to_owned()))?;
    let links = [
        ("pts/ptmx", "ptmx"),
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    for (target, name) in links {
        match sys.symlink_at(Path::new(target), &dev, name.as_ref()) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(StepError::new(format!("symlink /dev/{name}"), e))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sys::FakeSyscall;

    #[test]
    fn spec_devices_replace_standard_ones() {
        let mut d = LinuxDevice::default();
        d.set_path("/dev/null".into());
        d.set_typ(LinuxDeviceType::C);
        d.set_major(1);
        d.set_minor(3);
        d.set_file_mode(Some(0o600));
        let mut fuse = d.clone();
        fuse.set_path("/dev/fuse".into());
        fuse.set_minor(229);
        fuse.set_major(10);
        let all = devices(&[d, fuse]).unwrap();
        assert_eq!(all.len(), 7);
        let null = all
            .iter()
            .find(|d| d.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!(null.mode, 0o600);
        let mut bad = LinuxDevice::default();
        bad.set_path("/dev/x".into());
        assert!(devices(&[bad]).is_err());
    }

    #[test]
    fn cgroup_rules_follow_the_spec_then_the_allowed_list() {
        let mut deny_all = LinuxDeviceCgroup::default();
        deny_all.set_allow(false);
        deny_all.set_access(Some("rwm".into()));
        let mut fuse = LinuxDeviceCgroup::default();
        fuse.set_allow(true);
        fuse.set_typ(Some(LinuxDeviceType::C));
        fuse.set_major(Some(10));
        fuse.set_minor(None);
        fuse.set_access(Some("rw".into()));
        let mut node = standard("kvm", 10, 232);
        node.path = "/dev/kvm".into();
        let rules = cgroup_rules(&[deny_all, fuse], &[node]);
        assert_eq!(rules[0], (false, "a *:* rwm".to_owned()));
        assert_eq!(rules[1], (true, "c 10:* rw".to_owned()));
        assert_eq!(rules[2], (true, "c *:* m".to_owned()));
        assert_eq!(rules.last().unwrap(), &(true, "c 10:232 rwm".to_owned()));
        assert_eq!(rules.len(), 2 + ALLOWED.len() + 1);
    }

    #[test]
    fn mknod_refused_falls_back_to_a_bind_of_the_host_node() {
        let t = tempfile::tempdir().unwrap();
        let sys = FakeSyscall {
            mknod_eperm: true,
            ..Default::default()
        };
        let r = sys.open_root(t.path()).unwrap();
        create(&sys, &r, &standard_devices()[..1]).unwrap();
        let root = t.path().display().to_string();
        assert_eq!(
            sys.calls(),
            vec![
                format!("mkdir {root}/dev"),
                format!("rm {root}/dev/null"),
                format!("touch {root}/dev/null"),
                format!("mount /dev/null {root}/dev/null - bind -"),
            ]
        );
        let sys = FakeSyscall::default();
        create(&sys, &r, &standard_devices()[..1]).unwrap();
        assert_eq!(sys.calls()[2], format!("mknod {root}/dev/null c 1:3 666"));
    }
}
