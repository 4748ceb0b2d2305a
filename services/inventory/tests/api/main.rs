//! Integration tests of oms-inventory: the real service on port 0 over gRPC,
//! each test with a fresh Postgres database and its own Redis key prefix. Every
//! test ends with the shared invariant check (`TestInventory::finish`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod binary;
mod cache;
mod contention;
mod edges;
mod group_commit;
mod helpers;
mod interleavings;
mod ledger;
mod locations;
mod paging;
mod reservations;
mod stock;
mod watch;
