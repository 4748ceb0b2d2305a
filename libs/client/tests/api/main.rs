//! oms-client and omsctl against real services on port 0.
//!
//! - `client`: the typed clients' retries, keys and deadlines over real gRPC.
//! - `omsctl`: the command line from outside, as an operator runs it.

#![allow(clippy::unwrap_used, reason = "tests")]

mod client;
mod omsctl;
