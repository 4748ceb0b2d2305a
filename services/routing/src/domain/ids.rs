//! Identifiers and small values, checked once at the edge so the planner never
//! sees an invalid one: the suite's shared ones from `oms_platform::ids`.

pub use oms_platform::ids::{
    Actor, ActorKind, Channel, CountryCode, Invalid, LocationId, Quantity, Sku,
};
