//! Integration tests of oms-saga: the coordinator with every service it calls,
//! each on port 0 with a fresh database, over real gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod helpers;
mod order_saga;
