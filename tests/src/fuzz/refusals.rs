//! The refused callers' run: every unary RPC's cases sent as callers the
//! access table refuses, and the text no message to a caller may hold.

use std::time::Instant;

use oms_platform::access::{self, Principal};
use tonic::Code;

use super::{Callers, Report, Settings, collect_jobs, execute};
use crate::Suite;

/// How the access layer refuses a caller: the code and the exact message.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) code: Code,
    pub(super) message: String,
}

/// Text that tells of the code rather than of the request: source paths,
/// panics, backtraces, the libraries under the handlers, Debug output of
/// errors. A message to a caller holds none of it.
pub const INTERNAL_TEXT: &[&str] = &[
    "panicked",
    "panic",
    "backtrace",
    ".rs:",
    "src/",
    "/home/",
    "/root/",
    "/work/",
    "/usr/",
    "cargo/registry",
    "thread '",
    "sqlx",
    "postgres",
    "sqlstate",
    "tonic",
    "hyper",
    "h2::",
    "tokio",
    "tower",
    "rustls",
    "x509",
    "redis",
    "error {",
    "some(",
    "kind:",
];

/// The first of [`INTERNAL_TEXT`] in `message` (ignoring case), if any.
pub fn internal_text(message: &str) -> Option<&'static str> {
    let message = message.to_lowercase();
    INTERNAL_TEXT
        .iter()
        .copied()
        .find(|text| message.contains(text))
}

/// Sends the cases of every unary RPC the suite serves ([`Fixed::Basic`]
/// whatever `settings` say: the access layer answers before it reads the
/// body) as two callers the access table refuses: one without a certificate and a
/// principal the table does not list for the RPC; every answer must be the
/// access layer's refusal (UNAUTHENTICATED, PERMISSION_DENIED naming the
/// caller and the RPC) and hold no [`internal_text`]. Panics unless the suite
/// runs mutual TLS. [`Settings::cases`] random cases follow the fixed ones.
pub async fn refusals(suite: &Suite, settings: &Settings) -> Report {
    let started = Instant::now();
    let headers = suite.clients().headers().clone();
    let anonymous = suite.caller_without_certificate();
    let mut callers = Callers {
        suite,
        made: std::collections::HashMap::new(),
    };
    let (mut jobs, unserved) = collect_jobs(suite, settings, |contract, address| {
        let rpc = contract.path().trim_start_matches('/').to_owned();
        let refusal = Refusal {
            code: Code::Unauthenticated,
            message: format!("{rpc} requires a client certificate"),
        };
        (headers.wrap(anonymous.channel(address)), Some(refusal))
    })
    .await;
    let (denied, _) = collect_jobs(suite, settings, |contract, address| {
        let path = contract.path();
        let stranger = Principal::all()
            .find(|principal| !access::allows(*principal, &path))
            .expect("no RPC is open to every principal");
        let refusal = Refusal {
            code: Code::PermissionDenied,
            message: format!("{stranger} may not call {}", path.trim_start_matches('/')),
        };
        (
            headers.wrap(callers.get(stranger).channel(address)),
            Some(refusal),
        )
    })
    .await;
    jobs.extend(denied);
    let mut report = Report {
        seed: settings.seed,
        jobs: jobs.len(),
        unserved,
        ..Report::default()
    };
    execute(jobs, settings, started, &mut report).await;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_layers_messages_hold_no_internal_text_and_a_leak_is_named() {
        for message in [
            "oms.payment.v1.PaymentService/Capture requires a client certificate",
            "shipping may not call oms.payment.v1.PaymentService/Refund",
            "the client certificate names no OMS identity",
        ] {
            assert_eq!(internal_text(message), None, "{message}");
        }
        for message in [
            "thread 'tokio-runtime-worker' panicked at services/payment/src/grpc.rs:12:5",
            "error returned from database: SQLSTATE 23505",
            "Status { code: Internal, source: Some(Kind) }",
            "h2 protocol error: Error { kind: GoAway }",
        ] {
            let leak = internal_text(message).unwrap_or_else(|| panic!("{message}"));
            assert!(message.to_lowercase().contains(leak), "{message}: {leak}");
        }
    }
}
