//! `berth cp` end to end: both directions, running and stopped
//! containers, docker's path rules, tar on stdio, ownership, a bind mount
//! inside the container, docker's errors, and a container swapping a
//! directory for a symlink to `/` while copies run (nothing outside its
//! root may be read or written). Each test checks no temporary mount is
//! left under ROOT/tmp and no container after removal.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_tests::Daemon;

/// Waits until the container's command made `what`.
fn ready(d: &Daemon, what: &str) {
    berth_tests::poll(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(50),
        || d.berth(&["cp", what, "-"]).status.success(),
        || format!("{what} never appeared"),
    );
}

fn tmp_mounts(d: &Daemon) -> Vec<String> {
    let tmp = d.root().join("tmp");
    d.mounts()
        .into_iter()
        .filter(|m| Path::new(m).starts_with(&tmp))
        .collect()
}

fn done(d: &Daemon, names: &[&str]) {
    assert!(
        tmp_mounts(d).is_empty(),
        "cp left mounts: {:?}",
        tmp_mounts(d)
    );
    let mut args = vec!["rm", "-f"];
    args.extend_from_slice(names);
    d.ok(&args);
    d.assert_no_containers_left();
    assert!(tmp_mounts(d).is_empty());
    assert!(
        d.entries("tmp").iter().all(|e| !e.starts_with("cp-")),
        "{:?}",
        d.entries("tmp")
    );
}

#[test]
fn copies_out_of_running_and_stopped_containers() {
    let d = Daemon::with_busybox();
    d.run_d(&[
        "--name",
        "run1",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hi > /data/a && echo deep > /data/sub/b \
         && touch -d '2001-01-01 00:00:00' /data/sub /data && sleep 300",
    ]);
    ready(&d, "run1:/data/a");
    d.ok(&["create", "--name", "made", "busybox", "true"]);
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    // A file to a new name, and into an existing directory.
    d.ok(&["cp", "run1:/data/a", &o.join("f").to_string_lossy()]);
    assert_eq!(fs::read_to_string(o.join("f")).unwrap(), "hi\n");
    d.ok(&["cp", "run1:/data/a", &o.to_string_lossy()]);
    assert_eq!(fs::read_to_string(o.join("a")).unwrap(), "hi\n");
    // A directory: as itself, under a new name, and its contents (/.).
    d.ok(&["cp", "run1:/data", &o.to_string_lossy()]);
    assert_eq!(fs::read_to_string(o.join("data/sub/b")).unwrap(), "deep\n");
    // Directories keep their times, although their entries were made after.
    for dir in ["data", "data/sub"] {
        assert_eq!(
            fs::metadata(o.join(dir)).unwrap().mtime(),
            978_307_200,
            "{dir}"
        );
    }
    d.ok(&["cp", "run1:/data/", &o.join("copy").to_string_lossy()]);
    assert_eq!(fs::read_to_string(o.join("copy/sub/b")).unwrap(), "deep\n");
    fs::create_dir(o.join("into")).unwrap();
    d.ok(&["cp", "run1:/data/.", &o.join("into").to_string_lossy()]);
    assert_eq!(fs::read_to_string(o.join("into/a")).unwrap(), "hi\n");
    assert!(!o.join("into/data").exists());
    // A created container's image files.
    d.ok(&["cp", "made:/bin/busybox", &o.join("bb").to_string_lossy()]);
    assert!(fs::metadata(o.join("bb")).unwrap().len() > 100_000);
    // `-` is a tar on stdout.
    let tar = d.berth(&["cp", "run1:/data", "-"]);
    assert!(tar.status.success());
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["data", "data/a", "data/sub", "data/sub/b"]);
    done(&d, &["run1", "made"]);
}

