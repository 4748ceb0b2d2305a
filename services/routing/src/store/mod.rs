//! Postgres, the truth of routing: SQL and typed rows. A change of several
//! statements runs on its caller's transaction ([`Store::begin`]); reads and
//! one-statement writes take the pool.
//!
//! - [`policies`]: routing policies and their versions; the default policy.
//! - [`attributes`]: routing attributes of locations, and the start of each
//!   location's local day (Postgres knows the IANA time zones).

pub mod attributes;
pub mod policies;

use sqlx::{PgPool, Postgres, Transaction};

pub use attributes::AttributesRow;
pub use policies::{PolicyRecord, PutPolicy};

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// The IANA time zones Postgres knows, read once: `pg_timezone_names`
    /// reads the zone files at every query, too slow for every write.
    time_zones: std::sync::Arc<tokio::sync::OnceCell<std::collections::HashSet<String>>>,
}

impl Store {
    /// A store on an open pool whose migrations have run.
    pub fn new(pool: PgPool) -> Store {
        Store {
            pool,
            time_zones: std::sync::Arc::default(),
        }
    }

    /// Opens the transaction of one change, for the caller to commit.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}
