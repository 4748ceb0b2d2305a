//! The shipping domain: no tonic, no sqlx.
//!
//! - [`shipment`]: the shipment status state machine and how tracking events
//!   move it (out of order, repeated, late).
//! - [`parcel`]: parcels, service levels and the checks on them.

pub mod parcel;
pub mod shipment;