#[test]
fn copies_into_containers_with_owners_and_docker_errors() {
    let d = Daemon::with_busybox();
    d.run_d(&["--name", "c1", "busybox", "sleep", "300"]);
    d.ok(&["create", "--name", "stopped", "busybox", "sleep", "300"]);
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    fs::create_dir_all(s.join("dir/sub")).unwrap();
    fs::write(s.join("dir/sub/x"), "x\n").unwrap();
    fs::write(s.join("file"), "file\n").unwrap();
    std::os::unix::fs::chown(s.join("file"), Some(1234), Some(4321)).unwrap();
    let file = s.join("file").to_string_lossy().into_owned();
    let dir = s.join("dir").to_string_lossy().into_owned();
    for c in ["c1", "stopped"] {
        d.ok(&["cp", &file, &format!("{c}:/tmp/")]);
        d.ok(&["cp", &file, &format!("{c}:/tmp/renamed")]);
        d.ok(&["cp", "-a", &file, &format!("{c}:/tmp/kept")]);
        d.ok(&["cp", &dir, &format!("{c}:/tmp/newdir")]);
        d.ok(&["cp", &format!("{dir}/."), &format!("{c}:/tmp/")]);
    }
    let out = tempfile::tempdir().unwrap();
    d.ok(&["start", "stopped"]);
    for c in ["c1", "stopped"] {
        let ls = d.ok(&["exec", c, "sh", "-c", "cat /tmp/file /tmp/renamed /tmp/newdir/sub/x /tmp/sub/x; stat -c '%u:%g' /tmp/file /tmp/kept"]);
        // docker 20.10 keeps the archive's ids with or without -a.
        assert_eq!(ls, "file\nfile\nx\nx\n1234:4321\n1234:4321\n", "{c}");
    }
    let _ = out;
    // -a into a container that runs as a user: that user owns the copy.
    d.run_d(&["--name", "nb", "-u", "nobody", "busybox", "sleep", "300"]);
    d.ok(&["cp", "-a", &file, "nb:/tmp/owned"]);
    d.ok(&["cp", &file, "nb:/tmp/archived"]);
    let ids = d.ok(&[
        "exec",
        "nb",
        "stat",
        "-c",
        "%u:%g",
        "/tmp/owned",
        "/tmp/archived",
    ]);
    assert_eq!(ids, "65534:65534\n1234:4321\n");
    // A tar on stdin into a directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_uid(77);
    b.append_data(&mut h, "fromtar", &b"tar"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    let r = d.berth_stdin(&["cp", "-", "c1:/tmp"], &bytes);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(d.ok(&["exec", "c1", "cat", "/tmp/fromtar"]), "tar");
    assert_eq!(
        d.ok(&["exec", "c1", "stat", "-c", "%u", "/tmp/fromtar"]),
        "77\n"
    );
    // docker's errors, one line each, nothing made.
    let (code, err) = d.fail(&["cp", "c1:/nope", &out_path(s)]);
    assert_eq!(
        (code, err.trim()),
        (1, "Error: No such container:path: c1:/nope")
    );
    let (_, err) = refused(&d, &["cp", &dir, "c1:/tmp/file"]);
    assert_eq!(err.trim(), "cannot copy directory");
    let (_, err) = d.fail(&["cp", &file, "c1:/missing/dir/x"]);
    assert_eq!(err.trim(), "Error: No such container:path: c1:/missing/dir");
    let (_, err) = refused(&d, &["cp", &file, "c1:/tmp/nodir/"]);
    assert_eq!(err.trim(), "no such directory");
    let (_, err) = refused(&d, &["cp", "c1:/tmp/newdir", "/nonexistent/x"]);
    assert_eq!(
        err.trim(),
        "invalid output path: directory \"/nonexistent\" does not exist"
    );
    let (_, err) = d.fail(&["cp", &file, "nosuch:/tmp"]);
    assert_eq!(err.trim(), "Error: No such container:path: nosuch:/");
    done(&d, &["c1", "stopped", "nb"]);
}

/// A failing cp whose line is docker's own, without "Error:" (exit 1).
fn refused(d: &Daemon, args: &[&str]) -> (i32, String) {
    let out = d.berth(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    (1, err)
}

fn out_path(p: &Path) -> String {
    p.join("out").to_string_lossy().into_owned()
}

#[test]
fn read_only_rootfs_and_mounts_and_binds() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let h = host.path().to_string_lossy().into_owned();
    fs::write(host.path().join("in-bind"), "bound\n").unwrap();
    d.run_d(&[
        "--name",
        "ro",
        "--read-only",
        "-v",
        &format!("{h}:/rw"),
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&[
        "create",
        "--name",
        "robind",
        "-v",
        &format!("{h}:/robind:ro"),
        "busybox",
        "true",
    ]);
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), "new\n").unwrap();
    let fp = f.path().to_string_lossy().into_owned();
    let (code, err) = d.fail(&["cp", &fp, "ro:/tmp"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "Error response from daemon: container rootfs is marked read-only"
        )
    );
    // Into the bind of a read-only container, and out of it.
    d.ok(&["cp", &fp, "ro:/rw/copied"]);
    assert_eq!(
        fs::read_to_string(host.path().join("copied")).unwrap(),
        "new\n"
    );
    let out = tempfile::tempdir().unwrap();
    d.ok(&[
        "cp",
        "robind:/robind/in-bind",
        &out.path().to_string_lossy(),
    ]);
    assert_eq!(
        fs::read_to_string(out.path().join("in-bind")).unwrap(),
        "bound\n"
    );
    let (_, err) = d.fail(&["cp", &fp, "robind:/robind"]);
    assert_eq!(
        err.trim(),
        "Error response from daemon: mounted volume is marked read-only"
    );
    assert!(!host.path().join(f.path().file_name().unwrap()).exists());
    done(&d, &["ro", "robind"]);
}

