//! Integration tests of oms-shipping: the real service on port 0 over gRPC with
//! a fresh Postgres database each and its own carrier simulator (its labels in
//! that database, so a replica or a restart sees them), and the real
//! order service (its own fresh database) receiving the status changes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod binary;
mod bulk;
mod cancel;
mod create;
mod documents;
mod edges;
mod helpers;
mod limits;
mod list;
mod locations;
mod pdf;
mod privacy;
mod quote;
mod returns;
mod simulator;
mod tracking;
