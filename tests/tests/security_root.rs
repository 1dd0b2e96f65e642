//! What other local users can reach of berthd's root and state (docker's CVE-2021-41091): an
//! image with a world-writable device node and a setuid-root executable is loaded and run, and
//! uid 65534 must be refused every path to them — the unpacked layer under ROOT and the running
//! container's mounted rootfs under STATE — by berthd's directory modes (ROOT 0710, everything
//! below it and below STATE 0700, STATE at most 0711). A root left open by an older berthd is
//! tightened when berthd starts.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_tests::fixture::{busybox_rootfs_tar, ImageSpec, LayerBuilder};
use berth_tests::{find_named, Daemon, DaemonOpts};

/// nobody:nogroup.
const NOBODY: u32 = 65534;

const NODE: &str = "dev-node";
const SUID: &str = "suid-sh";
const SUID_SCRIPT: &[u8] = b"#!/bin/sh\necho reached\n";

/// busybox plus a layer with /probe/dev-node (char 1:3, /dev/null, 0666: harmless, but any
/// user who reaches it may open it) and /probe/suid-sh (setuid root, 04755).
fn probe_image() -> ImageSpec {
    let probe = LayerBuilder::new()
        .dir("probe", 0o755)
        .char_device(&format!("probe/{NODE}"), 1, 3, 0o666)
        .file_with_mode(&format!("probe/{SUID}"), SUID_SCRIPT, 0o4755)
        .build();
    ImageSpec::new("probe:latest", vec![busybox_rootfs_tar(), probe])
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .mode()
        & 0o7777
}

/// Runs `sh -c SCRIPT sh ARG` as nobody:nogroup. Setting the uid as root makes std drop the
/// supplementary groups too (else root's group 0 would pass ROOT's 0710).
fn as_nobody(script: &str, arg: &Path) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(arg)
        .uid(NOBODY)
        .gid(NOBODY)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .expect("run sh as nobody")
}

