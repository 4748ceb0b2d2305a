//! Integration tests of oms-order: the real service on port 0 over gRPC with a
//! fresh Postgres database each, and a saga coordinator test server of the saga
//! contract where the outbox needs one.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod binary;
mod edges;
mod edits;
mod helpers;
mod outbox;
mod pickup;
mod place;
mod read;
mod retry_storm;
mod search;
mod status;
mod tokens;
