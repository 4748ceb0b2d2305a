//! Real dependencies for tests, isolated per test so tests run in parallel
//! against the shared local Postgres and Redis.
//!
//! - [`TestDatabase`]: a fresh Postgres database, dropped when the test ends.
//! - [`TestRedis`]: a key prefix of the test's own in the shared Redis, with
//!   [`TestRedis::flush`] to lose exactly those keys.
//! - [`TestServer`]: a service's `run` on port 0, ready (health SERVING) when
//!   `start` returns, with a channel to call it; [`ReservedPort`] holds a port
//!   for a server started later (a peer that is down until then);
//!   [`TestService`] is a server with the database and Redis prefix it owns,
//!   as each service's `test_util::start` hands it out; [`reached_with`]
//!   reaches the servers started in its scope with other client settings
//!   (mutual TLS).
//! - [`poll_until`]: wait for a condition with a deadline, never a bare sleep.
//! - [`binary`]: a service's binary from outside: its command line, its start
//!   without Postgres, a running process, and `--help` against the README.
//! - [`logs`]: what a service logged during a test.
//! - [`metrics`]: metrics recorded by the code under test, read back.
//! - [`saga`]: a saga coordinator stand-in that counts the saga starts it gets.
//! - [`status`]: the error details of a refused call (reason, metadata, bad fields).
//! - [`minted_id`]: an id as the OMS mints them (a UUID), named by a label;
//!   [`keyed`]: a request with its `idempotency-key`.
//!
//! The servers are the ones on `OMS_DATABASE_URL` and `OMS_REDIS_URL`, or the
//! local defaults.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test loudly when the machine is not set up"
)]

pub mod binary;
mod database;
pub mod logs;
pub mod metrics;
mod redis;
pub mod saga;
mod server;
pub mod status;

use std::{future::Future, time::Duration};

pub use database::{TestDatabase, lz4_or_default, stored_compression};
pub use redis::TestRedis;
pub use server::{
    NO_PEER, ReservedPort, TestServer, TestService, client_config, peers, reached_with,
    server_config,
};

/// The id a test calls `label` (e.g. "order-1"), as the OMS would have minted
/// it: a UUID, the same for the same label, so tests stay readable and ids
/// stay valid.
pub fn minted_id(label: &str) -> String {
    // FNV-1a, twice with different offsets, for 128 bits.
    let hash = |offset: u64| {
        label.bytes().fold(offset, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&hash(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&hash(0x8422_2325_cbf2_9ce4).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `message` with the `idempotency-key` metadata `key`.
pub fn keyed<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

/// Calls `check` until it returns `Some`, and returns that; panics naming `what`
/// if `timeout` passes first.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
