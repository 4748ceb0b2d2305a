//! The testkit's own promises: what a test creates (databases, Redis keys,
//! captured logs) is its own and is gone after.

#![allow(clippy::unwrap_used, reason = "tests")]

use oms_testkit::{TestDatabase, TestRedis, logs::CapturedLogs};
use redis::AsyncCommands as _;
use sqlx::{ConnectOptions as _, postgres::PgConnectOptions};

async fn database_exists(options: &PgConnectOptions, name: &str) -> bool {
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .unwrap();
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_test_database_is_empty_and_dropped_with_its_connections() {
    let database = TestDatabase::create().await;
    let name = database.name().to_owned();
    let options = database.config().options;
    let pool = database.pool().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    assert!(database_exists(&options, &name).await);

    // The pool is still open: dropping must end its sessions.
    drop(database);

    assert!(!database_exists(&options, &name).await);
}

#[tokio::test]
async fn two_test_databases_are_different() {
    let first = TestDatabase::create().await;
    let second = TestDatabase::create().await;
    assert_ne!(first.name(), second.name());
}

#[tokio::test]
async fn a_test_redis_prefix_is_cleaned_up_on_drop() {
    let redis = TestRedis::new();
    let prefix = redis.config().key_prefix;
    let mut connection = redis.connection().await;
    let _: () = connection
        .set(format!("{prefix}lock"), "held")
        .await
        .unwrap();

    drop(redis);

    let left: Vec<String> = connection.keys(format!("{prefix}*")).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// Logs one event from a callsite of its own, shared by whoever calls it.
fn log_from_a_shared_callsite(marker: &str) {
    tracing::info!(marker, "shared callsite");
}

// Under cargo test, another test's thread, which captures nothing, may reach a
// callsite before the capturing test does: its events must still be captured.
#[tokio::test(flavor = "current_thread")]
async fn captured_logs_keep_events_whose_callsite_another_thread_reached_first() {
    let captured = CapturedLogs::start();

    std::thread::spawn(|| log_from_a_shared_callsite("elsewhere"))
        .join()
        .unwrap();
    log_from_a_shared_callsite("here");

    assert!(captured.mentions("here"), "{}", captured.text());
    assert!(!captured.mentions("elsewhere"), "{}", captured.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_logs_hold_every_thread_of_the_tests_runtime_and_no_other_runtime() {
    let captured = CapturedLogs::start();

    tokio::spawn(async { tracing::info!("on a worker thread") })
        .await
        .unwrap();
    tokio::task::spawn_blocking(|| tracing::info!("on a blocking thread"))
        .await
        .unwrap();
    // Another test, in a runtime of its own.
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _theirs = CapturedLogs::start();
            tracing::info!("in another test's runtime");
        });
    })
    .join()
    .unwrap();

    let text = captured.text();
    assert!(text.contains("on a worker thread"), "{text}");
    assert!(text.contains("on a blocking thread"), "{text}");
    assert!(!text.contains("another test"), "{text}");
}
