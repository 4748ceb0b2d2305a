//! The shipping domain: no tonic, no sqlx.
//!
//! - [`shipment`]: the shipment status state machine and how tracking events
//!   move it (out of order, repeated, late).
//! - [`parcel`]: parcels, service levels and the checks on them.
//! - [`report`]: what the order and returns services hear of a shipment.

pub mod parcel;
pub mod report;
pub mod shipment;
