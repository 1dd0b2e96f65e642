//! Writes image archives for demos and benchmarks:
//!   make-image busybox OUT.tar [--tag busybox:latest] [--oci]
//!   make-image random OUT.tar [--layers 5] [--layer-mib 45] [--tag bench:latest]
use std::path::PathBuf;
use std::process::ExitCode;

use berth_tests::fixture::{busybox_rootfs_tar, random_layer, ArchiveBuilder, ImageSpec, Layout};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: make-image busybox|random OUT.tar [--tag T] [--oci] [--layers N] [--layer-mib M]";
    let (Some(kind), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: usize| flag(name).and_then(|v| v.parse().ok()).unwrap_or(d);
    let layout = if args.iter().any(|a| a == "--oci") {
        Layout::Oci
    } else {
        Layout::Legacy
    };
    let spec = match kind.as_str() {
        "busybox" => ImageSpec::new(
            &flag("--tag").unwrap_or_else(|| "busybox:latest".into()),
            vec![busybox_rootfs_tar()],
        ),
        "random" => {
            let mib = num("--layer-mib", 45);
            let layers = (0..num("--layers", 5))
                .map(|i| random_layer(&format!("layer{i}"), mib, 1))
                .collect();
            ImageSpec::new(&flag("--tag").unwrap_or_else(|| "bench:latest".into()), layers)
        }
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    ArchiveBuilder::new(layout, vec![spec]).write_to(&PathBuf::from(out));
    ExitCode::SUCCESS
}
