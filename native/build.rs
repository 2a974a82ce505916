//! Generates the prost types of `dome.v1.LogBatch` from the repo's own proto file.
//!
//! protox is a pure-Rust protobuf compiler, so no `protoc` binary is needed: a machine
//! with cargo builds the native core and nothing else.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with `env!`: a build script binary reused from a shared target
    // directory must look in the tree being built, not the one it was compiled in.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    // Only the log's messages and a batch's effects: the rest of the wire contract never
    // reaches the core.
    let files = ["replication.proto", "effects.proto"].map(|f| proto_root.join("dome/v1").join(f));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
