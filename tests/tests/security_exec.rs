//! berthd reads a container's /etc/passwd and /etc/group to resolve `-u`
//! (at create from the image, at exec from the running container): those
//! paths are the container's to shape, and must never lead berthd to a
//! host file. A host directory outside berth's root holds a passwd that
//! gives `alice` uid 4242; the container's own says 1234. Whatever symlinks
//! and renames the container plays with its /etc, `-u alice` must give 1234
//! or "unable to find user alice", never 4242.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{renameat2, RenameFlags};

use berth_tests::fixture::{busybox_rootfs_tar, ImageSpec, LayerBuilder};
use berth_tests::{poll, require_tool, Daemon};

/// The host's alice: reading it would be the bug.
const HOST_PASSWD: &str = "root:x:0:0::/:/bin/sh\nalice:x:4242:4242::/:/bin/sh\n";
const HOST_GROUP: &str = "root:x:0:\nalice:x:4242:\n";

/// How many `exec -u alice` runs race the container's swaps.
const EXECS: usize = 150;

/// A directory outside berth's root with `etc/passwd` and `etc/group`
/// giving alice uid 4242.
fn host_secret() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-host-secret-")
        .tempdir()
        .expect("tempdir");
    std::fs::create_dir(dir.path().join("etc")).expect("mkdir etc");
    std::fs::write(dir.path().join("etc/passwd"), HOST_PASSWD).expect("passwd");
    std::fs::write(dir.path().join("etc/group"), HOST_GROUP).expect("group");
    dir
}

/// The container's init script, first part: an /etc of its own (alice
/// 1234), links that point /etc at the host directory `$HOST` (absolute,
/// absolute with `..`, relative climbing out, and a real directory whose
/// passwd and group are such links), and the image's /etc (with berthd's
/// hosts files mounted in it) moved aside.
const SETUP: &str = r#"
set -e
mkdir /etc.real
printf 'root:x:0:0::/:/bin/sh\nalice:x:1234:1234::/:/bin/sh\n' > /etc.real/passwd
printf 'root:x:0:\nalice:x:1234:\n' > /etc.real/group
ln -s "$HOST/etc" /etc.abs
ln -s "/../../../../../../../../..$HOST/etc" /etc.dots
ln -s "../../../../../../../../..$HOST/etc" /etc.rel
mkdir /etc.files
ln -s "$HOST/etc/passwd" /etc.files/passwd
ln -s "../../../../../../../../..$HOST/etc/group" /etc.files/group
mv -T /etc /etc.orig
mv -T /etc.real /etc
set +e
"#;

/// The evil /etc's SETUP made.
const EVIL: [&str; 4] = ["etc.abs", "etc.dots", "etc.rel", "etc.files"];

/// The second part for the container's own swapper: each evil /etc renamed
/// in and out of /etc in turn with the real one, bounded, until /stop.
const SHELL_SWAPPER: &str = r#"
touch /ready
i=0
while [ ! -e /stop ] && [ "$i" -lt 100000 ]; do
  for evil in /etc.abs /etc.dots /etc.rel /etc.files; do
    mv -T /etc /etc.real
    mv -T "$evil" /etc
    mv -T /etc "$evil"
    mv -T /etc.real /etc
  done
  i=$((i+1))
done
touch /done
exec sleep 1000
"#;

/// Starts container `name` running SETUP then `rest`, with `$HOST` the
/// host directory; waits for /ready.
fn start_container(d: &Daemon, name: &str, host: &Path, rest: &str) {
    let script = format!("{SETUP}{rest}");
    d.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "-e",
        &format!("HOST={}", host.display()),
        "noetc",
        "sh",
        "-c",
        &script,
    ]);
    poll(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            d.berth(&["exec", name, "test", "-e", "/ready"])
                .status
                .success()
        },
        || {
            let logs = d.berth(&["logs", name]);
            format!(
                "{name} did not get ready: {}",
                String::from_utf8_lossy(&logs.stderr)
            )
        },
    );
}

