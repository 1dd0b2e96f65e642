//! Regression tests for issue 13's first hole: an image's symlinks must not
//! make the runtime act outside the container's rootfs. An image whose /dev
//! pointed at a host directory used to make `berth run IMAGE true` delete
//! the host's `ptmx` there and plant five symlinks beside it. Now /proc,
//! /sys and /dev may not be symlinks (refused, as runc refuses them), and
//! every other path the runtime touches is resolved inside the rootfs, so a
//! symlinked /etc keeps the hosts files, volumes and the working directory
//! inside it. Each test checks the host directory the image aimed at is
//! exactly as it was, and that nothing of the container is left.

use std::path::Path;

use berth_tests::fixture::{ImageSpec, LayerBuilder};
use berth_tests::{check_fail, run, Daemon};

/// The applets these tests run.
const APPLETS: &[&str] = &[
    "sh", "true", "cat", "ls", "echo", "sleep", "test", "readlink",
];

/// A busybox root whose top-level entry `name` is a symlink to `target`
/// (and otherwise has /bin, /etc with passwd and group, /tmp, and real
/// /proc, /sys, /dev unless one of them is `name`).
fn image_with_link(tag: &str, name: &str, target: &str) -> ImageSpec {
    let busybox = std::fs::read(berth_tests::require_busybox()).expect("read busybox");
    let mut l = LayerBuilder::new().dir("bin", 0o755).dir("tmp", 0o1777);
    for dir in ["proc", "sys", "dev", "etc"] {
        if dir != name {
            l = l.dir(dir, 0o755);
        }
    }
    if name != "etc" {
        l = l
            .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
            .file("etc/group", b"root:x:0:\n");
    }
    l = l.exec("bin/busybox", &busybox).symlink(name, target);
    for a in APPLETS {
        l = l.symlink(&format!("bin/{a}"), "busybox");
    }
    ImageSpec::new(tag, vec![l.build()])
}

/// `../` enough times to climb from any rootfs to the host's `/`, then `to`.
fn climb(to: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(40),
        to.display().to_string().trim_start_matches('/')
    )
}

/// A host directory outside berth's root with one precious file, `ptmx`.
fn host_dir() -> tempfile::TempDir {
    let h = tempfile::Builder::new()
        .prefix("berth-host-")
        .tempdir_in("/var/tmp")
        .expect("host dir");
    std::fs::write(h.path().join("ptmx"), "precious").expect("write ptmx");
    h
}

fn assert_untouched(h: &Path) {
    let names: Vec<String> = std::fs::read_dir(h)
        .expect("read host dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ptmx"], "the host directory changed: {names:?}");
    assert_eq!(
        std::fs::read_to_string(h.join("ptmx")).expect("read ptmx"),
        "precious"
    );
}

#[test]
fn a_symlinked_dev_is_refused_and_the_host_directory_is_untouched() {
    let d = Daemon::start();
    let h = host_dir();
    let cases = [
        ("rel", climb(h.path())),
        ("abs", h.path().display().to_string()),
    ];
    for (tag, target) in &cases {
        let image = format!("devlink-{tag}");
        d.load_image(image_with_link(&image, "dev", target));
        for runtime in ["builtin", "runc"] {
            let mut args = vec!["run", "--rm", "--network", "none"];
            if runtime == "runc" {
                args.extend(["--runtime", "runc"]);
            }
            args.extend([image.as_str(), "true"]);
            let out = d.berth(&args);
            assert_untouched(h.path());
            let (code, err) = check_fail(&args, &out);
            assert_eq!(code, 125, "{runtime}: {err}");
            assert!(
                err.contains("the image's /dev is a symlink"),
                "{runtime}: {err}"
            );
        }
    }
    // An image aiming at the host's own /dev: its ptmx is still the node.
    d.load_image(image_with_link(
        "devlink-dev",
        "dev",
        &climb(Path::new("/dev")),
    ));
    let before = std::fs::symlink_metadata("/dev/ptmx").expect("stat /dev/ptmx");
    d.fail(&["run", "--rm", "--network", "none", "devlink-dev", "true"]);
    let after = std::fs::symlink_metadata("/dev/ptmx").expect("stat /dev/ptmx");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&before),
        std::os::unix::fs::MetadataExt::ino(&after)
    );
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &after.file_type()
    ));
    d.assert_all_removed();
}

#[test]
fn a_symlinked_proc_or_sys_is_refused() {
    let d = Daemon::start();
    let h = host_dir();
    let cases = [
        ("proc", climb(h.path())),
        ("proc", "/etc".to_owned()),
        ("sys", "proc".to_owned()),
        ("sys", climb(h.path())),
    ];
    for (i, (name, target)) in cases.iter().enumerate() {
        let image = format!("link-{name}-{i}");
        d.load_image(image_with_link(&image, name, target));
        let (code, err) = d.fail(&["run", "--rm", "--network", "none", &image, "true"]);
        assert_eq!(code, 125, "{err}");
        assert!(
            err.contains(&format!("the image's /{name} is a symlink")),
            "{name} -> {target}: {err}"
        );
        assert_untouched(h.path());
    }
    d.assert_all_removed();
}

/// A symlinked /etc is legitimate (some images have one): the container
/// runs, and what berth mounts under /etc (hosts, hostname, resolv.conf, a
/// volume) lands inside the rootfs where the link leads, not on the host.
#[test]
fn mounts_through_a_symlinked_etc_stay_inside_the_rootfs() {
    let d = Daemon::start();
    let h = host_dir();
    let vol = tempfile::tempdir().expect("volume dir");
    std::fs::write(vol.path().join("data"), "from the volume").expect("write");
    let v = format!("{}:/etc/vol", vol.path().display());
    for (tag, target) in [
        ("rel", climb(h.path())),
        ("abs", h.path().display().to_string()),
    ] {
        let image = format!("etclink-{tag}");
        d.load_image(image_with_link(&image, "etc", &target));
        let (code, out, err) = run(
            &d,
            &[
                "run",
                "--rm",
                "-h",
                "inside",
                "-v",
                &v,
                "-w",
                "/etc/work",
                &image,
                "sh",
                "-c",
                "cat /etc/hostname /etc/vol/data; echo; pwd",
            ],
        );
        assert_eq!(code, 0, "{err}");
        // The container sees its /etc where its link leads, inside it.
        let want = format!("inside\nfrom the volume\n{}/work\n", h.path().display());
        assert_eq!(out, want, "{err}");
        assert_untouched(h.path());
    }
    // The volume's directory holds only what the test put there.
    let names: Vec<_> = std::fs::read_dir(vol.path()).expect("read").collect();
    assert_eq!(names.len(), 1);
    d.assert_all_removed();
}
