//! Writes image archives (docker-save format) for demos and benchmarks:
//!   make-image busybox OUT.tar [--tag busybox:latest] [--oci] [--gzip]
//!   make-image random OUT.tar [--layers 5] [--layer-mib 45] [--tag bench:latest] [--oci] [--gzip]
//! `--oci` writes the layout docker 25+ writes (OCI layout plus manifest.json)
//! instead of the legacy one; `random` layers hold 1 MiB files of random,
//! incompressible bytes.
use std::path::PathBuf;
use std::process::ExitCode;

use berth_tests::fixture::{busybox_image, random_layer, ImageBuilder, ImageSpec, Layout};

const USAGE: &str = "usage: make-image busybox|random OUT.tar [--tag T] [--oci] [--gzip] [--layers N] [--layer-mib M]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-image: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (Some(kind), Some(out)) = (args.first(), args.get(1)) else {
        return Err("missing arguments".into());
    };
    let flag = |name: &str| -> Result<Option<String>, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .cloned()
                .map(Some)
                .ok_or(format!("{name} needs a value")),
        }
    };
    let num = |name: &str, default: usize| -> Result<usize, String> {
        match flag(name)? {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{name} {v}: not a number")),
        }
    };
    let layout = if args.iter().any(|a| a == "--oci") {
        Layout::Oci
    } else {
        Layout::Legacy
    };
    let spec = match kind.as_str() {
        "busybox" => busybox_image(&flag("--tag")?.unwrap_or_else(|| "busybox:latest".into())),
        "random" => {
            let mib = num("--layer-mib", 45)?;
            let layers = (0..num("--layers", 5)?)
                .map(|i| random_layer(&format!("layer{i}"), mib, 1))
                .collect();
            ImageSpec::new(
                &flag("--tag")?.unwrap_or_else(|| "bench:latest".into()),
                layers,
            )
        }
        other => return Err(format!("unknown image kind {other:?}")),
    };
    let mut b = ImageBuilder::new(layout, vec![spec]);
    if args.iter().any(|a| a == "--gzip") {
        b = b.gzip();
    }
    b.write_to(&PathBuf::from(out));
    Ok(())
}
