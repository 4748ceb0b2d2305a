//! The request guard's cost on the hot path: checking a PlaceOrder-sized
//! request (10 lines, customer, address, notes, tags, a card token), next to
//! what prost takes to decode the same bytes, which tonic does for every call
//! anyway. Goal: the check costs no more than the decode.
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

use oms_platform::guard::RequestGuard;
use oms_proto::{
    common::v1::{
        Actor, Address, CardToken, Channel, DeliveryOption, GeoPoint, LineItem, Money,
        PaymentMethod, payment_method::Method,
    },
    order::v1::{Customer, PlaceOrderRequest},
};
use prost::Message as _;

const PLACE_ORDER: &str = "/oms.order.v1.OrderService/PlaceOrder";
/// Checks per timed sample.
const BATCH: u32 = 100;

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

fn place_order() -> PlaceOrderRequest {
    PlaceOrderRequest {
        channel: Some(Channel {
            kind: 3,
            name: "amazon-de".into(),
        }),
        external_reference: "302-1234567-7654321".into(),
        customer: Some(Customer {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            phone: "+49 30 1234567".into(),
        }),
        shipping_address: Some(Address {
            recipient_name: "Ada Lovelace".into(),
            company: "Analytical Engines GmbH".into(),
            lines: vec!["Unter den Linden 77".into(), "Hinterhaus, 3. OG".into()],
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10117".into(),
            country_code: "DE".into(),
            phone: "+49 30 1234567".into(),
            geo: Some(GeoPoint {
                latitude: 52.5163,
                longitude: 13.3777,
            }),
        }),
        lines: (0..10)
            .map(|index| LineItem {
                // Half of them GTINs, the digit runs the check works hardest on.
                sku: if index % 2 == 0 {
                    format!("TEE-{index}-M")
                } else {
                    "5901234123457".into()
                },
                quantity: 1 + index,
                unit_price: eur(1999),
            })
            .collect(),
        currency_code: "EUR".into(),
        delivery_option: Some(DeliveryOption {
            method: 1,
            service_level: 1,
            pickup_location_id: String::new(),
        }),
        shipping_price: eur(495),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(CardToken {
                token: "tok_visa_4242".into(),
            })),
        }),
        notes: vec!["Please ring twice; the bell at the gate is broken.".into()],
        tags: vec!["vip".into(), "gift".into()],
        actor: Some(Actor {
            kind: 6,
            id: "connector-amazon-de".into(),
        }),
        ..Default::default()
    }
}

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
    let guard = RequestGuard::contracts().expect("the contracts load");
    let bytes = place_order().encode_to_vec();
    assert!(guard.check(PLACE_ORDER, &bytes).is_ok());

    let nanos = |duration: Duration| duration.as_secs_f64() * 1e9;
    let (median, p90) = measure(samples, || {
        black_box(guard.check(black_box(PLACE_ORDER), black_box(&bytes))).unwrap();
    });
    println!(
        "guard check of PlaceOrder ({} bytes): median {:>6.0} ns, p90 {:>6.0} ns ({samples} x {BATCH})",
        bytes.len(),
        nanos(median),
        nanos(p90)
    );
    let (median, p90) = measure(samples, || {
        black_box(PlaceOrderRequest::decode(black_box(bytes.as_slice()))).unwrap();
    });
    println!(
        "prost decode of the same:        median {:>6.0} ns, p90 {:>6.0} ns",
        nanos(median),
        nanos(p90)
    );
}
