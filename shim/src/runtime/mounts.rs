//! The spec's mounts, parsed once in the parent into what mount(2) takes:
//! fstab-style options become mount flags, flags to clear, a propagation
//! change and the filesystem's data string, as runc's `parseMountOptions`
//! does.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::RuntimeError;

/// One mount's options, split the way mount(2) wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set (MS_RDONLY, MS_NOSUID, MS_BIND, ...).
    pub flags: MsFlags,
    /// MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE (maybe with MS_REC), applied
    /// in a second call once the mount exists.
    pub propagation: MsFlags,
    /// Filesystem-specific options ("mode=755,size=65536k").
    pub data: String,
}

const SET: &[(&str, MsFlags)] = &[
    ("bind", MsFlags::MS_BIND),
    ("dirsync", MsFlags::MS_DIRSYNC),
    ("iversion", MsFlags::MS_I_VERSION),
    ("lazytime", MsFlags::MS_LAZYTIME),
    ("mand", MsFlags::MS_MANDLOCK),
    ("noatime", MsFlags::MS_NOATIME),
    ("nodev", MsFlags::MS_NODEV),
    ("nodiratime", MsFlags::MS_NODIRATIME),
    ("noexec", MsFlags::MS_NOEXEC),
    ("nosuid", MsFlags::MS_NOSUID),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", MsFlags::MS_RELATIME),
    ("remount", MsFlags::MS_REMOUNT),
    ("ro", MsFlags::MS_RDONLY),
    ("silent", MsFlags::MS_SILENT),
    ("strictatime", MsFlags::MS_STRICTATIME),
    ("sync", MsFlags::MS_SYNCHRONOUS),
    ("acl", MsFlags::MS_POSIXACL),
];

const CLEAR: &[(&str, MsFlags)] = &[
    ("async", MsFlags::MS_SYNCHRONOUS),
    ("atime", MsFlags::MS_NOATIME),
    ("defaults", MsFlags::empty()),
    ("dev", MsFlags::MS_NODEV),
    ("diratime", MsFlags::MS_NODIRATIME),
    ("exec", MsFlags::MS_NOEXEC),
    ("loud", MsFlags::MS_SILENT),
    ("noacl", MsFlags::MS_POSIXACL),
    ("noiversion", MsFlags::MS_I_VERSION),
    ("nolazytime", MsFlags::MS_LAZYTIME),
    ("nomand", MsFlags::MS_MANDLOCK),
    ("norelatime", MsFlags::MS_RELATIME),
    ("nostrictatime", MsFlags::MS_STRICTATIME),
    ("rw", MsFlags::MS_RDONLY),
    ("suid", MsFlags::MS_NOSUID),
];

/// Parse a propagation word ("rprivate", "slave", ...).
pub fn propagation(word: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match word {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// Split fstab-style options; later words win over earlier ones ("ro,rw" is rw).
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: String::new(),
    };
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        let o = o.as_str();
        if let Some((_, f)) = SET.iter().find(|(n, _)| *n == o) {
            out.flags |= *f;
        } else if let Some((_, f)) = CLEAR.iter().find(|(n, _)| *n == o) {
            out.flags &= !*f;
        } else if let Some(p) = propagation(o) {
            out.propagation = p;
        } else if o == "tmpcopyup" || o.is_empty() {
            // runc's copy-up of the image's files into a tmpfs: not supported,
            // and not a kernel option either.
        } else {
            data.push(o);
        }
    }
    out.data = data.join(",");
    out
}

/// Flags as words, for messages and the fake syscall's record.
pub fn flag_names(flags: MsFlags) -> String {
    let mut names: Vec<&str> = Vec::new();
    let all = [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_REMOUNT, "remount"),
        (MsFlags::MS_BIND, "bind"),
        (MsFlags::MS_REC, "rec"),
        (MsFlags::MS_PRIVATE, "private"),
        (MsFlags::MS_SLAVE, "slave"),
        (MsFlags::MS_SHARED, "shared"),
        (MsFlags::MS_UNBINDABLE, "unbindable"),
        (MsFlags::MS_STRICTATIME, "strictatime"),
        (MsFlags::MS_RELATIME, "relatime"),
        (MsFlags::MS_NOATIME, "noatime"),
    ];
    for (f, n) in all {
        if flags.contains(f) {
            names.push(n);
        }
    }
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join(",")
    }
}

