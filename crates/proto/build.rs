//! Compiles every proto under `proto/` into `OUT_DIR`, with a descriptor set for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos = [
        "onestop/catalogue/v1/catalogue.proto",
        "onestop/intake/v1/intake.proto",
        "onestop/aggregation/v1/aggregation.proto",
    ]
    .map(|p| root.join(p));
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    // protoc comes vendored, so building needs no system install.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("onestop_descriptor.bin"))
        .compile_protos(&protos, &[root])?;
    Ok(())
}
