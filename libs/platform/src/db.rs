//! Postgres: the service's own database, created when missing, a small pool, and
//! the embedded migrations run at start.
//!
//! Two replicas starting at once are safe: creating the database tolerates losing
//! the race, and sqlx holds a Postgres advisory lock while migrations run.
//!
//! [`check`] tells whether the server answers at all, so a process can say so,
//! naming `OMS_DATABASE_URL` and the server's host:port, before it serves.

use std::time::Duration;

use sqlx::{
    ConnectOptions as _, Connection as _, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

use opentelemetry::{KeyValue, metrics::Meter};

use crate::config::DatabaseConfig;

/// The platform's own tables (idempotency records), in every service database.
/// Tracked in a migrations table of their own, so each service's migrations keep
/// their numbering.
static PLATFORM_MIGRATOR: Migrator = sqlx::migrate!("./migrations");
const PLATFORM_MIGRATIONS_TABLE: &str = "_oms_platform_migrations";

/// How long [`check`] waits for the server to answer: a host that drops packets
/// would otherwise hold the start for minutes.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection used less than this long ago is handed out without a
/// ping. sqlx pings a connection as it goes back to the pool, and by default
/// again as it comes out: one more round trip to Postgres for every statement
/// or transaction. A connection back in the pool for less than this was alive
/// when it came back; one that has died since fails its one call (UNAVAILABLE,
/// which the caller retries) and is closed, not pooled again. The same window
/// as HikariCP's `aliveBypassWindowMs`.
pub const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// Why the database could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database name is not one we create (letters, digits and `_` only).
    #[error("database name {0:?} must be 1 to 63 characters of [a-z0-9_]")]
    InvalidName(String),
    /// The server could not be reached, or refused the connection. Names the
    /// server's host and port, never the URL, which may hold a password.
    #[error("OMS_DATABASE_URL: cannot connect to postgres at {address}: {reason}")]
    Unreachable {
        /// The server, as `host:port`.
        address: String,
        /// Why, e.g. the connection was refused or timed out.
        reason: String,
    },
    /// Postgres refused or could not be reached.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Creates the database if missing, opens the pool and runs the platform's and
/// the service's migrations.
pub async fn connect(config: &DatabaseConfig, migrator: &Migrator) -> Result<PgPool, DbError> {
    create_database_if_missing(&config.options).await?;
    let pool = pool_options(config.pool_size, config.acquire_timeout, ALIVE_BYPASS)
        .connect_with(config.options.clone())
        .await
        .map_err(|err| unreachable(&config.options, &err))?;
    observe_pool(
        &pool,
        config.options.get_database().unwrap_or("postgres"),
        &opentelemetry::global::meter("oms"),
    );
    let mut platform = Migrator::with_migrations(PLATFORM_MIGRATOR.iter().cloned().collect());
    platform.dangerous_set_table_name(PLATFORM_MIGRATIONS_TABLE);
    platform.run(&pool).await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// A pool of at most `size` connections that waits at most `acquire_timeout`
/// for one, and pings a connection before handing it out only when it has been
/// idle for `alive_bypass` or longer ([`ALIVE_BYPASS`] in the services).
pub fn pool_options(size: u32, acquire_timeout: Duration, alive_bypass: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= alive_bypass {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Reports the pool's connections with `meter`, by the OpenTelemetry database
/// conventions: `db.client.connection.count` by `db.client.connection.state`
/// (`idle` or `used`) and `db.client.connection.max`, each with
/// `db.client.connection.pool.name` set to `name`. A pool that is waited on
/// shows as `used` equal to `max`: the sign a handler holds connections too long
/// or the pool is too small. Nothing is reported once the pool is closed.
pub fn observe_pool(pool: &PgPool, name: &str, meter: &Meter) {
    let pool_name = KeyValue::new("db.client.connection.pool.name", name.to_owned());
    let (counted, attributes) = (pool.clone(), pool_name.clone());
    meter
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Connections of the pool, by state: idle or used")
        .with_callback(move |observer| {
            if counted.is_closed() {
                return;
            }
            let size = i64::from(counted.size());
            let idle = i64::try_from(counted.num_idle()).unwrap_or(i64::MAX);
            for (state, value) in [("idle", idle), ("used", (size - idle).max(0))] {
                observer.observe(
                    value,
                    &[
                        attributes.clone(),
                        KeyValue::new("db.client.connection.state", state),
                    ],
                );
            }
        })
        .build();
    let limited = pool.clone();
    meter
        .i64_observable_up_down_counter("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the pool opens")
        .with_callback(move |observer| {
            if !limited.is_closed() {
                observer.observe(
                    i64::from(limited.options().get_max_connections()),
                    std::slice::from_ref(&pool_name),
                );
            }
        })
        .build();
}

/// Creates the database `options` names, unless it exists. Connects to the
/// server's `postgres` database to do so.
pub async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), DbError> {
    let name = options.get_database().unwrap_or_default().to_owned();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if !valid {
        return Err(DbError::InvalidName(name));
    }

    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(|err| unreachable(options, &err))?;
    let result = create_unless_exists(&mut admin, &name).await;
    admin.close().await?;
    result
}

/// Whether the server answers and lets us in: a connection to its `postgres`
/// database (the service's own may not exist yet), closed at once.
pub async fn check(config: &DatabaseConfig) -> Result<(), DbError> {
    let admin = config.options.clone().database("postgres");
    match tokio::time::timeout(CHECK_TIMEOUT, admin.connect()).await {
        Ok(Ok(connection)) => {
            // It answered; a failed goodbye changes nothing.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(unreachable(&config.options, &err)),
        Err(_elapsed) => Err(DbError::Unreachable {
            address: address(&config.options),
            reason: format!("no answer within {CHECK_TIMEOUT:?}"),
        }),
    }
}

fn address(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// The error of a pool on `options` that could not open a connection: names
/// the server, never the URL.
pub fn unreachable(options: &PgConnectOptions, err: &sqlx::Error) -> DbError {
    DbError::Unreachable {
        address: address(options),
        // sqlx's connection errors say what failed (refused, authentication),
        // never the URL.
        reason: err.to_string(),
    }
}

async fn create_unless_exists(admin: &mut PgConnection, name: &str) -> Result<(), DbError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut *admin)
            .await?;
    if exists {
        return Ok(());
    }
    // The name was checked above: it needs no quoting beyond the double quotes.
    match sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut *admin)
        .await
    {
        Ok(_) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
        // Another replica created it first: duplicate_database, or the unique
        // index on pg_database when both inserts raced.
        Err(sqlx::Error::Database(err))
            if matches!(err.code().as_deref(), Some("42P04" | "23505")) =>
        {
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}
