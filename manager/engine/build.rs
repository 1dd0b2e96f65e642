//! Builds `berth-init` (manager/init/berth-init.rs), the PID 1 that
//! `--init` mounts into containers, and leaves it in OUT_DIR for
//! `container::init` to embed with include_bytes!.
//!
//! It is compiled with rustc directly, without cargo dependencies, as a
//! static binary (glibc with crt-static gives a static-pie) so it runs in any
//! rootfs, including ones without a libc.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init/berth-init.rs";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args(["--edition", "2021", "-O"])
        .args([
            "-C",
            "target-feature=+crt-static",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .arg("-o")
        .arg(out_dir.join("berth-init"))
        .arg(src);
    // Cross builds: the init must match the target the daemon runs on.
    if let (Ok(target), Ok(host)) = (std::env::var("TARGET"), std::env::var("HOST")) {
        if target != host {
            cmd.args(["--target", &target]);
        }
    }
    let status = cmd.status().expect("run rustc for berth-init");
    assert!(status.success(), "compiling {src} failed: {status}");
}
