//! The rootfs steps against the recording fake: which mounts, in which
//! order, with which flags.

use super::*;
use crate::runtime::devices::standard_devices;
use crate::runtime::mounts::entries;
use crate::runtime::sys::FakeSyscall;
use oci_spec::runtime::Mount;

fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some(typ.into()));
    m.set_source(Some(src.into()));
    m.set_options(Some(opts.iter().map(|o| o.to_string()).collect()));
    m
}

/// A rootfs with no devices and `/` as the cwd, built against `sys`.
fn build(
    sys: &FakeSyscall,
    root: &Path,
    mounts: &[MountEntry],
    cgroups: &CgroupMounts,
) -> Result<(), StepError> {
    Rootfs {
        sys,
        root,
        propagation: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        mounts,
        cgroups,
        devices: &[],
        cwd: Path::new("/"),
    }
    .build()
}

#[test]
fn mounts_happen_in_spec_order_then_dev_then_pivot() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let r = root.path().display().to_string();
    let s = src.path().display().to_string();
    let spec_mounts = [
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount("/data", "bind", &s, &["rbind", "rprivate", "ro"]),
    ];
    let mounts = entries(&spec_mounts, Path::new("/bundle")).unwrap();
    let cgroups = CgroupMounts {
        v2: false,
        joined_namespace: true,
        path: "berth/c1".into(),
        v1: vec![V1Hierarchy {
            dir: "cpu,cpuacct".into(),
            mount_point: "/sys/fs/cgroup/cpu,cpuacct".into(),
            options: "cpu,cpuacct".into(),
        }],
    };
    let sys = FakeSyscall::default();
    Rootfs {
        sys: &sys,
        root: root.path(),
        propagation: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        mounts: &mounts,
        cgroups: &cgroups,
        devices: &standard_devices()[..1],
        cwd: Path::new("/work"),
    }
    .build()
    .unwrap();
    let cg = format!("{r}/sys/fs/cgroup");
    let want = vec![
        "mount - / - rec,private -".to_owned(),
        format!("mount {r} {r} - bind,rec -"),
        format!("mkdir {r}/proc"),
        format!("mount proc {r}/proc proc nosuid,nodev,noexec -"),
        format!("mkdir {r}/dev"),
        format!("mount tmpfs {r}/dev tmpfs nosuid,strictatime mode=755,size=65536k"),
        format!("mkdir {r}/sys"),
        format!("mount sysfs {r}/sys sysfs ro,nosuid,nodev,noexec -"),
        format!("mkdir {cg}"),
        format!("mount tmpfs {cg} tmpfs nosuid,nodev,noexec mode=755"),
        format!("mkdir {cg}/cpu,cpuacct"),
        format!("mount cgroup {cg}/cpu,cpuacct cgroup ro,nosuid,nodev,noexec cpu,cpuacct"),
        format!("symlink cpu,cpuacct {cg}/cpu"),
        format!("symlink cpu,cpuacct {cg}/cpuacct"),
        format!("mount - {cg} - ro,nosuid,nodev,noexec,remount mode=755"),
        format!("mkdir {r}/data"),
        format!("mount {s} {r}/data - bind,rec -"),
        format!("mount - {r}/data - ro,remount,bind -"),
        format!("mount - {r}/data - rec,private -"),
        format!("mkdir {r}/work"),
        format!("mkdir {r}/dev"),
        format!("rm {r}/dev/null"),
        format!("mknod {r}/dev/null c 1:3 666"),
        format!("rm {r}/dev/ptmx"),
        format!("symlink pts/ptmx {r}/dev/ptmx"),
        format!("symlink /proc/self/fd {r}/dev/fd"),
        format!("symlink /proc/self/fd/0 {r}/dev/stdin"),
        format!("symlink /proc/self/fd/1 {r}/dev/stdout"),
        format!("symlink /proc/self/fd/2 {r}/dev/stderr"),
        format!("pivot_root {r}"),
    ];
    let got = sys.calls();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "call {i}");
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");
}

#[test]
fn cgroup_v2_with_a_namespace_is_one_cgroup2_mount() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().display().to_string();
    let mounts = entries(
        &[mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"])],
        Path::new("/b"),
    )
    .unwrap();
    let cgroups = CgroupMounts {
        v2: true,
        joined_namespace: true,
        path: "berth/c1".into(),
        v1: vec![],
    };
    let sys = FakeSyscall::default();
    Rootfs {
        sys: &sys,
        root: root.path(),
        propagation: MsFlags::MS_SLAVE | MsFlags::MS_REC,
        mounts: &mounts,
        cgroups: &cgroups,
        devices: &[],
        cwd: Path::new("/"),
    }
    .build()
    .unwrap();
    let calls = sys.calls();
    assert_eq!(calls[0], "mount - / - rec,slave -");
    assert!(
        calls.contains(&format!(
            "mount cgroup2 {r}/sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec -"
        )),
        "{calls:#?}"
    );
    // No /dev mount in the spec: no device nodes are made.
    assert!(!calls.iter().any(|c| c.starts_with("mknod")), "{calls:#?}");
}

