//! Reservations per second through the real service: gRPC on loopback, the
//! local Postgres and Redis, one instance, many callers at once.
//!
//! Workloads, each run several rounds and reported as the median round:
//! - spread: each Reserve takes 1 unit of one of 1,000 SKUs, round robin;
//! - hot: every Reserve takes 1 unit of the same SKU;
//! - read cached / read db: GetAvailability of 10 SKUs, from an instance with
//!   the Redis cache and from one without it (same database).
//!
//! `make bench` runs it. `BENCH_ROUNDS`, `BENCH_RESERVATIONS` and
//! `BENCH_CALLERS` change the sizes.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark reports on stdout"
)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use oms_inventory::{Config, run};
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, GeoPoint},
    inventory::v1::{
        GetAvailabilityRequest, Location, LocationKind, PutLocationRequest, ReservationLine,
        ReserveRequest, SetStockRequest, inventory_service_client::InventoryServiceClient,
    },
};
use oms_testkit::{TestDatabase, TestRedis, TestServer, server_config};
use tokio::sync::Semaphore;

type Client = InventoryServiceClient<oms_platform::client::OmsChannel>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn actor() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Operator as i32,
        id: "bench".into(),
    })
}

async fn seed(client: &mut Client, skus: &[String], units: i32) {
    client
        .put_location(PutLocationRequest {
            location: Some(Location {
                location_id: "wh-1".into(),
                name: "Bench DC".into(),
                kind: LocationKind::Warehouse as i32,
                address: Some(Address {
                    lines: vec!["Benchstrasse 1".into()],
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country_code: "DE".into(),
                    geo: Some(GeoPoint {
                        latitude: 52.5,
                        longitude: 13.4,
                    }),
                    ..Default::default()
                }),
                ships_to_customers: true,
                active: true,
                ..Default::default()
            }),
            actor: actor(),
        })
        .await
        .unwrap();
    for sku in skus {
        let mut request = tonic::Request::new(SetStockRequest {
            sku: sku.clone(),
            location_id: "wh-1".into(),
            on_hand: units,
            actor: actor(),
            note: String::new(),
        });
        request.metadata_mut().insert(
            "idempotency-key",
            uuid::Uuid::new_v4().to_string().parse().unwrap(),
        );
        client.set_stock(request).await.unwrap();
    }
}

/// One round: `count` reservations by `callers` concurrent callers; returns
/// the wall time and each call's latency.
async fn round(
    client: &Client,
    skus: &[String],
    count: usize,
    callers: usize,
    tag: &str,
) -> (Duration, Vec<Duration>) {
    let permits = Arc::new(Semaphore::new(callers));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(count);
    for index in 0..count {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let mut client = client.clone();
        let sku = skus[index % skus.len()].clone();
        let order_id = oms_testkit::minted_id(&format!("{tag}-{index}"));
        calls.push(tokio::spawn(async move {
            let call = Instant::now();
            client
                .reserve(ReserveRequest {
                    order_id,
                    lines: vec![ReservationLine {
                        sku,
                        location_id: "wh-1".into(),
                        quantity: 1,
                    }],
                    ttl: None,
                    channel: None,
                    actor: actor(),
                })
                .await
                .expect("a reservation");
            drop(permit);
            call.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for call in calls {
        latencies.push(call.await.unwrap());
    }
    (started.elapsed(), latencies)
}

/// One round of `count` GetAvailability calls of 10 SKUs each.
async fn read_round(
    client: &Client,
    skus: &[String],
    count: usize,
    callers: usize,
) -> (Duration, Vec<Duration>) {
    let permits = Arc::new(Semaphore::new(callers));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(count);
    for index in 0..count {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let mut client = client.clone();
        let first = (index * 10) % skus.len();
        let wanted = skus[first..(first + 10).min(skus.len())].to_vec();
        calls.push(tokio::spawn(async move {
            let call = Instant::now();
            client
                .get_availability(GetAvailabilityRequest {
                    skus: wanted,
                    ..Default::default()
                })
                .await
                .expect("availability");
            drop(permit);
            call.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for call in calls {
        latencies.push(call.await.unwrap());
    }
    (started.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn workload(
    client: &Client,
    name: &str,
    skus: &[String],
    rounds: usize,
    count: usize,
    callers: usize,
) {
    let mut rates = Vec::new();
    let mut latencies = Vec::new();
    for r in 0..rounds {
        let (elapsed, mut round_latencies) = if name.starts_with("read") {
            read_round(client, skus, count, callers).await
        } else {
            round(client, skus, count, callers, &format!("{name}-{r}")).await
        };
        rates.push(count as f64 / elapsed.as_secs_f64());
        latencies.append(&mut round_latencies);
    }
    rates.sort_by(f64::total_cmp);
    latencies.sort();
    println!(
        "{name:<11} {callers:>3} {count:>6} x {rounds}  median {:>7.0}/s  (min {:>6.0}, max {:>6.0})  latency p50 {:>6.2} ms  p99 {:>6.2} ms",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

fn main() {
    let rounds = env_number("BENCH_ROUNDS", 5);
    let count = env_number("BENCH_RESERVATIONS", 2000);
    let callers = env_number("BENCH_CALLERS", 64);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = TestDatabase::create().await;
        let redis = TestRedis::new();
        let mut database = db.config();
        database.pool_size = 10;
        let config = Config {
            server: server_config(),
            database,
            redis: redis.config(),
            ..Config::from_env(&oms_platform::config::Env::default()).unwrap()
        };
        let server = TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await;
        let mut client = InventoryServiceClient::new(server.channel());

        let spread: Vec<String> = (0..1000).map(|i| format!("sku-{i:04}")).collect();
        let hot = vec!["hot-sku".to_owned()];
        let units = i32::try_from(rounds * count + 1).unwrap();
        seed(&mut client, &spread, units).await;
        seed(&mut client, &hot, units).await;
        // Warm up connections and caches before measuring.
        round(&client, &spread, 500, callers, "warmup").await;

        println!("oms-inventory Reserve throughput (one instance, gRPC loopback, local Postgres and Redis)");
        println!("workload    callers  calls x rounds");
        workload(&client, "spread", &spread, rounds, count, callers).await;
        workload(&client, "hot", &hot, rounds, count, callers).await;

        let uncached_config = Config {
            server: server_config(),
            database: db.config(),
            redis: redis.config(),
            availability_cache_ttl: Duration::ZERO,
            ..Config::from_env(&oms_platform::config::Env::default()).unwrap()
        };
        let uncached = TestServer::start(|listener, shutdown| run(uncached_config, listener, shutdown)).await;
        let uncached_client = InventoryServiceClient::new(uncached.channel());
        read_round(&client, &spread, 500, callers).await;
        println!("workload    callers  calls x rounds   (GetAvailability, 10 SKUs per call)");
        workload(&client, "read cached", &spread, rounds, count, callers).await;
        workload(&uncached_client, "read db", &spread, rounds, count, callers).await;
        uncached.stop().await.unwrap();
        server.stop().await.unwrap();
    });
}
