//! Integration tests of oms-platform: real gRPC on port 0, the local Postgres and
//! Redis, and an OTLP receiver, each test with resources of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod config;
mod db;
mod guard;
mod idempotency;
mod metrics;
mod outbox;
mod probe;
mod redis;
mod server;
mod telemetry;
mod tls;
mod trace_context;
