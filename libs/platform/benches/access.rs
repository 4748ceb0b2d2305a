//! The access check's cost on the hot path under mutual TLS: reading the
//! caller's identity from its certificate (DER, as rustls hands it over) and
//! looking the RPC up in the access table, which the server does for every
//! `oms.` call.
//!
//! Each sample times a batch of checks; the report is the median and p90 per
//! check. `make bench` runs it; `BENCH_SAMPLES` changes the number of samples.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark reports on stdout"
)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use oms_platform::{
    access::{self, Principal},
    certs::DevCa,
    config::{Service, TlsConfig},
};

/// Checks per timed sample.
const BATCH: u32 = 100;

/// Median and p90 per call of `call`, timed in batches.
fn measure(samples: usize, mut call: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..samples / 10 {
        call();
    }
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                call();
            }
            start.elapsed() / BATCH
        })
        .collect();
    times.sort();
    (times[samples / 2], times[samples * 9 / 10])
}

fn main() {
    let samples = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2000);
    let ca = DevCa::new("bench ca").unwrap();
    let TlsConfig::Mutual(files) = ca.tls(Principal::Service(Service::Saga)).unwrap() else {
        unreachable!("DevCa::tls is mutual");
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(&files.cert).unwrap();
    let der = pem.contents;
    let capture = "/oms.payment.v1.PaymentService/Capture";
    // The last entry of the table, the longest look-up.
    let last = "/oms.shipping.v1.ShippingService/ListShipments";

    let nanos = |duration: Duration| duration.as_secs_f64() * 1e9;
    let (median, p90) = measure(samples, || {
        let caller = Principal::from_certificate(black_box(&der)).unwrap();
        assert!(access::allows(caller, black_box(capture)));
    });
    println!(
        "identity from the certificate ({} bytes) and Capture's entry: median {:>6.0} ns, p90 {:>6.0} ns ({samples} x {BATCH})",
        der.len(),
        nanos(median),
        nanos(p90)
    );
    let (median, p90) = measure(samples, || {
        black_box(access::allows(Principal::Operator, black_box(last)));
    });
    println!(
        "the table's last entry alone:                         median {:>6.0} ns, p90 {:>6.0} ns",
        nanos(median),
        nanos(p90)
    );
}
