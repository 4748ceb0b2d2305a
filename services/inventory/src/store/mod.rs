//! Postgres, the truth of the inventory: SQL, typed rows, one transaction per
//! change.
//!
//! - [`locations`]: locations and channel availability policies.
//! - [`stock`]: the stock ledger: counts, adjustments, transfers, restocks,
//!   safety stock, thresholds, availability reads.
//! - [`reservations`]: Reserve, Release, CommitReservation and expiry, the hot path.
//! - [`ledger`]: reading the ledger's tail in order, for WatchAvailability.
//!
//! Every change to a stock row writes its ledger entry in the same statement or
//! transaction, with the position it takes from `stock_ledger_sequence`.

pub mod ledger;
pub mod locations;
pub mod reservations;
pub mod stock;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::{Actor, StockFigures};

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

/// One (SKU, location) stock row.
#[derive(Debug, Clone, FromRow)]
pub struct StockRow {
    pub sku: String,
    pub location_id: String,
    pub on_hand: i32,
    pub reserved: i32,
    pub safety_stock: i32,
    pub low_stock_threshold: i32,
    pub sequence: i64,
    pub update_time: DateTime<Utc>,
}

impl StockRow {
    pub fn figures(&self) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand,
            reserved: self.reserved,
            safety_stock: self.safety_stock,
            low_stock_threshold: self.low_stock_threshold,
        }
    }
}

/// The columns of a [`StockRow`], for `RETURNING` and `SELECT`.
pub(crate) const STOCK_COLUMNS: &str = "sku, location_id, on_hand, reserved, safety_stock, \
    low_stock_threshold, sequence, update_time";

/// One ledger entry.
#[derive(Debug, Clone, FromRow)]
pub struct MovementRow {
    pub sequence: i64,
    pub movement_id: Uuid,
    pub sku: String,
    pub location_id: String,
    pub kind: i16,
    pub adjustment_reason: i16,
    pub on_hand_before: i32,
    pub on_hand_after: i32,
    pub reserved_before: i32,
    pub reserved_after: i32,
    pub safety_stock_before: i32,
    pub safety_stock_after: i32,
    pub actor_kind: i16,
    pub actor_id: String,
    pub reference_id: String,
    pub note: String,
    pub create_time: DateTime<Utc>,
}

impl MovementRow {
    /// Available and sellable before the movement.
    pub fn figures_before(&self, low_stock_threshold: i32) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand_before,
            reserved: self.reserved_before,
            safety_stock: self.safety_stock_before,
            low_stock_threshold,
        }
    }

    /// The figures after the movement.
    pub fn figures_after(&self, low_stock_threshold: i32) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand_after,
            reserved: self.reserved_after,
            safety_stock: self.safety_stock_after,
            low_stock_threshold,
        }
    }
}

/// The columns of a [`MovementRow`].
pub(crate) const MOVEMENT_COLUMNS: &str = "sequence, movement_id, sku, location_id, kind, \
    adjustment_reason, on_hand_before, on_hand_after, reserved_before, reserved_after, \
    safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id, note, \
    create_time";

/// What a movement is, beyond the figures: who, why, and what it belongs to.
#[derive(Debug, Clone)]
pub struct MovementMeta<'a> {
    pub actor: &'a Actor,
    pub reference_id: &'a str,
    pub note: &'a str,
}
