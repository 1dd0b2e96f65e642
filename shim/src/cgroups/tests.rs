//! Root tests against the real cgroup tree. They take whatever path this
//! machine's layout selects (v1 hybrid on the project's VMs, v2 elsewhere)
//! and check the files through the same layout. Not root: they fail.

use super::*;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: i64 = 1 << 20;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (they create cgroups under /sys/fs/cgroup)"
    );
}

/// A unique parent, removed (with its children) when dropped.
struct TestParent(String);

impl TestParent {
    fn new() -> TestParent {
        static N: AtomicUsize = AtomicUsize::new(0);
        TestParent(format!(
            "berth-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ))
    }
    fn child(&self, name: &str) -> String {
        format!("{}/{}", self.0, name)
    }
    /// Every directory named like this parent anywhere under /sys/fs/cgroup.
    fn leftovers(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let root = Path::new(CGROUP_ROOT);
        if root.join(&self.0).exists() {
            found.push(root.join(&self.0));
        }
        if let Ok(rd) = fs::read_dir(root) {
            for e in rd.flatten() {
                let p = e.path().join(&self.0);
                if p.exists() {
                    found.push(p);
                }
            }
        }
        found
    }
}

impl Drop for TestParent {
    /// After a failed test: kill what is still inside, remove the tree.
    fn drop(&mut self) {
        for p in self.leftovers() {
            if let Ok(rd) = fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        if let Ok(pids) = read_procs("cleanup", &e.path()) {
                            for pid in pids {
                                let _ = kill_pid("cleanup", pid);
                            }
                        }
                        let _ = remove_dir("cleanup", &e.path());
                    }
                }
            }
            let _ = remove_dir("cleanup", &p);
        }
    }
}

fn dir_of(cg: &Cgroup, v1_controller: &str) -> PathBuf {
    if cg.layout().is_v2() {
        Path::new(CGROUP_ROOT).join(cg.path())
    } else {
        Path::new(CGROUP_ROOT).join(v1_controller).join(cg.path())
    }
}

fn read(cg: &Cgroup, ctrl: &str, file: &str) -> String {
    let p = dir_of(cg, ctrl).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_owned()
}

fn proc_state(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap()
        .to_owned()
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {} did not exit within {secs}s", child.id());
        }
        sleep(Duration::from_millis(10));
    }
}

#[test]
fn root_limits_tasks_stats_freeze_kill_delete() {
    require_root();
    let parent = TestParent::new();
    let limits = Limits {
        memory: Some(64 * MIB),
        memory_swap: None,
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".to_owned()),
        pids_limit: Some(20),
    };
    let cg = Cgroup::create(&parent.child("abc"), &limits).unwrap();
    assert_eq!(cg.layout(), detect());

    if cg.layout().is_v2() {
        assert_eq!(read(&cg, "", "memory.max"), (64 * MIB).to_string());
        assert_eq!(read(&cg, "", "cpu.max"), "50000 100000");
        assert_eq!(read(&cg, "", "cpu.weight"), "20");
        assert_eq!(read(&cg, "", "pids.max"), "20");
        assert_eq!(read(&cg, "", "cpuset.cpus"), "0");
    } else {
        assert_eq!(
            read(&cg, "memory", "memory.limit_in_bytes"),
            (64 * MIB).to_string()
        );
        assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cg, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&cg, "cpu", "cpu.shares"), "512");
        assert_eq!(read(&cg, "pids", "pids.max"), "20");
        assert_eq!(read(&cg, "cpuset", "cpuset.cpus"), "0");
        assert!(!read(&cg, "cpuset", "cpuset.mems").is_empty());
    }

    // Exec `sleep 30` only once inside, so its memory and CPU are charged
    // here (v1 does not move earlier charges along with a task).
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg("read x; exec sleep 30")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_task(pid).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let exec_done = wait_until(Duration::from_secs(5), || {
        Ok(fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() == "sleep")
            .unwrap_or(false))
    })
    .unwrap();
    assert!(exec_done, "sleep 30 did not start");
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    // Loading it again (a restarted shim) sees the same cgroup.
    let again = Cgroup::load(&parent.child("abc")).unwrap();
    assert_eq!(again.pids().unwrap(), vec![pid]);

    let st = cg.stats().unwrap();
    assert_eq!(st.pids_current, 1, "{st:?}");
    assert!(st.memory_usage > 0, "{st:?}");
    assert_eq!(st.memory_limit, Some(64 * MIB as u64), "{st:?}");
    assert!(st.cpu_usage_ns > 0, "{st:?}");
    assert!(!cg.oom_killed().unwrap());

    cg.freeze().unwrap();
    if cg.layout().is_v2() {
        assert_eq!(read(&cg, "", "cgroup.freeze"), "1");
    } else {
        assert_eq!(read(&cg, "freezer", "freezer.state"), "FROZEN");
    }
    // A frozen task shows as sleeping in the freezer (D on v1, S on v2).
    let frozen_state = proc_state(pid);
    assert!(
        frozen_state.contains('D') || frozen_state.contains('S'),
        "{frozen_state}"
    );
    cg.thaw().unwrap();
    if cg.layout().is_v2() {
        assert_eq!(read(&cg, "", "cgroup.freeze"), "0");
    } else {
        assert_eq!(read(&cg, "freezer", "freezer.state"), "THAWED");
    }

    cg.kill_all().unwrap();
    let status = wait_exit(&mut child, 5);
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(cg.pids().unwrap().is_empty());

    cg.delete().unwrap();
    // Deleting a cgroup that is already gone is fine.
    let gone = Cgroup::load(&parent.child("abc"));
    assert!(
        matches!(gone, Err(CgroupError::NotFound { .. })),
        "{gone:?}"
    );
    let parent_cg = Cgroup::load(&parent.0).unwrap();
    parent_cg.delete().unwrap();
    assert!(
        parent.leftovers().is_empty(),
        "left behind: {:?}",
        parent.leftovers()
    );
}

