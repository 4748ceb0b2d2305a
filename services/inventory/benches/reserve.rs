//! Reserve through the real service: gRPC on loopback, the local Postgres and
//! Redis, with one and with two inventory instances on one database (calls
//! alternate between them), many callers at once.
//!
//! Workloads, each reported per number of instances:
//! - spread: each Reserve takes 1 unit of one of 1,000 SKUs, round robin,
//!   closed loop (`BENCH_CALLERS` callers), median of `BENCH_ROUNDS` rounds;
//! - hot: every Reserve takes 1 unit of the same SKU, closed loop, median round;
//! - hot open: 1 unit of one SKU at a fixed rate (`BENCH_OPEN_RATE`, 2,000/s)
//!   for `BENCH_OPEN_SECONDS`, latency counted from each call's intended send
//!   time, so a stalled server cannot hide its queue (no coordinated omission);
//! - refusals: Reserve of a sold-out SKU, closed loop, median round;
//! - bare call: `grpc.health.v1.Health/Check` through the same server layers,
//!   closed loop, median round: the rate of calls that do nothing, which no
//!   refusal can beat, as a refusal is a call too;
//! - oversell: 2,000 callers' units of a SKU with 500, while every Redis key of
//!   the service is deleted every 20 ms; held beyond the stock is oversell;
//! - read cached / read db: GetAvailability of 10 SKUs, from an instance with
//!   the Redis cache and from one without it (same database).
//!
//! The table at the end is the one of the flash-sale goals. `make bench` runs
//! it. `BENCH_ROUNDS`, `BENCH_RESERVATIONS`, `BENCH_CALLERS`,
//! `BENCH_OPEN_RATE` and `BENCH_OPEN_SECONDS` change the sizes;
//! `BENCH_WORKLOADS` (e.g. `hot,refusals`) runs only the workloads it names
//! and `BENCH_INSTANCES` (`1` or `2`) only that number of instances, to
//! profile one of them.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark reports on stdout"
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
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
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

type Client = InventoryServiceClient<oms_platform::client::OmsChannel>;
type Health = HealthClient<oms_platform::client::OmsChannel>;

/// Units of the SKU of the oversell workload, and the units asked for it.
const OVERSELL_STOCK: i32 = 500;
const OVERSELL_CALLS: usize = 2000;
/// How often the oversell workload deletes every Redis key of the service.
const REDIS_LOSS_EVERY: Duration = Duration::from_millis(20);

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

async fn put_location(client: &mut Client) {
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
}

async fn seed(client: &mut Client, skus: &[String], units: i32) {
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

fn one_unit(order: String, sku: String) -> ReserveRequest {
    ReserveRequest {
        order_id: oms_testkit::minted_id(&order),
        lines: vec![ReservationLine {
            sku,
            location_id: "wh-1".into(),
            quantity: 1,
        }],
        ttl: None,
        channel: None,
        actor: actor(),
    }
}

/// What the calls of a round came to.
#[derive(Default)]
struct Calls {
    elapsed: Duration,
    latencies: Vec<Duration>,
    held: usize,
    refused: usize,
    failed: usize,
}

/// One closed-loop round: `count` reservations by `callers` concurrent
/// callers, alternating between `clients`.
async fn round(
    clients: &[Client],
    skus: &[String],
    count: usize,
    callers: usize,
    tag: &str,
) -> Calls {
    let permits = Arc::new(Semaphore::new(callers));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(count);
    for index in 0..count {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let mut client = clients[index % clients.len()].clone();
        let request = one_unit(format!("{tag}-{index}"), skus[index % skus.len()].clone());
        calls.push(tokio::spawn(async move {
            let call = Instant::now();
            let outcome = client.reserve(request).await;
            drop(permit);
            (call.elapsed(), outcome)
        }));
    }
    collect(started, calls).await
}

/// One open-loop run: a Reserve of `sku` every `1 / rate` s for `seconds`,
/// each latency counted from the time the call was due to be sent.
async fn open_loop(clients: &[Client], sku: &str, rate: usize, seconds: usize, tag: &str) -> Calls {
    let count = rate * seconds;
    let interval = Duration::from_secs(1).div_f64(rate as f64);
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let mut calls = Vec::with_capacity(count);
    for index in 0..count {
        let due = start + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due).await;
        let mut client = clients[index % clients.len()].clone();
        let request = one_unit(format!("{tag}-{index}"), sku.to_owned());
        calls.push(tokio::spawn(async move {
            let outcome = client.reserve(request).await;
            (due.elapsed(), outcome)
        }));
    }
    collect(started, calls).await
}

type Call = tokio::task::JoinHandle<(
    Duration,
    Result<tonic::Response<oms_proto::inventory::v1::ReserveResponse>, tonic::Status>,
)>;

