//! Postgres commits and gRPC calls per order, counted exactly on one
//! in-process suite (`cargo run -p oms-e2e --example commits -- [orders]
//! [concurrency]`).
//!
//! Each service of a [`World`] has a fresh database of its own, so the change
//! of `pg_stat_database.xact_commit` of those seven databases while N web
//! orders are placed and driven to CONFIRMED is the orders' cost, plus the
//! background work (outbox polls, lease renewals, sweeps) of those seconds.
//! That background rate is measured first over an idle window and taken off.
//! Postgres publishes a backend's counts up to 10 s late once it goes idle, so
//! every sample is taken [`SETTLE`] after the work it must include. Whether the
//! orders ended is read from the coordinator's table directly (one simple
//! query per poll, each one commit, taken off too), not through its API, so the
//! watch adds no gRPC call and no unknown cost.
//!
//! Calls are the count of the `rpc.server.call.duration` histogram per method
//! between placing the first order and the last saga's end, read from a meter
//! provider this process installs before the services start.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measuring tool: its table is its output, and it stops at the first surprise"
)]

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use oms_e2e::{
    Settings,
    world::{BERLIN, HAMBURG, World},
};
use oms_order::test_util::web_order;
use opentelemetry::Value;
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, SdkMeterProvider,
    data::{AggregatedMetrics, MetricData},
};
use sqlx::{Connection as _, PgConnection, Row as _};

/// How long a sample waits for the counts of the work before it.
const SETTLE: Duration = Duration::from_secs(12);
/// How long the background rate is measured.
const IDLE: Duration = Duration::from_secs(10);
/// Orders placed (and waited for) before anything is counted, so that each
/// pooled connection has prepared its statements.
const WARM_UP: usize = 40;
/// The services' polls and sweeps: rare, so that the idle rate is near zero;
/// each service wakes its own workers at once for new work.
const QUIET: Duration = Duration::from_secs(3600);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let orders: usize = args
        .next()
        .map_or(300, |n| n.parse().expect("orders: a number"));
    let concurrency: usize = args
        .next()
        .map_or(8, |n| n.parse().expect("concurrency: a number"));

    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_meter_provider(meters.clone());

    // Background work every hour, not every 50 ms: what is left is the orders'.
    let world = Arc::new(
        World::start_with(Settings {
            saga_config: Some(Box::new(|config| config.engine.poll = QUIET)),
            shipping: Some(Box::new(|config| config.outbox_poll = QUIET)),
            inventory: Some(Box::new(|config| {
                config.expiry_interval = QUIET;
                config.ledger_poll = QUIET;
            })),
            order: Some(Box::new(|config| config.outbox_poll = QUIET)),
            returns: Some(Box::new(|config| config.outbox_poll = QUIET)),
            ..Settings::default()
        })
        .await,
    );
    for location in [BERLIN, HAMBURG] {
        world.stock("TEE-M", location, 10_000_000).await;
        world.stock("CAP", location, 10_000_000).await;
    }
    let databases: Vec<(String, String)> = world
        .suite
        .services()
        .into_iter()
        .map(|(service, running)| (service.to_string(), running.database.name().to_owned()))
        .collect();
    let server = std::env::var("OMS_DATABASE_URL")
        .unwrap_or_else(|_| oms_platform::config::DEFAULT_DATABASE_URL.to_owned());
    let mut stats = PgConnection::connect(&server).await.expect("the server");
    let saga_url = world.suite.saga.as_ref().unwrap().database.url();
    let mut watch = PgConnection::connect(&saga_url)
        .await
        .expect("the saga database");
    let mut polls = 0u64;

    place(&world, "warm", WARM_UP, concurrency).await;
    wait_for(&mut watch, &mut polls, WARM_UP).await;
    tokio::time::sleep(SETTLE).await;

    let idle_start = (Instant::now(), commits(&mut stats, &databases).await);
    let polls_before_idle = polls;
    tokio::time::sleep(IDLE).await;
    let idle_end = (Instant::now(), commits(&mut stats, &databases).await);
    assert_eq!(polls, polls_before_idle);

    let calls_before = calls(&meters, &exporter);
    let polls_before = polls;
    let started = Instant::now();
    place(&world, "run", orders, concurrency).await;
    wait_for(&mut watch, &mut polls, WARM_UP + orders).await;
    let took = started.elapsed();
    let calls_after = calls(&meters, &exporter);
    tokio::time::sleep(SETTLE).await;
    let end = (Instant::now(), commits(&mut stats, &databases).await);
    let run_polls = polls - polls_before;

    let idle_seconds = (idle_end.0 - idle_start.0).as_secs_f64();
    let run_seconds = (end.0 - idle_end.0).as_secs_f64();
    println!(
        "{orders} orders, {concurrency} at a time, confirmed in {:.1} s; idle window {idle_seconds:.1} s, counted window {run_seconds:.1} s",
        took.as_secs_f64()
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "database", "commits", "idle/s", "per order"
    );
    let mut total = 0.0;
    for (service, _) in &databases {
        let idle_rate = (idle_end.1[service] - idle_start.1[service]) as f64 / idle_seconds;
        let mut counted = (end.1[service] - idle_end.1[service]) as f64;
        if service == "saga" {
            counted -= run_polls as f64;
        }
        let per_order = (counted - idle_rate * run_seconds) / orders as f64;
        total += per_order;
        println!("{service:<10} {counted:>10.0} {idle_rate:>10.2} {per_order:>10.2}");
    }
    println!("{:<10} {:>10} {:>10} {total:>10.2}", "total", "", "");

    println!("\n{:<58} {:>10}", "calls served", "per order");
    let mut total_calls = 0.0;
    for (method, after) in &calls_after {
        let before = calls_before.get(method).copied().unwrap_or(0);
        let per_order = (after - before) as f64 / orders as f64;
        if per_order > 0.0 && !method.starts_with("grpc.") {
            total_calls += per_order;
            println!("{method:<58} {per_order:>10.2}");
        }
    }
    println!("{:<58} {total_calls:>10.2}", "total");
    if let Ok(world) = Arc::try_unwrap(world) {
        world.suite.stop().await;
    }
}

