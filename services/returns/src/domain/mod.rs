//! The returns domain: the return state machine, return policies, eligibility
//! and the refund arithmetic. No tonic, no sqlx.
//!
//! - [`status`]: statuses, close reasons and the transition table.
//! - [`policy`]: a channel's return rules, return reasons, resolutions.
//! - [`eligibility`]: whether requested lines may come back.
//! - [`refund`]: the refund breakdown and an exchange's price difference.

pub mod eligibility;
pub mod policy;
pub mod refund;
pub mod status;

pub use oms_platform::ids::{
    Actor, ActorKind, Channel, CurrencyCode, LocationId, MintedId, MintedId as OrderId, Sku,
};