async fn collect(started: Instant, calls: Vec<Call>) -> Calls {
    let mut outcome = Calls {
        latencies: Vec::with_capacity(calls.len()),
        ..Calls::default()
    };
    for call in calls {
        let (latency, result) = call.await.unwrap();
        outcome.latencies.push(latency);
        match result {
            Ok(_) => outcome.held += 1,
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                outcome.refused += 1;
            }
            Err(_) => outcome.failed += 1,
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One closed-loop round of `count` health checks by `callers` concurrent
/// callers, alternating between `clients`; each answer counts as held.
async fn bare_round(clients: &[Health], count: usize, callers: usize) -> Calls {
    let permits = Arc::new(Semaphore::new(callers));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(count);
    for index in 0..count {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let mut client = clients[index % clients.len()].clone();
        calls.push(tokio::spawn(async move {
            let call = Instant::now();
            let outcome = client.check(HealthCheckRequest::default()).await;
            drop(permit);
            (call.elapsed(), outcome.is_ok())
        }));
    }
    let mut outcome = Calls::default();
    for call in calls {
        let (latency, ok) = call.await.unwrap();
        outcome.latencies.push(latency);
        if ok {
            outcome.held += 1;
        } else {
            outcome.failed += 1;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One round of `count` GetAvailability calls of 10 SKUs each.
async fn read_round(client: &Client, skus: &[String], count: usize, callers: usize) -> Calls {
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
    Calls {
        elapsed: started.elapsed(),
        latencies,
        ..Calls::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The median rate of `rounds` and the latencies of all of them.
struct Summary {
    median: f64,
    min: f64,
    max: f64,
    p50: Duration,
    p99: Duration,
    failed: usize,
}

fn summarize(rounds: Vec<(f64, Calls)>) -> Summary {
    let mut rates: Vec<f64> = rounds.iter().map(|(rate, _)| *rate).collect();
    rates.sort_by(f64::total_cmp);
    let mut latencies: Vec<Duration> = rounds
        .iter()
        .flat_map(|(_, calls)| calls.latencies.iter().copied())
        .collect();
    latencies.sort();
    Summary {
        median: rates[rates.len() / 2],
        min: rates[0],
        max: rates[rates.len() - 1],
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        failed: rounds.iter().map(|(_, calls)| calls.failed).sum(),
    }
}

fn print_row(name: &str, replicas: usize, what: &str, summary: &Summary) {
    println!(
        "{name:<11} {replicas:>8}  {what:<16} median {:>7.0}/s  (min {:>6.0}, max {:>6.0})  latency p50 {:>7.2} ms  p99 {:>7.2} ms  failed {}",
        summary.median,
        summary.min,
        summary.max,
        ms(summary.p50),
        ms(summary.p99),
        summary.failed,
    );
}

/// Sizes of a run, and the workloads it runs.
struct Sizes {
    rounds: usize,
    count: usize,
    callers: usize,
    open_rate: usize,
    open_seconds: usize,
    /// The workloads named in `BENCH_WORKLOADS`; all when it is unset.
    only: Option<Vec<String>>,
    /// The number of instances in `BENCH_INSTANCES`; one and two when unset.
    instances: Option<usize>,
}

impl Sizes {
    /// Whether the run includes the workload `name`.
    fn runs(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|wanted| wanted == name))
    }
}

/// The flash-sale figures of one number of instances; `None` for a workload
/// the run left out.
#[derive(Default)]
struct Figures {
    hot: Option<f64>,
    open_p99: Option<f64>,
    refusals: Option<f64>,
    bare: Option<f64>,
    oversell: Option<i64>,
    spread: Option<f64>,
}

/// Every Reserve workload of `sizes` against `clients` (one per instance).
async fn reserve_workloads(
    clients: &[Client],
    health: &[Health],
    redis: &TestRedis,
    sizes: &Sizes,
    units: i32,
) -> Figures {
    let replicas = clients.len();
    let mut seeder = clients[0].clone();
    let spread: Vec<String> = (0..1000)
        .map(|i| format!("r{replicas}-sku-{i:04}"))
        .collect();
    let hot = format!("r{replicas}-hot");
    let open = format!("r{replicas}-open");
    let gone = format!("r{replicas}-gone");
    let flushed = format!("r{replicas}-flushed");
    seed(&mut seeder, &spread, units).await;
    seed(&mut seeder, &[hot.clone(), open.clone()], units).await;
    seed(&mut seeder, std::slice::from_ref(&gone), 100).await;
    seed(&mut seeder, std::slice::from_ref(&flushed), OVERSELL_STOCK).await;
    // Warm up connections and caches before measuring.
    round(
        clients,
        &spread,
        500,
        sizes.callers,
        &format!("r{replicas}-warmup"),
    )
    .await;

    let closed = async |name: &str, skus: &[String]| {
        let mut rounds = Vec::new();
        for r in 0..sizes.rounds {
            let tag = format!("r{replicas}-{name}-{r}");
            let calls = round(clients, skus, sizes.count, sizes.callers, &tag).await;
            let done = if name == "refusals" {
                calls.refused
            } else {
                calls.held
            };
            rounds.push((done as f64 / calls.elapsed.as_secs_f64(), calls));
        }
        let summary = summarize(rounds);
        print_row(
            name,
            replicas,
            &format!("{} callers", sizes.callers),
            &summary,
        );
        summary.median
    };
    let mut figures = Figures::default();
    if sizes.runs("spread") {
        figures.spread = Some(closed("spread", &spread).await);
    }
    if sizes.runs("hot") {
        figures.hot = Some(closed("hot", std::slice::from_ref(&hot)).await);
    }
    if sizes.runs("open") {
        let calls = open_loop(
            clients,
            &open,
            sizes.open_rate,
            sizes.open_seconds,
            &format!("r{replicas}-open"),
        )
        .await;
        let summary = summarize(vec![(
            calls.held as f64 / calls.elapsed.as_secs_f64(),
            calls,
        )]);
        print_row(
            "hot open",
            replicas,
            &format!("{}/s offered", sizes.open_rate),
            &summary,
        );
        figures.open_p99 = Some(ms(summary.p99));
    }
    if sizes.runs("refusals") {
        // Sell the SKU out, then ask for it again and again.
        let sold = round(
            clients,
            std::slice::from_ref(&gone),
            100,
            sizes.callers,
            &format!("r{replicas}-sellout"),
        )
        .await;
        assert_eq!((sold.held, sold.refused), (100, 0), "the SKU sells out");
        figures.refusals = Some(closed("refusals", std::slice::from_ref(&gone)).await);
    }
    if sizes.runs("bare") {
        let mut rounds = Vec::new();
        for _ in 0..sizes.rounds {
            let calls = bare_round(health, sizes.count, sizes.callers).await;
            rounds.push((calls.held as f64 / calls.elapsed.as_secs_f64(), calls));
        }
        let summary = summarize(rounds);
        print_row(
            "bare call",
            replicas,
            &format!("{} callers", sizes.callers),
            &summary,
        );
        figures.bare = Some(summary.median);
    }
    if sizes.runs("oversell") {
        figures.oversell = Some(oversell(clients, redis, &flushed, sizes.callers, replicas).await);
    }
    figures
}

/// Units held beyond the stock while every Redis key of the service is deleted
/// every 20 ms.
async fn oversell(
    clients: &[Client],
    redis: &TestRedis,
    sku: &str,
    callers: usize,
    replicas: usize,
) -> i64 {
    let deleting = Arc::new(AtomicBool::new(true));
    let deleter = {
        let deleting = deleting.clone();
        let mut connection = redis.connection().await;
        let prefix = redis.config().key_prefix;
        tokio::spawn(async move {
            let mut deletions = 0_usize;
            while deleting.load(Ordering::Relaxed) {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{prefix}*"))
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(&keys)
                        .query_async(&mut connection)
                        .await
                        .unwrap();
                }
                deletions += 1;
                tokio::time::sleep(REDIS_LOSS_EVERY).await;
            }
            deletions
        })
    };
    let skus = [sku.to_owned()];
    let tag = format!("r{replicas}-oversell");
    let calls = round(clients, &skus, OVERSELL_CALLS, callers, &tag).await;
    deleting.store(false, Ordering::Relaxed);
    let deletions = deleter.await.unwrap();
    let stock = clients[0]
        .clone()
        .get_availability(GetAvailabilityRequest {
            skus: skus.to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .skus
        .remove(0);
    let held = i64::try_from(calls.held).unwrap();
    let oversell = (held - i64::from(OVERSELL_STOCK))
        .max(i64::from(stock.reserved - stock.on_hand))
        .max(0);
    println!(
        "{:<11} {replicas:>8}  {:<16} held {held} of {OVERSELL_STOCK}, reserved {} of on hand {}, refused {}, failed {}, redis emptied {deletions} times: oversell {oversell}",
        "oversell",
        format!("{callers} callers"),
        stock.reserved,
        stock.on_hand,
        calls.refused,
        calls.failed,
    );
    oversell
}

async fn instance(db: &TestDatabase, redis: &TestRedis, cache: Duration) -> TestServer {
    let mut database = db.config();
    database.pool_size = 10;
    let config = Config {
        server: server_config(),
        database,
        redis: redis.config(),
        availability_cache_ttl: cache,
        ..Config::from_env(&oms_platform::config::Env::default()).unwrap()
    };
    TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
}

fn main() {
    let sizes = Sizes {
        rounds: env_number("BENCH_ROUNDS", 5),
        count: env_number("BENCH_RESERVATIONS", 2000),
        callers: env_number("BENCH_CALLERS", 64),
        open_rate: env_number("BENCH_OPEN_RATE", 2000),
        open_seconds: env_number("BENCH_OPEN_SECONDS", 3),
        only: std::env::var("BENCH_WORKLOADS").ok().map(|names| {
            names
                .split(',')
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect()
        }),
        instances: std::env::var("BENCH_INSTANCES")
            .ok()
            .and_then(|value| value.parse().ok()),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = TestDatabase::create().await;
        let redis = TestRedis::new();
        let cache = Config::from_env(&oms_platform::config::Env::default())
            .unwrap()
            .availability_cache_ttl;
        let first = instance(&db, &redis, cache).await;
        let second = instance(&db, &redis, cache).await;
        let clients = [
            InventoryServiceClient::new(first.channel()),
            InventoryServiceClient::new(second.channel()),
        ];
        let health = [
            HealthClient::new(first.channel()),
            HealthClient::new(second.channel()),
        ];
        put_location(&mut clients[0].clone()).await;
        let units = i32::try_from(
            (sizes.rounds * sizes.count).max(sizes.open_rate * sizes.open_seconds) + 1,
        )
        .unwrap();

        println!(
            "oms-inventory Reserve (gRPC loopback, local Postgres and Redis; calls alternate between the instances)"
        );
        println!("workload    instances  callers/rate");
        let mut figures = Vec::new();
        for replicas in 1..=2 {
            figures.push(if sizes.instances.is_none_or(|only| only == replicas) {
                reserve_workloads(
                    &clients[..replicas],
                    &health[..replicas],
                    &redis,
                    &sizes,
                    units,
                )
                .await
            } else {
                Figures::default()
            });
        }
        let [one, two] = <[Figures; 2]>::try_from(figures).ok().unwrap();

        let uncached = instance(&db, &redis, Duration::ZERO).await;
        if sizes.runs("read") {
            let spread: Vec<String> = (0..1000).map(|i| format!("r1-sku-{i:04}")).collect();
            let uncached_client = InventoryServiceClient::new(uncached.channel());
            read_round(&clients[0], &spread, 500, sizes.callers).await;
            println!(
                "workload    instances  callers/rate      (GetAvailability, 10 SKUs per call)"
            );
            for (name, client) in [("read cached", &clients[0]), ("read db", &uncached_client)] {
                let mut rounds = Vec::new();
                for _ in 0..sizes.rounds {
                    let calls = read_round(client, &spread, sizes.count, sizes.callers).await;
                    rounds.push((sizes.count as f64 / calls.elapsed.as_secs_f64(), calls));
                }
                print_row(name, 1, &format!("{} callers", sizes.callers), &summarize(rounds));
            }
        }

        let rate = |figure: Option<f64>| figure.map_or_else(|| "-".to_owned(), |f| format!("{f:.0}"));
        let millis =
            |figure: Option<f64>| figure.map_or_else(|| "-".to_owned(), |f| format!("{f:.1} ms"));
        let count = |figure: Option<i64>| figure.map_or_else(|| "-".to_owned(), |f| f.to_string());
        println!();
        println!("| figure | 1 instance | 2 instances |");
        println!("|---|---|---|");
        println!(
            "| reservations/s on one hot SKU ({} callers) | {} | {} |",
            sizes.callers,
            rate(one.hot),
            rate(two.hot)
        );
        println!(
            "| p99 Reserve latency on the hot SKU at {}/s open loop | {} | {} |",
            sizes.open_rate,
            millis(one.open_p99),
            millis(two.open_p99)
        );
        println!(
            "| refusals/s once sold out | {} | {} |",
            rate(one.refusals),
            rate(two.refusals)
        );
        println!(
            "| bare calls/s (Health/Check, same layers: what a refusal cannot beat) | {} | {} |",
            rate(one.bare),
            rate(two.bare)
        );
        println!(
            "| oversell, Redis keys deleted every 20 ms | {} | {} |",
            count(one.oversell),
            count(two.oversell)
        );
        println!(
            "| spread workload (1,000 SKUs), reservations/s | {} | {} |",
            rate(one.spread),
            rate(two.spread)
        );
        uncached.stop().await.unwrap();
        second.stop().await.unwrap();
        first.stop().await.unwrap();
    });
}
