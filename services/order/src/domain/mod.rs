//! The order's types and rules, free of gRPC and SQL.
//!
//! - [`values`]: validated values of an order (email, phone, tag, currency,
//!   money, external reference) and the raw card number check.
//! - [`status`]: the order and line state machines, how the order's status
//!   follows from its lines' units, and what a MarkStatus fact changes.
//! - [`order`]: a new order as placed, and its totals.
//! - [`timeline`]: the events of an order's timeline.

pub mod order;
pub mod status;
pub mod timeline;
pub mod values;

pub use oms_platform::ids::{Actor, ActorKind, Channel, Invalid, OrderId, Sku};
