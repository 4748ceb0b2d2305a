//! oms-e2e: whole-suite tests of the OMS, with every service running in the
//! test's process on port 0 against the local Postgres and Redis.
//!
//! - [`Suite`]: starts the six domain services (order, inventory, routing,
//!   payment, shipping, returns) and, when a test asks, the saga coordinator,
//!   each with a fresh database, wired to each other, and hands out a typed
//!   client per service.
//! - [`callers`]: who the test's calls come from (plaintext, or mutual TLS
//!   as a principal, without a certificate, from another CA) and the
//!   metadata they carry (a bearer token), as typed clients per service.
//! - [`world`]: a suite seeded with locations for the sagas' tests, and what
//!   each service holds for an order; `parcels` adds what carriers and
//!   warehouses do to it (deliveries, returns sent back, received, inspected).
//! - [`contracts`]: every RPC of the `oms.` packages as the servers serve it by
//!   reflection, with the codes its comment lists and whether it mutates.
//! - [`raw`]: unary calls with raw protobuf bytes on any path.
//! - [`fuzz`]: the fuzz suite generated from the contracts.
//!
//! The tests themselves are in `tests/e2e/`: the sagas, the fuzz run, the
//! retry storms and their table of valid requests. The tests that run the
//! coordinator as a process to kill are oms-saga's own (they need its binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test loudly when the machine is not set up"
)]

pub mod callers;
pub mod contracts;
pub mod fuzz;
mod parcels;
pub mod raw;
mod suite;
pub mod world;

pub use callers::{Caller, Clients, TestChannel};
pub use suite::{POOL_SIZE, Settings, Suite};
