//! Compiles proto/berth/v1/*.proto with protox (pure Rust), so building berth
//! needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/berth/v1/types.proto",
        "proto/berth/v1/namespaces.proto",
        "proto/berth/v1/images.proto",
        "proto/berth/v1/content.proto",
        "proto/berth/v1/snapshots.proto",
        "proto/berth/v1/system.proto",
        "proto/berth/v1/containers.proto",
        "proto/berth/v1/networks.proto",
        "proto/berth/v1/volumes.proto",
        "proto/berth/shim/v1/shim.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
