//! Integration tests of oms-payment: the real service on port 0 over gRPC, each
//! with a fresh Postgres database, where its PSP simulator keeps its state and
//! the tests count its charges.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod authorize;
mod binary;
mod card_data;
mod concurrency;
mod edges;
mod helpers;
mod list;
mod replicas;
mod transitions;
mod unknown_outcomes;
