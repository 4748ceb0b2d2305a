//! Whole-suite tests: every service of the OMS on port 0 in this process.
//!
//! - `suite`: the suite starts and its services reach each other.
//! - `fuzz`: every unary RPC against hostile requests generated from the
//!   contracts (`make fuzz` runs it longer).
//! - `demo`: `make demo` against the suite as processes (the binaries, as
//!   `make up` starts them), every order through omsctl, each outcome checked.
//! - `storms`: 50 concurrent retries of each mutating RPC, from a table of
//!   valid requests per RPC.
//! - `tls`: the suite over mutual TLS: the order saga end to end, and the
//!   callers the access table refuses changing nothing.
//! - `tokens`: the suite over mutual TLS with bearer tokens: roles decide,
//!   channels read only their own orders, records name the token's subject.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod demo;
mod fuzz;
mod sagas;
mod storms;
mod suite;
mod tls;
mod tokens;

/// Tests that start a whole suite run one at a time in this process (cargo
/// test runs a binary's tests on threads): each suite holds six services'
/// pools on a Postgres server that the whole machine shares. Nextest runs
/// them one at a time through its `e2e-suite` test group.
pub async fn one_suite_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SUITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SUITE.lock().await
}
