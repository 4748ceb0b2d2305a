//! The testkit's own promises: what a test creates is its own and is gone after.

#![allow(clippy::unwrap_used, reason = "tests")]

use oms_testkit::{TestDatabase, TestRedis};
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
