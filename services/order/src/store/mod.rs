//! Postgres, the truth of every order: SQL and typed rows. A change runs on
//! its caller's transaction (the handler opens it with [`Store::begin`] and
//! commits it); reads outside a change take the pool.
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
    /// A store on an open pool whose migrations have run.
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for reads outside a change and the outbox.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the transaction of one change, for the caller to commit.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}
