//! Volumes on disk: a volume's record and its directory never disagree
//! after berthd is killed (-9) in the middle of creates and of a prune, or
//! after a directory is added or lost behind its back; inspect's Mounts and
//! `system df`'s Local Volumes show them as docker does.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_tests::Daemon;

/// The volume names `volume ls` lists.
fn listed(d: &Daemon) -> BTreeSet<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The directories under ROOT/volumes.
fn directories(d: &Daemon) -> BTreeSet<String> {
    d.entries("volumes").into_iter().collect()
}

/// Every listed volume has its data directory and every directory its
/// volume.
fn assert_agree(d: &Daemon) -> BTreeSet<String> {
    let names = listed(d);
    assert_eq!(names, directories(d), "volume records and directories");
    for n in &names {
        let data = d.root().join("volumes").join(n).join("_data");
        assert!(data.is_dir(), "{} is missing", data.display());
    }
    names
}

/// Kills berthd once `when` holds, polling every few milliseconds; fails
/// if `done` says the operation ended first.
fn kill_when(d: &mut Daemon, when: impl Fn(&Daemon) -> bool, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !when(d) {
        assert!(
            !done(),
            "the operation ended before berthd could be killed in its middle"
        );
        assert!(Instant::now() < deadline, "the operation never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
    d.kill();
}

#[test]
fn a_kill_during_creates_leaves_whole_volumes_only() {
    let mut d = Daemon::start();
    let sock = d.socket().to_path_buf();
    let bin = berth_tests::bin("berth");
    let creator = std::thread::spawn(move || {
        for i in 0..400 {
            let ok = std::process::Command::new(&bin)
                .arg("-H")
                .arg(format!("unix://{}", sock.display()))
                .args(["volume", "create", &format!("vol{i:03}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !ok {
                return i;
            }
        }
        400
    });
    kill_when(
        &mut d,
        |d| d.entries("volumes").len() >= 20,
        || creator.is_finished(),
    );
    let made = creator.join().unwrap();
    assert!(
        made < 400,
        "every create succeeded although berthd was killed"
    );
    d.start_again();
    let names = assert_agree(&d);
    // What was answered before the kill is there; nothing after the
    // first refused one is.
    for i in 0..made {
        assert!(names.contains(&format!("vol{i:03}")), "vol{i:03} was lost");
    }
    assert!(
        names.len() <= made + 1,
        "{} volumes for {made} creates",
        names.len()
    );
    // The interrupted name is free or whole: creating it again works.
    d.ok(&["volume", "create", &format!("vol{made:03}")]);
    d.ok(&["volume", "prune", "-f"]);
    let all: Vec<String> = listed(&d).into_iter().collect();
    let mut rm = vec!["volume", "rm"];
    rm.extend(all.iter().map(String::as_str));
    d.ok(&rm);
    assert!(directories(&d).is_empty(), "{:?}", directories(&d));
}

#[test]
fn a_kill_during_a_prune_finishes_or_undoes_each_volume() {
    let mut d = Daemon::with_busybox();
    // 12 anonymous volumes of 3000 files each, then unused.
    let mut args = vec!["run".to_string(), "--name".into(), "filler".into()];
    for i in 0..12 {
        args.push("-v".into());
        args.push(format!("/v{i}"));
    }
    args.extend(["busybox".into(), "sh".into(), "-c".into()]);
    args.push(
        "for v in 0 1 2 3 4 5 6 7 8 9 10 11; do i=0; \
         while [ $i -lt 3000 ]; do echo $i > /v$v/f$i || exit 1; i=$((i+1)); done; done"
            .into(),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.ok(&args);
    d.ok(&["rm", "filler"]);
    let before = assert_agree(&d);
    assert_eq!(before.len(), 12, "{before:?}");

    let mut prune = d.spawn(&["volume", "prune", "-f"]);
    let pid = prune.id();
    kill_when(
        &mut d,
        |d| d.entries("volumes").len() < 12,
        || {
            Path::new(&format!("/proc/{pid}")).exists()
                && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
        },
    );
    let _ = prune.wait();
    let left = directories(&d).len();
    assert!(left > 0, "the prune had ended when berthd was killed");
    d.start_again();
    let after = assert_agree(&d);
    assert!(after.is_subset(&before), "{after:?} not in {before:?}");
    assert!(after.len() < 12, "nothing was pruned: {after:?}");
    // The volumes that are left are whole and prune again.
    let out = d.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(listed(&d).is_empty() && directories(&d).is_empty());
    d.assert_all_removed();
}

#[test]
fn start_up_removes_stray_directories_and_restores_lost_ones() {
    let mut d = Daemon::with_busybox();
    d.ok(&["volume", "create", "kept"]);
    d.ok(&["run", "--rm", "-v", "kept:/d", "busybox", "touch", "/d/f"]);
    d.ok(&["volume", "create", "lost"]);
    d.stop();
    let vols = d.root().join("volumes");
    std::fs::create_dir_all(vols.join("stray/_data")).unwrap();
    std::fs::write(vols.join("stray/_data/x"), b"x").unwrap();
    std::fs::remove_dir_all(vols.join("lost")).unwrap();
    d.start_again();
    assert_eq!(
        assert_agree(&d),
        BTreeSet::from(["kept".to_string(), "lost".to_string()])
    );
    assert!(vols.join("kept/_data/f").exists(), "kept's data was lost");
    assert_eq!(d.entries("volumes/lost/_data"), Vec::<String>::new());
    d.ok(&["volume", "rm", "kept", "lost"]);
    assert!(directories(&d).is_empty());
}

#[test]
fn inspect_shows_every_mount_as_docker_does() {
    let d = Daemon::with_busybox();
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/b:ro", host.path().display());
    let id = d.run_d(&[
        "-v",
        "named:/n",
        "-v",
        "/anon",
        "-v",
        &bind,
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m",
        "--tmpfs",
        "/run:size=64k",
        "busybox",
        "sleep",
        "100",
    ]);
    let v = d.inspect(&id);
    let mounts = v["Mounts"].as_array().expect("Mounts").clone();
    let by_dest = |dest: &str| {
        mounts
            .iter()
            .find(|m| m["Destination"] == dest)
            .unwrap_or_else(|| panic!("no mount at {dest}: {mounts:?}"))
            .clone()
    };
    let vols = d.root().join("volumes");
    let n = by_dest("/n");
    assert_eq!(
        (&n["Type"], &n["Name"], &n["Driver"], &n["RW"]),
        (
            &"volume".into(),
            &"named".into(),
            &"local".into(),
            &true.into()
        )
    );
    assert_eq!(n["Source"], vols.join("named/_data").display().to_string());
    let a = by_dest("/anon");
    let name = a["Name"].as_str().unwrap();
    assert!(
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "{a}"
    );
    assert_eq!(
        a["Source"],
        vols.join(name).join("_data").display().to_string()
    );
    let b = by_dest("/b");
    assert_eq!(
        (&b["Type"], &b["Mode"], &b["RW"], &b["Propagation"]),
        (
            &"bind".into(),
            &"ro".into(),
            &false.into(),
            &"rprivate".into()
        )
    );
    assert!(b.get("Name").is_none() && b.get("Driver").is_none(), "{b}");
    assert_eq!(by_dest("/t")["Type"], "tmpfs");
    // --tmpfs is HostConfig.Tmpfs, not a Mounts entry (as docker's).
    assert!(
        mounts.iter().all(|m| m["Destination"] != "/run"),
        "{mounts:?}"
    );
    assert_eq!(v["HostConfig"]["Tmpfs"]["/run"], "size=64k");
    assert_eq!(
        v["HostConfig"]["Mounts"][0]["TmpfsOptions"]["SizeBytes"],
        1 << 20
    );
    assert_eq!(v["Config"]["Volumes"]["/anon"], serde_json::json!({}));
    assert_eq!(v["HostConfig"]["Binds"][0], "named:/n");
    // They are mounted where inspect says.
    let proc_mounts = d.ok(&["exec", &id, "cat", "/proc/mounts"]);
    for dest in ["/n", "/anon", "/b", "/t", "/run"] {
        assert!(
            proc_mounts
                .lines()
                .any(|l| l.split(' ').nth(1) == Some(dest)),
            "{dest} not mounted: {proc_mounts}"
        );
    }
    d.ok(&["rm", "-f", "-v", &id]);
    assert_eq!(listed(&d), BTreeSet::from(["named".to_string()]));
    d.ok(&["volume", "rm", "named"]);
    d.assert_all_removed();
    assert!(directories(&d).is_empty());
}

#[test]
fn system_df_counts_local_volumes() {
    let d = Daemon::with_busybox();
    d.ok(&[
        "run",
        "--name",
        "user",
        "-v",
        "used:/d",
        "busybox",
        "sh",
        "-c",
        "head -c 1048576 /dev/zero > /d/f",
    ]);
    d.ok(&["volume", "create", "idle"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "idle:/d",
        "busybox",
        "sh",
        "-c",
        "head -c 2097152 /dev/zero > /d/f",
    ]);
    let df = d.ok(&["system", "df"]);
    let row = df
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap_or_else(|| panic!("{df}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // TYPE (two words) TOTAL ACTIVE SIZE RECLAIMABLE
    assert_eq!((cols[2], cols[3]), ("2", "1"), "{row}");
    assert_eq!(cols[4], "3.146MB", "{row}");
    assert!(row.contains("2.097MB (66%)"), "{row}");
    let verbose = d.ok(&["system", "df", "-v"]);
    let line = |name: &str| {
        verbose
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {verbose}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("used")[1..], ["1", "1.049MB"]);
    assert_eq!(line("idle")[1..], ["0", "2.097MB"]);
    d.ok(&["rm", "user"]);
    d.ok(&["volume", "rm", "used", "idle"]);
    d.assert_all_removed();
    assert!(directories(&d).is_empty());
}
