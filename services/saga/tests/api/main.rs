//! Integration tests of the oms-saga binary: the coordinator runs as a process
//! beside the whole suite (the `oms-e2e` crate's, in this test's process), so
//! a test can kill it with SIGKILL at any moment and start it again.
//!
//! - `crash`: killed at each step of the order saga in turn; two replicas
//!   under load, one killed.
//! - `trace`: one trace per order, across every service and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod binary;
mod coordinator;
mod crash;
mod flows;
mod storage;
mod trace;

/// One whole suite at a time in this binary: each holds seven services'
/// pools on the Postgres server the machine shares.
pub async fn one_suite_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SUITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SUITE.lock().await
}