#[test]
fn root_oom_kill_is_reported() {
    require_root();
    let parent = TestParent::new();
    let limits = Limits {
        memory: Some(16 * MIB),
        memory_swap: Some(16 * MIB), // no swapping out of the OOM
        ..Limits::default()
    };
    let cg = Cgroup::create(&parent.child("oom"), &limits).unwrap();
    // Wait on stdin so the allocation starts only once inside the cgroup;
    // exec so the killed process is the one we spawned.
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg("read x; exec dd if=/dev/zero of=/dev/null bs=64M count=1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    cg.add_task(child.id() as i32).unwrap();
    assert!(!cg.oom_killed().unwrap());
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = wait_exit(&mut child, 10);
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(cg.oom_killed().unwrap());
    cg.delete().unwrap();
    Cgroup::load(&parent.0).unwrap().delete().unwrap();
    assert!(
        parent.leftovers().is_empty(),
        "left behind: {:?}",
        parent.leftovers()
    );
}

#[test]
fn root_bad_limit_leaves_nothing_behind() {
    require_root();
    let parent = TestParent::new();
    let limits = Limits {
        cpuset_cpus: Some("999999".to_owned()),
        ..Limits::default()
    };
    let err = Cgroup::create(&parent.child("bad"), &limits).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cpuset.cpus") && msg.contains(&parent.child("bad")),
        "{msg}"
    );
    assert!(matches!(
        Cgroup::load(&parent.child("bad")),
        Err(CgroupError::NotFound { .. })
    ));
}

#[test]
fn root_swap_limit_or_warning() {
    require_root();
    let parent = TestParent::new();
    let limits = Limits {
        memory: Some(32 * MIB),
        memory_swap: Some(64 * MIB),
        ..Limits::default()
    };
    let cg = Cgroup::create(&parent.child("swap"), &limits).unwrap();
    let (ctrl, file, want) = if cg.layout().is_v2() {
        ("", "memory.swap.max", (32 * MIB).to_string())
    } else {
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            (64 * MIB).to_string(),
        )
    };
    if dir_of(&cg, ctrl).join(file).exists() {
        assert_eq!(read(&cg, ctrl, file), want);
        assert!(cg.warnings().is_empty());
    } else {
        assert_eq!(cg.warnings().len(), 1, "{:?}", cg.warnings());
    }
    // Raising both later keeps memsw >= memory at every step.
    let mut cg = cg;
    cg.apply(&Limits {
        memory: Some(128 * MIB),
        memory_swap: Some(256 * MIB),
        ..Limits::default()
    })
    .unwrap();
    cg.delete().unwrap();
    Cgroup::load(&parent.0).unwrap().delete().unwrap();
}
