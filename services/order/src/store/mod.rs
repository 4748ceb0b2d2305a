//! Postgres, the truth of every order: SQL, typed rows, one transaction per
//! change.
//!
//! - [`orders`]: placing, reading and editing orders, with their timeline.
//! - [`search`]: the dashboard: search with keyset pages, stats, customer summary.
//! - [`status`]: MarkStatus' claim, snapshot and writes around the decision
//!   of `domain::status`.

pub mod orders;
pub mod search;
pub mod status;

use sqlx::{PgPool, Postgres, Transaction};

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the transaction of one change, for the caller to commit.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}
