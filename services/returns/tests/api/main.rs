//! Integration tests of oms-returns: the real service on port 0 over gRPC with
//! a fresh Postgres database, the real order service it reads orders from and
//! the real inventory service holding the locations (each with its own fresh
//! database).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod binary;
mod edges;
mod exchange;
mod helpers;
mod lifecycle;
mod list;
mod policy;
mod privacy;
mod remaining;
mod request;
mod steps;