#[test]
fn follow_link_copies_the_target_under_the_links_name() {
    let d = Daemon::with_busybox();
    d.run_d(&[
        "--name",
        "lnk",
        "busybox",
        "sh",
        "-c",
        "echo t > /target && ln -s /target /link && sleep 300",
    ]);
    ready(&d, "lnk:/link");
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    d.ok(&["cp", "lnk:/link", &o.join("plain").to_string_lossy()]);
    assert!(fs::symlink_metadata(o.join("plain"))
        .unwrap()
        .file_type()
        .is_symlink());
    d.ok(&["cp", "-L", "lnk:/link", &o.to_string_lossy()]);
    let m = fs::symlink_metadata(o.join("link")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read_to_string(o.join("link")).unwrap(), "t\n");
    assert_eq!(m.uid(), 0);
    done(&d, &["lnk"]);
}

/// The container swaps /race between a directory and a symlink to `/`
/// while copies run both ways: no host file may be read or written.
#[test]
fn a_container_swapping_symlinks_cannot_reach_the_host() {
    let d = Daemon::with_busybox();
    let marker = format!("/tmp/berth-cp-race-{}", std::process::id());
    fs::write(&marker, "HOST SECRET\n").unwrap();
    let name = Path::new(&marker)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let script = format!(
        "mkdir -p /race.d/tmp && echo inside > /race.d/tmp/{name}; while true; do \
         rm -rf /race; ln -s / /race; rm -f /race; ln -s /race.d /race; rm -f /race; mkdir -p /race/tmp; done"
    );
    d.run_d(&["--name", "swap", "busybox", "sh", "-c", &script]);
    let src = tempfile::tempdir().unwrap();
    let evil = format!("berth-cp-evil-{}", std::process::id());
    fs::write(src.path().join(&evil), "evil\n").unwrap();
    let fp = src.path().join(&evil).to_string_lossy().into_owned();
    let out = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for i in 0..60 {
        let o = out.path().join(i.to_string());
        let r = d.berth(&[
            "cp",
            &format!("swap:/race/tmp/{name}"),
            &o.to_string_lossy(),
        ]);
        if r.status.success() {
            copied += 1;
            // The container's file, or what an earlier copy in wrote there.
            let got = fs::read_to_string(&o).unwrap();
            assert!(
                got == "inside\n" || got == "evil\n",
                "cp read a host file: {got:?}"
            );
        }
        let _ = d.berth(&["cp", &fp, &format!("swap:/race/tmp/{name}")]);
        let _ = d.berth(&["cp", &fp, "swap:/race/tmp/"]);
    }
    assert!(
        copied > 0,
        "no copy out ever succeeded: the race test tested nothing"
    );
    assert_eq!(fs::read_to_string(&marker).unwrap(), "HOST SECRET\n");
    assert!(
        !Path::new("/tmp").join(&evil).exists(),
        "cp wrote a host file"
    );
    fs::remove_file(&marker).unwrap();
    done(&d, &["swap"]);
}

