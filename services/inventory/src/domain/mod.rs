//! The inventory's types and rules, free of gRPC and SQL.
//!
//! - [`ids`]: identifiers and quantities that cannot hold an invalid value.
//! - [`stock`]: the figures of one (SKU, location) and what follows from them.
//! - [`reservation`]: a reservation's lines and its state machine.

pub mod ids;
pub mod location;
pub mod reservation;
pub mod stock;

pub use ids::{Actor, ActorKind, Channel, LocationId, MintedId, OrderId, Quantity, Sku};
pub use reservation::{ReservationLine, ReservationState, Transition};
pub use stock::{AdjustmentReason, MovementKind, StockFigures};