/// What kind of mount an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of a host path (type "bind" or a "bind"/"rbind" option).
    Bind,
    /// "cgroup"/"cgroup2" at /sys/fs/cgroup: the container's own cgroup
    /// tree, built by the runtime for the host's layout.
    Cgroup,
    /// Any other filesystem (proc, tmpfs, devpts, sysfs, mqueue, ...).
    Fs(String),
}

/// One spec mount, ready for the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Host path for binds (absolute; a relative one is taken from the
    /// bundle, as runc does), the fs source word otherwise.
    pub source: Option<PathBuf>,
    pub kind: MountKind,
    pub options: MountOptions,
}

/// Parse the spec's mounts, in order.
pub fn entries(mounts: &[Mount], bundle: &Path) -> Result<Vec<MountEntry>, RuntimeError> {
    mounts.iter().map(|m| entry(m, bundle)).collect()
}

fn entry(m: &Mount, bundle: &Path) -> Result<MountEntry, RuntimeError> {
    let options = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if dest.as_os_str().is_empty() {
        return Err(RuntimeError::Spec("a mount has no destination".into()));
    }
    let destination = Path::new("/").join(dest);
    let kind = if typ == "bind" || options.flags.contains(MsFlags::MS_BIND) {
        MountKind::Bind
    } else if (typ == "cgroup" || typ == "cgroup2") && destination == Path::new("/sys/fs/cgroup") {
        MountKind::Cgroup
    } else if typ.is_empty() {
        return Err(RuntimeError::Spec(format!(
            "mount {}: no type",
            destination.display()
        )));
    } else {
        MountKind::Fs(typ.to_owned())
    };
    let source = match (&kind, m.source()) {
        (MountKind::Bind, None) => {
            return Err(RuntimeError::Spec(format!(
                "bind mount {}: no source",
                destination.display()
            )))
        }
        (MountKind::Bind, Some(s)) => Some(bundle.join(s)),
        (_, s) => s.clone(),
    };
    let mut options = options;
    if kind == MountKind::Bind {
        options.flags |= MsFlags::MS_BIND;
    }
    Ok(MountEntry {
        destination,
        source,
        kind,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&s(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, MsFlags::empty());

        let o = parse_options(&s(&["rbind", "rprivate", "ro"]));
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(o.data, "");

        let o = parse_options(&s(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]));
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_options_win() {
        assert_eq!(parse_options(&s(&["ro", "rw"])).flags, MsFlags::empty());
        assert_eq!(parse_options(&s(&["rw", "ro"])).flags, MsFlags::MS_RDONLY);
        assert_eq!(
            parse_options(&s(&["nosuid", "suid", "defaults"])).flags,
            MsFlags::empty()
        );
    }

    fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some(typ.into()));
        m.set_source(Some(src.into()));
        m.set_options(Some(s(opts)));
        m
    }

    #[test]
    fn kinds_and_sources() {
        let b = Path::new("/bundle");
        let e = entries(
            &[
                mount("/proc", "proc", "proc", &[]),
                mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]),
                mount("/data", "bind", "/host/data", &["rbind", "ro"]),
                mount("/rel", "none", "relative/dir", &["bind"]),
                mount("etc/x", "tmpfs", "tmpfs", &[]),
            ],
            b,
        )
        .unwrap();
        assert_eq!(e[0].kind, MountKind::Fs("proc".into()));
        assert_eq!(e[1].kind, MountKind::Cgroup);
        assert_eq!(e[2].kind, MountKind::Bind);
        assert_eq!(e[2].source.as_deref(), Some(Path::new("/host/data")));
        assert_eq!(e[3].kind, MountKind::Bind);
        assert_eq!(
            e[3].source.as_deref(),
            Some(Path::new("/bundle/relative/dir"))
        );
        assert_eq!(e[4].destination, Path::new("/etc/x"));
        let mut no_src = mount("/x", "bind", "", &[]);
        no_src.set_source(None);
        assert!(entries(&[no_src], b).is_err());
    }
}
