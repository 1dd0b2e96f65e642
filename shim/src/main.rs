//! berth-shim binary. Containers are not supported yet: the binary says so
//! and fails, rather than pretending.
#![deny(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("berth-shim: running containers is not supported yet in this berth build");
    ExitCode::from(125)
}