/// Runs `exec -u alice NAME id -u` EXECS times while /etc is being swapped:
/// each must give the container's 1234 or find no alice, never the host's
/// 4242, and some must find it (or the race was not run at all).
fn race_execs(d: &Daemon, name: &str) {
    let (mut found, mut missing) = (0, 0);
    let mut others = Vec::new();
    for _ in 0..EXECS {
        let out = d.berth(&["exec", "-u", "alice", name, "id", "-u"]);
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert!(
            !stdout.contains("4242") && !stderr.contains("4242"),
            "berthd read the host's passwd: stdout {stdout:?}, stderr {stderr:?}"
        );
        if out.status.success() && stdout == "1234" {
            found += 1;
        } else if !out.status.success()
            && stderr.contains("unable to find user alice: no matching entries in passwd file")
        {
            missing += 1;
        } else {
            others.push(format!("{}: {stdout:?} {stderr:?}", out.status));
        }
    }
    assert!(others.is_empty(), "unexpected exec results: {others:?}");
    assert!(
        found > 0,
        "no exec found the container's alice ({missing} found none): the race was not run"
    );
    eprintln!(
        "{name}: exec -u alice found the container's alice {found} times, none {missing} times"
    );
}

/// busybox without an /etc of its own: the runtime makes one in the
/// container's writable layer (for the hosts files), which, unlike a
/// directory of the image's layers, overlayfs lets the container rename.
fn noetc_image(tag: &str) -> ImageSpec {
    let layers = vec![
        busybox_rootfs_tar(),
        LayerBuilder::new().whiteout("etc").build(),
    ];
    ImageSpec::new(tag, layers)
}

/// The container's own processes swap /etc (busybox `mv`: renames, so
/// /etc is for a moment missing between the real one and an evil one).
#[test]
fn exec_user_never_reads_the_host_while_the_container_renames_etc() {
    let d = Daemon::start();
    d.load_image(noetc_image("noetc:latest"));
    let host = host_secret();
    assert!(!host.path().starts_with(d.root()));
    start_container(&d, "swapper", host.path(), SHELL_SWAPPER);
    race_execs(&d, "swapper");
    // The swaps went on throughout (the bounded loop had not ended).
    let done = d.berth(&["exec", "swapper", "test", "-e", "/done"]);
    assert!(!done.status.success(), "the swapper's loop ended early");
    d.ok(&["exec", "swapper", "touch", "/stop"]);
    d.ok(&["rm", "-f", "swapper"]);
    d.assert_all_removed();
}

/// /etc atomically exchanged with an evil one, as fast as the kernel does
/// renames: renameat2(RENAME_EXCHANGE), which any binary in a container can
/// call but busybox has no applet for, so this test calls it from here on
/// the container's root (/proc/PID/root: the same mount and files its
/// processes see). /etc is never missing, so a check of /etc followed by
/// an open of a path through it is caught between the two.
#[test]
fn exec_user_never_reads_the_host_while_etc_is_exchanged() {
    let d = Daemon::start();
    d.load_image(noetc_image("noetc:latest"));
    let host = host_secret();
    assert!(!host.path().starts_with(d.root()));
    start_container(
        &d,
        "exchanged",
        host.path(),
        "touch /ready\nexec sleep 1000\n",
    );
    let pid = d.inspect("exchanged")["State"]["Pid"]
        .as_u64()
        .expect("the container's pid");
    let root = std::fs::File::open(format!("/proc/{pid}/root")).expect("the container's root");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let fd = Some(root.as_raw_fd());
            let mut swaps = 0u64;
            // Bounded, should the test die without setting stop.
            while !stop.load(Ordering::Relaxed) && swaps < 50_000_000 {
                for evil in EVIL {
                    for _ in 0..2 {
                        renameat2(fd, "etc", fd, evil, RenameFlags::RENAME_EXCHANGE)
                            .map_err(|e| format!("exchange /etc and /{evil}: {e}"))?;
                        swaps += 1;
                    }
                }
            }
            Ok::<u64, String>(swaps)
        })
    };
    race_execs(&d, "exchanged");
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("the swapper thread");
    assert!(swaps.expect("the swapper") > 0);
    // Every exchange was undone: /etc is the real one again.
    assert_eq!(
        d.ok(&["exec", "-u", "alice", "exchanged", "id", "-u"])
            .trim(),
        "1234"
    );
    d.ok(&["rm", "-f", "exchanged"]);
    d.assert_all_removed();
}