/// Asserts `script` fails as nobody with "Permission denied" (EACCES).
fn denied(script: &str, path: &Path) {
    let out = as_nobody(script, path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Permission denied"),
        "nobody ran {script:?} on {} ({}):\nstdout: {}\nstderr: {err}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The nearest ancestor of `p` that others cannot search (x), from the top down.
fn first_closed_dir(p: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = p.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .find(|a| mode(a) & 0o001 == 0)
        .map(Path::to_path_buf)
}

/// The harness keeps each daemon in a 0700 temporary directory, which alone would keep nobody
/// out and prove nothing: open it as /var/lib and /run are, so only berthd's own modes guard.
fn open_the_daemon_dir(d: &Daemon) {
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod the daemon's directory");
    // The probes themselves: nobody has no group but its own, and opens a 0666 node it reaches.
    let out = as_nobody("id -u; id -G", Path::new("/"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\n65534\n");
    let out = as_nobody("exec 3<\"$1\" 4>\"$1\"", Path::new("/dev/null"));
    assert!(
        out.status.success(),
        "nobody cannot open /dev/null: {out:?}"
    );
    for top in [d.root(), d.state()] {
        let out = as_nobody("ls -ld \"$1\"", &top);
        assert!(out.status.success(), "nobody cannot stat {}", top.display());
        denied("ls \"$1\"", &top);
    }
}

/// Every path of the probe's node and file under ROOT and STATE (found as root), checked as
/// nobody; returns how many of each were under STATE (a running container's rootfs).
fn assert_unreachable(d: &Daemon) -> (usize, usize) {
    let (root, state) = (d.root(), d.state());
    let mut in_state = (0, 0);
    let mut nodes = Vec::new();
    let mut files = Vec::new();
    for top in [&root, &state] {
        let n = find_named(top, NODE);
        let f = find_named(top, SUID);
        if top == &state {
            in_state = (n.len(), f.len());
        }
        nodes.extend(n);
        files.extend(f);
    }
    assert!(
        !nodes.is_empty() && !files.is_empty(),
        "the probe is nowhere"
    );
    for p in &nodes {
        // Nothing but the directories guards it.
        let md = std::fs::symlink_metadata(p).expect("stat node");
        assert!(md.file_type().is_char_device(), "{}", p.display());
        assert_eq!(md.mode() & 0o777, 0o666, "{}", p.display());
        denied("exec 3<\"$1\"", p);
        denied("exec 3>\"$1\"", p);
        denied("ls -l \"$1\"", p);
        assert_guarded_by_berth(d, p);
    }
    for p in &files {
        assert_eq!(mode(p), 0o4755, "{}", p.display());
        let run = Command::new(p).uid(NOBODY).gid(NOBODY).output();
        match run {
            Err(e) => assert_eq!(e.raw_os_error(), Some(nix::libc::EACCES), "{e}"),
            Ok(out) => panic!("nobody ran {}: {out:?}", p.display()),
        }
        denied("cat \"$1\"", p);
        denied("ls -l \"$1\"", p);
        assert_guarded_by_berth(d, p);
    }
    in_state
}

/// The directory that stops others is berthd's own, not something above ROOT or STATE.
fn assert_guarded_by_berth(d: &Daemon, p: &Path) {
    let closed = first_closed_dir(p).expect("a closed ancestor");
    assert!(
        closed.starts_with(d.root()) || closed.starts_with(d.state()),
        "{} is guarded by {}, outside berthd's directories",
        p.display(),
        closed.display()
    );
}

/// ROOT 0710, every directory berthd keeps under it 0700, STATE at most 0711 and its
/// directories 0700.
fn assert_modes(d: &Daemon, backend: &str) {
    let root = d.root();
    assert_eq!(mode(&root), 0o710, "ROOT");
    let sn = format!("snapshots/{backend}");
    let private = [
        "content",
        "content/blobs",
        "content/blobs/sha256",
        "content/ingest",
        "snapshots",
        &sn,
        &format!("{sn}/snapshots"),
        "containers",
        "tmp",
    ];
    for rel in private {
        assert_eq!(mode(&root.join(rel)), 0o700, "ROOT/{rel}");
    }
    for e in std::fs::read_dir(root.join(&sn).join("snapshots")).expect("list snapshots") {
        let p = e.expect("entry").path();
        assert_eq!(mode(&p), 0o700, "{}", p.display());
    }
    let state = d.state();
    assert_eq!(mode(&state) & !0o711, 0, "STATE is {:04o}", mode(&state));
    for rel in ["s", "tasks"] {
        assert_eq!(mode(&state.join(rel)), 0o700, "STATE/{rel}");
    }
}

fn image_and_container_out_of_reach(backend: &str) {
    let d = Daemon::start_with(DaemonOpts::snapshotter(backend));
    open_the_daemon_dir(&d);
    d.load_image(probe_image());
    assert_modes(&d, backend);
    assert_unreachable(&d);

    // A running container: its snapshot prepared, its rootfs mounted in its bundle.
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "probe",
        "probe:latest",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    assert_modes(&d, backend);
    let (nodes, files) = assert_unreachable(&d);
    assert!(
        nodes >= 1 && files >= 1,
        "the running container's rootfs is not under STATE: {:?}",
        d.mounts()
    );
    for p in [
        d.root().join("containers/default"),
        d.root().join("containers/default").join(id),
        d.state().join("tasks/default").join(id),
    ] {
        assert_eq!(mode(&p), 0o700, "{}", p.display());
    }

    // Private directories change nothing for a container's own non-root user.
    let out = d.ok(&[
        "run",
        "--rm",
        "-u",
        "65534",
        "probe:latest",
        "cat",
        &format!("/probe/{SUID}"),
    ]);
    assert_eq!(out.as_bytes(), SUID_SCRIPT);

    d.ok(&["rm", "-f", "probe"]);
    d.assert_no_containers_left();
    d.ok(&["rmi", "probe:latest"]);
    d.assert_empty();
}

#[test]
fn image_and_container_out_of_reach_overlayfs() {
    image_and_container_out_of_reach("overlayfs");
}

#[test]
fn image_and_container_out_of_reach_native() {
    image_and_container_out_of_reach("native");
}

#[test]
fn an_open_root_is_tightened_at_start() {
    let mut d = Daemon::with_busybox();
    d.ok(&["run", "--rm", "busybox", "true"]);
    d.stop();
    // As an older berthd left them.
    let (root, state) = (d.root(), d.state());
    let opened: Vec<PathBuf> = [
        "",
        "content",
        "content/blobs",
        "content/blobs/sha256",
        "snapshots",
        "snapshots/overlayfs",
        "snapshots/overlayfs/snapshots",
        "containers",
        "tmp",
    ]
    .iter()
    .map(|rel| root.join(rel))
    .chain(["", "s", "tasks"].iter().map(|rel| state.join(rel)))
    .collect();
    for p in &opened {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
    }
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o1777)).expect("chmod");

    d.start_again();
    assert_modes(&d, "overlayfs");
    assert_eq!(mode(&state), 0o711, "STATE");
    // berthd says what it closed (the path field ends at a space; ROOT is a prefix of others).
    let log = d.log();
    for p in [&root, &root.join("snapshots/overlayfs"), &state] {
        let field = format!("{} ", p.display());
        assert!(
            log.lines()
                .any(|l| l.contains("tightened") && l.contains(&field)),
            "no log line says {} was tightened:\n{log}",
            p.display()
        );
    }
    // It still works.
    d.ok(&["run", "--rm", "busybox", "true"]);
    d.assert_no_containers_left();
    d.ok(&["rmi", "busybox"]);
    d.assert_empty();
}
