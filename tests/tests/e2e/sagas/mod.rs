//! The sagas across the whole suite: every service over real gRPC, with the
//! coordinator running in this process.
//!
//! - `fulfilment`: each way one order ends (confirmed shipped, picked up,
//!   split; rejected as declined, out of stock, unshippable; a lost stock
//!   race re-planned), and the seed's drop of five units on seven channels.
//! - `faults`: a capture answered too late, the payment service down, a saga
//!   STUCK and fixed by an operator.
//!
//! Each test starts an `oms_e2e::world::World`: the suite with the coordinator.

mod cancel;
mod faults;
mod fulfilment;
mod returns;

pub use oms_e2e::world::*;
pub use oms_proto::saga::v1::Saga;
pub use oms_testkit::poll_until;