/// Places `count` web orders, `concurrency` at a time.
async fn place(world: &Arc<World>, label: &str, count: usize, concurrency: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (world, next, label) = (world.clone(), next.clone(), label.to_owned());
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                world.place(web_order(&format!("{label}-{n}"))).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a worker placed its orders");
    }
}

/// Polls the coordinator's table until `count` order sagas ended; panics
/// unless every one of them completed.
async fn wait_for(watch: &mut PgConnection, polls: &mut u64, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        *polls += 1;
        let row = sqlx::raw_sql(
            "SELECT count(*) FILTER (WHERE state IN (3, 4, 5)), count(*) FILTER (WHERE state = 3) FROM sagas WHERE kind = 1",
        )
        .fetch_one(&mut *watch)
        .await
        .expect("the sagas");
        let (ended, completed): (i64, i64) = (row.get(0), row.get(1));
        if ended as usize >= count {
            assert_eq!(completed as usize, count, "every saga completed");
            return;
        }
        assert!(Instant::now() < deadline, "{ended} of {count} sagas ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `xact_commit` of each service's database, by service.
async fn commits(
    stats: &mut PgConnection,
    databases: &[(String, String)],
) -> BTreeMap<String, u64> {
    let mut commits = BTreeMap::new();
    for (service, database) in databases {
        let count: i64 =
            sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
                .bind(database)
                .fetch_one(&mut *stats)
                .await
                .expect("the database's counts");
        commits.insert(service.clone(), u64::try_from(count).unwrap());
    }
    commits
}

/// Calls served so far by method (cumulative).
fn calls(meters: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> BTreeMap<String, u64> {
    meters.force_flush().expect("metrics flushed");
    let exported = exporter.get_finished_metrics().expect("metrics read");
    let mut latest = BTreeMap::new();
    for resource in &exported {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                if metric.name() != "rpc.server.call.duration" {
                    continue;
                }
                let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
                    continue;
                };
                let mut counts = BTreeMap::new();
                for point in histogram.data_points() {
                    let method = point
                        .attributes()
                        .find(|kv| kv.key.as_str() == "rpc.method")
                        .map_or_else(String::new, |kv| match &kv.value {
                            Value::String(s) => s.to_string(),
                            other => other.to_string(),
                        });
                    *counts.entry(method).or_insert(0) += point.count();
                }
                // Exports come oldest first, cumulative: the last one is the latest.
                latest = counts;
            }
        }
    }
    latest
}
