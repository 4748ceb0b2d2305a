//! Generated Rust types for the OMS v1 contracts in `proto/oms/`.
//!
//! One module per protobuf package, e.g. `oms_proto::inventory::v1` holds the
//! inventory messages, `inventory_service_server` (for the service) and
//! `inventory_service_client` (for its callers). `FILE_DESCRIPTOR_SET` is the
//! encoded descriptor of every contract and of the `google.rpc` error details,
//! served by reflection.

#![allow(clippy::all, clippy::pedantic, missing_docs, reason = "generated code")]

include!(concat!(env!("OUT_DIR"), "/oms.rs"));

pub use oms::*;

/// The encoded `google.protobuf.FileDescriptorSet` of every OMS contract, the
/// well-known types they import, and the `google.rpc` status and error details
/// (`proto/google/rpc/`) that refused calls carry, so reflection clients can
/// decode those too.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/oms_descriptor.bin"));
