//! A fresh Postgres database per test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oms_platform::{
    config::{DEFAULT_DATABASE_URL, DatabaseConfig},
    db,
};
use sqlx::{
    ConnectOptions as _, Connection as _, PgPool,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

/// Test databases are named `oms_test_<unix seconds>_<random>`, so a later run
/// can drop the ones a killed run left behind.
const PREFIX: &str = "oms_test_";
/// Older leftovers than this are dropped when a new test database is made.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// A database of the test's own, dropped (with its connections) on drop.
pub struct TestDatabase {
    config: DatabaseConfig,
}

impl TestDatabase {
    /// Creates an empty database on the test server.
    pub async fn create() -> TestDatabase {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        let options = server_options().database(&name);
        db::create_database_if_missing(&options)
            .await
            .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
        drop_leftovers(now).await;
        TestDatabase {
            config: DatabaseConfig {
                options,
                // Tests run in parallel on a server that allows 100 connections.
                pool_size: 3,
                acquire_timeout: Duration::from_secs(10),
            },
        }
    }

    /// The config a service under test uses to reach this database.
    pub fn config(&self) -> DatabaseConfig {
        self.config.clone()
    }

    /// The URL of this database, for a service binary's `OMS_DATABASE_URL`.
    pub fn url(&self) -> String {
        let server = server_url();
        // The server's URL, its own database (if it names one) replaced.
        let (base, query) = server.split_once('?').unwrap_or((&server, ""));
        let authority = base.find("://").map_or(0, |scheme| scheme + 3);
        let base = base[authority..]
            .find('/')
            .map_or(base, |path| &base[..authority + path]);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("{base}/{}{query}", self.name())
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.config.database_name()
    }

    /// A pool of the test's own, e.g. to check what a service wrote.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(self.config.options.clone())
            .await
            .expect("connect to the test database")
    }
}

/// How the value of `column` in the row of `table` whose `key_column` is
/// `key` is stored: `lz4` or `pglz` when compressed, `None` when not.
pub async fn stored_compression(
    pool: &PgPool,
    table: &str,
    column: &str,
    key_column: &str,
    key: &str,
) -> Option<String> {
    // Names from the test itself, not from input.
    let sql = format!(
        "SELECT pg_column_compression({column}) FROM {table} WHERE {key_column}::text = $1"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_one(pool)
        .await
        .expect("read a value's compression")
}

/// The compression a value written now gets where a column asks for lz4:
/// `lz4`, or `pglz` on a server built without lz4.
pub async fn lz4_or_default(pool: &PgPool) -> &'static str {
    let lz4: bool = sqlx::query_scalar(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(pool)
    .await
    .expect("read the server's compression methods");
    if lz4 { "lz4" } else { "pglz" }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name().to_owned();
        // Drop cannot await; a thread with its own runtime can, inside or outside
        // the test's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            runtime.block_on(drop_database(&name))
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("test database not dropped: {err}");
        }
    }
}

fn server_url() -> String {
    std::env::var("OMS_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

fn server_options() -> PgConnectOptions {
    server_url()
        .parse::<PgConnectOptions>()
        .expect("OMS_DATABASE_URL is a postgres:// URL")
}

async fn admin() -> Result<PgConnection, sqlx::Error> {
    server_options().database("postgres").connect().await
}

async fn drop_database(name: &str) -> Result<(), sqlx::Error> {
    let mut admin = admin().await?;
    // FORCE ends the sessions of services and pools the test left open.
    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await?;
    admin.close().await
}

async fn drop_leftovers(now: u64) {
    let Ok(mut admin) = admin().await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'oms\\_test\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| created + LEFTOVER_AGE.as_secs() < now) {
            // Best effort: another test process may be dropping it too.
            let _ = drop_database(&name).await;
        }
    }
}
