//! Generated Rust types for the OMS v1 contracts in `proto/oms/`.
//!
//! One module per protobuf package, e.g. `oms_proto::inventory::v1` holds the
//! inventory messages, `inventory_service_server` (for the service) and
//! `inventory_service_client` (for its callers). `FILE_DESCRIPTOR_SET` is the
//! encoded descriptor of every contract, served by reflection.

#![allow(clippy::all, clippy::pedantic, missing_docs, reason = "generated code")]

include!(concat!(env!("OUT_DIR"), "/oms.rs"));

pub use oms::*;

/// The encoded `google.protobuf.FileDescriptorSet` of every OMS contract and the
/// well-known types they import.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/oms_descriptor.bin"));
