//! Creating databases and running migrations against the real Postgres.

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