/// A container with its own (not yet unshared) cgroup namespace gets its
/// cgroup directories bound by path: the init need not be in the cgroup yet.
#[test]
fn own_cgroup_directories_are_bound_by_path() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().display().to_string();
    let mounts = entries(
        &[mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"])],
        Path::new("/b"),
    )
    .unwrap();
    let calls = |cgroups: &CgroupMounts| {
        let sys = FakeSyscall::default();
        build(&sys, root.path(), &mounts, cgroups).unwrap();
        sys.calls()
    };
    let cg = format!("{r}/sys/fs/cgroup");
    let v1 = calls(&CgroupMounts {
        v2: false,
        joined_namespace: false,
        path: "/berth/c1".into(),
        v1: vec![V1Hierarchy {
            dir: "memory".into(),
            mount_point: "/sys/fs/cgroup/memory".into(),
            options: "memory".into(),
        }],
    });
    for want in [
        format!("mount /sys/fs/cgroup/memory/berth/c1 {cg}/memory - bind -"),
        format!("mount - {cg}/memory - ro,nosuid,nodev,noexec,remount,bind -"),
    ] {
        assert!(v1.contains(&want), "{want} not in {v1:#?}");
    }
    let v2 = calls(&CgroupMounts {
        v2: true,
        joined_namespace: false,
        path: "berth/c1".into(),
        v1: vec![],
    });
    let want = format!("mount /sys/fs/cgroup/berth/c1 {cg} - bind -");
    assert!(v2.contains(&want), "{want} not in {v2:#?}");
    assert!(!v2.iter().any(|c| c.contains("cgroup2")), "{v2:#?}");
}

#[test]
fn a_symlinked_mount_point_stays_inside_the_rootfs() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/../../../etc", root.path().join("data")).unwrap();
    let r = root.path().display().to_string();
    let s = src.path().display().to_string();
    let mounts = entries(&[mount("/data", "bind", &s, &["rbind"])], Path::new("/b")).unwrap();
    let sys = FakeSyscall::default();
    build(&sys, root.path(), &mounts, &CgroupMounts::default()).unwrap();
    assert_eq!(sys.calls()[3], format!("mount {s} {r}/etc - bind,rec -"));
}

#[test]
fn symlinked_proc_sys_or_dev_is_refused() {
    for (link, target) in [
        ("proc", "/../../../etc"),
        ("sys", "proc"),
        ("dev", "../../tmp"),
    ] {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(target, root.path().join(link)).unwrap();
        let mounts = entries(&[mount("/proc", "proc", "proc", &[])], Path::new("/b")).unwrap();
        let sys = FakeSyscall::default();
        let e = build(&sys, root.path(), &mounts, &CgroupMounts::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("the image's /{link} is a symlink")),
            "{e}"
        );
        // Nothing was mounted inside the rootfs.
        assert_eq!(sys.calls().len(), 2, "{:#?}", sys.calls());
    }
    // A proc mount elsewhere must not land on a symlink either.
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/", root.path().join("hostproc")).unwrap();
    let mounts = entries(&[mount("/hostproc", "proc", "proc", &[])], Path::new("/b")).unwrap();
    let sys = FakeSyscall::default();
    assert!(build(&sys, root.path(), &mounts, &CgroupMounts::default()).is_err());
}

#[test]
fn remount_keeps_locked_flags_when_refused() {
    let p = Path::new("/x");
    let sys = FakeSyscall {
        locked: vec![p.to_path_buf()],
        ..Default::default()
    };
    remount(&sys, p, MsFlags::MS_RDONLY).unwrap();
    assert_eq!(
        sys.calls(),
        vec!["mount - /x - ro,nosuid,nodev,remount,bind -"]
    );
    let sys = FakeSyscall::default();
    remount(&sys, p, MsFlags::MS_RDONLY).unwrap();
    assert_eq!(sys.calls(), vec!["mount - /x - ro,remount,bind -"]);
}

#[test]
fn masked_and_readonly_paths() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("kcore");
    std::fs::write(&file, "").unwrap();
    let dir = t.path().join("acpi");
    std::fs::create_dir(&dir).unwrap();
    let sys = FakeSyscall::default();
    let root = sys.open_root(t.path()).unwrap();
    mask_path(&sys, &root, Path::new("/kcore")).unwrap();
    mask_path(&sys, &root, Path::new("/acpi")).unwrap();
    mask_path(&sys, &root, Path::new("/missing")).unwrap();
    readonly_path(&sys, &root, Path::new("/acpi")).unwrap();
    readonly_path(&sys, &root, Path::new("/missing")).unwrap();
    readonly_root(&sys).unwrap();
    let (f, d) = (file.display(), dir.display());
    assert_eq!(
        sys.calls(),
        vec![
            format!("mount /dev/null {f} - bind -"),
            format!("mount tmpfs {d} tmpfs ro -"),
            format!("mount {d} {d} - bind,rec -"),
            format!("mount - {d} - ro,nosuid,nodev,remount,bind -"),
            "mount - / - ro,nosuid,nodev,remount,bind -".to_owned(),
        ]
    );
}

#[test]
fn v1_hierarchies_from_mountinfo() {
    let mi = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /mnt/cgroup/memory rw - cgroup cgroup rw,memory
";
    let h = v1_hierarchies(mi);
    let got: Vec<(&str, &str)> = h
        .iter()
        .map(|h| (h.dir.as_str(), h.options.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("cpu", "cpu"),
            ("cpu,cpuacct", "cpu,cpuacct"),
            ("systemd", "name=systemd"),
        ]
    );
}
