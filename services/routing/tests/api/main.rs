//! Integration tests of oms-routing: the real service on port 0 over gRPC with
//! a fresh Postgres database, reading from a real oms-inventory started next to
//! it with a database and Redis prefix of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod attributes;
mod binary;
mod edges;
mod helpers;
mod plan;
mod policies;
