//! SearchOrders latency over 100,000 seeded orders: each filter and sort, one
//! caller at a time through gRPC, reported as p50 and p95 per filter.
//!
//! The orders are seeded with SQL into the service's fresh database (the
//! service's own intake would take minutes on two cores). `make bench` runs it;
//! `BENCH_ORDERS` and `BENCH_CALLS` change the sizes.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark reports on stdout"
)]

use std::time::{Duration, Instant};

use oms_order::test_util;
use oms_proto::{
    common::v1::{Channel, PageRequest},
    order::v1::{OrderSortField, SearchOrdersRequest, order_service_client::OrderServiceClient},
};
use oms_testkit::{ReservedPort, client_config};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Seeds `count` orders of 20,000 customers over 90 days, 1 to 3 lines each.
const SEED: &str = "
INSERT INTO orders (order_id, order_number, channel_kind, channel_name, external_reference,
    fingerprint, status, confirmed, customer_name, customer_email, customer_phone, shipping_address,
    destination_country, destination_region, currency_code, lines_total, shipping_total,
    credit_total, grand_total, line_count, item_count, delivery_method, service_level, tags,
    place_time, create_time, update_time)
SELECT gen_random_uuid(), 'OMS-' || lpad(n::text, 7, '0'), 1 + n % 5,
    CASE n % 5 WHEN 2 THEN (ARRAY['amazon-de', 'zalando', 'ebay'])[1 + n % 3] WHEN 3 THEN 'store-' || (n % 20) ELSE '' END,
    'ref-' || n, '\\x00', 1 + (n * 7) % 10, true, 'Customer ' || (n % 20000),
    'customer' || (n % 20000) || '@example.com', '+4930' || lpad((n % 20000)::text, 7, '0'), NULL,
    (ARRAY['DE', 'FR', 'AT', 'NL', 'IT', 'ES', 'PL', 'BE', 'DK', 'SE'])[1 + n % 10],
    (ARRAY['', 'BE', 'BY', 'HH', 'NW'])[1 + n % 5], 'EUR', (n * 37) % 50000, 495, 0,
    (n * 37) % 50000 + 495, 1 + n % 3, 1 + n % 5, 1, 1,
    CASE WHEN n % 7 = 0 THEN ARRAY['vip'] WHEN n % 11 = 0 THEN ARRAY['gift', 'vip'] ELSE '{}' END,
    now() - make_interval(secs => n * 77.76 / 1), now() - make_interval(secs => n * 77.76 / 1),
    now() - make_interval(secs => n * 77.76 / 1)
FROM generate_series(1, $1) AS n;
INSERT INTO order_lines (order_id, line_number, line_id, sku, quantity, unit_price, status)
SELECT o.order_id, l, gen_random_uuid(), 'SKU-' || lpad(((hashtext(o.order_id::text || l) & 1023))::text, 4, '0'), 1, 1000, 2
FROM orders o, generate_series(1, 3) AS l
WHERE l <= o.line_count;
ANALYZE orders;
ANALYZE order_lines;
";

fn main() {
    let count = env_number("BENCH_ORDERS", 100_000);
    let calls = env_number("BENCH_CALLS", 100);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = test_util::start(ReservedPort::new(), client_config(), |config| {
            config.outbox_poll = Duration::from_secs(60);
        })
        .await;
        let pool = server.database.pool().await;
        let seeding = Instant::now();
        for statement in SEED.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            let query = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()));
            let query = if statement.contains("$1") {
                query.bind(i64::try_from(count).unwrap())
            } else {
                query
            };
            query.execute(&pool).await.unwrap();
        }
        println!(
            "seeded {count} orders in {:.1}s",
            seeding.elapsed().as_secs_f64()
        );
        let mut client = OrderServiceClient::new(server.channel());

        let base = SearchOrdersRequest::default;
        let week_ago = prost_types::Timestamp::from(
            std::time::SystemTime::now() - Duration::from_secs(7 * 86_400),
        );
        let second_page_token = client
            .search_orders(base())
            .await
            .unwrap()
            .into_inner()
            .page
            .unwrap()
            .next_page_token;
        let cases: Vec<(&str, SearchOrdersRequest)> = vec![
            ("newest first", base()),
            (
                "second page",
                SearchOrdersRequest {
                    page: Some(PageRequest {
                        page_size: 0,
                        page_token: second_page_token,
                    }),
                    ..base()
                },
            ),
            (
                "status",
                SearchOrdersRequest {
                    statuses: vec![3, 4],
                    ..base()
                },
            ),
            (
                "channel",
                SearchOrdersRequest {
                    channels: vec![Channel {
                        kind: 3,
                        name: "zalando".into(),
                    }],
                    ..base()
                },
            ),
            (
                "sku",
                SearchOrdersRequest {
                    sku: "SKU-0042".into(),
                    ..base()
                },
            ),
            (
                "country",
                SearchOrdersRequest {
                    destination_country_code: "NL".into(),
                    ..base()
                },
            ),
            (
                "region",
                SearchOrdersRequest {
                    destination_region: "HH".into(),
                    ..base()
                },
            ),
            (
                "last week",
                SearchOrdersRequest {
                    create_time_from: Some(week_ago),
                    ..base()
                },
            ),
            (
                "tag",
                SearchOrdersRequest {
                    tags: vec!["gift".into()],
                    ..base()
                },
            ),
            (
                "email",
                SearchOrdersRequest {
                    customer_email: "customer4711@example.com".into(),
                    ..base()
                },
            ),
            (
                "phone",
                SearchOrdersRequest {
                    customer_phone: "+49300004711".into(),
                    ..base()
                },
            ),
            (
                "number",
                SearchOrdersRequest {
                    query: "oms-0054321".into(),
                    ..base()
                },
            ),
            (
                "by total",
                SearchOrdersRequest {
                    sort_by: OrderSortField::GrandTotal as i32,
                    ..base()
                },
            ),
            (
                "by status",
                SearchOrdersRequest {
                    sort_by: OrderSortField::Status as i32,
                    ascending: true,
                    ..base()
                },
            ),
            (
                "country+status+tag",
                SearchOrdersRequest {
                    destination_country_code: "DE".into(),
                    statuses: vec![2],
                    tags: vec!["vip".into()],
                    ..base()
                },
            ),
        ];
        println!("SearchOrders over {count} orders, {calls} calls per filter, page size 50");
        println!(
            "{:<20} {:>9} {:>9} {:>7}",
            "filter", "p50 ms", "p95 ms", "rows"
        );
        for (name, request) in cases {
            let mut latencies = Vec::with_capacity(calls);
            let mut rows = 0;
            for _ in 0..calls {
                let started = Instant::now();
                rows = client
                    .search_orders(request.clone())
                    .await
                    .unwrap()
                    .into_inner()
                    .orders
                    .len();
                latencies.push(started.elapsed());
            }
            latencies.sort();
            let at = |p: f64| {
                latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
            };
            println!("{name:<20} {:>9.2} {:>9.2} {rows:>7}", at(0.5), at(0.95));
        }
        pool.close().await;
        server.stop().await;
    });
}