#[test]
fn into_and_out_of_volumes() {
    let d = Daemon::with_busybox();
    d.run_d(&[
        "--name",
        "vr",
        "-v",
        "data:/data",
        "-v",
        "/anon",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&[
        "create",
        "--name",
        "vs",
        "-v",
        "data:/data",
        "busybox",
        "true",
    ]);
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("f");
    fs::write(&file, "in a volume\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    d.ok(&["cp", &file, "vr:/data/running"]);
    d.ok(&["cp", &file, "vs:/data/stopped"]);
    d.ok(&["cp", &file, "vr:/anon/"]);
    let data = d.root().join("volumes/data/_data");
    for f in ["running", "stopped"] {
        assert_eq!(fs::read_to_string(data.join(f)).unwrap(), "in a volume\n");
    }
    assert_eq!(
        d.ok(&["exec", "vr", "cat", "/anon/f", "/data/stopped"]),
        "in a volume\nin a volume\n"
    );
    // Out of the volume of a stopped container, and of a running one.
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_string_lossy().into_owned();
    d.ok(&["cp", "vs:/data/running", &format!("{o}/a")]);
    d.ok(&["cp", "vr:/anon/f", &format!("{o}/b")]);
    assert_eq!(
        fs::read_to_string(out.path().join("a")).unwrap(),
        "in a volume\n"
    );
    assert_eq!(
        fs::read_to_string(out.path().join("b")).unwrap(),
        "in a volume\n"
    );
    d.ok(&["rm", "-f", "-v", "vr"]);
    d.ok(&["start", "-a", "vs"]);
    done(&d, &["vs"]);
    d.ok(&["volume", "rm", "data"]);
    assert!(
        d.entries("volumes").is_empty(),
        "{:?}",
        d.entries("volumes")
    );
}

#[test]
fn file_capabilities_travel_with_the_file() {
    let d = Daemon::with_busybox();
    d.run_d(&["--name", "caps", "busybox", "sleep", "300"]);
    // cap_net_raw+ep as a vfs_cap_data v2: magic with the effective bit,
    // then permitted and inheritable, low and high words.
    let cap: [u8; 20] = [
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o755);
    b.append_data(&mut h, "ping", &b"ping"[..]).unwrap();
    let r = d.berth_stdin(&["cp", "-", "caps:/tmp"], &b.into_inner().unwrap());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("ping");
    d.ok(&["cp", "caps:/tmp/ping", &o.to_string_lossy()]);
    assert_eq!(fs::read(&o).unwrap(), b"ping");
    // And in the archive berthd writes.
    let tar = d.berth(&["cp", "caps:/tmp/ping", "-"]);
    let mut ar = tar::Archive::new(&tar.stdout[..]);
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    let exts: Vec<(String, Vec<u8>)> = e
        .pax_extensions()
        .unwrap()
        .expect("pax records")
        .map(|x| {
            let x = x.unwrap();
            (x.key().unwrap().to_string(), x.value_bytes().to_vec())
        })
        .collect();
    assert!(
        exts.contains(&("SCHILY.xattr.security.capability".into(), cap.to_vec())),
        "{exts:?}"
    );
    let got = xattr::get(&o, "security.capability").unwrap();
    assert_eq!(got.as_deref(), Some(&cap[..]), "the capability was lost");
    done(&d, &["caps"]);
}
