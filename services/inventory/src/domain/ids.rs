//! Identifiers and quantities, checked once at the edge: the suite's shared
//! ones from `oms_platform::ids`.

pub use oms_platform::ids::*;
