//! PlaceOrder to StartOrderSaga: how long an accepted order waits in the
//! outbox before the saga coordinator hears of it. The coordinator is the
//! testkit's stand-in, which notes when each start arrives; the order service
//! runs with the production poll interval (1 s), so a median far below it shows
//! that delivery is woken by the commit, not found by the poll.
//!
//! `make bench` runs it; `BENCH_ORDERS` (default 500) and `BENCH_CALLERS`
//! (default 8) change the load.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark reports on stdout"
)]

use std::time::{Duration, Instant};

use oms_order::test_util;
use oms_platform::config::Service;
use oms_proto::{order::v1::order_service_client::OrderServiceClient, saga::v1::SagaKind};
use oms_testkit::{ReservedPort, peers, poll_until, saga::Coordinator};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let at = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted[at]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<38} p50 {:>7.2} ms   p95 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.95)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
}

fn main() {
    let orders = env_number("BENCH_ORDERS", 500);
    let callers = env_number("BENCH_CALLERS", 8).max(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let saga_port = ReservedPort::new();
        let client = peers([(Service::Saga, saga_port.address())]);
        let (coordinator, coordinator_stop) = Coordinator::serve(saga_port).await;
        let server = test_util::start(ReservedPort::new(), client, |config| {
            config.outbox_poll = Duration::from_secs(1);
        })
        .await;
        let client = OrderServiceClient::new(server.channel());

        // Each caller places its share of the orders one after another.
        let started = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|caller| {
                let mut client = client.clone();
                tokio::spawn(async move {
                    let mut placed = Vec::new();
                    for n in (caller..orders).step_by(callers) {
                        let sent = Instant::now();
                        let order = client
                            .place_order(test_util::web_order(&format!("bench-{n}")))
                            .await
                            .unwrap()
                            .into_inner()
                            .order
                            .unwrap();
                        placed.push((order.order_id, sent, sent.elapsed()));
                    }
                    placed
                })
            })
            .collect();
        let mut placed = Vec::new();
        for task in tasks {
            placed.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();

        let mut place = Vec::new();
        let mut to_saga = Vec::new();
        for (order_id, sent, took) in &placed {
            let arrived = poll_until("the saga start", Duration::from_secs(30), || {
                let arrival = coordinator.first_arrival(SagaKind::Order, order_id);
                async move { arrival }
            })
            .await;
            place.push(*took);
            to_saga.push(arrived.saturating_duration_since(*sent));
        }
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let rate = placed.len() as f64 / elapsed.as_secs_f64();
        println!(
            "order outbox: {} orders by {callers} callers, {rate:.0} orders/s, poll interval 1 s",
            placed.len()
        );
        report("PlaceOrder (call to response)", place);
        report("PlaceOrder call to StartOrderSaga", to_saga);
        coordinator_stop.cancel();
        server.stop().await;
    });
}