/// An image's own symlinks are followed inside its root at create: a
/// /etc pointing at the host directory finds no alice; one pointing at a
/// directory of the image finds that one's (as docker does).
#[test]
fn create_resolves_the_images_etc_inside_its_root() {
    let d = Daemon::start();
    let host = host_secret();
    let host_etc = host.path().join("etc");
    let host_etc = host_etc.display().to_string();
    let escape = format!("/../../../../../../../../..{host_etc}");
    let relative = format!("../../../../../../../../..{host_etc}");
    for (tag, target) in [
        ("abs:latest", host_etc.as_str()),
        ("dots:latest", escape.as_str()),
        ("rel:latest", relative.as_str()),
    ] {
        let layers = vec![
            busybox_rootfs_tar(),
            LayerBuilder::new().whiteout("etc").build(),
            LayerBuilder::new().symlink("etc", target).build(),
        ];
        d.load_image(ImageSpec::new(tag, layers));
        let (_, err) = d.fail(&["run", "--rm", "-u", "alice", tag, "id", "-u"]);
        assert!(
            err.contains("unable to find user alice: no matching entries in passwd file"),
            "{tag}: {err}"
        );
        assert!(!err.contains("4242"), "{tag}: {err}");
    }
    // The same link, with the directory it names present in the image.
    let inside = Path::new(&host_etc)
        .strip_prefix("/")
        .expect("absolute")
        .display()
        .to_string();
    let layers = vec![
        busybox_rootfs_tar(),
        LayerBuilder::new().whiteout("etc").build(),
        LayerBuilder::new()
            .symlink("etc", &escape)
            .file(
                &format!("{inside}/passwd"),
                b"root:x:0:0::/:/bin/sh\nalice:x:1234:1234::/:/bin/sh\n",
            )
            .file(&format!("{inside}/group"), b"root:x:0:\nalice:x:1234:\n")
            .build(),
    ];
    d.load_image(ImageSpec::new("inside:latest", layers));
    assert_eq!(
        d.ok(&["run", "--rm", "-u", "alice", "inside", "id", "-u"])
            .trim(),
        "1234"
    );
    d.assert_all_removed();
}

/// exec resolves `-u` against the running container's own view of its
/// /etc — what is mounted over it included, as docker does — with the
/// built-in runtime and with runc.
#[test]
fn exec_user_reads_what_the_container_sees() {
    let d = Daemon::with_busybox();
    let dir = tempfile::tempdir().expect("tempdir");
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0::/:/bin/sh\nalice:x:4321:4321::/:/bin/sh\n",
    )
    .expect("passwd");
    let bind = format!("{}:/etc/passwd:ro", passwd.display());
    require_tool("runc", "runc");
    for runtime in [None, Some("runc")] {
        let mut args = vec!["run", "-d", "--name", "viewed", "-v", &bind];
        if let Some(r) = runtime {
            args.extend(["--runtime", r]);
        }
        args.extend(["busybox", "sleep", "1000"]);
        d.ok(&args);
        // The image's alice (1000) is under the mount.
        assert_eq!(
            d.ok(&["exec", "-u", "alice", "viewed", "id", "-u"]).trim(),
            "4321",
            "{runtime:?}"
        );
        let (_, err) = d.fail(&["exec", "-u", "bob", "viewed", "id", "-u"]);
        assert!(
            err.contains("unable to find user bob"),
            "{runtime:?}: {err}"
        );
        d.ok(&["rm", "-f", "viewed"]);
    }
    d.assert_all_removed();
}
