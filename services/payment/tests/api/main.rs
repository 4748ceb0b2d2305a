//! Integration tests of oms-payment: the real service on port 0 over gRPC, each
//! with a fresh Postgres database and its own PSP simulator, whose charges the
//! tests count.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod authorize;
mod card_data;
mod concurrency;
mod helpers;
mod list;
mod transitions;
mod unknown_outcomes;
