//! Generates the Rust code for every contract under `proto/`.
//!
//! protox parses the files in-process, so no machine needs `protoc`. The same
//! descriptor set is embedded for server reflection and, less the vendored
//! `google.rpc` error details (tonic-types already has their Rust types), feeds
//! code generation.

use std::{
    env,
    error::Error,
    fs, io,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut files = Vec::new();
    collect_protos(&proto_root, &mut files)?;
    files.sort();

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&files)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself, which keeps custom options such as
    // `oms.common.v1.compensated_by` (prost's types would drop them).
    fs::write(
        out_dir.join("oms_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let descriptors = compiler.file_descriptor_set();

    // Reflection serves the error details so generic clients (grpcurl) can decode
    // a refusal's details; our code uses tonic-types' own structs for them.
    let mut generated = descriptors;
    generated
        .file
        .retain(|file| !file.package().starts_with("google.rpc"));

    let mut config = tonic_prost_build::Config::new();
    // Every message knows its full name (`prost::Name`), so a page token can be
    // bound to the RPC whose request it came from.
    config.enable_type_names();
    tonic_prost_build::configure()
        // Maps encode in a fixed order, so a request's bytes (and its idempotency
        // fingerprint) do not change between retries.
        .btree_map(".")
        .include_file("oms.rs")
        .compile_fds_with_config(generated, config)?;
    Ok(())
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
