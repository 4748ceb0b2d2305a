//! Creating databases, running migrations and the pool's liveness checks against
//! the real Postgres.

use std::time::Duration;

use oms_platform::db;
use oms_testkit::TestDatabase;
use sqlx::{
    ConnectOptions as _, Connection as _,
    migrate::{Migration, MigrationType, Migrator},
};

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "widgets".into(),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str("CREATE TABLE widgets (id bigint PRIMARY KEY)"),
        false,
    )])
}

async fn table_exists(pool: &sqlx::PgPool, table: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn connect_runs_platform_and_service_migrations_once_across_replicas() {
    let database = TestDatabase::create().await;
    let config = database.config();

    // Two replicas starting at once.
    let migrator = migrator();
    let (first, second) = tokio::join!(
        db::connect(&config, &migrator),
        db::connect(&config, &migrator)
    );
    let pool = first.unwrap();
    second.unwrap();

    assert!(table_exists(&pool, "widgets").await);
    assert!(table_exists(&pool, "idempotency_records").await);
    let service_versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(service_versions, [1]);
}

#[tokio::test]
async fn a_missing_database_is_created_even_when_replicas_race() {
    let database = TestDatabase::create().await;
    let name = format!("{}_new", database.name());
    let options = database.config().options.database(&name);

    let (first, second) = tokio::join!(
        db::create_database_if_missing(&options),
        db::create_database_if_missing(&options)
    );
    first.unwrap();
    second.unwrap();

    let mut connection = options.connect().await.unwrap();
    connection.ping().await.unwrap();
    connection.close().await.unwrap();
    let mut admin = database
        .config()
        .options
        .database("postgres")
        .connect()
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        r#"DROP DATABASE "{name}" WITH (FORCE)"#
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_database_name_that_needs_quoting_is_refused() {
    let database = TestDatabase::create().await;
    let options = database.config().options.database("orders\"; DROP");

    let err = db::create_database_if_missing(&options).await.unwrap_err();

    assert!(matches!(err, db::DbError::InvalidName(_)), "{err}");
}

/// The backend of the pool's one connection.
async fn backend(pool: &sqlx::PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Ends backend `pid` from another connection, as a Postgres restart or an
/// operator would, and waits until it is gone.
async fn terminate(database: &TestDatabase, pid: i32) {
    let mut admin = database.config().options.connect().await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended, "backend {pid} ended");
    admin.close().await.unwrap();
}

#[tokio::test]
async fn a_connection_idle_past_the_bypass_window_is_pinged_and_a_dead_one_replaced() {
    let database = TestDatabase::create().await;
    let pool = db::pool_options(1, Duration::from_secs(10), Duration::ZERO)
        .connect_with(database.config().options)
        .await
        .unwrap();
    let first = backend(&pool).await.unwrap();
    terminate(&database, first).await;

    // Pinged on the way out of the pool, found dead, replaced: no call fails.
    let second = backend(&pool).await.unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn within_the_bypass_window_a_dead_connection_fails_one_call_and_is_not_pooled_again() {
    let database = TestDatabase::create().await;
    let pool = db::pool_options(1, Duration::from_secs(10), Duration::from_secs(3600))
        .connect_with(database.config().options)
        .await
        .unwrap();
    let first = backend(&pool).await.unwrap();
    terminate(&database, first).await;

    // Handed out without a ping, it fails its call, as one the caller may
    // retry (UNAVAILABLE)...
    let err = backend(&pool)
        .await
        .expect_err("the dead connection's call fails");
    assert!(oms_platform::error::is_transient(&err), "{err}");
    // ...and is closed as it goes back, so the next call gets a new one.
    let second = backend(&pool).await.unwrap();
    assert_ne!(first, second);
}
