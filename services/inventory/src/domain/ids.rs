//! Identifiers and quantities, checked once at the edge: the suite's shared
//! ones from `oms_platform::ids`. An order id is an id the OMS minted.

pub use oms_platform::ids::{
    Actor, ActorKind, Channel, Invalid, LocationId, MintedId as OrderId, MintedId, Quantity, Sku,
    note,
};
