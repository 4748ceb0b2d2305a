//! What every OMS service shares, so that each service's code is about its own
//! domain only.
//!
//! - [`config`]: environment variables with local defaults; the suite's services
//!   and ports.
//! - [`telemetry`]: logs (JSON lines carry their trace and span ids),
//!   OpenTelemetry traces and metrics, flushed at exit.
//! - [`rpc`]: the tower layers on every call: trace context, spans, deadlines,
//!   metrics.
//! - [`server`]: the gRPC server with health, reflection (`OMS_REFLECTION`),
//!   a plaintext health port for probes (`OMS_HEALTH_ADDR`) and graceful shutdown;
//!   [`shutdown`] turns signals into a cancellation token.
//! - [`client`]: channels to peer services.
//! - [`access`]: who may call what, and the caller's identity from its
//!   certificate under mutual TLS.
//! - [`convert`]: timestamps and the request's actor, between proto and Rust.
//! - [`error`]: `tonic::Status` values with the error details the contracts
//!   promise, and the service error pattern.
//! - [`certs`]: a CA and certificates made on the spot, for local runs and
//!   tests of mutual TLS.
//! - [`card`]: recognising raw card numbers, which no service may keep.
//! - [`code_enum!`]: domain enums mirroring a contract enum's numbers and names.
//! - [`guard`]: the check of every string field of every request (no NUL,
//!   no card number) before any handler runs.
//! - [`idempotency`]: replaying the first response of a retried mutating call.
//! - [`ids`]: identifiers every contract shares (SKU, location, order, channel,
//!   actor), valid by construction.
//! - [`outbox`]: messages to other services, queued with a change and
//!   delivered until accepted.
//! - [`paging`]: page sizes and page tokens of list calls.
//! - [`db`] and [`redis`]: Postgres with migrations, and a Redis connection;
//!   each checked for an answer at start.
//! - [`process`]: the life of a service process, from its command line
//!   (`--help` lists every variable) to its exit code.

pub mod access;
pub mod auth;
pub mod card;
pub mod certs;
pub mod client;
pub mod code_enum;
pub mod config;
pub mod convert;
pub mod db;
pub mod error;
pub mod guard;
pub mod idempotency;
pub mod ids;
pub mod outbox;
pub mod paging;
pub mod process;
pub mod redis;
pub mod rpc;
pub mod server;
pub mod shutdown;
pub mod telemetry;
